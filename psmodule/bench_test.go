package psmodule_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
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
	for i := 0; i < b.N; i++ {
		r, err := p.Invoke(context.Background(), call)
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Output) != fakes1.DefaultSites {
			b.Fatalf("GetClients returned %d clients, want %d", len(r.Output), fakes1.DefaultSites)
		}
	}
}
