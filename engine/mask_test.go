package engine

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/psbridge/psbridge/bridge"
)

// leakKey is a [Password()] value with characters every encoding treats differently.
const leakKey = `Zq9<&>"'+é-vendorKEY`

// leakSession is a secret only $IntegrationContext holds.
const leakSession = "sess-4f1c9e2a77d0"

// leakScript writes the key (and the session) in every form the masker covers: split across
// two Write-Host -NoNewline calls, base64 of user:key, ConvertTo-Json, HTML, hex; in records,
// output, errors and the health message.
const leakScript = `$Integration = New-DynamicIntegration -Init {
    param([Parameter(Mandatory)][Password(StripValue)]$ApiKey)
    $IntegrationContext.Key = $ApiKey
    $IntegrationContext.Session = 'sess-4f1c9e2a77d0'
    [OpResult]::Ok()
} -HealthCheck {
    New-UnhealthyResult -Message ('vendor said no to ' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes('user:' + $IntegrationContext.Key)))
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients {
    $k = $IntegrationContext.Key
    $half = [int]($k.Length / 2)
    Write-Host -NoNewline ('key ' + $k.Substring(0, $half))
    Write-Host ($k.Substring($half) + ' done')
    Write-Warning ('Authorization: Basic ' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes('user:' + $k)))
    Write-Information (@{ key = $k } | ConvertTo-Json -Compress)
    Write-Information ('<td>' + [System.Net.WebUtility]::HtmlEncode($k) + '</td>')
    Write-Information ([Convert]::ToHexString([Text.Encoding]::UTF8.GetBytes($k)))
    Write-Information ('session=' + $IntegrationContext.Session)
    [pscustomobject]@{
        clientId = '1'; clientName = 'c'
        b64 = [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes('user:' + $k))
        json = (@{ key = $k } | ConvertTo-Json -Compress)
        html = [System.Net.WebUtility]::HtmlEncode($k)
        hex = [Convert]::ToHexString([Text.Encoding]::UTF8.GetBytes($k)).ToLower()
        session = $IntegrationContext.Session
    }
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsTenantInstallToken -GetTenantInstallToken {
    param([string]$clientId)
    throw ('vendor refused ' + [Convert]::ToHexString([Text.Encoding]::UTF8.GetBytes($IntegrationContext.Key)))
}
$Integration
`

// leakForms are the forms of leakKey and leakSession that must never appear, computed here
// independently of the masker.
func leakForms() []string {
	k := leakKey
	j, _ := json.Marshal(k)
	b64 := base64.StdEncoding.EncodeToString([]byte("user:" + k))
	forms := []string{
		k, leakSession,
		string(j[1 : len(j)-1]),          // Go style
		strings.ReplaceAll(k, `"`, `\"`), // ConvertTo-Json style
		b64[8 : len(b64)-4],              // base64 core of user:key
		strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;").Replace(k),
		hex.EncodeToString([]byte(k)), strings.ToUpper(hex.EncodeToString([]byte(k))),
		k[:len(k)/2], k[len(k)/2:], // the halves of the split write
	}
	return forms
}

func assertNoLeak(t *testing.T, where, text string) {
	t.Helper()
	for _, f := range leakForms() {
		if strings.Contains(text, f) {
			t.Errorf("%s leaks %q:\n%s", where, f, text)
		}
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestEverySinkMasksEveryForm runs a script that leaks its key in every encoding through real
// pwsh and checks the method result, its records, the error, the health message, the call
// log and the service log.
func TestEverySinkMasksEveryForm(t *testing.T) {
	ctx := testCtx(t)
	var logs syncBuffer
	logger := zerolog.New(&logs)
	e, _ := newEngine(t, Config{Logger: &logger})
	typ, err := e.CreateType(ctx, TypeInput{Name: "Leaky", Script: leakScript})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := e.CreateInstance(ctx, InstanceInput{Name: "l", TypeID: typ.ID, FormData: map[string]any{"ApiKey": leakKey}})
	if err != nil {
		t.Fatal(err)
	}

	res, err := e.Call(ctx, inst.ID, "GetClients", nil)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(res.Output)
	assertNoLeak(t, "method output", string(out))
	if !strings.Contains(string(out), "********") {
		t.Errorf("output masks nothing: %s", out)
	}
	recs, _ := json.Marshal(res.Records)
	assertNoLeak(t, "records", string(recs))
	if len(res.Records) < 6 {
		t.Fatalf("only %d records: %s", len(res.Records), recs)
	}

	_, err = e.Call(ctx, inst.ID, "GetTenantInstallToken", map[string]any{"clientId": "7"})
	var se *bridge.ScriptError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v", err)
	}
	assertNoLeak(t, "error", err.Error())
	view := *se
	view.Context = nil // the new $IntegrationContext, for the store: it is the secrets' home
	seJSON, _ := json.Marshal(view)
	assertNoLeak(t, "script error", string(seJSON)+se.PositionMessage)

	h, err := e.CheckHealth(ctx, inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	assertNoLeak(t, "health message", h.Message)
	hist, _ := e.HealthHistory(inst.ID, 0)
	histJSON, _ := json.Marshal(hist)
	assertNoLeak(t, "health history", string(histJSON))

	calls, err := e.CallLog(inst.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	callsJSON, _ := json.Marshal(calls)
	assertNoLeak(t, "call log", string(callsJSON))
	if len(calls) < 3 {
		t.Fatalf("call log has %d entries", len(calls))
	}

	// The token cmdlets still get the real output: masking happens where results leave.
	if _, res, _, err := e.call(ctx, inst.ID, "GetClients", callOpts{}); err != nil || !strings.Contains(string(res.Output[0]), leakSession) {
		t.Fatalf("internal result masked: %v %v", res, err)
	}
	assertNoLeak(t, "service log", logs.String())
}

// publicScript keeps a plain form value (the vendor URL) and a session token in its context
// and writes both, in a record and in its output.
const publicScript = `$Integration = New-DynamicIntegration -Init {
    param([Parameter(Mandatory)][string]$ApiUrl, [Parameter(Mandatory)][Password(StripValue)]$ApiKey)
    $IntegrationContext.Url = $ApiUrl
    $IntegrationContext.Session = 'session-' + $ApiKey.Length + '-9f8e7d6c'
    [OpResult]::Ok()
} -HealthCheck { New-HealthyResult }
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients {
    Write-Host "calling $($IntegrationContext.Url) with $($IntegrationContext.Session)"
    [pscustomobject]@{ clientId = '1'; clientName = 'c'; url = $IntegrationContext.Url; session = $IntegrationContext.Session }
}
$Integration
`

// TestPublicContextValuesShowInClear: a context string equal to a plain form value (the vendor
// URL) shows in records and output; a session token the script made stays masked in both.
func TestPublicContextValuesShowInClear(t *testing.T) {
	ctx := testCtx(t)
	e, _ := newEngine(t, Config{})
	typ, err := e.CreateType(ctx, TypeInput{Name: "Public", Script: publicScript})
	if err != nil {
		t.Fatal(err)
	}
	const url = "https://vendor.example/api"
	inst, err := e.CreateInstance(ctx, InstanceInput{Name: "p", TypeID: typ.ID, FormData: map[string]any{"ApiUrl": url, "ApiKey": "k-123456"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Call(ctx, inst.ID, "GetClients", nil)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(res.Output)
	var recs []string
	for _, r := range res.Records {
		recs = append(recs, r.Message)
	}
	for where, text := range map[string]string{"output": string(out), "records": strings.Join(recs, "\n")} {
		if !strings.Contains(text, url) {
			t.Errorf("%s hides the public URL: %s", where, text)
		}
		if strings.Contains(text, "9f8e7d6c") || !strings.Contains(text, "********") {
			t.Errorf("%s does not mask the session token: %s", where, text)
		}
	}
}
