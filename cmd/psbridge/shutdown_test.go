package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

// These tests run the real binary, so signals, exit codes and child processes are the ones a
// container runtime sees.

// buildBinary builds psbridge once per test into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "psbridge")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// liveServer is a `psbridge serve` child process.
type liveServer struct {
	t       *testing.T
	cmd     *exec.Cmd
	base    string
	token   string
	dataDir string
	marker  string // LC_PSB_TEST_MARKER value inherited by every worker
	stdout  *syncBuffer
	stderr  *syncBuffer
	exited  chan struct{}
	waitErr error
}

// startServer starts the binary with a temporary data directory and waits until /readyz
// answers 200.
func startServer(t *testing.T, bin string, args ...string) *liveServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &liveServer{
		t: t, base: "http://" + addr, dataDir: t.TempDir(),
		marker: fmt.Sprintf("psbridge-test-%d-%d", os.Getpid(), time.Now().UnixNano()),
		stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{}),
	}
	s.cmd = exec.Command(bin, append([]string{"serve", "--listen", addr, "--data-dir", s.dataDir, "--log.format", "json"}, args...)...)
	s.cmd.Env = append(os.Environ(), "PSBRIDGE_PWSH="+testpwsh.Pwsh(t), "PSBRIDGE_CACHE_DIR="+testpwsh.CacheDir(), "LC_PSB_TEST_MARKER="+s.marker)
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.waitErr = s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
	tokenRE := regexp.MustCompile(`psb_[A-Za-z0-9_-]+`)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if code, _ := s.get("/readyz"); code == http.StatusOK {
			break
		}
		select {
		case <-s.exited:
			t.Fatalf("serve exited: %v\nstdout:\n%s\nstderr:\n%s", s.waitErr, s.stdout, s.stderr)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not become ready:\nstdout:\n%s\nstderr:\n%s", s.stdout, s.stderr)
		}
	}
	if s.token = tokenRE.FindString(s.stdout.String()); s.token == "" {
		t.Fatalf("no initial token printed:\n%s", s.stdout)
	}
	return s
}

// get returns the status and body of GET path (0 when the server cannot be reached).
func (s *liveServer) get(path string) (int, string) {
	resp, err := http.Get(s.base + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// api sends an authenticated JSON request and returns the status, body and content type.
func (s *liveServer) api(method, path string, body any) (int, []byte, string, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, "", err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		return 0, nil, "", err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header.Get("Content-Type"), err
}

// must sends a request that has to answer want and decodes the answer into out.
func (s *liveServer) must(want int, method, path string, body, out any) {
	s.t.Helper()
	code, b, _, err := s.api(method, path, body)
	if err != nil || code != want {
		s.t.Fatalf("%s %s: %d %v %s", method, path, code, err, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// createIntegration uploads script as a type and creates one instance with formData; it
// returns the instance id.
func (s *liveServer) createIntegration(script string, formData map[string]any) int64 {
	s.t.Helper()
	var typ struct {
		ID string `json:"id"`
	}
	s.must(201, "POST", "/api/v1/integration-types", map[string]any{"name": "Sleepy", "script": script}, &typ)
	var inst struct {
		ID int64 `json:"id"`
	}
	s.must(201, "POST", "/api/v1/integrations", map[string]any{"name": "sleepy", "typeId": typ.ID, "formData": formData}, &inst)
	return inst.ID
}

// workerPIDs lists the processes whose environment carries the server's marker: its pwsh
// workers (and anything they started).
func (s *liveServer) workerPIDs() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	// Workers get only an allowlist of the server's environment; LC_* variables pass.
	needle := []byte("LC_PSB_TEST_MARKER=" + s.marker + "\x00")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == s.cmd.Process.Pid {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && bytes.Contains(env, needle) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// metric returns the value of an unlabelled series from /metrics (-1 when absent).
func (s *liveServer) metric(name string) float64 {
	_, body := s.get("/metrics")
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return -1
}

// sleepyScript has a method that sleeps, to keep calls in flight, and an Init with a secret.
const sleepyScript = `$Integration = New-DynamicIntegration -Init {
    param(
        [Parameter(Mandatory)][string]$ApiUrl,
        [Parameter(Mandatory)][Password(StripValue)]$ApiKey
    )
    $IntegrationContext.Session = "session-for-$ApiKey"
    [OpResult]::Ok()
} -HealthCheck { New-HealthyResult }
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsTenantInstallToken -GetTenantInstallToken {
    param([string]$clientId, [int]$seconds = 0)
    Write-Host "working on $clientId"
    Start-Sleep -Seconds $seconds
    "token-$clientId"
}
$Integration
`

func TestServeShutsDownGracefullyOnSIGTERM(t *testing.T) {
	bin := buildBinary(t)
	s := startServer(t, bin, "--workers.min", "2", "--workers.max", "4", "--shutdown-grace", "2m", "--health.interval", "0")
	id := s.createIntegration(sleepyScript, map[string]any{"ApiUrl": "https://vendor.example/", "ApiKey": "k"})
	if n := len(s.workerPIDs()); n < 2 {
		t.Fatalf("found %d workers by their environment marker before shutdown, want at least 2", n)
	}

	const calls = 3
	type answer struct {
		code  int
		body  string
		ctype string
		err   error
	}
	answers := make(chan answer, calls)
	for i := range calls {
		go func() {
			code, b, ct, err := s.api("POST", fmt.Sprintf("/api/v1/integrations/%d/methods/GetTenantInstallToken", id),
				map[string]any{"args": map[string]any{"clientId": fmt.Sprintf("c%d", i), "seconds": 4}})
			answers <- answer{code, string(b), ct, err}
		}()
	}
	// Wait until every call is being served (not a timing assertion: the metric says so).
	deadline := time.Now().Add(time.Minute)
	for s.metric("psbridge_http_requests_in_flight") < calls {
		if time.Now().After(deadline) {
			t.Fatalf("calls never got in flight; metrics:\n%s", func() string { _, b := s.get("/metrics"); return b }())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// Readiness flips to 503 while the calls are still running, and new calls are refused with
	// a problem that says why.
	var readyCode int
	var readyBody string
	for readyCode, readyBody = s.get("/readyz"); readyCode == http.StatusOK; readyCode, readyBody = s.get("/readyz") {
		time.Sleep(10 * time.Millisecond)
	}
	if readyCode != http.StatusServiceUnavailable || !strings.Contains(readyBody, "shutting down") {
		t.Fatalf("readyz after SIGTERM: %d %s", readyCode, readyBody)
	}
	code, body, ctype, err := s.api("POST", fmt.Sprintf("/api/v1/integrations/%d/methods/GetTenantInstallToken", id),
		map[string]any{"args": map[string]any{"clientId": "late"}})
	if err != nil || code != http.StatusServiceUnavailable || ctype != "application/problem+json" || !strings.Contains(string(body), "urn:psbridge:problem:shutting-down") {
		t.Fatalf("new call while draining: %d %v %s %s", code, err, ctype, body)
	}

	for range calls {
		a := <-answers
		switch {
		case a.err != nil:
			t.Errorf("in-flight call lost its connection: %v", a.err)
		case a.code == http.StatusOK:
			if !strings.Contains(a.body, `"token-c`) {
				t.Errorf("in-flight call answered 200 without its output: %s", a.body)
			}
		case a.ctype == "application/problem+json" && strings.Contains(a.body, `"title"`):
			t.Logf("in-flight call got a clear error: %d %s", a.code, a.body)
		default:
			t.Errorf("in-flight call: %d %s %s", a.code, a.ctype, a.body)
		}
	}

	select {
	case <-s.exited:
	case <-time.After(3 * time.Minute):
		t.Fatalf("serve did not exit after SIGTERM:\n%s", s.stderr)
	}
	if s.waitErr != nil {
		t.Fatalf("serve exited with %v after SIGTERM:\n%s", s.waitErr, s.stderr)
	}
	if pids := s.workerPIDs(); len(pids) > 0 {
		t.Fatalf("pwsh processes left after shutdown: %v", pids)
	}
	for _, want := range []string{`"shutting down: not ready`, `"message":"stopped"`} {
		if !strings.Contains(s.stderr.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, s.stderr)
		}
	}

	// The database was closed cleanly: it opens at once (no lock left) with the data in it.
	st, err := store.Open(filepath.Join(s.dataDir, "psbridge.db"), store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("database after shutdown: %v", err)
	}
	defer st.Close()
	insts, err := st.Instances()
	if err != nil || len(insts) != 1 || insts[0].ID != id {
		t.Fatalf("instances after shutdown: %+v %v", insts, err)
	}
	if toks, err := st.Tokens(); err != nil || len(toks) != 1 {
		t.Fatalf("tokens after shutdown: %d %v", len(toks), err)
	}
	if calls, err := st.Calls(id, 100, 0); err != nil || len(calls) < 1+3 {
		t.Fatalf("call log after shutdown: %d entries, %v", len(calls), err)
	}
}

// TestServeLogsNeverCarryValues runs calls whose parameters, secrets and context carry marked
// values, with debug logging, and checks that none of them reaches the service log, that the
// log is JSON with the stable field names, and that script output stays out of it.
func TestServeLogsNeverCarryValues(t *testing.T) {
	bin := buildBinary(t)
	s := startServer(t, bin, "--log.level", "debug", "--health.interval", "0")
	const (
		secret  = "SECRET-api-key-7f3a9c"
		argVal  = "ARGVALUE-client-51be0d"
		formVal = "https://FORMVALUE.example/"
	)
	id := s.createIntegration(sleepyScript, map[string]any{"ApiUrl": formVal, "ApiKey": secret})
	var res struct {
		Output []string `json:"output"`
	}
	s.must(200, "POST", fmt.Sprintf("/api/v1/integrations/%d/methods/GetTenantInstallToken", id),
		map[string]any{"args": map[string]any{"clientId": argVal}}, &res)
	if len(res.Output) != 1 || res.Output[0] != "token-"+argVal {
		t.Fatalf("call output %+v", res)
	}
	s.must(200, "POST", fmt.Sprintf("/api/v1/integrations/%d/health-check", id), nil, nil)
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-s.exited
	if s.waitErr != nil {
		t.Fatalf("serve exited with %v", s.waitErr)
	}

	logs := s.stderr.String()
	for _, v := range []string{secret, argVal, formVal, "FORMVALUE", "session-for-", "working on"} {
		if strings.Contains(logs, v) {
			t.Errorf("the service log contains %q:\n%s", v, logs)
		}
	}
	var lines, requests int
	fields := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		lines++
		for k := range ev {
			fields[k] = true
		}
		if ev["message"] == "request" {
			requests++
		}
	}
	for _, k := range []string{"level", "time", "message", "component", "request_id", "route", "status", "duration_ms"} {
		if !fields[k] {
			t.Errorf("no log line has the field %q:\n%s", k, logs)
		}
	}
	if lines == 0 || requests == 0 {
		t.Fatalf("expected debug request logs, got %d lines:\n%s", lines, logs)
	}
}

// Format prints the buffer's contents for any verb, so a *syncBuffer can go to t.Fatalf.
func (s *syncBuffer) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, s.String()) }
