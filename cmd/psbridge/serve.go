package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/psbridge/psbridge/bridge/sandbox"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/software"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/config"
	"github.com/psbridge/psbridge/internal/logging"
	"github.com/psbridge/psbridge/internal/readytorun"
	"github.com/psbridge/psbridge/psmodule"
	"github.com/psbridge/psbridge/web"
	"github.com/psbridge/psbridge/web/console"
	"github.com/psbridge/psbridge/web/extoidc"
	"github.com/psbridge/psbridge/web/oauth"
	"github.com/psbridge/psbridge/web/ops"
	"github.com/psbridge/psbridge/web/plugin"
)

const serveLong = `Serves the pages (/, sign in with an API token), the REST API (/api/v1, OpenAPI document at
/api/openapi.yaml), the debugging console (/api/v1/console/ws; 'psbridge console'), the plugin
endpoint (/plugins/api/v1/{id}/...) and the probes /healthz, /readyz and /metrics (no authentication)
over a pool of warm pwsh workers, with everything stored in DATA-DIR/psbridge.db (secrets
sealed with the key in DATA-DIR/psbridge.db.key unless key-file or key says otherwise). Runs
Init for every integration at start, HealthCheck every health.interval and agent syncs on
their [JobSettings] period. When the database has no API token yet, one (admin) is created and
printed once on stdout; 'psbridge token create|list|revoke' manage them, also while the server
runs (through DATA-DIR/admin.sock and the secret in DATA-DIR/admin.secret, both mode 0600).

Settings come from the defaults, the YAML file (--config or PSBRIDGE_CONFIG), PSBRIDGE_*
environment variables and the flags below, each overriding the one before; 'psbridge config'
prints the effective values and docs/configuration.md lists them. Service logs go to stderr
(JSON, or readable text on a terminal); script output never does.

On SIGTERM or SIGINT /readyz turns 503 at once, new API and plugin calls get a 503 problem,
running maintenance sessions are cancelled (and recorded so), calls in flight may finish for
shutdown-grace, then consoles, workers and the database close and the process exits 0.`

const serveExample = `  psbridge serve --listen 127.0.0.1:8080 --data-dir /var/lib/psbridge
  PSBRIDGE_WORKERS_MAX=8 psbridge serve --config /etc/psbridge.yaml`

// openStore opens (creating when needed) the database the configuration names.
func openStore(cfg config.Config) (*store.Store, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, &exitError{code: exitEnv, err: fmt.Errorf("data directory: %w", err)}
	}
	opts := store.Options{KeyFile: cfg.KeyFile, Timeout: 2 * time.Second}
	if cfg.Key != "" {
		key, err := hex.DecodeString(cfg.Key)
		if err != nil {
			return nil, usageErr("key: %v", err)
		}
		opts.Key = key
	}
	st, err := store.Open(cfg.DatabasePath(), opts)
	if err != nil {
		return nil, &exitError{code: exitEnv, err: err}
	}
	return st, nil
}

// poolConfig maps the settings onto the pool's: 0 in max-calls and max-memory-mb means never.
func poolConfig(cfg config.Config, log *zerolog.Logger, onCall func(bridge.CallEvent)) bridge.Config {
	pc := bridge.Config{
		MinWorkers:            cfg.MinWorkers,
		MaxWorkers:            cfg.MaxWorkers,
		MaxWorkersPerInstance: cfg.PerIntegration,
		MemoryLimit:           cfg.WorkerMemoryLimit << 20,
		User:                  workerUser(cfg),
		QueueSize:             cfg.QueueSize,
		DefaultTimeout:        cfg.CallTimeout,
		MaxCallsPerWorker:     cfg.MaxCallsPerWorker,
		MaxRSS:                cfg.MaxWorkerMemory << 20,
		Logger:                log,
		OnCall:                onCall,
		// Workers run untrusted scripts: none may read the database, its key or backups.
		Deny: []string{cfg.DataDir, cfg.KeyFilePath()},
	}
	if pc.MaxCallsPerWorker == 0 {
		pc.MaxCallsPerWorker = -1
	}
	if pc.MaxRSS == 0 {
		pc.MaxRSS = -1
	}
	if pc.MemoryLimit == 0 {
		pc.MemoryLimit = -1
	}
	return pc
}

// outsideDataDir refuses paths workers must read that lie inside the data directory or are
// the key file: workers are denied both (docs/security.md), so they could not start.
func outsideDataDir(cfg config.Config, paths map[string]string) error {
	data, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil
	}
	for what, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(data, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return usageErr("%s (%s) is inside the data directory (%s), which workers may not read: put it elsewhere", what, p, cfg.DataDir)
		}
	}
	return nil
}

// workerUser is the account workers run as: workers.user (default nobody) when psbridge runs
// as root, so that scripts never hold root's rights over the data directory and /proc.
func workerUser(cfg config.Config) string {
	if os.Geteuid() != 0 {
		return ""
	}
	if cfg.WorkerUser != "" {
		return cfg.WorkerUser
	}
	return "nobody"
}

// webhookOptions maps the webhook settings onto the plugin endpoint's: rate 0 means no limit.
func webhookOptions(cfg config.Config) plugin.Options {
	o := plugin.Options{BodyTimeout: cfg.BodyTimeout, Rate: cfg.WebhookRate, Burst: cfg.WebhookBurst}
	if o.Rate == 0 {
		o.Rate = -1
	}
	return o
}

// healthInterval maps health.interval onto the engine's: 0 means no periodic checks.
func healthInterval(cfg config.Config) time.Duration {
	if cfg.HealthInterval == 0 {
		return -1
	}
	return cfg.HealthInterval
}

func newServeCmd() *cobra.Command {
	var settings *config.Flags
	cmd := &cobra.Command{
		Use:         "serve",
		Short:       "serve the pages, REST API, plugin endpoint and console over a pool of pwsh workers",
		Long:        serveLong,
		Example:     serveExample,
		Annotations: synopsis("psbridge serve [--config FILE] [--SETTING VALUE]..."),
		Args:        noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := settings.Load(os.Environ())
			if err != nil {
				return configErr(err)
			}
			return runServe(cmd.Context(), cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	settings = config.AddFlags(cmd.Flags())
	return cmd
}

func runServe(ctx context.Context, cfg config.Config, stdout, stderr io.Writer) error {
	log, err := logging.New(stderr, logging.Options{Level: cfg.LogLevel, Format: cfg.LogFormat})
	if err != nil {
		return usageErr("%v", err)
	}
	// The settings are read: take PSBRIDGE_KEY and friends out of what /proc/<pid>/environ
	// shows, and make this process unreadable to the scripts' processes.
	sandbox.HideEnviron("PSBRIDGE_")
	conf := sandbox.Probe()
	sbLog := logging.Component(log, "sandbox")
	sbLog.Info().Bool("landlock", conf.Filesystem).Int("landlock_abi", conf.Landlock).
		Bool("signal_scope", conf.SignalScope).Bool("launcher", conf.Launcher).Strs("notes", conf.Notes).
		Msg("worker confinement: " + conf.String())

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return usageErr("listen %s: %v", cfg.Listen, err)
	}
	defer ln.Close()
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	svc := &service{log: logging.Component(log, "serve"), st: st, grace: cfg.ShutdownGrace}
	defer svc.closeEarly()
	if adm, err := startAdminSocket(cfg.DataDir, st, &log); err != nil {
		// Not fatal: 'psbridge token' then needs the server stopped, as before.
		svc.log.Warn().Err(err).Msg("no admin socket; 'psbridge token' works only while the server is stopped")
	} else {
		svc.admin = adm
	}
	if toks, err := st.Tokens(); err == nil && len(toks) == 0 {
		tok, _, err := st.CreateToken("initial")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "No API token existed; created one (shown once, keep it):\n  %s\n", tok)
	}
	ext, err := externalIssuer(ctx, cfg)
	if err != nil {
		return err
	}
	pwsh, err := findPwsh(ctx, cfg.Pwsh, false, stderr)
	if err != nil {
		return err
	}
	if err := outsideDataDir(cfg, map[string]string{"the module cache (PSBRIDGE_CACHE_DIR)": cacheDir(), "pwsh": pwsh}); err != nil {
		return err
	}
	if k, err := readytorun.Check(bridge.PwshAppDir(pwsh)); err == nil && k != readytorun.ReadyToRun {
		svc.log.Warn().Str("pwsh", pwsh).Msg("pwsh's assemblies are IL only: every worker compiles PowerShell's engine as it starts, " +
			"about twice as slow; 'psbridge precompile-pwsh' compiles them ahead of time once")
	}
	m := ops.NewMetrics()
	// The pool, engine and web packages tag their own component.
	if svc.pool, err = startPool(ctx, pwsh, poolConfig(cfg, &log, m.ObserveCall)); err != nil {
		return err
	}
	if svc.eng, err = engine.New(engine.Config{Store: st, Pool: svc.pool, HealthInterval: healthInterval(cfg), Logger: &log,
		AgentHeartbeat: cfg.AgentHeartbeat, ComputerConnectWait: cfg.AgentConnectWait}); err != nil {
		return err
	}
	installed, err := psmodule.Install(ctx, cacheDir(), pwsh)
	if err != nil {
		return &exitError{code: exitEnv, err: err}
	}
	consoles, err := console.NewManager(console.Config{Pwsh: pwsh, ModuleManifest: installed.Manifest(), Deny: []string{cfg.DataDir, cfg.KeyFilePath()},
		Instances: web.ConsoleSource(svc.eng), Logger: logging.Component(log, "console")})
	if err != nil {
		return &exitError{code: exitEnv, err: err}
	}
	svc.closeConsoles = consoles.Close
	svc.sw = software.New(svc.eng, 0)
	svc.ops = ops.New(ops.Options{Metrics: m, Pool: svc.pool, MinWorkers: cfg.MinWorkers, Store: st,
		Consoles: func() int { n, _ := consoles.Count(""); return n }})
	svc.srv = &http.Server{
		Handler: web.New(svc.eng, web.Options{MaxBody: cfg.MaxBodyBytes, Webhook: webhookOptions(cfg), Logger: &log, Ops: svc.ops, Console: consoles,
			OAuth: oauth.Options{BaseURL: cfg.BaseURL}, OIDC: ext, Software: svc.sw}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	svc.eng.Start(ctx)
	fmt.Fprintf(stdout, "psbridge serving on http://%s/api/v1 (data %s, pwsh %s, %d to %d workers)\n", ln.Addr(), st.Path(), pwsh, cfg.MinWorkers, cfg.MaxWorkers)
	fmt.Fprintf(stdout, "Sign in at %s/sign-in with an API token ('psbridge token create' makes one)\n", browseURL(ln.Addr()))
	svc.log.Info().Str("listen", ln.Addr().String()).Str("data", st.Path()).Int("workers_min", cfg.MinWorkers).
		Int("workers_max", cfg.MaxWorkers).Msg("serving")
	return svc.run(ctx, ln)
}

// oidcDiscoveryTimeout bounds the external issuer's discovery at start.
const oidcDiscoveryTimeout = 15 * time.Second

// externalIssuer discovers auth.oidc.issuer (nil when unset). Start fails when the issuer
// does not answer within oidcDiscoveryTimeout or answers wrongly: a typo in the issuer should
// stop the service at once rather than refuse every token later.
func externalIssuer(ctx context.Context, cfg config.Config) (*extoidc.Verifier, error) {
	if cfg.OIDCIssuer == "" {
		return nil, nil
	}
	dctx, cancel := context.WithTimeout(ctx, oidcDiscoveryTimeout)
	defer cancel()
	v, err := extoidc.New(dctx, extoidc.Options{Issuer: cfg.OIDCIssuer, Audience: cfg.OIDCAudience, RefreshMinInterval: cfg.OIDCRefreshEvery})
	if err != nil {
		return nil, &exitError{code: exitEnv, err: fmt.Errorf("auth.oidc.issuer %s: %w", cfg.OIDCIssuer, err)}
	}
	return v, nil
}

// browseURL is the base URL a browser on this machine reaches addr at: a wildcard listen
// address (0.0.0.0, ::) is reached on 127.0.0.1.
func browseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// service is a running server and what it must stop, in order, on shutdown. Fields left nil
// are skipped (the demo owns its pool and store).
type service struct {
	log   zerolog.Logger
	srv   *http.Server
	ops   *ops.Ops
	eng   *engine.Engine
	pool  *bridge.Pool
	st    *store.Store
	grace time.Duration
	// closeConsoles ends every debugging console session with a goodbye; nil when none.
	closeConsoles func() error
	// admin is the admin socket for 'psbridge token'; nil when none.
	admin *adminSocket
	// sw runs maintenance sessions; shutdown cancels the running ones. Nil when none.
	sw *software.Service

	ran bool
}

// closeEarly releases what was opened when serve fails before run.
func (s *service) closeEarly() {
	if s.ran {
		return
	}
	if s.admin != nil {
		s.admin.Close()
	}
	if s.pool != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.pool.Close(ctx)
	}
	if s.st != nil {
		_ = s.st.Close()
	}
}

// run serves on ln until ctx ends (SIGTERM, SIGINT) or the server fails, then shuts down.
func (s *service) run(ctx context.Context, ln net.Listener) error {
	s.ran = true
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	var serveErr error
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			serveErr = fmt.Errorf("serve: %w", err)
		}
	case <-ctx.Done():
	}
	return errors.Join(serveErr, s.shutdown())
}

// shutdown drains and stops the service:
//  1. readiness turns 503 and new API and plugin calls are refused with a 503 problem, while
//     the listener stays open so clients and load balancers see why;
//  2. debugging consoles get a goodbye and close;
//  3. running and queued maintenance sessions are cancelled and recorded as cancelled (for at
//     most 10 s), which also ends their log streams;
//  4. calls in flight may finish until shutdown-grace has passed;
//  5. background health checks and syncs stop, and the pool stops its workers (shutdown
//     request, then TERM and KILL to each worker's process group) — calls still running past
//     the grace fail with a worker error;
//  6. the HTTP server closes and the database is closed cleanly.
//
// Calls cut off by the grace are logged, not returned: the shutdown itself succeeded.
func (s *service) shutdown() error {
	start := time.Now()
	s.ops.Drain()
	s.log.Info().Int("in_flight", s.ops.InFlight()).Float64("grace_ms", logging.Millis(s.grace)).Msg("shutting down: not ready, refusing new calls, letting calls in flight finish")
	var errs []error
	if s.closeConsoles != nil {
		if err := s.closeConsoles(); err != nil {
			s.log.Warn().Err(err).Msg("close consoles")
		}
	}
	if s.sw != nil {
		// Sessions are background jobs, not calls in flight: they are cancelled, not given the
		// grace, and each is recorded as cancelled (ending its log streams) before the workers
		// stop.
		n := s.sw.Running()
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := s.sw.Shutdown(sctx); err != nil {
			s.log.Warn().Err(err).Msg("cancel maintenance sessions")
		} else if n > 0 {
			s.log.Info().Int("sessions", n).Msg("cancelled running maintenance sessions")
		}
		scancel()
	}
	gctx, cancel := context.WithTimeout(context.Background(), s.grace)
	defer cancel()
	if err := s.ops.Wait(gctx); err != nil {
		s.log.Warn().Err(err).Msg("shutdown grace over; stopping workers under the calls still running")
	}
	if s.eng != nil {
		s.eng.Close()
	}
	if s.pool != nil {
		if err := s.pool.Close(gctx); err != nil {
			s.log.Warn().Err(err).Msg("stop workers")
		}
	}
	hctx, hcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer hcancel()
	if err := s.srv.Shutdown(hctx); err != nil {
		errs = append(errs, fmt.Errorf("shut down HTTP server: %w", err))
	}
	if s.admin != nil {
		s.admin.Close()
	}
	if s.st != nil {
		if err := s.st.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	s.log.Info().Float64(logging.FieldDurationMS, logging.Millis(time.Since(start))).Msg("stopped")
	return errors.Join(errs...)
}

// serveHTTP serves eng on ln until ctx ends, then drains gracefully (in-flight requests get
// 10 s), consoles and maintenance sessions included. The caller closes the engine, pool and store.
func serveHTTP(ctx context.Context, ln net.Listener, eng *engine.Engine, consoles *console.Manager, log *zerolog.Logger) error {
	o := ops.New(ops.Options{Store: eng.Store(), Pool: eng.Pool()})
	sw := software.New(eng, 0)
	s := &service{
		log:           *log,
		ops:           o,
		grace:         10 * time.Second,
		closeConsoles: consoles.Close,
		sw:            sw,
		srv: &http.Server{
			Handler:           web.New(eng, web.Options{Logger: log, Ops: o, Console: consoles, Software: sw}),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
		},
	}
	return s.run(ctx, ln)
}
