package bridge_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/internal/cputime"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

// The test binary doubles as a trivial child process for the raw pipe baseline: with this
// variable set it echoes each line it reads.
const echoChildEnv = "PSBRIDGE_BENCH_ECHO_CHILD"

// TestMain also lets a test start this binary as a helper process (PSBRIDGE_TEST_HELPER names
// the role).
func TestMain(m *testing.M) {
	if os.Getenv("PSBRIDGE_TEST_HELPER") == "spawning-server" {
		spawningServer()
		return
	}
	if os.Getenv(echoChildEnv) == "1" {
		r := bufio.NewReader(os.Stdin)
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				os.Exit(0)
			}
			if _, err := os.Stdout.Write(line); err != nil {
				os.Exit(0)
			}
		}
	}
	os.Exit(m.Run())
}

// BenchmarkRawPipeRoundTrip is the floor: one JSON-sized line to a trivial Go child and back,
// with the p50 and p99 of single round trips.
func BenchmarkRawPipeRoundTrip(b *testing.B) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), echoChildEnv+"=1")
	in, out := startPiped(b, cmd)
	defer func() { in.Close(); _ = cmd.Wait() }()
	msg := []byte(`{"jsonrpc":"2.0","id":"g1","method":"invoke","params":{"instance":"bench","method":"GetClients"}}` + "\n")
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := in.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := out.ReadBytes('\n'); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	// The floor's own tail: how much of a warm call's p99 this machine's scheduling explains.
	reportLatency(b, "", lat)
}

// startPiped starts cmd with pipes to its stdin and from its stdout.
func startPiped(b *testing.B, cmd *exec.Cmd) (io.WriteCloser, *bufio.Reader) {
	b.Helper()
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return in, bufio.NewReader(out)
}

// reportLatency reports the p50 and p99 of lat as custom metrics named prefix+"p50-ms" and
// prefix+"p99-ms".
func reportLatency(b *testing.B, prefix string, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, prefix+"p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, prefix+"p99-ms")
}

// warmCalls is how many calls make a worker warm in these benchmarks (tiered compilation of
// PowerShell's hot paths has settled by then).
const warmCalls = 4000

// BenchmarkWarmTrivialCall is one integration method call returning a constant on a warm worker
// (warmCalls calls before timing), with the p50 and p99 of single calls.
func BenchmarkWarmTrivialCall(b *testing.B) {
	p := testpwsh.Pool(b, bridge.Config{MinWorkers: 1, MaxWorkers: 1, MaxCallsPerWorker: -1})
	c := bridge.Call{Script: method("bench", "1"), Method: "GetClients"}
	for i := 0; i < warmCalls; i++ {
		if _, err := p.Invoke(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	pids := workerPIDs(p)
	cpu := cputime.Tree(pids)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := p.Invoke(context.Background(), c); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportLatency(b, "", lat)
	reportWorkerCPU(b, cputime.Tree(pids)-cpu)
}

// workerPIDs are the processes of p's workers (their launchers; treeCPU adds their pwsh).
func workerPIDs(p *bridge.Pool) []int {
	var pids []int
	for _, w := range p.Stats().PerWorker {
		pids = append(pids, w.PID)
	}
	return pids
}

// reportWorkerCPU reports the workers' CPU time per op (user and system, all their threads:
// steadier than wall time on a shared machine; 10 ms resolution in all).
func reportWorkerCPU(b *testing.B, cpu time.Duration) {
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "worker-µs/op")
	}
}

// BenchmarkYoungWorkerFirst100 is a fresh worker's first 100 calls (after the one that loads
// the script): each op starts a pool of one worker (untimed), lets it sit idle for a while
// ("idle=0": called as soon as it is ready; "idle=3s": a spare the pool started in advance)
// and makes 100 trivial calls; it reports the p50 and p99 of all those calls. Its baseline,
// "plain-pwsh", is the same 100 round trips to a pwsh with no psbridge in it.
func BenchmarkYoungWorkerFirst100(b *testing.B) {
	m := testpwsh.Module(b)
	pwsh := testpwsh.Pwsh(b)
	c := bridge.Call{Script: method("young", "1"), Method: "GetClients"}
	b.Run("plain-pwsh", func(b *testing.B) { benchPlainPwshFirst100(b, pwsh) })
	for _, tc := range []struct {
		name string
		idle time.Duration
	}{{"idle=0", 0}, {"idle=3s", 3 * time.Second}} {
		idle := tc.idle
		b.Run(tc.name, func(b *testing.B) {
			var lat []time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				p, err := bridge.New(context.Background(), bridge.Config{Pwsh: pwsh, WorkerScript: m.WorkerScript(), MinWorkers: 1, MaxWorkers: 1, MaxCallsPerWorker: -1})
				if err != nil {
					b.Fatal(err)
				}
				time.Sleep(idle)
				if _, err := p.Invoke(context.Background(), c); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for j := 0; j < 100; j++ {
					start := time.Now()
					if _, err := p.Invoke(context.Background(), c); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(start))
				}
				b.StopTimer()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_ = p.Close(ctx)
				cancel()
				b.StartTimer()
			}
			b.StopTimer()
			reportLatency(b, "", lat)
		})
	}
}

// plainPwshLoop is the baseline's whole "worker": a script block invoked once per line read
// from stdin, its result written back, in a pwsh with nothing else loaded.
const plainPwshLoop = `$block = { param($Value) 1 }
[Console]::Out.WriteLine('ready'); [Console]::Out.Flush()
while ($null -ne ($line = [Console]::In.ReadLine())) {
    $result = & $block $line
    [Console]::Out.WriteLine([string]$result); [Console]::Out.Flush()
}`

// benchPlainPwshFirst100 is what a young pwsh costs by itself: each op starts pwsh the way the
// pool does (untimed, until it says ready), makes one untimed round trip, then 100 timed ones:
// a line in, a script block invoked, a line out. No JSON-RPC, binding, masking or warm-up, and
// .NET's default settings (the pool's workers run with their own, see workerEnv).
func benchPlainPwshFirst100(b *testing.B, pwsh string) {
	prog, args := bridge.PwshCommand(pwsh)
	var lat []time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		cmd := exec.Command(prog, append(slices.Clone(args), "-NoLogo", "-NoProfile", "-NonInteractive", "-Command", plainPwshLoop)...)
		cmd.Stderr = os.Stderr
		stdin, out := startPiped(b, cmd)
		roundTrip := func() {
			if _, err := io.WriteString(stdin, "x\n"); err != nil {
				b.Fatal(err)
			}
			if line, err := out.ReadString('\n'); err != nil || strings.TrimSpace(line) != "1" {
				b.Fatalf("plain pwsh answered %q: %v", line, err)
			}
		}
		if line, err := out.ReadString('\n'); err != nil || strings.TrimSpace(line) != "ready" {
			b.Fatalf("plain pwsh started with %q: %v", line, err)
		}
		roundTrip()
		b.StartTimer()
		for j := 0; j < 100; j++ {
			start := time.Now()
			roundTrip()
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	reportLatency(b, "", lat)
}

// BenchmarkColdWorkerStart starts a pool of one worker (launcher, pwsh start, module import,
// handshake) and serves its first call; stopping the pool is not timed. worker-µs/op is the
// CPU the worker (launcher and pwsh, all threads) used until then.
func BenchmarkColdWorkerStart(b *testing.B) {
	m := testpwsh.Module(b)
	pwsh := testpwsh.Pwsh(b)
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		p, err := bridge.New(context.Background(), bridge.Config{Pwsh: pwsh, WorkerScript: m.WorkerScript(), MinWorkers: 1, MaxWorkers: 1})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Invoke(context.Background(), bridge.Call{Script: method("cold", "1"), Method: "GetClients"}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cputime.Tree(workerPIDs(p))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = p.Close(ctx)
		cancel()
		b.StartTimer()
	}
	reportWorkerCPU(b, cpu)
}

// BenchmarkThroughput runs many concurrent trivial calls of one integration on pools of 1, 2
// and 4 workers (MaxWorkersPerInstance = size, so the integration may use them all), with
// young workers (just started, script loaded) and warm ones (warmCalls calls each first).
func BenchmarkThroughput(b *testing.B) {
	for _, age := range []string{"young", "warm"} {
		for _, size := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("%s/workers=%d", age, size), func(b *testing.B) {
				p := testpwsh.Pool(b, bridge.Config{MinWorkers: size, MaxWorkers: size, MaxWorkersPerInstance: size, MaxCallsPerWorker: -1, QueueSize: 4096, QueuePerInstance: 4096})
				c := bridge.Call{Script: method("tp", "1"), Method: "GetClients"}
				warm := 1
				if age == "warm" {
					warm = warmCalls
				}
				// size concurrent callers keep every worker busy: each gets about warm calls.
				if err := concurrently(size, size*warm, func() error {
					_, err := p.Invoke(context.Background(), c)
					return err
				}); err != nil {
					b.Fatal(err)
				}
				if w := p.Stats().PerWorker; len(w) != size {
					b.Fatalf("%d workers, want %d", len(w), size)
				}
				b.SetParallelism(4)
				var failed sync.Once
				var firstErr error
				pids := workerPIDs(p)
				cpu := cputime.Tree(pids)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := p.Invoke(context.Background(), c); err != nil {
							failed.Do(func() { firstErr = err })
							return
						}
					}
				})
				b.StopTimer()
				if firstErr != nil {
					b.Fatal(firstErr)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
				reportWorkerCPU(b, cputime.Tree(pids)-cpu)
			})
		}
	}
}

// concurrently runs n calls of f on k goroutines and returns the first error.
func concurrently(k, n int, f func() error) error {
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	next := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		next <- struct{}{}
	}
	close(next)
	for g := 0; g < k; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				if err := f(); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// BenchmarkNaivePwshPerCall is what users would otherwise do: a fresh pwsh -Command per call,
// started the way the pool starts its workers (bridge.PwshCommand: a .NET tool's pwsh.dll run by
// the dotnet host directly, no tool launcher in between).
func BenchmarkNaivePwshPerCall(b *testing.B) {
	prog, args := bridge.PwshCommand(testpwsh.Pwsh(b))
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(prog, append(slices.Clone(args), "-NoLogo", "-NoProfile", "-NonInteractive", "-Command", "1")...)
		cmd.Stdout = io.Discard
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFirstCallOfAnIntegration is the latency of an integration's first call (its own
// worker: bind, load the script, call), with a spare worker ready and without one (a cold
// pwsh start, as after an idle worker was retired or evicted). It also reports the resident
// memory of a worker serving one integration.
func BenchmarkFirstCallOfAnIntegration(b *testing.B) {
	b.Run("spare=ready", func(b *testing.B) {
		p := testpwsh.Pool(b, bridge.Config{MinWorkers: 1, MaxWorkers: 2, MaxWorkersPerInstance: 1})
		var rss int64
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			waitSpare(b, p)
			b.StartTimer()
			if _, err := p.Invoke(context.Background(), bridge.Call{Script: method(fmt.Sprintf("first-%d", i), "1"), Method: "GetClients"}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			for _, w := range p.Stats().PerWorker {
				if w.Group == fmt.Sprintf("first-%d", i) {
					rss = max(rss, w.RSS)
				}
			}
			p.Forget(fmt.Sprintf("first-%d", i))
			b.StartTimer()
		}
		b.ReportMetric(float64(rss)/(1<<20), "MiB/integration")
	})
	b.Run("spare=none", func(b *testing.B) {
		// One worker in all: every new integration evicts the previous one's idle worker.
		p := testpwsh.Pool(b, bridge.Config{MinWorkers: 1, MaxWorkers: 1})
		if _, err := p.Invoke(context.Background(), bridge.Call{Script: method("occupant", "1"), Method: "GetClients"}); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := p.Invoke(context.Background(), bridge.Call{Script: method(fmt.Sprintf("cold-%d", i), "1"), Method: "GetClients"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// waitSpare waits until the pool has an idle worker bound to no integration.
func waitSpare(b *testing.B, p *bridge.Pool) {
	deadline := time.Now().Add(time.Minute)
	for {
		for _, w := range p.Stats().PerWorker {
			if w.Group == "" && !w.Busy {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("no spare worker within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkWorkerKillToError is how long a caller waits for its error after the worker running
// its call is killed with SIGKILL.
func BenchmarkWorkerKillToError(b *testing.B) {
	p := testpwsh.Pool(b, bridge.Config{MinWorkers: 1, MaxWorkers: 2, MaxWorkersPerInstance: 1})
	var total time.Duration
	for i := 0; i < b.N; i++ {
		pids := make(chan int, 1)
		errc := make(chan error, 1)
		go func() {
			_, err := p.Invoke(context.Background(), bridge.Call{Script: method("victim", "Write-Host \"pid $PID\"; Start-Sleep 60"), Method: "GetClients",
				OnRecord: func(r bridge.Record) {
					if n, err := strconv.Atoi(strings.TrimPrefix(r.Message, "pid ")); err == nil {
						pids <- n
					}
				}})
			errc <- err
		}()
		pid := <-pids
		start := time.Now()
		if proc, err := os.FindProcess(pid); err == nil {
			_ = proc.Kill()
		}
		err := <-errc
		total += time.Since(start)
		var we *bridge.WorkerError
		if !errors.As(err, &we) {
			b.Fatalf("err = %v, want *WorkerError", err)
		}
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/kill")
}
