package web

import (
	"context"
	"fmt"
	"github.com/psbridge/psbridge/internal/cputime"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/fakes1"
	"github.com/psbridge/psbridge/internal/testpwsh"
	"github.com/psbridge/psbridge/web/httpx"
	"github.com/psbridge/psbridge/web/oauth"
	"github.com/psbridge/psbridge/web/ops"
	"github.com/psbridge/psbridge/web/plugin"
	"github.com/rs/zerolog"
)

// post sends one request and drains the answer.
func post(c *http.Client, url string) error {
	resp, err := c.Post(url, "application/json", strings.NewReader(`{"event":"bench"}`))
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// BenchmarkPlugin compares the plugin endpoint running the docs' webhook example on the pool
// (2 workers, both of which the integration may use) with a plain Go handler returning the
// same body behind the same middleware as the server's (httpx.Middleware, ops, the OAuth
// wrapper), in the same run.
func BenchmarkPlugin(b *testing.B) {
	s := newServerWith(b, testpwsh.Pool(b, bridge.Config{MinWorkers: 2, MaxWorkers: 2, MaxWorkersPerInstance: 2}), Options{Webhook: plugin.Options{Rate: -1}})
	var typ struct{ ID string }
	s.must(201, "POST", "/api/v1/integration-types", map[string]any{"name": "Webhook", "script": example(b, "testdata/examples/08-webhook.ps1")}, &typ)
	var inst struct{ ID int64 }
	s.must(201, "POST", "/api/v1/integrations", map[string]any{"name": "w", "typeId": typ.ID}, &inst)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /plugins/api/v1/plain/{rest...}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write([]byte(`"ok"`))
	})
	// The chain New builds around its mux.
	o := ops.New(ops.Options{Store: s.eng.Store(), Pool: s.eng.Pool()})
	o.Register(mux)
	plain := httptest.NewServer(httpx.Middleware(zerolog.Nop(), o.Middleware(oauth.New(s.eng.Store(), oauth.Options{}).Wrap(mux))))
	defer plain.Close()
	endpoint := fmt.Sprintf("%s/plugins/api/v1/%d/bench", s.http.URL, inst.ID)
	for _, tc := range []struct {
		name, url string
		warm      int // requests sent before the clock starts
	}{
		// young: the workers' first requests, while .NET still runs PowerShell's hot paths
		// unoptimised and the workers' own warm-up competes for the CPU.
		{"plugin-endpoint/young", endpoint, 1},
		// warm: the steady state of a server that has been up a while.
		{"plugin-endpoint/warm", endpoint, 3000},
		{"plain-go-handler", plain.URL + "/plugins/api/v1/plain/bench", 1},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			if err := warmPosts(c, tc.url, tc.warm); err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(4)
			var failed sync.Once
			var firstErr error
			w0, s0 := workersCPU(s.eng.Pool()), cputime.Self()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := post(c, tc.url); err != nil {
						failed.Do(func() { firstErr = err })
						return
					}
				}
			})
			b.StopTimer()
			if firstErr != nil {
				b.Fatal(firstErr)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			// CPU per request is steadier than req/s on a shared machine, and on an otherwise
			// idle 2-core machine bounds it: 2 s of CPU per second / (worker + Go) CPU per request.
			b.ReportMetric(float64(workersCPU(s.eng.Pool()).since(w0).Microseconds())/float64(b.N), "worker-cpu-µs/req")
			b.ReportMetric(float64((cputime.Self()-s0).Microseconds())/float64(b.N), "go-cpu-µs/req")
		})
	}
}

// warmPosts sends n requests, four at a time, before a benchmark's clock starts.
func warmPosts(c *http.Client, url string, n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	next := make(chan struct{})
	go func() {
		for i := 0; i < n; i++ {
			next <- struct{}{}
		}
		close(next)
	}()
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				if err := post(c, url); err != nil {
					errs <- err
					for range next {
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// BenchmarkListIntegrations measures GET /api/v1/integrations with 1,000 instances and reports
// the p50 and p99 latency of single requests.
func BenchmarkListIntegrations(b *testing.B) {
	s := newServer(b, nil)
	var typ struct{ ID string }
	s.must(201, "POST", "/api/v1/integration-types", map[string]any{"name": "Form", "script": formScript}, &typ)
	for i := 0; i < 1000; i++ { // seeded through the store: this measures reads, not 1,000 Inits
		id, err := s.st.ReserveInstanceID()
		if err != nil {
			b.Fatal(err)
		}
		inst := store.Instance{ID: id, Name: fmt.Sprintf("inst-%d", i), TypeID: typ.ID,
			FormData: map[string]any{"ApiUrl": "https://v.example/", "PageSize": 50},
			Health:   store.Health{Status: store.StatusHealthy, CheckedAt: time.Now()}}
		if err := s.st.CommitInstance(&inst, map[string]string{"ApiKey": "k"}, []byte(`{"Url":"https://v.example/"}`)); err != nil {
			b.Fatal(err)
		}
	}
	for _, limit := range []int{100, 1000} {
		b.Run(fmt.Sprintf("limit=%d", limit), func(b *testing.B) {
			url := fmt.Sprintf("%s/api/v1/integrations?limit=%d", s.http.URL, limit)
			c := &http.Client{}
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Authorization", "Bearer "+s.token)
				resp, err := c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// BenchmarkAgentSync10000 syncs 10,000 agents from the fake SentinelOne API through the docs'
// SentinelOne example (GetAgents over every page of 100) into the store. The fake vendor runs
// in a process of its own (startVendorProcess), shared by both sub-benchmarks:
//
//   - vendor-module-alone is the baseline: the vendor's unchanged module fetching the same
//     agents (Get-S1Agent for each site, as GetAgents does) in a plain pwsh with no psbridge
//     around it, timed inside that pwsh, one fetch per op, the first in a fresh process.
//   - psbridge is the sync: the call into a worker, the script, its 10,000
//     New-IntegrationAgent, the reply and the store. B/op and allocs/op are psbridge's alone;
//     ms/sync is the wall time of one sync, the vendor's answers included.
//
// Run with -benchtime=1x or a few x: each op of either is a few seconds.
func BenchmarkAgentSync10000(b *testing.B) {
	vendor := startVendorProcess(b, 10000)
	b.Run("vendor-module-alone", func(b *testing.B) { benchVendorModuleAlone(b, vendor) })
	b.Run("psbridge", func(b *testing.B) { benchAgentSync(b, vendor) })
}

// vendorAloneScript fetches every site's agents with the vendor's module for each line read
// from standard input and answers "<agents> <milliseconds>". Everything it needs comes in as
// parameters.
const vendorAloneScript = `param([string]$Manifest, [string]$VendorModule, [string]$Uri, [string]$Token)
$ErrorActionPreference = 'Stop'
Import-Module $Manifest -WarningAction SilentlyContinue
Import-Module $VendorModule
$IntegrationContext = @{}
$null = Connect-S1API -S1Uri $Uri -S1APIToken $Token
$sites = @((Get-S1Site).id)
[Console]::Out.WriteLine("ready $($sites.Count)")
while ($null -ne [Console]::In.ReadLine()) {
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $n = 0
    foreach ($site in $sites) { Get-S1Agent -SiteId $site -Verbose 4>$null | ForEach-Object { $n++ } }
    [Console]::Out.WriteLine("$n $($sw.Elapsed.TotalMilliseconds)")
}
`

// benchVendorModuleAlone runs vendorAloneScript in a fresh pwsh (its PSBridge module for
// Add-UriQueryParameter, the vendor module as the sync imports it) and times b.N fetches.
func benchVendorModuleAlone(b *testing.B, vendor string) {
	dir := b.TempDir()
	script := filepath.Join(dir, "vendor-alone.ps1")
	vendorModule := filepath.Join(dir, "SentinelOne.psm1")
	if err := os.WriteFile(script, []byte(vendorAloneScript), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(vendorModule, []byte(example(b, "testdata/modules/SentinelOne.psm1")), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(testpwsh.Pwsh(b), "-NoLogo", "-NoProfile", "-NonInteractive", "-File", script,
		"-Manifest", testpwsh.Module(b).Manifest(), "-VendorModule", vendorModule,
		"-Uri", vendor+"/", "-Token", fakes1.DefaultAPIToken)
	stdin, lines := startPiped(b, cmd, "pwsh")
	if line, err := lines.ReadString('\n'); err != nil || !strings.HasPrefix(line, "ready ") {
		b.Fatalf("vendor-alone pwsh: %q, %v", line, err)
	}
	var inside float64
	cpu := cputime.Tree([]int{cmd.Process.Pid})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := io.WriteString(stdin, "fetch\n"); err != nil {
			b.Fatal(err)
		}
		line, err := lines.ReadString('\n')
		if err != nil {
			b.Fatalf("vendor-alone pwsh: %v", err)
		}
		var agents int
		var ms float64
		if _, err := fmt.Sscan(line, &agents, &ms); err != nil || agents != 10000 {
			b.Fatalf("vendor-alone pwsh answered %q (%v), want 10000 agents", line, err)
		}
		inside += ms
	}
	b.StopTimer()
	b.ReportMetric(inside/float64(b.N), "ms/fetch")
	b.ReportMetric(float64((cputime.Tree([]int{cmd.Process.Pid})-cpu).Milliseconds())/float64(b.N), "pwsh-cpu-ms/fetch")
}

// cpuByWorker is the CPU each live worker (its launcher and pwsh) had used, by launcher pid.
type cpuByWorker map[int]time.Duration

// workersCPU reads the CPU of p's live workers.
func workersCPU(p *bridge.Pool) cpuByWorker {
	m := cpuByWorker{}
	for _, pid := range p.Stats().WorkerPID {
		m[pid] = cputime.Tree([]int{pid})
	}
	return m
}

// since is the CPU the workers used after before was read: a worker started in between counts
// whole, and one gone in between is left out (its last figures are lost with it). Reading the
// sums of two different sets of workers gave negative figures when a worker ended in between.
func (c cpuByWorker) since(before cpuByWorker) time.Duration {
	var d time.Duration
	for pid, t := range c {
		d += t - before[pid]
	}
	return d
}

// benchAgentSync is BenchmarkAgentSync10000's psbridge half: b.N syncs on a fresh server.
func benchAgentSync(b *testing.B, vendor string) {
	s := newServer(b, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	e := s.eng
	if _, err := e.PutModule("SentinelOne", example(b, "testdata/modules/SentinelOne.psm1"), true); err != nil {
		b.Fatal(err)
	}
	typ, err := e.CreateType(ctx, engine.TypeInput{Name: "SentinelOne", Script: example(b, "testdata/examples/07-sentinelone.ps1")})
	if err != nil {
		b.Fatal(err)
	}
	inst, err := e.CreateInstance(ctx, engine.InstanceInput{Name: "S1", TypeID: typ.ID,
		FormData: map[string]any{"S1Uri": vendor + "/", "S1ApiKey": fakes1.DefaultAPIToken}})
	if err != nil {
		b.Fatal(err)
	}
	clients, err := e.Clients(ctx, inst.ID)
	if err != nil {
		b.Fatal(err)
	}
	for i, c := range clients {
		tn, err := e.CreateTenant(engine.TenantInput{Name: fmt.Sprintf("T%d", i)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.MapClient(inst.ID, c.ExternalClientID, tn.ID); err != nil {
			b.Fatal(err)
		}
	}
	var workerCPU, selfCPU time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w0, s0 := workersCPU(s.eng.Pool()), cputime.Self()
		r, err := e.SyncAgents(ctx, inst.ID)
		if err != nil {
			b.Fatal(err)
		}
		workerCPU += workersCPU(s.eng.Pool()).since(w0)
		selfCPU += cputime.Self() - s0
		if r.Agents != 10000 {
			b.Fatalf("synced %d agents", r.Agents)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/sync")
	// CPU time is steadier than wall time on a shared machine: the workers' (launcher and
	// pwsh) and this process's (psbridge's Go side; the vendor runs elsewhere).
	b.ReportMetric(float64(workerCPU.Milliseconds())/float64(b.N), "worker-cpu-ms/sync")
	b.ReportMetric(float64(selfCPU.Milliseconds())/float64(b.N), "go-cpu-ms/sync")
}
