package web

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/psbridge/psbridge/agent/wire"
	"github.com/psbridge/psbridge/engine/store"
)

var newKeyRe = regexp.MustCompile(`<pre class="code" data-key>([^<]+)</pre>`)

// TestPagesTenantEnrollmentKeys creates an enrollment key on the tenant's page (shown once,
// then only its id), enrolls two computers with it through the agent endpoint, connects one
// over the agent websocket, and checks the Computers page: online state, inventory and the
// last identification result per integration. Revoking the key on the page stops it enrolling;
// read-only tokens see the pages without the forms and get 403 when they post; posts without
// the CSRF token get 403.
func TestPagesTenantEnrollmentKeys(t *testing.T) {
	s := newServer(t, nil)
	tenant := store.Tenant{Name: "Contoso <Ltd>"}
	if err := s.st.CreateTenant(&tenant); err != nil {
		t.Fatal(err)
	}
	tp := fmt.Sprintf("/tenants/%d", tenant.ID)
	b := newBrowser(t, s)
	b.signIn()

	if p := b.get("/tenants"); p.status != 200 || !strings.Contains(p.body, `href="`+tp+`"`) || !strings.Contains(p.body, "Contoso &lt;Ltd&gt;") {
		t.Fatalf("tenants page %d: %.1500s", p.status, p.body)
	}
	if p := b.get(tp); p.status != 200 || !strings.Contains(p.body, "No enrollment keys yet") {
		t.Fatalf("tenant page %d: %.1500s", p.status, p.body)
	}
	if p := b.get("/tenants/999"); p.status != 404 {
		t.Fatalf("missing tenant: %d", p.status)
	}

	// Create: the answer shows the key once.
	if p := b.post(tp, tp+"/enrollment-keys", url.Values{"expiresHours": {"-1"}}); p.status != 422 || !strings.Contains(p.body, "Expires in") {
		t.Fatalf("bad expiry: %d %.800s", p.status, p.body)
	}
	p := b.post(tp, tp+"/enrollment-keys", url.Values{"expiresHours": {"24"}})
	m := newKeyRe.FindStringSubmatch(p.body)
	if p.status != 201 || m == nil || !strings.HasPrefix(m[1], "psbe_") {
		t.Fatalf("create key: %d %.2000s", p.status, p.body)
	}
	key := m[1]
	if cc := p.header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q on the page showing a key", cc)
	}
	p = b.get(tp)
	if strings.Contains(p.body, key) || !strings.Contains(p.body, ">active<") || strings.Count(p.body, "/revoke\"") != 1 {
		t.Fatalf("tenant page after create: %.2500s", p.body)
	}

	// Enroll two computers with it; connect one.
	enroll := func(dev, name string) (wire.Enrolled, int) {
		var out wire.Enrolled
		r := s.do("POST", wire.EnrollPath, wire.EnrollRequest{Key: key, Inventory: wire.Inventory{
			ComputerName: name, DeviceID: dev, OSName: "Ubuntu", OSVersion: "24.04", Serial: "SN-" + dev,
			Manufacturer: "Dell", Model: "OptiPlex", Domain: "corp.example", LoggedOnUser: "alice",
			PrimaryUser: "Alice", PrimaryEmail: "alice@example.com", AgentVersion: "1.0", Platform: "linux/amd64"}})
		if r.status == 201 {
			r.decode(t, &out)
		}
		return out, r.status
	}
	pc1, st1 := enroll("dev-1", "PC-1")
	pc2, st2 := enroll("dev-2", "PC-2")
	if st1 != 201 || st2 != 201 {
		t.Fatalf("enroll: %d %d", st1, st2)
	}
	wsURL := "ws" + strings.TrimPrefix(s.http.URL, "http") + wire.ConnectPath
	ws, _, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Authorization": {"Bearer " + pc1.Credential}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	inv := wire.Inventory{ComputerName: "PC-1", DeviceID: "dev-1", OSName: "Ubuntu", OSVersion: "24.04", Serial: "SN-dev-1",
		Manufacturer: "Dell", Model: "OptiPlex", Domain: "corp.example", LoggedOnUser: "alice", PrimaryUser: "Alice",
		PrimaryEmail: "alice@example.com", AgentVersion: "1.0", Platform: "linux/amd64", PwshVersion: "7.5.0"}
	if err := ws.WriteJSON(wire.Message{Type: wire.TypeHello, Version: wire.Version, Inventory: &inv}); err != nil {
		t.Fatal(err)
	}
	var welcome wire.Message
	if err := ws.ReadJSON(&welcome); err != nil || welcome.Type != wire.TypeWelcome {
		t.Fatalf("welcome: %v %+v", err, welcome)
	}
	// The hub attaches the session right after the welcome.
	deadline := time.Now().Add(time.Minute)
	for !s.eng.Hub().Status(pc1.ComputerID).Online {
		if time.Now().After(deadline) {
			t.Fatal("PC-1 never online")
		}
		<-time.After(time.Millisecond)
	}
	// Identification results as inventory identification stores them.
	if _, err := s.st.UpdateComputer(pc2.ComputerID, func(c *store.Computer) error {
		c.Identification = map[string]store.IdentificationResult{
			"41": {IntegrationID: 41, At: time.Now(), OK: true, AgentID: "s1-agent-77"},
			"42": {IntegrationID: 42, At: time.Now(), Error: "GetInventoryScript: <boom>"},
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	p = b.get(tp + "/computers")
	if p.status != 200 {
		t.Fatalf("computers page %d: %.1500s", p.status, p.body)
	}
	row := func(id int64) string {
		i := strings.Index(p.body, fmt.Sprintf(`data-computer="%d"`, id))
		if i < 0 {
			t.Fatalf("no row for computer %d: %.3000s", id, p.body)
		}
		r := p.body[i:]
		if j := strings.Index(r, "</tr>"); j >= 0 {
			r = r[:j]
		}
		return r
	}
	r1, r2 := row(pc1.ComputerID), row(pc2.ComputerID)
	for _, want := range []string{"PC-1", ">online<", "Ubuntu 24.04", "Dell OptiPlex", "SN-dev-1", "corp.example", "alice", "Alice &lt;alice@example.com&gt;", "<code>dev-1</code>", "pwsh 7.5.0", "not identified yet"} {
		if !strings.Contains(r1, want) {
			t.Errorf("PC-1's row lacks %q: %s", want, r1)
		}
	}
	for _, want := range []string{"PC-2", ">offline<", "identified</span> agent <code>s1-agent-77</code>", "integration 41 (deleted)", ">failed</span> GetInventoryScript: &lt;boom&gt;"} {
		if !strings.Contains(r2, want) {
			t.Errorf("PC-2's row lacks %q: %s", want, r2)
		}
	}
	if p := b.get("/tenants"); !strings.Contains(p.body, `computers">2</a></td>`) {
		t.Errorf("tenants page counts: %.2000s", p.body)
	}
	if p := b.get(tp); !strings.Contains(p.body, "2, 1 online") || !strings.Contains(p.body, "<td>2</td>") {
		t.Errorf("tenant page counts and uses: %.3000s", p.body)
	}

	// Read-only: sees the pages, not the forms; posting is refused.
	roTok, _, err := s.st.CreateTokenWithRole("viewer", store.RoleReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	ro := newBrowser(t, s)
	ro.signInWith(roTok)
	if p := ro.get(tp); p.status != 200 || strings.Contains(p.body, "Create enrollment key") || strings.Contains(p.body, "/revoke\"") {
		t.Fatalf("read-only tenant page %d: %.2000s", p.status, p.body)
	}
	if p := ro.get(tp + "/computers"); p.status != 200 || !strings.Contains(p.body, "PC-1") {
		t.Fatalf("read-only computers page %d", p.status)
	}
	if p := ro.post(tp, tp+"/enrollment-keys", url.Values{}); p.status != 403 {
		t.Fatalf("read-only create: %d", p.status)
	}
	keys, err := s.eng.EnrollmentKeys(tenant.ID)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v %v", keys, err)
	}
	revoke := tp + "/enrollment-keys/" + keys[0].ID + "/revoke"
	if p := ro.post(tp, revoke, url.Values{}); p.status != 403 {
		t.Fatalf("read-only revoke: %d", p.status)
	}
	for _, path := range []string{tp + "/enrollment-keys", revoke} {
		if p := b.do("POST", path, url.Values{"csrf": {"wrong"}}); p.status != 403 {
			t.Fatalf("POST %s with a wrong CSRF token: %d", path, p.status)
		}
	}

	// Revoke: the key stops enrolling, the computers stay.
	p = b.post(tp, revoke, url.Values{})
	if p.status != 303 || !strings.HasPrefix(p.header.Get("Location"), tp+"?notice=") {
		t.Fatalf("revoke: %d %s", p.status, p.header.Get("Location"))
	}
	if p := b.get(p.header.Get("Location")); !strings.Contains(p.body, "revoked; the computers it enrolled stay") || !strings.Contains(p.body, ">revoked<") || strings.Contains(p.body, "/revoke\"") {
		t.Fatalf("after revoke: %.2500s", p.body)
	}
	if _, st := enroll("dev-3", "PC-3"); st != 401 {
		t.Fatalf("enroll with a revoked key: %d", st)
	}
	if p := b.post(tp, tp+"/enrollment-keys/no-such-key/revoke", url.Values{}); p.status != 404 {
		t.Fatalf("revoke a missing key: %d", p.status)
	}
	if p := b.get(tp + "/computers"); strings.Count(p.body, "data-computer=") != 2 {
		t.Fatalf("computers after revoke: %.2000s", p.body)
	}
	// No page ever showed an agent credential, and the key only in the answer that created it.
	s.mu.Lock()
	defer s.mu.Unlock()
	shown := 0
	for _, body := range s.bodies {
		if !strings.HasPrefix(body, "<!doctype html>") {
			continue // the enrollment answers carry the credentials, as they must
		}
		if strings.Contains(body, pc1.Credential) || strings.Contains(body, pc2.Credential) {
			t.Fatal("a page or answer shows an agent credential")
		}
		if strings.Contains(body, key) {
			shown++
		}
	}
	if shown != 1 {
		t.Fatalf("the key appeared in %d bodies, want 1", shown)
	}
}
