package bridge

import (
	"io/fs"
	"reflect"
	"testing"
	"time"
)

// env is a fake environment for pwshSearch.getenv.
func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestPwshCandidatesPerOS(t *testing.T) {
	cases := []struct {
		name string
		s    pwshSearch
		want []string
	}{
		{"linux", pwshSearch{goos: "linux", getenv: env(), home: "/home/ann", managed: "/home/ann/.cache/psbridge/pwsh", wd: "/src/p"}, []string{
			"/home/ann/.cache/psbridge/pwsh/pwsh",
			"/home/ann/.dotnet/tools/pwsh",
			"/src/p/.tools/pwsh/pwsh", "/src/.tools/pwsh/pwsh", "/.tools/pwsh/pwsh",
			"/opt/microsoft/powershell/7/pwsh", "/usr/local/bin/pwsh", "/usr/bin/pwsh",
		}},
		{"linux as root, no home or working directory", pwshSearch{goos: "linux", getenv: env(), managed: "/var/cache/psbridge/pwsh"}, []string{
			"/var/cache/psbridge/pwsh/pwsh",
			"/opt/microsoft/powershell/7/pwsh", "/usr/local/bin/pwsh", "/usr/bin/pwsh",
		}},
		{"darwin", pwshSearch{goos: "darwin", getenv: env(), home: "/Users/ann", managed: "/Users/ann/Library/Caches/psbridge/pwsh", wd: "/w"}, []string{
			"/Users/ann/Library/Caches/psbridge/pwsh/pwsh",
			"/Users/ann/.dotnet/tools/pwsh",
			"/w/.tools/pwsh/pwsh", "/.tools/pwsh/pwsh",
			"/usr/local/bin/pwsh", "/opt/homebrew/bin/pwsh", "/usr/local/microsoft/powershell/7/pwsh",
		}},
		{"windows", pwshSearch{
			goos:    "windows",
			getenv:  env("USERPROFILE", `C:\Users\ann`, "ProgramFiles", `D:\Programs`),
			home:    `C:\Users\ann`,
			managed: `C:\Users\ann\AppData\Local\psbridge\pwsh`,
			wd:      `C:\src\proj`,
		}, []string{
			`C:\Users\ann\AppData\Local\psbridge\pwsh\pwsh.exe`,
			`C:\Users\ann\.dotnet\tools\pwsh.exe`,
			`C:\src\proj\.tools\pwsh\pwsh.exe`, `C:\src\.tools\pwsh\pwsh.exe`, `C:\.tools\pwsh\pwsh.exe`,
			`D:\Programs\PowerShell\7\pwsh.exe`,
		}},
		{"windows: %USERPROFILE% wins, %ProgramFiles% defaults, the native Program Files too", pwshSearch{
			goos:   "windows",
			getenv: env("USERPROFILE", `E:\profiles\bob`, "ProgramW6432", `C:\Program Files (Arm)`),
			home:   `C:\elsewhere`,
		}, []string{
			`E:\profiles\bob\.dotnet\tools\pwsh.exe`,
			`C:\Program Files\PowerShell\7\pwsh.exe`,
			`C:\Program Files (Arm)\PowerShell\7\pwsh.exe`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := pwshCandidates(tc.s); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("pwshCandidates =\n  %q\nwant\n  %q", got, tc.want)
			}
		})
	}
}

func TestPwshAndDotnetNames(t *testing.T) {
	for goos, want := range map[string][2]string{
		"linux":   {"pwsh", "dotnet"},
		"darwin":  {"pwsh", "dotnet"},
		"windows": {"pwsh.exe", "dotnet.exe"},
	} {
		if got := [2]string{pwshName(goos), dotnetName(goos)}; got != want {
			t.Errorf("%s: %q, want %q", goos, got, want)
		}
	}
}

func TestToolDLLPatternsPerOS(t *testing.T) {
	cases := []struct {
		goos, dir string
		want      []string
	}{
		{"linux", "/root/.dotnet/tools", []string{
			"/root/.dotnet/tools/.store/powershell/*/powershell/*/tools/*/any/unix/pwsh.dll",
			"/root/.dotnet/tools/.store/powershell/*/powershell/*/tools/*/any/pwsh.dll",
		}},
		{"darwin", "/Users/ann/.dotnet/tools", []string{
			"/Users/ann/.dotnet/tools/.store/powershell/*/powershell/*/tools/*/any/unix/pwsh.dll",
			"/Users/ann/.dotnet/tools/.store/powershell/*/powershell/*/tools/*/any/pwsh.dll",
		}},
		{"windows", `C:\Users\ann\.dotnet\tools`, []string{
			`C:\Users\ann\.dotnet\tools\.store\powershell\*\powershell\*\tools\*\any\win\pwsh.dll`,
			`C:\Users\ann\.dotnet\tools\.store\powershell\*\powershell\*\tools\*\any\pwsh.dll`,
		}},
	}
	for _, tc := range cases {
		if got := toolDLLPatterns(tc.goos, tc.dir); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: toolDLLPatterns =\n  %q\nwant\n  %q", tc.goos, got, tc.want)
		}
	}
}

func TestDotnetLocationsPerOS(t *testing.T) {
	cases := []struct {
		goos   string
		getenv func(string) string
		want   []string
	}{
		{"linux", env(), []string{"/usr/share/dotnet/dotnet", "/usr/lib/dotnet/dotnet", "/usr/local/share/dotnet/dotnet"}},
		{"darwin", env(), []string{"/usr/local/share/dotnet/dotnet", "/usr/local/bin/dotnet", "/opt/homebrew/bin/dotnet"}},
		{"windows", env(), []string{`C:\Program Files\dotnet\dotnet.exe`}},
		{"windows", env("ProgramFiles", `D:\P`), []string{`D:\P\dotnet\dotnet.exe`}},
	}
	for _, tc := range cases {
		if got := dotnetLocations(tc.goos, tc.getenv); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: dotnetLocations = %q, want %q", tc.goos, got, tc.want)
		}
	}
}

func TestWindowsPathHelpers(t *testing.T) {
	for _, tc := range []struct{ dir, parent string }{
		{`C:\a\b`, `C:\a`},
		{`C:\a`, `C:\`},
		{`C:\`, `C:\`},
		{`C:\a\b\`, `C:\a\b`},
	} {
		if got := parentDir("windows", tc.dir); got != tc.parent {
			t.Errorf("parentDir(%q) = %q, want %q", tc.dir, got, tc.parent)
		}
	}
	if got := joinPath("windows", `C:\`, `x\`, "y"); got != `C:\x\y` {
		t.Errorf("joinPath = %q", got)
	}
}

// fileInfo is a fake os.FileInfo for isExecutable.
type fileInfo struct {
	mode  uint32
	isDir bool
}

func (f fileInfo) Name() string { return "f" }
func (f fileInfo) Size() int64  { return 0 }
func (f fileInfo) Mode() fs.FileMode {
	if f.isDir {
		return fs.FileMode(f.mode) | fs.ModeDir
	}
	return fs.FileMode(f.mode)
}
func (f fileInfo) ModTime() time.Time { return time.Time{} }
func (f fileInfo) IsDir() bool        { return f.isDir }
func (f fileInfo) Sys() any           { return nil }

func TestIsExecutablePerOS(t *testing.T) {
	cases := []struct {
		goos string
		fi   fileInfo
		want bool
	}{
		{"linux", fileInfo{mode: 0o755}, true},
		{"linux", fileInfo{mode: 0o644}, false},
		{"darwin", fileInfo{mode: 0o700}, true},
		{"windows", fileInfo{mode: 0o666}, true}, // Windows has no execute bits; .exe decides
		{"windows", fileInfo{mode: 0o777, isDir: true}, false},
		{"linux", fileInfo{mode: 0o777, isDir: true}, false},
	}
	for _, tc := range cases {
		if got := isExecutable(tc.goos, tc.fi); got != tc.want {
			t.Errorf("%s %+v: isExecutable = %v, want %v", tc.goos, tc.fi, got, tc.want)
		}
	}
}
