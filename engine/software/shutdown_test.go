package software_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/software"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

// TestShutdownCancelsSessions: shutting the service down cancels a session whose script is
// running, one waiting for an offline computer's agent and one queued behind the concurrency
// limit; each is recorded as cancelled, naming where it was, and its log stream ends.
func TestShutdownCancelsSessions(t *testing.T) {
	pool := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 2})
	st, err := store.Open(filepath.Join(t.TempDir(), "psbridge.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	eng, err := engine.New(engine.Config{Store: st, Pool: pool, HealthInterval: -1, AgentSyncTick: -1, ComputerConnectWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	svc := software.New(eng, 1)
	pc := &store.Computer{Name: "PC-1"}
	if err := st.CreateComputer(pc); err != nil {
		t.Fatal(err)
	}
	create := func(name, scriptContext, detection string) store.Software {
		sw, err := svc.Create(context.Background(), software.Input{Name: name, ScriptContext: scriptContext, DetectionScript: detection, InstallScript: "'installed'"})
		if err != nil {
			t.Fatal(err)
		}
		return sw
	}
	slow := create("slow", "metascript", "Write-Host 'detecting'; Start-Sleep -Seconds 600")
	offline := create("offline", "computer", "'1.0'")
	other := create("other", "computer", "'1.0'") // a second item: the same one would be "already in progress"
	run := func(sw store.Software, skipQueue bool) store.MaintenanceSession {
		ss, err := svc.Run(software.RunInput{MaintenanceParams: &software.MaintenanceParams{MaintenanceIdentifier: strconv.FormatInt(sw.ID, 10)},
			Computers: []software.Target{{ComputerID: pc.ID}}, SkipBackgroundJob: skipQueue})
		if err != nil || len(ss) != 1 {
			t.Fatal(ss, err)
		}
		return ss[0]
	}
	// waitFor follows a session's log until an entry contains text.
	waitFor := func(id int64, text string) {
		t.Helper()
		past, ch, stop, err := svc.Follow(id)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		for _, e := range past {
			if strings.Contains(e.Message, text) {
				return
			}
		}
		for e := range ch {
			if strings.Contains(e.Message, text) {
				return
			}
		}
		t.Fatalf("session %d ended before its log said %q", id, text)
	}
	running := run(slow, false) // holds the only slot
	waitFor(running.ID, "detecting")
	queued := run(offline, false) // waits for the slot
	waiting := run(other, true)   // bypasses the limit, waits for the agent
	waitFor(waiting.ID, "stage detection")
	if n := svc.Running(); n != 3 {
		t.Fatalf("running before shutdown: %d, want 3", n)
	}
	_, followCh, stopFollow, err := svc.Follow(running.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer stopFollow()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := svc.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for range followCh { // the log stream ends
	}
	cases := []struct {
		name  string
		id    int64
		error string
	}{
		{"script running", running.ID, "the server shut down during detection"},
		{"queued behind the limit", queued.ID, "the server shut down before the session started"},
		{"waiting for the agent", waiting.ID, "the server shut down during detection"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := st.Session(c.id)
			if err != nil {
				t.Fatal(err)
			}
			if m.State != "cancelled" || m.Error != c.error || m.EndedAt.IsZero() {
				t.Fatalf("session: state %q error %q ended %v; want cancelled, %q", m.State, m.Error, m.EndedAt, c.error)
			}
			if last := m.Log[len(m.Log)-1]; last.Message != "session cancelled" {
				t.Errorf("last log entry %+v", last)
			}
		})
	}
	if n := svc.Running(); n != 0 {
		t.Errorf("running after shutdown: %d", n)
	}
	// A session started after shutdown is cancelled at once.
	late := run(offline, true)
	if err := svc.Wait(ctx, late.ID); err != nil {
		t.Fatal(err)
	}
	if m, _ := st.Session(late.ID); m.State != "cancelled" {
		t.Errorf("session after shutdown: %q %q", m.State, m.Error)
	}
}
