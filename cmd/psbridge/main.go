// Command psbridge hosts PowerShell integration scripts written for ImmyBot's dynamic
// integrations and runs them unchanged: a supervised pool of pwsh workers, the compatibility
// module, and a service with a REST API and an HTTP plugin endpoint.
package main

import (
	"context"
	"errors"
	"fmt"
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
