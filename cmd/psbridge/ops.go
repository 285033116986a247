package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/psbridge/psbridge/internal/config"
)

const configLong = `Prints the effective configuration of 'psbridge serve' as key: value lines, with secrets
masked. Settings come from the built-in defaults, then the YAML file (--config FILE or
PSBRIDGE_CONFIG), then PSBRIDGE_* environment variables, then flags; each overrides the one
before. An unknown key in the file or an unknown PSBRIDGE_* variable is an error naming it.

YAML nests on the dots of a key:

  listen: 0.0.0.0:8080
  data-dir: /data
  workers:
    max: 4
    call-timeout: 2m`

func newConfigCmd() *cobra.Command {
	var reference bool
	var settings *config.Flags
	cmd := &cobra.Command{
		Use:         "config",
		Short:       "print the effective configuration (defaults < YAML < PSBRIDGE_* env < flags)",
		Long:        configLong,
		Annotations: synopsis("psbridge config [--config FILE] [--SETTING VALUE]... [--reference]"),
		Example: `  psbridge config
  PSBRIDGE_WORKERS_MAX=4 psbridge config --config psbridge.yaml
  psbridge config --reference > docs/configuration-reference.md`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := settings.Load(os.Environ())
			if err != nil {
				return configErr(err)
			}
			if reference {
				return config.Reference(cmd.OutOrStdout())
			}
			return cfg.Print(cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&reference, "reference", false, "print the settings reference as a Markdown table instead")
	settings = config.AddFlags(cmd.Flags())
	return cmd
}

const healthcheckLong = `Exits 0 when the psbridge server answers GET /readyz with 200 (store open, workers warm, not
draining), 1 otherwise. Meant for container HEALTHCHECKs and scripts. Without --url it asks
the address 'psbridge serve' would listen on with the same configuration (a wildcard host
such as 0.0.0.0 is asked on 127.0.0.1).`

func newHealthcheckCmd() *cobra.Command {
	var url string
	var timeout time.Duration
	var settings *config.Flags
	cmd := &cobra.Command{
		Use:         "healthcheck",
		Short:       "exit 0 when a running server is ready (for container HEALTHCHECKs)",
		Long:        healthcheckLong,
		Annotations: synopsis("psbridge healthcheck [--url URL] [--timeout DURATION] [--config FILE] [--listen ADDR]"),
		Example: `  psbridge healthcheck
  psbridge healthcheck --url http://127.0.0.1:8080/healthz`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := settings.Load(os.Environ())
			if err != nil {
				return configErr(err)
			}
			return runHealthcheck(cmd.Context(), cfg, url, timeout, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "URL to ask (default: http://LISTEN/readyz)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	settings = config.AddFlags(cmd.Flags(), "listen")
	return cmd
}

func runHealthcheck(ctx context.Context, cfg config.Config, url string, timeout time.Duration, stdout io.Writer) error {
	target := url
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
	ctx, cancel := context.WithTimeout(ctx, timeout)
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
