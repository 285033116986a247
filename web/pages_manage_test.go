package web

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/psbridge/psbridge/engine/store"
)

var (
	newTokenRe  = regexp.MustCompile(`<pre class="code" data-token>([^<]+)</pre>`)
	newSecretRe = regexp.MustCompile(`<pre class="code" data-secret>([^<]+)</pre>`)
)

// TestPagesManage drives the management pages against a real server: the empty states of a
// new server, replacing a type's script (a parse error names the line and changes nothing;
// the integration then runs the new script), deleting a type in use (refused, naming the
// integration to delete first), deleting the integration and then the type, modules
// (upload, duplicate, replace, delete), the webhook secret (generated one shown once, typed one
// never shown, cleared) and API tokens (created token shown once, revoked token's session
// ends). A read-only session sees none of the write forms and gets 403 when it posts anyway.
func TestPagesManage(t *testing.T) {
	s := newServer(t, nil)
	b := newBrowser(t, s)
	b.signIn()

	t.Run("empty states", func(t *testing.T) {
		for _, tc := range []struct{ path, want string }{
			{"/integrations", `No integrations yet. An integration is a configured instance of an <a href="/types">integration type</a>`},
			{"/types", `No integration types yet. Upload a script: <a href="/types/new">Upload a script</a>`},
			{"/modules", "No modules yet. Upload a <code>.psm1</code> below"},
			{"/tenants", "No tenants yet. Open an <a href=\"/integrations\">integration</a>'s Clients tab"},
		} {
			if p := b.get(tc.path); p.status != 200 || !strings.Contains(p.body, tc.want) {
				t.Errorf("%s: %d, want %q in %.2000s", tc.path, p.status, tc.want, p.body)
			}
		}
	})

	var typ, inst struct {
		ID any `json:"id"`
	}
	s.must(201, "POST", "/api/v1/integration-types", map[string]any{"name": "Basic", "scriptName": "basic.ps1", "script": example(t, "testdata/examples/01-basic.ps1")}, &typ)
	tp := fmt.Sprintf("/types/%v", typ.ID)
	s.must(201, "POST", "/api/v1/integrations", map[string]any{"name": "Basic one", "typeId": typ.ID}, &inst)
	ip := fmt.Sprintf("/integrations/%v", inst.ID)

	t.Run("replace a type's script", func(t *testing.T) {
		newScript := "New-DynamicIntegration -Init {\n    [OpResult]::Ok()\n} -HealthCheck {\n    New-HealthyResult -Message 'script v2'\n}\n"
		for _, tc := range []struct {
			name, script string
			status       int
			want         string
		}{
			{"empty", "", 422, "is required"},
			{"parse error", "New-DynamicIntegration -Init {\n  [OpResult]::Ok()\n  if ( {\n}", 422, "line 4, column"},
			{"good", newScript, 303, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := b.post(tp+"/edit", tp+"/edit", url.Values{"name": {"Basic"}, "scriptName": {"basic.ps1"}, "script": {tc.script}})
				if p.status != tc.status || !strings.Contains(p.body, tc.want) {
					t.Fatalf("status %d, want %d with %q: %.2000s", p.status, tc.status, tc.want, p.body)
				}
				var got struct{ Script string }
				s.must(200, "GET", "/api/v1/integration-types/"+fmt.Sprint(typ.ID), nil, &got)
				if replaced := got.Script == newScript; replaced != (tc.status == 303) {
					t.Fatalf("after %s the stored script is %q", tc.name, got.Script)
				}
			})
		}
		// The integration runs Init with the new script at its next call.
		if p := b.post(ip, ip+"/health-check", url.Values{}); p.status != 303 {
			t.Fatalf("health check: %d %.500s", p.status, p.body)
		}
		if p := b.get(ip); !strings.Contains(p.body, "script v2") {
			t.Fatalf("the integration does not run the new script: %.2000s", p.body)
		}
	})

	t.Run("delete a type in use, then the integration, then the type", func(t *testing.T) {
		if p := b.get(tp + "/delete"); p.status != 200 || !strings.Contains(p.body, `href="`+ip+`/delete">Basic one</a>`) || strings.Contains(p.body, `action="`+tp+`/delete"`) {
			t.Fatalf("confirm page of a type in use: %d %.2000s", p.status, p.body)
		}
		p := b.post(tp, tp+"/delete", url.Values{})
		if p.status != 409 || !strings.Contains(p.body, "cannot be deleted while 1 integration(s) use it") || !strings.Contains(p.body, ip+"/delete") {
			t.Fatalf("delete a type in use: %d %.2000s", p.status, p.body)
		}
		if p := b.get(ip + "/delete"); p.status != 200 || !strings.Contains(p.body, `action="`+ip+`/delete"`) {
			t.Fatalf("confirm page of the integration: %d %.2000s", p.status, p.body)
		}
		if p := b.post(ip, ip+"/delete", url.Values{}); p.status != 303 || !strings.HasPrefix(p.header.Get("Location"), "/integrations?notice=") {
			t.Fatalf("delete the integration: %d %s", p.status, p.header.Get("Location"))
		}
		s.must(404, "GET", "/api/v1"+ip, nil, nil)
		if p := b.post(tp, tp+"/delete", url.Values{}); p.status != 303 {
			t.Fatalf("delete the unused type: %d %.1000s", p.status, p.body)
		}
		if p := b.get(tp); p.status != 404 {
			t.Fatalf("deleted type's page: %d", p.status)
		}
	})

	t.Run("modules", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			form     url.Values
			status   int
			location string
			want     string
		}{
			{"no script", url.Values{"name": {"Util"}}, 422, "", "is required"},
			{"bad name", url.Values{"name": {"a/b"}, "script": {"function Get-X {}"}}, 422, "", "must be a module name"},
			{"upload", url.Values{"name": {"Util"}, "script": {"function Get-Util { 'v1' }"}}, 303, "/modules/Util?notice=", ""},
			{"duplicate", url.Values{"name": {"util"}, "script": {"function Get-Util { 'v1' }"}}, 409, "", "exists already"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := b.post("/modules", "/modules", tc.form)
				if p.status != tc.status || !strings.HasPrefix(p.header.Get("Location"), tc.location) || !strings.Contains(p.body, tc.want) {
					t.Fatalf("status %d %s, want %d %s with %q: %.2000s", p.status, p.header.Get("Location"), tc.status, tc.location, tc.want, p.body)
				}
			})
		}
		if p := b.get("/modules"); !strings.Contains(p.body, `<a href="/modules/Util">Util</a>`) {
			t.Fatalf("modules list: %.2000s", p.body)
		}
		if p := b.post("/modules/Util", "/modules/Util", url.Values{"script": {"function Get-Util { 'v2' }"}}); p.status != 303 {
			t.Fatalf("replace: %d %.1000s", p.status, p.body)
		}
		var m struct{ Script string }
		s.must(200, "GET", "/api/v1/modules/Util", nil, &m)
		if !strings.Contains(m.Script, "v2") {
			t.Fatalf("module not replaced: %q", m.Script)
		}
		if p := b.post("/modules/Util/delete", "/modules/Util/delete", url.Values{}); p.status != 303 {
			t.Fatalf("delete: %d %.1000s", p.status, p.body)
		}
		s.must(404, "GET", "/api/v1/modules/Util", nil, nil)
		if p := b.post("/modules", "/modules/Util/delete", url.Values{}); p.status != 404 {
			t.Fatalf("delete again: %d", p.status)
		}
	})

	// A webhook integration for the secret forms.
	var hook struct {
		ID any `json:"id"`
	}
	s.must(201, "POST", "/api/v1/integration-types", map[string]any{"name": "Hook", "scriptName": "hook.ps1", "script": example(t, "testdata/examples/08-webhook.ps1")}, &typ)
	s.must(201, "POST", "/api/v1/integrations", map[string]any{"name": "Hook one", "typeId": typ.ID}, &hook)
	hp := fmt.Sprintf("/integrations/%v/webhook", hook.ID)

	t.Run("webhook secret", func(t *testing.T) {
		if p := b.get(hp); !strings.Contains(p.body, `<span class="badge warn">not set</span>`) {
			t.Fatalf("webhook page: %.2000s", p.body)
		}
		p := b.post(hp, hp+"/secret", url.Values{"generate": {"1"}})
		m := newSecretRe.FindStringSubmatch(p.body)
		if p.status != 200 || m == nil || len(m[1]) < 16 {
			t.Fatalf("generate: %d %.2000s", p.status, p.body)
		}
		generated := m[1]
		p = b.get(hp)
		if strings.Contains(p.body, generated) || !strings.Contains(p.body, `<span class="badge ok">set</span>`) {
			t.Fatalf("webhook page after generating: %.2000s", p.body)
		}
		typed := "my-own-webhook-secret-0123456789"
		for _, tc := range []struct {
			secret string
			status int
			want   string
		}{
			{"tooshort123", 422, "The secret must be at least 16 characters; nothing was changed."},
			{typed, 303, ""},
		} {
			p := b.post(hp, hp+"/secret", url.Values{"secret": {tc.secret}})
			if p.status != tc.status || !strings.Contains(p.body, tc.want) || strings.Contains(p.body, tc.secret) {
				t.Fatalf("set %q: %d %.2000s", tc.secret, p.status, p.body)
			}
		}
		if p := b.get(hp); strings.Contains(p.body, typed) || !strings.Contains(p.body, `<span class="badge ok">set</span>`) {
			t.Fatalf("webhook page shows the typed secret or not set: %.2000s", p.body)
		}
		if sec, ok, err := s.st.WebhookSecret(toID(t, hook.ID)); err != nil || !ok || sec != typed {
			t.Fatalf("stored secret %v %v", ok, err)
		}
		if p := b.post(hp, hp+"/clear", url.Values{}); p.status != 303 {
			t.Fatalf("clear: %d %.1000s", p.status, p.body)
		}
		if p := b.get(hp); !strings.Contains(p.body, "not set") {
			t.Fatalf("after clear: %.2000s", p.body)
		}
	})

	var roToken string
	t.Run("tokens", func(t *testing.T) {
		for _, tc := range []struct {
			name, tokName, role string
			status              int
			want                string
		}{
			{"no name", "", store.RoleReadOnly, 422, "is required"},
			{"bad role", "x", "root", 422, "must be admin, operator or read-only"},
			{"read-only", "viewer", store.RoleReadOnly, 201, "Token viewer created."},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := b.post("/tokens", "/tokens", url.Values{"name": {tc.tokName}, "role": {tc.role}})
				if p.status != tc.status || !strings.Contains(p.body, tc.want) {
					t.Fatalf("status %d, want %d with %q: %.2000s", p.status, tc.status, tc.want, p.body)
				}
				if m := newTokenRe.FindStringSubmatch(p.body); m != nil {
					roToken = m[1]
				}
			})
		}
		if !strings.HasPrefix(roToken, store.TokenPrefix) {
			t.Fatalf("no token shown: %q", roToken)
		}
		p := b.get("/tokens")
		if strings.Contains(p.body, roToken) || strings.Contains(p.body, s.token) || !strings.Contains(p.body, "viewer") || !strings.Contains(p.body, "(you are signed in with it)") {
			t.Fatalf("tokens page: %.3000s", p.body)
		}
	})

	t.Run("read-only session", func(t *testing.T) {
		ro := newBrowser(t, s)
		ro.signInWith(roToken)
		for _, path := range []string{"/integrations", "/types", "/modules", fmt.Sprintf("/integrations/%v", hook.ID), hp, fmt.Sprintf("/types/%v", typ.ID)} {
			p := ro.get(path)
			if p.status != 200 {
				t.Fatalf("%s: %d", path, p.status)
			}
			for _, form := range []string{`action="/modules"`, `/delete"`, `/webhook/secret"`, `/health-check"`, `href="/tokens"`, `/edit"`, `href="/types/new"`, `href="/integrations/new"`} {
				if strings.Contains(p.body, form) {
					t.Errorf("%s shows %s to a read-only session", path, form)
				}
			}
		}
		if p := ro.get("/tokens"); p.status != 403 {
			t.Fatalf("read-only /tokens: %d", p.status)
		}
		// Form pages typed by hand say at once that this session may not change anything.
		for _, path := range []string{"/integrations/new", fmt.Sprintf("/integrations/%v/edit", hook.ID), fmt.Sprintf("/integrations/%v/delete", hook.ID),
			hp + "/clear", "/types/new", fmt.Sprintf("/types/%v/edit", typ.ID), fmt.Sprintf("/types/%v/delete", typ.ID)} {
			p := ro.get(path)
			if p.status != 403 || !strings.Contains(p.body, "it may look, not change anything") || strings.Contains(p.body, "<form method=\"post\" action=\""+path) {
				t.Errorf("read-only GET %s: %d %.500s", path, p.status, p.body)
			}
			if b.get(path).status != 200 {
				t.Errorf("operator GET %s is not 200", path)
			}
		}
		for _, path := range []string{"/modules", hp + "/secret", fmt.Sprintf("/integrations/%v/delete", hook.ID), "/tokens"} {
			if p := ro.post("/integrations", path, url.Values{"name": {"x"}, "script": {"x"}, "role": {"admin"}}); p.status != 403 {
				t.Errorf("read-only POST %s: %d", path, p.status)
			}
		}
		// Revoking the token ends its session.
		var id string
		toks, err := s.st.Tokens()
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range toks {
			if tk.Name == "viewer" {
				id = tk.ID
			}
		}
		if p := b.get("/tokens/" + id + "/revoke"); p.status != 200 || !strings.Contains(p.body, "Revoke the API token viewer?") {
			t.Fatalf("revoke confirm: %d %.1000s", p.status, p.body)
		}
		if p := b.post("/tokens", "/tokens/"+id+"/revoke", url.Values{}); p.status != 303 {
			t.Fatalf("revoke: %d %.1000s", p.status, p.body)
		}
		if p := ro.get("/integrations"); p.status != 303 || !strings.HasPrefix(p.header.Get("Location"), "/sign-in") {
			t.Fatalf("revoked token's session still works: %d", p.status)
		}
	})

	s.mu.Lock()
	defer s.mu.Unlock()
	for _, body := range s.bodies {
		if strings.Contains(body, "my-own-webhook-secret-0123456789") {
			t.Fatal("a response carries the typed webhook secret")
		}
	}
}

// toID converts a JSON number id to int64.
func toID(t *testing.T, v any) int64 {
	t.Helper()
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("id %v is %T", v, v)
	}
	return int64(f)
}
