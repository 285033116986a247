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

	"github.com/psbridge/psbridge/bridge/sandbox"
	"github.com/rs/zerolog"
)

// Config sets up a Pool. Zero values take the defaults named on each field.
type Config struct {
	// Pwsh is the pwsh binary (see FindPwsh).
	Pwsh string
	// WorkerScript is the module's worker.ps1 (psmodule.Installed.WorkerScript).
	WorkerScript string
	// MinWorkers spare workers, bound to no integration yet, are started at once and kept warm
	// while the pool is below MaxWorkers, so an integration's first call does not wait for a
	// cold pwsh (default 1).
	MinWorkers int
	// MaxWorkers bounds the worker processes of all integrations together (default 4, at
	// least MinWorkers). At the cap, the least recently used idle worker of another
	// integration is retired to make room.
	MaxWorkers int
	// MaxWorkersPerInstance bounds the workers one integration (one Script.Group) may hold, so
	// that a flood of calls to one cannot starve the others (default MaxWorkers/2, at least 1).
	MaxWorkersPerInstance int
	// QueueSize bounds callers waiting for a worker; one more gets ErrQueueFull at once (default 256).
	QueueSize int
	// QueuePerInstance bounds the callers of one integration waiting for a worker (default
	// QueueSize/4, at least 1): a flood against one integration is refused before it fills
	// the queue every integration shares.
	QueuePerInstance int
	// StartTimeout bounds a worker's start-up handshake (default 30 s).
	StartTimeout time.Duration
	// DefaultTimeout is a call's script deadline when neither the call nor [ScriptTimeout] sets one (default 60 s).
	DefaultTimeout time.Duration
	// MaxTimeout bounds every call's script deadline, [ScriptTimeout] and Call.Timeout
	// included (default 300 s, ImmyBot's upper bound for integration methods).
	MaxTimeout time.Duration
	// Grace is how long a call may take to stop after its deadline or cancellation before its
	// worker is killed: no call outlives deadline + Grace (default 3 s).
	Grace time.Duration
	// MaxCallsPerWorker recycles a worker after that many calls (default 10000; -1 never). A young
	// worker is slower while .NET compiles PowerShell's hot paths (its first ~4000 calls), so
	// recycling much sooner keeps workers in that slow phase.
	MaxCallsPerWorker int
	// MaxRSS recycles a worker whose resident memory exceeds it after a call (default 1 GiB; -1 never).
	MaxRSS int64
	// MemoryLimit is the hard limit of a worker's memory: the .NET heap of the worker cannot
	// grow past it (DOTNET_GCHeapHardLimit), and a worker whose resident memory exceeds it
	// during a call is killed, the call failing with an error that says so (default 2 GiB;
	// -1 none).
	MemoryLimit int64
	// IdleTimeout retires workers idle that long (spares are replaced) (default 10 min; -1 never).
	IdleTimeout time.Duration
	// TempDir holds the workers' private directories (default os.TempDir()).
	TempDir string
	// Deny lists paths no worker may read or write: the data directory, the key file, backups.
	// Enforced with Landlock where the kernel has it (see package sandbox).
	Deny []string
	// User is the account (name or numeric id) workers run as when this process runs as root:
	// scripts then hold none of root's rights (over the data directory, other processes'
	// /proc entries). Ignored when not root. pwsh and the module must be readable by it.
	User string
	// Token, on Windows, is a primary access token (a windows.Token) the workers start with
	// (CreateProcessAsUser): they run as its user, in its logon session, with its user's
	// environment (USERPROFILE, APPDATA, TEMP) and a private directory that user may write. This
	// is how an agent running as LocalSystem runs -Context User blocks as the console's user.
	// The pool keeps its own duplicate until Close; the caller may close its handle once New
	// returns. 0: this process's account. Other systems refuse it (they switch with User).
	Token uintptr
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
	if c.MaxWorkersPerInstance <= 0 {
		c.MaxWorkersPerInstance = max(1, c.MaxWorkers/2)
	}
	c.MaxWorkersPerInstance = min(c.MaxWorkersPerInstance, c.MaxWorkers)
	if c.QueueSize <= 0 {
		c.QueueSize = 256
	}
	if c.QueuePerInstance <= 0 {
		c.QueuePerInstance = max(1, c.QueueSize/4)
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
	if c.MemoryLimit == 0 {
		c.MemoryLimit = 2 << 30
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
	Instances int   // integrations (groups) holding at least one worker
	Started   int64 // workers started since the pool was created
	Restarts  int64 // workers replaced after a crash, kill or failed start
	Recycled  int64 // workers retired by call count, memory or idle time
	Evicted   int64 // idle workers retired to make room for another integration's
	Calls     int64 // calls completed (successfully or not)
	Timeouts  int64 // calls that timed out
	Failures  int64 // worker start failures
	Killed    int64 // processes a call left behind, killed when it ended
	WorkerPID []int // pids of live workers
	// PerWorker describes each live worker.
	PerWorker []WorkerStats
}

// WorkerStats describes one live worker.
type WorkerStats struct {
	PID   int    // the worker's process (its sandbox launcher on Linux)
	Group string // the integration it serves; "" for a spare
	RSS   int64  // resident memory of its pwsh, bytes
	Calls int    // calls it served
	Busy  bool   // running a call now
	// WarmedUp says the worker finished its warm-up: the trivial invocations it makes while
	// idle after it started, so that .NET optimises PowerShell's hot paths before callers
	// need them (docs/performance.md).
	WarmedUp bool
}

// waiter is a caller queued for a worker.
type waiter struct {
	ch     chan *worker
	err    error
	group  string
	nested bool // asked from a Host callback of a running call (see nestedCall)
}

// nestedCall marks the context of Host callbacks. A call made from one (a token cmdlet asking
// the linked integration for a token) waits for a worker while its parent holds one; if every
// worker's call did that, none would ever finish. So nested calls go to the head of the queue
// and may start workers beyond MaxWorkers (up to twice it), which retire when idle.
type nestedCall struct{}

// isNested reports whether ctx is a Host callback's.
func isNested(ctx context.Context) bool { return ctx.Value(nestedCall{}) != nil }

// Pool is a supervised set of pwsh workers, each serving one integration (one group). It is
// safe for concurrent use.
type Pool struct {
	cfg  Config
	log  zerolog.Logger
	base zerolog.Logger // Config.Logger without the pool's component, for the workers'
	root string         // parent of the workers' private directories; denied to every worker
	// rootLock holds root's lock file open and locked until root is removed.
	rootLock *os.File
	cred     *sandbox.Account
	tok      uintptr // duplicate of Config.Token, closed by Close

	mu       sync.Mutex
	closed   bool
	all      map[*worker]struct{}
	idle     []*worker // least recently used first
	starting map[string]int
	nstart   int            // sum of starting
	bound    map[string]int // live workers per group
	waiters  []*waiter
	failures int // consecutive start failures, for backoff
	lastErr  error
	retryAt  time.Time
	describe map[string]*Description // script hash → description
	hashMu   sync.Mutex
	hashes   map[scriptKey]string // memo of scriptHash (see hashOf)
	modules  map[string][]string  // instance → host modules it imported

	started, restarts, recycled, evicted, calls, timeouts, startFailures, killedProcs atomic.Int64
	callSeq                                                                           atomic.Uint64

	bg        sync.WaitGroup
	stopTick  chan struct{}
	drained   chan struct{}
	closeOnce sync.Once
}

// New starts a pool and waits until MinWorkers spare workers are ready (or the first one fails).
func New(ctx context.Context, cfg Config) (*Pool, error) {
	cfg.setDefaults()
	if cfg.Pwsh == "" || cfg.WorkerScript == "" {
		return nil, errors.New("bridge: Config.Pwsh and Config.WorkerScript are required")
	}
	base := zerolog.Nop()
	if cfg.Logger != nil {
		base = *cfg.Logger
	}
	cred, err := lookupUser(cfg.User)
	if err != nil {
		return nil, err
	}
	tok, err := adoptToken(cfg.Token)
	if err != nil {
		return nil, err
	}
	// A killed server could not remove its workers' directories: the next pool does.
	stale := removeStaleRoots(cfg.TempDir)
	root, err := os.MkdirTemp(cfg.TempDir, workersRootPattern())
	if err != nil {
		closeToken(tok)
		return nil, fmt.Errorf("bridge: workers' directory: %w", err)
	}
	rootLock, err := lockRoot(root)
	if err != nil {
		_ = os.RemoveAll(root)
		closeToken(tok)
		return nil, fmt.Errorf("bridge: %w", err)
	}
	_ = os.Chmod(root, 0o711) // another account's workers must reach their own directories
	p := &Pool{
		cfg:      cfg,
		log:      base.With().Str("component", "pool").Logger(),
		base:     base,
		root:     root,
		rootLock: rootLock,
		cred:     cred,
		tok:      tok,
		all:      make(map[*worker]struct{}),
		starting: make(map[string]int),
		bound:    make(map[string]int),
		describe: make(map[string]*Description),
		modules:  make(map[string][]string),
		stopTick: make(chan struct{}),
	}
	if len(stale) > 0 {
		p.log.Info().Strs("dirs", stale).Msg("removed workers' directories left by a pool that was killed")
	}
	// Pre-warm: start MinWorkers spares in parallel and wait for them.
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
		_ = os.RemoveAll(root)
		rootLock.Close()
		closeToken(tok)
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
		root:         p.root,
		deny:         p.cfg.Deny,
		memoryLimit:  p.cfg.MemoryLimit,
		cred:         p.cred,
		token:        p.tok,
		startTimeout: p.cfg.StartTimeout,
		log:          p.base,
	}
}

// Stats returns a snapshot of the pool's state and counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	s := Stats{
		Workers:   len(p.all),
		Idle:      len(p.idle),
		Starting:  p.nstart,
		Waiting:   len(p.waiters),
		Instances: len(p.bound),
		Started:   p.started.Load(),
		Restarts:  p.restarts.Load(),
		Recycled:  p.recycled.Load(),
		Evicted:   p.evicted.Load(),
		Calls:     p.calls.Load(),
		Timeouts:  p.timeouts.Load(),
		Failures:  p.startFailures.Load(),
		Killed:    p.killedProcs.Load(),
	}
	idle := make(map[*worker]bool, len(p.idle))
	for _, w := range p.idle {
		idle[w] = true
	}
	workers := make([]*worker, 0, len(p.all))
	for w := range p.all {
		workers = append(workers, w)
		s.WorkerPID = append(s.WorkerPID, w.pid)
		s.PerWorker = append(s.PerWorker, WorkerStats{PID: w.pid, Group: w.group, Calls: int(w.callCount.Load()), Busy: !idle[w],
			WarmedUp: w.warmedUp.Load()})
	}
	p.mu.Unlock()
	for i, w := range workers { // outside the lock: a read of /proc per worker
		s.PerWorker[i].RSS = w.rss()
	}
	return s
}

// ---- acquiring and releasing workers ---------------------------------------------------

// groupOf is the group a script's calls run in.
func groupOf(s Script) string {
	if s.Group != "" {
		return s.Group
	}
	if s.Instance == "" {
		return "script"
	}
	return s.Instance
}

// acquire returns an idle worker of the group (or a spare, bound to it now), starting one when
// the pool may grow, or queues the caller. A full queue fails at once with ErrQueueFull.
func (p *Pool) acquire(ctx context.Context, group string) (*worker, error) {
	nested := isNested(ctx)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if w := p.takeIdleLocked(group, nested); w != nil {
		p.growLocked() // replace the spare it may have taken
		p.mu.Unlock()
		return w, nil
	}
	queued := 0
	for _, wt := range p.waiters {
		if wt.group == group {
			queued++
		}
	}
	if !nested && (len(p.waiters) >= p.cfg.QueueSize || queued >= p.cfg.QueuePerInstance) {
		p.mu.Unlock()
		if queued >= p.cfg.QueuePerInstance {
			return nil, fmt.Errorf("%w: %d calls of this integration are already waiting for its %d workers", ErrQueueFull, queued, p.cfg.MaxWorkersPerInstance)
		}
		return nil, ErrQueueFull
	}
	wt := &waiter{ch: make(chan *worker, 1), group: group, nested: nested}
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

// groupLimitLocked is how many workers a group may hold: MaxWorkersPerInstance, raised by its
// nested callers (see nestedCall).
func (p *Pool) groupLimitLocked(group string) int {
	n := 0
	for _, wt := range p.waiters {
		if wt.nested && wt.group == group {
			n++
		}
	}
	return p.cfg.MaxWorkersPerInstance + min(n, p.cfg.MaxWorkers)
}

// takeIdleLocked takes the most recently used idle worker of the group or, when the group may
// grow, a spare, which it binds to the group.
func (p *Pool) takeIdleLocked(group string, nested bool) *worker {
	for i := len(p.idle) - 1; i >= 0; i-- {
		if p.idle[i].group == group {
			w := p.idle[i]
			p.idle = slices.Delete(p.idle, i, i+1)
			return w
		}
	}
	limit := p.cfg.MaxWorkersPerInstance
	if nested {
		limit += p.cfg.MaxWorkers
	}
	if p.bound[group]+p.starting[group] >= limit {
		return nil
	}
	for i := len(p.idle) - 1; i >= 0; i-- {
		if p.idle[i].group == "" {
			w := p.idle[i]
			p.idle = slices.Delete(p.idle, i, i+1)
			w.group = group
			p.bound[group]++
			return w
		}
	}
	return nil
}

// forgetLocked removes a worker from the pool's books (it is dead or being stopped).
func (p *Pool) forgetLocked(w *worker) {
	if _, ok := p.all[w]; !ok {
		return
	}
	delete(p.all, w)
	if i := slices.Index(p.idle, w); i >= 0 {
		p.idle = slices.Delete(p.idle, i, i+1)
	}
	if w.group != "" {
		if p.bound[w.group]--; p.bound[w.group] <= 0 {
			delete(p.bound, w.group)
		}
	}
}

// growLocked starts workers for the groups whose callers wait, retiring the least recently
// used idle worker of another group when the pool is at its cap, and keeps MinWorkers spares.
func (p *Pool) growLocked() {
	if p.closed {
		return
	}
	if time.Now().Before(p.retryAt) {
		return // backing off after failed starts; supervise() retries
	}
	demand := map[string]int{}
	var order []string
	nestedWaiting := 0
	for _, wt := range p.waiters {
		if demand[wt.group] == 0 {
			order = append(order, wt.group)
		}
		demand[wt.group]++
		if wt.nested {
			nestedWaiting++
		}
	}
	capTotal := p.cfg.MaxWorkers + min(nestedWaiting, p.cfg.MaxWorkers)
	spareComing := p.starting[""] // each will be handed to a waiter when it is ready
	for _, g := range order {
		need := demand[g] - p.starting[g]
		room := p.groupLimitLocked(g) - p.bound[g] - p.starting[g]
		for need > 0 && room > 0 {
			need--
			if spareComing > 0 {
				spareComing--
				continue
			}
			if len(p.all)+p.nstart >= capTotal && !p.evictLocked(g) {
				break
			}
			p.startLocked(g)
			room--
		}
	}
	spares := p.starting[""]
	for _, w := range p.idle {
		if w.group == "" {
			spares++
		}
	}
	for spares < p.cfg.MinWorkers && len(p.all)+p.nstart < p.cfg.MaxWorkers {
		p.startLocked("")
		spares++
	}
}

// evictLocked retires the least recently used idle worker not of group keep, to make room.
func (p *Pool) evictLocked(keep string) bool {
	for _, w := range p.idle {
		if w.group == keep {
			continue
		}
		p.forgetLocked(w)
		p.evicted.Add(1)
		p.log.Info().Int("worker_pid", w.pid).Str("group", w.group).Str("for", keep).Msg("retiring an idle worker to make room for another integration")
		p.bg.Add(1)
		go func() { defer p.bg.Done(); w.stop(p.cfg.Grace) }()
		return true
	}
	return false
}

func (p *Pool) startLocked(group string) {
	p.starting[group]++
	p.nstart++
	p.bg.Add(1)
	go p.startOne(group)
}

func (p *Pool) startOne(group string) {
	defer p.bg.Done()
	w, err := startWorker(context.Background(), p.workerConfig())
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.starting[group]--; p.starting[group] <= 0 {
		delete(p.starting, group)
	}
	p.nstart--
	if err != nil {
		p.startFailures.Add(1)
		p.failures++
		p.lastErr = err
		backoff := time.Duration(1<<min(p.failures, 6)) * 250 * time.Millisecond
		backoff += time.Duration(rand.Int64N(int64(backoff)/2 + 1)) // jitter
		p.retryAt = time.Now().Add(backoff)
		p.log.Error().Err(err).Dur("retry_in", backoff).Msg("worker failed to start")
		// With no worker alive, waiting callers would only wait for their deadline: tell them now.
		if len(p.all) == 0 && p.nstart == 0 {
			for _, wt := range p.waiters {
				wt.err = fmt.Errorf("%w: %w", ErrNoWorker, err)
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
	w.group = group
	p.all[w] = struct{}{}
	if group != "" {
		p.bound[group]++
	}
	p.handOffLocked(w)
}

// handOffLocked gives a free worker to the first waiter of its group (a spare to the first
// waiter whose group may grow), or makes it idle.
func (p *Pool) handOffLocked(w *worker) {
	for i, wt := range p.waiters {
		switch {
		case w.group != "" && wt.group == w.group:
		case w.group == "" && p.bound[wt.group]+p.starting[wt.group] < p.groupLimitLocked(wt.group):
			w.group = wt.group
			p.bound[wt.group]++
		default:
			continue
		}
		p.waiters = slices.Delete(p.waiters, i, i+1)
		wt.ch <- w
		return
	}
	w.idleSince = time.Now()
	p.idle = append(p.idle, w)
	if p.closed && p.drained != nil && len(p.idle) == len(p.all) {
		close(p.drained)
		p.drained = nil
	}
	p.growLocked() // another group may be waiting for room
}

// release returns a worker after a call: what the call left running is killed, then the worker
// is recycled, replaced or handed on. A worker that broke the protocol never serves again.
func (p *Pool) release(w *worker) {
	p.calls.Add(1)
	w.calls++
	w.callCount.Add(1)
	if w.alive() && !w.broken() {
		if n, err := w.sweep(); err != nil {
			w.killFor(err.Error())
		} else if n > 0 {
			p.killedProcs.Add(int64(n))
			w.log.Info().Int("processes", n).Msg("killed processes the call left running")
		}
	}
	recycle := ""
	switch {
	case !w.alive() || w.broken():
	case p.cfg.MaxCallsPerWorker > 0 && w.calls >= p.cfg.MaxCallsPerWorker:
		recycle = "call count"
	case p.cfg.MaxRSS > 0 && w.rss() > p.cfg.MaxRSS:
		recycle = "memory"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if recycle == "" && w.group != "" && p.bound[w.group] > p.cfg.MaxWorkersPerInstance && !p.hasNestedWaiterLocked(w.group) {
		recycle = "above MaxWorkersPerInstance after nested calls"
	}
	if !w.alive() || w.broken() {
		p.forgetLocked(w)
		p.restarts.Add(1)
		p.log.Warn().Int("worker_pid", w.pid).Str("reason", w.brokenReason()).Msg("worker died or broke the protocol; replacing it")
		w.kill()
		p.growLocked()
		p.signalDrainLocked()
		return
	}
	if recycle == "" && len(p.all) > p.cfg.MaxWorkers && !(len(p.waiters) > 0 && p.waiters[0].nested) {
		recycle = "above MaxWorkers after nested calls"
	}
	if recycle != "" || p.closed && p.drained == nil {
		p.forgetLocked(w)
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

func (p *Pool) hasNestedWaiterLocked(group string) bool {
	for _, wt := range p.waiters {
		if wt.nested && wt.group == group {
			return true
		}
	}
	return false
}

func (p *Pool) signalDrainLocked() {
	if p.closed && p.drained != nil && len(p.idle) == len(p.all) {
		close(p.drained)
		p.drained = nil
	}
}

// Forget retires the idle workers of an integration that no longer exists (or whose secrets
// changed); busy ones retire when their call ends.
func (p *Pool) Forget(instance string) {
	p.mu.Lock()
	var stop []*worker
	for _, w := range slices.Clone(p.idle) {
		if w.group == instance {
			p.forgetLocked(w)
			stop = append(stop, w)
		}
	}
	p.mu.Unlock()
	for _, w := range stop {
		p.bg.Add(1)
		go func() { defer p.bg.Done(); w.stop(p.cfg.Grace) }()
	}
}

// supervise retires idle workers, kills those over the memory limit, and retries failed starts.
func (p *Pool) supervise() {
	defer p.bg.Done()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.stopTick:
			return
		case <-tick.C:
		}
		var retire []*worker
		var busy []*worker
		p.mu.Lock()
		now := time.Now()
		idle := make(map[*worker]bool, len(p.idle))
		for _, w := range slices.Clone(p.idle) {
			idle[w] = true
			switch {
			case !w.alive():
				p.forgetLocked(w)
				p.restarts.Add(1)
			case p.cfg.IdleTimeout > 0 && now.Sub(w.idleSince) > p.cfg.IdleTimeout:
				p.forgetLocked(w)
				p.recycled.Add(1)
				retire = append(retire, w)
			case p.cfg.MaxRSS > 0 && w.rss() > p.cfg.MaxRSS:
				p.forgetLocked(w)
				p.recycled.Add(1)
				retire = append(retire, w)
			}
		}
		for w := range p.all {
			if !idle[w] {
				busy = append(busy, w)
			}
		}
		p.growLocked()
		p.mu.Unlock()
		if p.cfg.MemoryLimit > 0 {
			for _, w := range busy {
				if rss := w.rss(); rss > p.cfg.MemoryLimit {
					w.killFor(fmt.Sprintf("the worker used %d MiB, over its memory limit of %d MiB, and was killed during the call",
						rss>>20, p.cfg.MemoryLimit>>20))
				}
			}
		}
		for _, w := range retire {
			p.log.Info().Int("worker_pid", w.pid).Msg("retiring idle worker")
			w.stop(p.cfg.Grace)
		}
	}
}

// Close stops accepting calls, lets in-flight calls finish until ctx is done, then stops every
// worker (shutdown request, then the launcher kills the process tree). Waiting callers get
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
		p.bound = map[string]int{}
		p.mu.Unlock()
		var wg sync.WaitGroup
		for _, w := range workers {
			wg.Add(1)
			go func() { defer wg.Done(); w.stop(p.cfg.Grace) }()
		}
		wg.Wait()
		p.bg.Wait()
		_ = os.RemoveAll(p.root)
		p.rootLock.Close()
		closeToken(p.tok)
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
	Public      []string        `json:"public,omitempty"`
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
	w, err := p.acquire(ctx, groupOf(s))
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
	if err := CheckArgNames(c.Args); err != nil {
		return nil, err
	}
	w, err := p.acquire(ctx, groupOf(c.Script))
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
		Context: c.Context, Secrets: c.Secrets, Public: c.Public, TimeoutMs: timeout.Milliseconds(), Preferences: c.Preferences,
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
	if err := CheckArgNames(e.Args); err != nil {
		return nil, err
	}
	group := e.Group
	if group == "" {
		group = "exec"
	}
	w, err := p.acquire(ctx, group)
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

// ArgNameError means a method argument's name is not a plain identifier. Names become
// PowerShell variables and parameters; one like "global:IntegrationContext" or "env:PATH"
// would reach outside the call.
type ArgNameError struct {
	Name string
}

func (e *ArgNameError) Error() string {
	return fmt.Sprintf("argument %q: names must be plain identifiers (letters, digits and '_', not starting with a digit)", e.Name)
}

// CheckArgNames returns an *ArgNameError for the first (in sorted order) argument of args
// whose name is not a plain identifier, nil when every name is. Invoke and Exec check it.
func CheckArgNames(args map[string]any) error {
	var bad []string
	for name := range args {
		if !ValidArgName(name) {
			bad = append(bad, name)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	return &ArgNameError{Name: bad[0]}
}

// ValidArgName reports whether s is [A-Za-z_][A-Za-z0-9_]*.
func ValidArgName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
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
