package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/psbridge/psbridge/internal/fakes1"
	"github.com/psbridge/psbridge/internal/testpwsh"
	"github.com/psbridge/psbridge/web/console"
	"github.com/psbridge/psbridge/web/pages"
)

// browser is a cookie-keeping HTTP client that does not follow redirects, like a page test
// needs.
type browser struct {
	t      *testing.T
	s      *server
	client *http.Client
}

type page struct {
	status int
	header http.Header
	body   string
}

func newBrowser(t *testing.T, s *server) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, s: s, client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *browser) do(method, path string, form url.Values) page {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, b.s.http.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	b.s.mu.Lock()
	b.s.bodies = append(b.s.bodies, string(raw))
	b.s.mu.Unlock()
	return page{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

func (b *browser) get(path string) page { b.t.Helper(); return b.do("GET", path, nil) }

// post submits form with the CSRF token of the page at from.
func (b *browser) post(from, path string, form url.Values) page {
	b.t.Helper()
	form.Set(pages.CSRFField, csrfOf(b.t, b.get(from)))
	return b.do("POST", path, form)
}

var (
	csrfInput     = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	passwordInput = regexp.MustCompile(`<input[^>]*type="password"[^>]*>`)
)

func csrfOf(t *testing.T, p page) string {
	t.Helper()
	m := csrfInput.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token in page (status %d): %.400s", p.status, p.body)
	}
	return m[1]
}

// signIn signs the browser in with the server's API token.
func (b *browser) signIn() {
	b.t.Helper()
	p := b.post("/sign-in", "/sign-in", url.Values{"token": {b.s.token}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/integrations" {
		b.t.Fatalf("sign-in: %d %s %.300s", p.status, p.header.Get("Location"), p.body)
	}
}

// fieldBlock returns the HTML of the form field of parameter name.
func fieldBlock(t *testing.T, body, name string) string {
	t.Helper()
	i := strings.Index(body, `data-field="`+name+`"`)
	if i < 0 {
		t.Fatalf("no field %s in %.2000s", name, body)
	}
	rest := body[i:]
	if j := strings.Index(rest[1:], `data-field="`); j >= 0 {
		rest = rest[:j+1]
	}
	return rest
}

// TestPagesSignIn checks the sign-in form: its CSRF token, token verification, the session
// cookie's attributes, redirects for signed-out browsers and signing out.
func TestPagesSignIn(t *testing.T) {
	s := newServer(t, nil)
	for _, tc := range []struct {
		name   string
		token  string
		csrf   string // "" = the page's, "-" = none
		status int
	}{
		{"no CSRF token", "x", "-", http.StatusForbidden},
		{"wrong CSRF token", "x", "wrong", http.StatusForbidden},
		{"bad API token", "psb_not-a-token", "", http.StatusUnauthorized},
		{"good API token", s.token, "", http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser(t, s)
			form := url.Values{"token": {tc.token}, "next": {"/types"}}
			switch tc.csrf {
			case "":
				form.Set("csrf", csrfOf(t, b.get("/sign-in")))
			case "-":
				b.get("/sign-in")
			default:
				b.get("/sign-in")
				form.Set("csrf", tc.csrf)
			}
			p := b.do("POST", "/sign-in", form)
			if p.status != tc.status {
				t.Fatalf("status %d, want %d: %.300s", p.status, tc.status, p.body)
			}
			if tc.status != http.StatusSeeOther {
				if strings.Contains(p.header.Get("Set-Cookie"), pages.SessionCookie+"=") {
					t.Fatal("a failed sign-in set a session cookie")
				}
				return
			}
			if p.header.Get("Location") != "/types" {
				t.Fatalf("redirect to %q", p.header.Get("Location"))
			}
			var cookie *http.Cookie
			for _, c := range (&http.Response{Header: p.header}).Cookies() {
				if c.Name == pages.SessionCookie && c.Value != "" {
					cookie = c
				}
			}
			if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" {
				t.Fatalf("session cookie %+v", cookie)
			}
			if p := b.get("/integrations"); p.status != 200 || !strings.Contains(p.body, "<h1>Integrations</h1>") {
				t.Fatalf("integrations page: %d %.300s", p.status, p.body)
			}
			if p := b.post("/integrations", "/sign-out", url.Values{}); p.status != http.StatusSeeOther {
				t.Fatalf("sign-out: %d", p.status)
			}
			if p := b.get("/integrations"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/sign-in") {
				t.Fatalf("after sign-out: %d %s", p.status, p.header.Get("Location"))
			}
		})
	}
	// Signed out: pages redirect to the sign-in page, / too, and a redirect target must be local.
	b := newBrowser(t, s)
	for path, want := range map[string]string{"/": "/sign-in", "/types/x": "/sign-in?next=%2Ftypes%2Fx"} {
		if p := b.get(path); p.status != http.StatusSeeOther || p.header.Get("Location") != want {
			t.Errorf("GET %s: %d → %q, want %q", path, p.status, p.header.Get("Location"), want)
		}
	}
	form := url.Values{"token": {s.token}, "next": {"//evil.example/"}, "csrf": {csrfOf(t, b.get("/sign-in"))}}
	if p := b.do("POST", "/sign-in", form); p.header.Get("Location") != "/integrations" {
		t.Errorf("foreign next followed: %q", p.header.Get("Location"))
	}
}

// TestPagesCSRF checks that every state-changing form is refused without the session's CSRF
// token.
func TestPagesCSRF(t *testing.T) {
	s := newServer(t, nil)
	b := newBrowser(t, s)
	b.signIn()
	for _, path := range []string{"/integrations/new", "/types/new", "/sign-out", "/integrations/1/edit", "/integrations/1/clients/map"} {
		for _, csrf := range []string{"", "wrong-token"} {
			p := b.do("POST", path, url.Values{"csrf": {csrf}, "name": {"x"}})
			if p.status != http.StatusForbidden {
				t.Errorf("POST %s with csrf %q: %d, want 403", path, csrf, p.status)
			}
		}
	}
	// Still signed in: the refused sign-out did nothing.
	if p := b.get("/integrations"); p.status != 200 {
		t.Fatalf("after refused posts: %d", p.status)
	}
}

// TestPagesSentinelOne creates the SentinelOne example through the form: the generated
// inputs, validation errors beside their fields, a password that is never rendered back, the
// tabs of its capabilities, client mapping, and editing that keeps the stored key.
func TestPagesSentinelOne(t *testing.T) {
	s := newServer(t, nil)
	fake := fakes1.New(fakes1.Config{})
	vendor := newVendor(t, fake)
	s.must(201, "POST", "/api/v1/modules", map[string]any{"name": "SentinelOne", "script": example(t, "testdata/modules/SentinelOne.psm1")}, nil)
	var typ struct{ ID string }
	s.must(201, "POST", "/api/v1/integration-types", map[string]any{
		"name": "SentinelOne", "scriptName": "SentinelOne.ps1", "script": example(t, "testdata/examples/07-sentinelone.ps1"),
	}, &typ)
	b := newBrowser(t, s)
	b.signIn()

	newPage := "/integrations/new?type=" + typ.ID
	p := b.get(newPage)
	if p.status != 200 {
		t.Fatalf("form: %d %.500s", p.status, p.body)
	}
	for _, tc := range []struct{ field, want string }{
		{"S1Uri", `type="url"`},
		{"S1Uri", `required`},
		{"S1ApiKey", `type="password"`},
		{"S1ApiKey", `autocomplete="new-password"`},
	} {
		if !strings.Contains(fieldBlock(t, p.body, tc.field), tc.want) {
			t.Errorf("field %s lacks %s:\n%s", tc.field, tc.want, fieldBlock(t, p.body, tc.field))
		}
	}

	key := fakes1.DefaultAPIToken
	for _, tc := range []struct {
		name, uri, key, errField string
	}{
		{"missing key", vendor + "/", "", "S1ApiKey"},
		{"bad URI", "not a uri", key, "S1Uri"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.post(newPage, "/integrations/new", url.Values{"type": {typ.ID}, "name": {"S1"}, "f.S1Uri": {tc.uri}, "f.S1ApiKey": {tc.key}})
			if p.status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d: %.500s", p.status, p.body)
			}
			if blk := fieldBlock(t, p.body, tc.errField); !strings.Contains(blk, `class="field-error"`) || !strings.Contains(blk, `aria-invalid="true"`) {
				t.Fatalf("no error on %s:\n%s", tc.errField, blk)
			}
			if strings.Contains(p.body, key) {
				t.Fatal("the re-rendered form contains the API key")
			}
		})
	}

	p = b.post(newPage, "/integrations/new", url.Values{"type": {typ.ID}, "name": {"S1"}, "f.S1Uri": {vendor + "/"}, "f.S1ApiKey": {key}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("create: %d %.1000s", p.status, p.body)
	}
	base := strings.SplitN(p.header.Get("Location"), "?", 2)[0]
	p = b.get(base)
	if !strings.Contains(p.body, `badge ok">Healthy`) || !strings.Contains(p.body, "stored (hidden)") {
		t.Fatalf("overview: %.2000s", p.body)
	}
	for _, tab := range []string{"Overview", "Clients", "Agents", "Webhook", "Health", "Calls", "Edit"} {
		if !strings.Contains(p.body, ">"+tab+"</a>") {
			t.Errorf("tab %s missing", tab)
		}
	}
	if strings.Contains(p.body, ">Console</a>") {
		t.Error("Console tab shown on a server without a console")
	}

	// Map the first client to a new tenant.
	p = b.get(base + "/clients")
	site := fake.Sites()[0]
	if p.status != 200 || !strings.Contains(p.body, site.Name) {
		t.Fatalf("clients: %d %.1500s", p.status, p.body)
	}
	p = b.post(base+"/clients", base+"/clients/map", url.Values{"client": {site.ID}, "tenant": {"0"}, "newTenant": {"Contoso"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("map: %d %.1000s", p.status, p.body)
	}
	p = b.get(base + "/clients")
	row := p.body[strings.Index(p.body, `data-client="`+site.ID+`"`):]
	if !strings.Contains(row[:strings.Index(row, "</tr>")], "<td>Contoso</td>") {
		t.Fatalf("client row after mapping: %s", row[:strings.Index(row, "</tr>")])
	}

	// Editing without typing a key keeps the stored one (Init runs again and succeeds).
	edit := base + "/edit"
	if blk := fieldBlock(t, b.get(edit).body, "S1ApiKey"); strings.Contains(passwordInput.FindString(blk), "value=") || !strings.Contains(blk, "leave empty to keep") {
		t.Fatalf("password field on edit: %s", blk)
	}
	p = b.post(edit, edit, url.Values{"name": {"S1 renamed"}, "f.S1Uri": {vendor + "/"}, "f.S1ApiKey": {""}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("edit: %d %.1500s", p.status, p.body)
	}
	if p = b.get(base); !strings.Contains(p.body, "S1 renamed") || !strings.Contains(p.body, "stored (hidden)") {
		t.Fatalf("after edit: %.1500s", p.body)
	}

	for _, path := range []string{"/integrations", base, base + "/agents", base + "/webhook", base + "/health", base + "/calls", edit, "/types", "/types/" + typ.ID} {
		if p := b.get(path); p.status != 200 {
			t.Errorf("GET %s: %d %.300s", path, p.status, p.body)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, body := range s.bodies {
		if strings.Contains(body, key) || strings.Contains(body, s.token) {
			t.Fatalf("a response contains the API key or the API token: %.300s", body)
		}
	}
}

// formKindsScript declares one parameter of every kind the form generator distinguishes.
const formKindsScript = `New-DynamicIntegration -Init {
    param(
        [Parameter(Mandatory, HelpMessage = 'Where the vendor lives')]
        [DisplayName('Region name')]
        [ValidateSet('eu', 'us')]
        [string]$Region,
        [string[]]$Sites,
        [bool]$Verbose2,
        [int]$Limit = 5
    )
    [OpResult]::Ok()
} -HealthCheck {
    New-HealthyResult
}
`

// TestPagesFormKinds checks the inputs generated for ValidateSet, string[], bool and int
// parameters with labels, help and required marks, and that an integration without
// capabilities has no Clients, Agents or Webhook tab.
func TestPagesFormKinds(t *testing.T) {
	s := newServer(t, nil)
	var typ struct{ ID string }
	s.must(201, "POST", "/api/v1/integration-types", map[string]any{"name": "Kinds", "script": formKindsScript}, &typ)
	b := newBrowser(t, s)
	b.signIn()
	newPage := "/integrations/new?type=" + typ.ID
	body := b.get(newPage).body
	for _, tc := range []struct{ field, want string }{
		{"Region", "<select"},
		{"Region", `<option value="eu"`},
		{"Region", "Region name"},
		{"Region", "Where the vendor lives"},
		{"Region", `class="req"`},
		{"Sites", "<textarea"},
		{"Sites", "One value per line"},
		{"Verbose2", `type="checkbox"`},
		{"Limit", `type="number"`},
		{"Limit", `value="5"`},
	} {
		if blk := fieldBlock(t, body, tc.field); !strings.Contains(blk, tc.want) {
			t.Errorf("field %s lacks %q:\n%s", tc.field, tc.want, blk)
		}
	}
	p := b.post(newPage, "/integrations/new", url.Values{"type": {typ.ID}, "name": {"K"}, "f.Region": {"us"}, "f.Sites": {"a\r\nb\n\n"}, "f.Verbose2": {"true"}, "f.Limit": {"7"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("create: %d %.1500s", p.status, p.body)
	}
	base := strings.SplitN(p.header.Get("Location"), "?", 2)[0]
	var inst struct{ FormData map[string]any }
	s.must(200, "GET", "/api/v1"+base, nil, &inst)
	if got := fmt.Sprintf("%v %v %v %v", inst.FormData["Region"], inst.FormData["Sites"], inst.FormData["Verbose2"], inst.FormData["Limit"]); got != "us [a b] true 7" {
		t.Fatalf("form data %v", inst.FormData)
	}
	body = b.get(base).body
	for _, tab := range []string{"Clients", "Agents", "Webhook"} {
		if strings.Contains(body, ">"+tab+"</a>") {
			t.Errorf("tab %s shown for an integration without the capability", tab)
		}
		if p := b.get(base + "/" + strings.ToLower(tab)); p.status != http.StatusNotFound {
			t.Errorf("%s page: %d, want 404", tab, p.status)
		}
	}
	if blk := fieldBlock(t, b.get(base+"/edit").body, "Sites"); !strings.Contains(blk, "a\nb</textarea>") {
		t.Errorf("list not rendered one per line: %s", blk)
	}
}

// TestPagesTypeUpload uploads a script that does not parse (the errors are listed with line
// and column) and then one that does.
func TestPagesTypeUpload(t *testing.T) {
	s := newServer(t, nil)
	b := newBrowser(t, s)
	b.signIn()
	for _, tc := range []struct {
		name, script string
		status       int
		want         string
	}{
		{"missing name", "", http.StatusUnprocessableEntity, "is required"},
		{"parse error", "New-DynamicIntegration -Init {\n  if ( {\n}", http.StatusUnprocessableEntity, "line 3, column 3: Missing closing"},
		{"good", example(t, "testdata/examples/01-basic.ps1"), http.StatusSeeOther, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "Basic"
			if tc.script == "" {
				name = ""
			}
			p := b.post("/types/new", "/types/new", url.Values{"name": {name}, "script": {tc.script}, "scriptName": {"basic.ps1"}})
			if p.status != tc.status || !strings.Contains(p.body, tc.want) {
				t.Fatalf("status %d, want %d with %q: %.1500s", p.status, tc.status, tc.want, p.body)
			}
			if tc.status == http.StatusSeeOther {
				if p := b.get(strings.SplitN(p.header.Get("Location"), "?", 2)[0]); !strings.Contains(p.body, "New-HealthyResult") {
					t.Fatalf("type page lacks the script: %.1000s", p.body)
				}
			}
		})
	}
}

// TestConsoleWebsocketAuth checks who may open the console websocket: a bearer token or a
// signed-in page session, not an anonymous request or a foreign Origin; and the Console tab
// leads to a page that loads xterm.js.
func TestConsoleWebsocketAuth(t *testing.T) {
	pwsh := testpwsh.Pwsh(t)
	m, err := console.NewManager(console.Config{Pwsh: pwsh, ModuleManifest: testpwsh.Module(t).Manifest()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := newServer(t, nil)
	s.stop()
	s.opts = Options{Console: m}
	s.start()
	b := newBrowser(t, s)
	b.signIn()
	wsURL := "ws" + strings.TrimPrefix(s.http.URL, "http") + ConsolePath + "?cols=80&rows=24"
	for _, tc := range []struct {
		name   string
		header http.Header
		cookie bool
		status int
	}{
		{"anonymous", http.Header{}, false, http.StatusUnauthorized},
		{"bad token", http.Header{"Authorization": {"Bearer psb_wrong"}}, false, http.StatusUnauthorized},
		{"bearer token", http.Header{"Authorization": {"Bearer " + s.token}}, false, http.StatusSwitchingProtocols},
		{"page session", http.Header{}, true, http.StatusSwitchingProtocols},
		{"foreign origin", http.Header{"Origin": {"http://evil.example"}}, true, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
			if tc.cookie {
				d.Jar = b.client.Jar
			}
			conn, resp, err := d.Dial(wsURL, tc.header)
			if resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("dial: %v, response %+v, want %d", err, resp, tc.status)
			}
			if conn == nil {
				return
			}
			defer conn.Close()
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			var hello console.Message
			if err := conn.ReadJSON(&hello); err != nil || hello.Type != "hello" || hello.Session == "" {
				t.Fatalf("first message %+v, %v", hello, err)
			}
		})
	}
	if p := b.get("/static/vendor/xterm.js"); p.status != 200 || !strings.Contains(p.body, "Terminal") {
		t.Fatalf("xterm.js: %d", p.status)
	}
}

// raw sends a request with the browser's cookies through the transport alone, so that a
// Location header net/http's client refuses to parse (a control character) still reaches the
// test.
func (b *browser) raw(method, path string, form url.Values) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.s.http.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range b.client.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	b.client.Jar.SetCookies(req.URL, resp.Cookies())
	raw, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

// TestPagesSignInNextIsLocal checks that the page a sign-in returns to is a local path, both
// after the sign-in form and from the sign-in page of a browser already signed in. Browsers
// drop tabs and newlines inside URLs, so "/\t/evil.example" is "//evil.example" to them.
func TestPagesSignInNextIsLocal(t *testing.T) {
	s := newServer(t, nil)
	signedIn := newBrowser(t, s)
	signedIn.signIn()
	for _, tc := range []struct{ next, want string }{
		{"/types", "/types"},
		{"/integrations/1/calls?before=5", "/integrations/1/calls?before=5"},
		{"", "/integrations"},
		{"//evil.example/", "/integrations"},
		{"/\\evil.example/", "/integrations"},
		{"https://evil.example/", "/integrations"},
		{"/\t/evil.example/", "/integrations"},
		{"/\n/evil.example/", "/integrations"},
		{"/\r/evil.example/", "/integrations"},
		{"/\t\\evil.example/", "/integrations"},
		{"/\x00/evil.example/", "/integrations"},
		{"/\x7f/evil.example/", "/integrations"},
	} {
		t.Run(fmt.Sprintf("%q", tc.next), func(t *testing.T) {
			b := newBrowser(t, s)
			p := b.raw("GET", "/sign-in?next="+url.QueryEscape(tc.next), nil)
			if p.status != 200 {
				t.Fatalf("sign-in page: %d", p.status)
			}
			form := url.Values{"token": {s.token}, "next": {tc.next}, "csrf": {csrfOf(t, p)}}
			if p := b.raw("POST", "/sign-in", form); p.status != http.StatusSeeOther || p.header.Get("Location") != tc.want {
				t.Errorf("after sign-in: %d → %q, want %q", p.status, p.header.Get("Location"), tc.want)
			}
			if p := signedIn.raw("GET", "/sign-in?next="+url.QueryEscape(tc.next), nil); p.status != http.StatusSeeOther || p.header.Get("Location") != tc.want {
				t.Errorf("signed in: %d → %q, want %q", p.status, p.header.Get("Location"), tc.want)
			}
		})
	}
}

// leakyScript puts its [Password] value into the reason of a failed OpResult and into its
// health message: script output the worker does not mask, which the engine turns into an
// error and a health status.
const leakyScript = `New-DynamicIntegration -Init {
    param([Parameter(Mandatory)][Password()][string]$Key, [string]$Mode)
    if ($Mode -eq 'fail') { return [OpResult]::Fail("the vendor refused key $Key") }
    if ($Mode -eq 'throw') { throw "the vendor refused key $Key" }
    $IntegrationContext.Key = $Key
    [OpResult]::Ok()
} -HealthCheck {
    New-UnhealthyResult -Message "the vendor refused key $($IntegrationContext.Key) (url-encoded: $([uri]::EscapeDataString($IntegrationContext.Key)))"
}
`

// TestPagesSecretsNotEchoed checks that a [Password] value a script repeats in a failed
// OpResult or a health message reaches no page, API response or call log entry.
func TestPagesSecretsNotEchoed(t *testing.T) {
	s := newServer(t, nil)
	var typ struct{ ID string }
	s.must(201, "POST", "/api/v1/integration-types", map[string]any{"name": "Leaky", "script": leakyScript}, &typ)
	b := newBrowser(t, s)
	b.signIn()
	const key = "k3y/with odd chars"
	newPage := "/integrations/new?type=" + typ.ID
	for _, tc := range []struct{ mode, want string }{
		{"fail", "the vendor refused key ********"},
		{"throw", "the vendor refused key ********"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			p := b.post(newPage, "/integrations/new", url.Values{"type": {typ.ID}, "name": {"L-" + tc.mode}, "f.Key": {key}, "f.Mode": {tc.mode}})
			if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, tc.want) {
				t.Fatalf("status %d, want 422 with %q: %.1500s", p.status, tc.want, p.body)
			}
			r := s.do("POST", "/api/v1/integrations", map[string]any{"name": "A-" + tc.mode, "typeId": typ.ID, "formData": map[string]any{"Key": key, "Mode": tc.mode}})
			if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), tc.want) {
				t.Fatalf("API: %d %s", r.status, r.body)
			}
		})
	}
	// An integration that initializes and then reports the key in its health message.
	p := b.post(newPage, "/integrations/new", url.Values{"type": {typ.ID}, "name": {"L"}, "f.Key": {key}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("create: %d %.1500s", p.status, p.body)
	}
	base := strings.SplitN(p.header.Get("Location"), "?", 2)[0]
	if p := b.post(base, base+"/health-check", url.Values{}); p.status != http.StatusSeeOther {
		t.Fatalf("health check: %d %.500s", p.status, p.body)
	}
	if p := b.get(base); !strings.Contains(p.body, "the vendor refused key ********") {
		t.Fatalf("overview lacks the masked health message: %.2000s", p.body)
	}
	for _, path := range []string{base, base + "/health", base + "/calls", base + "/edit"} {
		b.get(path)
	}
	s.do("GET", "/api/v1"+base, nil)
	s.do("GET", "/api/v1"+base+"/health", nil)
	s.do("GET", "/api/v1"+base+"/calls", nil)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, body := range s.bodies {
		for _, form := range []string{key, url.QueryEscape(key), url.PathEscape(key)} {
			if strings.Contains(body, form) {
				t.Fatalf("a response contains the password (%q): %.600s", form, body)
			}
		}
	}
}
