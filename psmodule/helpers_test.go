package psmodule_test

// The ImmyBot helper functions integrations and metascripts call beyond the integration
// cmdlets: dynamic versions (against fake vendor HTTP servers), dynamic parameters, Clear-Error
// and Get-WindowsRegistryValue, each run in a real pwsh worker.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/psbridge/psbridge/bridge"
)

func execJSON(t *testing.T, p *bridge.Pool, name, text string, out any) *bridge.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := p.Exec(ctx, bridge.Exec{Name: name, Text: text})
	if err != nil {
		t.Fatalf("%s: %v%s", name, err, scriptErrorDetail(err))
	}
	if out != nil {
		if len(r.Output) != 1 {
			t.Fatalf("%s: %d outputs: %s\nrecords: %+v", name, len(r.Output), r.Output, r.Records)
		}
		if err := json.Unmarshal(r.Output[0], out); err != nil {
			t.Fatalf("%s: %v in %s", name, err, r.Output[0])
		}
	}
	return r
}

type dynVersion struct {
	URL          string `json:"Url"`
	Version      string `json:"Version"`
	FileName     string `json:"FileName"`
	Architecture string `json:"Architecture"`
	PackageType  string `json:"PackageType"`
}

// githubReleases serves GitHub's REST API shape for GET /api/v3/repos/{owner}/{repo}/releases
// (a GitHub Enterprise host, which is how a test server that is not github.com is addressed).
func githubReleases(t *testing.T) *httptest.Server {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "application/vnd.github+json" {
			http.Error(w, "bad accept", 406)
			return
		}
		asset := func(tag, name string) map[string]any {
			return map[string]any{"name": name, "browser_download_url": srv.URL + "/acme/agent/releases/download/" + tag + "/" + name, "size": 10}
		}
		release := func(tag string, pre, draft bool, names ...string) map[string]any {
			var assets []any
			for _, n := range names {
				assets = append(assets, asset(tag, n))
			}
			return map[string]any{"tag_name": tag, "prerelease": pre, "draft": draft, "assets": assets}
		}
		switch r.URL.Path {
		case "/api/v3/repos/acme/agent/releases":
			if r.URL.Query().Get("per_page") != "30" {
				http.Error(w, "per_page", 400)
				return
			}
			json.NewEncoder(w).Encode([]any{
				release("v2.1.0-beta", true, false, "agent-2.1.0-x64.exe"),
				release("v2.0.1", false, false, "agent-2.0.1-x64.exe", "agent-2.0.1-arm64.exe", "checksums.txt"),
				release("v1.9.0", false, false, "agent-1.9.0-x64.exe"),
				release("v3.0.0", false, true, "agent-3.0.0-x64.exe"),
			})
		case "/api/v3/repos/acme/agent/releases/latest":
			json.NewEncoder(w).Encode(release("v2.0.1", false, false, "agent-2.0.1-x64.exe"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHelperGetDynamicVersionsFromGitHubUrl(t *testing.T) {
	srv := githubReleases(t)
	p := compatPool(t)
	var got struct {
		All      []dynVersion `json:"all"`
		Arch     []dynVersion `json:"arch"`
		Pre      []string     `json:"pre"`
		Latest   []dynVersion `json:"latest"`
		Filtered []string     `json:"filtered"`
		Bad      string       `json:"bad"`
	}
	execJSON(t, p, "gh.ps1", fmt.Sprintf(`
$repo = '%s/acme/agent'
$all = Get-DynamicVersionsFromGitHubUrl -GitHubReleasesUrl "$repo/releases" -VersionsPattern 'agent-(?<Version>[\d\.]+)-x64.exe'
$arch = Get-DynamicVersionsFromGitHubUrl "$repo/releases" '(?<Uri>.*/(?<FileName>agent-(?<Version>[\d\.]+)-(?<Architecture>x64|arm64)\.exe))'
$pre = Get-DynamicVersionsFromGitHubUrl "$repo/releases" 'agent-(?<Version>[\d\.]+)-x64.exe' -IncludePrerelease
$latest = Get-DynamicVersionsFromGitHubUrl "$repo/releases" 'agent-(?<Version>[\d\.]+)-x64.exe' -LatestRelease
$filtered = Get-DynamicVersionsFromGitHubUrl "$repo/releases" 'agent-(?<Version>[\d\.]+)-x64.exe' -DynamicVersionFilter { $_.Version -lt [version]'2.0' }
$bad = try { Get-DynamicVersionsFromGitHubUrl 'https://github.com/' 'x' -ErrorAction Stop; 'no error' } catch { "$_" }
[pscustomobject]@{
    all = $all.Versions; arch = $arch.Versions; latest = $latest.Versions
    pre = @($pre.Versions | ForEach-Object { "$($_.Version)" }); filtered = @($filtered.Versions | ForEach-Object { "$($_.Version)" })
    bad = $bad
}`, srv.URL), &got)
	if len(got.All) != 2 || got.All[0].Version != "2.0.1" || got.All[1].Version != "1.9.0" {
		t.Fatalf("all = %+v", got.All)
	}
	if got.All[0].FileName != "agent-2.0.1-x64.exe" || got.All[0].URL != srv.URL+"/acme/agent/releases/download/v2.0.1/agent-2.0.1-x64.exe" {
		t.Errorf("all[0] = %+v", got.All[0])
	}
	if len(got.Arch) != 3 {
		t.Fatalf("arch = %+v", got.Arch)
	}
	archs := map[string]bool{}
	for _, v := range got.Arch {
		archs[v.Version+"/"+v.Architecture] = true
	}
	if !archs["2.0.1/X64"] || !archs["2.0.1/ARM64"] || !archs["1.9.0/X64"] {
		t.Errorf("architectures %v", archs)
	}
	if strings.Join(got.Pre, ",") != "2.1.0,2.0.1,1.9.0" {
		t.Errorf("with prereleases %v", got.Pre)
	}
	if len(got.Latest) != 1 || got.Latest[0].Version != "2.0.1" {
		t.Errorf("latest %+v", got.Latest)
	}
	if strings.Join(got.Filtered, ",") != "1.9.0" {
		t.Errorf("filtered %v", got.Filtered)
	}
	if !strings.Contains(got.Bad, "does not name a repository") {
		t.Errorf("bad url: %q", got.Bad)
	}
}

// fakePE is the start of a Windows executable: an MZ header and, further on, the
// VS_FIXEDFILEINFO of its version resource (signature 0xFEEF04BD, struct version, file version).
func fakePE(major, minor, build, rev uint16) []byte {
	b := make([]byte, 512)
	copy(b, "MZ")
	off := 200
	binary.LittleEndian.PutUint32(b[off:], 0xFEEF04BD)
	binary.LittleEndian.PutUint32(b[off+4:], 0x00010000)
	binary.LittleEndian.PutUint32(b[off+8:], uint32(major)<<16|uint32(minor))
	binary.LittleEndian.PutUint32(b[off+12:], uint32(build)<<16|uint32(rev))
	return b
}

func TestHelperGetDynamicVersionFromInstallerURL(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/latest", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/dl/build/7781", http.StatusFound)
	})
	mux.HandleFunc("/dl/build/7781", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Disposition", `attachment; filename="AcmeAgentSetup.exe"`)
		w.Write(fakePE(10, 2, 3, 4))
	})
	mux.HandleFunc("/msi", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Disposition", `attachment; filename*=UTF-8''acme-agent-5.6.7.msi`)
		w.Write([]byte("not a PE file"))
	})
	mux.HandleFunc("/files/agentInstaller.msi", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("no version anywhere"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p := compatPool(t)
	var got struct {
		PE       dynVersion   `json:"pe"`
		Resolved dynVersion   `json:"resolved"`
		MSI      dynVersion   `json:"msi"`
		IfNull   []dynVersion `json:"ifNull"`
		Missing  string       `json:"missing"`
		NotFound string       `json:"notFound"`
	}
	execJSON(t, p, "installer.ps1", fmt.Sprintf(`
$base = '%s'
$pe = Get-DynamicVersionFromInstallerURL "$base/latest"
$resolved = Get-DynamicVersionFromInstallerURL -URL "$base/latest" -ResolveRedirect
$msi = Get-DynamicVersionFromInstallerURL "$base/msi"
$ifNull = Get-DynamicVersionFromInstallerURL "$base/files/agentInstaller.msi" -VersionIfNull 1.0
$missing = try { Get-DynamicVersionFromInstallerURL "$base/files/agentInstaller.msi" -ErrorAction Stop; 'no error' } catch { "$_" }
$notFound = try { Get-DynamicVersionFromInstallerURL "$base/nothing-here.exe" -ErrorAction Stop; 'no error' } catch { "$_" }
[pscustomobject]@{ pe = $pe.Versions[0]; resolved = $resolved.Versions[0]; msi = $msi.Versions[0]; ifNull = $ifNull.Versions; missing = $missing; notFound = $notFound }
`, srv.URL), &got)
	if got.PE.Version != "10.2.3.4" || got.PE.FileName != "AcmeAgentSetup.exe" || got.PE.URL != srv.URL+"/latest" || got.PE.PackageType != "Executable" {
		t.Errorf("pe = %+v", got.PE)
	}
	if got.Resolved.URL != srv.URL+"/dl/build/7781" || got.Resolved.Version != "10.2.3.4" {
		t.Errorf("resolved = %+v", got.Resolved)
	}
	if got.MSI.Version != "5.6.7" || got.MSI.FileName != "acme-agent-5.6.7.msi" || got.MSI.PackageType != "MSI" {
		t.Errorf("msi = %+v", got.MSI)
	}
	if len(got.IfNull) != 1 || got.IfNull[0].Version != "1.0" || got.IfNull[0].FileName != "agentInstaller.msi" {
		t.Errorf("ifNull = %+v", got.IfNull)
	}
	if !strings.Contains(got.Missing, "no version could be read") {
		t.Errorf("missing: %q", got.Missing)
	}
	if !strings.Contains(got.NotFound, "404") {
		t.Errorf("not found: %q", got.NotFound)
	}
}

func TestHelperNewDynamicVersion(t *testing.T) {
	p := compatPool(t)
	var got struct {
		Inferred dynVersion `json:"inferred"`
		Explicit dynVersion `json:"explicit"`
		Type     string     `json:"type"`
		Bad      string     `json:"bad"`
	}
	execJSON(t, p, "dv.ps1", `
$inferred = New-DynamicVersion -URL 'https://cdn.example.com/a/Agent%20Setup-1.2.3.msi?sig=x' -Version '1.2.3-beta.1'
$explicit = New-DynamicVersion -Uri 'https://cdn.example.com/latest' -Version 4.5 -FileName agent.exe -Architecture X64 -PackageType Executable
$bad = try { New-DynamicVersion -Uri 'https://x.example/a.msi' -Architecture Sparc -Version 1.0 -ErrorAction Stop; 'no error' } catch { $_.FullyQualifiedErrorId }
[pscustomobject]@{ inferred = $inferred; explicit = $explicit; type = $inferred.GetType().FullName; bad = $bad }`, &got)
	if got.Inferred.Version != "1.2.3" || got.Inferred.FileName != "Agent Setup-1.2.3.msi" {
		t.Errorf("inferred = %+v", got.Inferred)
	}
	if got.Explicit.FileName != "agent.exe" || got.Explicit.Architecture != "X64" || got.Explicit.Version != "4.5" {
		t.Errorf("explicit = %+v", got.Explicit)
	}
	if got.Type != "Immybot.Backend.Domain.Models.DynamicVersion" {
		t.Errorf("type %s", got.Type)
	}
	if !strings.HasPrefix(got.Bad, "ParameterArgumentValidationError") {
		t.Errorf("bad architecture: %q", got.Bad)
	}
}

// The dynamicparam shape of real scripts (NinjaRMM's integration): static parameters are bound
// before the block runs, New-ParameterCollection gathers the fields, and the fields bind.
func TestHelperDynamicParameters(t *testing.T) {
	p := compatPool(t)
	var got struct {
		Names    []string       `json:"names"`
		OAuth    map[string]any `json:"oauth"`
		OAuthTyp string         `json:"oauthType"`
		Help     string         `json:"help"`
		Region   string         `json:"region"`
		Bound    string         `json:"bound"`
		Date     string         `json:"date"`
		Invalid  string         `json:"invalid"`
		Missing  string         `json:"missing"`
	}
	execJSON(t, p, "dyn.ps1", `
function Test-Form {
    [CmdletBinding()]
    param([ValidateSet('eu', 'app')][string]$Region = 'app', $ClientID, $ClientSecret)
    dynamicparam {
        New-ParameterCollection @(
            New-OAuthConsentParameter -Name RefreshToken -ResponseType code `+"`"+`
                -AuthorizationEndpoint "https://$Region.vendor.example/oauth/authorize" `+"`"+`
                -TokenEndpoint "https://$Region.vendor.example/oauth/token" `+"`"+`
                -ClientSecret $ClientSecret -ClientID $ClientID -Scope 'management offline_access' -Mandatory
            New-HelpText -Name Hint -HelpMessage 'Consent as an administrator.'
            New-Parameter -Name Site -ValidValues 'north', 'south' -DefaultValue north
            New-DateTimeParameter -Name StartDate -ValidateScript { $_ -gt [datetime]'2020-01-01' }
        )
    }
    end {
        [pscustomobject]@{ Region = $Region; Token = $PSBoundParameters['RefreshToken'].RefreshToken; Start = $PSBoundParameters['StartDate'] }
    }
}
$cmd = Get-Command Test-Form -ArgumentList @('-Region', 'eu', '-ClientID', 'cid', '-ClientSecret', 'sec')
$dyn = @($cmd.Parameters.Values | Where-Object IsDynamic)
$oauth = $dyn | Where-Object Name -eq RefreshToken | ForEach-Object { $_.Attributes | Where-Object { $_ -is [OAuthConsentAttribute] } }
$help = $dyn | Where-Object Name -eq Hint | ForEach-Object { $_.Attributes | Where-Object { $_ -is [PSBridge.HelpTextAttribute] } }
$r = Test-Form -Region eu -ClientID cid -ClientSecret sec -RefreshToken @{ Code = 'c1'; RefreshToken = 'rt-1'; AccessToken = 'at-1' } -StartDate '2030-05-01'
$invalid = try { Test-Form -RefreshToken @{ RefreshToken = 'x' } -StartDate '2001-01-01' -ErrorAction Stop; 'no error' } catch { $_.FullyQualifiedErrorId }
[pscustomobject]@{
    names = @($dyn.Name | Sort-Object)
    oauth = [pscustomobject]@{ auth = $oauth.AuthorizationEndpoint; token = $oauth.TokenEndpoint; client = $oauth.ClientId; secret = $oauth.ClientSecret; scope = $oauth.Scope; type = $oauth.ResponseType }
    oauthType = ($dyn | Where-Object Name -eq RefreshToken).ParameterType.FullName
    help = $help.Text
    region = $r.Region; bound = $r.Token; date = $r.Start.ToString('yyyy-MM-dd')
    invalid = $invalid
}`, &got)
	if strings.Join(got.Names, ",") != "Hint,RefreshToken,Site,StartDate" {
		t.Errorf("dynamic parameters %v", got.Names)
	}
	want := map[string]any{"auth": "https://eu.vendor.example/oauth/authorize", "token": "https://eu.vendor.example/oauth/token", "client": "cid", "secret": "sec", "scope": "management offline_access", "type": "code"}
	for k, v := range want {
		if got.OAuth[k] != v {
			t.Errorf("oauth %s = %v, want %v", k, got.OAuth[k], v)
		}
	}
	if got.OAuthTyp != "PSBridge.OAuthConsentResult" || got.Help != "Consent as an administrator." {
		t.Errorf("oauth type %q, help %q", got.OAuthTyp, got.Help)
	}
	if got.Region != "eu" || got.Bound != "rt-1" || got.Date != "2030-05-01" {
		t.Errorf("bound: region %q token %q date %q", got.Region, got.Bound, got.Date)
	}
	if !strings.HasPrefix(got.Invalid, "ParameterArgumentValidationError") {
		t.Errorf("ValidateScript: %q", got.Invalid)
	}
}

func TestHelperClearError(t *testing.T) {
	p := compatPool(t)
	var got struct {
		Before int `json:"before"`
		After  int `json:"after"`
	}
	execJSON(t, p, "clear.ps1", `
try { Get-Item '/no/such/path' -ErrorAction Stop } catch { }
Write-Error 'handled' -ErrorAction SilentlyContinue
$before = $Error.Count
Clear-Error
[pscustomobject]@{ before = $before; after = $Error.Count }`, &got)
	if got.Before < 2 || got.After != 0 {
		t.Errorf("before %d after %d", got.Before, got.After)
	}
}

// Without a registry (Linux), a drive mapped onto a directory stands in for one: keys are
// directories, values files, as on an agent started with --drive HKLM=DIR.
func TestHelperGetWindowsRegistryValue(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "SOFTWARE", "WOW6432Node", "NinjaRMM LLC", "NinjaRMMAgent", "Agent")
	if err := os.MkdirAll(key, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(key, "NodeId"), []byte("node-4711\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := compatPool(t)
	var got struct {
		Value      string         `json:"value"`
		Found      map[string]any `json:"found"`
		Missing    map[string]any `json:"missing"`
		MissingKey map[string]any `json:"missingKey"`
	}
	execJSON(t, p, "reg.ps1", fmt.Sprintf(`
$null = New-PSDrive -Name HKLM -PSProvider FileSystem -Root '%s' -Scope Global
$found = Get-WindowsRegistryValue -Path 'HKLM:\SOFTWARE\WOW6432Node\NinjaRMM LLC\NinjaRMMAgent\Agent' -Name 'NodeId'
$missing = Get-WindowsRegistryValue -Path 'HKLM:\SOFTWARE\WOW6432Node\NinjaRMM LLC\NinjaRMMAgent\Agent' -Name 'Other'
$missingKey = Get-WindowsRegistryValue 'HKLM:\SOFTWARE\Nothing' 'NodeId'
[pscustomobject]@{ value = $found.Value; found = $found; missing = $missing; missingKey = $missingKey }`, dir), &got)
	if got.Value != "node-4711" || got.Found["Exists"] != true || got.Found["Type"] != "String" || got.Found["Name"] != "NodeId" {
		t.Errorf("found %+v", got.Found)
	}
	if got.Missing["Exists"] != false || got.Missing["Value"] != nil || got.MissingKey["Exists"] != false {
		t.Errorf("missing %+v / %+v", got.Missing, got.MissingKey)
	}
}

// A method whose own arguments cannot bind fails, with the error at the script's line of the
// parameter, not at psbridge's invocation wrapper; a binding error of a command inside the block
// stays what PowerShell makes it (a non-terminating error; the block goes on).
func TestInvokeBindingErrorAtScriptLine(t *testing.T) {
	p := compatPool(t)
	s := compatScript("binding", `$Integration | Add-DynamicIntegrationCapability -Interface ISupportsTenantInstallToken -GetTenantInstallToken {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [string]$clientId
    )
    "token-$clientId"
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients {
    Get-Date -NoSuchParameter 1
    New-IntegrationClient -ClientId c1 -ClientName 'Client 1'
}`)
	mustInvoke(t, p, bridge.Call{Script: s, Method: "Init", FormData: map[string]any{"Name": "x"}})
	_, err := compatInvoke(p, bridge.Call{Script: s, Method: "GetTenantInstallToken"})
	var se *bridge.ScriptError
	if !errors.As(err, &se) {
		t.Fatalf("missing mandatory parameter: err = %v, want a script error", err)
	}
	// compatInitHealth is 5 lines; "[string]$clientId" is line 10 of the script.
	if se.Line != 10 || !strings.Contains(se.Message, "clientId") || se.Script != "binding.ps1" && se.Script != "" {
		t.Errorf("error at %s:%d: %q (position %q)", se.Script, se.Line, se.Message, se.PositionMessage)
	}
	if !strings.Contains(err.Error(), "binding.ps1:10") {
		t.Errorf("error text %q does not name binding.ps1:10", err.Error())
	}
	r := mustInvoke(t, p, bridge.Call{Script: s, Method: "GetTenantInstallToken", Args: map[string]any{"clientId": "c9"}})
	if len(r.Output) != 1 || string(r.Output[0]) != `"token-c9"` {
		t.Errorf("bound call output %s", r.Output)
	}
	r = mustInvoke(t, p, bridge.Call{Script: s, Method: "GetClients"})
	if len(r.Output) != 1 || !r.HadErrors {
		t.Errorf("inner binding error: output %s, hadErrors %v", r.Output, r.HadErrors)
	}
}
