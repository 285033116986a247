//go:build linux

package web

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

const victimScript = `$Integration = New-DynamicIntegration -Init {
    param([Parameter(Mandatory)][Password(StripValue)]$ApiKey)
    $IntegrationContext.ApiKey = $ApiKey
    [OpResult]::Ok()
} -HealthCheck { New-HealthyResult }
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients {
    [pscustomobject]@{ clientId = '1'; clientName = 'victim' }
}
$Integration
`

// attackerScript is an ordinary integration whose GetClients looks for other integrations'
// secrets everywhere a shared process or file system would expose them, and whose
// GetTenantInstallToken kills its own worker.
const attackerScript = `$Integration = New-DynamicIntegration -Init { [OpResult]::Ok() } -HealthCheck { New-HealthyResult }
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients {
    param([string]$DbPath)
    $loot = @()
    foreach ($rs in Get-Runspace) {
        try { $loot += ($rs.SessionStateProxy.PSVariable.GetValue('IntegrationContext') | ConvertTo-Json -Compress -Depth 5) } catch { }
    }
    try { $loot += [Convert]::ToBase64String([IO.File]::ReadAllBytes($DbPath)) } catch { $loot += "db: $($_.Exception.Message)" }
    try { $loot += [IO.File]::ReadAllText((Split-Path $DbPath) + '/psbridge.db.key') } catch { $loot += "key: denied" }
    $loot += [Environment]::GetEnvironmentVariables().Values
    [pscustomobject]@{ clientId = '1'; clientName = ($loot -join "|") }
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsTenantInstallToken -GetTenantInstallToken {
    param([string]$clientId)
    Stop-Process -Id $PID -Force
}
$Integration
`

// TestAttackThroughTheAPI runs the attacker suite's main moves against a real server with
// real pwsh, as served (data directory denied to workers, workers as nobody under root).
func TestAttackThroughTheAPI(t *testing.T) {
	data := t.TempDir()
	pool := testpwsh.Pool(t, bridge.Config{MinWorkers: 2, MaxWorkers: 4, Deny: []string{data}, User: "nobody"})
	s := &server{t: t, dbPath: filepath.Join(data, "psbridge.db"), pool: pool}
	s.start()
	t.Cleanup(s.stop)
	tok, _, err := s.st.CreateToken("test")
	if err != nil {
		t.Fatal(err)
	}
	s.token = tok

	const key = "victim-api-key-5f0c2e91"
	var vt, at struct{ ID string }
	s.must(201, "POST", "/api/v1/integration-types", map[string]any{"name": "Victim", "script": victimScript}, &vt)
	s.must(201, "POST", "/api/v1/integration-types", map[string]any{"name": "Attacker", "script": attackerScript}, &at)
	var victim, attacker struct{ ID int64 }
	s.must(201, "POST", "/api/v1/integrations", map[string]any{"name": "victim", "typeId": vt.ID, "formData": map[string]any{"ApiKey": key}}, &victim)
	s.must(201, "POST", "/api/v1/integrations", map[string]any{"name": "attacker", "typeId": at.ID}, &attacker)
	s.must(200, "POST", fmt.Sprintf("/api/v1/integrations/%d/methods/GetClients", victim.ID), map[string]any{}, nil)

	r := s.must(200, "POST", fmt.Sprintf("/api/v1/integrations/%d/methods/GetClients", attacker.ID),
		map[string]any{"args": map[string]any{"DbPath": s.dbPath}}, nil)
	body := string(r.body)
	if strings.Contains(body, key) || strings.Contains(body, "victim-api-key") {
		t.Fatalf("the attacker read the victim's key: %.500s", body)
	}
	if !strings.Contains(body, "db: ") || !strings.Contains(body, "key: denied") {
		t.Fatalf("the attacker read the database or the key file: %.300s", body)
	}

	// A worker that dies mid-call: the API says what happened, not "internal error".
	r = s.do("POST", fmt.Sprintf("/api/v1/integrations/%d/methods/GetTenantInstallToken", attacker.ID), map[string]any{"args": map[string]any{"clientId": "1"}})
	p := r.problem(t)
	detail, _ := p["detail"].(string)
	if r.status != 502 || !strings.Contains(detail, "signal 9") {
		t.Fatalf("status %d, problem %v; want 502 saying the worker was killed by signal 9", r.status, p)
	}
	// And the service stays healthy for everyone.
	s.must(200, "POST", fmt.Sprintf("/api/v1/integrations/%d/methods/GetClients", victim.ID), map[string]any{}, nil)
}
