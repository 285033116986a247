//go:build container

package containertest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/psbridge/psbridge/internal/fakes1"
)

// The image under test; PSBRIDGE_CONTAINER_IMAGE names an already built one (the build is
// then skipped), otherwise scripts/container-build.sh builds it from the Dockerfile.
const defaultTag = "localhost/psbridge:test"

const installHint = "apt-get install -y podman runc busybox-static mmdebstrap"

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if _, err := os.Stat(filepath.Join(root, "Dockerfile")); err != nil {
		t.Fatal(err)
	}
	return root
}

// podman runs podman with the test's containers.conf and returns its trimmed stdout.
func podman(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("podman", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return strings.TrimSpace(stdout.String()), fmt.Errorf("podman %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

func mustPodman(t *testing.T, args ...string) string {
	t.Helper()
	out, err := podman(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// server is one psbridge container.
type server struct {
	t     *testing.T
	name  string
	base  string
	token string
}

func (s *server) logs() string {
	out, _ := exec.Command("podman", "logs", s.name).CombinedOutput()
	return string(out)
}

func (s *server) api(method, path string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.base+path, r)
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (s *server) must(want int, method, path string, body, out any) {
	s.t.Helper()
	code, b, err := s.api(method, path, body)
	if err != nil || code != want {
		s.t.Fatalf("%s %s: %d %v %s, want %d\nlogs:\n%s", method, path, code, err, b, want, s.logs())
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// waitReady polls /readyz until 200 and returns how long that took from start.
func (s *server) waitReady(start time.Time, within time.Duration) time.Duration {
	s.t.Helper()
	deadline := start.Add(within)
	for {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(string(b), "ready") {
				return time.Since(start)
			}
		}
		if time.Now().After(deadline) {
			st, _ := podman(s.t, "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", s.name)
			s.t.Fatalf("%s not ready within %v (state %s; last: %v)\nlogs:\n%s", s.name, within, st, err, s.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// run starts a server container on volume with the given extra podman flags.
func run(t *testing.T, image, volume string, extra ...string) (*server, time.Time) {
	t.Helper()
	port := freePort(t)
	s := &server{t: t, name: "psbridge-test-" + randomSuffix(), base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	// The host network: the server and the fake vendor API talk over loopback only.
	args := []string{"run", "-d", "--name", s.name, "--network", "host",
		"--read-only", "--tmpfs", "/tmp:rw,nosuid,nodev,mode=1777",
		"-v", volume + ":/data",
		"-e", fmt.Sprintf("PSBRIDGE_LISTEN=127.0.0.1:%d", port),
		"-e", "PSBRIDGE_WORKERS_MIN=2", "-e", "PSBRIDGE_WORKERS_MAX=2",
		"-e", "PSBRIDGE_SHUTDOWN_GRACE=30s"}
	args = append(args, extra...)
	args = append(args, image)
	start := time.Now()
	mustPodman(t, args...)
	t.Cleanup(func() { _, _ = podman(t, "rm", "-f", "-t", "0", s.name) })
	return s, start
}

// proc is one process of the container, seen from the host's /proc.
type proc struct {
	pid, ppid int
	comm      string
	cmdline   string
	uids      string // real, effective, saved, filesystem
	children  []*proc
}

func readProcs() map[int]*proc {
	entries, _ := os.ReadDir("/proc")
	all := map[int]*proc{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so split after the last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		p := &proc{pid: pid, ppid: ppid}
		p.comm = strings.TrimSpace(string(stat[bytes.IndexByte(stat, '(')+1 : i]))
		cl, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		p.cmdline = strings.TrimSpace(strings.ReplaceAll(string(cl), "\x00", " "))
		status, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		sc := bufio.NewScanner(bytes.NewReader(status))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Uid:"); ok {
				p.uids = strings.Join(strings.Fields(v), " ")
			}
		}
		all[pid] = p
	}
	for _, p := range all {
		if parent, ok := all[p.ppid]; ok && p.pid != p.ppid {
			parent.children = append(parent.children, p)
		}
	}
	for _, p := range all {
		sort.Slice(p.children, func(i, j int) bool { return p.children[i].pid < p.children[j].pid })
	}
	return all
}

func (p *proc) walk(f func(p *proc, depth int)) {
	var rec func(*proc, int)
	rec = func(q *proc, d int) {
		f(q, d)
		for _, c := range q.children {
			rec(c, d+1)
		}
	}
	rec(p, 0)
}

func (p *proc) String() string {
	var b strings.Builder
	p.walk(func(q *proc, d int) {
		cl := q.cmdline
		if len(cl) > 110 {
			cl = cl[:110] + "…"
		}
		fmt.Fprintf(&b, "%s%d %s uid=[%s] %s\n", strings.Repeat("  ", d), q.pid, q.comm, q.uids, cl)
	})
	return b.String()
}

// pss sums the proportional set size (KiB) of p and its descendants.
func (p *proc) pss() int {
	total := 0
	p.walk(func(q *proc, _ int) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", q.pid))
		if err != nil {
			return
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
				n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
				total += n
			}
		}
	})
	return total
}

func isPwsh(p *proc) bool {
	return p.comm == "pwsh" || strings.Contains(p.cmdline, "pwsh.dll") || strings.HasPrefix(p.cmdline, "/opt/pwsh/pwsh")
}

// The SentinelOne example's module and type, read from the repository as a user would upload
// them.
func readExample(t *testing.T, root string, elem ...string) string {
	b, err := os.ReadFile(filepath.Join(append([]string{root}, elem...)...))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sleepyScript has a method that sleeps, to keep a call in flight during `podman stop`.
const sleepyScript = `$Integration = New-DynamicIntegration -Init {
    param([Parameter(Mandatory)][string]$ApiUrl)
    [OpResult]::Ok()
} -HealthCheck { New-HealthyResult }
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsTenantInstallToken -GetTenantInstallToken {
    param([string]$clientId, [int]$seconds = 0)
    Start-Sleep -Seconds $seconds
    "token-$clientId"
}
$Integration
`

type integration struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Health struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	} `json:"health"`
}

func TestContainerImage(t *testing.T) {
	for _, tool := range []string{"podman", "runc", "mmdebstrap"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed; install the container tools with: %s", tool, installHint)
		}
	}
	root := repoRoot(t)
	image := os.Getenv("PSBRIDGE_CONTAINER_IMAGE")
	conf := os.Getenv("CONTAINERS_CONF")
	if image == "" {
		image = defaultTag
		start := time.Now()
		cmd := exec.Command("bash", filepath.Join(root, "scripts", "container-build.sh"), image)
		cmd.Dir = root
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("scripts/container-build.sh: %v\n%s", err, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		conf = lines[len(lines)-1]
		t.Logf("image built (or found up to date) in %v", time.Since(start).Round(time.Second))
	}
	if conf != "" {
		t.Setenv("CONTAINERS_CONF", conf)
	}
	size, _ := strconv.ParseInt(mustPodman(t, "image", "inspect", "--format", "{{.Size}}", image), 10, 64)
	t.Logf("REPORT image %s: %.0f MiB", image, float64(size)/(1<<20))
	if hc := mustPodman(t, "image", "inspect", "--format", "{{json .Config.Healthcheck}}", image); !strings.Contains(hc, "healthcheck") {
		t.Fatalf("the image has no HEALTHCHECK (built without --format docker?): %s", hc)
	}

	// The fake SentinelOne API on the host's loopback.
	fake := fakes1.New(fakes1.Config{Sites: 3, AgentsPerSite: 4})
	vendor := httptest.NewServer(fake)
	defer vendor.Close()

	volume := "psbridge-test-data-" + randomSuffix()
	mustPodman(t, "volume", "create", volume)
	t.Cleanup(func() { _, _ = podman(t, "volume", "rm", "-f", volume) })

	// 1. Start: ready with warm workers, HEALTHCHECK healthy, the first token in the log.
	a, startA := run(t, image, volume)
	readyIn := a.waitReady(startA, 3*time.Minute)
	t.Logf("REPORT start to ready (podman run → /readyz 200, first start, empty volume): %v", readyIn.Round(10*time.Millisecond))
	if m := regexp.MustCompile(`psb_[A-Za-z0-9_-]+`).FindString(a.logs()); m == "" {
		t.Fatalf("no initial token in the log:\n%s", a.logs())
	} else {
		a.token = m
	}
	t.Run("healthcheck turns healthy", func(t *testing.T) {
		// Podman runs HEALTHCHECK from systemd timers, which this machine lacks:
		// `podman healthcheck run` runs the image's command once and records the result.
		out, err := podman(t, "healthcheck", "run", a.name)
		if err != nil {
			t.Fatalf("healthcheck: %v %s", err, out)
		}
		st := mustPodman(t, "inspect", "--format", "{{.State.Health.Status}}", a.name)
		if st != "healthy" {
			t.Fatalf("health status %q, want healthy", st)
		}
	})
	var confinement string
	for _, line := range strings.Split(a.logs(), "\n") {
		if strings.Contains(line, "worker confinement") {
			confinement = line
		}
	}
	t.Logf("REPORT confinement log line inside podman: %s", confinement)
	if confinement == "" {
		t.Errorf("the server did not log its worker confinement:\n%s", a.logs())
	}

	// 2. The process tree, the user, idle memory.
	pid, _ := strconv.Atoi(mustPodman(t, "inspect", "--format", "{{.State.Pid}}", a.name))
	var treePIDs []int
	t.Run("process tree tini → psbridge → launcher → pwsh, all uid 10001", func(t *testing.T) {
		time.Sleep(2 * time.Second) // let the warm workers settle before measuring memory
		procs := readProcs()
		top := procs[pid]
		if top == nil {
			t.Fatalf("container pid %d not in /proc", pid)
		}
		t.Logf("process tree (host pids):\n%s", top)
		top.walk(func(p *proc, _ int) { treePIDs = append(treePIDs, p.pid) })
		if top.comm != "tini" {
			t.Errorf("PID 1 is %q, want tini", top.comm)
		}
		top.walk(func(p *proc, _ int) {
			if p.uids != "10001 10001 10001 10001" {
				t.Errorf("pid %d (%s) runs as uid %s, want 10001", p.pid, p.comm, p.uids)
			}
		})
		if len(top.children) != 1 || top.children[0].comm != "psbridge" || !strings.Contains(top.children[0].cmdline, "serve") {
			t.Fatalf("tini's children: want one `psbridge serve`:\n%s", top)
		}
		serve := top.children[0]
		workers := 0
		for _, c := range serve.children {
			switch {
			case isPwsh(c):
				workers++ // started directly (no sandbox launcher)
			case c.comm == "psbridge" && len(c.children) == 1 && isPwsh(c.children[0]):
				workers++ // the sandbox launcher (the psbridge binary re-executed) → pwsh
			default:
				t.Errorf("unexpected child of psbridge serve: %d %s %s", c.pid, c.comm, c.cmdline)
			}
		}
		if workers != 2 {
			t.Errorf("%d warm workers, want 2 (workers.min)", workers)
		}
		mem := mustPodman(t, "stats", "--no-stream", "--format", "{{.MemUsage}}", a.name)
		t.Logf("REPORT idle memory: podman stats %s; PSS of the process tree %.0f MiB", mem, float64(top.pss())/1024)
	})

	t.Run("read-only root, writable tmpfs temp path", func(t *testing.T) {
		if out, err := podman(t, "exec", a.name, "sh", "-c", "touch /usr/local/bin/x"); err == nil {
			t.Errorf("writing below / succeeded: %s", out)
		}
		if out, err := podman(t, "exec", a.name, "sh", "-c", "touch /tmp/x && rm /tmp/x && touch /data/x && rm /data/x"); err != nil {
			t.Errorf("/tmp or /data not writable: %v %s", err, out)
		}
		if out := mustPodman(t, "exec", a.name, "id", "-u"); out != "10001" {
			t.Errorf("exec runs as uid %s, want 10001", out)
		}
	})

	t.Run("pwsh compiled ahead of time", func(t *testing.T) {
		// The Dockerfile's precompile-pwsh step: workers start from native code.
		if out := mustPodman(t, "exec", a.name, "psbridge", "version"); !strings.Contains(out, "(compiled ahead of time)") {
			t.Errorf("psbridge version in the image: %s; want pwsh compiled ahead of time", out)
		}
	})

	// 3. The SentinelOne example, uploaded through the API, against the fake vendor API.
	var s1 integration
	t.Run("SentinelOne example becomes Healthy and lists its clients", func(t *testing.T) {
		a.must(201, "POST", "/api/v1/modules", map[string]any{"name": "SentinelOne", "script": readExample(t, root, "testdata", "modules", "SentinelOne.psm1")}, nil)
		var typ struct {
			ID string `json:"id"`
		}
		a.must(201, "POST", "/api/v1/integration-types", map[string]any{"name": "SentinelOne", "script": readExample(t, root, "testdata", "examples", "07-sentinelone.ps1")}, &typ)
		a.must(201, "POST", "/api/v1/integrations", map[string]any{"name": "S1", "typeId": typ.ID,
			"formData": map[string]any{"S1Uri": vendor.URL + "/", "S1ApiKey": fakes1.DefaultAPIToken}}, &s1)
		deadline := time.Now().Add(2 * time.Minute)
		for {
			var h struct {
				Status  string `json:"status"`
				Message string `json:"message"`
			}
			a.must(200, "POST", fmt.Sprintf("/api/v1/integrations/%d/health-check", s1.ID), nil, &h)
			if h.Status == "Healthy" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("health %+v, want Healthy", h)
			}
			time.Sleep(time.Second)
		}
		var got integration
		a.must(200, "GET", fmt.Sprintf("/api/v1/integrations/%d", s1.ID), nil, &got)
		if got.Health.Status != "Healthy" {
			t.Errorf("GET integration: health %+v, want Healthy", got.Health)
		}
		a.must(200, "POST", fmt.Sprintf("/api/v1/integrations/%d/clients/refresh", s1.ID), nil, nil)
		var clients struct {
			Items []map[string]any `json:"items"`
		}
		a.must(200, "GET", fmt.Sprintf("/api/v1/integrations/%d/clients", s1.ID), nil, &clients)
		if len(clients.Items) != len(fake.Sites()) {
			t.Fatalf("%d clients, want the fake's %d sites: %v", len(clients.Items), len(fake.Sites()), clients.Items)
		}
	})

	// 4. The agent from the same image enrolls into the server container.
	t.Run("psbridge agent from the image enrolls", func(t *testing.T) {
		var tenant struct {
			ID int64 `json:"id"`
		}
		a.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "Contoso"}, &tenant)
		var key struct {
			Key string `json:"key"`
		}
		a.must(201, "POST", fmt.Sprintf("/api/v1/tenants/%d/enrollment-keys", tenant.ID), map[string]any{"expiresInSeconds": 3600}, &key)
		agent := "psbridge-test-agent-" + randomSuffix()
		// The agent keeps its enrollment on its own volume, as a user would run it.
		mustPodman(t, "volume", "create", agent)
		t.Cleanup(func() { _, _ = podman(t, "volume", "rm", "-f", agent) })
		mustPodman(t, "run", "-d", "--name", agent, "--network", "host", "--read-only", "--tmpfs", "/tmp:rw,nosuid,nodev,mode=1777",
			"-v", agent+":/data",
			image, "agent", "--server", a.base, "--enroll-key", key.Key, "--state-dir", "/data/agent",
			"--inventory", "computerName=container-agent", "--inventory", "deviceId=container-agent-"+randomSuffix())
		t.Cleanup(func() { _, _ = podman(t, "rm", "-f", "-t", "0", agent) })
		agentLogs := func() string { out, _ := exec.Command("podman", "logs", agent).CombinedOutput(); return string(out) }
		deadline := time.Now().Add(2 * time.Minute)
		var computer struct {
			ID       int64 `json:"id"`
			TenantID int64 `json:"tenantId"`
			Online   bool  `json:"online"`
		}
		for {
			var page struct {
				Items []struct {
					ID       int64  `json:"id"`
					Name     string `json:"name"`
					TenantID int64  `json:"tenantId"`
					Online   bool   `json:"online"`
				} `json:"items"`
			}
			a.must(200, "GET", "/api/v1/computers?limit=100", nil, &page)
			found := false
			for _, c := range page.Items {
				if c.Name == "container-agent" && c.Online {
					computer.ID, computer.TenantID, computer.Online = c.ID, c.TenantID, true
					found = true
				}
			}
			if found {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the agent never came online: %+v\nagent:\n%s", page.Items, agentLogs())
			}
			time.Sleep(200 * time.Millisecond)
		}
		if computer.TenantID != tenant.ID {
			t.Errorf("computer in tenant %d, want %d", computer.TenantID, tenant.ID)
		}
		// A script on the computer runs in the agent container's pwsh.
		code, body, err := a.api("POST", fmt.Sprintf("/api/v1/computers/%d/scripts", computer.ID),
			map[string]any{"script": `"agent-says-" + (6*7)`, "context": "computer", "timeoutSeconds": 60})
		if err != nil || code != 200 || !strings.Contains(string(body), "agent-says-42") {
			t.Errorf("script on the agent: %d %v %s\nagent:\n%s", code, err, body, agentLogs())
		}
	})

	// 5. `podman stop` drains a call in flight and exits 0 within the grace period.
	t.Run("podman stop drains an in-flight call and exits 0", func(t *testing.T) {
		var typ struct {
			ID string `json:"id"`
		}
		a.must(201, "POST", "/api/v1/integration-types", map[string]any{"name": "Sleepy", "script": sleepyScript}, &typ)
		var inst integration
		a.must(201, "POST", "/api/v1/integrations", map[string]any{"name": "sleepy", "typeId": typ.ID,
			"formData": map[string]any{"ApiUrl": "https://vendor.example/"}}, &inst)
		type answer struct {
			code int
			body string
			err  error
		}
		done := make(chan answer, 1)
		go func() {
			code, b, err := a.api("POST", fmt.Sprintf("/api/v1/integrations/%d/methods/GetTenantInstallToken", inst.ID),
				map[string]any{"args": map[string]any{"clientId": "drain", "seconds": 5}})
			done <- answer{code, string(b), err}
		}()
		deadline := time.Now().Add(time.Minute)
		for inFlight(a) < 1 {
			if time.Now().After(deadline) {
				t.Fatal("the call never got in flight")
			}
			time.Sleep(20 * time.Millisecond)
		}
		start := time.Now()
		if out, err := podman(t, "stop", "-t", "45", a.name); err != nil {
			t.Fatalf("podman stop: %v %s", err, out)
		}
		took := time.Since(start)
		t.Logf("REPORT podman stop with a 5 s call in flight took %v", took.Round(10*time.Millisecond))
		ans := <-done
		if ans.err != nil || ans.code != 200 || !strings.Contains(ans.body, "token-drain") {
			t.Errorf("in-flight call: %d %v %s", ans.code, ans.err, ans.body)
		}
		if took > 40*time.Second {
			t.Errorf("podman stop took %v: past the grace period, podman killed it", took)
		}
		if code := mustPodman(t, "inspect", "--format", "{{.State.ExitCode}}", a.name); code != "0" {
			t.Errorf("exit code %s, want 0\nlogs:\n%s", code, a.logs())
		}
		for _, p := range treePIDs {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", p)); err == nil {
				if cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p)); bytes.Contains(cl, []byte("psbridge")) || bytes.Contains(cl, []byte("pwsh")) || bytes.Contains(cl, []byte("tini")) {
					t.Errorf("process %d (%s) left after stop", p, cl)
				}
			}
		}
		if !strings.Contains(a.logs(), `"message":"stopped"`) {
			t.Errorf("the log does not end with the stop:\n%s", a.logs())
		}
	})

	// 6. A second container on the same volume finds every integration; the key stays on the
	// volume, never in the image or a log.
	t.Run("second container on the same volume; key only on the volume", func(t *testing.T) {
		b, startB := run(t, image, volume)
		b.token = a.token
		t.Logf("REPORT start to ready (second container, existing volume): %v", b.waitReady(startB, 3*time.Minute).Round(10*time.Millisecond))
		var list struct {
			Items []integration `json:"items"`
		}
		b.must(200, "GET", "/api/v1/integrations", nil, &list)
		names := map[string]bool{}
		for _, it := range list.Items {
			names[it.Name] = true
		}
		if len(list.Items) != 2 || !names["S1"] || !names["sleepy"] {
			t.Errorf("integrations in the second container: %+v, want S1 and sleepy", list.Items)
		}
		var h struct {
			Status string `json:"status"`
		}
		b.must(200, "POST", fmt.Sprintf("/api/v1/integrations/%d/health-check", s1.ID), nil, &h)
		if h.Status != "Healthy" {
			t.Errorf("S1 in the second container: %+v (the sealed API key did not open?)", h)
		}

		mnt := mustPodman(t, "volume", "inspect", "--format", "{{.Mountpoint}}", volume)
		keyBytes, err := os.ReadFile(filepath.Join(mnt, "psbridge.db.key"))
		if err != nil {
			t.Fatalf("key file on the volume: %v", err)
		}
		key := strings.TrimSpace(string(keyBytes)) // hex
		raw, err := hex.DecodeString(key)
		if err != nil || len(raw) < 16 {
			t.Fatalf("key file: %d bytes, %v", len(key), err)
		}
		if fi, err := os.Stat(filepath.Join(mnt, "psbridge.db.key")); err != nil || fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Uid != 10001 {
			t.Errorf("key file on the volume: %v %v, want mode 0600 owned by 10001", fi.Mode(), err)
		}
		forms := []string{key, strings.ToUpper(key), base64.StdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw)}
		for _, c := range []*server{a, b} {
			logs := c.logs()
			for _, f := range forms {
				if strings.Contains(logs, f) {
					t.Errorf("the key appears in the log of %s", c.name)
				}
			}
		}
		imgRoot := mustPodman(t, "image", "mount", image)
		defer func() { _, _ = podman(t, "image", "unmount", image) }()
		files := 0
		err = filepath.WalkDir(imgRoot, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			files++
			if strings.HasSuffix(d.Name(), ".db.key") || d.Name() == "psbridge.db" {
				t.Errorf("the image holds %s", strings.TrimPrefix(path, imgRoot))
			}
			if info, err := d.Info(); err == nil && info.Size() < 64<<20 {
				if content, err := os.ReadFile(path); err == nil && (bytes.Contains(content, []byte(key)) || bytes.Contains(content, raw)) {
					t.Errorf("the image file %s holds the key", strings.TrimPrefix(path, imgRoot))
				}
			}
			return nil
		})
		if err != nil || files < 100 {
			t.Fatalf("walking the image: %v (%d files)", err, files)
		}
	})
}

func inFlight(s *server) float64 {
	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "psbridge_http_requests_in_flight" {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return -1
}
