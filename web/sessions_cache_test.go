package web

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// detectedEntry is one entry of GET /computers/{id}/software.
type detectedEntry struct {
	ComputerID    int64  `json:"computerId"`
	SoftwareID    int64  `json:"softwareId"`
	SoftwareScope string `json:"softwareScope"`
	Installed     bool   `json:"installed"`
	Version       string `json:"version"`
	DetectedAt    string `json:"detectedAt"`
	SessionID     int64  `json:"sessionId"`
}

// logTime is a cached entry's detection time as session logs show it.
func (d detectedEntry) logTime(t testing.TB) string {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, d.DetectedAt)
	if err != nil {
		t.Fatalf("detectedAt %q: %v", d.DetectedAt, err)
	}
	return at.Format(time.RFC3339)
}

// inventoryOf returns the cached software inventory of computer id by software id.
func (s *server) inventoryOf(id int64) map[int64]detectedEntry {
	s.t.Helper()
	var list []detectedEntry
	s.must(200, "GET", fmt.Sprintf("/api/v1/computers/%d/software", id), nil, &list)
	out := map[int64]detectedEntry{}
	for _, d := range list {
		if d.ComputerID != id {
			s.t.Fatalf("computer %d's inventory lists an entry of computer %d", id, d.ComputerID)
		}
		out[d.SoftwareID] = d
	}
	return out
}

// TestSessionCacheOnly runs real detection on an agent (which caches what it found), then
// cacheOnly sessions: an online one that upgrades from the cached version (verification runs
// the real detection and refreshes the cache), and, after a restart leaves the computer
// offline, detection-only ones that read the cache without the computer, and one for software
// never detected there, which ends "completed with errors" naming it.
func TestSessionCacheOnly(t *testing.T) {
	s := newServerWith(t, lazyPool(t), Options{})
	var tenant, x, y, z struct{ ID int64 }
	s.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "Contoso"}, &tenant)
	s.must(201, "POST", "/api/v1/software", fileSoftware("Tool X", "2.0", "x.txt"), &x)
	s.must(201, "POST", "/api/v1/software", fileSoftware("Tool Y", "1.0", "y.txt"), &y)
	s.must(201, "POST", "/api/v1/software", fileSoftware("Tool Z", "1.0", "z.txt"), &z)
	a := enrollAgents(t, s, tenant.ID, 1, true)[0]
	if err := os.WriteFile(filepath.Join(a.drive, "x.txt"), []byte("1.5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	one := func(sw int64, extra map[string]any) map[string]any {
		body := map[string]any{"skipBackgroundJob": true, "computers": computersBody(a.id),
			"maintenanceParams": map[string]any{"maintenanceIdentifier": fmt.Sprint(sw), "desiredSoftwareState": 5}}
		for k, v := range extra {
			body[k] = v
		}
		return body
	}

	if n := len(s.inventoryOf(a.id)); n != 0 {
		t.Fatalf("a computer never detected has %d cached entries", n)
	}
	// Real detection caches what it finds: X 1.5, Z not installed.
	detected := map[int64]int64{} // software id -> session id that detected it
	for _, sw := range []int64{x.ID, z.ID} {
		id := s.runSessions(one(sw, map[string]any{"detectionOnly": true}))[0]
		if end, log := s.follow(id, nil); end.State != "succeeded" {
			t.Fatalf("detection of software %d: %+v\n%s", sw, end, log)
		}
		detected[sw] = id
	}
	inv := s.inventoryOf(a.id)
	if d := inv[x.ID]; len(inv) != 2 || !d.Installed || d.Version != "1.5" || d.SessionID != detected[x.ID] || d.SoftwareScope != "local" || d.DetectedAt == "" {
		t.Fatalf("cached inventory after detection: %+v", inv)
	}
	if d := inv[z.ID]; d.Installed || d.Version != "" || d.SessionID != detected[z.ID] {
		t.Fatalf("cached Z: %+v", d)
	}

	// cacheOnly with an action: detection reads the cache (1.5, while the computer now has
	// 1.0), the upgrade runs, and verification detects for real and refreshes the cache.
	if err := os.WriteFile(filepath.Join(a.drive, "x.txt"), []byte("1.0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	upgraded := s.runSessions(one(x.ID, map[string]any{"cacheOnly": true}))[0]
	end, log := s.follow(upgraded, nil)
	wantLine := fmt.Sprintf("detected 1.5 from cached inventory of %s (session %d)", inv[x.ID].logTime(t), detected[x.ID])
	if end.State != "succeeded" || end.Action != "upgrade" || end.DetectedVersion != "2.0" || !strings.Contains(log, wantLine) || a.file("x.txt") != "2.0" {
		t.Fatalf("cacheOnly upgrade: %+v, file %q; want the log to say %q\n%s", end, a.file("x.txt"), wantLine, log)
	}
	refreshed := s.inventoryOf(a.id)[x.ID]
	if refreshed.Version != "2.0" || refreshed.SessionID != upgraded {
		t.Fatalf("verification did not refresh the cache: %+v", refreshed)
	}

	// A new server (the agent still knows the old one's address): the computer is offline.
	s.restart()
	s.must(201, "POST", "/api/v1/deployments", map[string]any{"softwareId": x.ID, "tenantId": tenant.ID, "desiredSoftwareState": 5}, nil)
	s.must(201, "POST", "/api/v1/deployments", map[string]any{"softwareId": y.ID, "tenantId": tenant.ID, "desiredSoftwareState": 5}, nil)
	for _, tc := range []struct {
		name    string
		body    map[string]any
		state   string
		action  string
		version string
		logWant string
		results []string // of each maintenance action
	}{
		{"not cacheOnly: skipped, the computer is offline", one(x.ID, map[string]any{"detectionOnly": true, "offlineBehavior": 1}),
			"skipped", "", "", "offline", nil},
		{"cached version, offlineBehavior Skip", one(x.ID, map[string]any{"detectionOnly": true, "cacheOnly": true, "offlineBehavior": 1}),
			"succeeded", "", "2.0", fmt.Sprintf("detected 2.0 from cached inventory of %s (session %d)", refreshed.logTime(t), upgraded), []string{"succeeded"}},
		{"cached not installed, offlineBehavior ApplyOnConnect", one(z.ID, map[string]any{"detectionOnly": true, "cacheOnly": true, "offlineBehavior": 2}),
			"succeeded", "", "", fmt.Sprintf("detected not installed from cached inventory of %s (session %d)", inv[z.ID].logTime(t), detected[z.ID]), []string{"succeeded"}},
		{"nothing cached", one(y.ID, map[string]any{"detectionOnly": true, "cacheOnly": true, "offlineBehavior": 2}),
			"completed with errors", "undetermined", "", fmt.Sprintf("no cached inventory for software %d \"Tool Y\" on computer %d", y.ID, a.id), []string{"undetermined"}},
		{"full maintenance, one item cached", map[string]any{"fullMaintenance": true, "detectionOnly": true, "cacheOnly": true, "offlineBehavior": 1, "skipBackgroundJob": true, "computers": computersBody(a.id)},
			"completed with errors", "", "", "1 of 2 actions undetermined; first: no cached inventory for software", []string{"succeeded", "undetermined"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			end, log := s.follow(s.runSessions(tc.body)[0], nil)
			if end.State != tc.state || end.Action != tc.action || end.DetectedVersion != tc.version {
				t.Fatalf("session %+v, want state %q, action %q, version %q\n%s", end, tc.state, tc.action, tc.version, log)
			}
			if !strings.Contains(log, tc.logWant) {
				t.Fatalf("log lacks %q:\n%s", tc.logWant, log)
			}
			if tc.results != nil {
				got := []string{}
				for _, ac := range end.Actions {
					got = append(got, ac.Result)
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.results) {
					t.Fatalf("action results %v, want %v\n%s", got, tc.results, log)
				}
			}
		})
	}
	if r := s.do("GET", "/api/v1/computers/999/software", nil); r.status != 404 {
		t.Fatalf("inventory of an unknown computer: %d %s", r.status, r.body)
	}
}

// sessionRef is an item of run-immy-service's sessionsStarted and sessionsAlreadyInProgress.
type sessionRef struct {
	ComputerID int64 `json:"computerId"`
	SessionID  int64 `json:"sessionId"`
	TenantID   int64 `json:"tenantId"`
}

// immyReply is the whole run-immy-service reply.
type immyReply struct {
	SessionIDs                []int64      `json:"sessionIds"`
	Sessions                  []sessionEnd `json:"sessions"`
	SessionsStarted           []sessionRef `json:"sessionsStarted"`
	SessionsAlreadyInProgress []sessionRef `json:"sessionsAlreadyInProgress"`
}

// TestRunImmyServiceReply checks the reply's lists: a computer whose session of the same item
// (software, full maintenance, inventory) is still queued or waiting gets no second one and
// is listed under sessionsAlreadyInProgress; another item, another computer, or the same
// item after the first session ended starts one. tenants[] is refused, saying why.
func TestRunImmyServiceReply(t *testing.T) {
	s := newServerWith(t, lazyPool(t), Options{})
	var tenant, x, y struct{ ID int64 }
	s.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "Contoso"}, &tenant)
	s.must(201, "POST", "/api/v1/software", fileSoftware("Tool X", "2.0", "x.txt"), &x)
	s.must(201, "POST", "/api/v1/software", fileSoftware("Tool Y", "1.0", "y.txt"), &y)
	pcs := enrollAgents(t, s, tenant.ID, 2, false) // offline: ApplyOnConnect sessions wait for them
	a, b := pcs[0], pcs[1]
	run := func(body map[string]any) immyReply {
		t.Helper()
		body["offlineBehavior"] = 2
		var out immyReply
		s.must(202, "POST", "/api/v1/run-immy-service", body, &out)
		return out
	}
	software := func(sw int64) map[string]any {
		return map[string]any{"maintenanceIdentifier": fmt.Sprint(sw), "desiredSoftwareState": 5}
	}
	first := run(map[string]any{"maintenanceParams": software(x.ID), "computers": computersBody(a.id)})
	if len(first.SessionsStarted) != 1 || len(first.SessionsAlreadyInProgress) != 0 || len(first.SessionIDs) != 1 ||
		first.SessionsStarted[0] != (sessionRef{a.id, first.SessionIDs[0], tenant.ID}) || first.Sessions[0].ID != first.SessionIDs[0] {
		t.Fatalf("first reply: %+v", first)
	}
	xOnA := first.SessionIDs[0]
	full := run(map[string]any{"fullMaintenance": true, "computers": computersBody(a.id)}).SessionIDs
	if len(full) != 1 {
		t.Fatalf("full maintenance of a did not start: %v", full)
	}
	for _, tc := range []struct {
		name       string
		body       map[string]any
		started    []int64 // computers
		inProgress []sessionRef
	}{
		{"same software, same computer, and another computer", map[string]any{"maintenanceParams": software(x.ID), "computers": computersBody(a.id, b.id)},
			[]int64{b.id}, []sessionRef{{a.id, xOnA, tenant.ID}}},
		{"same software with useWinningDeployment", map[string]any{"useWinningDeployment": true, "maintenanceParams": software(x.ID), "computers": computersBody(a.id)},
			nil, []sessionRef{{a.id, xOnA, tenant.ID}}},
		{"full maintenance again", map[string]any{"fullMaintenance": true, "computers": computersBody(a.id)},
			nil, []sessionRef{{a.id, full[0], tenant.ID}}},
		{"other software", map[string]any{"maintenanceParams": software(y.ID), "computers": computersBody(a.id)},
			[]int64{a.id}, nil},
		{"a computer listed twice", map[string]any{"inventoryOnly": true, "computers": computersBody(a.id, a.id)},
			[]int64{a.id}, []sessionRef{{a.id, 0, tenant.ID}}}, // 0: the session the same request started
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := run(tc.body)
			if len(got.SessionsStarted) != len(tc.started) || len(got.SessionIDs) != len(tc.started) || len(got.Sessions) != len(tc.started) {
				t.Fatalf("started %+v, want computers %v", got, tc.started)
			}
			for i, c := range tc.started {
				if r := got.SessionsStarted[i]; r.ComputerID != c || r.TenantID != tenant.ID || r.SessionID != got.SessionIDs[i] || r.SessionID == 0 {
					t.Fatalf("started %+v, want computers %v", got.SessionsStarted, tc.started)
				}
			}
			if len(got.SessionsAlreadyInProgress) != len(tc.inProgress) {
				t.Fatalf("in progress %+v, want %+v", got.SessionsAlreadyInProgress, tc.inProgress)
			}
			for i, want := range tc.inProgress {
				if want.SessionID == 0 {
					want.SessionID = got.SessionIDs[0]
				}
				if got.SessionsAlreadyInProgress[i] != want {
					t.Fatalf("in progress %+v, want %+v", got.SessionsAlreadyInProgress, tc.inProgress)
				}
			}
		})
	}

	// Once a's sessions have run, the same request starts a new one.
	a.start()
	if end, log := s.follow(xOnA, nil); end.State != "succeeded" {
		t.Fatalf("X on a: %+v\n%s", end, log)
	}
	again := run(map[string]any{"maintenanceParams": software(x.ID), "computers": computersBody(a.id)})
	if len(again.SessionsStarted) != 1 || len(again.SessionsAlreadyInProgress) != 0 || again.SessionIDs[0] == xOnA {
		t.Fatalf("after the session ended: %+v", again)
	}
	if end, log := s.follow(again.SessionIDs[0], nil); end.State != "succeeded" || end.Action != "none" {
		t.Fatalf("X on a again: %+v\n%s", end, log)
	}

	// Cloud tasks.
	r := s.do("POST", "/api/v1/run-immy-service", map[string]any{"maintenanceParams": software(x.ID), "tenants": []map[string]any{{"tenantId": tenant.ID}}})
	if r.status != 422 || !strings.Contains(string(r.body), `"field":"tenants"`) ||
		!strings.Contains(string(r.body), "cloud tasks need maintenance tasks, which psbridge does not have; target computers instead") ||
		strings.Contains(string(r.body), `"field":"computers"`) {
		t.Fatalf("tenants: %d %s", r.status, r.body)
	}
}
