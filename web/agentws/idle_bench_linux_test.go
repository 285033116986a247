//go:build linux

package agentws_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/psbridge/psbridge/agent/wire"
	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/testpwsh"
	"github.com/psbridge/psbridge/web"
)

// The load tool of issue 11: one server, many connected idle agents.
//
//	go test ./web/agentws -run '^$' -bench IdleAgents5000 -benchtime 200x
//
// The server is this process (engine, bbolt, HTTP on 127.0.0.1, heartbeat 1 s); the 5,000
// agents are a child process (this test binary again, running TestIdleAgentClients) that
// speaks agent/wire over real websockets, so the process's RSS and CPU time are the server's
// alone. Computers are enrolled through the real HTTP enrollment endpoint. The benchmark
// reports the server's VmRSS (from /proc/self/status) and Go heap growth for the connected
// agents, its CPU time (getrusage) over an idle window of idleBeats heartbeats, and — as the
// measured op — a ping round trip: a "run" message from the hub to a random agent, answered
// at once with a "result" (no pwsh involved). It stops by itself.
const (
	idleAgents   = 5000
	idleBeats    = 5
	idleBeat     = time.Second
	idleEnvFile  = "PSBRIDGE_IDLE_CREDS"
	idleEnvURL   = "PSBRIDGE_IDLE_URL"
	idleDeadline = 5 * time.Minute
)

func raiseNoFile(tb testing.TB, want uint64) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		tb.Fatal(err)
	}
	if rl.Cur >= want {
		return
	}
	rl.Cur = min(want, rl.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		tb.Fatal(err)
	}
	if rl.Cur < want {
		tb.Fatalf("RLIMIT_NOFILE is %d (hard limit); %d connections need %d", rl.Cur, idleAgents, want)
	}
}

func vmRSS(tb testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb << 10
		}
	}
	tb.Fatal("no VmRSS in /proc/self/status")
	return 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

type idleCred struct {
	ID   int64  `json:"id"`
	Cred string `json:"cred"`
}

func BenchmarkIdleAgents5000(b *testing.B) {
	raiseNoFile(b, idleAgents+1000)
	ctx, cancel := context.WithTimeout(context.Background(), idleDeadline)
	defer cancel()

	pool := testpwsh.Pool(b, bridge.Config{MinWorkers: 1, MaxWorkers: 1})
	st, err := store.Open(filepath.Join(b.TempDir(), "psbridge.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	eng, err := engine.New(engine.Config{Store: st, Pool: pool, HealthInterval: -1, AgentSyncTick: -1, AgentHeartbeat: idleBeat})
	if err != nil {
		b.Fatal(err)
	}
	eng.Start(ctx)
	defer eng.Close()
	srv := httptest.NewServer(web.New(eng, web.Options{})) // 127.0.0.1
	defer srv.Close()
	tenant := store.Tenant{Name: "Load"}
	if err := st.CreateTenant(&tenant); err != nil {
		b.Fatal(err)
	}
	key, err := eng.CreateEnrollmentKey(tenant.ID, 0)
	if err != nil {
		b.Fatal(err)
	}

	// Enroll through the real endpoint, 8 at a time.
	t0 := time.Now()
	creds := make([]idleCred, idleAgents)
	if err := enrollMany(srv.URL, key.Key, idleAgents, func(i int, out wire.Enrolled, _ time.Duration) {
		creds[i] = idleCred{ID: out.ComputerID, Cred: out.Credential}
	}); err != nil {
		b.Fatal(err)
	}
	enrollTime := time.Since(t0)
	http.DefaultClient.CloseIdleConnections()

	credFile := filepath.Join(b.TempDir(), "creds.json")
	raw, _ := json.Marshal(creds)
	if err := os.WriteFile(credFile, raw, 0o600); err != nil {
		b.Fatal(err)
	}

	rss0, heap0, g0 := vmRSS(b), heapInuse(), runtime.NumGoroutine()

	t0 = time.Now()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestIdleAgentClients$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), idleEnvFile+"="+credFile, idleEnvURL+"=ws"+strings.TrimPrefix(srv.URL, "http")+wire.ConnectPath)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }() // the child exits when its stdin closes
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "READY") || strings.HasPrefix(l, "FAIL") {
				ready <- l
			}
		}
		close(ready)
	}()
	select {
	case l := <-ready:
		if !strings.HasPrefix(l, "READY") {
			b.Fatalf("the agents' process: %q", l)
		}
	case <-ctx.Done():
		b.Fatal("the agents did not connect in time")
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for eng.Hub().OnlineCount() < idleAgents {
		select {
		case <-tick.C:
		case <-ctx.Done():
			b.Fatalf("%d of %d agents online", eng.Hub().OnlineCount(), idleAgents)
		}
	}
	connectTime := time.Since(t0)

	// Idle: let the connection-time garbage go, then measure idleBeats heartbeat periods.
	runtime.GC()
	cpu0, w0 := cpuTime(), time.Now()
	select {
	case <-time.After(idleBeats * idleBeat):
	case <-ctx.Done():
		b.Fatal(ctx.Err())
	}
	cpu := cpuTime() - cpu0
	wall := time.Since(w0)
	if n := eng.Hub().OnlineCount(); n != idleAgents {
		b.Fatalf("%d of %d agents still online after the idle window", n, idleAgents)
	}
	rss1, heap1, g1 := vmRSS(b), heapInuse(), runtime.NumGoroutine()

	// The measured op: a ping round trip through the hub to a random agent and back.
	r := rand.New(rand.NewPCG(1, 2))
	var rtts []time.Duration
	for b.Loop() {
		c := creds[r.IntN(idleAgents)]
		s := time.Now()
		res, err := eng.Hub().Run(ctx, c.ID, wire.Run{Name: "ping", Script: "ping", TimeoutMs: 10000}, time.Second, nil)
		if err != nil || res.Error != nil || len(res.Output) != 1 {
			b.Fatalf("ping %d: %v %+v", c.ID, err, res)
		}
		rtts = append(rtts, time.Since(s))
	}
	b.StopTimer()
	slices.Sort(rtts)

	perBeat := time.Duration(int64(cpu) * int64(idleBeat) / int64(wall))
	b.ReportMetric(float64(rss1-rss0)/(1<<20), "rss-MiB")
	b.ReportMetric(float64(rss1-rss0)/idleAgents/1024, "rss-KiB/agent")
	b.ReportMetric(float64(int64(heap1)-int64(heap0))/idleAgents/1024, "heap+stack-KiB/agent")
	b.ReportMetric(float64(g1-g0)/idleAgents, "goroutines/agent")
	b.ReportMetric(float64(perBeat.Microseconds())/1000, "cpu-ms/heartbeat")
	b.ReportMetric(100*float64(cpu)/float64(wall), "cpu-%-at-1s-heartbeat")
	b.ReportMetric(float64(rtts[len(rtts)/2].Microseconds()), "ping-p50-µs")
	b.ReportMetric(float64(rtts[len(rtts)*99/100].Microseconds()), "ping-p99-µs")
	b.Logf("%d agents: enrolled over HTTP in %s, connected in %s; server VmRSS %d → %d MiB; heap+stacks %d → %d MiB; goroutines %d → %d; CPU %s over %s idle (%d heartbeats); ping round trip p50 %s p99 %s (%d pings)",
		idleAgents, enrollTime.Round(time.Millisecond), connectTime.Round(time.Millisecond), rss0>>20, rss1>>20, heap0>>20, heap1>>20, g0, g1,
		cpu.Round(time.Millisecond), wall.Round(time.Millisecond), idleBeats, rtts[len(rtts)/2], rtts[len(rtts)*99/100], len(rtts))
}

// TestIdleAgentClients is the agents' side of BenchmarkIdleAgents5000, run in a child process;
// without the benchmark's environment it skips.
func TestIdleAgentClients(t *testing.T) {
	file, url := os.Getenv(idleEnvFile), os.Getenv(idleEnvURL)
	if file == "" || url == "" {
		t.Skip("the child process of BenchmarkIdleAgents5000")
	}
	fail := func(err error) { fmt.Println("FAIL", err); os.Exit(1) }
	raiseNoFile(t, idleAgents+1000)
	raw, err := os.ReadFile(file)
	if err != nil {
		fail(err)
	}
	var creds []idleCred
	if err := json.Unmarshal(raw, &creds); err != nil {
		fail(err)
	}
	dialer := websocket.Dialer{HandshakeTimeout: time.Minute, ReadBufferSize: 1024, WriteBufferSize: 1024}
	var wg sync.WaitGroup
	errc := make(chan error, len(creds))
	sem := make(chan struct{}, 32)
	for i, c := range creds {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ws, _, err := dialer.Dial(url, http.Header{"Authorization": {"Bearer " + c.Cred}})
			if err != nil {
				errc <- err
				return
			}
			inv := wire.Inventory{ComputerName: fmt.Sprintf("LOAD-%05d", i), DeviceID: fmt.Sprintf("load-%05d", i), OSName: "Linux", Platform: "linux"}
			var welcome wire.Message
			if err := ws.WriteJSON(wire.Message{Type: wire.TypeHello, Version: wire.Version, Inventory: &inv}); err != nil {
				errc <- err
				return
			}
			if err := ws.ReadJSON(&welcome); err != nil || welcome.Type != wire.TypeWelcome {
				errc <- fmt.Errorf("welcome: %v %q", err, welcome.Type)
				return
			}
			// The read loop answers pings (gorilla's default handler) and runs.
			go func() {
				var mu sync.Mutex
				for {
					var m wire.Message
					if err := ws.ReadJSON(&m); err != nil {
						return
					}
					if m.Type == wire.TypeRun {
						mu.Lock()
						_ = ws.WriteJSON(wire.Message{Type: wire.TypeResult, ID: m.ID, Result: &wire.Result{Output: []json.RawMessage{json.RawMessage(`"pong"`)}}})
						mu.Unlock()
					}
				}
			}()
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		fail(err)
	}
	fmt.Println("READY", len(creds))
	_, _ = bufio.NewReader(os.Stdin).ReadString(0) // until the benchmark closes stdin
	os.Exit(0)
}
