// Command psbridge hosts PowerShell integration scripts written for ImmyBot's dynamic
// integrations and runs them unchanged: a supervised pool of pwsh workers, the compatibility
// module, and a service with a REST API and an HTTP plugin endpoint.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// exitError carries a process exit code with the message to print.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the script or a call failed
	exitUsage   = 2 // bad flags or parameters
	exitEnv     = 3 // pwsh missing or too old, module build failed
)

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

const mainUsage = `psbridge runs PowerShell integration scripts (ImmyBot dynamic integrations) unchanged.

Usage:
  psbridge <command> [flags]

Commands:
  demo           run the bundled SentinelOne example against a local fake SentinelOne API
  run            load an integration script, run Init and HealthCheck or one method, print JSON
  dev            run a script like run, then again each time it or a module is saved (edit loop)
  new            write a skeleton integration for the capabilities you name (docs/tutorial.md)
  serve          serve the pages, REST API, plugin endpoint and console over a pool of pwsh workers
  token          create, list or revoke API tokens (also while serve runs)
  agent          run the psbridge agent on a managed computer (enroll once, then stay connected)
  enrollment-key create a key that enrolls agents into a tenant (also while serve runs)
  app create     register an OAuth application for the client-credentials grant (also while serve runs)
  user           create, list or delete users of an external OIDC issuer (also while serve runs)
  backup         write a consistent copy of the database
  key rotate     re-encrypt every stored secret under a new key
  console        open a debugging console (pwsh with an integration loaded) on a server or --local
  fake-s1        serve the fake SentinelOne API (for trying scripts by hand)
  install-pwsh   install PowerShell with the .NET SDK into psbridge's cache
  config         print the effective configuration (defaults < YAML < PSBRIDGE_* env < flags)
  healthcheck    exit 0 when a running server is ready (for container HEALTHCHECKs)
  version        print versions

Run 'psbridge <command> -h' for the flags of a command.

Examples:
  psbridge demo
  psbridge serve --listen 127.0.0.1:8080 --data-dir /var/lib/psbridge
  psbridge run testdata/examples/07-sentinelone.ps1 --module testdata/modules/SentinelOne.psm1 \
      --param S1Uri=http://127.0.0.1:8081/ --param S1ApiKey=demo-token --call GetClients
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err == nil {
		return
	}
	code := exitFailure
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if !errors.Is(err, errSilent) {
		fmt.Fprintln(os.Stderr, "psbridge:", err)
	}
	os.Exit(code)
}

// errSilent marks a failure already reported to the user.
var errSilent = errors.New("failed")

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage)
		return &exitError{code: exitUsage, err: errSilent}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "demo":
		return runDemo(ctx, rest, stdout, stderr)
	case "run":
		return runRun(ctx, rest, stdout, stderr)
	case "dev":
		return runDev(ctx, rest, stdout, stderr)
	case "new":
		return runNew(ctx, rest, stdout, stderr)
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "token":
		return runToken(ctx, rest, stdout, stderr)
	case "backup":
		return runBackup(ctx, rest, stdout, stderr)
	case "key":
		return runKey(ctx, rest, stdout, stderr)
	case "fake-s1":
		return runFakeS1(ctx, rest, stdout, stderr)
	case "install-pwsh":
		return runInstallPwsh(ctx, rest, stdout, stderr)
	case "version", "--version":
		return runVersion(ctx, rest, stdout, stderr)
	case "config":
		return runConfig(ctx, rest, stdout, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, rest, stdout, stderr)
	case "console":
		return runConsole(ctx, rest, stdout, stderr)
	case "agent":
		return runAgent(ctx, rest, stdout, stderr)
	case "enrollment-key":
		return runEnrollmentKey(ctx, rest, stdout, stderr)
	case "app":
		return runApp(ctx, rest, stdout, stderr)
	case "user":
		return runUser(ctx, rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, mainUsage)
		return nil
	}
	fmt.Fprint(stderr, mainUsage)
	return usageErr("unknown command %q", cmd)
}
