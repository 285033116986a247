package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/psmodule"
	"github.com/psbridge/psbridge/web/console"
)

const consoleLong = `Opens the debugging console: an interactive pwsh for trying and debugging integration scripts.

With --url, it attaches to a psbridge server's console (GET /api/v1/console/ws, the same API
token as the REST API). With --instance, the session loads that integration instance: its
script, module scripts and saved configuration, with these commands at the prompt:

  Invoke-IntegrationMethod GetClients           run a method (Init, HealthCheck, GetAgents, ...)
  GetAgents -clientIds 42                       the same, one function per method
  Get-IntegrationMethod                         list the methods and their parameters
  Set-PSBreakpoint -Script <path> -Line 12      stop inside Init, HealthCheck or a capability

$IntegrationContext is reachable only while a method runs, and every secret (password form
values, every string in $IntegrationContext) is masked in the output.

With --local, no server is needed: pwsh runs here, in-process. Add --script to load an
integration script the same way (--param values fill Init's parameters; Init runs at start).
The script and --module files run in place, so breakpoints set on them hit and 'reload' picks up
edits; --module NAME=FILE makes Import-Module NAME load FILE whatever it is called.

Press Ctrl-] to detach: the session keeps running for its reconnect window (60 s by default);
re-attach with --session ID. Typing 'exit' ends the session; its exit code becomes this
command's exit code.`

const consoleExample = `  psbridge console --url http://127.0.0.1:8080 --token "$PSBRIDGE_TOKEN"
  psbridge console --url https://psbridge.example 3              # load integration 3
  psbridge console --url https://psbridge.example --session 8c1d...   # re-attach
  psbridge console --local
  psbridge console --local --script testdata/examples/07-sentinelone.ps1 \
      --module testdata/modules/SentinelOne.psm1 \
      --param S1Uri=http://127.0.0.1:8081/ --param S1ApiKey=demo-token`

func newConsoleCmd() *cobra.Command {
	var o consoleOptions
	cmd := &cobra.Command{
		Use:   "console [INSTANCE]",
		Short: "open a debugging console (pwsh with an integration loaded) on a server or --local",
		Long:  consoleLong,
		Annotations: synopsis("psbridge console [--url URL] [--token TOKEN] [INSTANCE | --instance ID] [--session ID]",
			"psbridge console --local [--script FILE [--module [NAME=]FILE]... [--param NAME=VALUE]...]"),
		Example: consoleExample,
		Args:    cobra.ArbitraryArgs, // at most one, checked with the flags it goes with
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConsole(cmd.Context(), o, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.serverURL, "url", "", "server `URL` (default $PSBRIDGE_URL, else http://127.0.0.1:8080)")
	fs.StringVar(&o.token, "token", "", "API `TOKEN` (default $PSBRIDGE_TOKEN)")
	fs.StringVar(&o.instance, "instance", "", "integration instance `ID` to load into the session")
	fs.StringVar(&o.sessionID, "session", "", "re-attach to the open session `ID`")
	fs.BoolVar(&o.local, "local", false, "run the console here, without a server")
	fs.StringVar(&o.script, "script", "", "with --local: integration script `FILE` to load")
	fs.StringArrayVar(&o.modules, "module", nil, "with --local --script: module file `[NAME=]FILE` (.psm1, .ps1 or .psd1), used in place, that Import-Module NAME finds; NAME defaults to the file name (repeatable)")
	fs.StringArrayVar(&o.params, "param", nil, "with --local --script: Init parameter `NAME=VALUE` (repeatable)")
	fs.StringVar(&o.pwsh, "pwsh", "", "with --local: pwsh binary (default: $PSBRIDGE_PWSH, PATH, .NET tool folders)")
	return cmd
}

// consoleOptions are console's flags.
type consoleOptions struct {
	serverURL, token, instance, sessionID, script, pwsh string
	local                                               bool
	modules, params                                     []string
}

func runConsole(ctx context.Context, o consoleOptions, rest []string, stdout, stderr io.Writer) error {
	switch {
	case len(rest) == 1 && o.instance == "" && !o.local:
		o.instance = rest[0] // psbridge console INSTANCE
	case len(rest) > 0:
		return usageErr("console takes at most one argument, the instance ID, got %q (see psbridge console -h)", rest)
	}
	if !o.local && (o.script != "" || len(o.modules) > 0 || len(o.params) > 0) {
		return usageErr("--script, --module and --param need --local (a server loads instances with --instance)")
	}
	if o.local && (o.instance != "" || o.sessionID != "" || o.serverURL != "" || o.token != "") {
		return usageErr("--url, --token, --instance and --session need a server; with --local, load a script with --script")
	}

	in, out := os.Stdin, stdout
	if o.local {
		if err := console.Supported(); err != nil {
			return &exitError{code: exitEnv, err: err}
		}
	}
	cols, rows := termSize(in)
	var conn console.Conn
	if o.local {
		lc, cleanup, err := openLocalConsole(ctx, o.pwsh, o.script, o.modules, o.params, cols, rows, stderr)
		if err != nil {
			return err
		}
		defer cleanup()
		conn = lc
	} else {
		if o.token == "" {
			o.token = os.Getenv("PSBRIDGE_TOKEN")
		}
		if o.serverURL == "" {
			o.serverURL = consoleEnvOr("PSBRIDGE_URL", "http://127.0.0.1:8080")
		}
		q := url.Values{}
		if o.instance != "" {
			q.Set("instance", o.instance)
		}
		if o.sessionID != "" {
			q.Set("session", o.sessionID)
		}
		if cols > 0 {
			q.Set("cols", strconv.Itoa(cols))
			q.Set("rows", strconv.Itoa(rows))
		}
		wsURL, err := console.WebsocketURL(o.serverURL, q)
		if err != nil {
			return usageErr("%v", err)
		}
		h := http.Header{}
		if o.token != "" {
			h.Set("Authorization", "Bearer "+o.token)
		}
		c, err := console.Dial(ctx, wsURL, h)
		if err != nil {
			return err
		}
		conn = c
	}
	fmt.Fprintf(stderr, "psbridge console: session %s (Ctrl-] detaches)\r\n", conn.SessionID())

	restore, err := makeRaw(in)
	if err != nil {
		conn.Close()
		return err
	}
	resize := make(chan [2]int, 1)
	stopResize := watchResize(in, resize) // term_*.go
	code, runErr := console.Run(ctx, conn, in, out, resize)
	stopResize()
	restore()

	switch {
	case errors.Is(runErr, console.ErrDetached) && o.local:
		fmt.Fprintln(stderr, "\npsbridge console: detached; a --local session ends with this command")
		return nil
	case errors.Is(runErr, console.ErrDetached):
		fmt.Fprintf(stderr, "\npsbridge console: detached; re-attach within the reconnect window with: psbridge console --session %s\n", conn.SessionID())
		return nil
	case runErr != nil:
		return &exitError{code: exitFailure, err: runErr}
	case code != 0:
		if code < 0 {
			code = exitFailure
		}
		return &exitError{code: code, err: errSilent}
	}
	return nil
}

func consoleEnvOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// openLocalConsole starts an in-process console manager and one session (loading script when
// given) and attaches to it.
func openLocalConsole(ctx context.Context, pwshFlag, script string, modules, params []string, cols, rows int, stderr io.Writer) (console.Conn, func(), error) {
	pwsh, err := findPwsh(ctx, pwshFlag, true, stderr)
	if err != nil {
		return nil, nil, err
	}
	cfg := console.Config{Pwsh: pwsh}
	instance := ""
	if script != "" {
		inst, err := localInstance(script, modules, params)
		if err != nil {
			return nil, nil, err
		}
		installed, err := psmodule.Install(ctx, cacheDir(), pwsh)
		if err != nil {
			return nil, nil, &exitError{code: exitEnv, err: err}
		}
		cfg.ModuleManifest = installed.Manifest()
		cfg.Instances = console.InstanceSourceFunc(func(context.Context, string, string) (console.ConsoleInstance, error) {
			return inst, nil
		})
		instance = "local"
	}
	m, err := console.NewManager(cfg)
	if err != nil {
		return nil, nil, &exitError{code: exitEnv, err: err}
	}
	owner := "local"
	if u, err := user.Current(); err == nil && u.Username != "" {
		owner = u.Username
	}
	s, err := m.Open(ctx, console.OpenOptions{User: owner, Instance: instance, Cols: cols, Rows: rows})
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	lc, err := console.Local(s)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return lc, func() { m.Close() }, nil
}

// localInstance reads a script, its modules and --param values into a ConsoleInstance. JSON
// values (numbers, true/false, arrays, objects) are decoded; anything else is a string.
func localInstance(script string, modules, params []string) (console.ConsoleInstance, error) {
	text, err := os.ReadFile(script)
	if err != nil {
		return console.ConsoleInstance{}, usageErr("--script: %v", err)
	}
	inst := console.ConsoleInstance{
		ScriptName:  filepath.Base(script),
		ScriptText:  string(text),
		ScriptPath:  script, // run in place: breakpoints on the file hit, reload sees edits
		ModulePaths: map[string]string{},
		FormData:    map[string]any{},
	}
	for _, m := range modules {
		name, file := bridge.ModuleSpec(m)
		if name == "" {
			return console.ConsoleInstance{}, usageErr("--module %q: no module name (give NAME=FILE)", m)
		}
		if _, err := os.Stat(file); err != nil {
			return console.ConsoleInstance{}, usageErr("--module: %v", err)
		}
		inst.ModulePaths[name] = file
	}
	for _, p := range params {
		name, value, err := splitAssignment("param", p)
		if err != nil {
			return console.ConsoleInstance{}, err
		}
		var v any = value
		var decoded any
		if t := strings.TrimSpace(value); t != "" && strings.ContainsAny(t[:1], "[{0123456789-tfn") && json.Unmarshal([]byte(t), &decoded) == nil && decoded != nil {
			v = decoded
		}
		inst.FormData[name] = v
	}
	return inst, nil
}
