package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/psbridge/psbridge/internal/config"
)

const configUsage = `Usage: psbridge config [--config FILE] [--SETTING VALUE]... [--reference]

Prints the effective configuration of 'psbridge serve' as key: value lines, with secrets
masked. Settings come from the built-in defaults, then the YAML file (--config FILE or
PSBRIDGE_CONFIG), then PSBRIDGE_* environment variables, then flags; each overrides the one
before. An unknown key in the file or an unknown PSBRIDGE_* variable is an error naming it.

YAML nests on the dots of a key:

  listen: 0.0.0.0:8080
  data-dir: /data
  workers:
    max: 4
    call-timeout: 2m

Examples:
  psbridge config
  PSBRIDGE_WORKERS_MAX=4 psbridge config --config psbridge.yaml
  psbridge config --reference > docs/configuration-reference.md
`

func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("config", stderr, configUsage)
	reference := fs.Bool("reference", false, "print the settings reference as a Markdown table instead")
	cfg, rest, err := config.Load(fs, args, os.Environ())
	if err != nil {
		return configErr(err)
	}
	if len(rest) > 0 {
		return usageErr("config takes no arguments, got %q", rest)
	}
	if *reference {
		return config.Reference(stdout)
	}
	return cfg.Print(stdout)
}

// configErr maps a config.Load error to an exit: help is success, anything else a usage error
// (flag errors were already printed by the flag set).
func configErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return &exitError{code: exitOK, err: errSilent}
	}
	return &exitError{code: exitUsage, err: err}
}

const healthcheckUsage = `Usage: psbridge healthcheck [--url URL] [--timeout DURATION] [config flags]

Exits 0 when the psbridge server answers GET /readyz with 200 (store open, workers warm, not
draining), 1 otherwise. Meant for container HEALTHCHECKs and scripts. Without --url it asks
the address 'psbridge serve' would listen on with the same configuration (a wildcard host
such as 0.0.0.0 is asked on 127.0.0.1).

Examples:
  psbridge healthcheck
  psbridge healthcheck --url http://127.0.0.1:8080/healthz
`

func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("healthcheck", stderr, healthcheckUsage)
	url := fs.String("url", "", "URL to ask (default: http://LISTEN/readyz)")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	cfg, _, err := config.Load(fs, args, os.Environ())
	if err != nil {
		return configErr(err)
	}
	target := *url
	if target == "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return usageErr("listen %q: %v", cfg.Listen, err)
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "127.0.0.1"
		}
		target = "http://" + net.JoinHostPort(host, port) + "/readyz"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return usageErr("healthcheck url: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s: %s", target, resp.Status, body)
	}
	fmt.Fprintf(stdout, "ok: %s\n", target)
	return nil
}
