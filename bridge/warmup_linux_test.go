package bridge_test

import (
	"testing"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/internal/cputime"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

// TestWarmUpWaitsForAnIdleWorker: a new worker's warm-up does not slip its invocations into
// the gaps between one caller's back-to-back requests (they are not idle CPU: on a busy
// machine they belong to other workers' calls), and it runs once the worker is idle.
func TestWarmUpWaitsForAnIdleWorker(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1, MaxCallsPerWorker: -1})
	// Each call does some work (about a millisecond), so the serving thread's CPU is measurable.
	c := bridge.Call{Script: method("warm", "(1..300 | ForEach-Object { $_ }).Count"), Method: "GetClients"}
	invoke(t, p, c)
	launcher := p.Stats().WorkerPID[0]
	serve0, ok := cputime.Thread(launcher, "psbridge-serve")
	warm0, ok2 := cputime.Thread(launcher, "psbridge-warmup")
	if !ok || !ok2 {
		t.Fatalf("worker threads not found under pid %d (serving %v, warm-up %v)", launcher, ok, ok2)
	}
	// 1,000 calls back to back: the warm-up would stop at 2,000 invocations, calls included.
	for i := 0; i < 1000; i++ {
		invoke(t, p, c)
	}
	serve1, _ := cputime.Thread(launcher, "psbridge-serve")
	warm1, running := cputime.Thread(launcher, "psbridge-warmup")
	if !running {
		t.Fatal("the warm-up finished during back-to-back calls: it ran between requests")
	}
	if serve1-serve0 < 200*time.Millisecond {
		t.Fatalf("the serving thread used only %v for 1,000 calls: too little to compare", serve1-serve0)
	}
	if w, s := warm1-warm0, serve1-serve0; w*10 > s {
		t.Fatalf("during back-to-back calls the warm-up thread used %v of CPU, the serving thread %v: the warm-up ran between requests", w, s)
	}
	if p.Stats().PerWorker[0].WarmedUp {
		t.Fatal("the worker reported its warm-up finished during back-to-back calls")
	}
	// Idle now: the warm-up makes its remaining invocations, reports that it got through them
	// all (an exception would end it early, and the worker would report that instead), and its
	// thread ends.
	waitFor(t, "the worker to report its warm-up finished once it is idle", func() bool {
		return p.Stats().PerWorker[0].WarmedUp
	})
	waitFor(t, "the warm-up thread to end", func() bool {
		_, running := cputime.Thread(launcher, "psbridge-warmup")
		return !running
	})
}
