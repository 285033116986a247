package bridge

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// The worker protocol's golden messages (docs/protocol.md) live in testdata/protocol, one
// message per file: go-*.json as the supervisor sends them, worker-*.json as a real worker
// sends them. Both sides are tested against the same files: protocol_internal_test.go checks
// that this package encodes the go-* messages exactly and decodes the worker-* ones without
// losing a field; protocol_test.go sends the go-* messages, byte for byte, to a real worker and
// compares what it answers with the worker-* ones. go test ./bridge -run Golden -update
// rewrites the worker-* files from a real worker.

// updateGolden rewrites the worker-* golden messages from what a real worker sends.
var updateGolden = flag.Bool("update", false, "rewrite testdata/protocol/worker-*.json from a real worker")

// UpdateGolden reports whether the test run rewrites the worker-* golden messages.
func UpdateGolden() bool { return *updateGolden }

// goldenDir holds the worker protocol's golden messages.
const goldenDir = "testdata/protocol"

// GoldenScript is the integration the golden conversation loads (go-load.json's script).
const GoldenScript = `$Integration = New-DynamicIntegration -Init {
    param(
        [Parameter(Mandatory)]
        [Uri]$ApiUri,
        [Password(StripValue = $true)]
        [string]$ApiKey
    )
    $IntegrationContext.ApiUri = "$ApiUri"
    [OpResult]::Ok()
} -HealthCheck {
    New-HealthyResult
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients {
    param([string]$Prefix)
    Write-Verbose "listing the clients of $($IntegrationContext.ApiUri)"
    New-IntegrationClient -ClientId 1 -ClientName "$Prefix One"
    $IntegrationContext.Listed = 1
}
$Integration
`

// GoldenMessage reads one golden message, compacted to the single line it travels as.
func GoldenMessage(name string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(goldenDir, name))
	if err != nil {
		return nil, fmt.Errorf("golden message: %w", err)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil, fmt.Errorf("golden message %s: %w", name, err)
	}
	return out.Bytes(), nil
}

// WriteGolden stores msg (one JSON message) as the golden file name, indented for reading.
func WriteGolden(name string, msg []byte) error {
	var out bytes.Buffer
	if err := json.Indent(&out, msg, "", "  "); err != nil {
		return fmt.Errorf("golden message %s: %w", name, err)
	}
	out.WriteByte('\n')
	return os.WriteFile(filepath.Join(goldenDir, name), out.Bytes(), 0o644)
}

// volatileKeys are the fields whose values differ from one worker or run to the next: a
// golden message fixes their type, not their value.
var volatileKeys = map[string]bool{"pid": true, "psVersion": true, "moduleVersion": true, "time": true, "invocations": true, "dateCreatedUtc": true}

// SameMessage compares a message with its golden form: the same fields at every level, the
// same values except for volatileKeys, where only the JSON type must match. It returns the
// differences, one per line, or "".
func SameMessage(golden, got []byte) string {
	var want, have any
	if err := json.Unmarshal(golden, &want); err != nil {
		return "golden: " + err.Error()
	}
	if err := json.Unmarshal(got, &have); err != nil {
		return "message: " + err.Error()
	}
	var diffs []string
	compareJSON("$", want, have, false, &diffs)
	return strings.Join(diffs, "\n")
}

func compareJSON(path string, want, have any, typeOnly bool, diffs *[]string) {
	if reflect.TypeOf(want) != reflect.TypeOf(have) {
		*diffs = append(*diffs, fmt.Sprintf("%s: want %s, got %s", path, jsonText(want), jsonText(have)))
		return
	}
	switch w := want.(type) {
	case map[string]any:
		h := have.(map[string]any)
		keys := make([]string, 0, len(w)+len(h))
		for k := range w {
			keys = append(keys, k)
		}
		for k := range h {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			wv, inW := w[k]
			hv, inH := h[k]
			switch {
			case !inH:
				*diffs = append(*diffs, fmt.Sprintf("%s.%s: missing (want %s)", path, k, jsonText(wv)))
			case !inW:
				*diffs = append(*diffs, fmt.Sprintf("%s.%s: not in the golden message (got %s)", path, k, jsonText(hv)))
			default:
				compareJSON(path+"."+k, wv, hv, typeOnly || volatileKeys[k], diffs)
			}
		}
	case []any:
		h := have.([]any)
		if len(w) != len(h) {
			*diffs = append(*diffs, fmt.Sprintf("%s: want %d items, got %d: %s", path, len(w), len(h), jsonText(have)))
			return
		}
		for i := range w {
			compareJSON(fmt.Sprintf("%s[%d]", path, i), w[i], h[i], typeOnly, diffs)
		}
	default:
		if !typeOnly && !reflect.DeepEqual(want, have) {
			*diffs = append(*diffs, fmt.Sprintf("%s: want %s, got %s", path, jsonText(want), jsonText(have)))
		}
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// dropZero removes the fields whose value is JSON's zero (null, false, 0, "", [], {}) at every
// level: Go omits them where the worker spells them out, and both mean the same.
func dropZero(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			e = dropZero(e)
			switch z := e.(type) {
			case nil:
				continue
			case bool:
				if !z {
					continue
				}
			case float64:
				if z == 0 {
					continue
				}
			case string:
				if z == "" {
					continue
				}
			case []any:
				if len(z) == 0 {
					continue
				}
			case map[string]any:
				if len(z) == 0 {
					continue
				}
			}
			out[k] = e
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = dropZero(e)
		}
		return out
	}
	return v
}

// keptByGo compares what the worker sent (the golden message's part at field, a JSON object)
// with what the Go side kept of it (decoded, re-encoded): every field of the message must have
// come through, except the ones listed in notKept, which other code reads or Go drops on
// purpose.
func keptByGo(t *testing.T, golden, field string, decoded any, notKept ...string) {
	t.Helper()
	msg, err := GoldenMessage(golden)
	if err != nil {
		t.Fatal(err)
	}
	var whole map[string]any
	if err := json.Unmarshal(msg, &whole); err != nil {
		t.Fatal(err)
	}
	var part any = whole
	for _, f := range strings.Split(field, ".") {
		m, ok := part.(map[string]any)
		if !ok {
			t.Fatalf("%s has no %s", golden, field)
		}
		part = m[f]
	}
	sent, ok := part.(map[string]any)
	if !ok {
		t.Fatalf("%s: %s is not an object", golden, field)
	}
	for _, k := range notKept {
		delete(sent, k)
	}
	kept, err := json.Marshal(decoded)
	if err != nil {
		t.Fatal(err)
	}
	var back any
	if err := json.Unmarshal(kept, &back); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(dropZero(sent))
	got, _ := json.Marshal(dropZero(back))
	if diff := SameMessage(want, got); diff != "" {
		t.Errorf("the Go side lost part of %s's %s:\n%s", golden, field, diff)
	}
}

// goldenEnd is the test's end of a conn: it reads what the conn writes and writes what the
// worker would.
type goldenEnd struct {
	t       *testing.T
	written *bufio.Reader  // what the conn wrote
	toConn  *io.PipeWriter // what the conn reads
}

// expectWritten reads the next message the conn wrote and compares it with a go-* golden.
func (e *goldenEnd) expectWritten(golden string) {
	e.t.Helper()
	line, err := e.written.ReadBytes('\n')
	if err != nil {
		e.t.Fatalf("reading what Go wrote for %s: %v", golden, err)
	}
	want, err := GoldenMessage(golden)
	if err != nil {
		e.t.Fatal(err)
	}
	if diff := SameMessage(want, bytes.TrimSpace(line)); diff != "" {
		e.t.Errorf("Go's message differs from %s:\n%s\ngot: %s", golden, diff, line)
	}
}

// deliver writes a worker-* golden message to the conn, as the worker would.
func (e *goldenEnd) deliver(golden string) {
	e.t.Helper()
	msg, err := GoldenMessage(golden)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.toConn.Write(append(msg, '\n')); err != nil {
		e.t.Fatalf("deliver %s: %v", golden, err)
	}
}

// reply waits for the reply a request got.
func reply(t *testing.T, ch <-chan rpcReply, what string) rpcReply {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("%s: %v", what, r.err)
		}
		return r
	case <-time.After(time.Minute):
		t.Fatalf("no reply for %s", what)
	}
	return rpcReply{}
}

// TestGoldenConversationGoSide holds the supervisor's side of the golden conversation that
// TestGoldenConversationWithARealWorker has with a real worker: every go-* message is what this
// package's own code writes (its parameter types, its conn), and every worker-* message
// decodes through the code the pool uses, with nothing lost.
func TestGoldenConversationGoSide(t *testing.T) {
	// What the conn writes goes through a pipe with a buffer, as to a worker: a request is
	// written before the test reads it.
	fromConn, written, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	fromWorker, toConn := io.Pipe()
	w := &worker{ready: make(chan readyInfo, 1), exited: make(chan struct{}), loaded: map[string]string{}, log: zerolog.Nop()}
	c := newConn(written, fromWorker, w)
	w.conn = c
	e := &goldenEnd{t: t, written: bufio.NewReader(fromConn), toConn: toConn}
	t.Cleanup(func() {
		toConn.Close()
		fromConn.Close()
	})
	p := &Pool{}
	uri := "https://vendor.example/"
	// activate makes id the worker's running call, as Pool.Invoke and Pool.Exec do through do.
	activate := func(id string) *activeCall {
		ac := &activeCall{id: id}
		w.mu.Lock()
		w.active = ac
		w.mu.Unlock()
		return ac
	}

	// ready: the handshake this supervisor accepts.
	e.deliver("worker-ready.json")
	select {
	case info := <-w.ready:
		if err := checkHandshake(info); err != nil {
			t.Fatalf("the golden handshake is refused: %v", err)
		}
		keptByGo(t, "worker-ready.json", "params", info)
	case <-time.After(time.Minute):
		t.Fatal("the handshake did not reach the worker's ready channel")
	}

	// load
	replies := c.send("load", loadParams{CallID: "c-1", Instance: "golden", Script: GoldenScript, ScriptName: "golden.ps1"})
	e.expectWritten("go-load.json")
	e.deliver("worker-load-result.json")
	var d Description
	if err := json.Unmarshal(reply(t, replies, "load").result, &d); err != nil {
		t.Fatalf("decode the load result: %v", err)
	}
	if m, ok := d.Method("GetClients"); !ok || len(m.Parameters) != 1 || m.Parameters[0].Name != "Prefix" {
		t.Errorf("the load result's GetClients: %+v", m)
	}
	// modules: read by rememberModules (the host modules the instance imported).
	keptByGo(t, "worker-load-result.json", "result", d, "modules")

	// invoke Init, then GetClients with a verbose record on the way.
	ac := activate("c-2")
	replies = c.send("invoke", invokeParams{CallID: "c-2", Instance: "golden", Method: "Init",
		FormData: map[string]any{"ApiUri": uri, "ApiKey": "s3cret-key"}, Secrets: []string{"s3cret-key"}, Public: []string{uri}, TimeoutMs: 60000})
	e.expectWritten("go-invoke-init.json")
	e.deliver("worker-invoke-init-result.json")
	res, err := p.decodeResult(reply(t, replies, "invoke Init").result, w, ac, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keptByGo(t, "worker-invoke-init-result.json", "result", res, "modules")

	ac = activate("c-3")
	replies = c.send("invoke", invokeParams{CallID: "c-3", Instance: "golden", Method: "GetClients", Args: map[string]any{"Prefix": "Contoso"},
		Context: json.RawMessage(`{"ApiUri":"` + uri + `"}`), Secrets: []string{"s3cret-key"}, Public: []string{uri}, TimeoutMs: 60000,
		Preferences: Preferences{Verbose: true}})
	e.expectWritten("go-invoke.json")
	e.deliver("worker-record.json")
	e.deliver("worker-invoke-result.json")
	res, err = p.decodeResult(reply(t, replies, "invoke GetClients").result, w, ac, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keptByGo(t, "worker-invoke-result.json", "result", res, "modules")
	if len(res.Records) != 1 || res.Records[0].Stream != "verbose" || res.Records[0].Time.IsZero() {
		t.Fatalf("the call's records: %+v", res.Records)
	}
	keptByGo(t, "worker-record.json", "params", res.Records[0])

	// exec that throws: a ScriptError with the failure's position.
	ac = activate("c-4")
	replies = c.send("exec", execParams{CallID: "c-4", Script: "param($Name)\nthrow \"no client is named $Name\"\n", ScriptName: "throws.ps1",
		Args: map[string]any{"Name": "Fabrikam"}, TimeoutMs: 60000})
	e.expectWritten("go-exec-throws.json")
	e.deliver("worker-exec-error.json")
	r := reply(t, replies, "exec throws")
	var se *ScriptError
	if err := p.mapError(r.rpcErr, "throws.ps1", ac); !errors.As(err, &se) || se.Line != 2 {
		t.Fatalf("the exec's failure: %v", err)
	}
	keptByGo(t, "worker-exec-error.json", "error.data", se)

	// exec that imports a module: the worker asks the host, Go answers that it has none.
	ac = activate("c-5")
	replies = c.send("exec", execParams{CallID: "c-5", Script: "Import-Module VendorModule\n'after the import'\n", ScriptName: "module.ps1", TimeoutMs: 60000})
	e.expectWritten("go-exec-module.json")
	e.deliver("worker-host.findModule.json")
	e.expectWritten("go-host.findModule-reply.json")
	e.deliver("worker-record-error.json")
	e.deliver("worker-exec-module-result.json")
	res, err = p.decodeResult(reply(t, replies, "exec module").result, w, ac, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keptByGo(t, "worker-exec-module-result.json", "result", res)
	if len(res.Records) != 1 || res.Records[0].Stream != "error" || res.Records[0].ErrorID == "" {
		t.Fatalf("the call's records: %+v", res.Records)
	}
	// positionMessage and exceptionType of an error record: a record keeps the message, the
	// line, column, script, category and error id; the full position is kept for the error
	// that ends a call (ScriptError above).
	keptByGo(t, "worker-record-error.json", "params", res.Records[0], "positionMessage", "exceptionType")

	// exec that is cancelled once it has started.
	ac = activate("c-6")
	replies = c.send("exec", execParams{CallID: "c-6", Script: "Write-Host started\nStart-Sleep -Seconds 60\n", ScriptName: "sleep.ps1", TimeoutMs: 60000})
	e.expectWritten("go-exec-sleep.json")
	e.deliver("worker-record-information.json")
	w.requestStop(ac, 0)
	e.expectWritten("go-cancel.json")
	e.deliver("worker-exec-cancelled.json")
	r = reply(t, replies, "exec cancelled")
	if err := p.mapError(r.rpcErr, "sleep.ps1", ac); !errors.Is(err, ErrCanceled) {
		t.Fatalf("the cancelled exec's error: %v", err)
	}
	if len(ac.records) != 1 || ac.records[0].Message != "started" || len(ac.records[0].Tags) != 1 {
		t.Fatalf("the call's records: %+v", ac.records)
	}
	keptByGo(t, "worker-record-information.json", "params", ac.records[0])

	// The warm-up's report, then shutdown. The conn reads messages in order, so once the
	// shutdown's reply has arrived the report has been handled.
	if w.warmedUp.Load() {
		t.Fatal("the worker counts as warmed up before it said so")
	}
	e.deliver("worker-warmedUp.json")
	replies = c.send("shutdown", struct{}{})
	e.expectWritten("go-shutdown.json")
	e.deliver("worker-shutdown-result.json")
	if r := reply(t, replies, "shutdown"); r.rpcErr != nil || string(r.result) != "{}" {
		t.Fatalf("the shutdown's reply: %+v", r)
	}
	if !w.warmedUp.Load() {
		t.Error("the warmedUp notification did not mark the worker warmed up")
	}
}

// TestHandshakeRefusesAnotherProtocolVersion: a worker that speaks another version of the
// protocol is refused at its start, with both versions named.
func TestHandshakeRefusesAnotherProtocolVersion(t *testing.T) {
	for _, c := range []struct {
		info readyInfo
		ok   bool
	}{
		{readyInfo{Protocol: protocolVersion, PID: 7, ModuleVersion: "0.1.0"}, true},
		{readyInfo{Protocol: protocolVersion + 1, PID: 7, ModuleVersion: "0.2.0"}, false},
		{readyInfo{PID: 7}, false}, // no version at all
	} {
		err := checkHandshake(c.info)
		if (err == nil) != c.ok {
			t.Errorf("checkHandshake(%+v) = %v, want ok %v", c.info, err, c.ok)
			continue
		}
		if err != nil && (!strings.Contains(err.Error(), fmt.Sprintf("protocol version %d", c.info.Protocol)) ||
			!strings.Contains(err.Error(), fmt.Sprintf("speaks %d", protocolVersion))) {
			t.Errorf("checkHandshake(%+v) = %q: want both versions named", c.info, err)
		}
	}
}
