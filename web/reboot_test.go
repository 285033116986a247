package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/psbridge/psbridge/agent"
	"github.com/psbridge/psbridge/agent/wire"
)

// rebootAgent is a real agent whose reboot command writes its arguments to a marker file and
// whose pending reboot is a file the test creates or removes.
type rebootAgent struct {
	*testAgent
	marker, pendingFile string
}

// enrollRebootAgents enrolls and starts one agent per entry of refuse; refuse[i] starts agent
// i with --reboot-command none.
func enrollRebootAgents(t *testing.T, s *server, tenantID int64, refuse ...bool) []*rebootAgent {
	t.Helper()
	var out []*rebootAgent
	for i, ta := range enrollAgents(t, s, tenantID, len(refuse), false) {
		dir := t.TempDir()
		ra := &rebootAgent{testAgent: ta, marker: filepath.Join(dir, "rebooted"), pendingFile: filepath.Join(dir, "reboot-required")}
		script := filepath.Join(dir, "reboot.sh")
		// The argument must arrive as one word: the agent runs the command without a shell.
		body := "#!/bin/sh\nprintf '%s|' \"$@\" > '" + ra.marker + "'\n"
		if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
			t.Fatal(err)
		}
		argv, err := agent.ParseRebootCommand(script + ` "psbridge maintenance session"`)
		if refuse[i] {
			argv, err = agent.ParseRebootCommand("none")
		}
		if err != nil {
			t.Fatal(err)
		}
		ra.cfg.RebootCommand, ra.cfg.RebootPendingFile = argv, ra.pendingFile
		ra.start()
		out = append(out, ra)
	}
	return out
}

// setPending creates or removes the agent's pending-reboot file and removes the marker.
func (ra *rebootAgent) setPending(t *testing.T, pending bool) {
	t.Helper()
	_ = os.Remove(ra.marker)
	_ = os.Remove(ra.pendingFile)
	if pending {
		if err := os.WriteFile(ra.pendingFile, []byte("*** System restart required ***\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// rebooted is what the reboot command received ("" when it did not run).
func (ra *rebootAgent) rebooted() string {
	b, err := os.ReadFile(ra.marker)
	if err != nil {
		return ""
	}
	return string(b)
}

// rebootEnd is the reboot part of a session's end event.
type rebootEnd struct {
	State         string `json:"state"`
	Error         string `json:"error"`
	RebootPending bool   `json:"rebootPending"`
	RebootAction  string `json:"rebootAction"`
}

// TestSessionRebootPreference runs install sessions on real agents and checks what each
// rebootPreference does with a pending (or no) reboot: whether the agent's reboot command ran,
// the session's state, rebootPending and rebootAction, and the log line that says why.
func TestSessionRebootPreference(t *testing.T) {
	s := newServerWith(t, lazyPool(t), Options{})
	var tenant struct{ ID int64 }
	s.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "Contoso"}, &tenant)
	agents := enrollRebootAgents(t, s, tenant.ID, false, true)
	pc, refusing := agents[0], agents[1]
	const wantArgs = "psbridge maintenance session|"

	for i, tc := range []struct {
		name     string
		agent    *rebootAgent
		body     map[string]any // merged into the request
		pending  bool
		exitCode bool // the install script returns 3010
		detect   bool // detectionOnly: no action, no reboot stage
		state    string
		rebooted bool
		action   string // rebootAction
		wantPend bool
		logWant  string
	}{
		{name: "Normal, pending", agent: pc, body: map[string]any{"rebootPreference": 0}, pending: true,
			state: "succeeded", rebooted: true, action: "rebooted", wantPend: true, logWant: "reboot pending: " + pc.pendingFile},
		{name: "Normal, not pending", agent: pc, body: map[string]any{"rebootPreference": "Normal"},
			state: "succeeded", action: "none", logWant: "no reboot pending"},
		{name: "Normal, the install returned 3010", agent: pc, body: map[string]any{}, exitCode: true,
			state: "succeeded", rebooted: true, action: "rebooted", wantPend: true, logWant: "returned exit code 3010"},
		{name: "Suppress, pending", agent: pc, body: map[string]any{"rebootPreference": 1}, pending: true,
			state: "succeeded", action: "suppressed", wantPend: true, logWant: "reboot pending, suppressed by rebootPreference Suppress"},
		{name: "Force, not pending", agent: pc, body: map[string]any{"rebootPreference": "Force"},
			state: "succeeded", rebooted: true, action: "rebooted", logWant: "rebooting anyway: rebootPreference Force"},
		{name: "Force, detection only", agent: pc, body: map[string]any{"rebootPreference": -1, "detectionOnly": true}, pending: true, detect: true,
			state: "succeeded"},
		{name: "Prompt, timeout action Reboot", agent: pc, body: map[string]any{"rebootPreference": "Prompt", "promptTimeoutAction": "Reboot"}, pending: true,
			state: "succeeded", rebooted: true, action: "rebooted", wantPend: true, logWant: "psbridge cannot prompt the user, so promptTimeoutAction Reboot applies"},
		{name: "Prompt, timeout action Suppress", agent: pc, body: map[string]any{"rebootPreference": 2, "promptTimeoutAction": 1}, pending: true,
			state: "succeeded", action: "suppressed", wantPend: true, logWant: "suppressed by promptTimeoutAction Suppress"},
		{name: "Prompt, timeout action FailSession", agent: pc, body: map[string]any{"rebootPreference": "Prompt", "promptTimeoutAction": "FailSession", "promptTimeoutMinutes": 5}, pending: true,
			state: "failed", action: "suppressed", wantPend: true, logWant: "promptTimeoutAction FailSession fails the session"},
		{name: "reboot-command none", agent: refusing, body: map[string]any{"rebootPreference": 0, "autoConsentToReboots": true}, pending: true,
			state: "completed with errors", action: "refused", wantPend: true, logWant: "the agent refused the reboot: the agent runs with --reboot-command none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := fmt.Sprintf("tool-%d.txt", i)
			swBody := fileSoftware(fmt.Sprintf("Tool %d", i), "1.0", file)
			// The install also writes the reboot variables the session passes to its scripts.
			install := swBody["installScript"].(string) + fmt.Sprintf(`; Set-Content -Path 'C:\vars-%d.txt' -Value "$RebootPreference/$AutoConsentToReboots"`, i)
			if tc.exitCode {
				install += "; 3010"
			}
			swBody["installScript"] = install
			var sw struct{ ID int64 }
			s.must(201, "POST", "/api/v1/software", swBody, &sw)
			tc.agent.setPending(t, tc.pending)
			body := map[string]any{"skipBackgroundJob": true, "computers": computersBody(tc.agent.id),
				"maintenanceParams": map[string]any{"maintenanceIdentifier": fmt.Sprint(sw.ID), "desiredSoftwareState": 5}}
			for k, v := range tc.body {
				body[k] = v
			}
			id := s.runSessions(body)[0]
			_, log := s.follow(id, nil)
			var got rebootEnd
			s.must(200, "GET", fmt.Sprintf("/api/v1/maintenance-sessions/%d", id), nil, &got)
			if got.State != tc.state || got.RebootAction != tc.action || got.RebootPending != tc.wantPend {
				t.Fatalf("session %+v, want state %q, rebootAction %q, rebootPending %v\n%s", got, tc.state, tc.action, tc.wantPend, log)
			}
			if r := tc.agent.rebooted(); (r != "") != tc.rebooted || (tc.rebooted && r != wantArgs) {
				t.Fatalf("reboot command got %q, want it run: %v\n%s", r, tc.rebooted, log)
			}
			if tc.logWant != "" && !strings.Contains(log, tc.logWant) {
				t.Fatalf("log lacks %q:\n%s", tc.logWant, log)
			}
			if tc.detect {
				if strings.Contains(log, "stage reboot") {
					t.Fatalf("a detection-only session ran the reboot stage:\n%s", log)
				}
				return
			}
			if tc.state == "failed" && !strings.Contains(got.Error, "FailSession") {
				t.Fatalf("error %q does not name FailSession", got.Error)
			}
			if tc.state == "completed with errors" && !strings.Contains(got.Error, "refused") {
				t.Fatalf("error %q does not say the agent refused", got.Error)
			}
			pref := map[string]string{"0": "Normal", "Normal": "Normal", "1": "Suppress", "Force": "Force", "Prompt": "Prompt", "2": "Prompt"}[fmt.Sprint(tc.body["rebootPreference"])]
			if pref == "" {
				pref = "Normal"
			}
			consent := tc.body["autoConsentToReboots"] == true
			if v := tc.agent.file(fmt.Sprintf("vars-%d.txt", i)); !strings.EqualFold(v, fmt.Sprintf("%s/%v", pref, consent)) {
				t.Fatalf("the install script saw $RebootPreference/$AutoConsentToReboots %q, want %s/%v", v, pref, consent)
			}
		})
	}

	// Refused requests name the reboot field.
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"unknown preference number", map[string]any{"rebootPreference": 3}, "rebootPreference"},
		{"unknown preference name", map[string]any{"rebootPreference": "Sometimes"}, "rebootPreference"},
		{"preference of the wrong type", map[string]any{"rebootPreference": true}, "rebootPreference"},
		{"unknown prompt timeout action", map[string]any{"promptTimeoutAction": "Ask"}, "promptTimeoutAction"},
		{"negative prompt timeout", map[string]any{"promptTimeoutMinutes": -1}, "promptTimeoutMinutes"},
	} {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			body := map[string]any{"inventoryOnly": true, "computers": computersBody(pc.id)}
			for k, v := range tc.body {
				body[k] = v
			}
			r := s.do("POST", "/api/v1/run-immy-service", body)
			if r.status != 422 || !strings.Contains(string(r.body), `"field":"`+tc.field+`"`) {
				t.Fatalf("status %d, body %s; want 422 naming %s", r.status, r.body, tc.field)
			}
		})
	}
}

// TestSessionRebootOldAgent connects an agent of protocol version 1 (before the reboot
// requests existed; it speaks the wire protocol from this test, answering every script with
// "1.0"): a Force session logs that the agent is too old for reboot handling, sends it no
// reboot request, and succeeds.
func TestSessionRebootOldAgent(t *testing.T) {
	s := newServerWith(t, lazyPool(t), Options{})
	var tenant, sw struct{ ID int64 }
	s.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "Contoso"}, &tenant)
	s.must(201, "POST", "/api/v1/software", fileSoftware("Tool X", "1.0", "x.txt"), &sw)
	old := enrollAgents(t, s, tenant.ID, 1, false)[0]
	st, err := agent.LoadState(old.cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	connected := s.eng.Hub().Connected(old.id)
	u := "ws" + strings.TrimPrefix(s.http.URL, "http") + wire.ConnectPath
	ws, _, err := websocket.DefaultDialer.Dial(u, http.Header{"Authorization": {"Bearer " + st.Credential}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	inv := wire.Inventory{ComputerName: "OLD-PC", DeviceID: "old-pc", AgentVersion: "0.0.9"}
	if err := ws.WriteJSON(wire.Message{Type: wire.TypeHello, Version: 1, Inventory: &inv}); err != nil {
		t.Fatal(err)
	}
	var welcome wire.Message
	if err := ws.ReadJSON(&welcome); err != nil || welcome.Type != wire.TypeWelcome {
		t.Fatalf("welcome: %v %+v", err, welcome)
	}
	var (
		mu   sync.Mutex
		seen []string
	)
	go func() { // a version 1 agent: runs scripts, ignores message types it does not know
		for {
			var m wire.Message
			if err := ws.ReadJSON(&m); err != nil {
				return
			}
			mu.Lock()
			seen = append(seen, m.Type)
			if m.Type == wire.TypeRun {
				_ = ws.WriteJSON(wire.Message{Type: wire.TypeResult, ID: m.ID, Result: &wire.Result{Output: []json.RawMessage{json.RawMessage(`"1.0"`)}}})
			}
			mu.Unlock()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	select {
	case <-connected:
	case <-ctx.Done():
		t.Fatal("the old agent did not connect")
	}
	// repair: the software is "installed", so the install runs again.
	id := s.runSessions(map[string]any{"skipBackgroundJob": true, "rebootPreference": "Force", "computers": computersBody(old.id),
		"maintenanceParams": map[string]any{"maintenanceIdentifier": fmt.Sprint(sw.ID), "desiredSoftwareState": 5, "repair": true}})[0]
	_, log := s.follow(id, nil)
	var got rebootEnd
	s.must(200, "GET", fmt.Sprintf("/api/v1/maintenance-sessions/%d", id), nil, &got)
	if got.State != "succeeded" || got.RebootAction != "none" || !strings.Contains(log, "agent too old for reboot handling") {
		t.Fatalf("session %+v\n%s", got, log)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, typ := range seen {
		if typ != wire.TypeRun {
			t.Fatalf("the version 1 agent was sent %q (all: %v)", typ, seen)
		}
	}
}
