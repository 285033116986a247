package psmodule_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/internal/fakes1"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exampleScript(t *testing.T, file, instance string) bridge.Script {
	t.Helper()
	path := filepath.Join("..", "testdata", "examples", file)
	return bridge.Script{Instance: instance, Name: file, Text: readFile(t, path)}
}

func s1Module(t *testing.T) bridge.Modules {
	t.Helper()
	m, err := bridge.LoadModuleFiles(filepath.Join("..", "testdata", "modules", "SentinelOne.psm1"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEveryExampleLoads loads each restored example from the vendor's page and checks the
// capabilities the host finds, whether the script returns, emits or only assigns $Integration.
func TestEveryExampleLoads(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 2})
	cases := []struct {
		file string
		caps []string
	}{
		{"01-basic.ps1", nil},
		{"02-init-parameters.ps1", nil},
		{"03-init-context.ps1", nil},
		{"04-listing-clients.ps1", []string{"ISupportsListingClients"}},
		{"05-listing-agents.ps1", []string{"ISupportsListingAgents", "ISupportsListingClients"}},
		{"06-module.ps1", []string{"ISupportsListingAgents", "ISupportsListingClients"}},
		{"07-sentinelone.ps1", []string{"ISupportsHttpRequest", "ISupportsInventoryIdentification", "ISupportsListingAgents",
			"ISupportsListingClients", "ISupportsTenantInstallToken", "ISupportsTenantUninstallToken"}},
		{"08-webhook.ps1", []string{"ISupportsHttpRequest"}},
	}
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "examples", "*.ps1"))
	if len(files) != len(cases) {
		t.Fatalf("testdata/examples has %d scripts, the table %d: keep them in step", len(files), len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			d, err := p.Describe(context.Background(), exampleScript(t, tc.file, "load-"+tc.file))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range d.Capabilities {
				got = append(got, c.Interface)
			}
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(tc.caps, ",") {
				t.Fatalf("capabilities = %v, want %v", got, tc.caps)
			}
			if !d.Supports("Init") || !d.Supports("HealthCheck") {
				t.Fatalf("Init/HealthCheck missing: %+v", d.Methods)
			}
		})
	}
}

// s1Run runs the SentinelOne example's methods against the fake API and collects everything
// the calls wrote, so tests can check the API key never appears.
type s1Run struct {
	t       *testing.T
	pool    *bridge.Pool
	script  bridge.Script
	host    bridge.Host
	context json.RawMessage
	secrets []string
	seen    []string
}

func (r *s1Run) call(method string, args map[string]any, form map[string]any) (*bridge.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := r.pool.Invoke(ctx, bridge.Call{
		Script: r.script, Method: method, Args: args, FormData: form, Context: r.context, Secrets: r.secrets, Host: r.host,
		Preferences: bridge.Preferences{Verbose: true, Debug: true},
		OnRecord:    func(rec bridge.Record) { r.seen = append(r.seen, rec.Message) },
	})
	if err != nil {
		r.seen = append(r.seen, err.Error())
		var se *bridge.ScriptError
		if errors.As(err, &se) {
			r.seen = append(r.seen, se.PositionMessage)
		}
		return nil, err
	}
	for _, o := range res.Output {
		r.seen = append(r.seen, string(o))
	}
	r.context = res.Context
	return res, nil
}

func TestSentinelOneExampleAgainstTheFakeAPI(t *testing.T) {
	fake := fakes1.New(fakes1.Config{})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	// Two workers: calls land on both, so module state must not be what makes them work.
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 2, MaxWorkers: 2})
	apiKey := fake.APIToken()
	run := &s1Run{t: t, pool: p, script: exampleScript(t, "07-sentinelone.ps1", "s1"), host: s1Module(t), secrets: []string{apiKey}}

	initRes, err := run.call("Init", nil, map[string]any{"S1Uri": srv.URL + "/", "S1ApiKey": apiKey})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	if len(initRes.OutputTypes) == 0 || !strings.HasSuffix(initRes.OutputTypes[len(initRes.OutputTypes)-1], "OpResult") {
		t.Fatalf("Init output types %v", initRes.OutputTypes)
	}

	t.Run("HealthCheck", func(t *testing.T) {
		r, err := run.call("HealthCheck", nil, nil)
		if err != nil || len(r.Output) != 1 || !strings.Contains(string(r.Output[0]), `"Healthy"`) {
			t.Fatalf("HealthCheck = %v, %v", r, err)
		}
	})

	var clients []struct {
		ClientID   string `json:"clientId"`
		ClientName string `json:"clientName"`
	}
	t.Run("GetClients", func(t *testing.T) {
		for i := 0; i < 2; i++ { // once per worker
			r, err := run.call("GetClients", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			clients = clients[:0]
			for _, o := range r.Output {
				var c struct {
					ClientID   string `json:"clientId"`
					ClientName string `json:"clientName"`
				}
				if err := json.Unmarshal(o, &c); err != nil {
					t.Fatal(err)
				}
				clients = append(clients, c)
			}
			sites := fake.Sites()
			if len(clients) != len(sites) {
				t.Fatalf("got %d clients, want %d sites", len(clients), len(sites))
			}
			byID := map[string]string{}
			for _, s := range sites {
				byID[s.ID] = s.Name
			}
			for _, c := range clients {
				if byID[c.ClientID] != c.ClientName {
					t.Fatalf("client %+v does not match a site", c)
				}
			}
		}
	})

	t.Run("GetAgents-all-pages", func(t *testing.T) {
		var ids []any
		for _, s := range fake.Sites() {
			ids = append(ids, s.ID)
		}
		r, err := run.call("GetAgents", map[string]any{"ClientIds": ids}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]fakes1.Agent{}
		for _, a := range fake.Agents() {
			want[a.UUID] = a
		}
		if len(r.Output) != len(want) {
			t.Fatalf("got %d agents, want %d (all pages)", len(r.Output), len(want))
		}
		seen := map[string]bool{}
		for _, o := range r.Output {
			var a struct {
				AgentID      string `json:"agentId"`
				Name         string `json:"name"`
				ClientID     string `json:"clientId"`
				SerialNumber string `json:"serialNumber"`
				AgentVersion string `json:"agentVersion"`
				IsOnline     bool   `json:"isOnline"`
			}
			if err := json.Unmarshal(o, &a); err != nil {
				t.Fatal(err)
			}
			w, ok := want[a.AgentID]
			if !ok || seen[a.AgentID] {
				t.Fatalf("unexpected or duplicate agent %s", o)
			}
			seen[a.AgentID] = true
			if a.Name != w.ComputerName || a.ClientID != w.SiteID || a.SerialNumber != w.SerialNumber || a.AgentVersion != w.AgentVersion || !a.IsOnline {
				t.Fatalf("agent %s does not match %+v", o, w)
			}
		}
	})

	t.Run("GetTenantInstallToken", func(t *testing.T) {
		site := fake.Sites()[1]
		r, err := run.call("GetTenantInstallToken", map[string]any{"clientId": site.ID}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Output) != 1 || string(r.Output[0]) != `"`+site.RegistrationToken+`"` {
			t.Fatalf("token = %s, want %q", r.Output, site.RegistrationToken)
		}
	})

	t.Run("GetTenantUninstallToken", func(t *testing.T) {
		r, err := run.call("GetTenantUninstallToken", map[string]any{"clientId": "x"}, nil)
		if err != nil || len(r.Output) != 1 || string(r.Output[0]) != `"implement me"` {
			t.Fatalf("= %v, %v", r, err)
		}
	})

	t.Run("HandleHttpRequest", func(t *testing.T) {
		r, err := run.call("HandleHttpRequest", map[string]any{
			"httpContext": map[string]any{"method": "POST", "path": "/plugins/api/v1/1/hook", "headers": map[string]any{"Content-Type": []any{"application/json"}}},
			"body":        map[string]any{"event": "test"}, "route": "hook",
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The stray line 'will response to …' in the vendor's example is a command-not-found
		// error that does not stop the block, as in PowerShell.
		if !r.HadErrors {
			t.Error("HadErrors = false; the example's stray line should write a CommandNotFound error")
		}
		if len(r.Output) != 1 || !strings.Contains(string(r.Output[0]), `"statusCode":200`) || !strings.Contains(string(r.Output[0]), `"ok"`) {
			t.Fatalf("output = %s", r.Output)
		}
	})

	t.Run("GetInventoryScript-needs-a-computer", func(t *testing.T) {
		_, err := run.call("GetInventoryScript", nil, nil)
		if err == nil || !strings.Contains(err.Error(), "no computer is attached") {
			t.Fatalf("err = %v, want the no-computer error", err)
		}
	})

	t.Run("API-key-never-appears", func(t *testing.T) {
		if len(run.seen) < 10 {
			t.Fatalf("only %d outputs and records collected; the check would prove nothing", len(run.seen))
		}
		for _, s := range run.seen {
			if strings.Contains(s, apiKey) {
				t.Fatalf("API key leaked: %.300s", s)
			}
		}
	})
}

func TestSentinelOneWrongKeyFailsInitNamingUnauthorized(t *testing.T) {
	fake := fakes1.New(fakes1.Config{})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1})
	run := &s1Run{t: t, pool: p, script: exampleScript(t, "07-sentinelone.ps1", "s1-bad"), host: s1Module(t), secrets: []string{"wrong-key-123"}}
	_, err := run.call("Init", nil, map[string]any{"S1Uri": srv.URL + "/", "S1ApiKey": "wrong-key-123"})
	if err == nil || !strings.Contains(err.Error(), "Unauthorized") {
		t.Fatalf("Init err = %v, want it to name Unauthorized", err)
	}
	if fake.UnauthorizedCount() == 0 {
		t.Fatal("the fake API saw no unauthorized request")
	}
	for _, s := range run.seen {
		if strings.Contains(s, "wrong-key-123") {
			t.Fatalf("API key leaked: %.300s", s)
		}
	}
}
