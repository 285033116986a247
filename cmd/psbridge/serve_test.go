package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

func TestTokenCreateAndOfflineBackup(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr, code := cli(t, "token", "create", "--name", "ci", "--data-dir", dir)
	if code != exitOK || !strings.HasPrefix(stdout, store.TokenPrefix) {
		t.Fatalf("exit %d stdout %q stderr %q", code, stdout, stderr)
	}
	tok := strings.TrimSpace(stdout)
	out := filepath.Join(t.TempDir(), "copy.db")
	if _, stderr, code := cli(t, "backup", out, "--data-dir", dir); code != exitOK {
		t.Fatalf("backup exit %d: %s", code, stderr)
	}
	st, err := store.Open(out, store.Options{KeyFile: filepath.Join(dir, "psbridge.db.key")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok, err := st.VerifyToken(tok); err != nil || !ok {
		t.Fatalf("the backup lacks the token: %v %v", ok, err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"token"}, "token needs the subcommand 'create'"},
		{[]string{"backup"}, "backup needs exactly one FILE"},
		{[]string{"serve", "--workers.min", "0", "--workers.max", "0"}, "workers.max must be at least 1"},
	}
	for _, tc := range cases {
		if _, stderr, code := cli(t, tc.args...); code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, stderr)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader in different goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServeStartsTheServerAndStopsCleanly(t *testing.T) {
	t.Setenv("PSBRIDGE_PWSH", testpwsh.Pwsh(t))
	t.Setenv("PSBRIDGE_CACHE_DIR", testpwsh.CacheDir())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	t.Setenv("PSBRIDGE_DATA_DIR", dir) // the environment sets what flags do not
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- dispatch(ctx, []string{"serve", "--listen", addr, "--log.level", "warn"}, &stdout, &stderr)
	}()

	tokenRE := regexp.MustCompile(`psb_[A-Za-z0-9_-]+`)
	base := "http://" + addr
	deadline := time.Now().Add(2 * time.Minute)
	// The sign-in line is the last serve prints before serving.
	for !strings.Contains(stdout.String(), "Sign in at ") {
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v\n%s\n%s", err, stdout.String(), stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s\n%s", stdout.String(), stderr.String())
		}
	}
	tok := tokenRE.FindString(stdout.String())
	if tok == "" {
		t.Fatalf("no initial token printed:\n%s", stdout.String())
	}
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// serve says where a browser signs in, and that page is there.
	signIn := regexp.MustCompile(`Sign in at (\S+) `).FindStringSubmatch(stdout.String())
	if signIn == nil || signIn[1] != base+"/sign-in" {
		t.Fatalf("serve does not print the sign-in page %s/sign-in:\n%s", base, stdout.String())
	}
	if code, body := get("/sign-in", ""); code != 200 || !strings.Contains(body, `name="token"`) {
		t.Fatalf("sign-in page: %d %.300s", code, body)
	}
	if code, body := get("/api/openapi.yaml", ""); code != 200 || !strings.HasPrefix(body, "openapi: 3.1") {
		t.Fatalf("openapi: %d", code)
	}
	if code, _ := get("/api/v1/integrations", ""); code != 401 {
		t.Fatalf("without token: %d", code)
	}
	if code, body := get("/api/v1/integrations", tok); code != 200 || !strings.Contains(body, `"items":[]`) {
		t.Fatalf("with token: %d %s", code, body)
	}
	out := filepath.Join(t.TempDir(), "online.db")
	if stdoutB, stderrB, code := cli(t, "backup", out, "--url", base, "--token", tok); code != exitOK {
		t.Fatalf("online backup: %d %s %s", code, stdoutB, stderrB)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() == 0 {
		t.Fatalf("backup file: %v", err)
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("serve returned %v", err)
	}
}

// TestServeRefusesACacheInsideTheDataDir: workers may not read the data directory, so a
// module cache there would leave every worker unable to start; serve says so at once.
func TestServeRefusesACacheInsideTheDataDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PSBRIDGE_PWSH", testpwsh.Pwsh(t))
	t.Setenv("PSBRIDGE_CACHE_DIR", filepath.Join(dir, "cache"))
	t.Setenv("PSBRIDGE_DATA_DIR", dir)
	var stdout, stderr syncBuffer
	err := dispatch(context.Background(), []string{"serve", "--listen", "127.0.0.1:0", "--log.level", "warn"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "module cache") || !strings.Contains(err.Error(), "inside the data directory") {
		t.Fatalf("serve = %v, want a refusal naming the module cache inside the data directory\n%s", err, stderr.String())
	}
}
