package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Config sets up a Pool. Zero values take the defaults named on each field.
type Config struct {
	// Pwsh is the pwsh binary (see FindPwsh).
	Pwsh string
	// WorkerScript is the module's worker.ps1 (psmodule.Installed.WorkerScript).
	WorkerScript string
	// MinWorkers are started at once and kept warm (default 1).
	MinWorkers int
	// MaxWorkers bounds the pool (default 4, at least MinWorkers).
	MaxWorkers int
	// QueueSize bounds callers waiting for a worker; one more gets ErrQueueFull at once (default 256).
	QueueSize int
	// StartTimeout bounds a worker's start-up handshake (default 30 s).
	StartTimeout time.Duration
	// DefaultTimeout is a call's script deadline when neither the call nor [ScriptTimeout] sets one (default 60 s).
	DefaultTimeout time.Duration
	// MaxTimeout bounds every call's script deadline, [ScriptTimeout] and Call.Timeout
	// included (default 300 s, ImmyBot's upper bound for integration methods).
	MaxTimeout time.Duration
	// Grace is how long a cancelled or timed-out call may take to stop before its worker's
	// process group is killed (default 3 s).
	Grace time.Duration
	// MaxCallsPerWorker recycles a worker after that many calls (default 10000; -1 never). A young
	// worker is slower while .NET compiles PowerShell's hot paths (its first ~4000 calls), so
	// recycling much sooner keeps workers in that slow phase.
	MaxCallsPerWorker int
	// MaxRSS recycles a worker whose resident memory exceeds it (default 1 GiB; -1 never).
	MaxRSS int64
	// IdleTimeout retires workers above MinWorkers idle that long, and recycles any worker idle
	// that long (default 10 min; -1 never).
	IdleTimeout time.Duration
	// TempDir holds each worker's private directory (default os.TempDir()).
	TempDir string
	// Logger receives service logs (never script output or secrets). Default: discard.
	Logger *zerolog.Logger
	// OnCall, when set, is told about every finished Invoke and Exec (for metrics). It runs on
	// the caller's goroutine after the worker is released and must not block.
	OnCall func(CallEvent)
}

// CallEvent describes one finished call for observers: what ran, how long it took and how it
// ended. It never carries arguments, context or output.
type CallEvent struct {
	// Method is the integration method, or "exec" for an ordinary script.
	Method string
	// Duration is the wall time as seen by the pool, waiting for a worker included.
	Duration time.Duration
	// Outcome is "ok", "error" (the script failed), "timeout", "canceled", "busy" (queue
	// full), "closed" (pool shutting down) or "worker" (the worker died or broke the protocol).
	Outcome string
}

// outcomeOf classifies a call's error for CallEvent.Outcome.
func outcomeOf(err error) string {
	var we *WorkerError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case errors.Is(err, ErrCanceled):
		return "canceled"
	case errors.Is(err, ErrQueueFull):
		return "busy"
	case errors.Is(err, ErrClosed):
		return "closed"
	case errors.As(err, &we):
		return "worker"
	}
	return "error"
}

// observe reports a finished call to Config.OnCall.
func (p *Pool) observe(method string, start time.Time, err error) {
	if p.cfg.OnCall != nil {
		p.cfg.OnCall(CallEvent{Method: method, Duration: time.Since(start), Outcome: outcomeOf(err)})
	}
}

func (c *Config) setDefaults() {
	if c.MinWorkers <= 0 {
		c.MinWorkers = 1
	}
	if c.MaxWorkers <= 0 {
		c.MaxWorkers = 4
	}
	if c.MaxWorkers < c.MinWorkers {
		c.MaxWorkers = c.MinWorkers
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 256
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 30 * time.Second
	}
	if c.DefaultTimeout <= 0 {
		c.DefaultTimeout = 60 * time.Second
	}
	if c.MaxTimeout <= 0 {
		c.MaxTimeout = 300 * time.Second
	}
	if c.Grace <= 0 {
		c.Grace = 3 * time.Second
	}
	if c.MaxCallsPerWorker == 0 {
		c.MaxCallsPerWorker = 10000
	}
	if c.MaxRSS == 0 {
		c.MaxRSS = 1 << 30
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.TempDir == "" {
		c.TempDir = os.TempDir()
	}
}

// Stats is a snapshot of the pool.
type Stats struct {
	Workers   int   // live worker processes
	Idle      int   // of which idle
	Starting  int   // being started
	Waiting   int   // callers queued for a worker
	Started   int64 // workers started since the pool was created
	Restarts  int64 // workers replaced after a crash, kill or failed start
	Recycled  int64 // workers retired by call count, memory or idle time
	Calls     int64 // calls completed (successfully or not)
	Timeouts  int64 // calls that timed out
	Failures  int64 // worker start failures
	WorkerPID []int // pids of live workers
}

// waiter is a caller queued for a worker.
type waiter struct {
	ch       chan *worker
	err      error
	instance string
	nested   bool // asked from a Host callback of a running call (see nestedCall)
}

// nestedCall marks the context of Host callbacks. A call made from one (a token cmdlet asking
// the linked integration for a token) waits for a worker while its parent holds one; if every
// worker's call did that, none would ever finish. So nested calls go to the head of the queue
// and may start workers beyond MaxWorkers (up to twice it), which retire when idle.
type nestedCall struct{}

// isNested reports whether ctx is a Host callback's.
func isNested(ctx context.Context) bool { return ctx.Value(nestedCall{}) != nil }

// Pool is a supervised set of pwsh workers. It is safe for concurrent use.
type Pool struct {
	cfg  Config
	log  zerolog.Logger
	base zerolog.Logger // Config.Logger without the pool's component, for the workers'

	mu       sync.Mutex
	closed   bool
	all      map[*worker]struct{}
	idle     []*worker
	starting int
	waiters  []*waiter
	failures int // consecutive start failures, for backoff
	lastErr  error
	retryAt  time.Time
	describe map[string]*Description // script hash → description
	hashMu   sync.Mutex
	hashes   map[scriptKey]string // memo of scriptHash (see hashOf)
	modules  map[string][]string  // instance → host modules it imported

	started, restarts, recycled, calls, timeouts, startFailures atomic.Int64
	callSeq                                                     atomic.Uint64

	bg        sync.WaitGroup
	stopTick  chan struct{}
	drained   chan struct{}
	closeOnce sync.Once
}

// New starts a pool and waits until MinWorkers workers are ready (or the first one fails).
func New(ctx context.Context, cfg Config) (*Pool, error) {
	cfg.setDefaults()
	if cfg.Pwsh == "" || cfg.WorkerScript == "" {
		return nil, errors.New("bridge: Config.Pwsh and Config.WorkerScript are required")
	}
	base := zerolog.Nop()
	if cfg.Logger != nil {
		base = *cfg.Logger
	}
	p := &Pool{
		cfg:      cfg,
		log:      base.With().Str("component", "pool").Logger(),
		base:     base,
		all:      make(map[*worker]struct{}),
		describe: make(map[string]*Description),
		modules:  make(map[string][]string),
		stopTick: make(chan struct{}),
	}
	// Pre-warm: start MinWorkers in parallel and wait for them.
	type res struct {
		w   *worker
		err error
	}
	results := make(chan res, cfg.MinWorkers)
	for i := 0; i < cfg.MinWorkers; i++ {
		go func() {
			w, err := startWorker(ctx, p.workerConfig())
			results <- res{w, err}
		}()
	}
	var firstErr error
	for i := 0; i < cfg.MinWorkers; i++ {
		r := <-results
		if r.err != nil {
			if firstErr == nil {
				firstErr = r.err
			}
			continue
		}
		p.started.Add(1)
		p.all[r.w] = struct{}{}
		r.w.idleSince = time.Now()
		p.idle = append(p.idle, r.w)
	}
	if firstErr != nil {
		for w := range p.all {
			w.stop(cfg.Grace)
		}
		return nil, firstErr
	}
	p.bg.Add(1)
	go p.supervise()
	return p, nil
}

func (p *Pool) workerConfig() workerConfig {
	return workerConfig{
		pwsh:         p.cfg.Pwsh,
		script:       p.cfg.WorkerScript,
		tempDir:      p.cfg.TempDir,
		startTimeout: p.cfg.StartTimeout,
		log:          p.base,
	}
}

// Stats returns a snapshot of the pool's state and counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{
		Workers:  len(p.all),
		Idle:     len(p.idle),
		Starting: p.starting,
		Waiting:  len(p.waiters),
		Started:  p.started.Load(),
		Restarts: p.restarts.Load(),
		Recycled: p.recycled.Load(),
		Calls:    p.calls.Load(),
		Timeouts: p.timeouts.Load(),
		Failures: p.startFailures.Load(),
	}
	for w := range p.all {
		s.WorkerPID = append(s.WorkerPID, w.pid)
	}
	return s
}

// ---- acquiring and releasing workers ---------------------------------------------------

// acquire returns an idle worker (preferring one that has the instance loaded), starting one
// when the pool may grow, or queues the caller. A full queue fails at once with ErrQueueFull.
func (p *Pool) acquire(ctx context.Context, instance string) (*worker, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if w := p.takeIdleLocked(instance); w != nil {
		p.mu.Unlock()
		return w, nil
	}
	if len(p.waiters) >= p.cfg.QueueSize {
		p.mu.Unlock()
		return nil, ErrQueueFull
	}
	wt := &waiter{ch: make(chan *worker, 1), instance: instance, nested: isNested(ctx)}
	if wt.nested {
		// Ahead of every ordinary waiter, behind earlier nested ones.
		i := 0
		for i < len(p.waiters) && p.waiters[i].nested {
			i++
		}
		p.waiters = slices.Insert(p.waiters, i, wt)
	} else {
		p.waiters = append(p.waiters, wt)
	}
	p.growLocked()
	p.mu.Unlock()

	select {
	case w := <-wt.ch:
		if w == nil {
			return nil, wt.err
		}
		return w, nil
	case <-ctx.Done():
		p.mu.Lock()
		for i, x := range p.waiters {
			if x == wt {
				p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
				p.mu.Unlock()
				return nil, fmt.Errorf("%w while waiting for a worker: %v", ErrCanceled, ctx.Err())
			}
		}
		p.mu.Unlock()
		// A worker (or an error) was handed over at the same moment: give it back.
		if w := <-wt.ch; w != nil {
			p.release(w)
		}
		return nil, fmt.Errorf("%w while waiting for a worker: %v", ErrCanceled, ctx.Err())
	}
}

func (p *Pool) takeIdleLocked(instance string) *worker {
	if len(p.idle) == 0 {
		return nil
	}
	pick := len(p.idle) - 1 // most recently used: warmest caches
	if instance != "" {
		for i := len(p.idle) - 1; i >= 0; i-- {
			if _, ok := p.idle[i].loaded[instance]; ok {
				pick = i
				break
			}
		}
	}
	w := p.idle[pick]
	p.idle = append(p.idle[:pick], p.idle[pick+1:]...)
	return w
}

// growLocked starts workers while callers wait and the pool may grow, and keeps MinWorkers.
func (p *Pool) growLocked() {
	if p.closed {
		return
	}
	if time.Now().Before(p.retryAt) {
		return // backing off after failed starts; supervise() retries
	}
	for {
		total := len(p.all) + p.starting
		need := total < p.cfg.MinWorkers || (len(p.waiters) > p.starting && total < p.maxWorkersLocked())
		if !need {
			return
		}
		p.starting++
		p.bg.Add(1)
		go p.startOne()
	}
}

func (p *Pool) startOne() {
	defer p.bg.Done()
	w, err := startWorker(context.Background(), p.workerConfig())
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starting--
	if err != nil {
		p.startFailures.Add(1)
		p.failures++
		p.lastErr = err
		backoff := time.Duration(1<<min(p.failures, 6)) * 250 * time.Millisecond
		backoff += time.Duration(rand.Int64N(int64(backoff)/2 + 1)) // jitter
		p.retryAt = time.Now().Add(backoff)
		p.log.Error().Err(err).Dur("retry_in", backoff).Msg("worker failed to start")
		// With no worker alive, waiting callers would only wait for their deadline: tell them now.
		if len(p.all) == 0 && p.starting == 0 {
			for _, wt := range p.waiters {
				wt.err = fmt.Errorf("bridge: no worker could be started: %w", err)
				wt.ch <- nil
			}
			p.waiters = nil
		}
		return
	}
	p.failures = 0
	p.started.Add(1)
	if p.closed {
		go w.stop(p.cfg.Grace)
		return
	}
	p.all[w] = struct{}{}
	p.handOffLocked(w)
}

// handOffLocked gives a free worker to the first waiter, or makes it idle.
func (p *Pool) handOffLocked(w *worker) {
	if len(p.waiters) > 0 {
		wt := p.waiters[0]
		p.waiters = p.waiters[1:]
		wt.ch <- w
		return
	}
	w.idleSince = time.Now()
	p.idle = append(p.idle, w)
	if p.closed && p.drained != nil && len(p.idle) == len(p.all) {
		close(p.drained)
		p.drained = nil
	}
}

// maxWorkersLocked is MaxWorkers, raised by the nested calls waiting (see nestedCall).
func (p *Pool) maxWorkersLocked() int {
	n := 0
	for _, wt := range p.waiters {
		if wt.nested {
			n++
		}
	}
	return p.cfg.MaxWorkers + min(n, p.cfg.MaxWorkers)
}

// release returns a worker after a call: recycled, replaced or handed on.
func (p *Pool) release(w *worker) {
	p.calls.Add(1)
	w.calls++
	recycle := ""
	switch {
	case !w.alive():
	case p.cfg.MaxCallsPerWorker > 0 && w.calls >= p.cfg.MaxCallsPerWorker:
		recycle = "call count"
	case p.cfg.MaxRSS > 0 && w.rss() > p.cfg.MaxRSS:
		recycle = "memory"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !w.alive() {
		delete(p.all, w)
		p.restarts.Add(1)
		p.log.Warn().Int("worker_pid", w.pid).Msg("worker died; replacing it")
		p.growLocked()
		p.signalDrainLocked()
		return
	}
	if recycle == "" && len(p.all) > p.cfg.MaxWorkers && (len(p.waiters) == 0 || !p.waiters[0].nested) {
		recycle = "above MaxWorkers after nested calls"
	}
	if recycle != "" || p.closed && p.drained == nil {
		delete(p.all, w)
		if recycle != "" {
			p.recycled.Add(1)
			p.log.Info().Int("worker_pid", w.pid).Str("reason", recycle).Int("calls", w.calls).Msg("recycling worker")
		}
		p.bg.Add(1)
		go func() { defer p.bg.Done(); w.stop(p.cfg.Grace) }()
		p.growLocked()
		p.signalDrainLocked()
		return
	}
	p.handOffLocked(w)
}

func (p *Pool) signalDrainLocked() {
	if p.closed && p.drained != nil && len(p.idle) == len(p.all) {
		close(p.drained)
		p.drained = nil
	}
}

// supervise retires idle workers, recycles fat ones and retries failed starts.
func (p *Pool) supervise() {
	defer p.bg.Done()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.stopTick:
			return
		case <-tick.C:
		}
		var retire []*worker
		p.mu.Lock()
		now := time.Now()
		keep := p.idle[:0]
		for _, w := range p.idle {
			switch {
			case !w.alive():
				delete(p.all, w)
				p.restarts.Add(1)
			case p.cfg.IdleTimeout > 0 && now.Sub(w.idleSince) > p.cfg.IdleTimeout:
				delete(p.all, w)
				p.recycled.Add(1)
				retire = append(retire, w)
			case p.cfg.MaxRSS > 0 && w.rss() > p.cfg.MaxRSS:
				delete(p.all, w)
				p.recycled.Add(1)
				retire = append(retire, w)
			default:
				keep = append(keep, w)
			}
		}
		p.idle = keep
		p.growLocked()
		p.mu.Unlock()
		for _, w := range retire {
			p.log.Info().Int("worker_pid", w.pid).Msg("retiring idle worker")
			w.stop(p.cfg.Grace)
		}
	}
}

// Close stops accepting calls, lets in-flight calls finish until ctx is done, then stops every
// worker (shutdown request, then TERM and KILL to the process group). Waiting callers get
// ErrClosed.
func (p *Pool) Close(ctx context.Context) error {
	var err error
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		for _, wt := range p.waiters {
			wt.err = ErrClosed
			wt.ch <- nil
		}
		p.waiters = nil
		drained := make(chan struct{})
		if len(p.idle) == len(p.all) {
			close(drained)
		} else {
			p.drained = drained
		}
		p.mu.Unlock()

		select {
		case <-drained:
		case <-ctx.Done():
			err = fmt.Errorf("bridge: close: calls still running when the drain deadline passed: %w", ctx.Err())
		}
		close(p.stopTick)
		p.mu.Lock()
		workers := make([]*worker, 0, len(p.all))
		for w := range p.all {
			workers = append(workers, w)
		}
		p.all = map[*worker]struct{}{}
		p.idle = nil
		p.mu.Unlock()
		var wg sync.WaitGroup
		for _, w := range workers {
			wg.Add(1)
			go func() { defer wg.Done(); w.stop(p.cfg.Grace) }()
		}
		wg.Wait()
		p.bg.Wait()
	})
	return err
}

// ---- calls -------------------------------------------------------------------------------

func (p *Pool) nextCallID() string {
	return "c" + strconv.FormatUint(p.callSeq.Add(1), 10)
}

type loadParams struct {
	CallID        string   `json:"callId"`
	Instance      string   `json:"instance"`
	Script        string   `json:"script"`
	ScriptName    string   `json:"scriptName"`
	Secrets       []string `json:"secrets,omitempty"`
	ImportModules []string `json:"importModules,omitempty"`
}

// modulesOf returns the host modules an instance imported so far.
func (p *Pool) modulesOf(instance string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.modules[instance]
}

// rememberModules records the host modules an instance has imported (reported by the worker).
func (p *Pool) rememberModules(instance string, raw json.RawMessage) {
	var r struct {
		Modules []string `json:"modules"`
	}
	if instance == "" || json.Unmarshal(raw, &r) != nil || len(r.Modules) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := map[string]bool{}
	var merged []string
	for _, m := range append(p.modules[instance], r.Modules...) {
		if k := strings.ToLower(m); !seen[k] {
			seen[k] = true
			merged = append(merged, m)
		}
	}
	p.modules[instance] = merged
}

type invokeParams struct {
	CallID      string          `json:"callId"`
	Instance    string          `json:"instance"`
	Method      string          `json:"method"`
	Args        map[string]any  `json:"args,omitempty"`
	FormData    map[string]any  `json:"formData,omitempty"`
	Context     json.RawMessage `json:"context,omitempty"`
	Secrets     []string        `json:"secrets,omitempty"`
	TimeoutMs   int64           `json:"timeoutMs"`
	Preferences Preferences     `json:"preferences"`
}

type execParams struct {
	CallID      string         `json:"callId"`
	Script      string         `json:"script"`
	ScriptName  string         `json:"scriptName"`
	Args        map[string]any `json:"args,omitempty"`
	Secrets     []string       `json:"secrets,omitempty"`
	TimeoutMs   int64          `json:"timeoutMs"`
	Preferences Preferences    `json:"preferences"`
}

// loadOn loads the script into the worker unless it already has this version.
func (p *Pool) loadOn(ctx context.Context, w *worker, s Script, ac *activeCall) (*Description, error) {
	hash := p.hashOf(s)
	if w.loaded[s.Instance] == hash {
		p.mu.Lock()
		d := p.describe[hash]
		p.mu.Unlock()
		if d != nil {
			return d, nil
		}
	}
	name := s.Name
	if name == "" {
		name = s.Instance + ".ps1"
	}
	raw, err := w.do(ctx, "load", loadParams{CallID: ac.id, Instance: s.Instance, Script: s.Text, ScriptName: name, Secrets: ac.secrets,
		ImportModules: p.modulesOf(s.Instance)},
		ac, callOptions{timeout: p.cfg.DefaultTimeout, grace: p.cfg.Grace})
	if err != nil {
		delete(w.loaded, s.Instance)
		return nil, p.mapError(err, name, ac)
	}
	p.rememberModules(s.Instance, raw)
	var d Description
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("bridge: decode load result: %w", err)
	}
	w.loaded[s.Instance] = hash
	p.mu.Lock()
	if len(p.describe) > 1024 {
		p.describe = make(map[string]*Description)
	}
	p.describe[hash] = &d
	p.mu.Unlock()
	return &d, nil
}

// scriptKey is a script's identity for hashOf.
type scriptKey struct{ name, text string }

// maxHashMemo bounds hashOf's memo (it keeps the scripts' texts alive).
const maxHashMemo = 64

// hashOf is scriptHash, remembered: every call needs it, and callers pass the same script
// again and again. Looking a script up in a map hashes its text much faster than SHA-256,
// and comparing it with the stored key is immediate when it is the very same string.
func (p *Pool) hashOf(s Script) string {
	k := scriptKey{s.Name, s.Text}
	p.hashMu.Lock()
	h, ok := p.hashes[k]
	p.hashMu.Unlock()
	if ok {
		return h
	}
	h = scriptHash(s)
	p.hashMu.Lock()
	if p.hashes == nil || len(p.hashes) >= maxHashMemo {
		p.hashes = make(map[scriptKey]string)
	}
	p.hashes[k] = h
	p.hashMu.Unlock()
	return h
}

// Describe loads a script and returns its capabilities and method schemas.
func (p *Pool) Describe(ctx context.Context, s Script) (*Description, error) {
	w, err := p.acquire(ctx, s.Instance)
	if err != nil {
		return nil, err
	}
	defer p.release(w)
	return p.loadOn(ctx, w, s, &activeCall{ctx: ctx, id: p.nextCallID()})
}

// Invoke runs one integration method on a worker, loading the script there first if needed.
func (p *Pool) Invoke(ctx context.Context, c Call) (res *Result, err error) {
	start := time.Now()
	defer func() { p.observe(c.Method, start, err) }()
	w, err := p.acquire(ctx, c.Script.Instance)
	if err != nil {
		return nil, err
	}
	defer p.release(w)
	ac := &activeCall{ctx: ctx, id: p.nextCallID(), onRecord: c.OnRecord, host: c.Host, secrets: c.Secrets}
	desc, err := p.loadOn(ctx, w, c.Script, ac)
	if err != nil {
		return nil, err
	}
	timeout := c.Timeout
	if timeout <= 0 {
		if m, ok := desc.Method(c.Method); ok && m.TimeoutSeconds > 0 {
			timeout = time.Duration(m.TimeoutSeconds) * time.Second
		} else {
			timeout = p.cfg.DefaultTimeout
		}
	}
	timeout = min(timeout, p.cfg.MaxTimeout)
	params := invokeParams{
		CallID: ac.id, Instance: c.Script.Instance, Method: c.Method, Args: c.Args, FormData: c.FormData,
		Context: c.Context, Secrets: c.Secrets, TimeoutMs: timeout.Milliseconds(), Preferences: c.Preferences,
	}
	raw, err := w.do(ctx, "invoke", params, ac, callOptions{timeout: timeout, grace: p.cfg.Grace})
	var re *rpcError
	if errors.As(err, &re) && re.Code == codeNotLoaded {
		delete(w.loaded, c.Script.Instance)
		if _, err = p.loadOn(ctx, w, c.Script, ac); err != nil {
			return nil, err
		}
		raw, err = w.do(ctx, "invoke", params, ac, callOptions{timeout: timeout, grace: p.cfg.Grace})
	}
	if err != nil {
		if errors.As(err, &re) {
			p.rememberModules(c.Script.Instance, re.Data)
		}
		return nil, p.mapError(err, c.Script.Name, ac)
	}
	p.rememberModules(c.Script.Instance, raw)
	return p.decodeResult(raw, w, ac, start)
}

// Exec runs an ordinary script (no integration, no $IntegrationContext) in a fresh runspace.
func (p *Pool) Exec(ctx context.Context, e Exec) (res *Result, err error) {
	start := time.Now()
	defer func() { p.observe("exec", start, err) }()
	w, err := p.acquire(ctx, "")
	if err != nil {
		return nil, err
	}
	defer p.release(w)
	ac := &activeCall{ctx: ctx, id: p.nextCallID(), onRecord: e.OnRecord, host: e.Host, secrets: e.Secrets}
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = p.cfg.DefaultTimeout
	}
	timeout = min(timeout, p.cfg.MaxTimeout)
	name := e.Name
	if name == "" {
		name = "script.ps1"
	}
	raw, err := w.do(ctx, "exec", execParams{
		CallID: ac.id, Script: e.Text, ScriptName: name, Args: e.Args, Secrets: e.Secrets,
		TimeoutMs: timeout.Milliseconds(), Preferences: e.Preferences,
	}, ac, callOptions{timeout: timeout, grace: p.cfg.Grace})
	if err != nil {
		return nil, p.mapError(err, name, ac)
	}
	return p.decodeResult(raw, w, ac, start)
}

func (p *Pool) decodeResult(raw json.RawMessage, w *worker, ac *activeCall, start time.Time) (*Result, error) {
	var r Result
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("bridge: decode result: %w", err)
	}
	r.Records = ac.records
	r.Worker = w.pid
	r.Duration = time.Since(start)
	return &r, nil
}

// Error codes of the worker protocol (docs/protocol.md).
const (
	codeParseFailed   = -32001
	codeScriptFailed  = -32002
	codeCancelled     = -32003
	codeNotLoaded     = -32004
	codeNotSupported  = -32005
	codeNoIntegration = -32006
)

// mapError turns protocol errors into the package's typed errors.
func (p *Pool) mapError(err error, script string, ac *activeCall) error {
	if errors.Is(err, ErrTimeout) {
		p.timeouts.Add(1)
	}
	var re *rpcError
	if !errors.As(err, &re) {
		return err
	}
	switch re.Code {
	case codeParseFailed:
		var d struct {
			Errors []ParseIssue `json:"errors"`
		}
		_ = json.Unmarshal(re.Data, &d)
		return &ParseError{Script: script, Issues: d.Errors}
	case codeScriptFailed:
		se := &ScriptError{Message: re.Message}
		if len(re.Data) > 0 {
			_ = json.Unmarshal(re.Data, se)
		}
		se.Message = re.Message
		se.Records = ac.records
		return se
	case codeCancelled:
		var d struct {
			Reason string `json:"reason"`
		}
		_ = json.Unmarshal(re.Data, &d)
		if d.Reason == "timeout" {
			p.timeouts.Add(1)
			return fmt.Errorf("%w: %s", ErrTimeout, re.Message)
		}
		return fmt.Errorf("%w: %s", ErrCanceled, re.Message)
	case codeNotSupported:
		ns := &NotSupportedError{}
		_ = json.Unmarshal(re.Data, ns)
		return ns
	case codeNoIntegration:
		return &LoadError{Script: script, Message: re.Message}
	}
	return fmt.Errorf("bridge: worker error %d: %s", re.Code, re.Message)
}
