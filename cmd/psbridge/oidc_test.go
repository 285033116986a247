package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

// TestServeRefusesABadOIDCIssuer: an external issuer that does not answer, or whose
// discovery names another issuer, stops serve at start with an error naming the setting
// (and a bad pair of settings is refused before anything starts).
func TestServeRefusesABadOIDCIssuer(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"issuer":"https://elsewhere.example","jwks_uri":"https://elsewhere.example/keys"}`))
	}))
	defer other.Close()
	cases := []struct {
		name string
		args []string
		code int
		says []string
	}{
		{"not answering", []string{"--auth.oidc.issuer", dead.URL, "--auth.oidc.audience", "https://psbridge.example"}, exitEnv, []string{"auth.oidc.issuer " + dead.URL, "discover"}},
		{"another issuer", []string{"--auth.oidc.issuer", other.URL, "--auth.oidc.audience", "https://psbridge.example"}, exitEnv, []string{"auth.oidc.issuer", "elsewhere.example"}},
		{"no audience", []string{"--auth.oidc.issuer", other.URL}, exitUsage, []string{"auth.oidc.audience is required"}},
		{"plain http to a remote host", []string{"--auth.oidc.issuer", "http://login.example/t/v2.0", "--auth.oidc.audience", "x"}, exitUsage, []string{"auth.oidc.issuer", "https"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			var stdout, stderr syncBuffer
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--log.level", "warn", "--data-dir", dir}, c.args...)
			err := dispatch(context.Background(), args, &stdout, &stderr)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != c.code {
				t.Fatalf("serve = %v (%T), want exit %d\n%s", err, err, c.code, stderr.String())
			}
			for _, s := range c.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
}

// TestServeTrustsTheIssuerAndCancelsSessionsOnShutdown runs 'psbridge serve' with an external
// issuer and http.base-url: a token of the issuer for a user added through the API is let
// in, discovery of psbridge's own server names the base URL, and on shutdown a running
// maintenance session is recorded as cancelled, its log stream ending with that state.
func TestServeTrustsTheIssuerAndCancelsSessionsOnShutdown(t *testing.T) {
	t.Setenv("PSBRIDGE_PWSH", testpwsh.Pwsh(t))
	t.Setenv("PSBRIDGE_CACHE_DIR", testpwsh.CacheDir())
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var issuer *httptest.Server
	issuer = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/keys" {
			_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": issuer.URL, "jwks_uri": issuer.URL + "/keys"})
	}))
	defer issuer.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	const public = "https://psbridge.example.com"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- dispatch(ctx, []string{"serve", "--listen", addr, "--log.level", "warn", "--data-dir", dir,
			"--auth.oidc.issuer", issuer.URL, "--auth.oidc.audience", public, "--http.base-url", public}, &stdout, &stderr)
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(stdout.String(), "psbridge serving on") {
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v\n%s\n%s", err, stdout.String(), stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s\n%s", stdout.String(), stderr.String())
		}
	}
	tok := regexp.MustCompile(`psb_[A-Za-z0-9_-]+`).FindString(stdout.String())
	base := "http://" + addr
	call := func(method, path, token string, body any, out any) int {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequestWithContext(ctx, method, base+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			_ = json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}

	// The issuer's token: refused until its object id is a user, then an admin.
	const oid = "5a0d6f7b-2c1d-4fd0-8b5c-6d7e8f9a0b12"
	now := time.Now()
	payload, _ := json.Marshal(map[string]any{"iss": issuer.URL, "aud": public, "sub": "s", "oid": oid,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	sg, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: priv}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	obj, _ := sg.Sign(payload)
	ext, _ := obj.CompactSerialize()
	if code := call("GET", "/api/v1/tokens", ext, nil, nil); code != 403 {
		t.Fatalf("unmapped object id: %d", code)
	}
	// Through the running server's admin socket.
	if _, stderrB, code := cli(t, "user", "create", "--external-id", oid, "--admin", "--data-dir", dir); code != exitOK {
		t.Fatalf("user create while serve runs: %d %s", code, stderrB)
	}
	if code := call("GET", "/api/v1/tokens", ext, nil, nil); code != 200 {
		t.Fatalf("issuer's token for an admin user: %d", code)
	}
	var disc struct{ Issuer string }
	if call("GET", "/contoso.example/.well-known/openid-configuration", "", nil, &disc); !strings.HasPrefix(disc.Issuer, public+"/") {
		t.Fatalf("own issuer %q does not use http.base-url", disc.Issuer)
	}

	// A session waiting for an offline computer's agent.
	var pc, sw struct{ ID int64 }
	call("POST", "/api/v1/computers", tok, map[string]any{"name": "PC-1"}, &pc)
	call("POST", "/api/v1/software", tok, map[string]any{"name": "App", "scriptContext": "computer", "detectionScript": "'1.0'"}, &sw)
	var started struct{ SessionIDs []int64 }
	if code := call("POST", "/api/v1/run-immy-service", tok, map[string]any{"skipBackgroundJob": true,
		"maintenanceParams": map[string]any{"maintenanceIdentifier": strconv.FormatInt(sw.ID, 10)},
		"computers":         []map[string]any{{"computerId": pc.ID}}}, &started); code != 202 || len(started.SessionIDs) != 1 {
		t.Fatalf("run-immy-service: %d %+v", code, started)
	}
	req, _ := http.NewRequest("GET", base+"/api/v1/maintenance-sessions/"+strconv.FormatInt(started.SessionIDs[0], 10)+"/log", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() && !strings.Contains(sc.Text(), "stage detection") {
	}
	cancel() // SIGTERM
	var end string
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "event: end") && sc.Scan() {
			end = sc.Text()
		}
	}
	if !strings.Contains(end, `"state":"cancelled"`) || !strings.Contains(end, "the server shut down during detection") {
		t.Errorf("log stream's end: %q", end)
	}
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("serve returned %v\n%s", err, stderr.String())
	}
	st, err := store.Open(filepath.Join(dir, "psbridge.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if m, err := st.Session(started.SessionIDs[0]); err != nil || m.State != "cancelled" {
		t.Errorf("stored session: %q %q %v", m.State, m.Error, err)
	}
}

// TestUserCommand: 'psbridge user' with the server stopped creates, lists and deletes users in
// the database, and names what is wrong.
func TestUserCommand(t *testing.T) {
	dir := t.TempDir()
	const oid = "7c2f8b9d-4e3f-4b12-8d7e-8f9a0b1c2d34"
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"create an admin", []string{"create", "--external-id", oid, "--name", "inbound", "--admin"}, exitOK, "", "created admin user \"inbound\""},
		{"create a read-only sub", []string{"create", "--external-id", "kc-sub", "--role", "read-only"}, exitOK, "", "created read-only user"},
		{"the same id again", []string{"create", "--external-id", strings.ToUpper(oid)}, exitFailure, "", "already exists"},
		{"a bad role", []string{"create", "--external-id", "x", "--role", "root"}, exitFailure, "", "role"},
		{"no id", []string{"create"}, exitUsage, "", "--external-id"},
		{"list", []string{"list"}, exitOK, oid + "  inbound", ""},
		{"delete", []string{"delete", oid}, exitOK, "", "deleted"},
		{"delete again", []string{"delete", oid}, exitFailure, "", "no user has the external id"},
		{"no subcommand", nil, exitUsage, "", "user needs the subcommand 'create', 'list' or 'delete'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := cli(t, append(append([]string{"user"}, c.args...), "--data-dir", dir)...)
			if code != c.code || !strings.Contains(stdout, c.stdout) || !strings.Contains(stderr, c.stderr) {
				t.Fatalf("exit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)", code, c.code, stdout, c.stdout, stderr, c.stderr)
			}
		})
	}
}
