package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/web"
)

const serveUsage = `Usage: psbridge serve [--listen ADDR] [--data-dir DIR] [--key-file FILE] [--pwsh PATH] [--workers N]

Serves the REST API (/api/v1, OpenAPI document at /api/openapi.yaml) and the plugin endpoint
(/plugins/api/v1/{id}/...) over a pool of warm pwsh workers, with everything stored in
DIR/psbridge.db (secrets sealed with the key in --key-file). Runs Init for every integration
at start, HealthCheck every --health-interval and agent syncs on their [JobSettings] period.
When the database has no API token yet, one is created and printed once; more come from
'psbridge token create' (with the server stopped: the database file is locked while it runs).

Every flag can also be set in the environment: PSBRIDGE_LISTEN, PSBRIDGE_DATA_DIR,
PSBRIDGE_KEY_FILE, PSBRIDGE_PWSH, PSBRIDGE_WORKERS, PSBRIDGE_HEALTH_INTERVAL,
PSBRIDGE_LOG_LEVEL. Flags win over the environment.
`

// envOr returns the environment variable name, or def when it is unset or empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// defaultDataDir is where the database lives unless told otherwise.
func defaultDataDir() string {
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "psbridge")
	}
	return "psbridge-data"
}

// dataFlags are the flags of every command that opens the database.
type dataFlags struct {
	dataDir, keyFile string
}

func (d *dataFlags) register(fs interface {
	StringVar(*string, string, string, string)
}) {
	fs.StringVar(&d.dataDir, "data-dir", envOr("PSBRIDGE_DATA_DIR", defaultDataDir()), "directory of the database (env PSBRIDGE_DATA_DIR)")
	fs.StringVar(&d.keyFile, "key-file", envOr("PSBRIDGE_KEY_FILE", ""), "encryption key file (default DATA-DIR/psbridge.db.key; env PSBRIDGE_KEY_FILE)")
}

// open opens (creating when needed) the database.
func (d *dataFlags) open() (*store.Store, error) {
	if err := os.MkdirAll(d.dataDir, 0o700); err != nil {
		return nil, &exitError{code: exitEnv, err: fmt.Errorf("data directory: %w", err)}
	}
	st, err := store.Open(filepath.Join(d.dataDir, "psbridge.db"), store.Options{KeyFile: d.keyFile, Timeout: 2 * time.Second})
	if err != nil {
		return nil, &exitError{code: exitEnv, err: err}
	}
	return st, nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr, serveUsage)
	var data dataFlags
	data.register(fs)
	listen := fs.String("listen", envOr("PSBRIDGE_LISTEN", "127.0.0.1:8080"), "address to serve on (env PSBRIDGE_LISTEN)")
	pwshFlag := fs.String("pwsh", "", "pwsh binary (default: $PSBRIDGE_PWSH, PATH, .NET tool folders)")
	workersDefault, _ := strconv.Atoi(envOr("PSBRIDGE_WORKERS", "4"))
	workers := fs.Int("workers", workersDefault, "maximum pwsh workers (at least 2: token cmdlets call the integration from inside a script; env PSBRIDGE_WORKERS)")
	healthDefault, _ := time.ParseDuration(envOr("PSBRIDGE_HEALTH_INTERVAL", "60s"))
	health := fs.Duration("health-interval", healthDefault, "HealthCheck period (env PSBRIDGE_HEALTH_INTERVAL)")
	level := fs.String("log-level", envOr("PSBRIDGE_LOG_LEVEL", "info"), "debug, info, warn or error (env PSBRIDGE_LOG_LEVEL)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *workers < 2 {
		return usageErr("--workers must be at least 2, got %d", *workers)
	}
	lvl, err := zerolog.ParseLevel(*level)
	if err != nil {
		return usageErr("--log-level %q: %v", *level, err)
	}
	log := zerolog.New(stderr).Level(lvl).With().Timestamp().Logger()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return usageErr("listen %s: %v", *listen, err)
	}
	defer ln.Close()
	st, err := data.open()
	if err != nil {
		return err
	}
	defer st.Close()
	if toks, err := st.Tokens(); err == nil && len(toks) == 0 {
		tok, _, err := st.CreateToken("initial")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "No API token existed; created one (shown once, keep it):\n  %s\n", tok)
	}
	pwsh, err := findPwsh(ctx, *pwshFlag, false, stderr)
	if err != nil {
		return err
	}
	pool, err := startPool(ctx, pwsh, bridge.Config{MinWorkers: 2, MaxWorkers: *workers, Logger: &log})
	if err != nil {
		return err
	}
	defer closePool(pool)
	eng, err := engine.New(engine.Config{Store: st, Pool: pool, HealthInterval: *health, Logger: &log})
	if err != nil {
		return err
	}
	eng.Start(ctx)
	defer eng.Close()
	fmt.Fprintf(stdout, "psbridge serving on http://%s/api/v1 (data %s, pwsh %s, up to %d workers)\n", ln.Addr(), st.Path(), pwsh, *workers)
	return serveHTTP(ctx, ln, eng, &log)
}

// serveHTTP serves eng on ln until ctx ends, then shuts down gracefully (in-flight requests
// get 10 s).
func serveHTTP(ctx context.Context, ln net.Listener, eng *engine.Engine, log *zerolog.Logger) error {
	srv := &http.Server{
		Handler:           web.New(eng, web.Options{Logger: log}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

func closePool(p *bridge.Pool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = p.Close(ctx)
}
