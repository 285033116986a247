package engine

import (
	"strings"
	"testing"

	"github.com/psbridge/psbridge/engine/store"
)

// statusScript's Init writes an error when its form says so; its methods write errors, throw
// or succeed.
const statusScript = `
$Integration = New-DynamicIntegration -Init {
    param([Parameter(Mandatory)][bool]$WriteError)
    if ($WriteError) { Write-Error 'the vendor module is missing' }
    [OpResult]::Ok()
} -HealthCheck {
    New-HealthyResult
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients {
    [CmdletBinding()] [OutputType([Immybot.Backend.Domain.Providers.IProviderClientDetails[]])] param()
    New-IntegrationClient -ClientId 1 -ClientName 'One'
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsTenantInstallToken -GetTenantInstallToken {
    [CmdletBinding()] [OutputType([System.String])] param([Parameter(Mandatory)][string]$clientId)
    switch ($clientId) {
        'writes' { Write-Error "no token for $clientId"; 'partial' }
        'throws' { throw "cannot reach the vendor" }
        default  { 'token' }
    }
}
$Integration
`

func TestCallsThatWriteErrorsCompleteWithErrors(t *testing.T) {
	ctx := testCtx(t)
	e, _ := newEngine(t, Config{})
	typ, err := e.CreateType(ctx, TypeInput{Name: "Status", Script: statusScript})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := e.CreateInstance(ctx, InstanceInput{Name: "s", TypeID: typ.ID, FormData: map[string]any{"WriteError": true}})
	if err != nil {
		t.Fatal(err)
	}
	_, lastInit, err := e.LastCalls(inst.ID)
	if err != nil || lastInit == nil {
		t.Fatalf("last Init: %v %v", lastInit, err)
	}
	if lastInit.Status != store.CallCompletedWithErrors || !lastInit.OK || !lastInit.HadErrors {
		t.Errorf("Init that wrote an error: %+v, want status %q", lastInit, store.CallCompletedWithErrors)
	}
	if !strings.Contains(string(lastInit.Records), "the vendor module is missing") {
		t.Errorf("Init's records lack its error: %s", lastInit.Records)
	}

	cases := []struct {
		name       string
		method     string
		args       map[string]any
		wantStatus string
		wantErr    bool
	}{
		{"no errors", "GetTenantInstallToken", map[string]any{"clientId": "fine"}, store.CallOK, false},
		{"Write-Error", "GetTenantInstallToken", map[string]any{"clientId": "writes"}, store.CallCompletedWithErrors, false},
		{"throw", "GetTenantInstallToken", map[string]any{"clientId": "throws"}, store.CallFailed, true},
		{"listing", "GetClients", nil, store.CallOK, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := e.Call(ctx, inst.ID, c.method, c.args)
			if (err != nil) != c.wantErr {
				t.Fatalf("Call: %v, want error %v", err, c.wantErr)
			}
			if err == nil && res.HadErrors != (c.wantStatus == store.CallCompletedWithErrors) {
				t.Errorf("HadErrors %v", res.HadErrors)
			}
			last, _, err := e.LastCalls(inst.ID)
			if err != nil || last == nil {
				t.Fatalf("last call: %v %v", last, err)
			}
			if last.Method != c.method || last.Status != c.wantStatus {
				t.Errorf("logged %s %q, want %s %q", last.Method, last.Status, c.method, c.wantStatus)
			}
		})
	}
}

func TestHealthStatusOf(t *testing.T) {
	cases := []struct {
		in   any
		want string
	}{
		{"Healthy", store.StatusHealthy}, {"healthy", store.StatusHealthy}, {float64(2), store.StatusHealthy},
		{"Degraded", store.StatusDegraded}, {float64(1), store.StatusDegraded},
		{"Unhealthy", store.StatusUnhealthy}, {float64(0), store.StatusUnhealthy},
		{nil, store.StatusUnhealthy}, {"bogus", store.StatusUnhealthy},
	}
	for _, c := range cases {
		if got := store.HealthStatusOf(c.in); got != c.want {
			t.Errorf("HealthStatusOf(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}
