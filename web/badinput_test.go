package web

import (
	"fmt"
	"strings"
	"testing"
)

const formScript = `$Integration = New-DynamicIntegration -Init {
    param(
        [Parameter(Mandatory)][Uri]$ApiUrl,
        [Parameter(Mandatory)][Password(StripValue)]$ApiKey,
        [int]$PageSize = 50
    )
    $IntegrationContext.Url = "$ApiUrl"
    [OpResult]::Ok()
} -HealthCheck { New-HealthyResult }
$Integration
`

// TestBadInput sends malformed, oversized, mistyped, incomplete and unknown-id requests: each
// gets a precise 4xx problem, and nothing is written.
func TestBadInput(t *testing.T) {
	s := newServer(t, nil)
	var typ struct{ ID string }
	s.must(201, "POST", "/api/v1/integration-types", map[string]any{"name": "Form", "script": formScript}, &typ)
	var inst struct{ ID int64 }
	s.must(201, "POST", "/api/v1/integrations", map[string]any{"name": "i", "typeId": typ.ID,
		"formData": map[string]any{"ApiUrl": "https://v.example/", "ApiKey": "k-secret-1"}}, &inst)
	var tenant struct{ ID int64 }
	s.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "T"}, &tenant)

	huge := `{"name":"x","script":"` + strings.Repeat("#", 1<<20) + `"}`
	okForm := map[string]any{"ApiUrl": "https://v.example/", "ApiKey": "k"}
	cases := []struct {
		name         string
		method, path string
		body         any
		hdr          []string
		status       int
		typ          string
		fields       []string // field names that must appear in errors
		detail       string
	}{
		{"malformed JSON", "POST", "/api/v1/tenants", `{"name": "x",}`, nil, 400, "malformed-request", nil, "line 1, column 14"},
		{"truncated JSON", "POST", "/api/v1/tenants", `{"name": "x"`, nil, 400, "malformed-request", nil, "ends before"},
		{"two JSON values", "POST", "/api/v1/tenants", `{"name": "x"} {}`, nil, 400, "malformed-request", nil, "more than one"},
		{"empty body", "POST", "/api/v1/tenants", ``, nil, 400, "malformed-request", nil, "empty"},
		{"unknown field", "POST", "/api/v1/tenants", `{"name": "x", "colour": "red"}`, nil, 400, "malformed-request", []string{"colour"}, ""},
		{"unknown field on instance", "POST", "/api/v1/integrations", map[string]any{"name": "x", "typeId": typ.ID, "formData": okForm, "extra": 1}, nil, 400, "malformed-request", []string{"extra"}, ""},
		{"oversized body", "POST", "/api/v1/integration-types", huge, nil, 413, "body-too-large", nil, "1048576"},
		{"wrong content type", "POST", "/api/v1/tenants", `{"name":"x"}`, []string{"Content-Type", "text/plain"}, 415, "unsupported-media-type", nil, ""},
		{"wrong type", "POST", "/api/v1/tenants", map[string]any{"name": 5}, nil, 422, "validation", []string{"name"}, "must be a string"},
		{"wrong nested type", "POST", "/api/v1/integrations", map[string]any{"name": "x", "typeId": typ.ID, "formData": "nope"}, nil, 422, "validation", []string{"formData"}, "must be an object"},
		{"wrong form value type", "POST", "/api/v1/integrations", map[string]any{"name": "x", "typeId": typ.ID, "formData": map[string]any{"ApiUrl": "https://v/", "ApiKey": "k", "PageSize": "lots"}}, nil, 422, "validation", []string{"formData.PageSize"}, ""},
		{"missing mandatory values", "POST", "/api/v1/integrations", map[string]any{"name": "x", "typeId": typ.ID, "formData": map[string]any{}}, nil, 422, "validation", []string{"formData.ApiKey", "formData.ApiUrl"}, ""},
		{"missing name and type", "POST", "/api/v1/integrations", map[string]any{}, nil, 422, "validation", []string{"name", "typeId"}, ""},
		{"unknown type id", "POST", "/api/v1/integrations", map[string]any{"name": "x", "typeId": "nope", "formData": okForm}, nil, 422, "validation", []string{"typeId"}, ""},
		{"script syntax error", "POST", "/api/v1/integration-types", map[string]any{"name": "Bad", "script": "New-DynamicIntegration -Init {\n  if ( {\n} -HealthCheck {}"}, nil, 422, "script-does-not-parse", nil, "Bad.ps1:3:3"},
		{"script without integration", "POST", "/api/v1/integration-types", map[string]any{"name": "Str", "script": "'text'"}, nil, 422, "script-load-failed", nil, ""},
		{"duplicate type name", "POST", "/api/v1/integration-types", map[string]any{"name": "form", "script": formScript}, nil, 409, "conflict", nil, ""},
		{"unknown integration", "GET", "/api/v1/integrations/999", nil, nil, 404, "not-found", nil, "999"},
		{"integration id not a number", "GET", "/api/v1/integrations/abc", nil, nil, 404, "not-found", nil, "abc"},
		{"unknown tenant", "PUT", "/api/v1/tenants/999", map[string]any{"name": "x"}, nil, 404, "not-found", nil, ""},
		{"unknown type", "GET", "/api/v1/integration-types/nope", nil, nil, 404, "not-found", nil, ""},
		{"unknown module", "DELETE", "/api/v1/modules/Nope", nil, nil, 404, "not-found", nil, ""},
		{"unknown endpoint", "GET", "/api/v1/nothing-here", nil, nil, 404, "not-found", nil, ""},
		{"map to unknown tenant", "PUT", fmt.Sprintf("/api/v1/integrations/%d/mappings/c1", inst.ID), map[string]any{"tenantId": 999}, nil, 404, "not-found", nil, ""},
		{"map without tenant", "PUT", fmt.Sprintf("/api/v1/integrations/%d/mappings/c1", inst.ID), map[string]any{}, nil, 422, "validation", []string{"tenantId"}, ""},
		{"capability missing", "POST", fmt.Sprintf("/api/v1/integrations/%d/clients/refresh", inst.ID), nil, nil, 409, "capability-missing", nil, "ISupportsListingClients"},
		{"capability missing (agents)", "POST", fmt.Sprintf("/api/v1/integrations/%d/agents/sync", inst.ID), nil, nil, 409, "capability-missing", nil, "ISupportsListingAgents"},
		{"maintenance missing", "POST", fmt.Sprintf("/api/v1/integrations/%d/maintenance", inst.ID), map[string]any{"computerId": 1, "enable": true}, nil, 409, "capability-missing", nil, "ISupportsMaintenanceMode"},
		{"maintenance without fields", "POST", fmt.Sprintf("/api/v1/integrations/%d/maintenance", inst.ID), map[string]any{}, nil, 422, "validation", []string{"computerId", "enable"}, ""},
		{"computer of unknown tenant", "POST", "/api/v1/computers", map[string]any{"name": "pc", "tenantId": 999}, nil, 422, "validation", []string{"tenantId"}, ""},
		{"identify unknown agent", "POST", "/api/v1/computers/999/identification", map[string]any{"integrationId": inst.ID, "agentId": "a"}, nil, 404, "not-found", nil, ""},
		{"bad limit", "GET", "/api/v1/tenants?limit=0", nil, nil, 400, "malformed-request", []string{"limit"}, ""},
		{"bad cursor", "GET", "/api/v1/tenants?cursor=!!", nil, nil, 400, "malformed-request", []string{"cursor"}, ""},
		{"script fails", "POST", "/api/v1/scripts/run", map[string]any{"script": "Get-IntegrationAgentInstallToken"}, nil, 422, "script-failed", nil, "An integration is not linked to this script"},
		{"run script on unknown computer", "POST", "/api/v1/scripts/run", map[string]any{"script": "1", "computerId": 42}, nil, 422, "validation", []string{"computerId"}, ""},
		{"no token", "GET", "/api/v1/tenants", nil, []string{"Authorization", ""}, 401, "unauthorized", nil, ""},
		{"bad token", "GET", "/api/v1/tenants", nil, []string{"Authorization", "Bearer psb_wrong"}, 401, "unauthorized", nil, "not valid"},
	}
	countTypes, countInst := countAll(t, s)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(tc.method, tc.path, tc.body, tc.hdr...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			p := r.problem(t)
			if p["status"] != float64(tc.status) || !strings.HasSuffix(p["type"].(string), tc.typ) || p["requestId"] == "" {
				t.Fatalf("problem %v", p)
			}
			if tc.detail != "" && !strings.Contains(fmt.Sprint(p["detail"]), tc.detail) {
				t.Errorf("detail %q lacks %q", p["detail"], tc.detail)
			}
			for _, f := range tc.fields {
				found := false
				errs, _ := p["errors"].([]any)
				for _, e := range errs {
					if e.(map[string]any)["field"] == f {
						found = true
					}
				}
				if !found {
					t.Errorf("errors %v lack field %q", p["errors"], f)
				}
			}
			if strings.Contains(string(r.body), "k-secret-1") {
				t.Fatal("a stored password appears in a problem")
			}
		})
	}
	if ty, in := countAll(t, s); ty != countTypes || in != countInst {
		t.Fatalf("bad requests wrote something: types %d→%d, integrations %d→%d", countTypes, ty, countInst, in)
	}
	if ts, _ := s.st.Tenants(); len(ts) != 1 {
		t.Fatalf("%d tenants", len(ts))
	}
	// Script syntax errors carry every issue's position.
	r := s.do("POST", "/api/v1/integration-types", map[string]any{"name": "Bad", "script": "New-DynamicIntegration -Init {\n  if ( {\n} -HealthCheck {}"})
	p := r.problem(t)
	issues, _ := p["issues"].([]any)
	if len(issues) == 0 || issues[0].(map[string]any)["line"] != 3.0 || issues[0].(map[string]any)["column"] != 3.0 {
		t.Fatalf("issues %v", p["issues"])
	}
	// A request id the client sends is echoed.
	if r := s.do("GET", "/api/v1/tenants", nil, "X-Request-Id", "abc-123"); r.header.Get("X-Request-Id") != "abc-123" {
		t.Fatalf("request id %q", r.header.Get("X-Request-Id"))
	}
}

func countAll(t *testing.T, s *server) (int, int) {
	t.Helper()
	ts, err := s.st.Types()
	if err != nil {
		t.Fatal(err)
	}
	is, err := s.st.Instances()
	if err != nil {
		t.Fatal(err)
	}
	return len(ts), len(is)
}
