package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/psbridge/psbridge/agent"
	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

// testAgent is a real in-process psbridge agent (its own warm pwsh) enrolled into a tenant;
// its C: drive is a temporary directory.
type testAgent struct {
	t     testing.TB
	s     *server
	cfg   agent.Config
	id    int64
	drive string
}

// enrollAgents enrolls n agents into tenantID; connect starts them and waits until each is
// online.
func enrollAgents(t testing.TB, s *server, tenantID int64, n int, connect bool) []*testAgent {
	t.Helper()
	k, err := s.eng.CreateEnrollmentKey(tenantID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []*testAgent
	for i := range n {
		drive := t.TempDir()
		pool := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1, MaxWorkersPerInstance: 1, IdleTimeout: -1})
		name := fmt.Sprintf("PC-%d-%d", tenantID, i)
		cfg := agent.Config{StateDir: t.TempDir(), Pool: pool, Drives: map[string]string{"C": drive},
			Inventory: map[string]string{"deviceId": name, "computerName": name, "primaryUserEmail": fmt.Sprintf("user%d@contoso.example", i)}}
		st, err := agent.Enroll(context.Background(), cfg, s.http.URL, k.Key)
		if err != nil {
			t.Fatal(err)
		}
		a := &testAgent{t: t, s: s, cfg: cfg, id: st.ComputerID, drive: drive}
		if connect {
			a.start()
		}
		out = append(out, a)
	}
	return out
}

// start runs the agent until the test ends and waits for the hub's connect event.
func (a *testAgent) start() {
	a.t.Helper()
	connected := a.s.eng.Hub().Connected(a.id)
	ag, err := agent.New(a.cfg)
	if err != nil {
		a.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ag.Run(ctx) }()
	a.t.Cleanup(func() { cancel(); <-done })
	select {
	case <-connected:
	case <-time.After(2 * time.Minute):
		a.t.Fatalf("computer %d's agent did not connect", a.id)
	}
}

// file is the content of a file on the agent's C: drive ("" when it does not exist).
func (a *testAgent) file(name string) string {
	b, err := os.ReadFile(filepath.Join(a.drive, name))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// fileSoftware is the body of software whose installed version is the first line of
// C:\<file> on the computer.
func fileSoftware(name, version, file string) map[string]any {
	p := `C:\` + file
	return map[string]any{"name": name, "version": version, "scriptContext": "computer",
		"detectionScript": `if (Test-Path '` + p + `') { Get-Content '` + p + `' -TotalCount 1 }`,
		"installScript":   `Write-Host 'installing ` + name + `'; Set-Content -Path '` + p + `' -Value '` + version + `'`,
		"uninstallScript": `Remove-Item '` + p + `'`,
	}
}

// sessionEnd is a session as the log stream's end event carries it.
type sessionEnd struct {
	ID              int64  `json:"id"`
	State           string `json:"state"`
	Stage           string `json:"stage"`
	Action          string `json:"action"`
	DetectedVersion string `json:"detectedVersion"`
	DeploymentID    int64  `json:"deploymentId"`
	DesiredState    int    `json:"desiredSoftwareState"`
	Error           string `json:"error"`
	Actions         []struct {
		SoftwareID      int64  `json:"softwareId"`
		DeploymentID    int64  `json:"deploymentId"`
		DesiredState    int    `json:"desiredSoftwareState"`
		DetectedVersion string `json:"detectedVersion"`
		Action          string `json:"action"`
		Result          string `json:"result"`
	} `json:"maintenanceActions"`
}

// follow reads session id's log stream to its end event, calling onLog for each entry, and
// returns the session and the whole log as text. When onLog returns true follow stops there
// (and returns no session).
func (s *server) follow(id int64, onLog func(msg string) (stop bool)) (sessionEnd, string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v1/maintenance-sessions/%d/log", s.http.URL, id), nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := s.http.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var log strings.Builder
	var end sessionEnd
	event := ""
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "log":
			var e store.SessionLogEntry
			_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &e)
			log.WriteString(e.Message + "\n")
			if onLog != nil && onLog(e.Message) {
				return end, log.String()
			}
		case strings.HasPrefix(line, "data: ") && event == "end":
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &end); err != nil {
				s.t.Fatal(err)
			}
			return end, log.String()
		}
	}
	s.t.Fatalf("session %d's log ended without an end event:\n%s", id, log.String())
	return end, ""
}

// runSessions posts a run-immy-service body and returns the session ids.
func (s *server) runSessions(body map[string]any) []int64 {
	s.t.Helper()
	var out struct {
		SessionIDs []int64 `json:"sessionIds"`
	}
	s.must(202, "POST", "/api/v1/run-immy-service", body, &out)
	return out.SessionIDs
}

func computersBody(ids ...int64) []map[string]any {
	out := []map[string]any{}
	for _, id := range ids {
		out = append(out, map[string]any{"computerId": id})
	}
	return out
}

// TestDeploymentsAndSessions creates deployments through the API (and the errors it refuses),
// then runs full-maintenance, winning-deployment, pinned-deployment and inventory-only
// sessions on two real agents and checks what each computer ends with.
func TestDeploymentsAndSessions(t *testing.T) {
	s := newServerWith(t, lazyPool(t), Options{})
	var tenant, other struct{ ID int64 }
	s.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "Contoso"}, &tenant)
	s.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "Fabrikam"}, &other)
	agents := enrollAgents(t, s, tenant.ID, 2, true)
	a, b := agents[0], agents[1]
	var x, y struct{ ID int64 }
	s.must(201, "POST", "/api/v1/software", fileSoftware("Tool X", "2.0", "x.txt"), &x)
	s.must(201, "POST", "/api/v1/software", fileSoftware("Tool Y", "1.0", "y.txt"), &y)

	// Refused deployments name their field.
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		field  string
	}{
		{"no target", map[string]any{"softwareId": x.ID, "desiredSoftwareState": 5}, 422, "tenantId"},
		{"two targets", map[string]any{"softwareId": x.ID, "tenantId": tenant.ID, "computerId": a.id, "desiredSoftwareState": 5}, 422, "computerId"},
		{"no software", map[string]any{"tenantId": tenant.ID, "desiredSoftwareState": 5}, 422, "softwareId"},
		{"unknown software", map[string]any{"softwareId": 999, "tenantId": tenant.ID, "desiredSoftwareState": 5}, 422, "softwareId"},
		{"unknown tenant", map[string]any{"softwareId": x.ID, "tenantId": 999, "desiredSoftwareState": 5}, 422, "tenantId"},
		{"unknown computer", map[string]any{"softwareId": x.ID, "computerId": 999, "desiredSoftwareState": 5}, 422, "computerId"},
		{"state missing", map[string]any{"softwareId": x.ID, "tenantId": tenant.ID}, 422, "desiredSoftwareState"},
		{"state 7", map[string]any{"softwareId": x.ID, "tenantId": tenant.ID, "desiredSoftwareState": 7}, 422, "desiredSoftwareState"},
	} {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			r := s.do("POST", "/api/v1/deployments", tc.body)
			if r.status != tc.status || !strings.Contains(string(r.body), `"field":"`+tc.field+`"`) {
				t.Fatalf("status %d, body %s; want %d naming %s", r.status, r.body, tc.status, tc.field)
			}
		})
	}

	// X: newer-or-equal on the tenant, not present on computer b; Y: any version on computer a.
	var xTenant, xOnB, yOnA, xOther struct{ ID int64 }
	s.must(201, "POST", "/api/v1/deployments", map[string]any{"softwareId": x.ID, "tenantId": tenant.ID, "desiredSoftwareState": 5}, &xTenant)
	s.must(201, "POST", "/api/v1/deployments", map[string]any{"softwareId": x.ID, "computerId": b.id, "desiredSoftwareState": 1, "notes": "b must not have X"}, &xOnB)
	s.must(201, "POST", "/api/v1/deployments", map[string]any{"softwareId": y.ID, "computerId": a.id, "desiredSoftwareState": 6}, &yOnA)
	s.must(201, "POST", "/api/v1/deployments", map[string]any{"softwareId": x.ID, "tenantId": other.ID, "desiredSoftwareState": 1}, &xOther)
	if r := s.do("POST", "/api/v1/deployments", map[string]any{"softwareId": x.ID, "computerId": b.id, "desiredSoftwareState": 6}); r.status != 409 {
		t.Fatalf("duplicate deployment: status %d, body %s", r.status, r.body)
	}
	var got struct {
		SoftwareID, ComputerID int64
		Notes                  string
	}
	s.must(200, "GET", fmt.Sprintf("/api/v1/deployments/%d", xOnB.ID), nil, &got)
	if got.SoftwareID != x.ID || got.ComputerID != b.id || got.Notes != "b must not have X" {
		t.Fatalf("deployment %d: %+v", xOnB.ID, got)
	}
	if n := len(s.all("/api/v1/deployments", 2)); n != 4 {
		t.Fatalf("%d deployments listed, want 4", n)
	}
	s.must(204, "DELETE", fmt.Sprintf("/api/v1/deployments/%d", xOther.ID), nil, nil)
	s.must(404, "GET", fmt.Sprintf("/api/v1/deployments/%d", xOther.ID), nil, nil)
	s.must(404, "DELETE", fmt.Sprintf("/api/v1/deployments/%d", xOther.ID), nil, nil)

	// Refused sessions name their field.
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"pinned deployment of another computer", map[string]any{"deploymentId": xOnB.ID, "computers": computersBody(a.id)}, "computers[0].computerId"},
		{"unknown deployment", map[string]any{"deploymentId": 999, "computers": computersBody(a.id)}, "deploymentId"},
		{"full maintenance and a pinned deployment", map[string]any{"fullMaintenance": true, "deploymentId": xTenant.ID, "computers": computersBody(a.id)}, "deploymentId"},
		{"pinned deployment of other software", map[string]any{"deploymentId": yOnA.ID, "maintenanceParams": map[string]any{"maintenanceIdentifier": fmt.Sprint(x.ID)}, "computers": computersBody(a.id)}, "maintenanceParams.maintenanceIdentifier"},
		{"nothing to maintain", map[string]any{"computers": computersBody(a.id)}, "maintenanceParams"},
		{"offline behaviour 3", map[string]any{"inventoryOnly": true, "offlineBehavior": 3, "computers": computersBody(a.id)}, "offlineBehavior"},
	} {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			r := s.do("POST", "/api/v1/run-immy-service", tc.body)
			if r.status != 422 || !strings.Contains(string(r.body), `"field":"`+tc.field+`"`) {
				t.Fatalf("status %d, body %s; want 422 naming %s", r.status, r.body, tc.field)
			}
		})
	}

	// b has X 1.0 installed before maintenance.
	if err := os.WriteFile(filepath.Join(b.drive, "x.txt"), []byte("1.0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ids := s.runSessions(map[string]any{"fullMaintenance": true, "skipBackgroundJob": true, "computers": computersBody(a.id, b.id)})
	endA, logA := s.follow(ids[0], nil)
	endB, logB := s.follow(ids[1], nil)
	if endA.State != "succeeded" || len(endA.Actions) != 2 {
		t.Fatalf("full maintenance of a: %+v\n%s", endA, logA)
	}
	for i, want := range []struct {
		sw, dep int64
		action  string
	}{{x.ID, xTenant.ID, "install"}, {y.ID, yOnA.ID, "install"}} {
		if ac := endA.Actions[i]; ac.SoftwareID != want.sw || ac.DeploymentID != want.dep || ac.Action != want.action || ac.Result != "succeeded" {
			t.Errorf("a's action %d: %+v, want %+v", i, ac, want)
		}
	}
	if a.file("x.txt") != "2.0" || a.file("y.txt") != "1.0" {
		t.Errorf("a has x %q, y %q after full maintenance", a.file("x.txt"), a.file("y.txt"))
	}
	if endB.State != "succeeded" || len(endB.Actions) != 1 || endB.Actions[0].DeploymentID != xOnB.ID || endB.Actions[0].Action != "uninstall" {
		t.Fatalf("full maintenance of b: %+v\n%s", endB, logB)
	}
	if b.file("x.txt") != "" || b.file("y.txt") != "" {
		t.Errorf("b has x %q, y %q after full maintenance", b.file("x.txt"), b.file("y.txt"))
	}
	if !strings.Contains(logB, fmt.Sprintf("deployment %d (computer %d) wins", xOnB.ID, b.id)) {
		t.Errorf("b's log does not say which deployment won:\n%s", logB)
	}

	// Single-item sessions.
	for _, tc := range []struct {
		name       string
		body       map[string]any
		computer   *testAgent
		state      string
		action     string
		desired    int
		deployment int64
		logWant    string
	}{
		{"winning deployment ignores the requested state", map[string]any{"useWinningDeployment": true,
			"maintenanceParams": map[string]any{"maintenanceIdentifier": fmt.Sprint(x.ID), "desiredSoftwareState": 1}},
			a, "succeeded", "none", 5, xTenant.ID, fmt.Sprintf("deployment %d (tenant %d) wins", xTenant.ID, tenant.ID)},
		{"no winning deployment is NoAction", map[string]any{"useWinningDeployment": true,
			"maintenanceParams": map[string]any{"maintenanceIdentifier": fmt.Sprint(y.ID)}},
			b, "succeeded", "none", 0, 0, "no deployment applies"},
		{"pinned deployment", map[string]any{"deploymentId": xOnB.ID, "detectionOnly": true},
			b, "succeeded", "", 1, xOnB.ID, fmt.Sprintf("from deployment %d", xOnB.ID)},
		{"maintenanceParams alone", map[string]any{"resolutionOnly": true,
			"maintenanceParams": map[string]any{"maintenanceIdentifier": fmt.Sprint(y.ID), "desiredSoftwareState": 2}},
			b, "succeeded", "", 2, 0, "desired state 2 (ThisVersion)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			body["computers"] = computersBody(tc.computer.id)
			body["skipBackgroundJob"] = true
			end, log := s.follow(s.runSessions(body)[0], nil)
			if end.State != tc.state || end.Action != tc.action || end.DesiredState != tc.desired {
				t.Fatalf("session %+v\n%s", end, log)
			}
			if len(end.Actions) != 1 || end.Actions[0].DeploymentID != tc.deployment {
				t.Fatalf("actions %+v, want deployment %d", end.Actions, tc.deployment)
			}
			if !strings.Contains(log, tc.logWant) {
				t.Fatalf("log lacks %q:\n%s", tc.logWant, log)
			}
		})
	}

	// Inventory only: no software, the agent's inventory in the log.
	end, log := s.follow(s.runSessions(map[string]any{"inventoryOnly": true, "computers": computersBody(a.id)})[0], nil)
	if end.State != "succeeded" || len(end.Actions) != 0 || !strings.Contains(log, "stage inventory") ||
		!strings.Contains(log, fmt.Sprintf("computer name %q", fmt.Sprintf("PC-%d-0", tenant.ID))) {
		t.Fatalf("inventory-only session %+v\n%s", end, log)
	}
}

// TestSessionOfflineBehavior runs sessions for a computer whose agent is not connected: Skip
// ends them at once; ApplyOnConnect waits (state waiting) until the agent connects, then
// installs.
func TestSessionOfflineBehavior(t *testing.T) {
	s := newServerWith(t, lazyPool(t), Options{})
	var tenant, sw struct{ ID int64 }
	s.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "Contoso"}, &tenant)
	s.must(201, "POST", "/api/v1/software", fileSoftware("Tool X", "2.0", "x.txt"), &sw)
	for _, tc := range []struct {
		name     string
		behavior int
		state    string
		file     string
	}{
		{"Skip", 1, "skipped", ""},
		{"ApplyOnConnect", 2, "succeeded", "2.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pc := enrollAgents(t, s, tenant.ID, 1, false)[0]
			id := s.runSessions(map[string]any{"offlineBehavior": tc.behavior, "computers": computersBody(pc.id),
				"maintenanceParams": map[string]any{"maintenanceIdentifier": fmt.Sprint(sw.ID), "desiredSoftwareState": 5}})[0]
			started := false
			end, log := s.follow(id, func(msg string) bool {
				if strings.Contains(msg, "runs when its agent connects") {
					var m struct{ State string }
					s.must(200, "GET", fmt.Sprintf("/api/v1/maintenance-sessions/%d", id), nil, &m)
					if m.State != "waiting" {
						t.Errorf("a session waiting for its computer has state %q", m.State)
					}
					pc.start()
					started = true
				}
				return false
			})
			if end.State != tc.state || pc.file("x.txt") != tc.file {
				t.Fatalf("session %+v, file %q\n%s", end, pc.file("x.txt"), log)
			}
			if started != (tc.behavior == 2) {
				t.Fatalf("waited for the agent: %v\n%s", started, log)
			}
		})
	}
}

// TestSessionWaitsAcrossRestart stops the server while an ApplyOnConnect session waits for its
// computer: after the restart the session still waits, and runs when the agent connects to the
// new server. A session cut off while running fails with a reason.
func TestSessionWaitsAcrossRestart(t *testing.T) {
	s := newServerWith(t, lazyPool(t), Options{})
	var tenant, sw struct{ ID int64 }
	s.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "Contoso"}, &tenant)
	s.must(201, "POST", "/api/v1/software", fileSoftware("Tool X", "2.0", "x.txt"), &sw)
	pc := enrollAgents(t, s, tenant.ID, 1, false)[0]
	id := s.runSessions(map[string]any{"offlineBehavior": 2, "computers": computersBody(pc.id),
		"maintenanceParams": map[string]any{"maintenanceIdentifier": fmt.Sprint(sw.ID), "desiredSoftwareState": 5}})[0]
	s.follow(id, func(msg string) bool { return strings.Contains(msg, "runs when its agent connects") })
	// A session the stop cuts off: stored as running, as a crash would leave it.
	cut := store.MaintenanceSession{ComputerID: pc.id, SoftwareID: sw.ID, State: "running", Stage: "action", Log: []store.SessionLogEntry{}}
	if err := s.st.PutSession(&cut); err != nil {
		t.Fatal(err)
	}

	s.restart()
	var m struct{ State, Error string }
	s.must(200, "GET", fmt.Sprintf("/api/v1/maintenance-sessions/%d", cut.ID), nil, &m)
	if m.State != "failed" || m.Error != "the server stopped during the session" {
		t.Fatalf("the cut-off session after the restart: %+v", m)
	}
	s.must(200, "GET", fmt.Sprintf("/api/v1/maintenance-sessions/%d", id), nil, &m)
	if m.State != "waiting" {
		t.Fatalf("the waiting session after the restart: %+v", m)
	}
	// The new server has a new address: enroll the agent again (same device, same computer).
	k, err := s.eng.CreateEnrollmentKey(tenant.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, err := agent.Enroll(context.Background(), pc.cfg, s.http.URL, k.Key)
	if err != nil || st.ComputerID != pc.id {
		t.Fatalf("enroll again: computer %d, %v; want computer %d", st.ComputerID, err, pc.id)
	}
	pc.start()
	end, log := s.follow(id, nil)
	if end.State != "succeeded" || pc.file("x.txt") != "2.0" || !strings.Contains(log, "the server restarted; the session still waits") {
		t.Fatalf("session %+v, file %q\n%s", end, pc.file("x.txt"), log)
	}
}
