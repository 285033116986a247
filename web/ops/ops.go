// Package ops serves psbridge's operational endpoints — /healthz (alive), /readyz (able to take
// calls) and /metrics (Prometheus text) — and owns the drain gate used on shutdown. It exists
// so orchestrators (Docker, Kubernetes, systemd) and monitoring can see the service's state
// without an API token and without scraping logs, and so a SIGTERM can stop new calls at once
// while the ones in flight finish.
//
// None of these endpoints needs authentication. /metrics reveals method names, route patterns
// and counts (never values), but it should still not be exposed to the public internet.
package ops

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/web/httpx"
)

// Paths of the operational endpoints.
const (
	HealthzPath = "/healthz"
	ReadyzPath  = "/readyz"
	MetricsPath = "/metrics"
)

// TypeShuttingDown is the problem type of calls refused while the server drains.
const TypeShuttingDown = "urn:psbridge:problem:shutting-down"

// Metrics holds the metric families fed by events (calls, HTTP requests). Create it before the
// pool, because the pool's OnCall hook needs it: bridge.Config{OnCall: m.ObserveCall}.
type Metrics struct {
	set *metrics.Set

	httpInFlight *metrics.Gauge
}

// DurationBuckets are the histogram upper bounds of call and request durations, in seconds
// (1 ms to 5 min).
var DurationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// ContentType is the media type of /metrics (Prometheus text format 0.0.4).
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

func init() { metrics.ExposeMetadata(true) } // # TYPE lines for every family

// NewMetrics returns the event-fed families on a new metrics set.
func NewMetrics() *Metrics {
	set := metrics.NewSet()
	return &Metrics{set: set, httpInFlight: set.NewGauge("psbridge_http_requests_in_flight", nil)}
}

// Set returns the metrics set /metrics writes, to add more metrics.
func (m *Metrics) Set() *metrics.Set { return m.set }

// series is a metric name with labels: series("x", "k", "v") is x{k="v"}.
func series(family string, kv ...string) string {
	if len(kv) == 0 {
		return family
	}
	var b strings.Builder
	b.WriteString(family)
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i])
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(kv[i+1]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// ObserveCall records a finished call; it is a bridge.Config.OnCall hook.
func (m *Metrics) ObserveCall(ev bridge.CallEvent) {
	m.set.GetOrCreatePrometheusHistogramExt(series("psbridge_call_duration_seconds", "method", ev.Method), DurationBuckets).Update(ev.Duration.Seconds())
	m.set.GetOrCreateCounter(series("psbridge_calls_total", "method", ev.Method, "outcome", ev.Outcome)).Inc()
}

// Options configures the endpoints. Every field is optional.
type Options struct {
	// Metrics are the event-fed metrics; default: a fresh NewMetrics (call durations are then
	// only recorded when the pool was given its ObserveCall).
	Metrics *Metrics
	// Pool is the worker pool whose state is exported and checked for readiness.
	Pool *bridge.Pool
	// MinWorkers is how many live workers /readyz wants (default 1 when Pool is set).
	MinWorkers int
	// Store is the database, pinged by /readyz; its instances' health is exported.
	Store *store.Store
	// Consoles returns the number of open debugging console sessions (the gauge stays 0
	// without it).
	Consoles func() int
}

// Ops serves the operational endpoints and gates API and plugin calls while draining. It is
// safe for concurrent use.
type Ops struct {
	opts Options
	m    *Metrics

	warmed atomic.Bool // MinWorkers were live once: recycling replacements count as warm

	rssMu     sync.Mutex
	rssSeries map[string]bool // psbridge_worker_rss_bytes series of the last scrape

	mu       sync.Mutex
	draining bool
	inFlight int
	idle     chan struct{} // closed when draining and nothing is in flight
}

// New returns the endpoints and registers the state-mirroring metric families.
func New(opts Options) *Ops {
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	if opts.Pool != nil && opts.MinWorkers <= 0 {
		opts.MinWorkers = 1
	}
	return &Ops{opts: opts, m: opts.Metrics}
}

// collect refreshes the gauges and counters mirrored from the pool, store and consoles; the
// /metrics handler calls it before every scrape.
func (o *Ops) collect() {
	set := o.m.set
	gauge := func(name string, v float64) { set.GetOrCreateGauge(name, nil).Set(v) }
	total := func(name string, v int64) { set.GetOrCreateCounter(name).Set(uint64(max(v, 0))) }
	if p := o.opts.Pool; p != nil {
		s := p.Stats()
		gauge(series("psbridge_workers", "state", "idle"), float64(s.Idle))
		gauge(series("psbridge_workers", "state", "busy"), float64(s.Workers-s.Idle))
		gauge(series("psbridge_workers", "state", "starting"), float64(s.Starting))
		total("psbridge_worker_starts_total", s.Started)
		total("psbridge_worker_restarts_total", s.Restarts)
		total("psbridge_worker_recycles_total", s.Recycled)
		total("psbridge_worker_start_failures_total", s.Failures)
		total("psbridge_call_timeouts_total", s.Timeouts)
		gauge("psbridge_queue_depth", float64(s.Waiting))
		o.collectRSS(s.PerWorker)
	}
	if st := o.opts.Store; st != nil {
		if insts, err := st.Instances(); err == nil {
			counts := map[string]int{}
			for _, status := range store.HealthStatuses {
				counts[status] = 0
			}
			for _, inst := range insts {
				status := inst.Health.Status
				switch {
				case inst.Disabled:
					status = store.StatusDisabled
				case status == "":
					status = store.StatusPending
				}
				counts[status]++
			}
			for status, n := range counts {
				gauge(series("psbridge_integrations", "health", status), float64(n))
			}
		}
	}
	consoles := 0
	if o.opts.Consoles != nil {
		consoles = o.opts.Consoles()
	}
	gauge("psbridge_console_sessions", float64(consoles))
	ok, _ := o.Ready()
	gauge("psbridge_ready", boolFloat(ok))
	gauge("psbridge_draining", boolFloat(o.Draining()))
}

// collectRSS sets psbridge_worker_rss_bytes{pid} for every live worker (the resident memory
// of its pwsh, as the pool measures it) and drops the series of workers that are gone.
func (o *Ops) collectRSS(workers []bridge.WorkerStats) {
	o.rssMu.Lock()
	defer o.rssMu.Unlock()
	live := map[string]bool{}
	for _, w := range workers {
		if w.RSS <= 0 {
			continue
		}
		name := series("psbridge_worker_rss_bytes", "pid", strconv.Itoa(w.PID))
		live[name] = true
		o.m.set.GetOrCreateGauge(name, nil).Set(float64(w.RSS))
	}
	for name := range o.rssSeries {
		if !live[name] {
			o.m.set.UnregisterMetric(name)
		}
	}
	o.rssSeries = live
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Ready reports whether the server can take calls, with the reason when it cannot: not
// draining, the store open, and at least MinWorkers live workers.
func (o *Ops) Ready() (bool, string) {
	if o.Draining() {
		return false, "shutting down"
	}
	if st := o.opts.Store; st != nil {
		if err := st.Ping(); err != nil {
			return false, "store not open: " + err.Error()
		}
	}
	if p := o.opts.Pool; p != nil {
		ok, reason := workersReady(p.Stats(), o.opts.MinWorkers, o.warmed.Load())
		if !ok {
			return false, reason
		}
		o.warmed.Store(true)
	}
	return true, ""
}

// Drain makes /readyz answer 503 and refuses new API and plugin calls with a 503 problem;
// calls already in flight go on. It is idempotent.
func (o *Ops) Drain() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.draining {
		return
	}
	o.draining = true
	o.idle = make(chan struct{})
	if o.inFlight == 0 {
		close(o.idle)
	}
}

// Draining reports whether Drain was called.
func (o *Ops) Draining() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.draining
}

// InFlight returns the number of API and plugin requests being served.
func (o *Ops) InFlight() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.inFlight
}

// ErrNotDraining is returned by Wait when Drain was not called first.
var ErrNotDraining = errors.New("ops: wait before drain")

// Wait blocks until no API or plugin request is in flight after Drain, or ctx ends.
func (o *Ops) Wait(ctx context.Context) error {
	o.mu.Lock()
	idle := o.idle
	o.mu.Unlock()
	if idle == nil {
		return ErrNotDraining
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ops: %d request(s) still in flight: %w", o.InFlight(), ctx.Err())
	}
}

// enter admits a gated request unless draining.
func (o *Ops) enter() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.draining {
		return false
	}
	o.inFlight++
	return true
}

func (o *Ops) leave() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.inFlight--
	if o.draining && o.inFlight == 0 {
		close(o.idle)
	}
}

// gated reports whether a path is an API or plugin call that drains on shutdown. Debugging
// consoles are long-lived and closed separately (with a goodbye), so they are not waited for.
func gated(path string) bool {
	if strings.HasPrefix(path, "/api/v1/console/") {
		return false
	}
	return strings.HasPrefix(path, "/api/v1/") || strings.HasPrefix(path, "/plugins/")
}

// Register adds /healthz, /readyz and /metrics to mux.
func (o *Ops) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+HealthzPath, func(w http.ResponseWriter, r *http.Request) {
		httpx.JSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})
	mux.HandleFunc("GET "+ReadyzPath, func(w http.ResponseWriter, r *http.Request) {
		if ok, reason := o.Ready(); !ok {
			httpx.JSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": reason})
			return
		}
		httpx.JSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("GET "+MetricsPath, func(w http.ResponseWriter, r *http.Request) {
		o.collect()
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Cache-Control", "no-store")
		o.m.set.WritePrometheus(w)
	})
}

// Middleware counts requests by route pattern and status, and while draining refuses new API
// and plugin calls with 503 (problem type TypeShuttingDown). It must wrap the mux directly, so
// the route pattern the mux matched is visible after it ran.
func (o *Ops) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := httpx.NewStatusWriter(w)
		gate := gated(r.URL.Path)
		if gate {
			if !o.enter() {
				w.Header().Set("Retry-After", "5")
				w.Header().Set("Connection", "close")
				httpx.Problem(sw, r, httpx.Details{Type: TypeShuttingDown, Status: http.StatusServiceUnavailable,
					Title: "Shutting down", Detail: "the server is shutting down and takes no new calls; retry on another instance or after it restarts"})
				o.count(r, "draining", sw.Status(), start)
				return
			}
			o.m.httpInFlight.Add(1)
			defer func() {
				o.m.httpInFlight.Add(-1)
				o.leave()
			}()
		}
		defer func() { o.count(r, r.Pattern, sw.Status(), start) }()
		next.ServeHTTP(sw, r)
	})
}

func (o *Ops) count(r *http.Request, route string, status int, start time.Time) {
	if route == "" {
		route = "unmatched"
	}
	if status == 0 {
		status = http.StatusOK
	}
	o.m.set.GetOrCreateCounter(series("psbridge_http_requests_total", "route", route, "code", strconv.Itoa(status))).Inc()
	o.m.set.GetOrCreatePrometheusHistogramExt(series("psbridge_http_request_duration_seconds", "route", route), DurationBuckets).Update(time.Since(start).Seconds())
}

// workersReady decides the pool's part of readiness. Before the pool was first warm it needs
// min live workers. After that a worker being replaced (recycled after its call count or
// memory, or after a crash) counts while it starts, so readiness does not flap at every
// recycle; with no live worker at all the server is not ready.
func workersReady(s bridge.Stats, min int, warmed bool) (bool, string) {
	if s.Workers >= min {
		return true, ""
	}
	if warmed && s.Workers > 0 && s.Workers+s.Starting >= min {
		return true, ""
	}
	return false, fmt.Sprintf("%d of %d workers warm", s.Workers, min)
}
