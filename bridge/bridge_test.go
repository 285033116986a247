package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

// integration wraps capability blocks into a minimal integration script.
func integration(instance, body string) bridge.Script {
	return bridge.Script{
		Instance: instance,
		Name:     instance + ".ps1",
		Text: `$Integration = New-DynamicIntegration -Init {
    param([Parameter(Mandatory)][string]$Name, [Password(StripValue)]$Key)
    $IntegrationContext.Name = $Name
    [OpResult]::Ok()
} -HealthCheck { New-HealthyResult }
` + body + "\n$Integration\n",
	}
}

// method adds one ISupportsListingClients.GetClients block with the given body.
func method(instance, body string) bridge.Script {
	return integration(instance, "$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients {\n"+body+"\n}")
}

func invoke(t *testing.T, p *bridge.Pool, c bridge.Call) *bridge.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := p.Invoke(ctx, c)
	if err != nil {
		t.Fatalf("%s: %v", c.Method, err)
	}
	return r
}

func outputStrings(t *testing.T, r *bridge.Result) []string {
	t.Helper()
	var out []string
	for _, o := range r.Output {
		var s string
		if err := json.Unmarshal(o, &s); err != nil {
			out = append(out, string(o))
			continue
		}
		out = append(out, s)
	}
	return out
}

// healthy asserts the pool is back at full strength and serves a trivial call.
// waitFor polls cond until it holds, failing the test after a minute (for conditions no event
// announces, such as a replacement worker finishing its start).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startedSignal returns an OnRecord hook that closes the channel when the script writes
// "started" (scripts announce that they are running with Write-Host started).
func startedSignal() (func(bridge.Record), <-chan struct{}) {
	ch := make(chan struct{})
	var once sync.Once
	return func(r bridge.Record) {
		if r.Message == "started" {
			once.Do(func() { close(ch) })
		}
	}, ch
}

// await waits for ch, failing the test after a minute.
func await(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("gave up waiting for %s", what)
	}
}

func healthy(t *testing.T, p *bridge.Pool, want int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("the pool to return to %d workers", want), func() bool {
		st := p.Stats()
		return st.Workers >= want && st.Starting == 0
	})
	r := invoke(t, p, bridge.Call{Script: method("healthy", `"still-ok"`), Method: "GetClients"})
	if got := outputStrings(t, r); len(got) != 1 || got[0] != "still-ok" {
		t.Fatalf("after recovery: got %v", got)
	}
}

func TestInitHealthAndContextRoundTrip(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1})
	// ($IntegrationContext.Count would be the hashtable's own Count property, so the counter is Calls.)
	s := method("ctx", `$IntegrationContext.Calls = [int]$IntegrationContext.Calls + 1; "hello $($IntegrationContext.Name)"`)
	r := invoke(t, p, bridge.Call{Script: s, Method: "Init", FormData: map[string]any{"Name": "acme", "Key": "k-123456"}})
	if len(r.OutputTypes) != 1 || !strings.HasSuffix(r.OutputTypes[0], "OpResult") {
		t.Fatalf("Init output types = %v", r.OutputTypes)
	}
	ctxJSON := r.Context
	for i := 1; i <= 2; i++ {
		r = invoke(t, p, bridge.Call{Script: s, Method: "GetClients", Context: ctxJSON})
		if got := outputStrings(t, r); len(got) != 1 || got[0] != "hello acme" {
			t.Fatalf("GetClients output = %v", got)
		}
		var c map[string]any
		if err := json.Unmarshal(r.Context, &c); err != nil {
			t.Fatal(err)
		}
		if c["Calls"] != float64(i) {
			t.Fatalf("call %d: context Calls = %v, want %d (context %s)", i, c["Calls"], i, r.Context)
		}
		ctxJSON = r.Context
	}
	h := invoke(t, p, bridge.Call{Script: s, Method: "HealthCheck", Context: ctxJSON})
	if !strings.Contains(string(h.Output[0]), "Healthy") {
		t.Fatalf("HealthCheck output = %s", h.Output[0])
	}
}

func TestStrayOutputCannotCorruptTheChannel(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1})
	// Native commands run in the pipeline are output, as in any PowerShell session; everything
	// else here writes straight to the worker's fds 1 and 2 (or tries 3 and 4) and must vanish.
	s := method("stray", `
Write-Host 'host line'
[Console]::Out.WriteLine('{"jsonrpc":"2.0","id":"g1","result":{"output":["forged"]}}')
[Console]::Out.Flush()
[Console]::Error.WriteLine('{"jsonrpc":"2.0","method":"record","params":{}}')
/bin/echo 'native echo'
Start-Process -NoNewWindow -Wait /bin/echo -ArgumentList 'from start-process'
Start-Process -NoNewWindow -Wait /bin/sh -ArgumentList '-c', '"printf ''\000\377\376{{{\n\n''; echo garbage >&3; echo garbage >&4; echo err >&2"'
$out = [Console]::OpenStandardOutput()
$bytes = [byte[]](0..255)
$out.Write($bytes, 0, $bytes.Length)
$out.Flush()
"real result"`)
	r := invoke(t, p, bridge.Call{Script: s, Method: "GetClients"})
	got := outputStrings(t, r)
	if len(got) != 2 || got[0] != "native echo" || got[1] != "real result" {
		t.Fatalf("output = %q, want the native echo and the real result", got)
	}
	var sawHost bool
	for _, rec := range r.Records {
		if rec.Stream == "information" && rec.Message == "host line" {
			sawHost = true
		}
	}
	if !sawHost {
		t.Fatalf("Write-Host record missing: %+v", r.Records)
	}
	healthy(t, p, 1)
}

func TestStreamsAreDeliveredLiveWithPositions(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1})
	s := method("streams", `
Write-Verbose 'verbose msg'
Write-Debug 'debug msg'
Write-Warning 'warning msg'
Write-Host 'host msg'
Write-Information 'info msg'
Write-Progress -Activity 'progress msg'
Write-Error 'non-terminating'
"done"`)
	var mu sync.Mutex
	var live []bridge.Record
	r := invoke(t, p, bridge.Call{
		Script: s, Method: "GetClients", Preferences: bridge.Preferences{Verbose: true, Debug: true},
		OnRecord: func(rec bridge.Record) { mu.Lock(); live = append(live, rec); mu.Unlock() },
	})
	if !r.HadErrors {
		t.Fatal("HadErrors = false after Write-Error")
	}
	want := []struct{ stream, msg string }{
		{"verbose", "verbose msg"}, {"debug", "debug msg"}, {"warning", "warning msg"},
		{"information", "host msg"}, {"information", "info msg"}, {"progress", "progress msg"}, {"error", "non-terminating"},
	}
	mu.Lock()
	defer mu.Unlock()
	if len(live) != len(want) {
		t.Fatalf("got %d records, want %d: %+v", len(live), len(want), live)
	}
	for i, w := range want {
		if live[i].Stream != w.stream || live[i].Message != w.msg {
			t.Errorf("record %d = %s %q, want %s %q", i, live[i].Stream, live[i].Message, w.stream, w.msg)
		}
		if live[i].Time.IsZero() || live[i].CallID == "" {
			t.Errorf("record %d lacks time or call id: %+v", i, live[i])
		}
	}
	// The GetClients block opens on line 6 of the generated script; Write-Error is on line 14.
	if e := live[6]; e.Line != 14 || e.Column == 0 {
		t.Errorf("error record position = line %d column %d, want line 14: %+v", e.Line, e.Column, e)
	}
	if got := outputStrings(t, r); len(got) != 1 || got[0] != "done" {
		t.Errorf("output = %v", got)
	}
}

// TestScriptPreferencesTurnStreamsOn runs scripts (exec, not method calls) with and without
// preferences in one worker: a stream is delivered only when its preference is on, and a
// script's preferences are gone for the next script.
func TestScriptPreferencesTurnStreamsOn(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1})
	text := "Write-Verbose 'verbose msg'\nWrite-Debug 'debug msg'\n$VerbosePreference.ToString()"
	for _, tc := range []struct {
		name    string
		prefs   bridge.Preferences
		streams []string
		verbose string
	}{
		{"verbose and debug", bridge.Preferences{Verbose: true, Debug: true}, []string{"verbose", "debug"}, "Continue"},
		{"none", bridge.Preferences{}, nil, "SilentlyContinue"},
		{"verbose only", bridge.Preferences{Verbose: true}, []string{"verbose"}, "Continue"},
		{"none again", bridge.Preferences{}, nil, "SilentlyContinue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var mu sync.Mutex
			var streams []string
			r, err := p.Exec(ctx, bridge.Exec{Name: "prefs.ps1", Text: text, Preferences: tc.prefs,
				OnRecord: func(rec bridge.Record) { mu.Lock(); streams = append(streams, rec.Stream); mu.Unlock() }})
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(streams, tc.streams) {
				t.Errorf("streams = %v, want %v", streams, tc.streams)
			}
			if got := outputStrings(t, r); len(got) != 1 || got[0] != tc.verbose {
				t.Errorf("$VerbosePreference = %v, want %s", got, tc.verbose)
			}
		})
	}
}

func TestTerminatingErrorNamesLineAndColumn(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1})
	s := method("throws", "\n  $x = 1\n  throw 'boom at line nine'")
	_, err := p.Invoke(context.Background(), bridge.Call{Script: s, Method: "GetClients"})
	var se *bridge.ScriptError
	if !errors.As(err, &se) {
		t.Fatalf("err = %T %v, want *ScriptError", err, err)
	}
	if se.Message != "boom at line nine" || se.Line != 9 || se.Column != 3 {
		t.Fatalf("ScriptError = %q line %d col %d, want line 9 col 3", se.Message, se.Line, se.Column)
	}
	if !strings.Contains(err.Error(), "throws.ps1:9:3") {
		t.Fatalf("Error() = %q, want it to name throws.ps1:9:3", err.Error())
	}
	healthy(t, p, 1)
}

func TestParseErrorIsReportedWithPosition(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1})
	_, err := p.Describe(context.Background(), bridge.Script{Instance: "bad", Name: "bad.ps1", Text: "New-DynamicIntegration -Init {\n  if ( {\n}"})
	var pe *bridge.ParseError
	if !errors.As(err, &pe) || len(pe.Issues) == 0 || pe.Issues[0].Line == 0 {
		t.Fatalf("err = %v, want a ParseError with positions", err)
	}
	healthy(t, p, 1)
}

func TestTimeoutStopsThePipelineAndKillsAWorkerThatIgnoresStop(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1, Grace: time.Second})
	cases := []struct {
		name, body    string
		wantNewWorker bool
	}{
		{"cooperative", "Start-Sleep -Seconds 30", false},
		{"ignores-stop", "[System.Threading.Thread]::Sleep(60000)", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := p.Stats().Restarts
			_, err := p.Invoke(context.Background(), bridge.Call{Script: method("hang-"+tc.name, tc.body), Method: "GetClients", Timeout: time.Second})
			if !errors.Is(err, bridge.ErrTimeout) {
				t.Fatalf("err = %v, want ErrTimeout", err)
			}
			after := p.Stats().Restarts
			if replaced := after > before; replaced != tc.wantNewWorker {
				t.Fatalf("worker replaced = %v, want %v (restarts before %d after %d)", replaced, tc.wantNewWorker, before, after)
			}
			healthy(t, p, 1)
		})
	}
}

func TestScriptTimeoutAttributeIsTheDeadline(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1, DefaultTimeout: time.Minute})
	s := method("attr", "[ScriptTimeout(TimeoutSeconds = 1)] param()\nStart-Sleep -Seconds 20")
	start := time.Now()
	_, err := p.Invoke(context.Background(), bridge.Call{Script: s, Method: "GetClients"})
	if !errors.Is(err, bridge.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("[ScriptTimeout(1)] call took %s", d)
	}
}

func TestMaxTimeoutBoundsScriptTimeout(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1, MaxTimeout: time.Second})
	// Without the bound this call would run for its [ScriptTimeout] of 1000 s (the test's own
	// deadline would fail it long before).
	s := method("maxtimeout", "[ScriptTimeout(TimeoutSeconds = 1000)] param()\nStart-Sleep -Seconds 1000")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := p.Invoke(ctx, bridge.Call{Script: s, Method: "GetClients"})
	if !errors.Is(err, bridge.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	_, err = p.Exec(ctx, bridge.Exec{Text: "Start-Sleep -Seconds 1000", Timeout: time.Hour})
	if !errors.Is(err, bridge.ErrTimeout) {
		t.Fatalf("exec err = %v, want ErrTimeout", err)
	}
	healthy(t, p, 1)
}

func TestCancelStopsTheCall(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1})
	ctx, cancel := context.WithCancel(context.Background())
	onRecord, started := startedSignal()
	go func() { <-started; cancel() }()
	_, err := p.Invoke(ctx, bridge.Call{Script: method("cancel", "Write-Host started; Start-Sleep -Seconds 30"), Method: "GetClients", OnRecord: onRecord})
	if !errors.Is(err, bridge.ErrCanceled) {
		t.Fatalf("err = %v, want ErrCanceled", err)
	}
	healthy(t, p, 1)
}

func TestKill9OfAWorkerMidCall(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 2, MaxWorkers: 2})
	started := make(chan int, 1)
	go func() {
		// The worker that reports the record is the one to kill.
		select {
		case pid := <-started:
			if proc, err := os.FindProcess(pid); err == nil {
				_ = proc.Kill() // SIGKILL
			}
		case <-time.After(time.Minute):
		}
	}()
	_, err := p.Invoke(context.Background(), bridge.Call{
		Script: method("victim", "Write-Host \"pid $PID\"; Start-Sleep -Seconds 30"), Method: "GetClients",
		OnRecord: func(r bridge.Record) {
			if pid, e := strconv.Atoi(strings.TrimPrefix(r.Message, "pid ")); e == nil {
				started <- pid
			}
		},
	})
	var we *bridge.WorkerError
	if !errors.As(err, &we) {
		t.Fatalf("err = %T %v, want *WorkerError", err, err)
	}
	if !strings.Contains(we.Reason, "signal 9") {
		t.Fatalf("reason = %q, want it to say the worker was killed by signal 9", we.Reason)
	}
	healthy(t, p, 2)
	if st := p.Stats(); st.Restarts < 1 {
		t.Fatalf("Restarts = %d, want >= 1", st.Restarts)
	}
}

func TestLargeAndDeepOutput(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1})
	t.Run("10MB", func(t *testing.T) {
		r := invoke(t, p, bridge.Call{Script: method("big", "'x' * 10MB"), Method: "GetClients"})
		if got := outputStrings(t, r); len(got) != 1 || len(got[0]) != 10<<20 {
			t.Fatalf("got %d values, first %d bytes", len(got), len(got[0]))
		}
	})
	t.Run("16MiB-argument", func(t *testing.T) {
		big := strings.Repeat("y", 16<<20)
		r := invoke(t, p, bridge.Call{Script: integration("bigarg",
			`$Integration | Add-DynamicIntegrationCapability -Interface ISupportsTenantInstallToken -GetTenantInstallToken { param([string]$clientId) $clientId.Length }`),
			Method: "GetTenantInstallToken", Args: map[string]any{"clientId": big}})
		if got := string(r.Output[0]); got != strconv.Itoa(16<<20) {
			t.Fatalf("length echoed = %s", got)
		}
	})
	t.Run("deeply-nested", func(t *testing.T) {
		r := invoke(t, p, bridge.Call{Script: method("deep", `$h = @{ leaf = 'bottom' }; 1..500 | ForEach-Object { $h = @{ next = $h } }; $h`), Method: "GetClients"})
		if len(r.Output) != 1 || !strings.Contains(string(r.Output[0]), `"next"`) {
			t.Fatalf("unexpected output %.200s", r.Output)
		}
	})
	t.Run("cycle", func(t *testing.T) {
		r := invoke(t, p, bridge.Call{Script: method("cycle", `$a = @{}; $a.self = $a; $a`), Method: "GetClients"})
		if !strings.Contains(string(r.Output[0]), "circular") {
			t.Fatalf("output = %s", r.Output[0])
		}
	})
	healthy(t, p, 1)
}

func TestFiftyConcurrentCallsOnAPoolOfTwo(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 2, MaxWorkers: 2})
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inst := fmt.Sprintf("conc-%d", i%5)
			r, err := p.Invoke(context.Background(), bridge.Call{Script: method(inst, `"n=$($args.Count)" ; $IntegrationContext.I`), Method: "GetClients",
				Context: json.RawMessage(fmt.Sprintf(`{"I":%d}`, i))})
			if err != nil {
				errs <- err
				return
			}
			if len(r.Output) != 2 || string(r.Output[1]) != strconv.Itoa(i) {
				errs <- fmt.Errorf("call %d: output %s", i, r.Output)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := p.Stats(); st.Workers != 2 || st.Calls < 50 {
		t.Fatalf("stats after burst: %+v", st)
	}
}

func TestFullQueueFailsAtOnce(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1, QueueSize: 1})
	slow := bridge.Call{Script: method("slow", "Start-Sleep -Milliseconds 3000; 'slow'"), Method: "GetClients"}
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ { // one runs, one waits in the queue
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = p.Invoke(context.Background(), slow) }()
		waitFor(t, "the call to be running or queued", func() bool {
			st := p.Stats()
			return st.Idle == 0 && st.Waiting == i
		})
	}
	start := time.Now()
	_, err := p.Invoke(context.Background(), slow)
	if !errors.Is(err, bridge.ErrQueueFull) {
		t.Fatalf("err = %v, want ErrQueueFull", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("ErrQueueFull took %s; it must not wait", d)
	}
	wg.Wait()
}

func TestInstancesAreIsolatedInTheirOwnWorkers(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 2})
	dir := t.TempDir()
	mod := filepath.Join(dir, "Shared.psm1")
	if err := os.WriteFile(mod, []byte("function Set-Shared($v) { $script:Shared = $v }\nfunction Get-Shared { $script:Shared }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	host, err := bridge.LoadModuleFiles(mod)
	if err != nil {
		t.Fatal(err)
	}
	writer := method("tenant-a", `Import-Module Shared
if (Get-Shared) { "kept=$(Get-Shared)"; return }
Set-Shared 'a-secret'; $global:Leak = 'a-global'; $IntegrationContext.Token = 'a-token'; 'written'`)
	reader := method("tenant-b", `Import-Module Shared; "shared=[$(Get-Shared)] global=[$global:Leak] ctx=[$($IntegrationContext.Token)]"`)
	wr := invoke(t, p, bridge.Call{Script: writer, Method: "GetClients", Host: host})
	r := invoke(t, p, bridge.Call{Script: reader, Method: "GetClients", Host: host})
	if got := outputStrings(t, r); len(got) != 1 || got[0] != "shared=[] global=[] ctx=[]" {
		t.Fatalf("tenant-b saw tenant-a's state: %q", got)
	}
	if wr.Worker == r.Worker {
		t.Fatalf("tenant-a and tenant-b ran in the same worker process %d", r.Worker)
	}
	// The same instance keeps its module state on a worker (and its context comes from Go).
	r = invoke(t, p, bridge.Call{Script: writer, Method: "GetClients", Host: host})
	if got := outputStrings(t, r); len(got) != 1 || got[0] != "kept=a-secret" {
		t.Fatalf("tenant-a lost its module state: %q", got)
	}
}

func TestSecretsAreMaskedInRecordsAndErrors(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1})
	s := integration("mask", `$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients {
    Write-Host "ctx token $($IntegrationContext.Token)"
    $IntegrationContext.Fresh = 'fresh-secret-9876'
    Write-Verbose "fresh $($IntegrationContext.Fresh)" -Verbose
    throw "failed with $($IntegrationContext.Token)"
}`)
	// Init sees the [Password] value and writes it out.
	r := invoke(t, p, bridge.Call{Script: s, Method: "Init", FormData: map[string]any{"Name": "n", "Key": "init-pass-4242"},
		OnRecord: func(bridge.Record) {}})
	_ = r
	initWrite := integration("mask2", "")
	initWrite.Text = strings.Replace(initWrite.Text, "[OpResult]::Ok()", "Write-Host \"key=$Key\"; $providerTypeFormData | Write-Variable; [OpResult]::Ok()", 1)
	r = invoke(t, p, bridge.Call{Script: initWrite, Method: "Init", FormData: map[string]any{"Name": "n", "Key": "init-pass-4242"}})
	for _, rec := range r.Records {
		if strings.Contains(rec.Message, "init-pass-4242") {
			t.Fatalf("password leaked in %s record: %q", rec.Stream, rec.Message)
		}
	}
	if len(r.Records) == 0 || !strings.Contains(r.Records[0].Message, "********") {
		t.Fatalf("records = %+v, want the masked key", r.Records)
	}
	_, err := p.Invoke(context.Background(), bridge.Call{Script: s, Method: "GetClients", Context: json.RawMessage(`{"Token":"ctx-token-1234"}`)})
	var se *bridge.ScriptError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v", err)
	}
	// throw "text" makes the text the error id too.
	for _, txt := range append([]string{se.Message, se.PositionMessage, se.ErrorID}, recMessages(se.Records)...) {
		if strings.Contains(txt, "ctx-token-1234") || strings.Contains(txt, "fresh-secret-9876") {
			t.Fatalf("secret leaked: %q", txt)
		}
	}
	if !strings.Contains(string(se.Context), "fresh-secret-9876") {
		t.Fatalf("context changes made before the failure were lost: %s", se.Context)
	}
}

func recMessages(rs []bridge.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Message)
	}
	return out
}

func TestHostCallbacks(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1})
	_, err := p.Invoke(context.Background(), bridge.Call{Script: method("tok", "Get-IntegrationAgentInstallToken"), Method: "GetClients"})
	var se *bridge.ScriptError
	if !errors.As(err, &se) || !strings.Contains(se.Message, "An integration is not linked to this script") {
		t.Fatalf("err = %v, want the not-linked message", err)
	}
	_, err = p.Invoke(context.Background(), bridge.Call{Script: method("immy", "Invoke-ImmyCommand { hostname }"), Method: "GetClients"})
	if !errors.As(err, &se) || !strings.Contains(se.Message, "no computer is attached") {
		t.Fatalf("err = %v, want the no-computer message", err)
	}
	r := invoke(t, p, bridge.Call{Script: method("tok2", "Get-IntegrationAgentInstallToken"), Method: "GetClients", Host: tokenHost{}})
	if got := outputStrings(t, r); len(got) != 1 || got[0] != "token-for-agentInstall" {
		t.Fatalf("token = %v", got)
	}
}

type tokenHost struct{ bridge.Modules }

func (tokenHost) Token(_ context.Context, kind bridge.TokenKind) (any, error) {
	return "token-for-" + string(kind), nil
}

// nestedTokenHost answers a token cmdlet the way the engine does: by calling another
// integration's method through the same pool while the asking call holds its worker.
type nestedTokenHost struct {
	bridge.Modules
	p *bridge.Pool
}

func (h nestedTokenHost) Token(ctx context.Context, kind bridge.TokenKind) (any, error) {
	r, err := h.p.Invoke(ctx, bridge.Call{Script: method("token-source", "'nested-token'"), Method: "GetClients"})
	if err != nil {
		return nil, err
	}
	var tok string
	if err := json.Unmarshal(r.Output[0], &tok); err != nil {
		return nil, err
	}
	return tok, nil
}

func TestTokenCallbacksDoNotDeadlockAFullPool(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1})
	host := nestedTokenHost{p: p}
	// Two scripts at once on a pool of one, each asking for a token mid-call: without room for
	// nested calls both would wait for each other until their deadlines.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			r, err := p.Invoke(ctx, bridge.Call{Script: method(fmt.Sprintf("asker-%d", i), "Get-IntegrationAgentInstallToken"), Method: "GetClients", Host: host})
			if err == nil && (len(r.Output) != 1 || string(r.Output[0]) != `"nested-token"`) {
				err = fmt.Errorf("output %s", r.Output)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The extra worker retires once nothing nested waits: the pool is back to MaxWorkers.
	waitFor(t, "the pool to return to MaxWorkers", func() bool { return p.Stats().Workers <= 1 })
}

func TestRecyclingAfterNCalls(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1, MaxCallsPerWorker: 3})
	s := method("recycle", "$PID")
	pids := map[string]bool{}
	for i := 0; i < 6; i++ {
		r := invoke(t, p, bridge.Call{Script: s, Method: "GetClients"})
		pids[string(r.Output[0])] = true
	}
	if len(pids) < 2 {
		t.Fatalf("6 calls with MaxCallsPerWorker=3 ran on pids %v, want at least 2", pids)
	}
	if st := p.Stats(); st.Recycled < 1 {
		t.Fatalf("Recycled = %d", st.Recycled)
	}
}

// descendants lists the processes below this test process, with their states.
func descendants(t *testing.T) map[int]string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	parent := map[int]int{}
	state := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		parent[pid] = ppid
		state[pid] = f[0] + " " + s[strings.IndexByte(s, '(')+1:i]
	}
	out := map[int]string{}
	me := os.Getpid()
	for pid := range parent {
		for p := parent[pid]; p > 1; p = parent[p] {
			if p == me {
				out[pid] = state[pid]
				break
			}
		}
	}
	return out
}

func TestNoOrphansOrZombiesAfterClose(t *testing.T) {
	m := testpwsh.Module(t)
	ctx := context.Background()
	p, err := bridge.New(ctx, bridge.Config{Pwsh: testpwsh.Pwsh(t), WorkerScript: m.WorkerScript(), MinWorkers: 2, MaxWorkers: 3, Grace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// A grandchild that would outlive its worker, a killed worker, and a hung call.
	_, _ = p.Invoke(ctx, bridge.Call{Script: method("bg", "Start-Process /bin/sleep -ArgumentList 300; 'started'"), Method: "GetClients"})
	_, _ = p.Invoke(ctx, bridge.Call{Script: method("hang", "[System.Threading.Thread]::Sleep(60000)"), Method: "GetClients", Timeout: time.Second})
	if len(descendants(t)) == 0 {
		t.Fatal("no worker processes seen while the pool runs; the process count check would prove nothing")
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.Close(cctx); err != nil {
		t.Fatal(err)
	}
	var left map[int]string
	waitFor(t, "every process to be gone after Close", func() bool { left = descendants(t); return len(left) == 0 })
}

func TestRecyclingByMemoryAndIdleTime(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1, MaxRSS: 1 << 20}) // every pwsh is above 1 MiB
		r1 := invoke(t, p, bridge.Call{Script: method("rss", "$PID"), Method: "GetClients"})
		r2 := invoke(t, p, bridge.Call{Script: method("rss", "$PID"), Method: "GetClients"})
		if string(r1.Output[0]) == string(r2.Output[0]) {
			t.Fatalf("worker %s was not recycled above the RSS ceiling", r1.Output[0])
		}
	})
	t.Run("idle", func(t *testing.T) {
		p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1, IdleTimeout: time.Second})
		before := p.Stats().WorkerPID
		waitFor(t, "the idle worker to be replaced", func() bool {
			st := p.Stats()
			return st.Recycled > 0 && st.Workers == 1 && len(st.WorkerPID) == 1 && st.WorkerPID[0] != before[0]
		})
		healthy(t, p, 1)
	})
}

// TestIdleWorkerGivesBackTheMemoryOfABigCall: a call with a large output grows its worker's
// heap; once the worker is idle it lets go of that output, compacts its heap and returns the
// memory to the system, instead of keeping it for as long as it lives.
func TestIdleWorkerGivesBackTheMemoryOfABigCall(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1, MaxCallsPerWorker: -1})
	// The first call is trivial; the second returns 200,000 objects (about 100 MB of heap).
	// Each ends with the worker's resident memory as the call ends, measured inside it: by
	// the time a loaded machine has decoded the big reply, the worker may have compacted.
	c := bridge.Call{Script: method("bigheap", `$global:calls++
if ($global:calls -ge 2) { 1..200000 | ForEach-Object { [pscustomobject]@{ Id = $_; Name = "client $_" } } }
[Environment]::WorkingSet`), Method: "GetClients"}
	resident := func(r *bridge.Result) int64 {
		n, err := strconv.ParseInt(string(r.Output[len(r.Output)-1]), 10, 64)
		if err != nil {
			t.Fatalf("last output %s: %v", r.Output[len(r.Output)-1], err)
		}
		return n
	}
	low := resident(invoke(t, p, c))
	r := invoke(t, p, c)
	if len(r.Output) != 200001 {
		t.Fatalf("%d outputs, want 200,001", len(r.Output))
	}
	high := resident(r)
	if high-low < 50<<20 {
		t.Fatalf("the big call grew the worker only from %d to %d MiB: the test needs a bigger call", low>>20, high>>20)
	}
	waitFor(t, fmt.Sprintf("the idle worker's resident memory to fall from %d MiB towards %d MiB", high>>20, low>>20), func() bool {
		st := p.Stats().PerWorker
		if len(st) != 1 {
			t.Fatalf("%d workers, want 1", len(st))
		}
		return st[0].RSS < high-(high-low)/2
	})
	r = invoke(t, p, bridge.Call{Script: method("bigheap", `"still-ok"`), Method: "GetClients"})
	if got := outputStrings(t, r); len(got) != 1 || got[0] != "still-ok" {
		t.Fatalf("after the compaction: got %v", got)
	}
}

func TestCloseDrainsInFlightCalls(t *testing.T) {
	m := testpwsh.Module(t)
	start := func(t *testing.T) *bridge.Pool {
		p, err := bridge.New(context.Background(), bridge.Config{Pwsh: testpwsh.Pwsh(t), WorkerScript: m.WorkerScript(), MinWorkers: 2, MaxWorkers: 2, Grace: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("calls finish before the deadline", func(t *testing.T) {
		p := start(t)
		errs := make(chan error, 2)
		var onRecords [2]func(bridge.Record)
		var started [2]<-chan struct{}
		for i := range onRecords {
			onRecords[i], started[i] = startedSignal()
		}
		for i := 0; i < 2; i++ {
			go func() {
				_, err := p.Invoke(context.Background(), bridge.Call{Script: method(fmt.Sprintf("drain%d", i), "Write-Host started; Start-Sleep -Milliseconds 1500; 'done'"),
					Method: "GetClients", OnRecord: onRecords[i]})
				errs <- err
			}()
		}
		for i := range started {
			await(t, "the calls to start", started[i])
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for i := 0; i < 2; i++ {
			if err := <-errs; err != nil {
				t.Errorf("in-flight call failed during a drain with time to spare: %v", err)
			}
		}
		if _, err := p.Invoke(context.Background(), bridge.Call{Script: method("late", "1"), Method: "GetClients"}); !errors.Is(err, bridge.ErrClosed) {
			t.Fatalf("call after Close: %v, want ErrClosed", err)
		}
	})
	t.Run("deadline passes", func(t *testing.T) {
		p := start(t)
		errc := make(chan error, 1)
		onRecord, started := startedSignal()
		go func() {
			_, err := p.Invoke(context.Background(), bridge.Call{Script: method("forever", "Write-Host started; Start-Sleep -Seconds 60"), Method: "GetClients", OnRecord: onRecord})
			errc <- err
		}()
		await(t, "the call to start", started)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := p.Close(ctx); err == nil {
			t.Fatal("Close returned nil although a call was still running at the deadline")
		}
		select {
		case err := <-errc:
			if err == nil {
				t.Fatal("the call that outlived the drain deadline reported success")
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the in-flight call never returned after Close")
		}
	})
}

// TestOnCallReportsMethodAndOutcome checks the observer hook metrics are built on: one event
// per Invoke and Exec, with the method and how the call ended, never its values.
func TestOnCallReportsMethodAndOutcome(t *testing.T) {
	var mu sync.Mutex
	var events []bridge.CallEvent
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1, OnCall: func(ev bridge.CallEvent) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}})
	ctx := context.Background()
	cases := []struct {
		name        string
		run         func() error
		wantMethod  string
		wantOutcome string
	}{
		{"ok", func() error {
			_, err := p.Invoke(ctx, bridge.Call{Script: method("obs", `"fine"`), Method: "GetClients"})
			return err
		}, "GetClients", "ok"},
		{"script error", func() error {
			_, err := p.Invoke(ctx, bridge.Call{Script: method("obs-fail", `throw "broken"`), Method: "GetClients"})
			return err
		}, "GetClients", "error"},
		{"timeout", func() error {
			_, err := p.Invoke(ctx, bridge.Call{Script: method("obs-slow", `Start-Sleep -Seconds 30`), Method: "GetClients", Timeout: 200 * time.Millisecond})
			return err
		}, "GetClients", "timeout"},
		{"exec", func() error {
			_, err := p.Exec(ctx, bridge.Exec{Text: `1`})
			return err
		}, "exec", "ok"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			before := len(events)
			mu.Unlock()
			_ = tc.run()
			mu.Lock()
			defer mu.Unlock()
			if len(events) != before+1 {
				t.Fatalf("%d events for one call", len(events)-before)
			}
			ev := events[len(events)-1]
			if ev.Method != tc.wantMethod || ev.Outcome != tc.wantOutcome || ev.Duration <= 0 {
				t.Fatalf("event %+v, want method %s outcome %s", ev, tc.wantMethod, tc.wantOutcome)
			}
		})
	}
}

// TestNewRemovesWorkersDirectoriesOfKilledPools: a pool names its workers' directory after its
// process, and a new pool removes the directory of a pool whose process is gone.
func TestNewRemovesWorkersDirectoriesOfKilledPools(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("stale workers' directories are kept on Windows")
	}
	tmp := t.TempDir()
	stale := filepath.Join(tmp, fmt.Sprintf("psbridge-workers-%d-123", bridge.ExitedPID(t)), "w-1")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	// The lock file the killed pool held: nobody holds it now.
	if err := os.WriteFile(filepath.Join(filepath.Dir(stale), ".pool.lock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1, TempDir: tmp})
	if _, err := os.Stat(filepath.Dir(stale)); !os.IsNotExist(err) {
		t.Errorf("the killed pool's directory is still there (%v)", err)
	}
	own, err := filepath.Glob(filepath.Join(tmp, fmt.Sprintf("psbridge-workers-%d-*", os.Getpid())))
	if err != nil || len(own) != 1 {
		t.Fatalf("the pool's own directory: %v, %v; want one named after pid %d", own, err, os.Getpid())
	}
	if _, err := os.Stat(filepath.Join(own[0], ".pool.lock")); err != nil {
		t.Errorf("the pool's lock file: %v", err)
	}
}
