package psmodule_test

// Compatibility-surface tests: every capability, type, attribute and cmdlet of the reference
// (shared/reference/immybot-surface.md §1–3) driven through a real pool of pwsh workers, the
// way the engine calls them.

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

// ---- helpers -----------------------------------------------------------------------------------

func compatPool(t *testing.T) *bridge.Pool {
	t.Helper()
	return testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 2})
}

const compatInitHealth = `$Integration = New-DynamicIntegration -Init {
    param([string]$Name)
    $IntegrationContext.Name = $Name
    [OpResult]::Ok()
} -HealthCheck { New-HealthyResult }
`

// compatScript is a minimal integration with the given Add-DynamicIntegrationCapability lines.
func compatScript(instance, capabilities string) bridge.Script {
	return bridge.Script{Instance: instance, Name: instance + ".ps1", Text: compatInitHealth + capabilities + "\n$Integration\n"}
}

// compatBlock is an integration whose GetClients block is body (a snippet under test).
func compatBlock(instance, body string) bridge.Script {
	return compatScript(instance, "$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients {\n"+body+"\n}")
}

func compatInvoke(p *bridge.Pool, c bridge.Call) (*bridge.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return p.Invoke(ctx, c)
}

func mustInvoke(t *testing.T, p *bridge.Pool, c bridge.Call) *bridge.Result {
	t.Helper()
	r, err := compatInvoke(p, c)
	if err != nil {
		t.Fatalf("%s: %v%s", c.Method, err, scriptErrorDetail(err))
	}
	return r
}

func mustDescribe(t *testing.T, p *bridge.Pool, s bridge.Script) *bridge.Description {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := p.Describe(ctx, s)
	if err != nil {
		t.Fatalf("describe %s: %v%s", s.Name, err, scriptErrorDetail(err))
	}
	return d
}

func scriptErrorDetail(err error) string {
	var se *bridge.ScriptError
	if errors.As(err, &se) && se.PositionMessage != "" {
		return "\n" + se.PositionMessage
	}
	return ""
}

// outputAny decodes every output value (strings stay strings, objects become maps).
func outputAny(t *testing.T, r *bridge.Result) []any {
	t.Helper()
	out := make([]any, 0, len(r.Output))
	for _, o := range r.Output {
		var v any
		if err := json.Unmarshal(o, &v); err != nil {
			t.Fatalf("output %s: %v", o, err)
		}
		out = append(out, v)
	}
	return out
}

func outputObjects(t *testing.T, r *bridge.Result) []map[string]any {
	t.Helper()
	var out []map[string]any
	for i, v := range outputAny(t, r) {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("output %d = %s, want an object", i, r.Output[i])
		}
		out = append(out, m)
	}
	return out
}

func outputTexts(t *testing.T, r *bridge.Result) []string {
	t.Helper()
	var out []string
	for i, v := range outputAny(t, r) {
		s, ok := v.(string)
		if !ok {
			t.Fatalf("output %d = %s, want a string", i, r.Output[i])
		}
		out = append(out, s)
	}
	return out
}

func wantTexts(t *testing.T, r *bridge.Result, want ...string) {
	t.Helper()
	got := outputTexts(t, r)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("output = %q\nwant     %q", got, want)
	}
}

// wantFields checks the fields of one output object (numbers compare as float64).
func wantFields(t *testing.T, obj map[string]any, want map[string]any) {
	t.Helper()
	for k, w := range want {
		g, ok := obj[k]
		if !ok {
			t.Errorf("field %q missing in %v", k, obj)
			continue
		}
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		if string(gj) != string(wj) {
			t.Errorf("field %q = %s, want %s", k, gj, wj)
		}
	}
}

func recordsOf(r []bridge.Record, stream string) []string {
	var out []string
	for _, rec := range r {
		if rec.Stream == stream {
			out = append(out, rec.Message)
		}
	}
	return out
}

// recordingHost is a bridge.Host that remembers every callback and answers from its fields.
type recordingHost struct {
	modules  bridge.Modules
	tokens   map[bridge.TokenKind]any // a kind missing here is refused with bridge.ErrNotLinked
	computer func(bridge.ComputerCommand) ([]json.RawMessage, error)

	mu       sync.Mutex
	kinds    []bridge.TokenKind
	commands []bridge.ComputerCommand
	lookups  []string
}

func (h *recordingHost) FindModule(ctx context.Context, name string) (*bridge.Module, error) {
	h.mu.Lock()
	h.lookups = append(h.lookups, name)
	h.mu.Unlock()
	return h.modules.FindModule(ctx, name)
}

func (h *recordingHost) Token(_ context.Context, kind bridge.TokenKind) (any, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.kinds = append(h.kinds, kind)
	v, ok := h.tokens[kind]
	if !ok {
		return nil, bridge.ErrNotLinked
	}
	return v, nil
}

func (h *recordingHost) RunOnComputer(_ context.Context, cmd bridge.ComputerCommand) ([]json.RawMessage, error) {
	h.mu.Lock()
	h.commands = append(h.commands, cmd)
	h.mu.Unlock()
	if h.computer == nil {
		return nil, bridge.ErrNoComputer
	}
	return h.computer(cmd)
}

func rawJSON(values ...any) []json.RawMessage {
	var out []json.RawMessage
	for _, v := range values {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		out = append(out, b)
	}
	return out
}

// ---- 1. capabilities with known members ------------------------------------------------------

const everyCapability = `
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients {
    [OutputType([IProviderClientDetails[]])]
    param()
    New-IntegrationClient -ClientId 42 -ClientName 'Int Co'
    New-IntegrationClient -ClientId ([guid]'6f1d7c0e-5a4b-4c1e-9d8e-2b7f3a9c4e51') -ClientName 'Guid Co'
    New-IntegrationClient -ClientId 'abc' -ClientName "Ctx $($IntegrationContext.Name)"
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingAgents -GetAgents {
    [OutputType([Immybot.Backend.Domain.Providers.IProviderAgentDetails[]])]
    [JobSettings(PeriodMinutes = 5)]
    param([string[]]$ClientIds = $null)
    if ($null -eq $ClientIds) { 'ClientIds is null'; return }
    if ($ClientIds.Count -eq 0) { 'ClientIds is an empty array'; return }
    foreach ($id in $ClientIds) {
        New-IntegrationAgent -AgentId "agent-$id" -Name "PC-$id" -ClientId $id -IsOnline $true -AgentVersion '23.1.2.400' -SupportsRunningScripts $true
    }
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsInventoryIdentification -GetInventoryScript {
    Invoke-ImmyCommand { (Get-ItemProperty 'HKLM:\SOFTWARE\Vendor' -Name AgentId).AgentId }
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsTenantInstallToken -GetTenantInstallToken {
    [OutputType([string])]
    param([Parameter(Mandatory)][string]$clientId)
    "install-$clientId"
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsTenantUninstallToken -GetTenantUninstallToken {
    "uninstall-$clientId"
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsAgentUninstallToken -GetAgentUninstallToken {
    param([string]$agentId)
    "agent-uninstall-$agentId"
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsDeletingOfflineAgent -DeleteAgent {
    [OutputType([System.Void])]
    param([Immybot.Backend.Domain.Providers.IProviderAgentDetails]$agent)
    "deleted ext=$($agent.ExternalAgentId) id=$($agent.AgentId) client=$($agent.ExternalClientId) name=$($agent.DeviceDetails.DeviceName) typed=$($agent -is [IProviderAgentDetails])"
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsDynamicVersions -GetDynamicVersions {
    [OutputType([Immybot.Backend.Domain.Models.DynamicVersion[]])]
    param([Parameter(Mandatory)][string]$externalClientId)
    New-DynamicVersion -Url "https://dl.example.com/$externalClientId/agent.msi" -Version '1.2.3' -FileName 'agent.msi' -Architecture X64 -PackageType MSI
    New-DynamicVersion -URL 'https://dl.example.com/agent-2.exe' -Version 'v2.0.1-beta.1' -FileName 'agent-2.exe' -PackageType Executable
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsAuthenticatedDownload -GetAuthHeader {
    [OutputType([hashtable])]
    param()
    @{ Authorization = "Bearer $($IntegrationContext.Name)" }
}
$Integration | Add-DynamicIntegrationCapability -Interface IRunScriptProvider -RunScript {
    [OutputType([string])]
    param(
        [Parameter(Mandatory)][IProviderAgentDetails]$agent,
        [Parameter(Mandatory)][string]$scriptCode,
        [Parameter(Mandatory)][ScriptLanguage]$scriptLanguage,
        [Parameter(Mandatory)][int]$timeout,
        [Parameter(Mandatory)][string]$scriptPath
    )
    "agent=$($agent.ExternalAgentId) lang=$scriptLanguage/$([int]$scriptLanguage) timeout=$timeout/$($timeout.GetType().Name) path=$scriptPath code=$scriptCode"
} -get_DefaultTimeout { 600 }
$Integration | Add-DynamicIntegrationCapability -GetExternalProviderAgentUrl {
    [OutputType([string])]
    param([IProviderAgentDetails]$device)
    "https://console.example.com/agents/$($device.ExternalAgentId)"
} -Interface ISupportsExternalProviderAgentUrl
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsSupportTicketDetailOverride -CreateTicket {
    [OutputType([SupportTicketCreationResult])]
    param(
        [Parameter(Mandatory)][string]$requesterEmail,
        [Parameter(Mandatory)][string]$subject,
        [Parameter(Mandatory)][string]$notes,
        [string[]]$blobUrls,
        [string]$sessionUrl,
        [Parameter(Mandatory)][Immybot.Backend.Domain.Models.User]$user
    )
    $r = [SupportTicketCreationResult]::new()
    $r.Success = $true
    $r.Message = "from=$requesterEmail subject=$subject notes=$notes blobs=$($blobUrls -join ';') session=$sessionUrl user=$($user.Id):$($user.FirstName) $($user.LastName)"
    $r
} -NewSupportFormBranding {
    [OutputType([DotNext.Optional[Immybot.Backend.Providers.Interfaces.ProviderSupportFormBranding]])]
    param()
    New-SupportFormBranding -SupportSidebarTitle 'Contoso desk' -ShowConfirmationCheckbox $true -FooterMessage 'Thanks'
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsHttpRequest -HandleHttpRequest {
    [OutputType([Microsoft.AspNetCore.Mvc.IActionResult])]
    param(
        [Parameter(Mandatory)][Microsoft.AspNetCore.Http.HttpContext]$httpContext,
        $body,
        [Parameter(Mandatory)]$route
    )
    $req = $httpContext.Request
    $raw = [System.IO.StreamReader]::new($req.Body).ReadToEnd()
    $r = [ObjectResult]::new([ordered]@{
        method      = $req.Method
        path        = [string]$req.Path
        pathValue   = $req.Path.Value
        pathEq      = $req.Path -eq '/plugins/api/v1/3/hook'
        pathLike    = $req.Path -like '*/hook'
        isPost      = $req.Method -eq 'POST'
        header      = "$($req.Headers['X-Test'])"
        headerLower = "$($req.Headers['x-test'])"
        missing     = [bool]$req.Headers['X-Missing']
        q           = "$($req.Query['q'])"
        queryString = [string]$req.QueryString
        contentType = $req.ContentType
        route       = $route
        bodyEvent   = $body.event
        raw         = $raw
    })
    $r.StatusCode = 201
    $r
}
`

func TestCompatCapabilityMembers(t *testing.T) {
	p := compatPool(t)
	script := compatScript("compat-every", everyCapability)
	host := &recordingHost{computer: func(bridge.ComputerCommand) ([]json.RawMessage, error) {
		return rawJSON("agent-from-the-computer"), nil
	}}
	agent := map[string]any{"externalAgentId": "ext-7", "externalClientId": "c-9", "deviceDetails": map[string]any{"deviceName": "PC9"}, "isOnline": true}

	d := mustDescribe(t, p, script)
	wantCaps := map[string]string{
		"ISupportsListingClients":              "GetClients",
		"ISupportsListingAgents":               "GetAgents",
		"ISupportsInventoryIdentification":     "GetInventoryScript",
		"ISupportsTenantInstallToken":          "GetTenantInstallToken",
		"ISupportsTenantUninstallToken":        "GetTenantUninstallToken",
		"ISupportsAgentUninstallToken":         "GetAgentUninstallToken",
		"ISupportsDeletingOfflineAgent":        "DeleteAgent",
		"ISupportsDynamicVersions":             "GetDynamicVersions",
		"ISupportsAuthenticatedDownload":       "GetAuthHeader",
		"IRunScriptProvider":                   "RunScript,get_DefaultTimeout",
		"ISupportsExternalProviderAgentUrl":    "GetExternalProviderAgentUrl",
		"ISupportsSupportTicketDetailOverride": "CreateTicket,NewSupportFormBranding",
		"ISupportsHttpRequest":                 "HandleHttpRequest",
	}
	if len(d.Capabilities) != len(wantCaps) {
		t.Errorf("Describe found %d capabilities, want %d: %+v", len(d.Capabilities), len(wantCaps), d.Capabilities)
	}
	for _, c := range d.Capabilities {
		if got := strings.Join(c.Members, ","); got != wantCaps[c.Interface] {
			t.Errorf("capability %s members = %q, want %q", c.Interface, got, wantCaps[c.Interface])
		}
	}

	cases := []struct {
		name   string
		method string
		args   map[string]any
		check  func(t *testing.T, r *bridge.Result)
	}{
		{"GetClients", "GetClients", nil, func(t *testing.T, r *bridge.Result) {
			objs := outputObjects(t, r)
			if len(objs) != 3 {
				t.Fatalf("got %d clients: %s", len(objs), r.Output)
			}
			wantFields(t, objs[0], map[string]any{"clientId": "42", "clientName": "Int Co"})
			wantFields(t, objs[1], map[string]any{"clientId": "6f1d7c0e-5a4b-4c1e-9d8e-2b7f3a9c4e51", "clientName": "Guid Co"})
			wantFields(t, objs[2], map[string]any{"clientId": "abc", "clientName": "Ctx acme"})
		}},
		{"GetAgents-nil-ClientIds", "GetAgents", map[string]any{"ClientIds": nil}, func(t *testing.T, r *bridge.Result) {
			wantTexts(t, r, "ClientIds is null")
		}},
		{"GetAgents-nil-slice", "GetAgents", map[string]any{"ClientIds": []string(nil)}, func(t *testing.T, r *bridge.Result) {
			wantTexts(t, r, "ClientIds is null")
		}},
		{"GetAgents-no-args", "GetAgents", nil, func(t *testing.T, r *bridge.Result) {
			wantTexts(t, r, "ClientIds is null")
		}},
		{"GetAgents-ids", "GetAgents", map[string]any{"ClientIds": []any{"s1", 7}}, func(t *testing.T, r *bridge.Result) {
			objs := outputObjects(t, r)
			if len(objs) != 2 {
				t.Fatalf("got %d agents: %s", len(objs), r.Output)
			}
			wantFields(t, objs[0], map[string]any{"agentId": "agent-s1", "name": "PC-s1", "clientId": "s1", "isOnline": true, "agentVersion": "23.1.2.400", "supportsRunningScripts": true})
			wantFields(t, objs[1], map[string]any{"agentId": "agent-7", "clientId": "7"})
			if !strings.HasSuffix(r.OutputTypes[0], "IntegrationAgent") {
				t.Errorf("output type %s", r.OutputTypes[0])
			}
		}},
		{"GetInventoryScript", "GetInventoryScript", nil, func(t *testing.T, r *bridge.Result) {
			wantTexts(t, r, "agent-from-the-computer")
		}},
		{"GetTenantInstallToken", "GetTenantInstallToken", map[string]any{"clientId": "site-1"}, func(t *testing.T, r *bridge.Result) {
			wantTexts(t, r, "install-site-1")
		}},
		{"GetTenantInstallToken-ClientId-any-case", "GetTenantInstallToken", map[string]any{"ClientID": 99}, func(t *testing.T, r *bridge.Result) {
			wantTexts(t, r, "install-99")
		}},
		{"GetTenantUninstallToken-no-param-block", "GetTenantUninstallToken", map[string]any{"clientId": "site-2"}, func(t *testing.T, r *bridge.Result) {
			wantTexts(t, r, "uninstall-site-2")
		}},
		{"GetAgentUninstallToken", "GetAgentUninstallToken", map[string]any{"agentId": "ag-3"}, func(t *testing.T, r *bridge.Result) {
			wantTexts(t, r, "agent-uninstall-ag-3")
		}},
		{"DeleteAgent", "DeleteAgent", map[string]any{"agent": agent}, func(t *testing.T, r *bridge.Result) {
			wantTexts(t, r, "deleted ext=ext-7 id=ext-7 client=c-9 name=PC9 typed=True")
		}},
		{"DeleteAgent-agentId-key", "DeleteAgent", map[string]any{"agent": map[string]any{"agentId": "a-2", "clientId": "c-1", "name": "PC2"}}, func(t *testing.T, r *bridge.Result) {
			wantTexts(t, r, "deleted ext=a-2 id=a-2 client=c-1 name=PC2 typed=True")
		}},
		{"GetDynamicVersions", "GetDynamicVersions", map[string]any{"externalClientId": "site-4"}, func(t *testing.T, r *bridge.Result) {
			objs := outputObjects(t, r)
			if len(objs) != 2 {
				t.Fatalf("got %d versions: %s", len(objs), r.Output)
			}
			wantFields(t, objs[0], map[string]any{"url": "https://dl.example.com/site-4/agent.msi", "version": "1.2.3", "fileName": "agent.msi", "architecture": "X64", "packageType": "MSI"})
			wantFields(t, objs[1], map[string]any{"url": "https://dl.example.com/agent-2.exe", "version": "2.0.1", "packageType": "Executable"})
			if r.OutputTypes[0] != "Immybot.Backend.Domain.Models.DynamicVersion" {
				t.Errorf("output type %s", r.OutputTypes[0])
			}
		}},
		{"GetAuthHeader", "GetAuthHeader", nil, func(t *testing.T, r *bridge.Result) {
			objs := outputObjects(t, r)
			if len(objs) != 1 {
				t.Fatalf("output %s", r.Output)
			}
			wantFields(t, objs[0], map[string]any{"Authorization": "Bearer acme"})
			if r.OutputTypes[0] != "System.Collections.Hashtable" {
				t.Errorf("output type %s, want a hashtable", r.OutputTypes[0])
			}
		}},
		{"RunScript", "RunScript", map[string]any{"agent": agent, "scriptCode": "hostname", "scriptLanguage": "PowerShell", "timeout": 300, "scriptPath": "C:/x.ps1"}, func(t *testing.T, r *bridge.Result) {
			wantTexts(t, r, "agent=ext-7 lang=PowerShell/2 timeout=300/Int32 path=C:/x.ps1 code=hostname")
		}},
		{"RunScript-language-as-number", "RunScript", map[string]any{"agent": agent, "scriptCode": "dir", "scriptLanguage": 1, "timeout": 5, "scriptPath": "p"}, func(t *testing.T, r *bridge.Result) {
			wantTexts(t, r, "agent=ext-7 lang=CommandLine/1 timeout=5/Int32 path=p code=dir")
		}},
		{"get_DefaultTimeout", "get_DefaultTimeout", nil, func(t *testing.T, r *bridge.Result) {
			if v := outputAny(t, r); len(v) != 1 || v[0] != float64(600) {
				t.Fatalf("output %s, want 600", r.Output)
			}
		}},
		{"GetExternalProviderAgentUrl", "GetExternalProviderAgentUrl", map[string]any{"device": agent}, func(t *testing.T, r *bridge.Result) {
			wantTexts(t, r, "https://console.example.com/agents/ext-7")
		}},
		{"CreateTicket", "CreateTicket", map[string]any{
			"requesterEmail": "ann@example.com", "subject": "Help", "notes": "It broke",
			"blobUrls": []string{"https://blob/1", "https://blob/2"}, "sessionUrl": "https://immy/session/5",
			"user": map[string]any{"id": 12, "firstName": "Ann", "lastName": "Lee", "email": "ann@example.com"},
		}, func(t *testing.T, r *bridge.Result) {
			objs := outputObjects(t, r)
			if len(objs) != 1 {
				t.Fatalf("output %s", r.Output)
			}
			wantFields(t, objs[0], map[string]any{"success": true,
				"message": "from=ann@example.com subject=Help notes=It broke blobs=https://blob/1;https://blob/2 session=https://immy/session/5 user=12:Ann Lee"})
			if r.OutputTypes[0] != "Immybot.Backend.Providers.Interfaces.SupportTicketCreationResult" {
				t.Errorf("output type %s", r.OutputTypes[0])
			}
		}},
		{"NewSupportFormBranding", "NewSupportFormBranding", nil, func(t *testing.T, r *bridge.Result) {
			objs := outputObjects(t, r)
			if len(objs) != 1 {
				t.Fatalf("output %s", r.Output)
			}
			wantFields(t, objs[0], map[string]any{"supportSidebarTitle": "Contoso desk", "showConfirmationCheckbox": true, "footerMessage": "Thanks"})
		}},
		{"HandleHttpRequest", "HandleHttpRequest", map[string]any{
			"httpContext": map[string]any{
				"method": "post", "path": "/plugins/api/v1/3/hook", "queryString": "?q=a+b&x=1",
				"headers":     map[string]any{"X-Test": []string{"yes"}, "Content-Type": []string{"application/json"}},
				"contentType": "application/json", "body": `{"event":"created"}`,
			},
			"body": map[string]any{"event": "created"}, "route": "hook",
		}, func(t *testing.T, r *bridge.Result) {
			objs := outputObjects(t, r)
			if len(objs) != 1 {
				t.Fatalf("output %s", r.Output)
			}
			wantFields(t, objs[0], map[string]any{"statusCode": 201})
			value, _ := objs[0]["value"].(map[string]any)
			wantFields(t, value, map[string]any{
				"method": "POST", "path": "/plugins/api/v1/3/hook", "pathValue": "/plugins/api/v1/3/hook", "pathEq": true, "pathLike": true, "isPost": true,
				"header": "yes", "headerLower": "yes", "missing": false, "q": "a b", "queryString": "?q=a+b&x=1",
				"contentType": "application/json", "route": "hook", "bodyEvent": "created", "raw": `{"event":"created"}`,
			})
		}},
		{"HandleHttpRequest-query-map", "HandleHttpRequest", map[string]any{
			"httpContext": map[string]any{"method": "GET", "path": "/x", "query": map[string]any{"q": []string{"v1"}}},
			"route":       "x",
		}, func(t *testing.T, r *bridge.Result) {
			objs := outputObjects(t, r)
			value, _ := objs[0]["value"].(map[string]any)
			wantFields(t, value, map[string]any{"method": "GET", "q": "v1", "queryString": "?q=v1", "raw": ""})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := mustInvoke(t, p, bridge.Call{Script: script, Method: tc.method, Args: tc.args, Host: host,
				Context: json.RawMessage(`{"Name":"acme"}`)})
			tc.check(t, r)
		})
	}
	t.Run("every-known-member-was-called", func(t *testing.T) {
		called := map[string]bool{}
		for _, tc := range cases {
			called[tc.method] = true
		}
		for _, members := range wantCaps {
			for _, m := range strings.Split(members, ",") {
				if !called[m] {
					t.Errorf("no case calls %s", m)
				}
			}
		}
	})
}

// Interfaces whose members the public material does not show take any -Member { } blocks.
func TestCompatCapabilitiesWithoutKnownMembers(t *testing.T) {
	p := compatPool(t)
	script := compatScript("compat-open", `
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsMaintenanceMode -EnableMaintenanceMode {
    param($agent)
    "on:$($agent.ExternalAgentId)"
} -DisableMaintenanceMode {
    param([IProviderAgentDetails]$agent, [int]$minutes = 5)
    "off:$($agent.ExternalAgentId):$minutes"
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsClientGrouping -GetClientGroups {
    param([string]$clientId)
    "groups:$clientId"
} -GetClient { 'a member named like the start of -GetClients' }
$Integration | Add-DynamicIntegrationCapability -Interface isupportsagentpowershellinstallscript -GetAgentPowerShellInstallScript:{
    param($clientId)
    "install script for $clientId"
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsGetLatestAgentVersion -GetLatestAgentVersion { [version]'4.5.6' }
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsDownloadAgentInstaller -GetDownloadAgentInstaller { 'https://dl.example.com/agent.msi' } -GetAgent { 'get-agent' } -Delete { 'delete' }
`)
	d := mustDescribe(t, p, script)
	var got []string
	for _, c := range d.Capabilities {
		got = append(got, c.Interface+"="+strings.Join(c.Members, ","))
	}
	want := []string{
		"ISupportsMaintenanceMode=EnableMaintenanceMode,DisableMaintenanceMode",
		"ISupportsClientGrouping=GetClientGroups,GetClient",
		"ISupportsAgentPowerShellInstallScript=GetAgentPowerShellInstallScript",
		"ISupportsGetLatestAgentVersion=GetLatestAgentVersion",
		"ISupportsDownloadAgentInstaller=GetDownloadAgentInstaller,GetAgent,Delete",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("capabilities = %q\nwant           %q", got, want)
	}
	if m, ok := d.Method("DisableMaintenanceMode"); !ok || len(m.Parameters) != 2 || m.Parameters[0].Name != "agent" || m.Parameters[1].Name != "minutes" ||
		m.Interface != "ISupportsMaintenanceMode" {
		t.Fatalf("DisableMaintenanceMode schema = %+v", m)
	}
	agent := map[string]any{"externalAgentId": "ext-1"}
	cases := []struct {
		method string
		args   map[string]any
		want   string
	}{
		{"EnableMaintenanceMode", map[string]any{"agent": agent}, "on:ext-1"},
		{"DisableMaintenanceMode", map[string]any{"agent": agent}, "off:ext-1:5"},
		{"GetClientGroups", map[string]any{"clientId": "c1"}, "groups:c1"},
		{"GetAgentPowerShellInstallScript", map[string]any{"clientId": "c2"}, "install script for c2"},
		{"GetLatestAgentVersion", nil, "4.5.6"},
		{"GetDownloadAgentInstaller", nil, "https://dl.example.com/agent.msi"},
		{"GetClient", nil, "a member named like the start of -GetClients"},
		{"GetAgent", nil, "get-agent"},
		{"Delete", nil, "delete"},
	}
	for _, tc := range cases {
		t.Run(tc.method, func(t *testing.T) {
			wantTexts(t, mustInvoke(t, p, bridge.Call{Script: script, Method: tc.method, Args: tc.args}), tc.want)
		})
	}
}

// ---- 2. errors ---------------------------------------------------------------------------------

func TestCompatCapabilityErrors(t *testing.T) {
	p := compatPool(t)
	cases := []struct {
		name, capabilities string
		want               []string
		absent             []string
	}{
		{"unknown-interface", `$Integration | Add-DynamicIntegrationCapability -Interface ISupportsAgentInstallToken -GetTenantInstallToken { 'x' }`,
			[]string{"ISupportsAgentInstallToken", "Valid interfaces", "ISupportsTenantInstallToken", "ISupportsListingClients", "IRunScriptProvider", "ISupportsSupportTicketDetailOverride"}, nil},
		{"did-you-mean", `$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClient -GetClients { 'x' }`,
			[]string{"'ISupportsListingClient' is not a dynamic integration interface. Did you mean ISupportsListingClients?", "Valid interfaces"}, nil},
		{"did-you-mean-swapped-letters", `$Integration | Add-DynamicIntegrationCapability -Interface isupportslsitingagents -GetAgents { }`,
			[]string{"Did you mean ISupportsListingAgents?"}, nil},
		{"nothing-close", `$Integration | Add-DynamicIntegrationCapability -Interface IPrinter -Print { }`,
			[]string{"'IPrinter' is not a dynamic integration interface.", "Valid interfaces"}, []string{"Did you mean"}},
		{"member-of-another-interface", `$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingAgents -GetClients { }`,
			[]string{"GetClients", "ISupportsListingAgents", "GetAgents"}, nil},
		{"made-up-member", `$Integration | Add-DynamicIntegrationCapability -Interface IRunScriptProvider -RunScript { } -RunScripts { }`,
			[]string{"RunScripts", "IRunScriptProvider", "get_DefaultTimeout"}, nil},
		{"no-member", `$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients`,
			[]string{"ISupportsListingClients", "GetClients"}, nil},
		{"member-not-a-script-block", `$Integration | Add-DynamicIntegrationCapability -Interface ISupportsMaintenanceMode -EnableMaintenanceMode 'text'`,
			[]string{"EnableMaintenanceMode", "script block"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			_, err := p.Describe(ctx, compatScript("compat-err-"+tc.name, tc.capabilities))
			if err == nil {
				t.Fatal("the script loaded; want a load failure")
			}
			// Every case is on line 6 of the script: the error must say so.
			for _, w := range append(tc.want, "compat-err-"+tc.name+".ps1:6:") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(err.Error(), a) {
					t.Errorf("error %q says %q", err, a)
				}
			}
		})
	}

	t.Run("method-the-integration-lacks", func(t *testing.T) {
		script := compatScript("compat-lacks", `$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients { 'c' }`)
		for _, method := range []string{"GetAgents", "RunScript", "NoSuchMethod"} {
			_, err := compatInvoke(p, bridge.Call{Script: script, Method: method})
			var ns *bridge.NotSupportedError
			if !errors.As(err, &ns) {
				t.Fatalf("%s: err = %T %v, want *bridge.NotSupportedError", method, err, err)
			}
			if ns.Method != method || strings.Join(ns.Capabilities, ",") != "ISupportsListingClients" {
				t.Errorf("%s: NotSupportedError = %+v", method, ns)
			}
		}
	})
}

// ---- 3. types and attributes ---------------------------------------------------------------------

func TestCompatTypeNames(t *testing.T) {
	p := compatPool(t)
	cases := []struct {
		typ, fullName string
	}{
		{"OpResult", "PSBridge.OpResult"},
		{"HealthCheckResult", "PSBridge.HealthCheckResult"},
		{"ObjectResult", "Microsoft.AspNetCore.Mvc.ObjectResult"},
		{"IActionResult", "Microsoft.AspNetCore.Mvc.IActionResult"},
		{"Microsoft.AspNetCore.Mvc.IActionResult", "Microsoft.AspNetCore.Mvc.IActionResult"},
		{"Microsoft.AspNetCore.Http.HttpContext", "Microsoft.AspNetCore.Http.HttpContext"},
		{"IProviderClientDetails[]", "Immybot.Backend.Domain.Providers.IProviderClientDetails[]"},
		{"Immybot.Backend.Domain.Providers.IProviderClientDetails[]", "Immybot.Backend.Domain.Providers.IProviderClientDetails[]"},
		{"IProviderAgentDetails", "Immybot.Backend.Domain.Providers.IProviderAgentDetails"},
		{"Immybot.Backend.Domain.Providers.IProviderAgentDetails", "Immybot.Backend.Domain.Providers.IProviderAgentDetails"},
		{"Immybot.Backend.Domain.Models.DynamicVersion[]", "Immybot.Backend.Domain.Models.DynamicVersion[]"},
		{"Immybot.Backend.Domain.Models.User", "Immybot.Backend.Domain.Models.User"},
		{"Immybot.Backend.Providers.Interfaces.ProviderSupportFormBranding", "Immybot.Backend.Providers.Interfaces.ProviderSupportFormBranding"},
		{"DotNext.Optional[Immybot.Backend.Providers.Interfaces.ProviderSupportFormBranding]", "DotNext.Optional`1[[Immybot.Backend.Providers.Interfaces.ProviderSupportFormBranding"},
		{"SupportTicketCreationResult", "Immybot.Backend.Providers.Interfaces.SupportTicketCreationResult"},
		{"ScriptLanguage", "Immybot.Backend.Domain.Models.ScriptLanguage"},
	}
	for i, tc := range cases {
		t.Run(tc.typ, func(t *testing.T) {
			// The type in [OutputType()], as a parameter type and in an expression.
			body := "[OutputType([" + tc.typ + "])]\nparam([" + tc.typ + "]$value)\n[" + tc.typ + "].FullName"
			script := compatBlock("compat-type-"+string(rune('a'+i)), body)
			r := mustInvoke(t, p, bridge.Call{Script: script, Method: "GetClients"})
			got := outputTexts(t, r)
			if len(got) != 1 || !strings.HasPrefix(got[0], tc.fullName) {
				t.Fatalf("[%s] = %q, want %s", tc.typ, got, tc.fullName)
			}
		})
	}

	t.Run("values", func(t *testing.T) {
		script := compatBlock("compat-type-values", `
$ok = [OpResult]::Ok()
"ok=$($ok.IsSuccess) type=$($ok.GetType().Name)"
$r = [ObjectResult]::new('payload'); $r.StatusCode = 202
"object=$($r.StatusCode) $($r.Value) action=$($r -is [IActionResult]) full=$($r -is [Microsoft.AspNetCore.Mvc.IActionResult])"
"healthy=$((New-HealthyResult) -is [HealthCheckResult])"
"lang=$([ScriptLanguage]::PowerShell.value__),$([ScriptLanguage]'CommandLine' -as [int])"
$t = [SupportTicketCreationResult]::new(); $t.Success = $true; $t.Message = 'm'
"ticket=$($t.Success) $($t.Message)"
[Immybot.Backend.Providers.Interfaces.ProviderSupportFormBranding]$b = New-SupportFormBranding -FooterMessage 'f'
[DotNext.Optional[Immybot.Backend.Providers.Interfaces.ProviderSupportFormBranding]]$o = $b
"optional=$($o.HasValue) $($o.Value.FooterMessage)"
`)
		r := mustInvoke(t, p, bridge.Call{Script: script, Method: "GetClients"})
		wantTexts(t, r, "ok=True type=OpResult", "object=202 payload action=True full=True", "healthy=True", "lang=2,1", "ticket=True m", "optional=True f")
	})
}

const attributeScript = `$Integration = New-DynamicIntegration -Init {
    [OutputType([OpResult])]
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, HelpMessage = 'The vendor API key')]
        [DisplayName("API Key")]
        [Password(StripValue = $true)]
        $ApiKey,
        [Password(StripValue)]$ClientSecret,
        [Password()][string]$Plain,
        [PasswordAttribute(StripValue = $true)][DisplayNameAttribute('Full form')][string]$FullForm,
        [DisplayName('Region')]
        [Dropdown({@{Option1=1; Option2=2}})]
        [string]$Region = 'eu',
        [OAuthConsent(authorizationEndpoint = 'https://login.example.com/authorize', tokenEndpoint = 'https://login.example.com/token', responseType = 'code', resource = 'https://api.example.com', scope = 'offline_access', ClientId = 'app-1', extraQueryParameters = 'prompt=consent')]
        $Consent
    )
    $IntegrationContext.Key = "$ApiKey"
    $IntegrationContext.Region = $Region
    [OpResult]::Ok()
} -HealthCheck {
    [OutputType([HealthCheckResult])]
    param()
    New-HealthyResult
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingAgents -GetAgents {
    [OutputType([IProviderAgentDetails[]])]
    [JobSettings(PeriodMinutes = 5)]
    [ScriptTimeout(TimeoutSeconds = 120)]
    param([Parameter(Mandatory)][string[]]$ClientIds)
    foreach ($c in $ClientIds) { New-IntegrationAgent -AgentId "a-$c" -Name "n-$c" -ClientId $c }
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients {
    [ScriptTimeout(TimeoutSeconds = 2)]
    param()
    Start-Sleep -Seconds 30
    'not reached'
}
$Integration
`

func TestCompatAttributes(t *testing.T) {
	p := compatPool(t)
	script := bridge.Script{Instance: "compat-attrs", Name: "attrs.ps1", Text: attributeScript}
	d := mustDescribe(t, p, script)

	t.Run("init-schema", func(t *testing.T) {
		init, ok := d.Method("Init")
		if !ok {
			t.Fatal("no Init")
		}
		byName := map[string]bridge.ParamSchema{}
		for _, ps := range init.Parameters {
			byName[ps.Name] = ps
		}
		if k := byName["ApiKey"]; !k.Password || !k.StripValue || k.DisplayName != "API Key" || !k.Mandatory || k.HelpMessage != "The vendor API key" {
			t.Errorf("ApiKey schema = %+v", k)
		}
		if s := byName["ClientSecret"]; !s.Password || !s.StripValue {
			t.Errorf("ClientSecret ([Password(StripValue)]) schema = %+v", s)
		}
		if s := byName["Plain"]; !s.Password || s.StripValue || s.Type != "string" {
			t.Errorf("Plain ([Password()]) schema = %+v", s)
		}
		if s := byName["Region"]; s.DisplayName != "Region" || string(s.Default) != `"eu"` {
			t.Errorf("Region schema = %+v", s)
		}
		if s := byName["FullForm"]; !s.Password || !s.StripValue || s.DisplayName != "Full form" {
			t.Errorf("FullForm ([PasswordAttribute()][DisplayNameAttribute()]) schema = %+v", s)
		}
		if _, ok := byName["Consent"]; !ok || len(init.Parameters) != 6 {
			t.Errorf("Init parameters = %+v", init.Parameters)
		}
	})
	t.Run("job-settings-and-timeout", func(t *testing.T) {
		m, _ := d.Method("GetAgents")
		if m.PeriodMinutes != 5 || m.TimeoutSeconds != 120 {
			t.Errorf("GetAgents periodMinutes=%d timeoutSeconds=%d, want 5 and 120", m.PeriodMinutes, m.TimeoutSeconds)
		}
		if m, _ := d.Method("GetClients"); m.TimeoutSeconds != 2 {
			t.Errorf("GetClients timeoutSeconds = %d, want 2", m.TimeoutSeconds)
		}
	})
	t.Run("init-runs-with-every-attribute", func(t *testing.T) {
		r := mustInvoke(t, p, bridge.Call{Script: script, Method: "Init", FormData: map[string]any{"ApiKey": "k-1234567", "ClientSecret": "s-7654321", "Region": "us"},
			Secrets: []string{"k-1234567"}})
		if len(r.OutputTypes) != 1 || r.OutputTypes[0] != "PSBridge.OpResult" {
			t.Fatalf("Init output types = %v", r.OutputTypes)
		}
		var c map[string]any
		if err := json.Unmarshal(r.Context, &c); err != nil || c["Region"] != "us" {
			t.Fatalf("context = %s (%v)", r.Context, err)
		}
		h := mustInvoke(t, p, bridge.Call{Script: script, Method: "HealthCheck", Context: r.Context})
		if len(h.Output) != 1 || !strings.Contains(string(h.Output[0]), `"Healthy"`) {
			t.Fatalf("HealthCheck = %s", h.Output)
		}
		a := mustInvoke(t, p, bridge.Call{Script: script, Method: "GetAgents", Args: map[string]any{"ClientIds": []string{"x"}}})
		if objs := outputObjects(t, a); len(objs) != 1 || objs[0]["agentId"] != "a-x" {
			t.Fatalf("GetAgents = %s", a.Output)
		}
	})
	t.Run("script-timeout-is-honoured", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		start := time.Now()
		_, err := p.Invoke(ctx, bridge.Call{Script: script, Method: "GetClients"})
		if !errors.Is(err, bridge.ErrTimeout) {
			t.Fatalf("err = %v, want bridge.ErrTimeout", err)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Fatalf("the 2 s [ScriptTimeout] took %s to fire: the default deadline applied", d)
		}
	})
}

// ---- 4. cmdlets --------------------------------------------------------------------------------

func TestCompatCmdlets(t *testing.T) {
	p := compatPool(t)
	type check func(t *testing.T, r *bridge.Result, err error)
	ok := func(f func(t *testing.T, r *bridge.Result)) check {
		return func(t *testing.T, r *bridge.Result, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("%v%s", err, scriptErrorDetail(err))
			}
			f(t, r)
		}
	}
	texts := func(want ...string) check {
		return ok(func(t *testing.T, r *bridge.Result) { t.Helper(); wantTexts(t, r, want...) })
	}
	fails := func(want ...string) check {
		return func(t *testing.T, r *bridge.Result, err error) {
			t.Helper()
			if err == nil {
				t.Fatalf("no error; output %s", r.Output)
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		}
	}
	cases := []struct {
		name, body string
		check      check
	}{
		{"New-IntegrationClient-ids-become-strings", `
New-IntegrationClient -ClientId 42 -ClientName 'Int'
New-IntegrationClient -ClientId ([guid]'0f8fad5b-d9cb-469f-a165-70867728950e') -ClientName 'Guid'
New-IntegrationClient -ClientId ([long]9000000000) -ClientName 1234
(New-IntegrationClient -ClientId 5 -ClientName 'x').ClientId.GetType().Name`, ok(func(t *testing.T, r *bridge.Result) {
			v := outputAny(t, r)
			if len(v) != 4 {
				t.Fatalf("output %s", r.Output)
			}
			wantFields(t, v[0].(map[string]any), map[string]any{"clientId": "42", "clientName": "Int"})
			wantFields(t, v[1].(map[string]any), map[string]any{"clientId": "0f8fad5b-d9cb-469f-a165-70867728950e", "clientName": "Guid"})
			wantFields(t, v[2].(map[string]any), map[string]any{"clientId": "9000000000", "clientName": "1234"})
			if v[3] != "String" {
				t.Errorf("ClientId type = %v", v[3])
			}
		})},
		{"New-IntegrationAgent-every-parameter", `
New-IntegrationAgent -AgentId 1001 -Name 'PC1' -ClientId 42 -SerialNumber 'SN-1' -OSName 'Windows 11 Pro' -Manufacturer 'Dell Inc.' -IsOnline $true -AgentVersion '23.1.2.400' -SupportsRunningScripts $false -SupportsOnlineStatus $true`,
			ok(func(t *testing.T, r *bridge.Result) {
				objs := outputObjects(t, r)
				if len(objs) != 1 {
					t.Fatalf("output %s", r.Output)
				}
				wantFields(t, objs[0], map[string]any{"agentId": "1001", "name": "PC1", "clientId": "42", "serialNumber": "SN-1",
					"osName": "Windows 11 Pro", "manufacturer": "Dell Inc.", "isOnline": true, "agentVersion": "23.1.2.400",
					"supportsRunningScripts": false, "supportsOnlineStatus": true})
			})},
		{"New-IntegrationAgent-colon-bools", `
$x = $false; $y = $true
$a = New-IntegrationAgent -AgentId a -Name n -IsOnline:$x -SupportsRunningScripts:$true
$b = New-IntegrationAgent -AgentId b -Name n -IsOnline:$y -SupportsOnlineStatus:$false
"$($a.IsOnline) $($a.SupportsRunningScripts) $($b.IsOnline) $($b.SupportsOnlineStatus)"`, texts("False True True False")},
		{"New-IntegrationClient-positional", `New-IntegrationClient 7 'Seven' | ForEach-Object { "$($_.ClientId)=$($_.ClientName)" }`, texts("7=Seven")},
		{"New-IntegrationClient-stray-argument", `New-IntegrationClient -ClientId 1 -ClientName 'x' 'stray'`, fails("stray")},
		// A compiled cmdlet since issue 13: a stray value still ends the script (like the
		// function's throw did), and a string for a [bool] parameter gets the function's message.
		{"New-IntegrationAgent-stray-argument-stops-the-script", "New-IntegrationAgent -AgentId a -Name n 'stray'\n'not reached'",
			fails("New-IntegrationAgent: unexpected positional argument 'stray'")},
		{"New-IntegrationAgent-string-for-bool", `
try { New-IntegrationAgent -AgentId a -IsOnline 'true' -ErrorAction Stop } catch { "$($_.FullyQualifiedErrorId -replace ',.*'): $_" }`,
			texts(`ParameterArgumentTransformationError: Cannot process argument transformation on parameter 'IsOnline'. Cannot convert value "System.String" to type "System.Boolean". Boolean parameters accept only Boolean values and numbers, such as $True, $False, 1 or 0.`)},
		{"New-IntegrationAgent-only-id-and-name", `
$a = New-IntegrationAgent -AgentId 'x1' -Name 'x1'
"$($a.AgentId) $($a.Name) [$($a.ClientId)] $($a.IsOnline) $($a -is [IProviderAgentDetails]) $($a.ExternalAgentId)"`, texts("x1 x1 [] False True x1")},
		// A bad version is an error record per agent (the sync then fails on HadErrors), and a
		// terminating error under -ErrorAction Stop.
		{"New-IntegrationAgent-version-Unknown-fails", `
New-IntegrationAgent -AgentId a -Name n -AgentVersion 'Unknown'
New-IntegrationAgent -AgentId b -Name n -AgentVersion '23.1.2.400-rc.1' | ForEach-Object { "$($_.AgentVersion)" }
try { New-IntegrationAgent -AgentId a -Name n -AgentVersion 'Unknown' -ErrorAction Stop } catch { "caught: $_" }`, ok(func(t *testing.T, r *bridge.Result) {
			got := outputTexts(t, r)
			if len(got) != 2 || got[0] != "23.1.2.400" || !strings.Contains(got[1], "caught: ") || !strings.Contains(got[1], "'Unknown' is not a valid version string") {
				t.Fatalf("output = %q", got)
			}
			errs := recordsOf(r.Records, "error")
			if !r.HadErrors || len(errs) != 1 || !strings.Contains(errs[0], "'Unknown' is not a valid version string") {
				t.Fatalf("HadErrors = %v, error records = %q", r.HadErrors, errs)
			}
		})},
		{"New-IntegrationAgent-unknown-params-kept", `
$a = New-IntegrationAgent -AgentId a -Name n -Foo 'bar' -Count 3 -Domain:'corp.local' -RequireManualIdentification
"$($a.Extra['Foo']) $($a.Extra['Count']) $($a.Extra['Domain']) $($a.Extra['RequireManualIdentification'])"
$a`, ok(func(t *testing.T, r *bridge.Result) {
			v := outputAny(t, r)
			if len(v) != 2 || v[0] != "bar 3 corp.local True" {
				t.Fatalf("output %s", r.Output)
			}
			extra, _ := v[1].(map[string]any)["extra"].(map[string]any)
			wantFields(t, extra, map[string]any{"Foo": "bar", "Count": 3, "Domain": "corp.local", "RequireManualIdentification": true})
		})},
		{"New-HealthyResult-and-New-UnhealthyResult", `
New-HealthyResult
New-UnhealthyResult -Message 'API token expired'
New-UnhealthyResult 'positional'`, ok(func(t *testing.T, r *bridge.Result) {
			objs := outputObjects(t, r)
			if len(objs) != 3 {
				t.Fatalf("output %s", r.Output)
			}
			wantFields(t, objs[0], map[string]any{"status": "Healthy"})
			wantFields(t, objs[1], map[string]any{"status": "Unhealthy", "message": "API token expired"})
			wantFields(t, objs[2], map[string]any{"status": "Unhealthy", "message": "positional"})
			for _, typ := range r.OutputTypes {
				if !strings.HasSuffix(typ, "HealthCheckResult") {
					t.Errorf("output type %s", typ)
				}
			}
		})},
		{"Should-HaveOne-one", `@('only') | Should-HaveOne 'site'`, texts("only")},
		{"Should-HaveOne-InputObject", `Should-HaveOne -InputObject @('a', 'b') -Description 'site' -TakeFirst`, texts("a")},
		{"Should-HaveOne-stops-the-script", "$x = @() | Should-HaveOne 'site'\n'not reached'", fails("Expected exactly one site")},
		{"Should-HaveOne-none", `@() | Should-HaveOne 'site named x'`, fails("site named x")},
		{"Should-HaveOne-null", `$null | Should-HaveOne 'site'`, fails("site")},
		{"Should-HaveOne-two", `'a', 'b' | Should-HaveOne 'site'`, fails("site", "2")},
		{"Should-HaveOne-TakeFirst", `'a', 'b' | Should-HaveOne 'site' -TakeFirst`, ok(func(t *testing.T, r *bridge.Result) {
			wantTexts(t, r, "a")
			if w := recordsOf(r.Records, "warning"); len(w) != 1 || !strings.Contains(w[0], "site") {
				t.Errorf("warnings = %q", w)
			}
		})},
		{"ShouldHave-One-alias", `'z' | ShouldHave-One 'thing'`, texts("z")},
		{"ShouldHave-One-alias-two", `'a', 'b' | ShouldHave-One 'thing'`, fails("thing")},
		{"ShouldHave-One-alias-TakeFirst", `'a', 'b' | ShouldHave-One -TakeFirst`, texts("a")},
		{"Add-UriQueryParameter", `
$u = Add-UriQueryParameter -Uri 'https://api.example.com/web/api/v2.1/agents?limit=10' -Parameter ([ordered]@{ q = 'a b'; siteIds = @(1, 2); flag = $true })
$u.GetType().FullName
$u.ToString()
$u.ToString().Replace('+', '%20')`, texts("System.Uri",
			"https://api.example.com/web/api/v2.1/agents?limit=10&q=a+b&siteIds=1&siteIds=2&flag=true",
			"https://api.example.com/web/api/v2.1/agents?limit=10&q=a%20b&siteIds=1&siteIds=2&flag=true")},
		{"Add-UriQueryParameter-reserved-characters", `
$u = Add-UriQueryParameter -Uri ([Uri]'https://x.example.com/p') -Parameter ([ordered]@{ filter = 'c++ & d=e'; cursor = $null })
$u.AbsoluteUri
$u.OriginalString
(Add-UriQueryParameter -Uri 'http://localhost:8080/p' -Parameter @{ a = 1 }).ToString()`,
			texts("https://x.example.com/p?filter=c%2B%2B+%26+d%3De", "https://x.example.com/p?filter=c%2B%2B+%26+d%3De", "http://localhost:8080/p?a=1")},
		{"Add-UriQueryParameter-appends-by-default", `
(Add-UriQueryParameter -Uri 'https://x.example.com/?limit=10&a=1' -Parameter @{ limit = 50 }).ToString()`,
			texts("https://x.example.com/?limit=10&a=1&limit=50")},
		{"Add-UriQueryParameter-OverwriteParameters", `
(Add-UriQueryParameter -Uri 'https://x.example.com/?limit=10&a=1' -Parameter @{ limit = 50 } -OverwriteParameters).ToString()`,
			texts("https://x.example.com/?a=1&limit=50")},
		{"Write-Variable", `
$x = 'value'
$x | Write-Variable
$Uri = [Uri]'https://example.com/'
$Uri | Write-Variable
'done'`, ok(func(t *testing.T, r *bridge.Result) {
			wantTexts(t, r, "done")
			info := recordsOf(r.Records, "information")
			if len(info) != 2 || info[0] != "$x: value" || info[1] != "$Uri: https://example.com/" {
				t.Errorf("information records = %q, want [\"$x: value\" \"$Uri: https://example.com/\"]", info)
			}
		})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			script := compatBlock("compat-cmdlet-"+tc.name, tc.body)
			r, err := compatInvoke(p, bridge.Call{Script: script, Method: "GetClients"})
			tc.check(t, r, err)
			// A failing cmdlet names the line of the integration script that called it, not
			// a line of PSBridge.psm1 (the block's body starts on line 7).
			var se *bridge.ScriptError
			if errors.As(err, &se) && (se.Script != script.Name || se.Line < 7 || se.Column == 0) {
				t.Errorf("error positioned at %s:%d:%d, want a line of %s", se.Script, se.Line, se.Column, script.Name)
			}
		})
	}
}

// The token cmdlets, Invoke-ImmyCommand and Import-Module call back into the host.
func TestCompatHostCmdlets(t *testing.T) {
	p := compatPool(t)

	t.Run("token-cmdlets", func(t *testing.T) {
		host := &recordingHost{tokens: map[bridge.TokenKind]any{
			bridge.TokenAgentInstall:    "install-tok",
			bridge.TokenTenantUninstall: "tenant-uninstall-tok",
			bridge.TokenAgentUninstall:  "agent-uninstall-tok",
			bridge.TokenAuthHeader:      map[string]any{"Authorization": "Bearer zzz"},
		}}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		r, err := p.Exec(ctx, bridge.Exec{Name: "install.ps1", Host: host, Text: `
Get-IntegrationAgentInstallToken -ErrorAction Stop
Get-IntegrationTenantUninstallToken
Get-IntegrationAgentUninstallToken
$h = Get-IntegrationAuthenticatedDownload
"$($h.GetType().Name) $($h.Authorization)"
Get-IntegrationAgentInstallTokenCmdlet
`})
		if err != nil {
			t.Fatal(err)
		}
		wantTexts(t, r, "install-tok", "tenant-uninstall-tok", "agent-uninstall-tok", "Hashtable Bearer zzz", "install-tok")
		want := []bridge.TokenKind{bridge.TokenAgentInstall, bridge.TokenTenantUninstall, bridge.TokenAgentUninstall, bridge.TokenAuthHeader, bridge.TokenAgentInstall}
		if strings.Join(kindsText(host.kinds), ",") != strings.Join(kindsText(want), ",") {
			t.Fatalf("token kinds asked = %v, want %v", host.kinds, want)
		}
	})

	t.Run("token-cmdlets-not-linked", func(t *testing.T) {
		for _, host := range []bridge.Host{nil, bridge.Modules{}, &recordingHost{}} {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			r, err := p.Exec(ctx, bridge.Exec{Name: "install.ps1", Host: host, Text: `
try { Get-IntegrationAgentInstallToken -ErrorAction Stop; 'no error' } catch { "caught: $_" }
Get-IntegrationTenantUninstallToken
'not reached'`})
			cancel()
			var se *bridge.ScriptError
			if !errors.As(err, &se) || !strings.Contains(se.Message, bridge.ErrNotLinked.Error()) {
				t.Fatalf("host %T: err = %v, want a ScriptError with %q", host, err, bridge.ErrNotLinked)
			}
			if strings.Contains(se.Message, "Exception calling") {
				t.Errorf("message has .NET noise: %q", se.Message)
			}
			if se.Script != "install.ps1" || se.Line != 3 || se.Column != 1 {
				t.Errorf("error positioned at %s:%d:%d, want install.ps1:3:1 (the Get-IntegrationTenantUninstallToken line)", se.Script, se.Line, se.Column)
			}
			if r != nil {
				t.Errorf("output %s", r.Output)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		r, err := p.Exec(ctx, bridge.Exec{Name: "caught.ps1", Text: `try { Get-IntegrationAgentInstallToken -ErrorAction Stop; 'no error' } catch { "caught: $_" }`})
		if err != nil {
			t.Fatal(err)
		}
		wantTexts(t, r, "caught: "+bridge.ErrNotLinked.Error())
	})

	t.Run("Invoke-ImmyCommand", func(t *testing.T) {
		host := &recordingHost{computer: func(cmd bridge.ComputerCommand) ([]json.RawMessage, error) {
			return rawJSON(cmd.Script, map[string]any{"answer": 42}), nil
		}}
		script := compatBlock("compat-immy", `
$name = 'world'
$numbers = @(1, 2, 3)
$settings = @{ Mode = 'fast'; Quote = "it's" }
$out = @(Invoke-ImmyCommand -ArgumentList 'a1', 2 -Timeout 30 -Context User {
    param($x, $y)
    "hello $using:name $x $y $($using:numbers.Count) $(($using:settings).Mode) $($using:settings.Quote) $using:Name"
})
"answer=$($out[1].answer)"
& ([scriptblock]::Create($out[0])) 'a1' 2
$noParam = @(Invoke-ImmyCommand { "no param block: $using:name" })
& ([scriptblock]::Create($noParam[0]))
$plain = @(Invoke-ImmyCommand { 'no args' })
"plain=$($plain.Count)"
`)
		r := mustInvoke(t, p, bridge.Call{Script: script, Method: "GetClients", Host: host})
		wantTexts(t, r, "answer=42", "hello world a1 2 3 fast it's world", "no param block: world", "plain=2")
		if len(host.commands) != 3 {
			t.Fatalf("RunOnComputer called %d times", len(host.commands))
		}
		c := host.commands[0]
		if c.Timeout != 30 || c.Context != "User" {
			t.Errorf("timeout/context = %d/%q", c.Timeout, c.Context)
		}
		var args []any
		if err := json.Unmarshal(c.Args, &args); err != nil || len(args) != 2 || args[0] != "a1" || args[1] != float64(2) {
			t.Errorf("args = %s, want [\"a1\",2]", c.Args)
		}
		if strings.Contains(strings.ToLower(c.Script), "$using:") || !strings.Contains(c.Script, "world") {
			t.Errorf("the script does not carry the $using: values:\n%s", c.Script)
		}
		plain := host.commands[2]
		if strings.TrimSpace(plain.Script) != "'no args'" || plain.Timeout != 120 || plain.Context != "System" {
			t.Errorf("plain command = %+v", plain)
		}
		if a := strings.TrimSpace(string(plain.Args)); a != "" && a != "null" && a != "[]" {
			t.Errorf("args without -ArgumentList = %s, want none", a)
		}
	})

	t.Run("Invoke-ImmyCommand-without-a-computer", func(t *testing.T) {
		script := compatBlock("compat-immy-none", `Invoke-ImmyCommand { 'x' }`)
		_, err := compatInvoke(p, bridge.Call{Script: script, Method: "GetClients"})
		var se *bridge.ScriptError
		if !errors.As(err, &se) || !strings.Contains(se.Message, bridge.ErrNoComputer.Error()) {
			t.Fatalf("err = %v, want a ScriptError with %q", err, bridge.ErrNoComputer)
		}
		if se.Script != "compat-immy-none.ps1" || se.Line != 7 {
			t.Errorf("error positioned at %s:%d, want compat-immy-none.ps1:7", se.Script, se.Line)
		}
	})

	t.Run("Import-Module", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "FileHelpers.psm1")
		if err := os.WriteFile(path, []byte("function Get-FromFile { \"file:$($IntegrationContext.Name)\" }\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		fromFiles, err := bridge.LoadModuleFiles(path)
		if err != nil {
			t.Fatal(err)
		}
		host := &recordingHost{modules: bridge.Modules{
			"VendorApi":   "function Get-VendorThing { param($Id) \"thing $Id via $($IntegrationContext.Name)\" }\nExport-ModuleMember -Function Get-VendorThing\n",
			"FileHelpers": fromFiles["FileHelpers"],
		}}
		script := compatBlock("compat-import", `
Import-Module VendorApi
Get-VendorThing -Id 7
Import-Module vendorapi -Force
Import-Module FileHelpers
Get-FromFile
Import-Module Microsoft.PowerShell.Utility
(Get-Module Microsoft.PowerShell.Utility).Name
(Get-Module VendorApi).Name
`)
		r := mustInvoke(t, p, bridge.Call{Script: script, Method: "GetClients", Host: host, Context: json.RawMessage(`{"Name":"acme"}`)})
		wantTexts(t, r, "thing 7 via acme", "file:acme", "Microsoft.PowerShell.Utility", "VendorApi")
		if len(host.lookups) < 3 || host.lookups[0] != "VendorApi" {
			t.Errorf("FindModule lookups = %q", host.lookups)
		}

		missing := compatBlock("compat-import-missing", `Import-Module NoSuchModuleAnywhere -ErrorAction Stop`)
		_, err = compatInvoke(p, bridge.Call{Script: missing, Method: "GetClients", Host: host})
		if err == nil || !strings.Contains(err.Error(), "NoSuchModuleAnywhere") {
			t.Fatalf("err = %v, want PowerShell's module-not-found error", err)
		}
	})
}

func kindsText(kinds []bridge.TokenKind) []string {
	var out []string
	for _, k := range kinds {
		out = append(out, string(k))
	}
	return out
}

// ---- 5. help and manifest ----------------------------------------------------------------------

func TestCompatHelpAndManifest(t *testing.T) {
	p := compatPool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := p.Exec(ctx, bridge.Exec{Name: "help.ps1", Text: `
$m = Get-Module PSBridge
$manifest = Test-ModuleManifest -Path (Join-Path $m.ModuleBase 'PSBridge.psd1') -ErrorAction Stop
$commands = @($m.ExportedFunctions.Keys) + @($m.ExportedCmdlets.Keys) + @($m.ExportedAliases.Keys)
[pscustomobject]@{
    exportedFunctions = @(@($m.ExportedFunctions.Keys) + @($m.ExportedCmdlets.Keys) | Sort-Object)
    manifestFunctions = @(@($manifest.ExportedFunctions.Keys) + @($manifest.ExportedCmdlets.Keys) | Sort-Object)
    exportedAliases   = @($m.ExportedAliases.Keys | Sort-Object)
    manifestAliases   = @($manifest.ExportedAliases.Keys | Sort-Object)
    help              = @(foreach ($c in $commands) {
        # -Category: Import-Module is also the name of PowerShell's own cmdlet.
        # New-IntegrationClient and New-IntegrationAgent are compiled cmdlets (help from MAML).
        $h = if ($m.ExportedFunctions.ContainsKey($c)) { Get-Help $c -Full -Category Function }
             elseif ($m.ExportedCmdlets.ContainsKey($c)) { Get-Help $c -Full -Category Cmdlet } else { Get-Help $c -Full }
        [pscustomobject]@{
            name     = $c
            synopsis = "$($h.Synopsis)".Trim()
            examples = @($h.examples.example).Count
            undocumented = @(@($h.parameters.parameter) | Where-Object { $_ -and -not "$($_.description.Text)".Trim() } | ForEach-Object name)
        }
    })
}
`})
	if err != nil {
		t.Fatalf("%v%s", err, scriptErrorDetail(err))
	}
	var got struct {
		ExportedFunctions []string `json:"exportedFunctions"`
		ManifestFunctions []string `json:"manifestFunctions"`
		ExportedAliases   []string `json:"exportedAliases"`
		ManifestAliases   []string `json:"manifestAliases"`
		Help              []struct {
			Name         string   `json:"name"`
			Synopsis     string   `json:"synopsis"`
			Examples     int      `json:"examples"`
			Undocumented []string `json:"undocumented"`
		} `json:"help"`
	}
	if len(r.Output) != 1 {
		t.Fatalf("output %s", r.Output)
	}
	if err := json.Unmarshal(r.Output[0], &got); err != nil {
		t.Fatal(err)
	}
	if len(got.ExportedFunctions) < 18 {
		t.Fatalf("only %d exported functions: %v", len(got.ExportedFunctions), got.ExportedFunctions)
	}
	if strings.Join(got.ExportedFunctions, ",") != strings.Join(got.ManifestFunctions, ",") {
		t.Errorf("FunctionsToExport = %v\nexported          = %v", got.ManifestFunctions, got.ExportedFunctions)
	}
	if strings.Join(got.ExportedAliases, ",") != strings.Join(got.ManifestAliases, ",") {
		t.Errorf("AliasesToExport = %v\nexported        = %v", got.ManifestAliases, got.ExportedAliases)
	}
	for _, want := range []string{"New-DynamicIntegration", "Add-DynamicIntegrationCapability", "New-IntegrationClient", "New-IntegrationAgent",
		"New-HealthyResult", "New-UnhealthyResult", "New-DynamicVersion", "New-SupportFormBranding", "Write-Variable", "Should-HaveOne",
		"Add-UriQueryParameter", "Get-IntegrationAgentInstallToken", "Get-IntegrationTenantUninstallToken", "Get-IntegrationAgentUninstallToken",
		"Get-IntegrationAuthenticatedDownload", "Invoke-ImmyCommand", "Import-Module"} {
		if !contains(got.ExportedFunctions, want) {
			t.Errorf("%s is not exported", want)
		}
	}
	if !contains(got.ExportedAliases, "ShouldHave-One") {
		t.Errorf("ShouldHave-One is not exported: %v", got.ExportedAliases)
	}
	if len(got.Help) != len(got.ExportedFunctions)+len(got.ExportedAliases) {
		t.Fatalf("help for %d commands", len(got.Help))
	}
	for _, h := range got.Help {
		// Without comment-based help Get-Help makes the synopsis from the syntax line.
		if h.Synopsis == "" || strings.HasPrefix(h.Synopsis, h.Name) || strings.Contains(h.Synopsis, "[<CommonParameters>]") {
			t.Errorf("%s has no synopsis (got %q)", h.Name, h.Synopsis)
		}
		if h.Examples == 0 {
			t.Errorf("%s has no example", h.Name)
		}
		if len(h.Undocumented) > 0 {
			t.Errorf("%s: parameters without a description: %v", h.Name, h.Undocumented)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
