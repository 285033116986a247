package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/testpwsh"
	"github.com/psbridge/psbridge/web"
	"github.com/psbridge/psbridge/web/pages"
)

// errorsScript writes non-terminating errors where its --param and --arg values say so.
const errorsScript = `$Integration = New-DynamicIntegration -Init {
    param([string]$InitError = '')
    if ($InitError) { Write-Error $InitError }
    [OpResult]::Ok()
} -HealthCheck { New-HealthyResult }
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsTenantInstallToken -GetTenantInstallToken {
    param([string]$clientId)
    if ($clientId -eq 'bad') { Write-Error "no token for client $clientId" }
    "token-$clientId"
}
$Integration
`

func TestRunExitsNonZeroWhenCallsCompleteWithErrors(t *testing.T) {
	script := writeScript(t, errorsScript)
	cases := []struct {
		name     string
		args     []string
		wantCode int
		stderr   []string
		notErr   string
	}{
		{"clean", nil, exitOK, nil, "completed with errors"},
		{"Init writes an error", []string{"--param", "InitError=vendor module missing"}, exitErrors,
			[]string{"vendor module missing", "psbridge: Init completed with errors", "--allow-errors"}, ""},
		{"Init writes an error, allowed", []string{"--param", "InitError=vendor module missing", "--allow-errors"}, exitOK,
			[]string{"psbridge: Init completed with errors"}, ""},
		{"method writes an error", []string{"--call", "GetTenantInstallToken", "--arg", "clientId=bad"}, exitErrors,
			[]string{"no token for client bad", "psbridge: GetTenantInstallToken completed with errors"}, ""},
		{"method writes an error, allowed", []string{"--allow-errors", "--call", "GetTenantInstallToken", "--arg", "clientId=bad"}, exitOK,
			[]string{"psbridge: GetTenantInstallToken completed with errors"}, ""},
		{"method clean", []string{"--call", "GetTenantInstallToken", "--arg", "clientId=good"}, exitOK, nil, "completed with errors"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := cli(t, append([]string{"run", script}, tc.args...)...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.wantCode, stderr)
			}
			if strings.TrimSpace(stdout) == "" {
				t.Errorf("no result on stdout; stderr:\n%s", stderr)
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if tc.notErr != "" && strings.Contains(stderr, tc.notErr) {
				t.Errorf("stderr has %q:\n%s", tc.notErr, stderr)
			}
		})
	}
}

func TestRunWarnsAboutModulesItDoesNotHave(t *testing.T) {
	cases := []struct {
		name    string
		modules []string
		warn    bool
	}{
		{"without the module", nil, true},
		{"with --module", []string{"--module", repoPath("testdata", "modules", "SentinelOne.psm1")}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", repoPath("testdata", "examples", "07-sentinelone.ps1"),
				"--param", "S1Uri=http://127.0.0.1:9/", "--param", "S1ApiKey=k-secret-value"}, tc.modules...)
			_, stderr, _ := cli(t, args...)
			const w = `psbridge: warning: the script imports module "SentinelOne" (line 97, Import-Module)`
			if strings.Contains(stderr, w) != tc.warn {
				t.Errorf("warning shown %v, want %v; stderr:\n%s", !tc.warn, tc.warn, stderr)
			}
		})
	}
}

// webServer serves a real engine (real pool, real bbolt file) over HTTP on 127.0.0.1 and
// returns its URL, an admin API token and a client signed in to the pages.
func webServer(t *testing.T) (string, string, *http.Client) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "psbridge.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	eng, err := engine.New(engine.Config{Store: st, Pool: testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1}),
		HealthInterval: -1, AgentSyncTick: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	srv := httptest.NewServer(web.New(eng, web.Options{}))
	t.Cleanup(srv.Close)
	tok, _, err := st.CreateToken("test")
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(srv.URL + "/sign-in")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on the sign-in page: %.500s", body)
	}
	resp, err = browser.PostForm(srv.URL+"/sign-in", url.Values{"token": {tok}, pages.CSRFField: {string(m[1])}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return srv.URL, tok, browser
}

// apiJSON sends a JSON request with the bearer token and decodes the answer into out.
func apiJSON(t *testing.T, method, u, tok string, in, out any, want int) {
	t.Helper()
	b, _ := json.Marshal(in)
	req, _ := http.NewRequest(method, u, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, u, resp.StatusCode, want, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, u, err, body)
		}
	}
}

// TestHealthNamesAgreeAcrossRunAPIAndPages: one HealthCheck result has one name, whether
// `psbridge run` prints it, the API returns it or the pages show it.
func TestHealthNamesAgreeAcrossRunAPIAndPages(t *testing.T) {
	base, tok, browser := webServer(t)
	cases := []struct {
		name, check, want string
	}{
		{"unhealthy", "New-UnhealthyResult -Message 'vendor answered 503'", store.StatusUnhealthy},
		{"degraded", "New-DegradedResult -Message 'rate limited'", store.StatusDegraded},
		{"healthy", "New-HealthyResult", store.StatusHealthy},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			script := "$Integration = New-DynamicIntegration -Init { param() [OpResult]::Ok() } -HealthCheck { " + tc.check + " }\n$Integration\n"

			stdout, stderr, code := cli(t, "run", writeScript(t, script))
			if tc.want == store.StatusHealthy {
				if code != exitOK || !strings.Contains(stdout, `"status": "Healthy"`) {
					t.Fatalf("run: exit %d stdout %s stderr %s", code, stdout, stderr)
				}
			} else if code != exitFailure || !strings.Contains(stderr, "HealthCheck reported "+tc.want+":") {
				t.Fatalf("run: exit %d, want 1 and %q; stderr:\n%s", code, "HealthCheck reported "+tc.want, stderr)
			}

			var typ struct{ ID string }
			apiJSON(t, "POST", base+"/api/v1/integration-types", tok, map[string]any{"name": "T" + strconv.Itoa(i), "script": script}, &typ, http.StatusCreated)
			var inst struct {
				ID     int64
				Health store.Health
			}
			apiJSON(t, "POST", base+"/api/v1/integrations", tok, map[string]any{"name": "i" + strconv.Itoa(i), "typeId": typ.ID, "formData": map[string]any{}}, &inst, http.StatusCreated)
			id := strconv.FormatInt(inst.ID, 10)
			apiJSON(t, "POST", base+"/api/v1/integrations/"+id+"/health-check", tok, nil, &inst.Health, http.StatusOK)
			if inst.Health.Status != tc.want {
				t.Errorf("API health %q, want %q", inst.Health.Status, tc.want)
			}
			for _, path := range []string{"/integrations/" + id, "/integrations/" + id + "/health"} {
				resp, err := browser.Get(base + path)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !regexp.MustCompile(`class="badge [a-z]+">` + tc.want + `<`).Match(body) {
					t.Errorf("%s lacks a %s badge: %.3000s", path, tc.want, body)
				}
				for _, other := range store.HealthStatuses {
					if other != tc.want && other != store.StatusPending && strings.Contains(string(body), `">`+other+`<`) {
						t.Errorf("%s also names %s", path, other)
					}
				}
			}
		})
	}
}

func TestDevShowsCompletedWithErrorsAndMissingModules(t *testing.T) {
	t.Setenv("PSBRIDGE_PWSH", testpwsh.Pwsh(t))
	t.Setenv("PSBRIDGE_CACHE_DIR", testpwsh.CacheDir())
	script := writeScript(t, `$Integration = New-DynamicIntegration -Init {
    param()
    Import-Module NoSuch.Vendor
    [OpResult]::Ok()
} -HealthCheck { New-HealthyResult }
$Integration
`)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	stdout, stderr := newWatchBuffer(), newWatchBuffer()
	done := make(chan error, 1)
	go func() { done <- dispatch(runCtx, []string{"dev", script}, stdout, stderr) }()
	at := stderr.waitFor(t, ctx, 0, `psbridge: warning: the script imports module "NoSuch.Vendor" (line 3, Import-Module)`, stdout)
	stderr.waitFor(t, ctx, at, "psbridge: Init completed with errors", stdout)
	stdout.waitFor(t, ctx, 0, "watching ", stderr)
	stop()
	if err := <-done; err != nil {
		t.Fatalf("dev: %v", err)
	}
	if strings.Contains(stderr.String(), "--allow-errors") {
		t.Errorf("dev printed run's exit hint:\n%s", stderr.String())
	}
}
