package web

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/fakes1"
)

// TestOpenAPIMatchesRoutes checks the embedded document against the registered routes, both
// ways: every route is documented and every documented operation is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	pathLine := regexp.MustCompile(`^  (/\S*):\s*$`)
	opLine := regexp.MustCompile(`^    (get|put|post|delete|patch|head|options|trace):`)
	documented := map[Route]bool{}
	current := ""
	sc := bufio.NewScanner(bytes.NewReader(OpenAPI))
	for sc.Scan() {
		line := sc.Text()
		if m := pathLine.FindStringSubmatch(line); m != nil {
			current = m[1]
			continue
		}
		if !strings.HasPrefix(line, " ") && line != "" {
			current = "" // left the paths section
		}
		if m := opLine.FindStringSubmatch(line); m != nil && current != "" {
			documented[Route{Method: m[1], Path: current}] = true
		}
	}
	if !bytes.HasPrefix(OpenAPI, []byte("openapi: 3.1.")) {
		t.Error("the document is not OpenAPI 3.1")
	}
	served := map[Route]bool{}
	for _, r := range Routes() {
		served[r] = true
		if !documented[r] {
			t.Errorf("route %s %s is not in openapi.yaml", strings.ToUpper(r.Method), r.Path)
		}
	}
	for r := range documented {
		if !served[r] {
			t.Errorf("openapi.yaml documents %s %s, which is not served", strings.ToUpper(r.Method), r.Path)
		}
	}
	if len(served) < 40 {
		t.Fatalf("only %d routes registered", len(served))
	}
}

// TestEndToEndSentinelOne drives the vendor's SentinelOne example over HTTP against the fake
// SentinelOne API, restarts the server on the same database, and checks the API key never
// appears in a response.
func TestEndToEndSentinelOne(t *testing.T) {
	s := newServer(t, nil)
	fake := fakes1.New(fakes1.Config{})
	vendor := newVendor(t, fake)

	s.must(201, "POST", "/api/v1/modules", map[string]any{"name": "SentinelOne", "script": example(t, "testdata/modules/SentinelOne.psm1")}, nil)
	var typ struct {
		ID             string           `json:"id"`
		Capabilities   []string         `json:"capabilities"`
		InitParameters []map[string]any `json:"initParameters"`
	}
	s.must(201, "POST", "/api/v1/integration-types", map[string]any{
		"name": "SentinelOne", "description": "docs example", "scriptName": "SentinelOne.ps1",
		"script": example(t, "testdata/examples/07-sentinelone.ps1"),
	}, &typ)
	if len(typ.Capabilities) != 6 || len(typ.InitParameters) != 2 {
		t.Fatalf("type: %+v", typ)
	}
	var inst struct {
		ID                        int64          `json:"id"`
		Health                    store.Health   `json:"health"`
		FormData                  map[string]any `json:"formData"`
		InputsWithStoredPasswords []string       `json:"inputsWithStoredPasswords"`
		Capabilities              []string       `json:"capabilities"`
		PluginBaseURL             string         `json:"pluginBaseUrl"`
	}
	r := s.must(201, "POST", "/api/v1/integrations", map[string]any{
		"name": "S1", "typeId": typ.ID, "formData": map[string]any{"S1Uri": vendor + "/", "S1ApiKey": fakes1.DefaultAPIToken},
	}, &inst)
	if r.header.Get("Location") != fmt.Sprintf("/api/v1/integrations/%d", inst.ID) || r.header.Get("X-Request-Id") == "" {
		t.Fatalf("headers %v", r.header)
	}
	if inst.Health.Status != "Healthy" || inst.FormData["S1Uri"] != vendor+"/" || len(inst.InputsWithStoredPasswords) != 1 {
		t.Fatalf("instance %+v", inst)
	}
	base := fmt.Sprintf("/api/v1/integrations/%d", inst.ID)

	clients := s.all(base+"/clients", 2)
	if len(clients) != len(fake.Sites()) {
		t.Fatalf("%d clients", len(clients))
	}
	for i, c := range clients {
		var tn store.Tenant
		s.must(201, "POST", "/api/v1/tenants", map[string]any{"name": fmt.Sprintf("Tenant %d", i)}, &tn)
		s.must(200, "PUT", base+"/mappings/"+c["externalClientId"].(string), map[string]any{"tenantId": tn.ID}, nil)
	}
	if m := s.all(base+"/mappings", 100); len(m) != 3 {
		t.Fatalf("%d mappings", len(m))
	}
	var sync struct{ Clients, Agents int }
	s.must(200, "POST", base+"/agents/sync", nil, &sync)
	if sync.Agents != fakes1.DefaultTotalAgents || sync.Clients != 3 {
		t.Fatalf("sync %+v", sync)
	}
	agents := s.all(base+"/agents", 100)
	if len(agents) != fakes1.DefaultTotalAgents {
		t.Fatalf("%d agents over all pages", len(agents))
	}
	if p := s.all("/api/v1/agents/pending", 1000); len(p) != fakes1.DefaultTotalAgents {
		t.Fatalf("%d pending", len(p))
	}

	// Identify one agent on a computer of the second tenant.
	tenantOf := map[string]float64{}
	for _, m := range s.all(base+"/mappings", 100) {
		tenantOf[m["externalClientId"].(string)] = m["linkedTenantId"].(float64)
	}
	agent := agents[0]
	var comp store.Computer
	s.must(201, "POST", "/api/v1/computers", map[string]any{"name": "PC-1", "tenantId": tenantOf[agent["externalClientId"].(string)]}, &comp)
	s.must(200, "POST", fmt.Sprintf("/api/v1/computers/%d/identification", comp.ID), map[string]any{"integrationId": inst.ID, "agentId": agent["externalAgentId"]}, nil)
	if p := s.all("/api/v1/agents/pending", 1000); len(p) != fakes1.DefaultTotalAgents-1 {
		t.Fatalf("%d pending after identification", len(p))
	}

	site, _ := fake.Site(agent["externalClientId"].(string))
	checkToken := func() {
		t.Helper()
		var res struct {
			Output []string `json:"output"`
		}
		s.must(200, "POST", "/api/v1/scripts/run", map[string]any{
			"integrationId": inst.ID, "computerId": comp.ID, "name": "install.ps1",
			"script": "$token = Get-IntegrationAgentInstallToken\n$token",
		}, &res)
		if len(res.Output) != 1 || res.Output[0] != site.RegistrationToken {
			t.Fatalf("install token %v, want %q", res.Output, site.RegistrationToken)
		}
	}
	checkToken()

	// The plugin endpoint, open and then behind a webhook secret.
	plugin := func(hdr ...string) response {
		return s.do("POST", inst.PluginBaseURL+"/events/new?x=1", `{"event":"test"}`, append([]string{"Authorization", ""}, hdr...)...)
	}
	if r := plugin(); r.status != 200 || string(bytes.TrimSpace(r.body)) != `"ok"` {
		t.Fatalf("plugin: %d %s", r.status, r.body)
	}
	var sec struct{ Secret string }
	s.must(200, "PUT", base+"/webhook-secret", map[string]any{}, &sec)
	mac := hmac.New(sha256.New, []byte(sec.Secret))
	mac.Write([]byte(`{"event":"test"}`))
	for _, tc := range []struct {
		hdr  []string
		want int
	}{
		{nil, 401},
		{[]string{"X-Psbridge-Secret", "wrong-secret-value"}, 401},
		{[]string{"X-Psbridge-Secret", sec.Secret}, 200},
		{[]string{"X-Psbridge-Signature", "sha256=" + hex.EncodeToString(mac.Sum(nil))}, 200},
		{[]string{"X-Psbridge-Signature", "sha256=00"}, 401},
	} {
		if r := plugin(tc.hdr...); r.status != tc.want {
			t.Errorf("plugin with %v: %d, want %d (%s)", tc.hdr, r.status, tc.want, r.body)
		}
	}
	s.must(204, "DELETE", base+"/webhook-secret", nil, nil)

	var before map[string]any
	s.must(200, "GET", base, nil, &before)
	calls := s.all(base+"/calls", 5)
	if len(calls) < 8 {
		t.Fatalf("%d calls logged", len(calls))
	}

	// Restart on the same file: everything is still there and works again.
	s.restart()
	var after map[string]any
	s.must(200, "GET", base, nil, &after)
	if fmt.Sprint(after["formData"], after["inputsWithStoredPasswords"], after["capabilities"]) !=
		fmt.Sprint(before["formData"], before["inputsWithStoredPasswords"], before["capabilities"]) {
		t.Fatalf("after restart %v, before %v", after, before)
	}
	if n := len(s.all(base+"/agents", 1000)); n != fakes1.DefaultTotalAgents {
		t.Fatalf("%d agents after restart", n)
	}
	if n := len(s.all(base+"/mappings", 100)); n != 3 {
		t.Fatalf("%d mappings after restart", n)
	}
	checkToken() // runs Init again in the new engine
	var h store.Health
	s.must(200, "POST", base+"/health-check", nil, &h)
	if h.Status != "Healthy" {
		t.Fatalf("health after restart %+v", h)
	}
	if hist := s.all(base+"/health", 1); len(hist) < 2 {
		t.Fatalf("%d health events", len(hist))
	}
	if r := plugin(); r.status != 200 {
		t.Fatalf("plugin after restart: %d %s", r.status, r.body)
	}

	// Backup streams a bbolt file.
	r = s.must(200, "GET", "/api/v1/admin/backup", nil, nil)
	if len(r.body) < 4096 || r.header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("backup of %d bytes, %v", len(r.body), r.header)
	}
	s.mu.Lock()
	s.bodies = s.bodies[:len(s.bodies)-1] // the backup holds sealed values only; checked below as a whole
	s.mu.Unlock()
	if bytes.Contains(r.body, []byte(fakes1.DefaultAPIToken)) {
		t.Fatal("the backup holds the API key in clear")
	}

	for _, b := range s.bodies {
		if strings.Contains(b, fakes1.DefaultAPIToken) {
			t.Fatalf("the API key appears in a response body: %.300s", b)
		}
	}
}

// newVendor serves the fake SentinelOne API on 127.0.0.1.
func newVendor(t testing.TB, fake *fakes1.Server) string {
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestPluginAnswers checks the translation of HandleHttpRequest's output and the plugin
// endpoint's own errors.
func TestPluginAnswers(t *testing.T) {
	s := newServer(t, nil)
	script := `$Integration = New-DynamicIntegration -Init { [OpResult]::Ok() } -HealthCheck { New-HealthyResult }
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsHttpRequest -HandleHttpRequest {
    param([Parameter(Mandatory)][Microsoft.AspNetCore.Http.HttpContext]$httpContext, $body, [Parameter(Mandatory)]$route)
    switch ($route) {
        'echo' {
            $r = [ObjectResult]::new(@{ method = $httpContext.Request.Method; path = "$($httpContext.Request.Path)"; query = "$($httpContext.Request.Query['q'])"; body = $body; route = $route; ct = $httpContext.Request.ContentType })
            $r.StatusCode = 202
            return $r
        }
        'plain' { return @{ plain = $true } }
        'nothing' { return }
        'fail' { throw 'script exploded' }
        default { $r = [ObjectResult]::new("no route $route"); $r.StatusCode = 404; return $r }
    }
}
$Integration
`
	var typ struct{ ID string }
	s.must(201, "POST", "/api/v1/integration-types", map[string]any{"name": "Hook", "script": script}, &typ)
	var inst struct{ ID int64 }
	s.must(201, "POST", "/api/v1/integrations", map[string]any{"name": "h", "typeId": typ.ID}, &inst)
	var other struct{ ID int64 }
	s.must(201, "POST", "/api/v1/integration-types", map[string]any{"name": "NoHook", "script": "New-DynamicIntegration -Init { [OpResult]::Ok() } -HealthCheck { New-HealthyResult }"}, &typ)
	s.must(201, "POST", "/api/v1/integrations", map[string]any{"name": "n", "typeId": typ.ID}, &other)

	base := fmt.Sprintf("/plugins/api/v1/%d/", inst.ID)
	cases := []struct {
		name, method, path, body string
		want                     int
		contains                 []string
	}{
		{"object result", "PUT", base + "echo?q=42", `{"n": 1234567890123456789}`, 202,
			[]string{`"method":"PUT"`, `"path":"/plugins/api/v1/`, `"query":"42"`, `"route":"echo"`, `1234567890123456789`, `"ct":"application/json"`}},
		{"plain value", "GET", base + "plain", "", 200, []string{`"plain":true`}},
		{"no output", "POST", base + "nothing", "", 204, nil},
		{"script status", "GET", base + "zzz", "", 404, []string{`"no route zzz"`}},
		{"script throws", "GET", base + "fail", "", 500, []string{"call log"}},
		{"unknown instance", "GET", "/plugins/api/v1/999/x", "", 404, []string{"ISupportsHttpRequest"}},
		{"no capability", "GET", fmt.Sprintf("/plugins/api/v1/%d/x", other.ID), "", 404, nil},
		{"not an id", "GET", "/plugins/api/v1/abc/x", "", 404, nil},
		{"too large", "POST", base + "echo", `"` + strings.Repeat("x", 1<<20) + `"`, 413, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			r := s.do(tc.method, tc.path, body, "Authorization", "")
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.body)
			}
			for _, c := range tc.contains {
				if !strings.Contains(string(r.body), c) {
					t.Errorf("body lacks %q: %s", c, r.body)
				}
			}
		})
	}
	if r := s.do(http.MethodGet, base+"fail", nil); strings.Contains(string(r.body), "exploded") {
		t.Fatalf("the script's error reached the webhook sender: %s", r.body)
	}
}

// TestBigIdsStayExact: vendor ids such as SentinelOne's 19-digit site ids pass through the API
// into a script and back without being rounded through float64.
func TestBigIdsStayExact(t *testing.T) {
	s := newServer(t, nil)
	script := `$Integration = New-DynamicIntegration -Init {
    param([Parameter(Mandatory)][long]$TenantNumber)
    $IntegrationContext.TenantNumber = $TenantNumber
    [OpResult]::Ok()
} -HealthCheck { New-HealthyResult }
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingAgents -GetAgents {
    param([string[]]$ClientIds)
    "ids=$($ClientIds -join ',') tenant=$($IntegrationContext.TenantNumber)"
}
$Integration
`
	var typ struct{ ID string }
	s.must(201, "POST", "/api/v1/integration-types", map[string]any{"name": "Big", "script": script}, &typ)
	var inst struct{ ID int64 }
	s.must(201, "POST", "/api/v1/integrations", `{"name":"b","typeId":"`+typ.ID+`","formData":{"TenantNumber":1000000000000000003}}`, &inst)
	var res struct{ Output []any }
	s.must(200, "POST", "/api/v1/integrations/"+itoa(int(inst.ID))+"/methods/GetAgents", `{"args":{"ClientIds":[1000000000000000005,"1000000000000000007"]}}`, &res)
	want := "ids=1000000000000000005,1000000000000000007 tenant=1000000000000000003"
	if len(res.Output) != 1 || res.Output[0] != want {
		t.Fatalf("output %v, want %q", res.Output, want)
	}
}
