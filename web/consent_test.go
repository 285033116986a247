package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// consentScript declares an OAuth consent field the way real scripts do (static parameters
// for the vendor and the client, the field in Init's dynamicparam block). Init keeps the access
// token; HealthCheck calls the vendor with it.
const consentScript = `
$Integration = New-DynamicIntegration -Init {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][Uri]$VendorUrl,
        [Parameter(Mandatory)][string]$ClientId,
        [Parameter(Mandatory)][Password(StripValue = $true)][string]$ClientSecret
    )
    dynamicparam {
        New-ParameterCollection @(
            New-HelpText -Name Hint -HelpMessage 'Register psbridge as an OAuth client in the vendor portal first.'
            New-OAuthConsentParameter -Name Consent -AuthorizationEndpoint "$VendorUrl/oauth/authorize" -TokenEndpoint "$VendorUrl/oauth/token" -ClientId $ClientId -ClientSecret $ClientSecret -Scope 'monitoring offline_access' -Mandatory
        )
    }
    end {
        $c = $PSBoundParameters['Consent']
        if ($c -isnot [PSBridge.OAuthConsentResult] -or -not $c.AccessToken -or -not $c.RefreshToken) { throw "no consent tokens" }
        $IntegrationContext.Url = "$VendorUrl".TrimEnd('/')
        $IntegrationContext.Token = $c.AccessToken
        [OpResult]::Ok()
    }
} -HealthCheck {
    $me = Invoke-RestMethod -Uri "$($IntegrationContext.Url)/api/me" -Headers @{ Authorization = "Bearer $($IntegrationContext.Token)" }
    if ($me.name -eq 'vendor-user') { New-HealthyResult } else { New-UnhealthyResult -Message 'unexpected answer' }
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsTenantInstallToken -GetTenantInstallToken {
    param($clientId)
    $t = Update-OAuthConsentToken -Name Consent
    Write-Host "refreshed: $($t.AccessToken) $($t.RefreshToken)"
    $IntegrationContext.Token = $t.AccessToken
    if ($t -is [PSBridge.OAuthConsentResult] -and $t.AccessToken -ne $IntegrationContext.Old) { 'refreshed' } else { 'not refreshed' }
}
$Integration
`

// fakeVendor is a third-party OAuth 2.0 server: an authorize endpoint that redirects back
// with a code (or the error the test asks for), a token endpoint that checks the client
// secret, the redirect URI and the PKCE verifier, and an API that wants the access token.
type fakeVendor struct {
	srv          *httptest.Server
	clientID     string
	clientSecret string

	mu       sync.Mutex
	codes    map[string]fakeCode // by code
	access   map[string]bool
	refresh  map[string]bool
	tokenErr int // when set, the token endpoint answers this status with a non-JSON body
}

type fakeCode struct{ challenge, redirectURI string }

func newFakeVendor(t *testing.T) *fakeVendor {
	v := &fakeVendor{clientID: "psbridge-client", clientSecret: "client-secret-" + randHex(8),
		codes: map[string]fakeCode{}, access: map[string]bool{}, refresh: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		back, err := url.Parse(q.Get("redirect_uri"))
		if err != nil || q.Get("client_id") != v.clientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || q.Get("scope") != "monitoring offline_access" {
			http.Error(w, "bad authorization request", http.StatusBadRequest)
			return
		}
		bq := url.Values{"state": {q.Get("state")}}
		if deny := r.Header.Get("X-Test-Deny"); deny != "" {
			bq.Set("error", "access_denied")
			bq.Set("error_description", deny)
		} else {
			code := "code-" + randHex(8)
			v.mu.Lock()
			v.codes[code] = fakeCode{challenge: q.Get("code_challenge"), redirectURI: q.Get("redirect_uri")}
			v.mu.Unlock()
			bq.Set("code", code)
		}
		back.RawQuery = bq.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		defer v.mu.Unlock()
		if v.tokenErr != 0 {
			http.Error(w, "upstream trouble", v.tokenErr)
			return
		}
		fail := func(status int, code, desc string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
		}
		if r.PostFormValue("client_id") != v.clientID || r.PostFormValue("client_secret") != v.clientSecret {
			fail(http.StatusUnauthorized, "invalid_client", "client authentication failed")
			return
		}
		switch r.PostFormValue("grant_type") {
		case "authorization_code":
			c, ok := v.codes[r.PostFormValue("code")]
			delete(v.codes, r.PostFormValue("code"))
			if !ok {
				fail(http.StatusBadRequest, "invalid_grant", "unknown code")
				return
			}
			sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
			if base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
				fail(http.StatusBadRequest, "invalid_grant", "code_verifier does not match the code_challenge")
				return
			}
			if r.PostFormValue("redirect_uri") != c.redirectURI {
				fail(http.StatusBadRequest, "invalid_grant", "redirect_uri differs")
				return
			}
		case "refresh_token":
			if !v.refresh[r.PostFormValue("refresh_token")] {
				fail(http.StatusBadRequest, "invalid_grant", "unknown refresh token")
				return
			}
		default:
			fail(http.StatusBadRequest, "unsupported_grant_type", "")
			return
		}
		at, rt := "vendor-at-"+randHex(12), "vendor-rt-"+randHex(12)
		v.access[at], v.refresh[rt] = true, true
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": at, "refresh_token": rt, "token_type": "Bearer", "expires_in": 3600, "scope": "monitoring offline_access"})
	})
	mux.HandleFunc("GET /api/me", func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		ok := v.access[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		v.mu.Unlock()
		if !ok {
			http.Error(w, `{"error":"invalid_token"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"name":"vendor-user"}`))
	})
	v.srv = httptest.NewServer(mux)
	t.Cleanup(v.srv.Close)
	return v
}

// refreshTokens lists every refresh token the vendor issued.
func (v *fakeVendor) refreshTokens() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for rt := range v.refresh {
		out = append(out, rt)
	}
	return out
}

// accessTokens lists every access token the vendor issued.
func (v *fakeVendor) accessTokens() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for at := range v.access {
		out = append(out, at)
	}
	return out
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// authorize plays the vendor's sign-in page: it follows the authorize URL and returns the
// callback URL the vendor sends the browser back to (path and query on psbridge).
func authorize(t *testing.T, authURL string, hdr ...string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, authURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("vendor authorize: %d", resp.StatusCode)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

// TestOAuthConsentFlow creates an integration whose Init declares an OAuth consent field,
// connects it through a fake vendor, and checks every way the flow can go wrong: each is
// refused with a message saying what happened, and nothing is stored.
func TestOAuthConsentFlow(t *testing.T) {
	s := newServer(t, nil)
	vendor := newFakeVendor(t)
	var typ struct {
		ID             string
		InitParameters []struct {
			Name, Type   string
			Mandatory    bool
			Dynamic      bool
			OAuthConsent map[string]any
		}
	}
	s.must(201, "POST", "/api/v1/integration-types", map[string]any{"name": "Consent", "script": consentScript}, &typ)
	var kinds []string
	for _, p := range typ.InitParameters {
		kinds = append(kinds, fmt.Sprintf("%s:%s:%v:%v", p.Name, p.Type, p.Mandatory, p.Dynamic))
	}
	if got := strings.Join(kinds, " "); got != "VendorUrl:uri:true:false ClientId:string:true:false ClientSecret:string:true:false Hint:helptext:false:true Consent:oauthconsent:true:true" {
		t.Fatalf("the type's schema: %s", got)
	}

	b := newBrowser(t, s)
	b.signIn()
	newPage := "/integrations/new?type=" + typ.ID
	body := b.get(newPage).body
	for field, want := range map[string]string{"Hint": "Register psbridge as an OAuth client", "Consent": "not connected", "ClientSecret": `type="password"`} {
		if blk := fieldBlock(t, body, field); !strings.Contains(blk, want) {
			t.Errorf("new form: field %s lacks %q:\n%s", field, want, blk)
		}
	}
	p := b.post(newPage, "/integrations/new", url.Values{"type": {typ.ID}, "name": {"Vendor"},
		"f.VendorUrl": {vendor.srv.URL}, "f.ClientId": {vendor.clientID}, "f.ClientSecret": {vendor.clientSecret}})
	if p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Location"), "/edit?notice=") {
		t.Fatalf("create: %d %s %.1500s", p.status, p.header.Get("Location"), p.body)
	}
	edit := strings.SplitN(p.header.Get("Location"), "?", 2)[0]
	base := strings.TrimSuffix(edit, "/edit")
	connect := base + "/oauth/Consent/connect"
	if blk := fieldBlock(t, b.get(edit).body, "Consent"); !strings.Contains(blk, `formaction="`+connect+`"`) {
		t.Fatalf("edit form has no Connect button posting to %s:\n%s", connect, blk)
	}

	// start presses Connect and returns the vendor URL the browser is sent to.
	start := func(b *browser) string {
		t.Helper()
		p := b.post(edit, connect, url.Values{})
		m := continueLink.FindStringSubmatch(p.body)
		if p.status != http.StatusOK || m == nil {
			t.Fatalf("connect: %d %.1500s", p.status, p.body)
		}
		loc := html.UnescapeString(m[1])
		if !strings.HasPrefix(loc, vendor.srv.URL+"/oauth/authorize?") {
			t.Fatalf("connect sent the browser to %s", loc)
		}
		u, _ := url.Parse(loc)
		q := u.Query()
		if q.Get("redirect_uri") != s.http.URL+base+"/oauth/callback" || q.Get("state") == "" || q.Get("code_challenge") == "" || q.Get("client_secret") != "" {
			t.Fatalf("authorization request: %v", q)
		}
		return loc
	}
	other := newBrowser(t, s)
	other.signIn()
	failures := []struct {
		name string
		run  func() page
		want string
	}{
		{"the user refuses consent", func() page {
			return b.get(authorize(t, start(b), "X-Test-Deny", "The user said no"))
		}, "the vendor refused consent: access_denied: The user said no"},
		{"another session brings the callback (state mismatch)", func() page {
			return other.get(authorize(t, start(b)))
		}, "belongs to another sign-in or integration (state mismatch)"},
		{"an unknown state", func() page {
			return b.get(base + "/oauth/callback?code=x&state=forged")
		}, "unknown, already used or expired"},
		{"no state", func() page {
			return b.get(base + "/oauth/callback?code=x")
		}, "the vendor sent no state back"},
		{"a code issued for another PKCE challenge (wrong verifier)", func() page {
			u, _ := url.Parse(start(b))
			q := u.Query()
			q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(make([]byte, 32)))
			u.RawQuery = q.Encode()
			return b.get(authorize(t, u.String()))
		}, "refused the request (HTTP 400): invalid_grant: code_verifier does not match the code_challenge"},
		{"the token endpoint fails", func() page {
			vendor.mu.Lock()
			vendor.tokenErr = http.StatusBadGateway
			vendor.mu.Unlock()
			defer func() { vendor.mu.Lock(); vendor.tokenErr = 0; vendor.mu.Unlock() }()
			return b.get(authorize(t, start(b)))
		}, "/oauth/token refused the request (HTTP 502)"},
	}
	for _, c := range failures {
		t.Run(c.name, func(t *testing.T) {
			p := c.run()
			if p.status != http.StatusBadRequest || !strings.Contains(p.body, "OAuth consent failed") || !strings.Contains(p.body, htmlEscape(c.want)) {
				t.Fatalf("got %d, want 400 with %q: %.3000s", p.status, c.want, p.body)
			}
			var inst struct{ InputsWithStoredPasswords []string }
			s.must(200, "GET", "/api/v1"+base, nil, &inst)
			if strings.Contains(strings.Join(inst.InputsWithStoredPasswords, ","), "Consent") {
				t.Fatalf("a failed consent stored tokens")
			}
		})
	}

	// The real thing: consent, then enable the integration; Init and HealthCheck use the token.
	callback := authorize(t, start(b))
	p = b.get(callback)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), edit+"?notice=Connected") {
		t.Fatalf("callback: %d %s %.2000s", p.status, p.header.Get("Location"), p.body)
	}
	if blk := fieldBlock(t, b.get(p.header.Get("Location")).body, "Consent"); !strings.Contains(blk, ">connected<") || !strings.Contains(blk, "Connect again") {
		t.Fatalf("after consent:\n%s", blk)
	}
	if p := b.get(callback); p.status != http.StatusBadRequest || !strings.Contains(p.body, "already used") {
		t.Errorf("a replayed callback: %d %.500s", p.status, p.body)
	}
	p = b.post(edit, edit, url.Values{"name": {"Vendor"}, "f.VendorUrl": {vendor.srv.URL}, "f.ClientId": {vendor.clientID}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("enable: %d %.2000s", p.status, p.body)
	}
	var inst struct {
		Health   struct{ Status, Message string }
		FormData map[string]any
	}
	s.must(200, "GET", "/api/v1"+base, nil, &inst)
	if inst.Health.Status != "Healthy" {
		t.Fatalf("health after consent: %+v", inst)
	}
	if _, ok := inst.FormData["Consent"]; ok {
		t.Errorf("the API shows the consent's tokens: %v", inst.FormData)
	}
	// A method refreshes the tokens (Update-OAuthConsentToken): psbridge spends the stored
	// refresh token at the vendor, stores the new tokens and masks them in the call.
	before := len(vendor.refreshTokens())
	var out struct{ Output []any }
	s.must(200, "POST", "/api/v1"+base+"/methods/GetTenantInstallToken", map[string]any{"args": map[string]any{"clientId": "c1"}}, &out)
	if fmt.Sprint(out.Output) != "[refreshed]" || len(vendor.refreshTokens()) != before+1 {
		t.Fatalf("refresh: output %v, vendor issued %d refresh tokens (had %d)", out.Output, len(vendor.refreshTokens()), before)
	}
	var h struct{ Status, Message string }
	s.must(200, "POST", "/api/v1"+base+"/health-check", nil, &h)
	if h.Status != "Healthy" {
		t.Fatalf("health with the refreshed token: %+v", h)
	}
	if !strings.Contains(b.get(base).body, "connected") {
		t.Errorf("overview does not say connected")
	}
	s.must(200, "GET", "/api/v1/integration-types/"+typ.ID, nil, nil)
	s.must(200, "GET", "/api/v1"+base+"/calls", nil, nil)
	b.get(base + "/calls")
	rts := vendor.refreshTokens()
	if len(rts) == 0 {
		t.Fatal("the vendor issued no refresh token")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, body := range s.bodies {
		for _, secret := range append(append(rts, vendor.accessTokens()...), vendor.clientSecret) {
			if strings.Contains(body, secret) {
				t.Fatalf("a response contains a secret (%.12s…): %.500s", secret, body)
			}
		}
	}
}

// continueLink is the vendor link of the page Connect answers with.
var continueLink = regexp.MustCompile(`<a id="continue" href="([^"]+)"`)

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}
