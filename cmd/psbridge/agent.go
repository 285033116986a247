package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/psbridge/psbridge/agent"
	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/config"
	"github.com/psbridge/psbridge/web/api"
)

const agentUsage = `Usage: psbridge agent --server URL --enroll-key KEY --state-dir DIR [flags]
       psbridge agent --state-dir DIR [flags]

Runs the psbridge agent on a managed computer. The first form enrolls the computer into the
enrollment key's tenant (a computer with the same device id is the same computer) and keeps
its credential in DIR/agent.json (mode 0600); then, and with the second form, it keeps one
outbound websocket to the server (reconnecting with backoff and jitter), reports the
computer's inventory and runs the scripts the server sends (Invoke-ImmyCommand blocks) in a
warm local pwsh. Stop it with SIGINT or SIGTERM.

Flags:
`

func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("agent", stderr, agentUsage)
	server := fs.String("server", "", "the psbridge server's URL (enrollment only; kept in the state)")
	key := fs.String("enroll-key", "", "an enrollment key (psbridge enrollment-key create); enrolls this computer")
	stateDir := fs.String("state-dir", "", "directory for the agent's credential and state (required)")
	pwshPath := fs.String("pwsh", "", "the pwsh binary (default: found like 'psbridge serve' does)")
	var inv listFlag
	fs.Var(&inv, "inventory", "override an inventory field, KEY=VALUE (repeatable; keys: computerName, deviceId, serialNumber, …)")
	var drives listFlag
	fs.Var(&drives, "drive", "map a drive in scripts' runspaces, NAME=DIR (repeatable; e.g. C=/srv/fake-c for Windows paths in tests)")
	minBackoff := fs.Duration("min-backoff", agent.DefaultMinBackoff, "first reconnect delay")
	maxBackoff := fs.Duration("max-backoff", agent.DefaultMaxBackoff, "longest reconnect delay")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *stateDir == "" {
		return usageErr("agent needs --state-dir DIR")
	}
	if (*server == "") != (*key == "") {
		return usageErr("--server and --enroll-key go together (enrollment); without both the agent uses its saved state")
	}
	sv, err := agent.StartService(ctx, *stateDir) // the Windows service control manager, if it started us
	if err != nil {
		return err
	}
	defer func() { sv.Stopped(err) }()
	if ctx = sv.Context; sv.Log != nil {
		stderr = sv.Log
	}
	overrides := map[string]string{}
	for _, kv := range inv {
		k, v, err := splitAssignment("inventory", kv)
		if err != nil {
			return usageErr("%v", err)
		}
		overrides[k] = v
	}
	driveMap := map[string]string{}
	for _, kv := range drives {
		k, v, err := splitAssignment("drive", kv)
		if err != nil {
			return usageErr("%v", err)
		}
		driveMap[k] = v
	}
	lvl, err := zerolog.ParseLevel(*logLevel)
	if err != nil {
		return usageErr("--log-level: %v", err)
	}
	log := zerolog.New(stderr).Level(lvl).With().Timestamp().Logger()
	cfg := agent.Config{StateDir: *stateDir, Inventory: overrides, Drives: driveMap, MinBackoff: *minBackoff, MaxBackoff: *maxBackoff, Logger: &log,
		HTTPClient: &http.Client{Timeout: time.Minute}}
	if *key != "" {
		st, err := agent.Enroll(ctx, cfg, *server, *key)
		if err != nil {
			return err
		}
		log.Info().Int64("computer", st.ComputerID).Int64("tenant", st.TenantID).Msg("enrolled")
	} else if _, err := agent.LoadState(*stateDir); err != nil {
		if errors.Is(err, agent.ErrNotEnrolled) {
			return usageErr("%v", err)
		}
		return err
	}
	pwsh, err := findPwsh(ctx, *pwshPath, false, stderr)
	if err != nil {
		return err
	}
	pool, err := startPool(ctx, pwsh, bridge.Config{
		MinWorkers: 1, MaxWorkers: 1, MaxWorkersPerInstance: 1, QueueSize: 64, QueuePerInstance: 64,
		DefaultTimeout: 120 * time.Second, MaxTimeout: 24 * time.Hour, IdleTimeout: -1, Logger: &log,
	})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = pool.Close(cctx)
	}()
	cfg.Pool = pool
	cfg.UserPool = func(ctx context.Context, user string) (*bridge.Pool, error) { // -Context User
		return startPool(ctx, pwsh, bridge.Config{
			MinWorkers: 1, MaxWorkers: 1, MaxWorkersPerInstance: 1, QueueSize: 64, QueuePerInstance: 64,
			DefaultTimeout: 120 * time.Second, MaxTimeout: 24 * time.Hour, IdleTimeout: -1, Logger: &log, User: user,
		})
	}
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "psbridge agent: computer %d of tenant %d, server %s\n", a.State().ComputerID, a.State().TenantID, a.State().Server)
	return a.Run(ctx)
}

const enrollKeyUsage = `Usage: psbridge enrollment-key create --tenant ID [--expires DURATION] [--config FILE] [--data-dir DIR]

Creates a key that enrolls psbridge agents into tenant ID and prints it once (only its hash is
kept). --expires bounds its life (e.g. 24h; default: never). Revoke keys through the API
(DELETE /api/v1/tenants/{id}/enrollment-keys/{keyId}). Works with the server stopped (the
database) or running (its admin socket), like 'psbridge token'.
`

func runEnrollmentKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, enrollKeyUsage)
		return usageErr("enrollment-key needs the subcommand 'create'")
	}
	fs := newFlagSet("enrollment-key create", stderr, enrollKeyUsage)
	tenant := fs.Int64("tenant", 0, "the tenant the key enrolls computers into (required)")
	expires := fs.Duration("expires", 0, "how long the key stays valid (0: forever)")
	cfg, rest, err := config.Load(fs, args[1:], os.Environ())
	if err != nil {
		return configErr(err)
	}
	if len(rest) > 0 {
		return usageErr("enrollment-key create takes no arguments, got %q", rest)
	}
	if *tenant <= 0 || *expires < 0 {
		return usageErr("enrollment-key create needs --tenant ID (and a non-negative --expires)")
	}
	var out engine.NewEnrollmentKey
	if c, ok := dialAdmin(cfg.DataDir); ok {
		if err := c.do(http.MethodPost, "/api/v1/admin/enrollment-keys",
			api.AdminEnrollmentKeyInput{TenantID: *tenant, ExpiresInSeconds: int64(*expires / time.Second)}, &out); err != nil {
			return err
		}
	} else {
		st, err := openStore(cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		var exp time.Time
		if *expires > 0 {
			exp = time.Now().Add(*expires)
		}
		key, k, err := st.CreateEnrollmentKey(*tenant, exp)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return &exitError{code: exitFailure, err: fmt.Errorf("no tenant has the id %d", *tenant)}
			}
			return err
		}
		out = engine.NewEnrollmentKey{EnrollmentKey: k, Key: key}
	}
	fmt.Fprintln(stdout, out.Key)
	tw := tabwriter.NewWriter(stderr, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "created enrollment key %s for tenant %d (expires %s); it is shown only now\n", out.ID, out.TenantID, when(out.ExpiresAt))
	return tw.Flush()
}
