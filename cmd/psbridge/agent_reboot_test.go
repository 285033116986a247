package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAgentRebootCommandFlag: a --reboot-command that does not split into a command is
// refused with exit 2 naming the flag, before the agent enrolls or connects; --help documents
// the flag with an example.
func TestAgentRebootCommandFlag(t *testing.T) {
	for _, tc := range []struct {
		value, want string
	}{
		{`shutdown "unterminated`, `--reboot-command: reboot command "shutdown \"unterminated": unterminated " quote`},
		{"  ", "--reboot-command: reboot command is empty"},
	} {
		t.Run(tc.value, func(t *testing.T) {
			stdout, stderr, code := cli(t, "agent", "--state-dir", t.TempDir(), "--reboot-command", tc.value)
			if code != exitUsage || !strings.Contains(stderr, tc.want) || stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and %q", code, stdout, stderr, tc.want)
			}
		})
	}
	stdout, _, code := cli(t, "agent", "--help")
	for _, want := range []string{"--reboot-command", "--reboot-pending-file", "--reboot-command none", "/var/run/reboot-required"} {
		if code != 0 || !strings.Contains(stdout, want) {
			t.Fatalf("agent --help (exit %d) lacks %q:\n%s", code, want, stdout)
		}
	}
}

// TestAgentRebootEndToEnd: 'psbridge agent' with --reboot-command (a script that writes its
// arguments to a marker) and --reboot-pending-file (present): an install session with
// rebootPreference Normal finds the reboot pending and the agent process runs the command,
// its quoted argument one word; the session records rebootPending and rebootAction.
func TestAgentRebootEndToEnd(t *testing.T) {
	bin := buildBinary(t)
	srv := startServer(t, bin, "--agents.heartbeat", "1s", "--agents.connect-wait", "5s", "--workers.max", "2")
	var tenant, sw struct{ ID int64 }
	srv.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "Contoso"}, &tenant)
	srv.must(201, "POST", "/api/v1/software", map[string]any{"name": "Tool", "version": "1.0", "scriptContext": "computer",
		"detectionScript": `if (Test-Path 'C:\tool.txt') { Get-Content 'C:\tool.txt' -TotalCount 1 }`,
		"installScript":   `Set-Content -Path 'C:\tool.txt' -Value '1.0'`}, &sw)
	var key struct{ Key string }
	srv.must(201, "POST", fmt.Sprintf("/api/v1/tenants/%d/enrollment-keys", tenant.ID), map[string]any{}, &key)

	dir := t.TempDir()
	marker, pending, script := filepath.Join(dir, "rebooted"), filepath.Join(dir, "reboot-required"), filepath.Join(dir, "reboot.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s|' \"$@\" > '"+marker+"'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pending, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, bin, t.TempDir(), "--server", srv.base, "--enroll-key", key.Key, "--drive", "C="+t.TempDir(),
		"--inventory", "computerName=PC-R", "--inventory", "deviceId=reboot-1",
		"--reboot-command", script+` "psbridge maintenance session"`, "--reboot-pending-file", pending)
	cs := srv.waitComputers("the agent online", 0, func(cs []computerView) bool { return onlineCount(cs) == 1 }, a)

	var started struct{ SessionIDs []int64 }
	srv.must(202, "POST", "/api/v1/run-immy-service", map[string]any{"skipBackgroundJob": true, "rebootPreference": "Normal",
		"maintenanceParams": map[string]any{"maintenanceIdentifier": fmt.Sprint(sw.ID), "desiredSoftwareState": 5},
		"computers":         []map[string]any{{"computerId": cs[0].ID}}}, &started)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var end struct {
		State         string `json:"state"`
		RebootPending bool   `json:"rebootPending"`
		RebootAction  string `json:"rebootAction"`
	}
	log := followSessionLog(ctx, t, srv.base, srv.token, started.SessionIDs[0], &end)
	got, _ := os.ReadFile(marker)
	if end.State != "succeeded" || !end.RebootPending || end.RebootAction != "rebooted" || string(got) != "psbridge maintenance session|" {
		t.Fatalf("session %+v, reboot command got %q\n%s\nagent:\n%s", end, got, log, a.stderr.String())
	}
}
