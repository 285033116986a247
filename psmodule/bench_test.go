package psmodule_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/internal/fakes1"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

// BenchmarkSentinelOneGetClients calls the vendor's SentinelOne example's GetClients (three
// sites) against the fake API on a warm worker, after one Init. It is the realistic
// counterpart of the bridge package's trivial-call benchmark.
func BenchmarkSentinelOneGetClients(b *testing.B) {
	api := httptest.NewServer(fakes1.New(fakes1.Config{}))
	defer api.Close()
	text, err := os.ReadFile(filepath.Join("..", "testdata", "examples", "07-sentinelone.ps1"))
	if err != nil {
		b.Fatal(err)
	}
	host, err := bridge.LoadModuleFiles(filepath.Join("..", "testdata", "modules", "SentinelOne.psm1"))
	if err != nil {
		b.Fatal(err)
	}
	p := testpwsh.Pool(b, bridge.Config{MinWorkers: 1, MaxWorkers: 1, MaxCallsPerWorker: -1})
	script := bridge.Script{Instance: "bench-s1", Name: "07-sentinelone.ps1", Text: string(text)}
	key := fakes1.DefaultAPIToken
	init, err := p.Invoke(context.Background(), bridge.Call{
		Script: script, Method: "Init", Host: host, Secrets: []string{key},
		FormData: map[string]any{"S1Uri": api.URL + "/", "S1ApiKey": key},
	})
	if err != nil {
		b.Fatal(err)
	}
	call := bridge.Call{Script: script, Method: "GetClients", Host: host, Secrets: []string{key}, Context: init.Context}
	b.ResetTimer()
	worker := 0
	for i := 0; i < b.N; i++ {
		r, err := p.Invoke(context.Background(), call)
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Output) != fakes1.DefaultSites {
			b.Fatalf("GetClients returned %d clients, want %d", len(r.Output), fakes1.DefaultSites)
		}
		worker = r.Worker
	}
	b.StopTimer()
	// The resident memory of the warm worker that served the calls, for sizing.
	if rss, err := residentMiB(worker); err == nil {
		b.ReportMetric(rss, "worker-RSS-MiB")
	}
}

// residentMiB reads VmRSS of a process from /proc.
func residentMiB(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err != nil {
				return 0, err
			}
			return kb / 1024, nil
		}
	}
	return 0, errors.New("no VmRSS line")
}
