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

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/metrics"
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
	reg *metrics.Registry

	callDuration metrics.Histogram
	calls        metrics.Counter
	httpRequests metrics.Counter
	httpDuration metrics.Histogram
	httpInFlight metrics.Gauge
}

// NewMetrics registers the event-fed families on a new registry.
func NewMetrics() *Metrics {
	reg := metrics.NewRegistry()
	return &Metrics{
		reg: reg,
		callDuration: reg.NewHistogram("psbridge_call_duration_seconds",
			"Duration of integration method calls (and ordinary script runs as method=\"exec\"), waiting for a worker included.",
			metrics.DefaultDurationBuckets, "method"),
		calls: reg.NewCounter("psbridge_calls_total",
			"Integration method calls by method and outcome (ok, error, timeout, canceled, busy, closed, worker).", "method", "outcome"),
		httpRequests: reg.NewCounter("psbridge_http_requests_total",
			"HTTP requests by route pattern and status code.", "route", "code"),
		httpDuration: reg.NewHistogram("psbridge_http_request_duration_seconds",
			"HTTP request durations by route pattern.", metrics.DefaultDurationBuckets, "route"),
		httpInFlight: reg.NewGauge("psbridge_http_requests_in_flight",
			"API and plugin requests being served now."),
	}
}

// Registry returns the registry /metrics writes, to add more families.
func (m *Metrics) Registry() *metrics.Registry { return m.reg }

// ObserveCall records a finished call; it is a bridge.Config.OnCall hook.
func (m *Metrics) ObserveCall(ev bridge.CallEvent) {
	m.callDuration.ObserveDuration(ev.Duration, ev.Method)
	m.calls.Inc(ev.Method, ev.Outcome)
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
	o := &Ops{opts: opts, m: opts.Metrics}
	o.registerState()
	return o
}

// registerState adds the gauges and counters refreshed from the pool, store and consoles on
// every scrape.
func (o *Ops) registerState() {
	reg := o.m.reg
	workers := reg.NewGauge("psbridge_workers", "pwsh worker processes by state (idle, busy, starting).", "state")
	starts := reg.NewCounter("psbridge_worker_starts_total", "pwsh workers started.")
	restarts := reg.NewCounter("psbridge_worker_restarts_total", "pwsh workers replaced after a crash, a kill or a failed start.")
	recycles := reg.NewCounter("psbridge_worker_recycles_total", "pwsh workers retired by call count, memory or idle time.")
	startFailures := reg.NewCounter("psbridge_worker_start_failures_total", "pwsh worker starts that failed.")
	timeouts := reg.NewCounter("psbridge_call_timeouts_total", "Calls that passed their deadline.")
	queue := reg.NewGauge("psbridge_queue_depth", "Calls waiting for a free worker.")
	integrations := reg.NewGauge("psbridge_integrations", "Integration instances by health status (Healthy, Degraded, Unhealthy, Pending, Disabled).", "health")
	consoles := reg.NewGauge("psbridge_console_sessions", "Open debugging console sessions.")
	ready := reg.NewGauge("psbridge_ready", "1 when /readyz answers 200.")
	draining := reg.NewGauge("psbridge_draining", "1 while the server shuts down.")
	consoles.Set(0)
	reg.OnCollect(func() {
		if p := o.opts.Pool; p != nil {
			s := p.Stats()
			workers.Set(float64(s.Idle), "idle")
			workers.Set(float64(s.Workers-s.Idle), "busy")
			workers.Set(float64(s.Starting), "starting")
			starts.SetTotal(float64(s.Started))
			restarts.SetTotal(float64(s.Restarts))
			recycles.SetTotal(float64(s.Recycled))
			startFailures.SetTotal(float64(s.Failures))
			timeouts.SetTotal(float64(s.Timeouts))
			queue.Set(float64(s.Waiting))
		}
		if st := o.opts.Store; st != nil {
			if insts, err := st.Instances(); err == nil {
				integrations.Reset()
				counts := map[string]int{store.StatusHealthy: 0, store.StatusDegraded: 0, store.StatusUnhealthy: 0, store.StatusPending: 0, store.StatusDisabled: 0}
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
					integrations.Set(float64(n), status)
				}
			}
		}
		if o.opts.Consoles != nil {
			consoles.Set(float64(o.opts.Consoles()))
		}
		ok, _ := o.Ready()
		ready.Set(boolFloat(ok))
		draining.Set(boolFloat(o.Draining()))
	})
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
		w.Header().Set("Content-Type", metrics.ContentType)
		w.Header().Set("Cache-Control", "no-store")
		_ = o.m.reg.Write(w)
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
	o.m.httpRequests.Inc(route, strconv.Itoa(status))
	o.m.httpDuration.ObserveDuration(time.Since(start), route)
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
