package bridge_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

// threadTicks reads the CPU time (user and system, in clock ticks) of the thread named name in
// the process tree under root, from /proc; found is false when no such thread runs.
func threadTicks(t *testing.T, root int, name string) (ticks int64, found bool) {
	t.Helper()
	parent := map[int]int{}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, stat := range procs {
		raw, err := os.ReadFile(stat)
		if err != nil {
			continue
		}
		f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(stat)))
		if len(f) > 1 {
			parent[pid], _ = strconv.Atoi(f[1])
		}
	}
	under := func(pid int) bool {
		for ; pid > 1; pid = parent[pid] {
			if pid == root {
				return true
			}
		}
		return false
	}
	for pid := range parent {
		if !under(pid) {
			continue
		}
		tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*")
		for _, task := range tasks {
			comm, err := os.ReadFile(task + "/comm")
			if err != nil || strings.TrimSpace(string(comm)) != name {
				continue
			}
			raw, err := os.ReadFile(task + "/stat")
			if err != nil {
				continue
			}
			f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			return ut + st, true
		}
	}
	return 0, false
}

// TestWarmUpWaitsForAnIdleWorker: a new worker's warm-up does not slip its invocations into
// the gaps between one caller's back-to-back requests (they are not idle CPU: on a busy
// machine they belong to other workers' calls), and it runs once the worker is idle.
func TestWarmUpWaitsForAnIdleWorker(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1, MaxCallsPerWorker: -1})
	// Each call does some work (about a millisecond), so the serving thread's CPU is measurable.
	c := bridge.Call{Script: method("warm", "(1..300 | ForEach-Object { $_ }).Count"), Method: "GetClients"}
	invoke(t, p, c)
	launcher := p.Stats().WorkerPID[0]
	serve0, ok := threadTicks(t, launcher, "psbridge-serve")
	warm0, ok2 := threadTicks(t, launcher, "psbridge-warmup")
	if !ok || !ok2 {
		t.Fatalf("worker threads not found under pid %d (serving %v, warm-up %v)", launcher, ok, ok2)
	}
	// 1,000 calls back to back: the warm-up would stop at 2,000 invocations, calls included.
	for i := 0; i < 1000; i++ {
		invoke(t, p, c)
	}
	serve1, _ := threadTicks(t, launcher, "psbridge-serve")
	warm1, running := threadTicks(t, launcher, "psbridge-warmup")
	if !running {
		t.Fatal("the warm-up finished during back-to-back calls: it ran between requests")
	}
	if serve1-serve0 < 20 {
		t.Fatalf("the serving thread used only %d ticks for 1,000 calls: too few to compare", serve1-serve0)
	}
	if w, s := warm1-warm0, serve1-serve0; w*10 > s {
		t.Fatalf("during back-to-back calls the warm-up thread used %d ticks of CPU, the serving thread %d: the warm-up ran between requests", w, s)
	}
	// Idle now: the warm-up makes its remaining invocations and its thread ends.
	waitFor(t, "the warm-up to run and end once the worker is idle", func() bool {
		_, running := threadTicks(t, launcher, "psbridge-warmup")
		return !running
	})
}
