package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/psbridge/psbridge/agent"
	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/config"
	"github.com/psbridge/psbridge/web/api"
)

const agentLong = `Runs the psbridge agent on a managed computer. The first form enrolls the computer into the
enrollment key's tenant (a computer with the same device id is the same computer) and keeps
its credential in DIR/agent.json (mode 0600); then, and with the second form, it keeps one
outbound websocket to the server (reconnecting with backoff and jitter), reports the
computer's inventory and runs the scripts the server sends (Invoke-ImmyCommand blocks) in a
warm local pwsh. Stop it with SIGINT or SIGTERM.

After a maintenance session's install, upgrade or uninstall the server asks the agent whether
a reboot is pending (--reboot-pending-file exists, by default /var/run/reboot-required on
Linux; on Windows also the CBS RebootPending and Windows Update RebootRequired keys and
PendingFileRenameOperations) and, when the session's rebootPreference says so, to reboot: the
agent runs --reboot-command as a program and its arguments (no shell; quotes group words) and
answers once it exited, so the command must schedule the reboot rather than perform it.
--reboot-command none refuses reboots.`

func newAgentCmd() *cobra.Command {
	var o agentOptions
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "run the psbridge agent on a managed computer (enroll once, then stay connected)",
		Long:  agentLong,
		Annotations: synopsis("psbridge agent --server URL --enroll-key KEY --state-dir DIR [flags]",
			"psbridge agent --state-dir DIR [flags]"),
		Example: `  psbridge agent --server https://psbridge.example --enroll-key psbe_… --state-dir /var/lib/psbridge-agent
  psbridge agent --state-dir /var/lib/psbridge-agent        # later starts: the saved credential
  psbridge agent --state-dir /var/lib/psbridge-agent --reboot-command 'systemctl reboot --when=+5min'
  psbridge agent --state-dir /var/lib/psbridge-agent --reboot-command none   # never reboot`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAgent(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.server, "server", "", "the psbridge server's URL (enrollment only; kept in the state)")
	fs.StringVar(&o.key, "enroll-key", "", "an enrollment key (psbridge enrollment-key create); enrolls this computer")
	fs.StringVar(&o.stateDir, "state-dir", "", "directory for the agent's credential and state (required)")
	fs.StringVar(&o.pwsh, "pwsh", "", "the pwsh binary (default: found like 'psbridge serve' does)")
	fs.StringArrayVar(&o.inventory, "inventory", nil, "override an inventory field, KEY=VALUE (repeatable; keys: computerName, deviceId, serialNumber, …)")
	fs.StringArrayVar(&o.drives, "drive", nil, "map a drive in scripts' runspaces, NAME=DIR (repeatable; e.g. C=/srv/fake-c for Windows paths in tests)")
	fs.DurationVar(&o.minBackoff, "min-backoff", agent.DefaultMinBackoff, "first reconnect delay")
	fs.DurationVar(&o.maxBackoff, "max-backoff", agent.DefaultMaxBackoff, "longest reconnect delay")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.rebootCommand, "reboot-command", agent.DefaultRebootCommand(runtime.GOOS), "the command that reboots this computer for a maintenance session, run without a shell; none: refuse reboots")
	fs.StringVar(&o.rebootPendingFile, "reboot-pending-file", agent.DefaultRebootPendingFile(runtime.GOOS), "a file whose existence means a reboot is pending (empty: none)")
	return cmd
}

// agentOptions are the agent's flags.
type agentOptions struct {
	server, key, stateDir, pwsh, logLevel string
	rebootCommand, rebootPendingFile      string
	inventory, drives                     []string
	minBackoff, maxBackoff                time.Duration
}

func runAgent(ctx context.Context, o agentOptions, stdout, stderr io.Writer) (err error) {
	if o.stateDir == "" {
		return usageErr("agent needs --state-dir DIR")
	}
	if (o.server == "") != (o.key == "") {
		return usageErr("--server and --enroll-key go together (enrollment); without both the agent uses its saved state")
	}
	sv, err := agent.StartService(ctx, o.stateDir) // the Windows service control manager, if it started us
	if err != nil {
		return err
	}
	defer func() { sv.Stopped(err) }()
	if ctx = sv.Context; sv.Log != nil {
		stderr = sv.Log
	}
	overrides := map[string]string{}
	for _, kv := range o.inventory {
		k, v, err := splitAssignment("inventory", kv)
		if err != nil {
			return usageErr("%v", err)
		}
		overrides[k] = v
	}
	driveMap := map[string]string{}
	for _, kv := range o.drives {
		k, v, err := splitAssignment("drive", kv)
		if err != nil {
			return usageErr("%v", err)
		}
		driveMap[k] = v
	}
	rebootArgv, err := agent.ParseRebootCommand(o.rebootCommand)
	if err != nil {
		return usageErr("--reboot-command: %v", err)
	}
	lvl, err := zerolog.ParseLevel(o.logLevel)
	if err != nil {
		return usageErr("--log-level: %v", err)
	}
	log := zerolog.New(stderr).Level(lvl).With().Timestamp().Logger()
	cfg := agent.Config{StateDir: o.stateDir, Inventory: overrides, Drives: driveMap, MinBackoff: o.minBackoff, MaxBackoff: o.maxBackoff, Logger: &log,
		HTTPClient: &http.Client{Timeout: time.Minute}, RebootCommand: rebootArgv, RebootPendingFile: o.rebootPendingFile, SystemRebootChecks: true}
	if o.key != "" {
		st, err := agent.Enroll(ctx, cfg, o.server, o.key)
		if err != nil {
			return err
		}
		log.Info().Int64("computer", st.ComputerID).Int64("tenant", st.TenantID).Msg("enrolled")
	} else if _, err := agent.LoadState(o.stateDir); err != nil {
		if errors.Is(err, agent.ErrNotEnrolled) {
			return usageErr("%v", err)
		}
		return err
	}
	pwsh, err := findPwsh(ctx, o.pwsh, false, stderr)
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
	cfg.UserPool = func(ctx context.Context, user agent.LoggedOnUser) (*bridge.Pool, error) { // -Context User
		return startPool(ctx, pwsh, bridge.Config{
			MinWorkers: 1, MaxWorkers: 1, MaxWorkersPerInstance: 1, QueueSize: 64, QueuePerInstance: 64,
			DefaultTimeout: 120 * time.Second, MaxTimeout: 24 * time.Hour, IdleTimeout: -1, Logger: &log,
			User: user.Name, Token: user.Token, // Token on Windows, User elsewhere
		})
	}
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "psbridge agent: computer %d of tenant %d, server %s\n", a.State().ComputerID, a.State().TenantID, a.State().Server)
	return a.Run(ctx)
}

const enrollKeyLong = `Creates a key that enrolls psbridge agents into tenant ID and prints it once (only its hash is
kept). --expires bounds its life (e.g. 24h; default: never). Revoke keys through the API
(DELETE /api/v1/tenants/{id}/enrollment-keys/{keyId}). Works with the server stopped (the
database) or running (its admin socket), like 'psbridge token'.`

func newEnrollmentKeyCmd() *cobra.Command {
	const syn = "psbridge enrollment-key create --tenant ID [--expires DURATION] [--config FILE] [--data-dir DIR]"
	var tenant int64
	var expires time.Duration
	var settings *config.Flags
	create := &cobra.Command{
		Use:         "create",
		Short:       "create a key that enrolls agents into a tenant and print it once",
		Long:        enrollKeyLong,
		Annotations: synopsis(syn),
		Example:     "  psbridge enrollment-key create --tenant 3 --expires 24h --data-dir /var/lib/psbridge",
		Args:        noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := settings.Load(os.Environ())
			if err != nil {
				return configErr(err)
			}
			return runEnrollmentKeyCreate(cfg, tenant, expires, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	create.Flags().Int64Var(&tenant, "tenant", 0, "the tenant the key enrolls computers into (required)")
	create.Flags().DurationVar(&expires, "expires", 0, "how long the key stays valid (0: forever)")
	settings = config.AddFlags(create.Flags(), storeSettings...)
	ek := parentCmd("enrollment-key", "create a key that enrolls agents into a tenant (also while serve runs)", "'create'", create)
	ek.Long = enrollKeyLong
	ek.Annotations = synopsis(syn)
	return ek
}

func runEnrollmentKeyCreate(cfg config.Config, tenant int64, expires time.Duration, stdout, stderr io.Writer) error {
	if tenant <= 0 || expires < 0 {
		return usageErr("enrollment-key create needs --tenant ID (and a non-negative --expires)")
	}
	var out engine.NewEnrollmentKey
	if c, ok := dialAdmin(cfg.DataDir); ok {
		if err := c.do(http.MethodPost, "/api/v1/admin/enrollment-keys",
			api.AdminEnrollmentKeyInput{TenantID: tenant, ExpiresInSeconds: int64(expires / time.Second)}, &out); err != nil {
			return err
		}
	} else {
		st, err := openStore(cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		var exp time.Time
		if expires > 0 {
			exp = time.Now().Add(expires)
		}
		key, k, err := st.CreateEnrollmentKey(tenant, exp)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return &exitError{code: exitFailure, err: fmt.Errorf("no tenant has the id %d", tenant)}
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
