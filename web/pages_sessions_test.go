package web

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/psbridge/psbridge/agent/wire"
	"github.com/psbridge/psbridge/engine/store"
)

// TestPagesDeploymentsAndSessions drives the Software, Deployments and Sessions pages without
// a browser: what each form refuses (and says why), creating and removing a deployment,
// starting a session and reading it, and that a read-only token may look but not change.
func TestPagesDeploymentsAndSessions(t *testing.T) {
	s := newServer(t, nil)
	tenant := store.Tenant{Name: "Contoso"}
	if err := s.st.CreateTenant(&tenant); err != nil {
		t.Fatal(err)
	}
	var sw struct{ ID int64 }
	s.must(201, "POST", "/api/v1/software", fileSoftware("Tool <X>", "2.0", "x.txt"), &sw)
	k, err := s.eng.CreateEnrollmentKey(tenant.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var pc wire.Enrolled
	s.must(201, "POST", wire.EnrollPath, wire.EnrollRequest{Key: k.Key, Inventory: wire.Inventory{ComputerName: "PC-1", DeviceID: "dev-1"}}, &pc)

	b := newBrowser(t, s)
	b.signIn()
	if p := b.get("/software"); p.status != 200 || !strings.Contains(p.body, "Tool &lt;X&gt;") {
		t.Fatalf("software page %d: %.1500s", p.status, p.body)
	}
	swID, target := fmt.Sprint(sw.ID), fmt.Sprintf("tenant:%d", tenant.ID)
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		says   string
	}{
		{"no software", url.Values{"target": {target}, "desiredSoftwareState": {"5"}}, 422, "Software: choose one"},
		{"no target", url.Values{"softwareId": {swID}, "desiredSoftwareState": {"5"}}, 422, "Target: choose a tenant or a computer"},
		{"unknown tenant", url.Values{"softwareId": {swID}, "target": {"tenant:999"}, "desiredSoftwareState": {"5"}}, 422, "tenantId names no tenant"},
		{"state 9", url.Values{"softwareId": {swID}, "target": {target}, "desiredSoftwareState": {"9"}}, 422, "desiredSoftwareState must be 0 to 6"},
	} {
		t.Run("deployment refused/"+tc.name, func(t *testing.T) {
			p := b.post("/deployments", "/deployments", tc.form)
			if p.status != tc.status || !strings.Contains(p.body, tc.says) {
				t.Fatalf("status %d, want %d saying %q: %.2000s", p.status, tc.status, tc.says, p.body)
			}
		})
	}
	p := b.post("/deployments", "/deployments", url.Values{"softwareId": {swID}, "target": {target}, "desiredSoftwareState": {"5"}, "notes": {"everyone"}})
	if p.status != 303 || !strings.HasPrefix(p.header.Get("Location"), "/deployments?notice=") {
		t.Fatalf("create deployment: %d %s %.1500s", p.status, p.header.Get("Location"), p.body)
	}
	if p := b.post("/deployments", "/deployments", url.Values{"softwareId": {swID}, "target": {target}, "desiredSoftwareState": {"6"}}); p.status != 409 || !strings.Contains(p.body, "already deploys") {
		t.Fatalf("duplicate deployment: %d %.1500s", p.status, p.body)
	}
	p = b.get("/deployments")
	if !strings.Contains(p.body, "tenant Contoso") || !strings.Contains(p.body, "5 NewerOrEqualVersion") || !strings.Contains(p.body, "everyone") {
		t.Fatalf("deployments page: %.3000s", p.body)
	}

	// A read-only token sees the pages without their forms and may not change anything.
	ro, _, err := s.st.CreateTokenWithRole("viewer", store.RoleReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	vb := newBrowser(t, s)
	if p := vb.post("/sign-in", "/sign-in", url.Values{"token": {ro}}); p.status != 303 {
		t.Fatalf("read-only sign-in: %d", p.status)
	}
	if p := vb.get("/deployments"); p.status != 200 || strings.Contains(p.body, "Create deployment") || strings.Contains(p.body, "/delete\"") {
		t.Fatalf("read-only deployments page %d: %.2000s", p.status, p.body)
	}
	if p := vb.post("/sessions", "/deployments/1/delete", url.Values{}); p.status != 403 {
		t.Fatalf("read-only delete: %d", p.status)
	}

	// Sessions: the form's refusals, then an inventory-only session of the offline computer,
	// skipped.
	if p := b.post("/sessions", "/sessions", url.Values{"mode": {"5"}}); p.status != 422 || !strings.Contains(p.body, "Computer: choose one") {
		t.Fatalf("no computer: %d %.1500s", p.status, p.body)
	}
	if p := b.post("/sessions", "/sessions", url.Values{"computerId": {fmt.Sprint(pc.ComputerID)}, "mode": {"5"}}); p.status != 422 ||
		!strings.Contains(p.body, "maintenanceParams.maintenanceIdentifier names no software") {
		t.Fatalf("no software: %d %.1500s", p.status, p.body)
	}
	p = b.post("/sessions", "/sessions", url.Values{"computerId": {fmt.Sprint(pc.ComputerID)}, "mode": {"inventory"}, "offlineBehavior": {"1"}})
	loc := p.header.Get("Location")
	if p.status != 303 || !strings.HasPrefix(loc, "/sessions/") {
		t.Fatalf("start session: %d %s %.1500s", p.status, loc, p.body)
	}
	var id int64
	fmt.Sscanf(strings.TrimPrefix(loc, "/sessions/"), "%d", &id)
	s.follow(id, nil)
	p = b.get(loc)
	if p.status != 200 || !strings.Contains(p.body, ">skipped<") || !strings.Contains(p.body, "inventory only") || !strings.Contains(p.body, "offlineBehavior is Skip") {
		t.Fatalf("session page %d: %.3000s", p.status, p.body)
	}
	if p := b.get("/sessions"); !strings.Contains(p.body, `href="`+loc+`"`) {
		t.Fatalf("sessions page lacks the session: %.3000s", p.body)
	}
	if p := b.get("/sessions/999"); p.status != 404 {
		t.Fatalf("missing session: %d", p.status)
	}

	// Remove the deployment.
	m := regexp.MustCompile(`data-deployment="(\d+)"`).FindStringSubmatch(b.get("/deployments").body)
	if m == nil {
		t.Fatal("no deployment row")
	}
	depID := m[1]
	if p := b.post("/deployments", "/deployments/"+depID+"/delete", url.Values{}); p.status != 303 {
		t.Fatalf("remove deployment: %d %.1000s", p.status, p.body)
	}
	if p := b.get("/deployments"); !strings.Contains(p.body, "No deployments yet") {
		t.Fatalf("deployments after removal: %.2000s", p.body)
	}
}
