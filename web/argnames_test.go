package web

import (
	"fmt"
	"strings"
	"testing"
)

const argScript = `$Integration = New-DynamicIntegration -Init {
    param([Parameter(Mandatory)][Uri]$ApiUrl)
    $IntegrationContext.Url = "$ApiUrl"
    [OpResult]::Ok()
} -HealthCheck { New-HealthyResult }
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsTenantInstallToken -GetTenantInstallToken {
    param([string]$clientId)
    "token-$clientId-$($IntegrationContext.Url)"
}
$Integration
`

// TestArgNamesArePlainIdentifiers: a method argument named like a scoped variable
// ("global:IntegrationContext") once replaced the stored context. Every name that is not a
// plain identifier is now a 400 problem naming it, on both routes that take user arguments.
func TestArgNamesArePlainIdentifiers(t *testing.T) {
	s := newServer(t, nil)
	var typ struct{ ID string }
	s.must(201, "POST", "/api/v1/integration-types", map[string]any{"name": "Args", "script": argScript}, &typ)
	var inst struct{ ID int64 }
	s.must(201, "POST", "/api/v1/integrations", map[string]any{"name": "i", "typeId": typ.ID,
		"formData": map[string]any{"ApiUrl": "https://v.example/"}}, &inst)
	method := fmt.Sprintf("/api/v1/integrations/%d/methods/GetTenantInstallToken", inst.ID)

	cases := []struct {
		name string
		ok   bool
	}{
		{"clientId", true},
		{"_private", true},
		{"A1_b2", true},
		{"global:IntegrationContext", false},
		{"script:IntegrationContext", false},
		{"env:PATH", false},
		{"using:x", false},
		{"${IntegrationContext}", false},
		{"1abc", false},
		{"a-b", false},
		{"a b", false},
		{"a.b", false},
		{"", false},
		{"ünicode", false},
		{"x\n", false},
	}
	for _, tc := range cases {
		for _, route := range []struct {
			path string
			body func(name string) map[string]any
		}{
			{method, func(n string) map[string]any { return map[string]any{"args": map[string]any{n: "c1"}} }},
			{"/api/v1/scripts/run", func(n string) map[string]any {
				return map[string]any{"script": "param($clientId) 'ran'", "args": map[string]any{n: "c1"}}
			}},
		} {
			t.Run(fmt.Sprintf("%q %s", tc.name, route.path), func(t *testing.T) {
				r := s.do("POST", route.path, route.body(tc.name))
				if tc.ok {
					if r.status != 200 {
						t.Fatalf("status %d: %s", r.status, r.body)
					}
					return
				}
				if r.status != 400 {
					t.Fatalf("status %d, want 400: %s", r.status, r.body)
				}
				p := r.problem(t)
				errs, _ := p["errors"].([]any)
				if len(errs) != 1 || errs[0].(map[string]any)["field"] != "args."+tc.name || !strings.Contains(fmt.Sprint(p["detail"]), fmt.Sprintf("%q", tc.name)) {
					t.Fatalf("problem does not name the argument: %v", p)
				}
			})
		}
	}
	// The stored context is intact.
	var res struct{ Output []string }
	s.must(200, "POST", method, map[string]any{"args": map[string]any{"clientId": "c9"}}, &res)
	if len(res.Output) != 1 || res.Output[0] != "token-c9-https://v.example/" {
		t.Fatalf("output %v", res.Output)
	}
}
