package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/psbridge/psbridge/internal/fakes1"
)

const fakeS1Usage = `Usage: psbridge fake-s1 [--listen ADDR] [--token TOKEN] [--sites N] [--agents N]

Serves a fake SentinelOne management API (web/api/v2.1: system/info, sites, sites/{id}, agents
with cursor pagination, APIToken auth with 401 on a bad token) for trying integration scripts
without a real tenant. Ctrl-C stops it.
`

func runFakeS1(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fake-s1", stderr, fakeS1Usage)
	listen := fs.String("listen", "127.0.0.1:8081", "address to listen on")
	token := fs.String("token", fakes1.DefaultAPIToken, "API token the fake accepts")
	sites := fs.Int("sites", fakes1.DefaultSites, "number of sites")
	agents := fs.Int("agents", fakes1.DefaultTotalAgents, "number of agents across all sites")
	latency := fs.Duration("latency", 0, "artificial latency per request")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fake := fakes1.New(fakes1.Config{APIToken: *token, Sites: *sites, TotalAgents: *agents, Latency: *latency})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return usageErr("listen %s: %v", *listen, err)
	}
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "fake SentinelOne API on http://%s/ (token %q, %d sites, %d agents); Ctrl-C stops\n", ln.Addr(), *token, *sites, *agents)
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
