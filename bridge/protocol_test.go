//go:build !windows

package bridge_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/internal/testpwsh"
	"github.com/psbridge/psbridge/psmodule"
)

// goldenWorker is a real worker process spoken to over its protocol pipes directly, without
// the pool: the test writes the golden go-* messages byte for byte and reads what comes back.
type goldenWorker struct {
	t        *testing.T
	cmd      *exec.Cmd
	in       *os.File // the worker's fd 3
	out      *bufio.Reader
	messages chan []byte
	warmedUp []byte // the warmedUp notification, whenever it came
	exited   chan struct{}
	exitErr  error // how the process ended, once exited is closed
}

func startGoldenWorker(t *testing.T) *goldenWorker {
	t.Helper()
	pwsh, mod := testpwsh.Pwsh(t), testpwsh.Module(t)
	toWorkerR, toWorkerW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	fromWorkerR, fromWorkerW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(pwsh, "-NoLogo", "-NoProfile", "-NonInteractive", "-File", mod.WorkerScript())
	cmd.ExtraFiles = []*os.File{toWorkerR, fromWorkerW} // fds 3 and 4
	cmd.Dir = dir
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PSBRIDGE_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "PSBRIDGE_WORKER_DIR="+dir, "HOME="+dir, "TMPDIR="+dir)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	toWorkerR.Close()
	fromWorkerW.Close()
	g := &goldenWorker{t: t, cmd: cmd, in: toWorkerW, out: bufio.NewReaderSize(fromWorkerR, 1<<20), messages: make(chan []byte, 16),
		exited: make(chan struct{})}
	go func() {
		g.exitErr = cmd.Wait()
		close(g.exited)
	}()
	go func() {
		defer close(g.messages)
		for {
			line, err := g.out.ReadBytes('\n')
			if len(bytes.TrimSpace(line)) > 0 {
				g.messages <- bytes.TrimSpace(line)
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		toWorkerW.Close()
		_ = cmd.Process.Kill()
		<-g.exited
		fromWorkerR.Close()
		if t.Failed() {
			t.Logf("worker output:\n%s", stderr.String())
		}
	})
	return g
}

// send writes the golden message name to the worker as one line.
func (g *goldenWorker) send(name string) {
	g.t.Helper()
	msg, err := bridge.GoldenMessage(name)
	if err != nil {
		g.t.Fatal(err)
	}
	if _, err := g.in.Write(append(msg, '\n')); err != nil {
		g.t.Fatalf("send %s: %v", name, err)
	}
}

// next returns the worker's next message, keeping a warmedUp notification aside (the warm-up
// ends whenever the worker has been idle long enough, between any two messages).
func (g *goldenWorker) next(what string) []byte {
	g.t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case msg, ok := <-g.messages:
			if !ok {
				g.t.Fatalf("the worker closed its protocol pipe while the test waited for %s", what)
			}
			var m struct {
				Method string `json:"method"`
			}
			_ = json.Unmarshal(msg, &m)
			if m.Method == "warmedUp" && g.warmedUp == nil {
				g.warmedUp = msg
				if what != warmedUpWhat {
					continue
				}
			}
			return msg
		case <-timeout:
			g.t.Fatalf("no message from the worker for %s", what)
		}
	}
}

// waitWarmedUp returns the worker's warmedUp notification, once it came.
func (g *goldenWorker) waitWarmedUp() []byte {
	g.t.Helper()
	if g.warmedUp == nil {
		if msg := g.next(warmedUpWhat); g.warmedUp == nil {
			g.t.Fatalf("the worker sent %s while the test waited for the warmedUp notification", msg)
		}
	}
	return g.warmedUp
}

const warmedUpWhat = "the warmedUp notification"

// expect reads the worker's next message and compares it with the golden message name (or,
// with -update, stores it as that golden message).
func (g *goldenWorker) expect(name string) []byte {
	g.t.Helper()
	got := g.next(name)
	g.check(name, got)
	return got
}

func (g *goldenWorker) check(name string, got []byte) {
	g.t.Helper()
	if bridge.UpdateGolden() {
		if err := bridge.WriteGolden(name, got); err != nil {
			g.t.Fatal(err)
		}
		return
	}
	want, err := bridge.GoldenMessage(name)
	if err != nil {
		g.t.Fatal(err)
	}
	if diff := bridge.SameMessage(want, got); diff != "" {
		g.t.Errorf("the worker's message differs from %s:\n%s\ngot: %s", name, diff, got)
	}
}

// TestGoldenConversationWithARealWorker sends the golden go-* messages to a real worker, in the
// order a supervisor would, and checks every message the worker sends against its golden
// worker-* file: the worker's side of the contract in docs/protocol.md.
func TestGoldenConversationWithARealWorker(t *testing.T) {
	g := startGoldenWorker(t)
	var ready struct {
		Params struct {
			ModuleVersion string `json:"moduleVersion"`
		} `json:"params"`
	}
	if err := json.Unmarshal(g.expect("worker-ready.json"), &ready); err != nil {
		t.Fatal(err)
	}
	if ready.Params.ModuleVersion != psmodule.Version {
		t.Errorf("the worker says it runs module version %q, this psbridge has %s", ready.Params.ModuleVersion, psmodule.Version)
	}

	g.send("go-load.json")
	g.expect("worker-load-result.json")

	g.send("go-invoke-init.json")
	g.expect("worker-invoke-init-result.json")

	g.send("go-invoke.json")
	g.expect("worker-record.json")
	g.expect("worker-invoke-result.json")

	g.send("go-exec-throws.json")
	g.expect("worker-exec-error.json")

	g.send("go-exec-module.json")
	g.expect("worker-host.findModule.json")
	g.send("go-host.findModule-reply.json")
	g.expect("worker-record-error.json")
	g.expect("worker-exec-module-result.json")

	g.send("go-exec-sleep.json")
	g.expect("worker-record-information.json")
	g.send("go-cancel.json")
	g.expect("worker-exec-cancelled.json")

	// Idle now: the warm-up runs its invocations and reports.
	g.check("worker-warmedUp.json", g.waitWarmedUp())

	g.send("go-shutdown.json")
	g.expect("worker-shutdown-result.json")
	select {
	case <-g.exited:
		if g.exitErr != nil {
			t.Fatalf("the worker did not exit cleanly after shutdown: %v", g.exitErr)
		}
	case <-time.After(time.Minute):
		t.Fatal("the worker did not exit after shutdown")
	}
}
