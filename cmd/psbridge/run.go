package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/mask"
)

// listMethods always print as arrays, whatever the count.
var listMethods = map[string]bool{"getclients": true, "getagents": true, "getdynamicversions": true}

const runLong = `Loads an integration script (New-DynamicIntegration ... Add-DynamicIntegrationCapability ...),
runs Init with the --param values, then HealthCheck, or the --call method with its --arg values.

  stdout  the result as JSON: without --call, {"health": …, "capabilities": […]};
          with --call, the method's output (GetClients/GetAgents: an array of objects with
          camelCase fields such as clientId, clientName, agentId, serialNumber)
  stderr  the script's streams as they happen (warnings, Write-Host, progress, errors; add
          --verbose for Write-Verbose and Write-Debug), with secrets masked
  exit    0 success; 1 the script failed or reported unhealthy; 2 bad flags or parameters;
          3 pwsh missing or too old; 4 completed with errors: Init or the method wrote
          non-terminating errors (Write-Error) but returned (0 with --allow-errors)

--param values are checked against Init's param() block first: a missing mandatory parameter
or a value of the wrong type exits 2 naming the parameter. An --arg value that parses as JSON
is passed as that value (42, true, ["a","b"], {"k":1}); anything else is passed as a string.
Modules given with --module are what Import-Module NAME finds: --module NAME=FILE names the module
NAME whatever its file is called (.psm1 or .ps1); --module FILE names it after the file without
its extension. A module the script imports (Import-Module, #Requires -Modules, using module) that
is neither a --module nor available to pwsh is named in a warning before Init runs.`

const runExample = `  psbridge run testdata/examples/07-sentinelone.ps1 --module testdata/modules/SentinelOne.psm1 \
      --param S1Uri=http://127.0.0.1:8081/ --param S1ApiKey=demo-token
  psbridge run testdata/examples/07-sentinelone.ps1 --module testdata/modules/SentinelOne.psm1 \
      --param S1Uri=http://127.0.0.1:8081/ --param S1ApiKey=demo-token \
      --call GetAgents --arg 'ClientIds=["1000000000000000001"]'`

// runSynopsis is run's usage after the command name (dev takes the same).
const runSynopsis = "SCRIPT [--module [NAME=]FILE]... [--param NAME=VALUE]... [--call METHOD [--arg NAME=VALUE]...]"

func newRunCmd() *cobra.Command {
	rf := &runFlags{}
	cmd := &cobra.Command{
		Use:         "run SCRIPT",
		Short:       "load an integration script, run Init and HealthCheck or one method, print JSON",
		Long:        runLong,
		Example:     runExample,
		Annotations: synopsis("psbridge run " + runSynopsis),
		Args:        exactlyOne("SCRIPT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := rf.spec(args[0])
			if err != nil {
				return err
			}
			return runRun(cmd.Context(), rf.pwsh, spec, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	rf.register(cmd.Flags())
	return cmd
}

func runRun(ctx context.Context, pwshFlag string, spec *runSpec, stdout, stderr io.Writer) error {
	pwsh, err := findPwsh(ctx, pwshFlag, false, stderr)
	if err != nil {
		return err
	}
	pool, err := startPool(ctx, pwsh, bridge.Config{MinWorkers: 1, MaxWorkers: 1})
	if err != nil {
		return err
	}
	defer closePool(pool)
	return runOnce(ctx, pool, spec, stdout, stderr)
}

// runFlags are the flags run and dev share.
type runFlags struct {
	modules, params, callArgs []string
	call, pwsh                string
	timeout                   time.Duration
	verbose, allowErrors      bool
}

// register defines run's flags (shared with dev) on fs.
func (rf *runFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&rf.modules, "module", nil, "module script `[NAME=]FILE` (.psm1 or .ps1) that Import-Module NAME finds; NAME defaults to the file name (repeatable)")
	fs.StringArrayVar(&rf.params, "param", nil, "Init parameter `NAME=VALUE` (repeatable)")
	fs.StringVar(&rf.call, "call", "", "`METHOD` to call after Init instead of HealthCheck (e.g. GetClients)")
	fs.StringArrayVar(&rf.callArgs, "arg", nil, "argument `NAME=VALUE` for --call (repeatable; JSON values are decoded)")
	fs.StringVar(&rf.pwsh, "pwsh", "", "pwsh binary (default: $PSBRIDGE_PWSH, PATH, .NET tool folders)")
	fs.DurationVar(&rf.timeout, "timeout", 0, "script deadline per call (default: [ScriptTimeout] or 60s)")
	fs.BoolVar(&rf.verbose, "verbose", false, "also show Write-Verbose and Write-Debug records")
	fs.BoolVar(&rf.allowErrors, "allow-errors", false, "exit 0 when Init or the method wrote non-terminating errors but returned (default: exit 4)")
}

// runSpec is one checked run: what to load, how to initialise it and what to call.
type runSpec struct {
	scriptPath  string
	modules     []string
	form        map[string]any
	call        string
	methodArgs  map[string]any
	timeout     time.Duration
	verbose     bool
	allowErrors bool
}

// spec checks the parsed flags (NAME=VALUE pairs, --arg names) and makes the run of script.
func (rf *runFlags) spec(script string) (*runSpec, error) {
	if len(rf.callArgs) > 0 && rf.call == "" {
		return nil, usageErr("--arg needs --call")
	}
	spec := &runSpec{scriptPath: script, modules: rf.modules, form: map[string]any{}, call: rf.call,
		methodArgs: map[string]any{}, timeout: rf.timeout, verbose: rf.verbose, allowErrors: rf.allowErrors}
	for _, p := range rf.params {
		name, value, err := splitAssignment("param", p)
		if err != nil {
			return nil, err
		}
		spec.form[name] = value
	}
	for _, a := range rf.callArgs {
		name, value, err := splitAssignment("arg", a)
		if err != nil {
			return nil, err
		}
		if !engine.ValidArgName(name) {
			return nil, usageErr("--arg %s: %v", name, (&engine.ArgNameError{Name: name}).Error())
		}
		var decoded any
		if json.Unmarshal([]byte(value), &decoded) == nil {
			spec.methodArgs[name] = decoded
		} else {
			spec.methodArgs[name] = value
		}
	}
	return spec, nil
}

// closePool stops a pool's workers, waiting at most 10 s.
func closePool(pool *bridge.Pool) {
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = pool.Close(cctx)
}

// runOnce reads the script and modules from disk, loads the script into pool, runs Init and
// HealthCheck or the --call method, and prints the result as JSON to stdout.
func runOnce(ctx context.Context, pool *bridge.Pool, spec *runSpec, stdout, stderr io.Writer) error {
	scriptPath := spec.scriptPath
	text, err := os.ReadFile(scriptPath)
	if err != nil {
		return usageErr("read script: %v", err)
	}
	host, err := bridge.LoadModuleFiles(spec.modules...)
	if err != nil {
		return usageErr("%v", err)
	}

	abs, _ := filepath.Abs(scriptPath)
	script := bridge.Script{Instance: "run", Name: abs, Text: string(text)}
	desc, err := pool.Describe(ctx, script)
	if err != nil {
		return reportCallError(stderr, "load "+scriptPath, err)
	}
	for _, w := range desc.MissingModules(ctx, host) {
		fmt.Fprintf(stderr, "psbridge: warning: %s\n", w)
	}
	initInfo, _ := desc.Method("Init")
	values, ferrs := engine.ValidateForm(initInfo.Parameters, spec.form)
	if len(ferrs) > 0 {
		for _, fe := range ferrs {
			fmt.Fprintf(stderr, "psbridge: parameter -%s %s\n", fe.Field, fe.Message)
		}
		return &exitError{code: exitUsage, err: errSilent}
	}
	secrets := engine.Secrets(initInfo.Parameters, values)
	onRecord := func(r bridge.Record) { fmt.Fprintln(stderr, r.String()) }
	prefs := bridge.Preferences{Verbose: spec.verbose, Debug: spec.verbose}

	initRes, err := pool.Invoke(ctx, bridge.Call{Script: script, Method: "Init", FormData: values, Secrets: secrets,
		Timeout: spec.timeout, OnRecord: onRecord, Preferences: prefs, Host: host})
	if err != nil {
		return reportCallError(stderr, "Init", err)
	}
	// What this command prints is masked like every other sink: the [Password()] values and
	// the context's strings that are not plain form values (docs/masking.md).
	set := mask.NewSet(secrets...)
	var public []string
	for _, v := range values {
		if str, ok := v.(string); ok && !slices.Contains(secrets, str) {
			public = append(public, str)
		}
	}
	if set.AddContext(initRes.Context, public) != nil {
		set.Add(string(initRes.Context))
	}
	if msg, failed := initRes.OpResultFailure(); failed {
		return &exitError{code: exitFailure, err: fmt.Errorf("Init returned a failed OpResult: %s", set.String(msg))}
	}
	var wroteErrors []string // the calls that completed with errors
	if initRes.HadErrors {
		wroteErrors = append(wroteErrors, "Init")
		fmt.Fprintln(stderr, "psbridge: Init "+store.CallCompletedWithErrors)
	}

	method := "HealthCheck"
	if spec.call != "" {
		if !desc.Supports(spec.call) {
			var have []string
			for name := range desc.Methods {
				have = append(have, name)
			}
			sort.Strings(have)
			return usageErr("the integration has no method %s (it has: %s)", spec.call, strings.Join(have, ", "))
		}
		method = spec.call
	}
	res, err := pool.Invoke(ctx, bridge.Call{Script: script, Method: method, Args: spec.methodArgs, Context: initRes.Context,
		Secrets: secrets, Public: public, Timeout: spec.timeout, OnRecord: onRecord, Preferences: prefs, Host: host})
	if err != nil {
		return reportCallError(stderr, method, err)
	}
	for i, o := range res.Output {
		res.Output[i] = set.JSON(o)
	}
	if res.HadErrors {
		wroteErrors = append(wroteErrors, method)
		fmt.Fprintln(stderr, "psbridge: "+method+" "+store.CallCompletedWithErrors)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if spec.call != "" {
		if err := enc.Encode(shapeOutput(method, res.Output)); err != nil {
			return err
		}
		return runExit(wroteErrors, spec.allowErrors)
	}
	health := res.LastOfType("HealthCheckResult")
	if err := enc.Encode(map[string]any{"health": health, "capabilities": desc.Capabilities}); err != nil {
		return err
	}
	var h struct {
		Status  any    `json:"status"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(health, &h)
	// The same names and mapping as the API and the pages (store.HealthStatusOf).
	if status := store.HealthStatusOf(h.Status); health == nil || status != store.StatusHealthy {
		if health == nil {
			h.Message = "HealthCheck returned no HealthCheckResult (use New-HealthyResult or New-UnhealthyResult)"
		}
		return &exitError{code: exitFailure, err: fmt.Errorf("HealthCheck reported %s: %s", status, set.String(h.Message))}
	}
	return runExit(wroteErrors, spec.allowErrors)
}

// exitErrors is run's exit status when the calls returned but wrote non-terminating errors.
const exitErrors = 4

// runExit is run's exit status once its calls returned: exitErrors when any of them wrote
// non-terminating errors (the calls named in wroteErrors), unless allowErrors.
func runExit(wroteErrors []string, allowErrors bool) error {
	if len(wroteErrors) == 0 || allowErrors {
		return nil
	}
	return &exitError{code: exitErrors, err: fmt.Errorf("exit %d: %s wrote errors (--allow-errors exits 0)", exitErrors, strings.Join(wroteErrors, " and "))}
}

// shapeOutput prints listing methods as arrays and single values as themselves.
func shapeOutput(method string, out []json.RawMessage) any {
	if listMethods[strings.ToLower(method)] {
		if out == nil {
			return []json.RawMessage{}
		}
		return out
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return out
}

// reportCallError prints a call's failure with its PowerShell position and returns exit 1.
func reportCallError(stderr io.Writer, what string, err error) error {
	var se *bridge.ScriptError
	if errors.As(err, &se) {
		fmt.Fprintf(stderr, "psbridge: %s failed: %v\n", what, se)
		if se.PositionMessage != "" {
			fmt.Fprintln(stderr, se.PositionMessage)
		}
		return &exitError{code: exitFailure, err: errSilent}
	}
	var ns *bridge.NotSupportedError
	if errors.As(err, &ns) {
		return usageErr("%s: %v", what, err)
	}
	return &exitError{code: exitFailure, err: fmt.Errorf("%s failed: %w", what, err)}
}
