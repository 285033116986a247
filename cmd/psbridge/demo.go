package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/psbridge/psbridge"
	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/fakes1"
	"github.com/psbridge/psbridge/psmodule"
	"github.com/psbridge/psbridge/web"
	"github.com/psbridge/psbridge/web/console"
)

const demoLong = `Runs the vendor's SentinelOne example integration (testdata/examples/07-sentinelone.ps1, bundled
in the binary) unchanged against a fake SentinelOne API on this machine: Init, HealthCheck,
GetClients, GetAgents (all pages), GetTenantInstallToken and HandleHttpRequest, through a pool
of warm pwsh workers. Then, unless --once is given, it starts the psbridge server on a
temporary database with the SentinelOne module, type and an instance ready, prints the URLs and
an API token, and serves until Ctrl-C.

If pwsh is missing and the .NET SDK is present, demo installs pwsh first (psbridge install-pwsh).`

func newDemoCmd() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:         "demo",
		Short:       "run the bundled SentinelOne example against a local fake SentinelOne API",
		Long:        demoLong,
		Annotations: synopsis("psbridge demo [--once] [--listen ADDR] [--serve ADDR] [--pwsh FILE]"),
		Example: `  psbridge demo
  psbridge demo --once                    # the walkthrough only, no server afterwards
  psbridge demo --serve 127.0.0.1:9090`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDemo(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().BoolVar(&o.once, "once", false, "exit after the walkthrough instead of serving the fake API")
	cmd.Flags().StringVar(&o.listen, "listen", "127.0.0.1:0", "address for the fake SentinelOne API")
	cmd.Flags().StringVar(&o.serve, "serve", "127.0.0.1:8080", "address for the psbridge server after the walkthrough (a free port if taken)")
	cmd.Flags().StringVar(&o.pwsh, "pwsh", "", "pwsh binary (default: $PSBRIDGE_PWSH, PATH, .NET tool folders)")
	return cmd
}

// demoOptions are demo's flags.
type demoOptions struct {
	once                bool
	listen, serve, pwsh string
}

func runDemo(ctx context.Context, o demoOptions, stdout, stderr io.Writer) error {
	script, err := psbridge.Examples.ReadFile("testdata/examples/07-sentinelone.ps1")
	if err != nil {
		return err
	}
	module, err := psbridge.Examples.ReadFile("testdata/modules/SentinelOne.psm1")
	if err != nil {
		return err
	}

	fake := fakes1.New(fakes1.Config{})
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return usageErr("listen %s: %v", o.listen, err)
	}
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	apiURL := "http://" + ln.Addr().String() + "/"

	pwsh, err := findPwsh(ctx, o.pwsh, true, stderr)
	if err != nil {
		return err
	}
	start := time.Now()
	pool, err := startPool(ctx, pwsh, bridge.Config{MinWorkers: 2, MaxWorkers: 2})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = pool.Close(cctx)
	}()
	fmt.Fprintf(stdout, "psbridge demo\n  pwsh:        %s (2 warm workers ready in %s)\n  fake API:    %s  (API token %q)\n  integration: testdata/examples/07-sentinelone.ps1 with module SentinelOne\n\n",
		pwsh, time.Since(start).Round(time.Millisecond), apiURL, fake.APIToken())

	d := &demoRun{
		pool:   pool,
		out:    stdout,
		script: bridge.Script{Instance: "demo-sentinelone", Name: "07-sentinelone.ps1", Text: string(script)},
		host:   bridge.Modules{"SentinelOne": string(module)},
		secret: fake.APIToken(),
	}
	desc, err := pool.Describe(ctx, d.script)
	if err != nil {
		return err
	}
	var caps []string
	for _, c := range desc.Capabilities {
		caps = append(caps, c.Interface)
	}
	fmt.Fprintf(stdout, "capabilities: %s\n\n", strings.Join(caps, ", "))

	if _, err := d.step(ctx, "Init", nil, map[string]any{"S1Uri": apiURL, "S1ApiKey": fake.APIToken()}, func(*bridge.Result) string { return "ok" }); err != nil {
		return err
	}
	if _, err := d.step(ctx, "HealthCheck", nil, nil, func(r *bridge.Result) string { return field(r.LastOfType("HealthCheckResult"), "status") }); err != nil {
		return err
	}
	clients, err := d.step(ctx, "GetClients", nil, nil, func(r *bridge.Result) string { return fmt.Sprintf("%d clients", len(r.Output)) })
	if err != nil {
		return err
	}
	var ids []any
	for _, o := range clients.Output {
		fmt.Fprintf(stdout, "    %-22s %s\n", field(o, "clientId"), field(o, "clientName"))
		ids = append(ids, field(o, "clientId"))
	}
	agents, err := d.step(ctx, "GetAgents", map[string]any{"ClientIds": ids}, nil, func(r *bridge.Result) string {
		return fmt.Sprintf("%d agents (the API pages 100 at a time)", len(r.Output))
	})
	if err != nil {
		return err
	}
	for i, o := range agents.Output {
		if i == 3 {
			fmt.Fprintf(stdout, "    … %d more\n", len(agents.Output)-3)
			break
		}
		fmt.Fprintf(stdout, "    %-38s %-16s %s\n", field(o, "agentId"), field(o, "name"), field(o, "agentVersion"))
	}
	if len(ids) > 0 {
		if _, err := d.step(ctx, "GetTenantInstallToken", map[string]any{"clientId": ids[0]}, nil, func(r *bridge.Result) string {
			if len(r.Output) == 0 {
				return "no token"
			}
			return "token " + truncate(field(r.Output[0], ""), 40)
		}); err != nil {
			return err
		}
	}
	if n, line := strayLine(string(script)); n > 0 {
		fmt.Fprintf(stdout, "(expected below: line %d of the vendor's example is a stray line, '%s',\n and psbridge runs the example verbatim, so PowerShell reports \"The term 'will' is not recognized\")\n", n, line)
	}
	if _, err := d.step(ctx, "HandleHttpRequest", map[string]any{
		"httpContext": map[string]any{"method": "POST", "path": "/plugins/api/v1/demo/hook", "headers": map[string]any{"Content-Type": []any{"application/json"}}},
		"body":        map[string]any{"event": "demo"}, "route": "hook",
	}, nil, func(r *bridge.Result) string {
		if len(r.Output) == 0 {
			return "no result"
		}
		return fmt.Sprintf("HTTP %s %s", field(r.Output[0], "statusCode"), field(r.Output[0], "value"))
	}); err != nil {
		return err
	}
	st := pool.Stats()
	fmt.Fprintf(stdout, "\n%d calls on %d workers; the API key never appeared in any output above.\n", st.Calls, st.Workers)
	if o.once {
		return nil
	}
	return serveDemo(ctx, pool, pwsh, o.serve, apiURL, string(script), string(module), stdout)
}

// serveDemo serves psbridge on a temporary database holding the SentinelOne module, type and
// one instance pointing at the fake API, until ctx ends.
func serveDemo(ctx context.Context, pool *bridge.Pool, pwsh, addr, apiURL, script, module string, stdout io.Writer) error {
	dir, err := os.MkdirTemp("", "psbridge-demo-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(filepath.Join(dir, "psbridge.db"), store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	token, _, err := st.CreateToken("demo")
	if err != nil {
		return err
	}
	log := zerolog.New(io.Discard)
	eng, err := engine.New(engine.Config{Store: st, Pool: pool, Logger: &log})
	if err != nil {
		return err
	}
	defer eng.Close()
	if _, err := eng.PutModule("SentinelOne", module, true); err != nil {
		return err
	}
	typ, err := eng.CreateType(ctx, engine.TypeInput{Name: "SentinelOne", Description: "the docs' SentinelOne example", Script: script, ScriptName: "SentinelOne.ps1"})
	if err != nil {
		return err
	}
	inst, err := eng.CreateInstance(ctx, engine.InstanceInput{Name: "SentinelOne (fake API)", TypeID: typ.ID,
		FormData: map[string]any{"S1Uri": apiURL, "S1ApiKey": fakes1.DefaultAPIToken}})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
	}
	defer ln.Close()
	installed, err := psmodule.Install(ctx, cacheDir(), pwsh)
	if err != nil {
		return &exitError{code: exitEnv, err: err}
	}
	consoles, err := console.NewManager(console.Config{Pwsh: pwsh, ModuleManifest: installed.Manifest(), Instances: web.ConsoleSource(eng)})
	if err != nil {
		return &exitError{code: exitEnv, err: err}
	}
	eng.Start(ctx)
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, `
psbridge server (temporary database, removed on exit):
  pages:        %[1]s/sign-in   (sign in with the API token; the integration's Console tab runs GetClients)
  API:          %[1]s/api/v1   (OpenAPI: %[1]s/api/openapi.yaml)
  API token:    %[2]s
  integration:  %[1]s/api/v1/integrations/%[3]d   (health %[4]s)
  plugin:       %[1]s%[5]s/hook
  fake S1 API:  %[6]s
Try:
  curl -H 'Authorization: Bearer %[2]s' %[1]s/api/v1/integrations/%[3]d/clients
  curl -X POST -H 'Authorization: Bearer %[2]s' %[1]s/api/v1/integrations/%[3]d/agents/sync
  curl -X POST -H 'Content-Type: application/json' -d '{"event":"demo"}' %[1]s%[5]s/hook
Ctrl-C stops.
`, base, token, inst.ID, inst.Health.Status, inst.PluginBaseURL, apiURL)
	return serveHTTP(ctx, ln, eng, consoles, &log)
}

// strayLine finds the line of the vendor's SentinelOne example that is prose, not PowerShell
// ('will response to "plugins/api/v1/{providerLinkId}"' in HandleHttpRequest), which PowerShell
// runs as a command named 'will' (testdata/examples/README.md): its number and text, or 0.
func strayLine(script string) (int, string) {
	for i, l := range strings.Split(script, "\n") {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "will ") {
			return i + 1, t
		}
	}
	return 0, ""
}

type demoRun struct {
	pool    *bridge.Pool
	out     io.Writer
	script  bridge.Script
	host    bridge.Host
	secret  string
	context json.RawMessage
}

// step runs one method, printing its stream records indented and a one-line summary.
func (d *demoRun) step(ctx context.Context, method string, args, form map[string]any, summary func(*bridge.Result) string) (*bridge.Result, error) {
	fmt.Fprintf(d.out, "%s\n", method)
	r, err := d.pool.Invoke(ctx, bridge.Call{
		Script: d.script, Method: method, Args: args, FormData: form, Context: d.context, Secrets: []string{d.secret}, Host: d.host,
		OnRecord: func(rec bridge.Record) {
			for _, line := range strings.Split(strings.TrimRight(rec.String(), "\n"), "\n") {
				if strings.TrimSpace(line) != "" {
					fmt.Fprintf(d.out, "  | %s\n", truncate(line, 110))
				}
			}
		},
	})
	if err != nil {
		var se *bridge.ScriptError
		if errors.As(err, &se) && se.PositionMessage != "" {
			fmt.Fprintln(d.out, se.PositionMessage)
		}
		return nil, fmt.Errorf("%s failed: %w", method, err)
	}
	d.context = r.Context
	outcome := summary(r)
	if r.HadErrors {
		outcome += "; " + store.CallCompletedWithErrors // as run, the API and the pages say it
	}
	fmt.Fprintf(d.out, "  => %s (%s on worker %d)\n", outcome, r.Duration.Round(time.Millisecond), r.Worker)
	return r, nil
}

// field reads one field of a JSON object as text ("" reads a JSON string itself).
func field(raw json.RawMessage, name string) string {
	if raw == nil {
		return ""
	}
	var v any
	if name == "" {
		_ = json.Unmarshal(raw, &v)
	} else {
		var m map[string]any
		if json.Unmarshal(raw, &m) != nil {
			return ""
		}
		v = m[name]
	}
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
