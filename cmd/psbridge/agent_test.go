package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/psbridge/psbridge/internal/fakes1"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

// liveAgent is a `psbridge agent` child process.
type liveAgent struct {
	t      *testing.T
	cmd    *exec.Cmd
	dir    string
	stderr *syncBuffer
	exited chan struct{}
}

// startAgent runs the agent binary with state dir dir; extra holds enrollment, inventory and
// reboot flags.
func startAgent(t *testing.T, bin, dir string, extra ...string) *liveAgent {
	t.Helper()
	a := &liveAgent{t: t, dir: dir, stderr: &syncBuffer{}, exited: make(chan struct{})}
	// The agent never reboots the test machine unless a test says so in extra (a later flag wins).
	args := append([]string{"agent", "--state-dir", dir, "--min-backoff", "100ms", "--max-backoff", "500ms", "--log-level", "debug",
		"--reboot-command", "none", "--reboot-pending-file", filepath.Join(dir, "no-reboot-required")}, extra...)
	a.cmd = exec.Command(bin, args...)
	a.cmd.Env = append(os.Environ(), "PSBRIDGE_PWSH="+testpwsh.Pwsh(t), "PSBRIDGE_CACHE_DIR="+testpwsh.CacheDir())
	a.cmd.Stdout, a.cmd.Stderr = &syncBuffer{}, a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = a.cmd.Wait(); close(a.exited) }()
	t.Cleanup(a.stop)
	return a
}

func (a *liveAgent) stop() {
	select {
	case <-a.exited:
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(15 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.exited
	}
}

// computerView is GET /computers/{id}.
type computerView struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	TenantID  int64  `json:"tenantId"`
	DeviceID  string `json:"deviceId"`
	Online    bool   `json:"online"`
	Inventory struct {
		ComputerName string `json:"computerName"`
		Serial       string `json:"serialNumber"`
		Manufacturer string `json:"manufacturer"`
		PrimaryEmail string `json:"primaryUserEmail"`
		Platform     string `json:"platform"`
	} `json:"inventory"`
	Identification map[string]struct {
		OK      bool   `json:"ok"`
		AgentID string `json:"agentId"`
		Error   string `json:"error"`
	} `json:"identification"`
}

// waitFor polls the API until cond holds for a computer list of tenant (0: all).
func (s *liveServer) waitComputers(what string, tenant int64, cond func([]computerView) bool, agents ...*liveAgent) []computerView {
	s.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var page struct {
			Items []computerView `json:"items"`
		}
		path := "/api/v1/computers?limit=1000"
		if tenant != 0 {
			path += fmt.Sprintf("&tenantId=%d", tenant)
		}
		s.must(200, "GET", path, nil, &page)
		if cond(page.Items) {
			return page.Items
		}
		if time.Now().After(deadline) {
			var logs strings.Builder
			for _, a := range agents {
				logs.WriteString(a.stderr.String())
			}
			s.t.Fatalf("waiting for %s: computers %+v\nagents:\n%s\nserver:\n%s", what, page.Items, logs.String(), s.stderr)
		}
		select {
		case <-s.exited:
			s.t.Fatalf("serve exited: %v\n%s", s.waitErr, s.stderr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func onlineCount(cs []computerView) int {
	n := 0
	for _, c := range cs {
		if c.Online {
			n++
		}
	}
	return n
}

// scriptResult is the answer of /computers/{id}/scripts.
type scriptResult struct {
	Output  []json.RawMessage `json:"output"`
	Records []struct {
		Stream  string `json:"stream"`
		Message string `json:"message"`
		Line    int    `json:"line"`
	} `json:"records"`
	Detail string `json:"detail"`
}

func (s *liveServer) computerScript(id int64, body map[string]any) (int, scriptResult, time.Duration) {
	s.t.Helper()
	start := time.Now()
	code, b, _, err := s.api("POST", fmt.Sprintf("/api/v1/computers/%d/scripts", id), body)
	if err != nil {
		s.t.Fatal(err)
	}
	var r scriptResult
	if err := json.Unmarshal(b, &r); err != nil {
		s.t.Fatalf("%d %s", code, b)
	}
	return code, r, time.Since(start)
}

// TestAgentsEndToEnd runs a real server and three real agents (each its own state dir and fake
// inventory) in two tenants: enrollment, presence, metascripts with $using: and typed output,
// errors at the block's line, timeouts, an offline computer, a reconnect, re-enrollment, and
// inventory identification of the SentinelOne example against the fake SentinelOne API.
func TestAgentsEndToEnd(t *testing.T) {
	bin := buildBinary(t)
	srv := startServer(t, bin, "--agents.heartbeat", "1s", "--agents.connect-wait", "2s", "--workers.max", "4")

	// The SentinelOne example, its module and the fake vendor API.
	fake := fakes1.New(fakes1.Config{Sites: 2, AgentsPerSite: 3})
	vendor := httptest.NewServer(fake)
	defer vendor.Close()
	mod, _ := os.ReadFile(repoPath("testdata", "modules", "SentinelOne.psm1"))
	script, _ := os.ReadFile(repoPath("testdata", "examples", "07-sentinelone.ps1"))
	srv.must(201, "POST", "/api/v1/modules", map[string]any{"name": "SentinelOne", "script": string(mod)}, nil)
	var typ struct {
		ID string `json:"id"`
	}
	srv.must(201, "POST", "/api/v1/integration-types", map[string]any{"name": "SentinelOne", "script": string(script)}, &typ)
	var inst struct {
		ID int64 `json:"id"`
	}
	srv.must(201, "POST", "/api/v1/integrations", map[string]any{"name": "S1", "typeId": typ.ID,
		"formData": map[string]any{"S1Uri": vendor.URL + "/", "S1ApiKey": fakes1.DefaultAPIToken}}, &inst)

	var tenantA, tenantB struct {
		ID int64 `json:"id"`
	}
	srv.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "Contoso"}, &tenantA)
	srv.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "Fabrikam"}, &tenantB)
	site := fake.Sites()[0]
	srv.must(200, "POST", fmt.Sprintf("/api/v1/integrations/%d/clients/refresh", inst.ID), nil, nil)
	srv.must(200, "PUT", fmt.Sprintf("/api/v1/integrations/%d/mappings/%s", inst.ID, site.ID), map[string]any{"tenantId": tenantA.ID}, nil)
	srv.must(200, "POST", fmt.Sprintf("/api/v1/integrations/%d/agents/sync", inst.ID), nil, nil)
	s1agent := fake.AgentsForSite(site.ID)[1]

	// The first computer has SentinelOne "installed": its C: drive holds a SentinelCtl.exe
	// that prints the agent's uuid, so the example's GetInventoryScript runs unchanged.
	fakeC := t.TempDir()
	ctl := filepath.Join(fakeC, "Program Files", "SentinelOne", "Sentinel Agent 23.4.1")
	if err := os.MkdirAll(ctl, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctl, "SentinelCtl.exe"), []byte("#!/bin/sh\necho "+s1agent.UUID+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	// Enrollment keys: one per tenant, the second with an expiry.
	var keyA, keyB struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	srv.must(201, "POST", fmt.Sprintf("/api/v1/tenants/%d/enrollment-keys", tenantA.ID), map[string]any{}, &keyA)
	srv.must(201, "POST", fmt.Sprintf("/api/v1/tenants/%d/enrollment-keys", tenantB.ID), map[string]any{"expiresInSeconds": 3600}, &keyB)
	if keyA.ID == "" || !strings.HasPrefix(keyA.Key, "psbe_") {
		t.Fatalf("enrollment key = %+v", keyA)
	}

	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	inv := func(n int, email string) []string {
		return []string{"--inventory", fmt.Sprintf("computerName=PC-%d", n), "--inventory", fmt.Sprintf("deviceId=device-%d", n),
			"--inventory", fmt.Sprintf("serialNumber=SER-%d", n), "--inventory", "manufacturer=Contoso Hardware",
			"--inventory", "primaryUserEmail=" + email}
	}
	a1 := startAgent(t, bin, dirs[0], append([]string{"--server", srv.base, "--enroll-key", keyA.Key, "--drive", "C=" + fakeC}, inv(1, "ann@contoso.example")...)...)
	a2 := startAgent(t, bin, dirs[1], append([]string{"--server", srv.base, "--enroll-key", keyA.Key}, inv(2, "bob@contoso.example")...)...)
	a3 := startAgent(t, bin, dirs[2], append([]string{"--server", srv.base, "--enroll-key", keyB.Key}, inv(3, "cy@fabrikam.example")...)...)
	agents := []*liveAgent{a1, a2, a3}
	all := srv.waitComputers("three agents online", 0, func(cs []computerView) bool { return onlineCount(cs) == 3 }, agents...)
	byName := map[string]computerView{}
	for _, c := range all {
		byName[c.Name] = c
	}
	pc1, pc2, pc3 := byName["PC-1"], byName["PC-2"], byName["PC-3"]
	if pc1.TenantID != tenantA.ID || pc2.TenantID != tenantA.ID || pc3.TenantID != tenantB.ID {
		t.Fatalf("tenants: %+v", all)
	}
	if pc1.Inventory.Serial != "SER-1" || pc1.Inventory.PrimaryEmail != "ann@contoso.example" || pc1.DeviceID != "device-1" || pc1.Inventory.Platform == "" {
		t.Errorf("inventory of PC-1 = %+v", pc1)
	}
	if got := srv.waitComputers("tenant B", tenantB.ID, func([]computerView) bool { return true }); len(got) != 1 || got[0].Name != "PC-3" {
		t.Errorf("computers of tenant B = %+v", got)
	}
	for _, d := range dirs {
		fi, err := os.Stat(filepath.Join(d, "agent.json"))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("state file %s: %v %v, want mode 0600", d, fi.Mode(), err)
		}
	}

	t.Run("identification on first connect links the SentinelOne agent", func(t *testing.T) {
		key := fmt.Sprint(inst.ID)
		cs := srv.waitComputers("identification of PC-1", tenantA.ID, func(cs []computerView) bool {
			for _, c := range cs {
				if c.ID == pc1.ID {
					_, ok := c.Identification[key]
					return ok
				}
			}
			return false
		}, a1)
		for _, c := range cs {
			switch c.ID {
			case pc1.ID:
				r := c.Identification[key]
				if !r.OK || r.AgentID != s1agent.UUID {
					t.Fatalf("identification of PC-1 = %+v, want agent %s", r, s1agent.UUID)
				}
			}
		}
		var agentsPage struct {
			Items []struct {
				ExternalAgentID string `json:"externalAgentId"`
				ComputerID      int64  `json:"computerId"`
			} `json:"items"`
		}
		srv.must(200, "GET", fmt.Sprintf("/api/v1/integrations/%d/agents?limit=1000", inst.ID), nil, &agentsPage)
		linked := 0
		for _, a := range agentsPage.Items {
			if a.ComputerID != 0 {
				linked++
				if a.ExternalAgentID != s1agent.UUID || a.ComputerID != pc1.ID {
					t.Errorf("linked agent %+v", a)
				}
			}
		}
		if linked != 1 {
			t.Errorf("%d agents linked, want 1", linked)
		}
		// PC-2 has no SentinelOne: its identification fails visibly.
		var res struct {
			Results []struct {
				OK    bool   `json:"ok"`
				Error string `json:"error"`
			} `json:"results"`
		}
		srv.must(200, "POST", fmt.Sprintf("/api/v1/computers/%d/identify", pc2.ID), nil, &res)
		if len(res.Results) != 1 || res.Results[0].OK || res.Results[0].Error == "" {
			t.Errorf("identification of PC-2 = %+v", res)
		}
	})

	t.Run("metascript with $using: and typed output", func(t *testing.T) {
		code, r, _ := srv.computerScript(pc2.ID, map[string]any{"context": "metascript", "script": `$name = 'world'
$when = [datetime]::new(2024, 5, 6, 7, 8, 9, [DateTimeKind]::Utc)
$r = Invoke-ImmyCommand -ArgumentList 5, 'x' {
    param([int]$n, $s)
    Write-Warning "warning from the block $s"; Write-Error 'soft error in the block'
    [pscustomobject]@{ Greeting = "hello $using:name"; N = $n; Long = [long]7; Dec = [decimal]1.25; When = $using:when
        Table = @{ a = 1; b = @(1, 2, 3) }; Nested = [pscustomobject]@{ x = 1.5 }; Pid = $PID }
}
$many = @(Invoke-ImmyCommand { 1; 'two'; $null })
[ordered]@{
    greeting = $r.Greeting; n = $r.N.GetType().Name; long = $r.Long.GetType().Name; dec = $r.Dec.GetType().Name
    when = $r.When.ToUniversalTime().ToString('o'); whenType = $r.When.GetType().Name
    table = $r.Table.GetType().Name; b = $r.Table.b.Count; nested = $r.Nested.x.GetType().Name
    custom = $r -is [System.Management.Automation.PSCustomObject]
    parent = (Get-Process -Id $r.Pid).Parent.Parent.Id
    many = $many.Count; computer = (Get-ImmyComputer).Name; tenant = $TenantName
}`})
		if code != 200 {
			t.Fatalf("%d %+v", code, r)
		}
		var got map[string]any
		_ = json.Unmarshal(r.Output[0], &got)
		want := map[string]any{"greeting": "hello world", "n": "Int32", "long": "Int64", "dec": "Decimal",
			"when": "2024-05-06T07:08:09.0000000Z", "whenType": "DateTime", "table": "Hashtable", "b": float64(3),
			"nested": "Double", "custom": true, "many": float64(3), "computer": "PC-2", "tenant": "Contoso"}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
			}
		}
		// The block ran in a pwsh of the computer's own agent process.
		if p, _ := got["parent"].(float64); int(p) != a2.cmd.Process.Pid {
			t.Logf("block's pwsh grandparent %v, agent 2 pid %d (sandbox wrappers may differ)", got["parent"], a2.cmd.Process.Pid)
		}
		found := 0
		for _, rec := range r.Records {
			if rec.Stream == "warning" && rec.Message == "warning from the block x" {
				found++
			}
			if rec.Stream == "error" && strings.Contains(rec.Message, "soft error in the block") {
				found++
				if rec.Line != 5 {
					t.Errorf("error record at line %d, want 5 (the metascript's line)", rec.Line)
				}
			}
		}
		if found != 2 {
			t.Errorf("the block's warning did not reach the caller: %+v", r.Records)
		}
	})

	t.Run("an error in the block names the block's line", func(t *testing.T) {
		code, r, _ := srv.computerScript(pc1.ID, map[string]any{"script": "$x = 1\nInvoke-ImmyCommand {\n    $a = 1\n    throw 'boom on the computer'\n}\n'not reached'"})
		if code != 422 || !strings.Contains(r.Detail, "boom on the computer") || !strings.Contains(r.Detail, ":4") {
			t.Fatalf("%d %q, want 422 naming line 4", code, r.Detail)
		}
	})

	t.Run("computer context runs the text on the agent", func(t *testing.T) {
		code, r, _ := srv.computerScript(pc3.ID, map[string]any{"context": "computer", "script": "Write-Warning 'on the computer'\n$PSVersionTable.PSVersion.Major"})
		if code != 200 || len(r.Output) != 1 || len(r.Records) != 1 {
			t.Fatalf("%d %+v", code, r)
		}
		code, r, _ = srv.computerScript(pc3.ID, map[string]any{"context": "computer", "script": "1\nthrow 'failed here'"})
		if code != 422 || !strings.Contains(r.Detail, "failed here") {
			t.Fatalf("%d %+v", code, r)
		}
	})

	t.Run("timeout reaches the agent", func(t *testing.T) {
		code, r, took := srv.computerScript(pc3.ID, map[string]any{"script": "Invoke-ImmyCommand -Timeout 2 { Start-Sleep 3600 }"})
		// The block sleeps an hour: an answer within ten minutes means the timeout reached it
		// (a bound this loose holds on any machine; it is not a speed check).
		if code != 422 || !strings.Contains(r.Detail, "timed out") || took > 10*time.Minute {
			t.Fatalf("%d %q after %s", code, r.Detail, took)
		}
		code, r, _ = srv.computerScript(pc3.ID, map[string]any{"script": "Invoke-ImmyCommand { 'alive' }"})
		if code != 200 || string(r.Output[0]) != `"alive"` {
			t.Fatalf("after the timeout: %d %+v", code, r)
		}
	})

	t.Run("offline computer, reconnect, re-enrollment", func(t *testing.T) {
		a3.stop()
		srv.waitComputers("PC-3 offline", tenantB.ID, func(cs []computerView) bool { return len(cs) == 1 && !cs[0].Online })
		code, r, took := srv.computerScript(pc3.ID, map[string]any{"script": "Invoke-ImmyCommand { 1 }"})
		if code != 422 || !strings.Contains(r.Detail, "offline") || took < 2*time.Second {
			t.Fatalf("%d %q after %s, want an offline error after the 2s wait", code, r.Detail, took)
		}
		// Restart from the state dir alone: the same computer comes back.
		a3b := startAgent(t, bin, dirs[2], inv(3, "cy@fabrikam.example")...)
		srv.waitComputers("PC-3 back online", tenantB.ID, func(cs []computerView) bool { return len(cs) == 1 && cs[0].Online && cs[0].ID == pc3.ID }, a3b)
		code, r, _ = srv.computerScript(pc3.ID, map[string]any{"script": "Invoke-ImmyCommand { $using:TenantName }"})
		if code != 200 || string(r.Output[0]) != `"Fabrikam"` {
			t.Fatalf("after reconnect: %d %+v", code, r)
		}
		// A reinstalled agent (new state, new key, same device) is the same computer.
		out, errOut, ec := cliWithEnv(t, bin, "enrollment-key", "create", "--tenant", fmt.Sprint(tenantB.ID), "--expires", "1h", "--data-dir", srv.dataDir)
		if ec != 0 || !strings.HasPrefix(strings.TrimSpace(out), "psbe_") {
			t.Fatalf("enrollment-key create: %d %s %s", ec, out, errOut)
		}
		var enrolled struct {
			ComputerID int64 `json:"computerId"`
		}
		body := fmt.Sprintf(`{"key":%q,"inventory":{"computerName":"PC-3","deviceId":"device-3"}}`, strings.TrimSpace(out))
		resp, err := http.Post(srv.base+"/api/v1/agent/enroll", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewDecoder(resp.Body).Decode(&enrolled)
		resp.Body.Close()
		if resp.StatusCode != 201 || enrolled.ComputerID != pc3.ID {
			t.Fatalf("re-enrollment: %d computer %d, want 201 and computer %d", resp.StatusCode, enrolled.ComputerID, pc3.ID)
		}
		// The revoked key enrolls nothing.
		srv.must(204, "DELETE", fmt.Sprintf("/api/v1/tenants/%d/enrollment-keys/%s", tenantA.ID, keyA.ID), nil, nil)
		resp, err = http.Post(srv.base+"/api/v1/agent/enroll", "application/json", strings.NewReader(fmt.Sprintf(`{"key":%q,"inventory":{"deviceId":"device-9"}}`, keyA.Key)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("revoked key: %d, want 401", resp.StatusCode)
		}
	})
}

// cliWithEnv runs the built binary (not in-process: the server holds the database, so the
// command must go through the admin socket like a user's would).
func cliWithEnv(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errOut syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}
