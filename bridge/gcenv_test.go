package bridge_test

import (
	"testing"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

// TestWorkerGCSettings: workers get the small gen0 budget that keeps a warm worker's resident
// memory near its start-up size (docs/performance.md), and an operator's own DOTNET_ setting
// wins over it, as it does for DOTNET_TieredPGO.
func TestWorkerGCSettings(t *testing.T) {
	read := method("gcenv", "[Environment]::GetEnvironmentVariable('DOTNET_GCgen0size') + '/' + [Environment]::GetEnvironmentVariable('DOTNET_TieredPGO')")
	cases := []struct {
		name, gen0, pgo string
		want            string
	}{
		{"defaults", "", "", `"0xC00000/0"`},
		{"operator's settings", "0x1000000", "1", `"0x1000000/1"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.gen0 != "" {
				t.Setenv("DOTNET_GCgen0size", tc.gen0)
				t.Setenv("DOTNET_TieredPGO", tc.pgo)
			}
			p := testpwsh.Pool(t, bridge.Config{MinWorkers: 0, MaxWorkers: 1})
			r := invoke(t, p, bridge.Call{Script: read, Method: "GetClients"})
			if len(r.Output) != 1 || string(r.Output[0]) != tc.want {
				t.Fatalf("worker sees %s, want %s", r.Output, tc.want)
			}
		})
	}
}
