package agentws_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/psbridge/psbridge/agent"
	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/testpwsh"
	"github.com/psbridge/psbridge/web"
)

// rig is a real server (engine, bbolt, HTTP on 127.0.0.1) and one real agent (its own pool of
// one warm pwsh) enrolled into a tenant and connected.
type rig struct {
	eng      *engine.Engine
	server   *bridge.Pool
	computer int64
}

func newRig(tb testing.TB) *rig {
	tb.Helper()
	pool := testpwsh.Pool(tb, bridge.Config{MinWorkers: 1, MaxWorkers: 2})
	st, err := store.Open(filepath.Join(tb.TempDir(), "psbridge.db"), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	eng, err := engine.New(engine.Config{Store: st, Pool: pool, HealthInterval: -1, AgentSyncTick: -1, AgentHeartbeat: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	eng.Start(ctx)
	tb.Cleanup(func() { cancel(); eng.Close() })
	srv := httptest.NewServer(web.New(eng, web.Options{}))
	tb.Cleanup(srv.Close)
	tenant := store.Tenant{Name: "Bench"}
	if err := st.CreateTenant(&tenant); err != nil {
		tb.Fatal(err)
	}
	k, err := eng.CreateEnrollmentKey(tenant.ID, 0)
	if err != nil {
		tb.Fatal(err)
	}
	agentPool := testpwsh.Pool(tb, bridge.Config{MinWorkers: 1, MaxWorkers: 1, MaxWorkersPerInstance: 1, IdleTimeout: -1})
	cfg := agent.Config{StateDir: tb.TempDir(), Pool: agentPool, Inventory: map[string]string{"deviceId": "bench-1", "computerName": "BENCH"}}
	st1, err := agent.Enroll(ctx, cfg, srv.URL, k.Key)
	if err != nil {
		tb.Fatal(err)
	}
	connected := make(chan struct{}, 1)
	cfg.OnConnect = func(int64) {
		select {
		case connected <- struct{}{}:
		default:
		}
	}
	a, err := agent.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
	select {
	case <-connected:
	case <-time.After(time.Minute):
		tb.Fatal("the agent did not connect")
	}
	// Presence is set once the hub attached the session (right after the welcome).
	for !eng.Hub().Status(st1.ComputerID).Online {
		select {
		case <-ctx.Done():
			tb.Fatal("cancelled")
		case <-time.After(time.Millisecond):
		}
	}
	return &rig{eng: eng, server: pool, computer: st1.ComputerID}
}

// BenchmarkInvokeImmyCommand measures, in one run, a warm bridge call (an ordinary script in
// the server's pool) next to a metascript whose Invoke-ImmyCommand block makes the round trip
// to the agent (websocket, the agent's warm pwsh, CliXml back) and a script run directly on
// the computer.
func BenchmarkInvokeImmyCommand(b *testing.B) {
	r := newRig(b)
	ctx := context.Background()
	run := func(b *testing.B, fn func() error) {
		for range 3 { // warm both pwsh processes
			if err := fn(); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		for b.Loop() {
			if err := fn(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("warm-bridge-exec", func(b *testing.B) {
		run(b, func() error {
			_, err := r.server.Exec(ctx, bridge.Exec{Text: "1"})
			return err
		})
	})
	b.Run("metascript-without-block", func(b *testing.B) {
		run(b, func() error {
			_, err := r.eng.RunScript(ctx, engine.RunScriptInput{ComputerID: r.computer, Script: "1"})
			return err
		})
	})
	b.Run("invoke-immycommand", func(b *testing.B) {
		run(b, func() error {
			_, err := r.eng.RunScript(ctx, engine.RunScriptInput{ComputerID: r.computer, Script: "Invoke-ImmyCommand { 1 }"})
			return err
		})
	})
	b.Run("computer-context", func(b *testing.B) {
		run(b, func() error {
			_, err := r.eng.RunOnComputerScript(ctx, r.computer, engine.ComputerScriptInput{Context: "computer", Script: "1"}, nil)
			return err
		})
	})
}

// TestInvokeImmyCommandInProcess checks the rig the benchmark uses: a typed round trip and a
// cancelled block that stops on the agent.
func TestInvokeImmyCommandInProcess(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	res, err := r.eng.RunScript(ctx, engine.RunScriptInput{ComputerID: r.computer,
		Script: "$x = Invoke-ImmyCommand { [pscustomobject]@{ n = [long]1 } }; $x.n.GetType().Name"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Output) != 1 || string(res.Output[0]) != `"Int64"` {
		t.Fatalf("output %s", res.Output)
	}
	cctx, cancel := context.WithCancel(ctx)
	started := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		_, err := r.eng.RunOnComputerScript(cctx, r.computer, engine.ComputerScriptInput{Context: "metascript",
			Script: "Invoke-ImmyCommand { Write-Warning 'started'; Start-Sleep 3600 }"}, func(rec bridge.Record) {
			if rec.Message == "started" {
				close(started)
			}
		})
		errc <- err
	}()
	select {
	case <-started:
	case <-time.After(time.Minute):
		t.Fatal("the block's record did not arrive live")
	}
	t0 := time.Now()
	cancel()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatalf("cancel: no error after %s", time.Since(t0))
		}
	case <-time.After(10 * time.Minute): // the block sleeps an hour: only a cancel that reached it ends sooner
		t.Fatal("cancel did not stop the metascript")
	}
	// The agent's worker is free again.
	if _, err := r.eng.RunOnComputerScript(ctx, r.computer, engine.ComputerScriptInput{Context: "computer", Script: "'free'"}, nil); err != nil {
		t.Fatal(err)
	}
}
