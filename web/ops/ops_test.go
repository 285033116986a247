package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine/store"
)

// newHandler serves the endpoints plus a slow API route and a plugin route behind the
// middleware, as web.New does.
func newHandler(o *Ops, release <-chan struct{}, entered ...chan<- struct{}) http.Handler {
	mux := http.NewServeMux()
	o.Register(mux)
	mux.HandleFunc("POST /api/v1/slow", func(w http.ResponseWriter, r *http.Request) {
		for _, e := range entered {
			e <- struct{}{}
		}
		<-release
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("GET /plugins/api/v1/{id}/hook", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	return o.Middleware(mux)
}

func do(t *testing.T, h http.Handler, method, path string) (int, string, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body), rec.Header()
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "psbridge.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestReadiness(t *testing.T) {
	closed := openStore(t)
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	open := openStore(t)
	t.Cleanup(func() { open.Close() })
	cases := []struct {
		name       string
		opts       Options
		drain      bool
		wantCode   int
		wantReason string
	}{
		{"nothing to check", Options{}, false, 200, ""},
		{"store open", Options{Store: open}, false, 200, ""},
		{"store closed", Options{Store: closed}, false, 503, "store not open"},
		{"draining", Options{Store: open}, true, 503, "shutting down"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := New(tc.opts)
			if tc.drain {
				o.Drain()
			}
			h := newHandler(o, nil)
			if code, body, _ := do(t, h, "GET", HealthzPath); code != 200 || !strings.Contains(body, "alive") {
				t.Fatalf("healthz: %d %s", code, body)
			}
			code, body, _ := do(t, h, "GET", ReadyzPath)
			var v struct{ Status, Reason string }
			if err := json.Unmarshal([]byte(body), &v); err != nil {
				t.Fatalf("readyz body %q: %v", body, err)
			}
			if code != tc.wantCode || !strings.Contains(v.Reason, tc.wantReason) {
				t.Fatalf("readyz: %d %+v, want %d %q", code, v, tc.wantCode, tc.wantReason)
			}
		})
	}
}

func TestDrainRefusesNewCallsAndWaitsForRunningOnes(t *testing.T) {
	o := New(Options{})
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	h := newHandler(o, release, entered)
	if err := o.Wait(context.Background()); err != ErrNotDraining {
		t.Fatalf("wait before drain: %v", err)
	}
	done := make(chan int)
	go func() {
		code, _, _ := do(t, h, "POST", "/api/v1/slow")
		done <- code
	}()
	select {
	case <-entered: // the middleware counted the call before the handler ran
	case <-time.After(time.Minute):
		t.Fatal("the call never reached its handler")
	}
	if n := o.InFlight(); n != 1 {
		t.Fatalf("in flight %d, want 1", n)
	}
	o.Drain()
	cases := []struct {
		method, path string
		wantCode     int
		wantType     string
	}{
		{"POST", "/api/v1/slow", 503, TypeShuttingDown},
		{"GET", "/plugins/api/v1/1/hook", 503, TypeShuttingDown},
		{"GET", HealthzPath, 200, ""},
		{"GET", MetricsPath, 200, ""},
	}
	for _, tc := range cases {
		code, body, hdr := do(t, h, tc.method, tc.path)
		if code != tc.wantCode || !strings.Contains(body, tc.wantType) {
			t.Errorf("%s %s while draining: %d %s", tc.method, tc.path, code, body)
		}
		if tc.wantType != "" && hdr.Get("Retry-After") == "" {
			t.Errorf("%s %s: no Retry-After", tc.method, tc.path)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := o.Wait(ctx); err == nil {
		t.Fatal("wait returned while a call was in flight")
	}
	close(release)
	if code := <-done; code != 200 {
		t.Fatalf("the call in flight answered %d", code)
	}
	if err := o.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsExposition(t *testing.T) {
	st := openStore(t)
	t.Cleanup(func() { st.Close() })
	m := NewMetrics()
	o := New(Options{Metrics: m, Store: st, Consoles: func() int { return 3 }})
	m.ObserveCall(bridge.CallEvent{Method: "GetClients", Duration: 20 * time.Millisecond, Outcome: "ok"})
	m.ObserveCall(bridge.CallEvent{Method: "GetClients", Duration: time.Minute, Outcome: "timeout"})
	h := newHandler(o, nil)
	do(t, h, "GET", "/plugins/api/v1/7/hook")
	do(t, h, "GET", "/nowhere")
	code, body, hdr := do(t, h, "GET", MetricsPath)
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("metrics: %d %s", code, hdr.Get("Content-Type"))
	}
	for _, want := range []string{
		`psbridge_calls_total{method="GetClients",outcome="ok"} 1`,
		`psbridge_calls_total{method="GetClients",outcome="timeout"} 1`,
		`psbridge_call_duration_seconds_count{method="GetClients"} 2`,
		`psbridge_http_requests_total{route="GET /plugins/api/v1/{id}/hook",code="204"} 1`,
		`psbridge_http_requests_total{route="unmatched",code="404"} 1`,
		`psbridge_integrations{health="Healthy"} 0`,
		`psbridge_console_sessions 3`,
		`psbridge_ready 1`,
		`psbridge_draining 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s:\n%s", want, body)
		}
	}
}

func TestWorkersReady(t *testing.T) {
	cases := []struct {
		name   string
		stats  bridge.Stats
		min    int
		warmed bool
		want   bool
	}{
		{"warm", bridge.Stats{Workers: 2}, 2, false, true},
		{"starting up", bridge.Stats{Workers: 1, Starting: 1}, 2, false, false},
		{"nothing yet", bridge.Stats{Starting: 2}, 2, false, false},
		{"one being recycled", bridge.Stats{Workers: 1, Starting: 1}, 2, true, true},
		{"replacement failed", bridge.Stats{Workers: 1}, 2, true, false},
		{"every worker gone", bridge.Stats{Starting: 2}, 2, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := workersReady(tc.stats, tc.min, tc.warmed)
			if got != tc.want || (!got && !strings.Contains(reason, "workers warm")) {
				t.Fatalf("workersReady(%+v, %d, %v) = %v %q, want %v", tc.stats, tc.min, tc.warmed, got, reason, tc.want)
			}
		})
	}
}

func TestWorkerRSSGauge(t *testing.T) {
	o := New(Options{})
	self := os.Getpid()
	o.collectRSS([]bridge.WorkerStats{{PID: self, RSS: 150 << 20}, {PID: 1 << 30}}) // the second has no measurement
	var buf strings.Builder
	o.m.set.WritePrometheus(&buf)
	want := fmt.Sprintf(`psbridge_worker_rss_bytes{pid="%d"} %d`, self, 150<<20)
	if !strings.Contains(buf.String(), want) || strings.Contains(buf.String(), fmt.Sprintf(`pid="%d"`, 1<<30)) {
		t.Fatalf("exposition:\n%s", buf.String())
	}
	o.collectRSS(nil) // the worker is gone: so is its series
	buf.Reset()
	o.m.set.WritePrometheus(&buf)
	if strings.Contains(buf.String(), "psbridge_worker_rss_bytes{") {
		t.Fatalf("stale series:\n%s", buf.String())
	}
}

func TestLabelValuesAreEscaped(t *testing.T) {
	m := NewMetrics()
	m.ObserveCall(bridge.CallEvent{Method: "a\"b\\c\nd{}", Outcome: "ok"})
	var buf strings.Builder
	m.set.WritePrometheus(&buf)
	if !strings.Contains(buf.String(), `psbridge_calls_total{method="a\"b\\c\nd{}",outcome="ok"} 1`) {
		t.Fatalf("exposition:\n%s", buf.String())
	}
}
