package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/psbridge/psbridge/bridge"
)

// dynamicScript declares its OAuth consent the way real scripts do: static parameters for the
// vendor URL and client, and an Init dynamicparam block built with New-ParameterCollection.
// Init throws unless every dynamic value arrived with its type.
const dynamicScript = `
$Integration = New-DynamicIntegration -Init {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][Uri]$VendorUrl,
        [Parameter(Mandatory)][string]$ClientId,
        [Parameter(Mandatory)][Password(StripValue = $true)][string]$ClientSecret
    )
    dynamicparam {
        New-ParameterCollection @(
            New-OAuthConsentParameter -Name Consent -AuthorizationEndpoint "$VendorUrl/oauth/authorize" -TokenEndpoint "$VendorUrl/oauth/token" -ClientId $ClientId -ClientSecret $ClientSecret -Scope 'read offline_access' -UsePKCE -Mandatory
            New-HelpText -Name Hint -HelpMessage 'Create an API client in the vendor portal first.'
            New-Parameter -Name Region -ValidValues 'eu', 'us' -Mandatory -DisplayName 'Data region'
            New-Parameter -Name PageSize -Type ([int]) -DefaultValue 50
            New-Parameter -Name ApiPin -Password
        )
    }
    end {
        $c = $PSBoundParameters['Consent']
        if ($null -ne $c -and $c -isnot [PSBridge.OAuthConsentResult]) { throw "Consent is a $($c.GetType())" }
        if ($null -ne $c -and $c.AccessToken -ne 'at-1') { throw "wrong access token" }
        if ($PSBoundParameters['Region'] -notin 'eu', 'us') { throw "no region" }
        if ($PSBoundParameters.ContainsKey('PageSize') -and $PSBoundParameters['PageSize'] -isnot [int]) { throw "PageSize is not an int" }
        $IntegrationContext.Region = $PSBoundParameters['Region']
        $IntegrationContext.Connected = $null -ne $c
        [OpResult]::Ok()
    }
} -HealthCheck {
    if ($IntegrationContext.Connected) { New-HealthyResult } else { New-UnhealthyResult -Message 'not connected' }
}
$Integration
`

func TestDynamicParamFields(t *testing.T) {
	e, _ := newEngine(t, Config{})
	ctx := testCtx(t)
	typ, err := e.CreateType(ctx, TypeInput{Name: "Dyn", Script: dynamicScript, ScriptName: "Dyn.ps1"})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]bridge.ParamSchema{}
	var names []string
	for _, p := range typ.InitParameters {
		byName[p.Name] = p
		names = append(names, p.Name)
	}
	if got := strings.Join(names, ","); got != "VendorUrl,ClientId,ClientSecret,Consent,Hint,Region,PageSize,ApiPin" {
		t.Fatalf("Init's fields: %s", got)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"Consent is a mandatory oauthconsent field", byName["Consent"].Type == "oauthconsent" && byName["Consent"].Mandatory && byName["Consent"].Dynamic},
		{"Consent keeps the static parameters as markers", byName["Consent"].OAuthConsent != nil &&
			byName["Consent"].OAuthConsent.AuthorizationEndpoint == bridge.ParamMarker("VendorUrl")+"/oauth/authorize" &&
			byName["Consent"].OAuthConsent.ClientSecret == bridge.ParamMarker("ClientSecret") && byName["Consent"].OAuthConsent.UsePKCE},
		{"Hint is text", byName["Hint"].Type == "helptext" && byName["Hint"].HelpMessage != "" && !byName["Hint"].Mandatory},
		{"Region is a mandatory choice with a label", byName["Region"].Mandatory && len(byName["Region"].ValidateSet) == 2 && byName["Region"].DisplayName == "Data region"},
		{"PageSize is an int with its default", byName["PageSize"].Type == "int" && string(byName["PageSize"].Default) == "50"},
		{"ApiPin is a password", byName["ApiPin"].Password},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: %+v", c.name, byName)
		}
	}

	static := map[string]any{"VendorUrl": "http://127.0.0.1:1", "ClientId": "cid", "ClientSecret": "client-secret-1"}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range static {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	bad := []struct {
		name     string
		disabled bool
		form     map[string]any
		want     []string
	}{
		{"dynamic fields are validated like static ones", false, with(map[string]any{"Region": "mars", "PageSize": "many"}),
			[]string{"formData.Consent: is required: connect", "formData.PageSize: must be a whole number", "formData.Region: must be one of: eu, us"}},
		{"help text takes no value", true, with(map[string]any{"Region": "eu", "Hint": "x"}),
			[]string{"formData.Hint: is text shown on the form, not a field"}},
		{"tokens must be a JSON object", false, with(map[string]any{"Region": "eu", "Consent": "not json"}),
			[]string{"formData.Consent: must be the OAuth consent's tokens as a JSON object"}},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.CreateInstance(ctx, InstanceInput{Name: "x", TypeID: typ.ID, FormData: c.form, Disabled: c.disabled})
			var fe FieldErrors
			if !errors.As(err, &fe) {
				t.Fatalf("want field errors, got %v", err)
			}
			if len(fe) != len(c.want) {
				t.Fatalf("got %v, want %v", fe, c.want)
			}
			for i, w := range c.want {
				if !strings.HasPrefix(fe[i].Error(), w) {
					t.Errorf("error %d: %q, want %q…", i, fe[i].Error(), w)
				}
			}
		})
	}

	// A disabled instance may wait for its consent; connecting stores the tokens sealed and
	// Init (once enabled) receives them as [PSBridge.OAuthConsentResult].
	inst, err := e.CreateInstance(ctx, InstanceInput{Name: "Dyn", TypeID: typ.ID, FormData: with(map[string]any{"Region": "eu", "PageSize": 10, "ApiPin": "pin-secret-123"}), Disabled: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg, field, err := e.OAuthConsentConfig(inst.ID, "consent")
	if err != nil {
		t.Fatal(err)
	}
	if field != "Consent" || cfg.AuthorizationEndpoint != "http://127.0.0.1:1/oauth/authorize" || cfg.ClientID != "cid" || cfg.ClientSecret != "client-secret-1" || cfg.Scope != "read offline_access" {
		t.Fatalf("resolved consent settings: %q %+v", field, cfg)
	}
	if _, _, err := e.OAuthConsentConfig(inst.ID, "Region"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "its OAuth consent fields: Consent") {
		t.Errorf("a field that is no consent: %v", err)
	}
	v, err := e.ConnectOAuth(ctx, inst.ID, "Consent", OAuthTokens{AccessToken: "at-1", RefreshToken: "rt-secret-1", TokenType: "Bearer"})
	if err != nil {
		t.Fatal(err)
	}
	if !OAuthConnected(v, typ.InitParameters)["Consent"] {
		t.Errorf("not connected: stored %v", v.InputsWithStoredPasswords)
	}
	if _, ok := v.FormData["Consent"]; ok {
		t.Errorf("tokens shown in the form data: %v", v.FormData)
	}
	v, err = e.UpdateInstance(ctx, inst.ID, InstanceInput{Name: "Dyn", FormData: with(map[string]any{"Region": "us"})})
	if err != nil {
		t.Fatal(err)
	}
	if v.Health.Status != "Healthy" {
		t.Errorf("health after enabling: %+v", v.Health)
	}
}

func TestOAuthConsentConfigMissingValue(t *testing.T) {
	e, _ := newEngine(t, Config{})
	ctx := testCtx(t)
	script := strings.Replace(dynamicScript, "[Parameter(Mandatory)][string]$ClientId", "[string]$ClientId", 1)
	typ, err := e.CreateType(ctx, TypeInput{Name: "Dyn", Script: script, ScriptName: "Dyn.ps1"})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := e.CreateInstance(ctx, InstanceInput{Name: "Dyn", TypeID: typ.ID, Disabled: true,
		FormData: map[string]any{"VendorUrl": "http://127.0.0.1:1", "ClientSecret": "s", "Region": "eu"}})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = e.OAuthConsentConfig(inst.ID, "Consent")
	if err == nil || !strings.Contains(err.Error(), "Consent: its client id comes from parameter ClientId, which has no value") {
		t.Fatalf("got %v", err)
	}
}
