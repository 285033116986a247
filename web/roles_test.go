package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/testpwsh"
	"github.com/psbridge/psbridge/web/console"
)

// as sends a request with another token.
func (s *server) as(token, method, path string, body any) response {
	s.t.Helper()
	return s.do(method, path, body, "Authorization", "Bearer "+token)
}

// signInWith signs the browser in with token.
func (b *browser) signInWith(token string) {
	b.t.Helper()
	p := b.post("/sign-in", "/sign-in", url.Values{"token": {token}})
	if p.status != http.StatusSeeOther {
		b.t.Fatalf("sign-in: %d %.300s", p.status, p.body)
	}
}

// TestRoles checks each role against representative routes of the API, the console websocket
// and the pages.
func TestRoles(t *testing.T) {
	m, err := console.NewManager(console.Config{Pwsh: testpwsh.Pwsh(t), ModuleManifest: testpwsh.Module(t).Manifest()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := newServerWith(t, nil, Options{Console: m})
	tokens := map[string]string{}
	for _, role := range store.Roles {
		tok, _, err := s.st.CreateTokenWithRole(role+"-token", role)
		if err != nil {
			t.Fatal(err)
		}
		tokens[role] = tok
	}
	var typ struct{ ID string }
	s.must(201, "POST", "/api/v1/integration-types", map[string]any{"name": "Args", "script": argScript}, &typ)
	var inst struct{ ID int64 }
	s.must(201, "POST", "/api/v1/integrations", map[string]any{"name": "i", "typeId": typ.ID,
		"formData": map[string]any{"ApiUrl": "https://v.example/"}}, &inst)
	var victim struct{ ID string }
	s.must(201, "POST", "/api/v1/tokens", map[string]any{"name": "victim", "role": "read-only"}, &victim)

	const ro, op, ad = store.RoleReadOnly, store.RoleOperator, store.RoleAdmin
	cases := []struct {
		method, path string
		body         any
		want         map[string]int
	}{
		{"GET", "/api/v1/integrations", nil, map[string]int{ro: 200, op: 200, ad: 200}},
		{"GET", fmt.Sprintf("/api/v1/integrations/%d/calls", inst.ID), nil, map[string]int{ro: 200, op: 200, ad: 200}},
		{"GET", "/api/v1/nothing-here", nil, map[string]int{ro: 404, op: 404, ad: 404}},
		{"POST", "/api/v1/tenants", map[string]any{"name": "T"}, map[string]int{ro: 403, op: 201, ad: 201}},
		{"POST", fmt.Sprintf("/api/v1/integrations/%d/methods/GetTenantInstallToken", inst.ID), map[string]any{"args": map[string]any{"clientId": "c"}}, map[string]int{ro: 403, op: 200, ad: 200}},
		{"POST", "/api/v1/scripts/run", map[string]any{"script": "1"}, map[string]int{ro: 403, op: 200, ad: 200}},
		{"DELETE", "/api/v1/integrations/999", nil, map[string]int{ro: 403, op: 404, ad: 404}},
		{"GET", "/api/v1/admin/backup", nil, map[string]int{ro: 403, op: 200, ad: 200}},
		{"GET", "/api/v1/tokens", nil, map[string]int{ro: 403, op: 403, ad: 200}},
		{"POST", "/api/v1/tokens", map[string]any{"name": "n", "role": "admin"}, map[string]int{ro: 403, op: 403, ad: 201}},
		{"DELETE", "/api/v1/tokens/no-such-token", nil, map[string]int{ro: 403, op: 403, ad: 404}},
	}
	for _, tc := range cases {
		for _, role := range store.Roles {
			t.Run(role+" "+tc.method+" "+tc.path, func(t *testing.T) {
				body := tc.body
				if m, ok := body.(map[string]any); ok && m["name"] == "T" {
					body = map[string]any{"name": "T " + role} // tenant names are unique
				}
				r := s.as(tokens[role], tc.method, tc.path, body)
				if r.status != tc.want[role] {
					t.Fatalf("status %d, want %d: %.300s", r.status, tc.want[role], r.body)
				}
				if r.status == 403 {
					if p := r.problem(t); p["type"] != "urn:psbridge:problem:forbidden" || p["role"] != role {
						t.Fatalf("problem %v", p)
					}
				}
			})
		}
	}

	t.Run("token list shows no secrets", func(t *testing.T) {
		r := s.as(tokens[ad], "GET", "/api/v1/tokens", nil)
		var p struct {
			Items []map[string]any `json:"items"`
		}
		r.decode(t, &p)
		if len(p.Items) < 5 {
			t.Fatalf("%d tokens listed", len(p.Items))
		}
		for _, it := range p.Items {
			if _, ok := it["hash"]; ok || it["role"] == nil || it["id"] == nil {
				t.Fatalf("token entry %v", it)
			}
		}
		for _, tok := range tokens {
			if strings.Contains(string(r.body), tok) || strings.Contains(string(r.body), strings.TrimPrefix(tok, store.TokenPrefix)) {
				t.Fatal("a token's plaintext is in the list")
			}
		}
		bad := s.as(tokens[ad], "POST", "/api/v1/tokens", map[string]any{"name": "n", "role": "root"})
		if bad.status != 422 || !strings.Contains(string(bad.body), `"role"`) {
			t.Fatalf("bad role: %d %s", bad.status, bad.body)
		}
	})

	t.Run("console websocket is admin only", func(t *testing.T) {
		wsURL := "ws" + strings.TrimPrefix(s.http.URL, "http") + ConsolePath + "?cols=80&rows=24"
		for role, want := range map[string]int{ro: 403, op: 403, ad: 101} {
			d := websocket.Dialer{HandshakeTimeout: 30 * time.Second}
			conn, resp, err := d.Dial(wsURL, http.Header{"Authorization": {"Bearer " + tokens[role]}})
			if resp == nil || resp.StatusCode != want {
				t.Fatalf("%s: dial %v, response %+v, want %d", role, err, resp, want)
			}
			if conn != nil {
				conn.Close()
			}
		}
		// A page session of an operator token cannot open it either.
		b := newBrowser(t, s)
		b.signInWith(tokens[op])
		d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, Jar: b.client.Jar}
		if _, resp, _ := d.Dial(wsURL, nil); resp == nil || resp.StatusCode != 403 {
			t.Fatalf("operator page session: %+v", resp)
		}
		if p := b.get(fmt.Sprintf("/integrations/%d/console", inst.ID)); p.status != 403 {
			t.Fatalf("operator console page: %d", p.status)
		}
		if p := b.get(fmt.Sprintf("/integrations/%d", inst.ID)); strings.Contains(p.body, "/console\"") {
			t.Fatal("operator sees the Console tab")
		}
	})

	t.Run("pages", func(t *testing.T) {
		check := fmt.Sprintf("/integrations/%d/health-check", inst.ID)
		from := fmt.Sprintf("/integrations/%d", inst.ID)
		for role, want := range map[string]int{ro: 403, op: 303, ad: 303} {
			b := newBrowser(t, s)
			b.signInWith(tokens[role])
			if p := b.get("/integrations"); p.status != 200 || !strings.Contains(p.body, ">i<") && !strings.Contains(p.body, "i</a>") {
				t.Fatalf("%s: integrations page %d", role, p.status)
			}
			if p := b.post(from, check, url.Values{}); p.status != want {
				t.Fatalf("%s: POST health-check %d, want %d: %.300s", role, p.status, want, p.body)
			}
			// Every role may sign out.
			if p := b.post("/integrations", "/sign-out", url.Values{}); p.status != 303 {
				t.Fatalf("%s: sign-out %d", role, p.status)
			}
		}
	})

	t.Run("revoke signs out", func(t *testing.T) {
		victimTok, rec, err := s.st.CreateTokenWithRole("revoked", store.RoleOperator)
		if err != nil {
			t.Fatal(err)
		}
		b := newBrowser(t, s)
		b.signInWith(victimTok)
		if r := s.as(victimTok, "GET", "/api/v1/integrations", nil); r.status != 200 {
			t.Fatalf("before revoke: %d", r.status)
		}
		if r := s.as(tokens[ad], "DELETE", "/api/v1/tokens/"+rec.ID, nil); r.status != 204 {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
		if r := s.as(victimTok, "GET", "/api/v1/integrations", nil); r.status != 401 {
			t.Fatalf("API after revoke: %d", r.status)
		}
		if p := b.get("/integrations"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/sign-in") {
			t.Fatalf("page after revoke: %d %s", p.status, p.header.Get("Location"))
		}
		if r := s.as(tokens[ad], "DELETE", "/api/v1/tokens/"+rec.ID, nil); r.status != 404 {
			t.Fatalf("second revoke: %d", r.status)
		}
	})
}
