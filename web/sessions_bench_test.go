package web

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkSessionTwentyAgents measures one full-maintenance session over 20 real in-process
// agents (each its own warm pwsh, on 127.0.0.1): detection, install and verification of one
// software deployed to their tenant. Each iteration starts from not installed. It reports the
// wall time of the whole run (POST to the last session's end) and p50/p99 of the per-computer
// session time (createdAt to endedAt), with the default limit of 4 concurrent sessions and
// with skipBackgroundJob (no limit).
func BenchmarkSessionTwentyAgents(b *testing.B) {
	s := newServerWith(b, lazyPool(b), Options{})
	var tenant, sw struct{ ID int64 }
	s.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "Contoso"}, &tenant)
	s.must(201, "POST", "/api/v1/software", fileSoftware("Tool X", "2.0", "x.txt"), &sw)
	s.must(201, "POST", "/api/v1/deployments", map[string]any{"softwareId": sw.ID, "tenantId": tenant.ID, "desiredSoftwareState": 5}, nil)
	agents := enrollAgents(b, s, tenant.ID, 20, true)
	var ids []int64
	for _, a := range agents {
		ids = append(ids, a.id)
	}
	for _, mode := range []struct {
		name string
		skip bool
	}{{"limit-4", false}, {"skipBackgroundJob", true}} {
		b.Run(mode.name, func(b *testing.B) {
			var wall []time.Duration
			var per []time.Duration
			for b.Loop() {
				b.StopTimer()
				for _, a := range agents {
					_ = os.Remove(filepath.Join(a.drive, "x.txt"))
				}
				b.StartTimer()
				start := time.Now()
				sids := s.runSessions(map[string]any{"fullMaintenance": true, "skipBackgroundJob": mode.skip, "computers": computersBody(ids...)})
				for _, id := range sids {
					end, log := s.follow(id, nil)
					if end.State != "succeeded" || len(end.Actions) != 1 || end.Actions[0].Action != "install" {
						b.Fatalf("session %+v\n%s", end, log)
					}
				}
				wall = append(wall, time.Since(start))
				b.StopTimer()
				for _, id := range sids {
					var m struct{ CreatedAt, EndedAt time.Time }
					s.must(200, "GET", fmt.Sprintf("/api/v1/maintenance-sessions/%d", id), nil, &m)
					per = append(per, m.EndedAt.Sub(m.CreatedAt))
				}
				b.StartTimer()
			}
			slices.Sort(wall)
			slices.Sort(per)
			q := func(d []time.Duration, p float64) float64 { return float64(d[int(p*float64(len(d)-1))].Milliseconds()) }
			b.ReportMetric(q(wall, 0.5), "wall-ms")
			b.ReportMetric(q(per, 0.5), "p50-ms/computer")
			b.ReportMetric(q(per, 0.99), "p99-ms/computer")
		})
	}
}
