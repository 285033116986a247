// Package logging builds psbridge's service logger and fixes the names of its fields, so every
// component logs the same keys (operators grep and index them) and nothing else: script output
// goes to the call log, never here, and parameter or $IntegrationContext values are never
// logged at all.
package logging

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// Stable field names. Use these constants, not string literals, in log calls.
const (
	FieldComponent  = "component"   // bridge, engine, api, plugin, console, store
	FieldInstance   = "instance"    // integration instance id
	FieldMethod     = "method"      // integration method (Init, GetClients, …)
	FieldWorkerPID  = "worker_pid"  // pwsh worker process id
	FieldRequestID  = "request_id"  // HTTP request id (X-Request-Id)
	FieldDurationMS = "duration_ms" // how long the thing took, in milliseconds
	FieldRoute      = "route"       // HTTP route pattern
	FieldStatus     = "status"      // HTTP status code
)

// Options selects the level and format.
type Options struct {
	// Level is debug, info, warn or error.
	Level string
	// Format is json, console, or auto (console when the output is a terminal).
	Format string
}

// New returns a logger writing to w, with a timestamp on every event.
func New(w io.Writer, opts Options) (zerolog.Logger, error) {
	level, err := parseLevel(opts.Level)
	if err != nil {
		return zerolog.Nop(), err
	}
	format := opts.Format
	if format == "" || format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			format = "console"
		}
	}
	switch format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
	default:
		return zerolog.Nop(), fmt.Errorf("log format %q: want json, console or auto", opts.Format)
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}

func parseLevel(s string) (zerolog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "info":
		return zerolog.InfoLevel, nil
	case "debug":
		return zerolog.DebugLevel, nil
	case "warn", "warning":
		return zerolog.WarnLevel, nil
	case "error":
		return zerolog.ErrorLevel, nil
	}
	return zerolog.NoLevel, fmt.Errorf("log level %q: want debug, info, warn or error", s)
}

// Component returns a child logger tagged with a component name.
func Component(l zerolog.Logger, name string) zerolog.Logger {
	return l.With().Str(FieldComponent, name).Logger()
}

// Millis is a duration as the float milliseconds logged under FieldDurationMS.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
