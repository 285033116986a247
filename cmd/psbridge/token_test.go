package main

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/psbridge/psbridge/engine/store"
)

// statusAs is the status of an API request made with token.
func (s *liveServer) statusAs(token, method, path, body string) int {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestTokenCommandsWhileServing: 'psbridge token create|list|revoke' work while a real serve
// process holds the database, through the admin socket, and directly once it stopped.
func TestTokenCommandsWhileServing(t *testing.T) {
	bin := buildBinary(t)
	s := startServer(t, bin, "--workers.min", "1", "--workers.max", "1", "--health.interval", "0")
	for _, f := range []string{adminSocketName, adminSecretName} {
		fi, err := os.Stat(filepath.Join(s.dataDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	dir := []string{"--data-dir", s.dataDir}

	out, stderr, code := cli(t, append([]string{"token", "list"}, dir...)...)
	if code != exitOK || !regexp.MustCompile(`(?m)^\S+\s+initial\s+admin\s`).MatchString(out) {
		t.Fatalf("list: exit %d\n%s\n%s", code, out, stderr)
	}
	if strings.Contains(out, s.token) {
		t.Fatal("list shows a token's plaintext")
	}

	out, stderr, code = cli(t, append([]string{"token", "create", "--name", "ci", "--role", "read-only"}, dir...)...)
	tok := strings.TrimSpace(out)
	if code != exitOK || !strings.HasPrefix(tok, store.TokenPrefix) {
		t.Fatalf("create: exit %d %q %s", code, out, stderr)
	}
	if c := s.statusAs(tok, "GET", "/api/v1/integrations", ""); c != 200 {
		t.Fatalf("read-only GET: %d", c)
	}
	if c := s.statusAs(tok, "POST", "/api/v1/tenants", `{"name":"x"}`); c != 403 {
		t.Fatalf("read-only POST: %d", c)
	}
	if _, stderr, code := cli(t, append([]string{"token", "create", "--role", "root"}, dir...)...); code != exitUsage || !strings.Contains(stderr, "--role") {
		t.Fatalf("bad role: exit %d %s", code, stderr)
	}

	out, _, _ = cli(t, append([]string{"token", "list"}, dir...)...)
	m := regexp.MustCompile(`(?m)^(\S+)\s+ci\s+read-only\s`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("list lacks the new token:\n%s", out)
	}
	if _, stderr, code := cli(t, append([]string{"token", "revoke", m[1]}, dir...)...); code != exitOK {
		t.Fatalf("revoke: exit %d %s", code, stderr)
	}
	if c := s.statusAs(tok, "GET", "/api/v1/integrations", ""); c != 401 {
		t.Fatalf("revoked token: %d", c)
	}
	if _, stderr, code := cli(t, append([]string{"token", "revoke", m[1]}, dir...)...); code != exitFailure || !strings.Contains(stderr, "no API token") {
		t.Fatalf("second revoke: exit %d %s", code, stderr)
	}

	// Stopped: the socket and secret are gone and the commands open the database directly.
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-time.After(2 * time.Minute):
		t.Fatal("serve did not stop")
	}
	for _, f := range []string{adminSocketName, adminSecretName} {
		if _, err := os.Stat(filepath.Join(s.dataDir, f)); !os.IsNotExist(err) {
			t.Fatalf("%s left behind: %v", f, err)
		}
	}
	out, stderr, code = cli(t, append([]string{"token", "list"}, dir...)...)
	if code != exitOK || !strings.Contains(out, "initial") || strings.Contains(out, " ci ") {
		t.Fatalf("list after stop: exit %d\n%s\n%s", code, out, stderr)
	}
}
