package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/psbridge/psbridge/internal/fakes1"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

// outGridViewShim stands in for Out-GridView (it needs a desktop): it passes its input
// through, the first item for -OutputMode Single.
const outGridViewShim = `$ErrorActionPreference = 'Stop'
function Out-GridView {
    param([Parameter(ValueFromPipeline)]$InputObject, [string]$OutputMode, [string]$Title)
    begin { $all = [System.Collections.Generic.List[object]]::new() }
    process { $all.Add($InputObject) }
    end { if ($OutputMode -eq 'Single') { $all | Select-Object -First 1 } else { $all } }
}
`

// TestInboundExample runs ImmyBot's documented inbound example (testdata/inbound, only its
// blanks filled and its host names pointed at psbridge) with pwsh against 'psbridge serve' and
// a real 'psbridge agent': it discovers the token endpoint, gets a token for an application made
// with 'psbridge app create', lists global software, finds the computer by its user's e-mail
// through computers/dx, and its run-immy-service call installs the software: the install
// metascript gets the SentinelOne install token through the tenant mapping from the fake
// vendor API and leaves it on the agent's C: drive; the session's log streams over SSE.
func TestInboundExample(t *testing.T) {
	bin := buildBinary(t)
	srv := startServer(t, bin, "--agents.heartbeat", "1s", "--agents.connect-wait", "5s", "--workers.max", "3")

	fake := fakes1.New(fakes1.Config{Sites: 2, AgentsPerSite: 1})
	vendor := httptest.NewServer(fake)
	defer vendor.Close()
	mod, _ := os.ReadFile(repoPath("testdata", "modules", "SentinelOne.psm1"))
	script, _ := os.ReadFile(repoPath("testdata", "examples", "07-sentinelone.ps1"))
	srv.must(201, "POST", "/api/v1/modules", map[string]any{"name": "SentinelOne", "script": string(mod)}, nil)
	var typ struct{ ID string }
	srv.must(201, "POST", "/api/v1/integration-types", map[string]any{"name": "SentinelOne", "script": string(script)}, &typ)
	var inst, tenant struct{ ID int64 }
	srv.must(201, "POST", "/api/v1/integrations", map[string]any{"name": "S1", "typeId": typ.ID,
		"formData": map[string]any{"S1Uri": vendor.URL + "/", "S1ApiKey": fakes1.DefaultAPIToken}}, &inst)
	srv.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "Contoso"}, &tenant)
	site := fake.Sites()[1]
	srv.must(200, "POST", fmt.Sprintf("/api/v1/integrations/%d/clients/refresh", inst.ID), nil, nil)
	srv.must(200, "PUT", fmt.Sprintf("/api/v1/integrations/%d/mappings/%s", inst.ID, site.ID), map[string]any{"tenantId": tenant.ID}, nil)

	// The software: SentinelOne's agent, linked to the integration type.
	const marker = `C:\S1Install.txt`
	var sw struct{ ID int64 }
	srv.must(201, "POST", "/api/v1/software", map[string]any{
		"name": "SentinelOne Agent", "scope": "global", "version": "23.4.1", "integrationTypeId": typ.ID,
		"detectionScript": `Invoke-ImmyCommand { if (Test-Path '` + marker + `') { Get-Content '` + marker + `' -TotalCount 1 } }`,
		"installScript": `$token = Get-IntegrationAgentInstallToken
Write-Host "installing with a site token"
Invoke-ImmyCommand -ArgumentList $token { param($t) Set-Content -Path '` + marker + `' -Value "23.4.1", $t }`,
		"uninstallScript": `Invoke-ImmyCommand { Remove-Item '` + marker + `' }`,
	}, &sw)
	srv.must(201, "POST", "/api/v1/software", map[string]any{"name": "Local Tool", "scope": "local", "detectionScript": "'1.0'"}, nil)

	// Two computers of the tenant; the example picks Ann's by e-mail.
	var key struct{ Key string }
	srv.must(201, "POST", fmt.Sprintf("/api/v1/tenants/%d/enrollment-keys", tenant.ID), map[string]any{}, &key)
	fakeC, otherC := t.TempDir(), t.TempDir()
	inv := func(n int, email string) []string {
		return []string{"--inventory", fmt.Sprintf("computerName=PC-%d", n), "--inventory", fmt.Sprintf("deviceId=inbound-%d", n),
			"--inventory", "primaryUserEmail=" + email}
	}
	a1 := startAgent(t, bin, t.TempDir(), append([]string{"--server", srv.base, "--enroll-key", key.Key, "--drive", "C=" + fakeC}, inv(1, "ann@contoso.example")...)...)
	a2 := startAgent(t, bin, t.TempDir(), append([]string{"--server", srv.base, "--enroll-key", key.Key, "--drive", "C=" + otherC}, inv(2, "bob@contoso.example")...)...)
	srv.waitComputers("two agents online", 0, func(cs []computerView) bool { return onlineCount(cs) == 2 }, a1, a2)

	// The application, made with the CLI through the running server's admin socket.
	out, err := exec.Command(bin, "app", "create", "--name", "inbound example", "--admin", "--data-dir", srv.dataDir).Output()
	if err != nil {
		t.Fatalf("app create: %v", err)
	}
	var app struct{ ClientID, ClientSecret, TenantID string }
	if err := json.Unmarshal(out, &app); err != nil || app.ClientSecret == "" || app.TenantID == "" {
		t.Fatalf("app create printed %s (%v)", out, err)
	}

	// The example, blanks filled, hosts pointed at psbridge.
	ex, err := os.ReadFile(repoPath("testdata", "inbound", "install-software.ps1"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(ex)
	for _, r := range [][2]string{
		{"$AzureDomain = ''", "$AzureDomain = 'contoso.example'"},
		{"$ClientID = ''", "$ClientID = '" + app.ClientID + "'"},
		{"$Secret = ''", "$Secret = '" + app.ClientSecret + "'"},
		{"$InstanceSubdomain = ''", "$InstanceSubdomain = 'psbridge'"},
		{"$email = ''", "$email = 'ann@contoso.example'"},
		{"https://login.windows.net", srv.base},
		{"https://login.microsoftonline.com", srv.base},
		{`"https://$($InstanceSubdomain).immy.bot"`, `"` + srv.base + `"`},
	} {
		if !strings.Contains(text, r[0]) {
			t.Fatalf("the example has no %q", r[0])
		}
		text = strings.Replace(text, r[0], r[1], 1)
	}
	path := filepath.Join(t.TempDir(), "inbound.ps1")
	if err := os.WriteFile(path, []byte(outGridViewShim+text), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testpwsh.Pwsh(t), "-NoProfile", "-NonInteractive", "-File", path)
	cmd.Env = append(os.Environ(), "PSBRIDGE_CACHE_DIR="+testpwsh.CacheDir())
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the example failed: %v\n%s", err, b)
	}

	// One session, for Ann's computer; follow its log to the end.
	var sessions struct {
		Items []struct {
			ID         int64 `json:"id"`
			ComputerID int64 `json:"computerId"`
			SoftwareID int64 `json:"softwareId"`
		} `json:"items"`
	}
	srv.must(200, "GET", "/api/v1/maintenance-sessions", nil, &sessions)
	if len(sessions.Items) != 1 || sessions.Items[0].SoftwareID != sw.ID {
		t.Fatalf("sessions: %+v", sessions)
	}
	sid := sessions.Items[0].ID
	var c struct {
		ComputerName     string `json:"computerName"`
		PrimaryUserEmail string `json:"primaryUserEmail"`
		IsOnline         bool   `json:"isOnline"`
	}
	srv.must(200, "GET", fmt.Sprintf("/api/v1/computers/%d", sessions.Items[0].ComputerID), nil, &c)
	if c.ComputerName != "PC-1" || c.PrimaryUserEmail != "ann@contoso.example" || !c.IsOnline {
		t.Fatalf("session computer: %+v", c)
	}
	var end struct {
		State, Action, DetectedVersion, Error string
	}
	logText := followSessionLog(ctx, t, srv.base, srv.token, sid, &end)
	if end.State != "succeeded" || end.Action != "install" || end.DetectedVersion != "23.4.1" {
		t.Fatalf("session ended %+v; log:\n%s", end, logText)
	}
	for _, want := range []string{"stage resolution", "stage detection", "not installed", "action: install", "installing with a site token", "stage verification", "session succeeded"} {
		if !strings.Contains(logText, want) {
			t.Errorf("log lacks %q:\n%s", want, logText)
		}
	}
	got, err := os.ReadFile(filepath.Join(fakeC, "S1Install.txt"))
	if err != nil {
		t.Fatalf("no marker on Ann's computer: %v", err)
	}
	if lines := strings.Fields(string(got)); len(lines) != 2 || lines[0] != "23.4.1" || lines[1] != site.RegistrationToken {
		t.Fatalf("marker = %q, want the version and site %s's registration token", got, site.ID)
	}
	if _, err := os.Stat(filepath.Join(otherC, "S1Install.txt")); err == nil {
		t.Error("Bob's computer got the software too")
	}
	// The kept session has the log.
	var kept struct {
		Log []map[string]any `json:"log"`
	}
	srv.must(200, "GET", fmt.Sprintf("/api/v1/maintenance-sessions/%d", sid), nil, &kept)
	if len(kept.Log) < 8 {
		t.Errorf("kept log has %d entries", len(kept.Log))
	}
}

// followSessionLog reads a maintenance session's log stream (server-sent events) until the
// session ends, checking it is an event stream, and returns the log lines; the session as the
// end event carries it is decoded into end.
func followSessionLog(ctx context.Context, t *testing.T, base, token string, id int64, end any) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v1/maintenance-sessions/%d/log", base, id), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("log content type %q", ct)
	}
	var log strings.Builder
	event := ""
	for sc := bufio.NewScanner(resp.Body); sc.Scan(); {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "log":
			log.WriteString(strings.TrimPrefix(line, "data: ") + "\n")
		case strings.HasPrefix(line, "data: ") && event == "end":
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), end); err != nil {
				t.Fatalf("end event: %v", err)
			}
		}
	}
	return log.String()
}
