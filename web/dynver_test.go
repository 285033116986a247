package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dynVersions is the body of GET and POST /software/{scope}/{id}/dynamic-versions.
type dynVersions struct {
	SoftwareID int64  `json:"softwareId"`
	FetchedAt  string `json:"fetchedAt"`
	Versions   []struct {
		Version      string `json:"version"`
		URL          string `json:"url"`
		FileName     string `json:"fileName"`
		Architecture string `json:"architecture"`
	} `json:"versions"`
}

func (d dynVersions) list() string {
	var out []string
	for _, v := range d.Versions {
		out = append(out, v.Version)
	}
	return strings.Join(out, ",")
}

// threeVersions returns three versions out of order, one as a SemVer text with a label.
const threeVersions = `Write-Host 'listing versions'
New-DynamicVersion -Version '1.9.0' -Uri 'https://downloads.example/tool-1.9.0.msi'
New-DynamicVersion -Version '1.10.2' -Uri 'https://downloads.example/tool-1.10.2.msi' -Architecture X64
New-DynamicVersion -Version '1.2' -Uri 'https://downloads.example/get?v=1.2' -FileName 'tool-1.2.msi'
`

// TestSoftwareDynamicVersions runs dynamic versions scripts through the API in the server's
// pool: versions come back newest first and are cached on the software; a script that does
// not parse is refused at creation naming its line; one that throws, returns nothing or
// returns a bad version fails naming the line or the version; update keeps the field rules.
func TestSoftwareDynamicVersions(t *testing.T) {
	s := newServerWith(t, lazyPool(t), Options{})
	var sw struct {
		ID    int64  `json:"id"`
		Scope string `json:"scope"`
	}
	s.must(201, "POST", "/api/v1/software", map[string]any{"name": "Tool", "scope": "global",
		"detectionScript": "$null", "dynamicVersionsScript": threeVersions}, &sw)
	base := fmt.Sprintf("/api/v1/software/global/%d", sw.ID)

	var cached dynVersions
	s.must(200, "GET", base+"/dynamic-versions", nil, &cached)
	if len(cached.Versions) != 0 || cached.FetchedAt != "" {
		t.Fatalf("before any run: %+v", cached)
	}
	var got dynVersions
	s.must(200, "POST", base+"/dynamic-versions", nil, &got)
	if got.list() != "1.10.2,1.9.0,1.2" {
		t.Fatalf("versions %q, want 1.10.2,1.9.0,1.2 (newest first)", got.list())
	}
	if v := got.Versions[0]; v.URL != "https://downloads.example/tool-1.10.2.msi" || v.FileName != "tool-1.10.2.msi" || v.Architecture != "X64" {
		t.Errorf("newest version %+v", v)
	}
	if v := got.Versions[2]; v.FileName != "tool-1.2.msi" {
		t.Errorf("oldest version's file name %q, want tool-1.2.msi", v.FileName)
	}
	s.must(200, "GET", base+"/dynamic-versions", nil, &cached)
	if cached.list() != got.list() || cached.FetchedAt == "" {
		t.Fatalf("cached %+v, want the fetched versions with a time", cached)
	}
	var rec map[string]any
	s.must(200, "GET", base, nil, &rec)
	if rec["dynamicVersionsScript"] != threeVersions || rec["dynamicVersionsFetchedAt"] == nil {
		t.Fatalf("GET software: %v", rec)
	}
	s.must(404, "GET", fmt.Sprintf("/api/v1/software/local/%d", sw.ID), nil, nil)
	s.must(404, "GET", fmt.Sprintf("/api/v1/software/other/%d/dynamic-versions", sw.ID), nil, nil)

	// Scripts refused at creation name the field and the line.
	for _, tc := range []struct {
		name, script, field, want string
	}{
		{"does not parse", "New-DynamicVersion -Version 1.0\nif ($x {\n", "dynamicVersionsScript", "line 2"},
		{"no detection script", "", "detectionScript", "is required"},
	} {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			body := map[string]any{"name": "Bad", "detectionScript": "$null", "dynamicVersionsScript": tc.script}
			if tc.script == "" {
				body["detectionScript"] = ""
			}
			r := s.do("POST", "/api/v1/software", body)
			if r.status != 422 || !strings.Contains(string(r.body), `"field":"`+tc.field+`"`) || !strings.Contains(string(r.body), tc.want) {
				t.Fatalf("status %d, body %s; want 422 naming %s and %q", r.status, r.body, tc.field, tc.want)
			}
		})
	}

	// Scripts that run but give no usable versions.
	for _, tc := range []struct {
		name, script string
		status       int
		want         []string
	}{
		{"throws", "Write-Host 'asking the vendor'\n\nthrow 'vendor API said 503'\n", 502, []string{"dynamic-versions.ps1:3", "vendor API said 503"}},
		{"returns nothing", "Write-Host 'nothing today'\n", 502, []string{"returned no versions"}},
		{"bad version text", "@{ Versions = @(@{ Version = '1.0'; Url = 'https://x.example/a.msi' }, @{ Version = 'latest'; Url = 'https://x.example/b.msi' }) }\n", 502, []string{`version 2 of 2: \"latest\" is not a version`}},
	} {
		t.Run("fails/"+tc.name, func(t *testing.T) {
			var bad struct{ ID int64 }
			s.must(201, "POST", "/api/v1/software", map[string]any{"name": "Bad " + tc.name, "detectionScript": "$null", "dynamicVersionsScript": tc.script}, &bad)
			r := s.do("POST", fmt.Sprintf("/api/v1/software/local/%d/dynamic-versions", bad.ID), nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.status, r.body)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(r.body), w) {
					t.Errorf("body %s lacks %q", r.body, w)
				}
			}
		})
	}
	// The server still answers after the failures.
	s.must(200, "POST", base+"/dynamic-versions", nil, &got)

	// Software without the script.
	var plain struct{ ID int64 }
	s.must(201, "POST", "/api/v1/software", map[string]any{"name": "Plain", "detectionScript": "$null"}, &plain)
	if r := s.do("POST", fmt.Sprintf("/api/v1/software/local/%d/dynamic-versions", plain.ID), nil); r.status != 422 || !strings.Contains(string(r.body), "dynamicVersionsScript") {
		t.Fatalf("no script: status %d, body %s", r.status, r.body)
	}

	// Update: a broken script is refused naming its line; a new script drops the cache.
	upd := map[string]any{"name": "Tool", "scope": "global", "detectionScript": "$null", "dynamicVersionsScript": "New-DynamicVersion -Version 3.0 -Uri 'https://downloads.example/tool-3.0.msi'\n'unclosed"}
	if r := s.do("PUT", base, upd); r.status != 422 || !strings.Contains(string(r.body), "line 2") {
		t.Fatalf("PUT with a broken script: status %d, body %s", r.status, r.body)
	}
	upd["dynamicVersionsScript"] = "New-DynamicVersion -Version 3.0 -Uri 'https://downloads.example/tool-3.0.msi'"
	s.must(200, "PUT", base, upd, nil)
	s.must(200, "GET", base+"/dynamic-versions", nil, &cached)
	if len(cached.Versions) != 0 {
		t.Fatalf("after the script changed the cache still has %q", cached.list())
	}
	s.must(200, "POST", base+"/dynamic-versions", nil, &got)
	if got.list() != "3" && got.list() != "3.0" {
		t.Fatalf("after update: %q", got.list())
	}
}

// fakeGitHub serves a GitHub Enterprise releases API for owner/tool at /api/v3 with three
// releases listed out of order (and a draft, which Get-DynamicVersionsFromGitHubUrl skips).
func fakeGitHub(t *testing.T) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v3/repos/owner/tool/releases" {
			http.NotFound(w, r)
			return
		}
		rel := func(tag string, draft bool) map[string]any {
			name := "tool-" + tag + "-x64.msi"
			return map[string]any{"tag_name": "v" + tag, "draft": draft, "prerelease": false,
				"assets": []map[string]any{{"name": name, "browser_download_url": srv.URL + "/owner/tool/releases/download/v" + tag + "/" + name}}}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode([]map[string]any{rel("2.4.0", false), rel("2.10.1", false), rel("9.9.9", true), rel("2.9.3", false)})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestDynamicVersionSession runs maintenance on a real agent for software whose versions come
// from a (fake) vendor GitHub through Get-DynamicVersionsFromGitHubUrl: LatestVersion installs
// the newest, and the install script receives its URL and file name; a computer with an older
// version gets an upgrade; a throwing dynamic versions script fails the session at resolution
// naming the line.
func TestDynamicVersionSession(t *testing.T) {
	gh := fakeGitHub(t)
	s := newServerWith(t, lazyPool(t), Options{})
	var tenant struct{ ID int64 }
	s.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "Contoso"}, &tenant)
	agents := enrollAgents(t, s, tenant.ID, 2, true)
	fresh, old := agents[0], agents[1]
	if err := os.WriteFile(filepath.Join(old.drive, "tool.txt"), []byte("2.4.0\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	install := `Set-Content -Path 'C:\tool.txt' -Value $DisplayVersion
Set-Content -Path 'C:\tool-source.txt' -Value ("{0}|{1}|{2}|{3}" -f $URL, $InstallerFile, $DynamicVersion.Version, $InstallerUrl)`
	body := map[string]any{"name": "Tool", "scriptContext": "computer",
		"detectionScript": `if (Test-Path 'C:\tool.txt') { Get-Content 'C:\tool.txt' -TotalCount 1 }`,
		"installScript":   install,
		"dynamicVersionsScript": `param()
$releases = '` + gh.URL + `/owner/tool/releases'
(Get-DynamicVersionsFromGitHubUrl -GitHubReleasesUrl $releases -VersionsPattern 'tool-(?<Version>[\d\.]+)-x64\.msi').Versions
`}
	var sw struct{ ID int64 }
	s.must(201, "POST", "/api/v1/software", body, &sw)
	newest := "2.10.1"
	wantURL := gh.URL + "/owner/tool/releases/download/v2.10.1/tool-2.10.1-x64.msi"

	for _, tc := range []struct {
		name   string
		agent  *testAgent
		action string
	}{
		{"not installed", fresh, "install"},
		{"older installed", old, "upgrade"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			end, log := s.follow(s.runSessions(map[string]any{"skipBackgroundJob": true, "computers": computersBody(tc.agent.id),
				"maintenanceParams": map[string]any{"maintenanceIdentifier": fmt.Sprint(sw.ID), "desiredSoftwareState": 4}})[0], nil)
			if end.State != "succeeded" || end.Action != tc.action || end.DetectedVersion != newest {
				t.Fatalf("session %+v\n%s", end, log)
			}
			for _, w := range []string{"dynamic versions (newest first): 2.10.1, 2.9.3, 2.4.0", "chosen dynamic version 2.10.1"} {
				if !strings.Contains(log, w) {
					t.Errorf("log lacks %q:\n%s", w, log)
				}
			}
			if got, want := tc.agent.file("tool-source.txt"), wantURL+"|tool-2.10.1-x64.msi|2.10.1|"+wantURL; got != want {
				t.Errorf("the install script saw %q, want %q", got, want)
			}
		})
	}

	// The session fetched them, so the software's cache has them too.
	var cached dynVersions
	s.must(200, "GET", fmt.Sprintf("/api/v1/software/local/%d/dynamic-versions", sw.ID), nil, &cached)
	if cached.list() != "2.10.1,2.9.3,2.4.0" {
		t.Errorf("cached after the sessions: %q", cached.list())
	}

	// A throwing dynamic versions script fails resolution, naming its line; nothing runs.
	body["name"], body["dynamicVersionsScript"] = "Broken", "Write-Host 'asking'\nthrow 'vendor down'\n"
	var broken struct{ ID int64 }
	s.must(201, "POST", "/api/v1/software", body, &broken)
	end, log := s.follow(s.runSessions(map[string]any{"skipBackgroundJob": true, "computers": computersBody(fresh.id),
		"maintenanceParams": map[string]any{"maintenanceIdentifier": fmt.Sprint(broken.ID), "desiredSoftwareState": 4}})[0], nil)
	if end.State != "failed" || !strings.Contains(end.Error, "dynamic-versions.ps1:2") || !strings.Contains(end.Error, "vendor down") || strings.Contains(log, "stage detection") {
		t.Fatalf("broken dynamic versions: %+v\n%s", end, log)
	}
}
