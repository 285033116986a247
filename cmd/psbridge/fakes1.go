package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/psbridge/psbridge/internal/fakes1"
)

const fakeS1Long = `Serves a fake SentinelOne management API (web/api/v2.1: system/info, sites, sites/{id}, agents
with cursor pagination, APIToken auth with 401 on a bad token) for trying integration scripts
without a real tenant. Ctrl-C stops it.`

func newFakeS1Cmd() *cobra.Command {
	var o fakeS1Options
	cmd := &cobra.Command{
		Use:         "fake-s1",
		Short:       "serve the fake SentinelOne API (for trying scripts by hand)",
		Long:        fakeS1Long,
		Annotations: synopsis("psbridge fake-s1 [--listen ADDR] [--token TOKEN] [--sites N] [--agents N] [--latency DURATION]"),
		Example: `  psbridge fake-s1
  psbridge fake-s1 --listen 127.0.0.1:9001 --token demo-token --sites 5 --agents 1200`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFakeS1(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.listen, "listen", "127.0.0.1:8081", "address to listen on")
	cmd.Flags().StringVar(&o.token, "token", fakes1.DefaultAPIToken, "API token the fake accepts")
	cmd.Flags().IntVar(&o.sites, "sites", fakes1.DefaultSites, "number of sites")
	cmd.Flags().IntVar(&o.agents, "agents", fakes1.DefaultTotalAgents, "number of agents across all sites")
	cmd.Flags().DurationVar(&o.latency, "latency", 0, "artificial latency per request")
	return cmd
}

// fakeS1Options are fake-s1's flags.
type fakeS1Options struct {
	listen, token string
	sites, agents int
	latency       time.Duration
}

func runFakeS1(ctx context.Context, o fakeS1Options, stdout io.Writer) error {
	fake := fakes1.New(fakes1.Config{APIToken: o.token, Sites: o.sites, TotalAgents: o.agents, Latency: o.latency})
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return usageErr("listen %s: %v", o.listen, err)
	}
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "fake SentinelOne API on http://%s/ (token %q, %d sites, %d agents); Ctrl-C stops\n", ln.Addr(), o.token, o.sites, o.agents)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}
