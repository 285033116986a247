package agentws_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/psbridge/psbridge/agent/wire"
	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/testpwsh"
	"github.com/psbridge/psbridge/web"
)

// enrollMany enrolls n computers (LOAD-00000 …, device ids load-00000 …) with key through the
// real POST /api/v1/agent/enroll endpoint at base, 8 at a time, calling done for each with its
// answer and how long it took. It returns the first error.
func enrollMany(base, key string, n int, done func(i int, out wire.Enrolled, took time.Duration)) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = err
		}
	}
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				body, _ := json.Marshal(wire.EnrollRequest{Key: key, Inventory: wire.Inventory{
					ComputerName: fmt.Sprintf("LOAD-%05d", i), DeviceID: fmt.Sprintf("load-%05d", i), OSName: "Linux", Platform: "linux"}})
				start := time.Now()
				resp, err := http.Post(base+wire.EnrollPath, "application/json", bytes.NewReader(body))
				if err != nil {
					fail(fmt.Errorf("enroll %d: %w", i, err))
					continue
				}
				var out wire.Enrolled
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				took := time.Since(start)
				if err != nil || resp.StatusCode != http.StatusCreated {
					fail(fmt.Errorf("enroll %d: %d %v", i, resp.StatusCode, err))
					continue
				}
				done(i, out, took)
			}
		})
	}
	for i := range n {
		mu.Lock()
		stop := first != nil
		mu.Unlock()
		if stop {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// enrollAgents is how many computers BenchmarkEnroll5000 enrolls.
const enrollAgents = 5000

// BenchmarkEnroll5000 enrolls 5,000 computers through the real POST /api/v1/agent/enroll
// endpoint (engine, bbolt file, HTTP on 127.0.0.1), 8 at a time, as BenchmarkIdleAgents5000
// does, and reports the total and the mean time per enrollment of the first and the last 500:
// with an index the two are alike, with a scan the last grow with the number of computers.
//
//	go test ./web/agentws -run '^$' -bench Enroll5000 -benchtime 1x
func BenchmarkEnroll5000(b *testing.B) {
	pool := testpwsh.Pool(b, bridge.Config{MinWorkers: 1, MaxWorkers: 1})
	for b.Loop() {
		b.StopTimer()
		st, err := store.Open(filepath.Join(b.TempDir(), "psbridge.db"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		eng, err := engine.New(engine.Config{Store: st, Pool: pool, HealthInterval: -1, AgentSyncTick: -1})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		eng.Start(ctx)
		srv := httptest.NewServer(web.New(eng, web.Options{}))
		tenant := store.Tenant{Name: "Load"}
		if err := st.CreateTenant(&tenant); err != nil {
			b.Fatal(err)
		}
		key, err := eng.CreateEnrollmentKey(tenant.ID, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		took := make([]time.Duration, enrollAgents)
		if err := enrollMany(srv.URL, key.Key, enrollAgents, func(i int, _ wire.Enrolled, d time.Duration) { took[i] = d }); err != nil {
			b.Fatal(err)
		}
		total := time.Since(t0)
		b.StopTimer()
		mean := func(d []time.Duration) float64 {
			var sum time.Duration
			for _, x := range d {
				sum += x
			}
			return float64(sum.Microseconds()) / 1000 / float64(len(d))
		}
		b.ReportMetric(total.Seconds(), "s/5000-enrollments")
		b.ReportMetric(mean(took[:500]), "ms/enroll-first-500")
		b.ReportMetric(mean(took[enrollAgents-500:]), "ms/enroll-last-500")
		cs, err := st.Computers()
		if err != nil || len(cs) != enrollAgents {
			b.Fatalf("%d computers after enrolling %d (%v)", len(cs), enrollAgents, err)
		}
		http.DefaultClient.CloseIdleConnections()
		srv.Close()
		cancel()
		eng.Close()
		_ = st.Close()
		b.StartTimer()
	}
}
