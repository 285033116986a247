//go:build linux

package bridge_test

// The attacker suite: an ordinary integration script doing what a hostile one would, on the
// real pwsh, each case asserting that it now fails safely (issue 10).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/bridge/sandbox"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

// alive reports whether pid names a live (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// pidsOf parses the integers a call output.
func pidsOf(t *testing.T, r *bridge.Result) []int {
	t.Helper()
	var pids []int
	for _, s := range outputStrings(t, r) {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			t.Fatalf("output %q is not a pid", s)
		}
		pids = append(pids, n)
	}
	return pids
}

func TestAttackAnotherIntegrationsContextIsOutOfReach(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 2, MaxWorkers: 4})
	victim := method("victim", `$IntegrationContext.ApiKey = 'victim-key-0123456789'; 'stored'`)
	invoke(t, p, bridge.Call{Script: victim, Method: "GetClients", Context: json.RawMessage(`{"ApiKey":"victim-key-0123456789"}`),
		Secrets: []string{"victim-key-0123456789"}})
	// Every runspace of the attacker's process, every global, every environment variable.
	attacker := method("attacker", `
$found = foreach ($rs in Get-Runspace) {
    try { $rs.SessionStateProxy.PSVariable.GetValue('IntegrationContext') | ConvertTo-Json -Compress -Depth 5 } catch { }
    try { $rs.SessionStateProxy.PSVariable.GetValue('global:IntegrationContext') | ConvertTo-Json -Compress -Depth 5 } catch { }
}
$found += [Environment]::GetEnvironmentVariables().Values
$found += Get-ChildItem -Recurse -File -ErrorAction SilentlyContinue ([IO.Path]::GetTempPath()) | Get-Content -Raw -ErrorAction SilentlyContinue
($found | Out-String)`)
	r := invoke(t, p, bridge.Call{Script: attacker, Method: "GetClients"})
	if got := strings.Join(outputStrings(t, r), "\n"); strings.Contains(got, "victim-key-0123456789") {
		t.Fatalf("the attacker read the victim's key: %.300s", got)
	}
	v := invoke(t, p, bridge.Call{Script: victim, Method: "GetClients", Context: json.RawMessage(`{"ApiKey":"victim-key-0123456789"}`)})
	if v.Worker == r.Worker {
		t.Fatalf("victim and attacker shared worker %d", v.Worker)
	}
}

func TestAttackConfinement(t *testing.T) {
	if sandbox.Probe().Landlock == 0 {
		t.Fatalf("this kernel has no Landlock; the confinement checks would prove nothing: %s", sandbox.Probe())
	}
	data := t.TempDir()
	keyFile := filepath.Join(data, "psbridge.key")
	if err := os.WriteFile(keyFile, []byte("the-server-key"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PSBRIDGE_KEY", "env-key-material")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "cloud-credential")
	// As root (CI), workers run as nobody, as serve runs them; otherwise as this user.
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 2, MaxWorkers: 4, Deny: []string{data}, User: "nobody"})
	other := invoke(t, p, bridge.Call{Script: method("other", `Set-Content -LiteralPath (Join-Path ([IO.Path]::GetTempPath()) 'other.txt') 'other-secret'; [IO.Path]::GetTempPath()`), Method: "GetClients"})
	otherDir := outputStrings(t, other)[0]

	cases := []struct{ name, script string }{
		{"key file", fmt.Sprintf(`Get-Content -Raw -LiteralPath '%s'`, keyFile)},
		{"data directory listing", fmt.Sprintf(`(Get-ChildItem -LiteralPath '%s' -ErrorAction Stop).Name -join ','`, data)},
		{"write into the data directory", fmt.Sprintf(`Set-Content -ErrorAction Stop -LiteralPath '%s' 'x'; 'written'`, filepath.Join(data, "planted.txt"))},
		{"another worker's temp files", fmt.Sprintf(`Get-Content -Raw -LiteralPath '%s'`, filepath.Join(otherDir, "other.txt"))},
		{"the server's environment", fmt.Sprintf(`[IO.File]::ReadAllText('/proc/%d/environ')`, os.Getpid())},
		{"the server's memory", fmt.Sprintf(`$ErrorActionPreference = 'Stop'; $f = [IO.File]::OpenRead('/proc/%d/mem'); 'opened'`, os.Getpid())},
		{"signal the server", fmt.Sprintf(`$r = & /bin/kill -0 %d 2>&1; if ($LASTEXITCODE -eq 0) { 'signalled' } else { throw "kill failed: $r" }`, os.Getpid())},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := p.Invoke(context.Background(), bridge.Call{Script: method("attacker", tc.script), Method: "GetClients"})
			if err == nil {
				got := strings.Join(outputStrings(t, r), "\n")
				if len(r.Records) == 0 || strings.Contains(got, "the-server-key") || strings.Contains(got, "env-key-material") ||
					strings.Contains(got, "other-secret") || strings.Contains(got, "opened") || strings.Contains(got, "written") ||
					strings.Contains(got, "signalled") || strings.Contains(got, "psbridge.key") {
					t.Fatalf("the attack worked: output %.300q, records %v", got, r.Records)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(data, "planted.txt")); err == nil {
		t.Fatal("a worker wrote into the data directory")
	}
	r := invoke(t, p, bridge.Call{Script: method("env", `[Environment]::GetEnvironmentVariables().GetEnumerator() | ForEach-Object { "$($_.Key)=$($_.Value)" }`), Method: "GetClients"})
	env := strings.Join(outputStrings(t, r), "\n")
	for _, leak := range []string{"env-key-material", "cloud-credential", "PSBRIDGE_KEY", "PSBRIDGE_SANDBOX"} {
		if strings.Contains(env, leak) {
			t.Errorf("worker environment holds %q", leak)
		}
	}
	if os.Geteuid() == 0 {
		r := invoke(t, p, bridge.Call{Script: method("whoami", `(& /usr/bin/id -u).Trim()`), Method: "GetClients"})
		if got := outputStrings(t, r); len(got) != 1 || got[0] == "0" {
			t.Fatalf("a worker started by root runs as uid %v, want nobody's", got)
		}
	}
	// The private directory is the worker's and is removed with it.
	p.Forget("other")
	waitFor(t, "the retired worker's directory to be removed", func() bool {
		_, err := os.Stat(otherDir)
		return errors.Is(err, os.ErrNotExist)
	})
}

func TestAttackProcessesDieWithTheirCall(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 2, Grace: time.Second})
	cases := []struct {
		name, body string
		timeout    time.Duration
	}{
		{"Start-Process", `(Start-Process /bin/sleep -ArgumentList 1000 -PassThru).Id`, 0},
		{"background job of a shell", `/bin/sh -c '/bin/sleep 1000 >/dev/null 2>&1 & echo $!'`, 0},
		{"daemon in a new session", `/bin/sh -c 'setsid /bin/sleep 1000 </dev/null >/dev/null 2>&1 & echo $!'`, 0},
		{"call that times out", `(Start-Process /bin/sleep -ArgumentList 1000 -PassThru).Id; [Threading.Thread]::Sleep(60000)`, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var pids []int
			onRecord := func(bridge.Record) {}
			c := bridge.Call{Script: method("spawner", tc.body), Method: "GetClients", Timeout: tc.timeout, OnRecord: onRecord}
			if tc.timeout == 0 {
				pids = pidsOf(t, invoke(t, p, c))
			} else {
				c.Script = method("spawner", "Write-Host \"child $((Start-Process /bin/sleep -ArgumentList 1000 -PassThru).Id)\"; [Threading.Thread]::Sleep(60000)")
				got := make(chan int, 1)
				c.OnRecord = func(r bridge.Record) {
					if n, err := strconv.Atoi(strings.TrimPrefix(r.Message, "child ")); err == nil {
						got <- n
					}
				}
				_, err := p.Invoke(context.Background(), c)
				if !errors.Is(err, bridge.ErrTimeout) {
					t.Fatalf("err = %v, want ErrTimeout", err)
				}
				pids = []int{<-got}
			}
			if len(pids) == 0 {
				t.Fatal("the script reported no child")
			}
			for _, pid := range pids {
				waitFor(t, fmt.Sprintf("process %d to be gone after its call", pid), func() bool { return !alive(pid) })
			}
		})
	}
}

func TestAttackProtocolFaultsReplaceTheWorker(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1})
	cases := []struct{ name, body string }{
		{"output above 64 MiB", `$s = 'x' * (70MB); $s`},
		{"garbage on the protocol pipe", `$f = [IO.File]::OpenWrite('/proc/self/fd/4'); $b = [Text.Encoding]::UTF8.GetBytes("garbage{{{\n"); $f.Write($b, 0, $b.Length); $f.Flush(); Start-Sleep 5; 'after'`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := p.Stats().Restarts
			_, err := p.Invoke(context.Background(), bridge.Call{Script: method("faulty", tc.body), Method: "GetClients"})
			var we *bridge.WorkerError
			if !errors.As(err, &we) {
				t.Fatalf("err = %T %v, want *WorkerError", err, err)
			}
			if !strings.Contains(we.Reason, "protocol") && !strings.Contains(we.Reason, "larger than") {
				t.Fatalf("reason %q does not say the protocol broke", we.Reason)
			}
			if p.Stats().Restarts <= before {
				t.Fatal("the broken worker was not replaced")
			}
			// Every later call, of any integration, works.
			for i := 0; i < 3; i++ {
				healthy(t, p, 1)
			}
		})
	}
}

func TestAttackMemoryLimitKillsWithANamedError(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1, MemoryLimit: 400 << 20})
	_, err := p.Invoke(context.Background(), bridge.Call{Script: method("hog", `$l = [Collections.Generic.List[byte[]]]::new(); while ($true) { $a = [byte[]]::new(16MB); [Array]::Fill($a, [byte]1); $l.Add($a) }`),
		Method: "GetClients", Timeout: 2 * time.Minute})
	if err == nil {
		t.Fatal("a call allocating without bound succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, "memory") {
		t.Fatalf("err = %v, want it to name the memory limit", err)
	}
	healthy(t, p, 1)
}

func TestAttackArgumentNamesMustBeIdentifiers(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1})
	for _, name := range []string{"global:IntegrationContext", "IntegrationContext.Token", "a b", "1abc", "", "$x", "env:PATH"} {
		_, err := p.Invoke(context.Background(), bridge.Call{Script: method("args", "'ok'"), Method: "GetClients", Args: map[string]any{name: "x"}})
		var ae *bridge.ArgNameError
		if !errors.As(err, &ae) || ae.Name != name {
			t.Errorf("argument %q: err = %v, want *ArgNameError", name, err)
		}
	}
}

// TestAttackServerKilledHard runs a pool in a child process (this test binary, see
// TestMain), has a call start processes, kills the child with SIGKILL and checks that the
// worker and everything it started are gone.
func TestAttackServerKilledHard(t *testing.T) {
	testpwsh.Module(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PSBRIDGE_TEST_HELPER=spawning-server", "PSBRIDGE_KEY=helper-key-material")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var pids []int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "pids "); ok {
			for _, f := range strings.Fields(rest) {
				n, _ := strconv.Atoi(f)
				pids = append(pids, n)
			}
			break
		}
	}
	if len(pids) < 3 {
		t.Fatalf("the helper server reported pids %v (want the worker's pwsh and two children)", pids)
	}
	for _, pid := range pids {
		if !alive(pid) {
			t.Fatalf("process %d is not running before the kill; the check would prove nothing", pid)
		}
	}
	// The server's key is gone from what /proc/<pid>/environ shows (HideEnviron).
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", cmd.Process.Pid)); err == nil && strings.Contains(string(b), "helper-key-material") {
		t.Fatalf("the server's environment block still shows its key: %q", b)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	for _, pid := range pids {
		waitFor(t, fmt.Sprintf("process %d to be gone after the server was killed", pid), func() bool { return !alive(pid) })
	}
}

// spawningServer is the child process of TestAttackServerKilledHard: a pool whose call starts
// two processes and hangs; it prints the pids and waits to be killed.
func spawningServer() {
	sandbox.HideEnviron("PSBRIDGE_")
	p, err := bridge.New(context.Background(), bridge.Config{Pwsh: testpwsh.PwshPath(), WorkerScript: testpwsh.WorkerScriptPath(), MinWorkers: 1, MaxWorkers: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	_, _ = p.Invoke(context.Background(), bridge.Call{Script: method("spawner", `Write-Host "pids $PID $((Start-Process /bin/sleep -ArgumentList 1000 -PassThru).Id) $(/bin/sh -c 'setsid /bin/sleep 1000 </dev/null >/dev/null 2>&1 & echo $!')"; Start-Sleep 1000`),
		Method: "GetClients", Timeout: 5 * time.Minute, OnRecord: func(r bridge.Record) {
			if strings.HasPrefix(r.Message, "pids ") {
				fmt.Println(r.Message)
			}
		}})
	os.Exit(0)
}

// TestAttackUninterruptibleCallEndsAtTheDeadline: a call blocked where PowerShell cannot stop
// it ([Threading.Thread]::Sleep) under [ScriptTimeout] is ended by killing its worker at
// deadline + Grace (it took deadline + 2 × Grace before). The time is logged, not asserted.
func TestAttackUninterruptibleCallEndsAtTheDeadline(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1, Grace: time.Second})
	invoke(t, p, bridge.Call{Script: method("stuck", "'warm'"), Method: "GetClients"}) // load it first
	start := time.Now()
	_, err := p.Invoke(context.Background(), bridge.Call{Script: method("stuck", "[ScriptTimeout(TimeoutSeconds = 2)] param()\n[Threading.Thread]::Sleep(60000)"), Method: "GetClients"})
	d := time.Since(start)
	if !errors.Is(err, bridge.ErrTimeout) || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("err = %v, want ErrTimeout saying the worker was killed", err)
	}
	t.Logf("a 2 s [ScriptTimeout] with a 1 s grace ended after %s", d.Round(10*time.Millisecond))
	healthy(t, p, 1)
}
