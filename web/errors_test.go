package web

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/psbridge/psbridge/engine/store"
)

// TestAPIAndPagesShowCallsThatCompletedWithErrors uploads the SentinelOne example without its
// module: the upload warns naming the module, Init writes errors but returns, HealthCheck
// passes. The call log, the method results and the pages say "completed with errors", not ok.
func TestAPIAndPagesShowCallsThatCompletedWithErrors(t *testing.T) {
	s := newServer(t, nil)
	var typ struct {
		ID       string   `json:"id"`
		Warnings []string `json:"warnings"`
	}
	s.must(http.StatusCreated, "POST", "/api/v1/integration-types", map[string]any{"name": "SentinelOne", "script": example(t, "testdata/examples/07-sentinelone.ps1")}, &typ)
	if len(typ.Warnings) != 1 || !strings.Contains(typ.Warnings[0], `module "SentinelOne" (line 97, Import-Module)`) {
		t.Fatalf("warnings %q, want one naming SentinelOne", typ.Warnings)
	}
	var inst struct {
		ID     int64        `json:"id"`
		Health store.Health `json:"health"`
	}
	s.must(http.StatusCreated, "POST", "/api/v1/integrations", map[string]any{"name": "S1", "typeId": typ.ID,
		"formData": map[string]any{"S1Uri": "http://127.0.0.1:9/", "S1ApiKey": "k-not-a-real-key"}}, &inst)
	id := strconv.FormatInt(inst.ID, 10)
	if inst.Health.Status != store.StatusHealthy {
		t.Fatalf("health %+v: the example's HealthCheck always passes", inst.Health)
	}

	cases := []struct {
		method, wantStatus string
		wantCode           int
	}{
		{"GetClients", store.CallCompletedWithErrors, http.StatusOK}, // Get-S1Site is not found
		{"HealthCheck", store.CallOK, http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.method, func(t *testing.T) {
			var res struct {
				Status    string `json:"status"`
				HadErrors bool   `json:"hadErrors"`
			}
			s.must(c.wantCode, "POST", "/api/v1/integrations/"+id+"/methods/"+c.method, nil, &res)
			if res.Status != c.wantStatus || res.HadErrors != (c.wantStatus == store.CallCompletedWithErrors) {
				t.Errorf("result status %q hadErrors %v, want %q", res.Status, res.HadErrors, c.wantStatus)
			}
			calls := s.all("/api/v1/integrations/"+id+"/calls", 50)
			if len(calls) == 0 || calls[0]["method"] != c.method || calls[0]["status"] != c.wantStatus {
				t.Errorf("newest call log entry %v, want %s %q", calls[0], c.method, c.wantStatus)
			}
		})
	}
	var initStatus any
	for _, c := range s.all("/api/v1/integrations/"+id+"/calls", 50) {
		if c["method"] == "Init" {
			initStatus = c["status"]
		}
	}
	if initStatus != store.CallCompletedWithErrors {
		t.Errorf("Init's call log status %v, want %q", initStatus, store.CallCompletedWithErrors)
	}

	b := newBrowser(t, s)
	b.signIn()
	pages := []struct{ path, want string }{
		{"/integrations/" + id, "Init completed with errors"},
		{"/integrations/" + id, `The term &#39;Connect-S1API&#39; is not recognized`},
		{"/integrations/" + id + "/health", "Init completed with errors"},
		{"/integrations/" + id + "/calls", `<span class="badge warn">completed with errors</span>`},
		{"/types/" + typ.ID, `module &#34;SentinelOne&#34; (line 97, Import-Module)`},
	}
	for _, p := range pages {
		if pg := b.get(p.path); pg.status != http.StatusOK || !strings.Contains(pg.body, p.want) {
			t.Errorf("%s: %d, lacks %q: %.4000s", p.path, pg.status, p.want, pg.body)
		}
	}
}
