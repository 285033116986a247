package web

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// maskKey is a [Password()] value with characters every encoding treats differently.
const maskKey = `Wb7<&>"'+ü-pluginKEY`

const maskScript = `$Integration = New-DynamicIntegration -Init {
    param([Parameter(Mandatory)][Password(StripValue)]$ApiKey)
    $IntegrationContext.Key = $ApiKey
    [OpResult]::Ok()
} -HealthCheck { New-HealthyResult }
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients {
    $k = $IntegrationContext.Key
    $f = [ordered]@{
        b64 = [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes('user:' + $k))
        json = (@{ key = $k } | ConvertTo-Json -Compress)
        html = [System.Net.WebUtility]::HtmlEncode($k)
        hex = [Convert]::ToHexString([Text.Encoding]::UTF8.GetBytes($k))
    }
    Write-Host -NoNewline ('key ' + $k.Substring(0, 10))
    Write-Host ($k.Substring(10) + ' done')
    Write-Warning ('Authorization: Basic ' + $f.b64)
    [pscustomobject]$f
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsHttpRequest -HandleHttpRequest {
    param([Parameter(Mandatory)][Microsoft.AspNetCore.Http.HttpContext]$httpContext, $body, [Parameter(Mandatory)]$route)
    $k = $IntegrationContext.Key
    $f = [ordered]@{
        b64 = [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes('user:' + $k))
        json = (@{ key = $k } | ConvertTo-Json -Compress)
        html = [System.Net.WebUtility]::HtmlEncode($k)
        hex = [Convert]::ToHexString([Text.Encoding]::UTF8.GetBytes($k))
    }
    switch ($route) {
        'json' { $r = [ObjectResult]::new([pscustomobject]$f); $r.StatusCode = 200; return $r }
        'text' {
            $r = [ObjectResult]::new('Basic ' + $f.b64 + ' ' + $f.html)
            $r.ContentTypes = @('text/plain; x=' + $f.hex)
            return $r
        }
        default { return [pscustomobject]$f }
    }
}
$Integration
`

// maskLeaks are the forms of maskKey that must never leave the server, computed here
// independently of the masker.
func maskLeaks() []string {
	k := maskKey
	j, _ := json.Marshal(k)
	b64 := base64.StdEncoding.EncodeToString([]byte("user:" + k))
	return []string{
		k, string(j[1 : len(j)-1]), strings.ReplaceAll(k, `"`, `\"`), b64[8 : len(b64)-4],
		strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;").Replace(k),
		hex.EncodeToString([]byte(k)), strings.ToUpper(hex.EncodeToString([]byte(k))),
		k[:10], k[10:],
	}
}

func checkNoLeak(t *testing.T, where string, r response) {
	t.Helper()
	var hdr strings.Builder
	for name, vs := range r.header {
		fmt.Fprintf(&hdr, "%s: %s\n", name, strings.Join(vs, ", "))
	}
	// The API escapes JSON with \u003c and friends: read the body decoded too.
	text := string(r.body) + "\n" + hdr.String()
	var v any
	if json.Unmarshal(r.body, &v) == nil {
		d, _ := json.Marshal(v)
		text += "\n" + string(d)
	}
	for _, f := range maskLeaks() {
		if strings.Contains(text, f) {
			t.Errorf("%s leaks %q:\n%s", where, f, text)
		}
	}
	if !strings.Contains(text, "********") {
		t.Errorf("%s masks nothing:\n%s", where, text)
	}
}

// TestSinksMaskEncodedSecrets: method results, their records, the call log, script runs and
// webhook (plugin endpoint) bodies and headers never carry a secret in base64, JSON, HTML, hex
// or split form, through real pwsh and real HTTP.
func TestSinksMaskEncodedSecrets(t *testing.T) {
	s := newServer(t, nil)
	var typ struct{ ID string }
	s.must(201, "POST", "/api/v1/integration-types", map[string]any{"name": "Masked", "script": maskScript}, &typ)
	var inst struct{ ID int64 }
	s.must(201, "POST", "/api/v1/integrations", map[string]any{"name": "m", "typeId": typ.ID, "formData": map[string]any{"ApiKey": maskKey}}, &inst)

	r := s.must(200, "POST", fmt.Sprintf("/api/v1/integrations/%d/methods/GetClients", inst.ID), nil, nil)
	checkNoLeak(t, "method result", r)
	r = s.must(200, "GET", fmt.Sprintf("/api/v1/integrations/%d/calls", inst.ID), nil, nil)
	checkNoLeak(t, "call log", r)
	r = s.must(200, "POST", "/api/v1/scripts/run", map[string]any{"integrationId": inst.ID,
		"script": "param($k) Write-Warning ([Convert]::ToHexString([Text.Encoding]::UTF8.GetBytes($k))); [System.Net.WebUtility]::HtmlEncode($k)",
		"args":   map[string]any{"k": maskKey}}, nil)
	checkNoLeak(t, "script run", r)

	for _, route := range []string{"json", "text", "plain"} {
		r := s.do(http.MethodPost, fmt.Sprintf("/plugins/api/v1/%d/%s", inst.ID, route), nil, "Authorization", "")
		if r.status != http.StatusOK {
			t.Fatalf("plugin %s: %d %s", route, r.status, r.body)
		}
		checkNoLeak(t, "webhook "+route, r)
	}
}
