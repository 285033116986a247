package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/psbridge/psbridge/internal/fakes1"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

// cli runs the psbridge command in-process and returns stdout, stderr and the exit code.
func cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	t.Setenv("PSBRIDGE_PWSH", testpwsh.Pwsh(t))
	t.Setenv("PSBRIDGE_CACHE_DIR", testpwsh.CacheDir())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := dispatch(ctx, args, &stdout, &stderr)
	code := exitOK
	if err != nil {
		code = exitFailure
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if !errors.Is(err, errSilent) {
			stderr.WriteString("psbridge: " + err.Error() + "\n")
		}
	}
	return stdout.String(), stderr.String(), code
}

func repoPath(parts ...string) string {
	return filepath.Join(append([]string{"..", ".."}, parts...)...)
}

func writeScript(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "integration.ps1")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const typedInit = `$Integration = New-DynamicIntegration -Init {
    param(
        [Parameter(Mandatory)][Uri]$ApiUrl,
        [Parameter(Mandatory)][Password(StripValue)]$ApiKey,
        [int]$PageSize = 50,
        [ValidateSet('eu','us')][string]$Region = 'eu'
    )
    $IntegrationContext.Url = $ApiUrl
    Write-Host "connecting with $ApiKey"
    [OpResult]::Ok()
} -HealthCheck { New-HealthyResult }
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsTenantInstallToken -GetTenantInstallToken {
    param([string]$clientId)
    "token-$clientId-$($IntegrationContext.Url.Host)"
}
$Integration
`

func TestRunValidatesParametersBeforeRunning(t *testing.T) {
	script := writeScript(t, typedInit)
	cases := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  []string
	}{
		{"missing mandatory", []string{"--param", "ApiKey=secret-value-1"}, exitUsage, []string{"-ApiUrl is required"}},
		{"wrong int", []string{"--param", "ApiUrl=https://x.example/", "--param", "ApiKey=k-secret", "--param", "PageSize=lots"}, exitUsage, []string{"-PageSize must be a whole number"}},
		{"bad uri", []string{"--param", "ApiUrl=not a url", "--param", "ApiKey=k-secret"}, exitUsage, []string{"-ApiUrl must be an absolute URL"}},
		{"not in set", []string{"--param", "ApiUrl=https://x.example/", "--param", "ApiKey=k-secret", "--param", "Region=mars"}, exitUsage, []string{"-Region must be one of: eu, us"}},
		{"unknown", []string{"--param", "ApiUrl=https://x.example/", "--param", "ApiKey=k-secret", "--param", "Nope=1"}, exitUsage, []string{"-Nope unknown parameter (Init accepts: ApiUrl, ApiKey, PageSize, Region)"}},
		{"all at once", []string{"--param", "PageSize=x"}, exitUsage, []string{"-ApiKey is required", "-ApiUrl is required", "-PageSize must be a whole number"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := cli(t, append([]string{"run", script}, tc.args...)...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.wantCode, stderr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
}

func TestRunHealthCallAndMasking(t *testing.T) {
	script := writeScript(t, typedInit)
	base := []string{"run", script, "--param", "ApiUrl=https://vendor.example/", "--param", "ApiKey=hunter2-secret"}

	stdout, stderr, code := cli(t, base...)
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	var health struct {
		Health       map[string]any `json:"health"`
		Capabilities []struct {
			Interface string `json:"interface"`
		} `json:"capabilities"`
	}
	if err := json.Unmarshal([]byte(stdout), &health); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if health.Health["status"] != "Healthy" || len(health.Capabilities) != 1 || health.Capabilities[0].Interface != "ISupportsTenantInstallToken" {
		t.Fatalf("unexpected result: %s", stdout)
	}
	if strings.Contains(stderr, "hunter2-secret") || !strings.Contains(stderr, "connecting with ********") {
		t.Fatalf("stderr must show the Write-Host line with the key masked:\n%s", stderr)
	}

	stdout, stderr, code = cli(t, append(base, "--call", "GetTenantInstallToken", "--arg", "clientId=42")...)
	if code != exitOK || strings.TrimSpace(stdout) != `"token-42-vendor.example"` {
		t.Fatalf("exit %d stdout %q stderr:\n%s", code, stdout, stderr)
	}

	_, stderr, code = cli(t, append(base, "--call", "GetAgents")...)
	if code != exitUsage || !strings.Contains(stderr, "has no method GetAgents") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}

func TestRunReportsScriptErrorsWithPosition(t *testing.T) {
	cases := []struct {
		name, text string
		want       []string
	}{
		{"syntax", "$Integration = New-DynamicIntegration -Init {\n  if ( {\n} -HealthCheck {}", []string{"integration.ps1:3:3: Unexpected token '-HealthCheck'"}},
		{"throws in Init", "New-DynamicIntegration -Init {\n\n  throw 'vendor said no'\n} -HealthCheck { New-HealthyResult }", []string{"Init failed", "integration.ps1:3:3: vendor said no"}},
		{"no integration", "'just a string'", []string{"did not produce an integration"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := cli(t, "run", writeScript(t, tc.text))
			if code != exitFailure {
				t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

func TestRunSentinelOneGetAgentsOverAllPages(t *testing.T) {
	fake := fakes1.New(fakes1.Config{})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	var ids []string
	for _, s := range fake.Sites() {
		ids = append(ids, s.ID)
	}
	idsJSON, _ := json.Marshal(ids)
	stdout, stderr, code := cli(t, "run", repoPath("testdata", "examples", "07-sentinelone.ps1"),
		"--module", repoPath("testdata", "modules", "SentinelOne.psm1"),
		"--param", "S1Uri="+srv.URL+"/", "--param", "S1ApiKey="+fake.APIToken(),
		"--call", "GetAgents", "--arg", "ClientIds="+string(idsJSON))
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	var agents []map[string]any
	if err := json.Unmarshal([]byte(stdout), &agents); err != nil {
		t.Fatalf("stdout is not a JSON array: %v", err)
	}
	if len(agents) != len(fake.Agents()) {
		t.Fatalf("got %d agents, want %d", len(agents), len(fake.Agents()))
	}
	for _, k := range []string{"agentId", "name", "clientId", "serialNumber", "osName", "manufacturer", "isOnline", "agentVersion", "supportsRunningScripts"} {
		if _, ok := agents[0][k]; !ok {
			t.Errorf("agent JSON lacks %q: %v", k, agents[0])
		}
	}
	if strings.Contains(stdout+stderr, fake.APIToken()) {
		t.Fatal("the API key appears in the output")
	}
}

func TestDemoRunsTheWalkthrough(t *testing.T) {
	stdout, stderr, code := cli(t, "demo", "--once")
	if code != exitOK {
		t.Fatalf("exit %d; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, w := range []string{"=> ok", "=> Healthy", "=> 3 clients", "=> 250 agents", "=> token ", "=> HTTP 200 ok; completed with errors"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("demo output lacks %q:\n%s", w, stdout)
		}
	}
	if strings.Contains(stdout+stderr, fakes1.DefaultAPIToken+"\n") {
		t.Error("API key printed outside the header")
	}
	// The vendor's example has a line of prose PowerShell runs as a command 'will': the demo
	// says so, with the line, before PowerShell's error shows.
	note := strings.Index(stdout, `line 203 of the vendor's example is a stray line, 'will response to  "plugins/api/v1/{providerLinkId}"'`)
	errLine := strings.Index(stdout, "The term 'will' is not recognized")
	if note < 0 || errLine < 0 || note > errLine {
		t.Errorf("the demo does not explain the stray line before PowerShell's error (note at %d, error at %d):\n%s", note, errLine, stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"run"}, "run needs exactly one SCRIPT"},
		{[]string{"run", "x.ps1", "--arg", "a=1"}, "--arg needs --call"},
		{[]string{"run", "x.ps1", "--param", "novalue", "--call", "X"}, "want NAME=VALUE"},
	}
	for _, tc := range cases {
		_, stderr, code := cli(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d stderr %q, want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// --module NAME=FILE: the module is NAME whatever its file is called, and a .ps1 file is a
// module too; an Import-Module that fails names the script's line.
func TestRunModuleNamedOtherThanItsFile(t *testing.T) {
	dir := t.TempDir()
	module := filepath.Join(dir, "helpers-v2.ps1")
	if err := os.WriteFile(module, []byte("function Get-AcmeGreeting { param($Name) \"hello $Name\" }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "acme.ps1")
	if err := os.WriteFile(script, []byte(`$Integration = New-DynamicIntegration -Init {
    [OpResult]::Ok()
} -HealthCheck { New-HealthyResult }
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients {
    Import-Module AcmeVendor
    New-IntegrationClient -ClientId 1 -ClientName (Get-AcmeGreeting -Name acme)
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsTenantInstallToken -GetTenantInstallToken {
    param($clientId)
    Import-Module NoSuchVendorModule -ErrorAction Stop
    'unreachable'
}
$Integration
`), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := cli(t, "run", script, "--module", "AcmeVendor="+module, "--call", "GetClients")
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, `"hello acme"`) {
		t.Errorf("stdout %s", stdout)
	}
	_, stderr, code = cli(t, "run", script, "--module", "AcmeVendor="+module, "--call", "GetTenantInstallToken", "--arg", "clientId=1")
	if code != exitFailure {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitFailure, stderr)
	}
	if !strings.Contains(stderr, "acme.ps1:10") || !strings.Contains(stderr, "NoSuchVendorModule") {
		t.Errorf("the Import-Module error does not name acme.ps1:10:\n%s", stderr)
	}
}
