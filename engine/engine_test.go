package engine

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/psbridge/psbridge"
	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/fakes1"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

// newEngine starts a real pool and opens a real store in a temporary directory.
func newEngine(t *testing.T, cfg Config) (*Engine, *store.Store) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "psbridge.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	cfg.Store = st
	if cfg.Pool == nil {
		cfg.Pool = testpwsh.Pool(t, bridge.Config{MinWorkers: 2, MaxWorkers: 2})
	}
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = -1
	}
	if cfg.AgentSyncTick == 0 {
		cfg.AgentSyncTick = -1
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e, st
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func example(t *testing.T, path string) string {
	t.Helper()
	b, err := psbridge.Examples.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sentinelOne creates the SentinelOne module and type and an instance against fake.
func sentinelOne(t *testing.T, ctx context.Context, e *Engine, apiURL string) InstanceView {
	t.Helper()
	if _, err := e.PutModule("SentinelOne", example(t, "testdata/modules/SentinelOne.psm1"), true); err != nil {
		t.Fatal(err)
	}
	typ, err := e.CreateType(ctx, TypeInput{Name: "SentinelOne", Script: example(t, "testdata/examples/07-sentinelone.ps1"), ScriptName: "SentinelOne.ps1"})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := e.CreateInstance(ctx, InstanceInput{Name: "S1", TypeID: typ.ID,
		FormData: map[string]any{"S1Uri": apiURL, "S1ApiKey": fakes1.DefaultAPIToken}})
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func TestSentinelOneThroughTheEngine(t *testing.T) {
	ctx := testCtx(t)
	e, _ := newEngine(t, Config{})
	fake := fakes1.New(fakes1.Config{})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	inst := sentinelOne(t, ctx, e, srv.URL+"/")

	if inst.Health.Status != store.StatusHealthy {
		t.Fatalf("health = %+v", inst.Health)
	}
	if _, ok := inst.FormData["S1ApiKey"]; ok || len(inst.InputsWithStoredPasswords) != 1 || inst.InputsWithStoredPasswords[0] != "S1ApiKey" {
		t.Fatalf("form %v, stored passwords %v", inst.FormData, inst.InputsWithStoredPasswords)
	}
	if b, _ := json.Marshal(inst); strings.Contains(string(b), fakes1.DefaultAPIToken) {
		t.Fatalf("the API key is in the view: %s", b)
	}

	clients, err := e.Clients(ctx, inst.ID)
	if err != nil || len(clients) != len(fake.Sites()) {
		t.Fatalf("clients %v, %v", clients, err)
	}
	// Sync without mappings does not call GetAgents.
	if r, err := e.SyncAgents(ctx, inst.ID); err != nil || !r.Skipped {
		t.Fatalf("sync without mappings: %+v %v", r, err)
	}
	var tenants []store.Tenant
	for i, c := range clients {
		tn, err := e.CreateTenant(TenantInput{Name: "Tenant " + c.ExternalClientName})
		if err != nil {
			t.Fatal(err)
		}
		tenants = append(tenants, tn)
		if _, err := e.MapClient(inst.ID, c.ExternalClientID, tn.ID); err != nil {
			t.Fatalf("map %d: %v", i, err)
		}
	}
	r, err := e.SyncAgents(ctx, inst.ID)
	if err != nil || r.Agents != len(fake.Agents()) || r.Clients != 3 {
		t.Fatalf("sync: %+v %v", r, err)
	}
	pending, _ := e.PendingAgents()
	if len(pending) != len(fake.Agents()) {
		t.Fatalf("pending = %d", len(pending))
	}

	comp, err := e.CreateComputer(ComputerInput{Name: "PC-1", TenantID: tenants[1].ID})
	if err != nil {
		t.Fatal(err)
	}
	agent := fake.AgentsForSite(clients[1].ExternalClientID)[0]
	if _, err := e.Identify(comp.ID, inst.ID, agent.UUID); err != nil {
		t.Fatal(err)
	}
	if pending, _ = e.PendingAgents(); len(pending) != len(fake.Agents())-1 {
		t.Fatalf("pending after identification = %d", len(pending))
	}

	// A metascript resolves the install token through computer → tenant → client.
	res, err := e.RunScript(ctx, RunScriptInput{IntegrationID: inst.ID, ComputerID: comp.ID, Script: "Get-IntegrationAgentInstallToken"})
	if err != nil {
		t.Fatal(err)
	}
	site, _ := fake.Site(clients[1].ExternalClientID)
	if len(res.Output) != 1 || string(res.Output[0]) != `"`+site.RegistrationToken+`"` {
		t.Fatalf("token output %s, want %q", res.Output, site.RegistrationToken)
	}
	// The S1 example has no GetAgentUninstallToken.
	_, err = e.RunScript(ctx, RunScriptInput{IntegrationID: inst.ID, ComputerID: comp.ID, Script: "Get-IntegrationAgentUninstallToken"})
	if err == nil || !strings.Contains(err.Error(), "ISupportsAgentUninstallToken") {
		t.Fatalf("uninstall token: %v", err)
	}
	// Unlinked scripts get ImmyBot's text.
	_, err = e.RunScript(ctx, RunScriptInput{Script: "Get-IntegrationAgentInstallToken"})
	if err == nil || !strings.Contains(err.Error(), "An integration is not linked to this script") {
		t.Fatalf("unlinked: %v", err)
	}

	// The plugin endpoint's block.
	hres, _, err := e.HandleHTTP(ctx, inst.ID, map[string]any{"method": "POST", "path": "/plugins/api/v1/1/hook"}, map[string]any{"a": 1.0}, "hook")
	if err != nil {
		t.Fatal(err)
	}
	if raw := hres.LastOfType("ObjectResult"); raw == nil || !strings.Contains(string(raw), `"statusCode":200`) {
		t.Fatalf("HandleHttpRequest output %s %v", hres.Output, hres.OutputTypes)
	}

	// The call log has records, and nothing stored in clear holds the key.
	calls, err := e.CallLog(inst.ID, 0, 0)
	if err != nil || len(calls) < 5 {
		t.Fatalf("calls %d %v", len(calls), err)
	}
	for _, c := range calls {
		b, _ := json.Marshal(c)
		if strings.Contains(string(b), fakes1.DefaultAPIToken) {
			t.Fatalf("call log entry holds the API key: %s", b)
		}
	}
}

func TestCreateTypeRejectsScriptsThatDoNotParse(t *testing.T) {
	ctx := testCtx(t)
	e, st := newEngine(t, Config{})
	cases := []struct {
		name   string
		in     TypeInput
		check  func(error) bool
		wantIn string
	}{
		{"syntax", TypeInput{Name: "Bad", Script: "$Integration = New-DynamicIntegration -Init {\n  if ( {\n} -HealthCheck {}"},
			func(err error) bool { var pe *bridge.ParseError; return errors.As(err, &pe) && pe.Issues[0].Line == 3 }, "Bad.ps1:3:3"},
		{"no integration", TypeInput{Name: "Str", Script: "'just a string'"},
			func(err error) bool { var le *bridge.LoadError; return errors.As(err, &le) }, "integration"},
		{"missing fields", TypeInput{},
			func(err error) bool { var fe FieldErrors; return errors.As(err, &fe) && len(fe) == 2 }, "name: is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.CreateType(ctx, tc.in)
			if err == nil || !tc.check(err) || !strings.Contains(err.Error(), tc.wantIn) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if ts, _ := st.Types(); len(ts) != 0 {
		t.Fatalf("%d types stored", len(ts))
	}
}

const formScript = `$Integration = New-DynamicIntegration -Init {
    param(
        [Parameter(Mandatory)][Uri]$ApiUrl,
        [Parameter(Mandatory)][Password(StripValue)]$ApiKey,
        [int]$PageSize = 50
    )
    if ($ApiKey -eq 'wrong') { throw "the vendor refused key $ApiKey" }
    $IntegrationContext.Url = "$ApiUrl"
    $IntegrationContext.Key = $ApiKey
    [OpResult]::Ok()
} -HealthCheck {
    if ($IntegrationContext.Key -eq 'k-2') { return New-UnhealthyResult -Message 'bad key' }
    New-HealthyResult
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsTenantInstallToken -GetTenantInstallToken {
    param([string]$clientId)
    "token-$clientId-$($IntegrationContext.Key)"
}
$Integration
`

func TestInstanceFormsAndSecrets(t *testing.T) {
	ctx := testCtx(t)
	e, st := newEngine(t, Config{})
	typ, err := e.CreateType(ctx, TypeInput{Name: "Form", Script: formScript})
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		in   InstanceInput
		want []string
	}{
		{"everything missing", InstanceInput{}, []string{"name: is required", "typeId: is required"}},
		{"unknown type", InstanceInput{Name: "x", TypeID: "nope"}, []string{"typeId: no integration type"}},
		{"form problems at once", InstanceInput{Name: "x", TypeID: typ.ID, FormData: map[string]any{"PageSize": "many", "Extra": 1.0}},
			[]string{"formData.ApiKey: is required", "formData.ApiUrl: is required", "formData.Extra: unknown parameter", "formData.PageSize: must be a whole number"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.CreateInstance(ctx, tc.in)
			var fe FieldErrors
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v lacks %q", err, w)
				}
			}
		})
	}
	// Init throws: nothing is stored, and the key is masked in the error.
	_, err = e.CreateInstance(ctx, InstanceInput{Name: "x", TypeID: typ.ID, FormData: map[string]any{"ApiUrl": "https://v.example/", "ApiKey": "wrong"}})
	var ie *InitError
	if !errors.As(err, &ie) || strings.Contains(err.Error(), "refused key wrong") {
		t.Fatalf("err = %v", err)
	}
	if insts, _ := st.Instances(); len(insts) != 0 {
		t.Fatalf("%d instances stored after failures", len(insts))
	}

	inst, err := e.CreateInstance(ctx, InstanceInput{Name: "x", TypeID: typ.ID, FormData: map[string]any{"ApiUrl": "https://v.example/", "ApiKey": "k-1", "PageSize": 10.0}})
	if err != nil {
		t.Fatal(err)
	}
	if inst.Health.Status != store.StatusHealthy || inst.FormData["PageSize"] != 10.0 {
		t.Fatalf("%+v", inst)
	}
	// Update without the password keeps it; the token uses the context from Init.
	inst, err = e.UpdateInstance(ctx, inst.ID, InstanceInput{Name: "renamed", FormData: map[string]any{"ApiUrl": "https://w.example/"}})
	if err != nil {
		t.Fatal(err)
	}
	sec, _ := st.InstanceSecrets(inst.ID)
	if sec["ApiKey"] != "k-1" || inst.Name != "renamed" || inst.FormData["PageSize"] != nil {
		t.Fatalf("after update: %+v, secrets kept: %v", inst, sec["ApiKey"] == "k-1")
	}
	res, err := e.Call(ctx, inst.ID, "GetTenantInstallToken", map[string]any{"clientId": "7"})
	if err != nil || string(res.Output[0]) != `"token-7-k-1"` {
		t.Fatalf("token %v %v", res, err)
	}
	// A failed Init on update changes nothing.
	if _, err := e.UpdateInstance(ctx, inst.ID, InstanceInput{Name: "y", FormData: map[string]any{"ApiUrl": "https://w.example/", "ApiKey": "wrong"}}); !errors.As(err, &ie) {
		t.Fatalf("err = %v", err)
	}
	if got, _ := e.Instance(inst.ID); got.Name != "renamed" {
		t.Fatalf("name = %q", got.Name)
	}
	// A method the script lacks is a CapabilityError naming the interface.
	_, err = e.Call(ctx, inst.ID, "GetClients", nil)
	var ce *CapabilityError
	if !errors.As(err, &ce) || ce.Interface != "ISupportsListingClients" {
		t.Fatalf("err = %v", err)
	}
	if _, err := e.RefreshClients(ctx, inst.ID); !errors.As(err, &ce) {
		t.Fatalf("refresh: %v", err)
	}
}

const flakyScript = `$Integration = New-DynamicIntegration -Init {
    param([Parameter(Mandatory)][Uri]$ApiUrl)
    $IntegrationContext.Url = "$ApiUrl"
    [OpResult]::Ok()
} -HealthCheck {
    Invoke-RestMethod -Uri $IntegrationContext.Url -SkipHttpErrorCheck -StatusCodeVariable code | Out-Null
    if ($code -ne 200) { return New-UnhealthyResult -Message "vendor answered $code" }
    New-HealthyResult
}
$Integration
`

func TestHealthFailsAndRecoversByItself(t *testing.T) {
	ctx := testCtx(t)
	e, _ := newEngine(t, Config{UnhealthyAfter: 2})
	var down atomic.Bool
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer vendor.Close()
	typ, err := e.CreateType(ctx, TypeInput{Name: "Flaky", Script: flakyScript})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := e.CreateInstance(ctx, InstanceInput{Name: "f", TypeID: typ.ID, FormData: map[string]any{"ApiUrl": vendor.URL}})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		down bool
		want string
	}{
		{false, store.StatusHealthy}, {true, store.StatusUnhealthy}, {true, store.StatusUnhealthy}, {false, store.StatusHealthy},
	}
	for i, s := range steps {
		down.Store(s.down)
		h, err := e.CheckHealth(ctx, inst.ID)
		if err != nil || h.Status != s.want {
			calls, _ := e.CallLog(inst.ID, 2, 0)
			for _, c := range calls {
				t.Logf("%s ok=%v err=%s records=%s", c.Method, c.OK, c.Error, c.Records)
			}
			t.Fatalf("step %d: %+v %v, want %s", i, h, err, s.want)
		}
	}
	hist, err := e.HealthHistory(inst.ID, 0)
	if err != nil || len(hist) != len(steps)+1 || hist[0].Status != store.StatusHealthy {
		t.Fatalf("history %+v %v", hist, err)
	}
	// The periodic loop also runs checks on its own.
	before := len(hist)
	e2 := e
	e2.cfg.HealthInterval = 10 * time.Millisecond
	e2.Start(ctx)
	for {
		hist, _ = e.HealthHistory(inst.ID, 0)
		if len(hist) > before+1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no periodic health checks")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestMaintenanceMember(t *testing.T) {
	cases := []struct {
		members []string
		enable  bool
		want    string
	}{
		{[]string{"EnableMaintenanceMode", "DisableMaintenanceMode"}, true, "EnableMaintenanceMode"},
		{[]string{"EnableMaintenanceMode", "DisableMaintenanceMode"}, false, "DisableMaintenanceMode"},
		{[]string{"StopMaintenance", "StartMaintenance"}, true, "StartMaintenance"},
		{[]string{"StopMaintenance", "StartMaintenance"}, false, "StopMaintenance"},
		{[]string{"BeginMaintenance", "EndMaintenance"}, false, "EndMaintenance"},
		{[]string{"SetMaintenanceMode"}, false, "SetMaintenanceMode"},
		{[]string{"Foo", "Bar"}, true, ""},
	}
	for _, tc := range cases {
		got, _ := maintenanceMember(tc.members, tc.enable)
		if got != tc.want {
			t.Errorf("%v enable=%v: %q, want %q", tc.members, tc.enable, got, tc.want)
		}
	}
}

const maintenanceScript = `$Integration = New-DynamicIntegration -Init { [OpResult]::Ok() } -HealthCheck { New-HealthyResult }
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsMaintenanceMode -EnableMaintenanceMode {
    param([Immybot.Backend.Domain.Providers.IProviderAgentDetails]$agent)
    "on:$($agent.ExternalAgentId)"
} -DisableMaintenanceMode {
    param($agent)
    "off:$($agentId):$enable"
}
$Integration
`

func TestMaintenanceModeCallsTheScriptsMembers(t *testing.T) {
	ctx := testCtx(t)
	e, st := newEngine(t, Config{})
	typ, err := e.CreateType(ctx, TypeInput{Name: "RMM", Script: maintenanceScript})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := e.CreateInstance(ctx, InstanceInput{Name: "rmm", TypeID: typ.ID})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := e.CreateComputer(ComputerInput{Name: "PC"})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := e.CreateComputer(ComputerInput{Name: "PC2"})
	if err := st.UpsertAgents(inst.ID, []store.Agent{{ExternalAgentID: "a-1", Name: "PC"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Identify(pc.ID, inst.ID, "a-1"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		computer int64
		enable   bool
		member   string
		output   string
	}{
		{pc.ID, true, "EnableMaintenanceMode", `"on:a-1"`},
		{pc.ID, false, "DisableMaintenanceMode", `"off:a-1:False"`},
	}
	for _, tc := range cases {
		r, err := e.SetMaintenance(ctx, inst.ID, tc.computer, tc.enable)
		if err != nil {
			t.Fatal(err)
		}
		if r.Member != tc.member || len(r.Output) != 1 || string(r.Output[0]) != tc.output {
			t.Errorf("enable=%v: %+v (output %s)", tc.enable, r, r.Output)
		}
	}
	var le *LinkError
	if _, err := e.SetMaintenance(ctx, inst.ID, other.ID, true); !errors.As(err, &le) {
		t.Fatalf("computer without agent: %v", err)
	}
}

func TestSyncAgentsReportsScriptErrors(t *testing.T) {
	ctx := testCtx(t)
	e, _ := newEngine(t, Config{})
	script := `$Integration = New-DynamicIntegration -Init { [OpResult]::Ok() } -HealthCheck { New-HealthyResult }
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients {
    New-IntegrationClient -ClientId 1 -ClientName 'One'
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingAgents -GetAgents {
    param([string[]]$ClientIds)
    New-IntegrationAgent -Name good -AgentId a1 -ClientId 1 -AgentVersion '1.2.3'
    New-IntegrationAgent -Name bad -AgentId a2 -ClientId 1 -AgentVersion 'Unknown'
}
$Integration
`
	inst := mappedInstance(t, ctx, e, "Partial", script, "1")
	r, err := e.SyncAgents(ctx, inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Agents != 1 || len(r.ScriptErrors) != 1 {
		t.Fatalf("sync = %+v, want 1 agent and 1 script error", r)
	}
	if got := r.ScriptErrors[0]; !strings.Contains(got, "Partial.ps1:8:") || !strings.Contains(got, "Unknown") {
		t.Errorf("script error %q does not name Partial.ps1:8 and the bad value", got)
	}
}

func TestHealthDelay(t *testing.T) {
	e := &Engine{cfg: Config{HealthInterval: time.Hour, HealthRetry: 10 * time.Second}}
	cases := []struct {
		failures int
		want     time.Duration // before the ±10% spread
	}{
		{0, time.Hour},
		{1, 10 * time.Second},
		{2, 20 * time.Second},
		{4, 80 * time.Second},
		{12, time.Hour}, // 10 s << 11 passes the interval: capped
		{500, time.Hour},
	}
	for _, tc := range cases {
		for range 50 {
			got := e.healthDelay(tc.failures)
			if lo, hi := tc.want-tc.want/10, tc.want+tc.want/10; got < lo || got > hi {
				t.Fatalf("healthDelay(%d) = %v, want %v ±10%%", tc.failures, got, tc.want)
			}
		}
	}
}

func TestFailingInstancesAreRetriedSoonerThanHealthyOnes(t *testing.T) {
	ctx := testCtx(t)
	e, _ := newEngine(t, Config{HealthInterval: time.Hour, HealthRetry: 50 * time.Millisecond})
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	defer vendor.Close()
	typ, err := e.CreateType(ctx, TypeInput{Name: "Flaky", Script: flakyScript})
	if err != nil {
		t.Fatal(err)
	}
	good, err := e.CreateInstance(ctx, InstanceInput{Name: "good", TypeID: typ.ID, FormData: map[string]any{"ApiUrl": vendor.URL + "/up"}})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := e.CreateInstance(ctx, InstanceInput{Name: "bad", TypeID: typ.ID, FormData: map[string]any{"ApiUrl": vendor.URL + "/down"}})
	if err != nil {
		t.Fatal(err)
	}
	e.Start(ctx)
	for {
		hist, _ := e.HealthHistory(bad.ID, 0)
		if len(hist) >= 5 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the failing instance was checked %d times; want retries", len(hist))
		case <-time.After(20 * time.Millisecond):
		}
	}
	// The healthy instance is not due for an hour: the start-up check is its last.
	goodHist, _ := e.HealthHistory(good.ID, 0)
	badHist, _ := e.HealthHistory(bad.ID, 0)
	if len(goodHist) > 2 {
		t.Errorf("healthy instance checked %d times while the failing one was retried %d times", len(goodHist), len(badHist))
	}
}

func TestAgentsSyncPeriodically(t *testing.T) {
	ctx := testCtx(t)
	e, _ := newEngine(t, Config{AgentSyncPeriod: 100 * time.Millisecond, AgentSyncTick: 20 * time.Millisecond})
	script := `$Integration = New-DynamicIntegration -Init { [OpResult]::Ok() } -HealthCheck { New-HealthyResult }
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients {
    New-IntegrationClient -ClientId 7 -ClientName 'Seven'
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingAgents -GetAgents {
    param([string[]]$ClientIds)
    foreach ($c in $ClientIds) { New-IntegrationAgent -Name "pc-$c" -AgentId "agent-$c" -ClientId $c }
}
$Integration
`
	mappedInstance(t, ctx, e, "Periodic", script, "7")
	e.Start(ctx) // nothing here calls SyncAgents: the engine must do it by itself
	for {
		pending, err := e.PendingAgents()
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) == 1 && pending[0].ExternalAgentID == "agent-7" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no periodic agent sync: pending = %+v", pending)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// mappedInstance creates a type named name from script (as name.ps1), an instance of it, lists
// its clients and maps clientID to a new tenant.
func mappedInstance(t *testing.T, ctx context.Context, e *Engine, name, script, clientID string) InstanceView {
	t.Helper()
	typ, err := e.CreateType(ctx, TypeInput{Name: name, Script: script, ScriptName: name + ".ps1"})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := e.CreateInstance(ctx, InstanceInput{Name: name, TypeID: typ.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Clients(ctx, inst.ID); err != nil {
		t.Fatal(err)
	}
	tn, err := e.CreateTenant(TenantInput{Name: "Tenant of " + name})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.MapClient(inst.ID, clientID, tn.ID); err != nil {
		t.Fatal(err)
	}
	return inst
}

// TestScriptsOfDifferentIntegrationsNeverShareAWorker: an ad-hoc script linked to an
// integration holds its secrets, so it runs in workers of that integration's exec group only.
func TestScriptsOfDifferentIntegrationsNeverShareAWorker(t *testing.T) {
	ctx := testCtx(t)
	e, _ := newEngine(t, Config{Pool: testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 4})})
	typ, err := e.CreateType(ctx, TypeInput{Name: "M", Script: maintenanceScript})
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.CreateInstance(ctx, InstanceInput{Name: "a", TypeID: typ.ID})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.CreateInstance(ctx, InstanceInput{Name: "b", TypeID: typ.ID})
	if err != nil {
		t.Fatal(err)
	}
	run := func(in RunScriptInput) int {
		t.Helper()
		in.Script = "'x'"
		r, err := e.RunScript(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return r.Worker
	}
	wa, wa2 := run(RunScriptInput{IntegrationID: a.ID}), run(RunScriptInput{IntegrationID: a.ID})
	wb, wu := run(RunScriptInput{IntegrationID: b.ID}), run(RunScriptInput{})
	if wa != wa2 {
		t.Errorf("two scripts linked to the same integration used workers %d and %d, want one warm worker", wa, wa2)
	}
	if wa == wb || wa == wu || wb == wu {
		t.Fatalf("workers: linked to a %d, linked to b %d, unlinked %d; want three different processes", wa, wb, wu)
	}
}
