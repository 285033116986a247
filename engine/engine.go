// Package engine runs integrations as a service. It exists because the bridge only knows how to
// run one script block on some worker, and the store only knows how to keep records: the engine
// is the layer that turns "an uploaded script plus a filled-in form" into a living integration.
// It loads and describes integration types, validates instance forms against Init's param()
// block, keeps [Password] values and $IntegrationContext sealed in the store and hands them back
// on every call, runs Init when needed and HealthCheck on a period, refuses calls the script
// has no capability for, syncs clients and agents, resolves the token cmdlets of ordinary
// scripts (bridge.Host) through computer → tenant → client mapping, and records every call with
// its stream records.
//
// An Engine is safe for concurrent use. It never logs parameter values, secrets or context.
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine/computers"
	"github.com/psbridge/psbridge/engine/store"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultHealthInterval    = 60 * time.Second
	DefaultUnhealthyAfter    = 3
	DefaultAgentSyncPeriod   = 60 * time.Minute
	DefaultAgentSyncTick     = time.Minute
	DefaultMaxRecordsPerCall = 500
	DefaultConcurrency       = 2
	DefaultHealthRetry       = 15 * time.Second
	DefaultIdentifyPeriod    = 24 * time.Hour
)

// Config sets up an Engine. Store and Pool are required; zero values of the others take the
// defaults named on each field.
type Config struct {
	// Store keeps everything the engine must remember.
	Store *store.Store
	// Pool runs the scripts.
	Pool *bridge.Pool
	// OAuthClient makes the token requests of OAuth consent refreshes (Update-OAuthConsentToken).
	// Default: a client with a 30 s timeout.
	OAuthClient *http.Client
	// Logger receives service logs (never values, secrets or contexts). Default: discard.
	Logger *zerolog.Logger
	// HealthInterval is the HealthCheck period per instance (default 60 s; negative: no
	// periodic checks, CheckHealth still works).
	HealthInterval time.Duration
	// HealthRetry is the first retry delay of an instance whose Init or HealthCheck failed;
	// it doubles with every further failure up to HealthInterval (default 15 s).
	HealthRetry time.Duration
	// UnhealthyAfter is how many consecutive failed (Degraded or Unhealthy) checks make Init
	// run again (default 3): credentials or sessions may have expired. It does not rename the
	// health a check reported.
	UnhealthyAfter int
	// AgentSyncPeriod is the GetAgents period when the block has no [JobSettings(PeriodMinutes)]
	// (default 60 min).
	AgentSyncPeriod time.Duration
	// AgentSyncTick is how often the engine looks for instances whose agent sync is due
	// (default 1 min; negative: no periodic syncs, SyncAgents still works).
	AgentSyncTick time.Duration
	// MaxRecordsPerCall bounds the stream records kept in the call log per call (default 500).
	MaxRecordsPerCall int
	// Concurrency bounds background calls (health checks, agent syncs) running at once
	// (default 2).
	Concurrency int
	// PluginTimeout is the script deadline of HandleHttpRequest calls (default: the block's
	// [ScriptTimeout] or the pool's default).
	PluginTimeout time.Duration
	// ComputerConnectWait is how long Invoke-ImmyCommand and computer scripts wait for an
	// offline computer's agent to connect before failing (default 30 s).
	ComputerConnectWait time.Duration
	// AgentHeartbeat is the websocket ping period of connected agents (default 10 s).
	AgentHeartbeat time.Duration
	// IdentifyPeriod is how often a connected computer's inventory identification runs again
	// (default 24 h); it always runs when a computer first connects.
	IdentifyPeriod time.Duration
	// Now is the clock of the identification schedule (default time.Now); tests move it.
	Now func() time.Time
}

// Engine runs integration instances. Create it with New, start its background loops with
// Start and stop them with Close. Closing the engine closes neither the store nor the pool.
type Engine struct {
	cfg  Config
	st   *store.Store
	pool *bridge.Pool
	log  zerolog.Logger

	// oauthMu serialises OAuth consent refreshes (RefreshOAuth).
	oauthMu sync.Mutex

	mu             sync.Mutex
	initOK         map[int64]string      // instance → script version whose Init succeeded here
	initLocks      map[int64]*sync.Mutex // serialises Init per instance
	lastAgentSync  map[int64]time.Time
	nextHealth     map[int64]time.Time // instance → when its next periodic check is due
	clientsFetched map[int64]bool
	descs          map[string]*bridge.Description // type id + script hash → description
	types          map[string]store.IntegrationType
	modulesVersion string // changes when a module script changes
	lastIdentify   map[int64]time.Time
	bgCtx          context.Context
	closed         bool

	hub      *computers.Hub
	identSem chan struct{}

	sem     chan struct{}
	stop    context.CancelFunc
	bg      sync.WaitGroup
	started bool

	done      chan struct{} // closed by Close
	closeOnce sync.Once
}

// New checks cfg and returns an engine; nothing runs until Start.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil || cfg.Pool == nil {
		return nil, errors.New("engine: Config.Store and Config.Pool are required")
	}
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = DefaultHealthInterval
	}
	if cfg.UnhealthyAfter <= 0 {
		cfg.UnhealthyAfter = DefaultUnhealthyAfter
	}
	if cfg.HealthRetry <= 0 {
		cfg.HealthRetry = DefaultHealthRetry
	}
	if cfg.AgentSyncPeriod <= 0 {
		cfg.AgentSyncPeriod = DefaultAgentSyncPeriod
	}
	if cfg.AgentSyncTick == 0 {
		cfg.AgentSyncTick = DefaultAgentSyncTick
	}
	if cfg.MaxRecordsPerCall <= 0 {
		cfg.MaxRecordsPerCall = DefaultMaxRecordsPerCall
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.ComputerConnectWait <= 0 {
		cfg.ComputerConnectWait = computers.DefaultConnectWait
	}
	if cfg.IdentifyPeriod <= 0 {
		cfg.IdentifyPeriod = DefaultIdentifyPeriod
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := zerolog.Nop()
	if cfg.Logger != nil {
		log = cfg.Logger.With().Str("component", "engine").Logger()
	}
	e := &Engine{
		done:           make(chan struct{}),
		cfg:            cfg,
		st:             cfg.Store,
		pool:           cfg.Pool,
		log:            log,
		initOK:         map[int64]string{},
		initLocks:      map[int64]*sync.Mutex{},
		lastAgentSync:  map[int64]time.Time{},
		nextHealth:     map[int64]time.Time{},
		clientsFetched: map[int64]bool{},
		descs:          map[string]*bridge.Description{},
		types:          map[string]store.IntegrationType{},
		sem:            make(chan struct{}, cfg.Concurrency),
		lastIdentify:   map[int64]time.Time{},
		identSem:       make(chan struct{}, 4),
	}
	e.hub = computers.New(cfg.Store, computers.Options{ConnectWait: cfg.ComputerConnectWait, Heartbeat: cfg.AgentHeartbeat,
		OnConnect: e.onComputerConnect, Logger: cfg.Logger})
	if err := e.refreshModulesVersion(); err != nil {
		return nil, err
	}
	return e, nil
}

// Done is closed when Close is called: services built on the engine (maintenance sessions)
// stop with it.
func (e *Engine) Done() <-chan struct{} { return e.done }

// Store returns the engine's store (for backups and token checks).
func (e *Engine) Store() *store.Store { return e.st }

// Pool returns the engine's worker pool (for readiness and metrics).
func (e *Engine) Pool() *bridge.Pool { return e.pool }

// Start runs Init and HealthCheck for every enabled instance in the background, then keeps
// checking health every HealthInterval and syncing agents when due, until Close or ctx ends.
func (e *Engine) Start(ctx context.Context) {
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return
	}
	e.started = true
	ctx, e.stop = context.WithCancel(ctx)
	e.bgCtx = ctx
	now := time.Now()
	if insts, err := e.st.Instances(); err == nil {
		for _, inst := range insts {
			e.lastAgentSync[inst.ID] = now
		}
	}
	e.mu.Unlock()

	e.bg.Add(1)
	go func() {
		defer e.bg.Done()
		e.checkAll(ctx, func(int64) bool { return true })
		if e.cfg.HealthInterval < 0 {
			return
		}
		t := time.NewTicker(e.healthTick())
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				e.checkAll(ctx, func(id int64) bool { return e.healthDue(id, now) })
			}
		}
	}()
	e.bg.Add(1)
	go func() {
		defer e.bg.Done()
		t := time.NewTicker(min(time.Hour, e.cfg.IdentifyPeriod))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				e.IdentifyDue(ctx)
			}
		}
	}()
	if e.cfg.AgentSyncTick > 0 {
		e.bg.Add(1)
		go func() {
			defer e.bg.Done()
			t := time.NewTicker(e.cfg.AgentSyncTick)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					e.syncDue(ctx)
				}
			}
		}()
	}
}

// Close stops the background loops and waits for them; calls in flight are cancelled.
func (e *Engine) Close() {
	e.mu.Lock()
	stop := e.stop
	e.closed = true
	e.mu.Unlock()
	e.closeOnce.Do(func() { close(e.done) })
	if stop != nil {
		stop()
	}
	e.bg.Wait()
}

// background runs fn for every enabled instance, at most Concurrency at once.
func (e *Engine) background(ctx context.Context, ids []int64, fn func(context.Context, int64)) {
	var wg sync.WaitGroup
	for _, id := range ids {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case e.sem <- struct{}{}:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-e.sem }()
			fn(ctx, id)
		}()
	}
	wg.Wait()
}

// checkAll runs a health check on every enabled instance that due accepts.
func (e *Engine) checkAll(ctx context.Context, due func(id int64) bool) {
	insts, err := e.st.Instances()
	if err != nil {
		e.log.Error().Err(err).Msg("list instances for health checks")
		return
	}
	var ids []int64
	for _, inst := range insts {
		if !inst.Disabled && due(inst.ID) {
			ids = append(ids, inst.ID)
		}
	}
	e.background(ctx, ids, func(ctx context.Context, id int64) {
		if _, err := e.CheckHealth(ctx, id); err != nil && ctx.Err() == nil {
			e.log.Warn().Int64("instance", id).Err(err).Msg("health check")
		}
	})
}

// runspaceKey names an instance's runspace in the workers.
func runspaceKey(id int64) string { return "instance-" + strconv.FormatInt(id, 10) }

// instanceLock returns the mutex that serialises Init of one instance.
func (e *Engine) instanceLock(id int64) *sync.Mutex {
	e.mu.Lock()
	defer e.mu.Unlock()
	l := e.initLocks[id]
	if l == nil {
		l = &sync.Mutex{}
		e.initLocks[id] = l
	}
	return l
}

// forget drops what the engine remembers about an instance.
func (e *Engine) forget(id int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.initOK, id)
	delete(e.lastAgentSync, id)
	delete(e.nextHealth, id)
	delete(e.clientsFetched, id)
}

// rawJSON marshals v, returning nil on failure (values here come from JSON already).
func rawJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// wrapNotFound reports what was not found, keeping store.ErrNotFound for errors.Is.
func wrapNotFound(what string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return err
}
