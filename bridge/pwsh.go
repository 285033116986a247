package bridge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// MinPwshVersion is the oldest pwsh psbridge runs on: ImmyBot runs integrations on 7.4, and
// real scripts use 7.x operators such as ??.
var MinPwshVersion = [3]int{7, 4, 0}

// PwshInstallHelp tells a user how to get pwsh on a machine without it.
const PwshInstallHelp = `Install PowerShell 7.4 or later, then run psbridge again:
  - with the .NET SDK (any OS):   psbridge install-pwsh
                                  (runs: dotnet tool install --tool-path ~/.cache/psbridge/pwsh PowerShell)
                                  or: dotnet tool install --global PowerShell  (lands in ~/.dotnet/tools)
  - Debian/Ubuntu packages:       https://learn.microsoft.com/powershell/scripting/install/installing-powershell-on-linux
  - Windows:                      winget install --id Microsoft.PowerShell
  - macOS (Homebrew):             brew install --cask powershell
  - or point psbridge at a pwsh:  --pwsh /path/to/pwsh  or  PSBRIDGE_PWSH=/path/to/pwsh`

// PwshName is the file name of the pwsh binary on this system ("pwsh.exe" on Windows).
var PwshName = pwshName(runtime.GOOS)

func pwshName(goos string) string {
	if goos == "windows" {
		return "pwsh.exe"
	}
	return "pwsh"
}

// FindPwsh locates the pwsh binary: the explicit path if given, then $PSBRIDGE_PWSH, then PATH,
// then the .NET global and local tool folders and the usual install locations (see
// pwshCandidates). The error lists every place it looked and how to install pwsh.
func FindPwsh(explicit string) (string, error) {
	var looked []string
	try := func(p string) (string, bool) {
		if p == "" {
			return "", false
		}
		looked = append(looked, p)
		st, err := os.Stat(p)
		if err != nil && runtime.GOOS == "windows" && !strings.EqualFold(filepath.Ext(p), ".exe") {
			p += ".exe" // --pwsh C:\tools\pwsh means pwsh.exe
			st, err = os.Stat(p)
		}
		if err != nil || !isExecutable(runtime.GOOS, st) {
			return "", false
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return p, true
		}
		return abs, true
	}
	if explicit != "" {
		if p, ok := try(explicit); ok {
			return p, nil
		}
		return "", fmt.Errorf("pwsh not found at %s (given with --pwsh)\n%s", explicit, PwshInstallHelp)
	}
	if env := os.Getenv("PSBRIDGE_PWSH"); env != "" {
		if p, ok := try(env); ok {
			return p, nil
		}
		return "", fmt.Errorf("pwsh not found at %s (from PSBRIDGE_PWSH)\n%s", env, PwshInstallHelp)
	}
	if p, err := exec.LookPath("pwsh"); err == nil {
		if abs, ok := try(p); ok {
			return abs, nil
		}
	}
	looked = append(looked, "$PATH")
	for _, c := range pwshCandidates(hostSearch()) {
		if p, ok := try(c); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("pwsh not found (looked in: %s)\n%s", strings.Join(looked, ", "), PwshInstallHelp)
}

// isExecutable reports whether st is a file the system can run: on Windows any regular file
// (executability is the .exe name there), elsewhere one with an execute bit.
func isExecutable(goos string, st os.FileInfo) bool {
	if st.IsDir() {
		return false
	}
	return goos == "windows" || st.Mode()&0o111 != 0
}

// pwshSearch is what the list of places pwsh may be installed depends on; FindPwsh fills it
// from this system, tests inject another.
type pwshSearch struct {
	goos    string
	getenv  func(string) string
	home    string // the user's home directory ("" when unknown)
	managed string // ManagedPwshDir
	wd      string // the working directory ("" when unknown)
}

func hostSearch() pwshSearch {
	s := pwshSearch{goos: runtime.GOOS, getenv: os.Getenv, managed: ManagedPwshDir()}
	if home, err := os.UserHomeDir(); err == nil {
		s.home = home
	}
	if wd, err := os.Getwd(); err == nil {
		s.wd = wd
	}
	return s
}

// pwshCandidates lists where pwsh may be installed, in the order FindPwsh tries them after
// PATH: psbridge's own cache, the .NET global tools folder, a .tools/pwsh beside the working
// directory or above it (where .ci/run installs it), then where the system's packages put it.
func pwshCandidates(s pwshSearch) []string {
	name := pwshName(s.goos)
	join := func(elem ...string) string { return joinPath(s.goos, elem...) }
	var candidates []string
	if s.managed != "" {
		candidates = append(candidates, join(s.managed, name))
	}
	home := s.home
	if s.goos == "windows" && s.getenv("USERPROFILE") != "" {
		home = s.getenv("USERPROFILE")
	}
	if home != "" {
		candidates = append(candidates, join(home, ".dotnet", "tools", name))
	}
	if s.wd != "" {
		// Where .ci/run and the README's test command install it (dotnet tool install --tool-path .tools/pwsh).
		for dir := s.wd; ; {
			candidates = append(candidates, join(dir, ".tools", "pwsh", name))
			parent := parentDir(s.goos, dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	switch s.goos {
	case "windows":
		programFiles := s.getenv("ProgramFiles")
		if programFiles == "" {
			programFiles = `C:\Program Files`
		}
		candidates = append(candidates, join(programFiles, "PowerShell", "7", name))
		if w := s.getenv("ProgramW6432"); w != "" && !strings.EqualFold(w, programFiles) {
			candidates = append(candidates, join(w, "PowerShell", "7", name))
		}
	case "darwin":
		// The .pkg installer (linked from /usr/local/bin), Homebrew on Apple silicon, and the
		// .pkg's own folder.
		candidates = append(candidates, "/usr/local/bin/pwsh", "/opt/homebrew/bin/pwsh", "/usr/local/microsoft/powershell/7/pwsh")
	default:
		candidates = append(candidates, "/opt/microsoft/powershell/7/pwsh", "/usr/local/bin/pwsh", "/usr/bin/pwsh")
	}
	return candidates
}

// joinPath joins path elements with goos's separator: path.Join for Unix systems,
// filepath.Join for Windows on Windows, and for Windows paths elsewhere (tests) a plain join
// with '\'.
func joinPath(goos string, elem ...string) string {
	if goos != "windows" {
		return path.Join(elem...)
	}
	if runtime.GOOS == "windows" {
		return filepath.Join(elem...)
	}
	var parts []string
	for i, e := range elem {
		if i > 0 {
			e = strings.TrimLeft(e, `\/`)
		}
		if i < len(elem)-1 {
			e = strings.TrimRight(e, `\/`)
		}
		if e != "" {
			parts = append(parts, e)
		}
	}
	return strings.Join(parts, `\`)
}

// parentDir is filepath.Dir for goos's paths (see joinPath); the root is its own parent.
func parentDir(goos, dir string) string {
	if goos != "windows" {
		return path.Dir(dir)
	}
	if runtime.GOOS == "windows" {
		return filepath.Dir(dir)
	}
	i := strings.LastIndexAny(dir, `\/`)
	switch {
	case i < 0:
		return dir
	case i == 0:
		return dir[:1]
	case dir[i-1] == ':':
		return dir[:i+1] // C:\
	}
	return dir[:i]
}

// ManagedPwshDir is where 'psbridge install-pwsh' installs pwsh (a .NET tool path inside the
// user's cache directory; for root, /var/cache/psbridge/pwsh, which the account workers run as
// can read); FindPwsh looks there too. Empty when there is no cache directory.
func ManagedPwshDir() string {
	if os.Geteuid() == 0 {
		return "/var/cache/psbridge/pwsh"
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "psbridge", "pwsh")
}

// PwshVersion runs pwsh once and returns its version, e.g. [7 6 9].
func PwshVersion(ctx context.Context, pwsh string) ([3]int, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, pwsh, "-NoLogo", "-NoProfile", "-NonInteractive", "-Command",
		"$PSVersionTable.PSVersion.ToString()").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return [3]int{}, fmt.Errorf("run %s: %w: %s", pwsh, err, strings.TrimSpace(string(ee.Stderr)))
		}
		return [3]int{}, fmt.Errorf("run %s: %w", pwsh, err)
	}
	return parseVersion(strings.TrimSpace(string(out)))
}

func parseVersion(s string) ([3]int, error) {
	var v [3]int
	core := s
	if i := strings.IndexAny(core, "-+ "); i >= 0 {
		core = core[:i]
	}
	parts := strings.Split(core, ".")
	if len(parts) < 2 {
		return v, fmt.Errorf("unrecognised pwsh version %q", s)
	}
	for i := 0; i < 3 && i < len(parts); i++ {
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return v, fmt.Errorf("unrecognised pwsh version %q", s)
		}
		v[i] = n
	}
	return v, nil
}

// CheckPwshVersion returns an error naming both versions when v is older than MinPwshVersion.
func CheckPwshVersion(v [3]int) error {
	for i := 0; i < 3; i++ {
		if v[i] > MinPwshVersion[i] {
			return nil
		}
		if v[i] < MinPwshVersion[i] {
			return fmt.Errorf("pwsh %d.%d.%d is too old: psbridge needs %d.%d.%d or later\n%s",
				v[0], v[1], v[2], MinPwshVersion[0], MinPwshVersion[1], MinPwshVersion[2], PwshInstallHelp)
		}
	}
	return nil
}

// pwshCommand returns the program and leading arguments that start pwsh. A pwsh installed as
// a .NET tool is a small launcher that starts `dotnet pwsh.dll` as a child process: a second
// process per worker (about 30 MiB) whose child would outlive a killed launcher. When the
// launcher's tool store and a dotnet host are found, psbridge runs `dotnet pwsh.dll` itself.
func pwshCommand(pwsh string) (string, []string) {
	dll := toolDLL(pwsh)
	if dll == "" {
		return pwsh, nil
	}
	dotnet := findDotnetHost()
	if dotnet == "" {
		return pwsh, nil
	}
	return dotnet, []string{dll}
}

// toolDLL returns pwsh.dll in the tool store of a pwsh .NET tool launcher, or "" when pwsh is
// no launcher (or its store holds several versions: then the launcher chooses).
func toolDLL(pwsh string) string {
	real, err := filepath.EvalSymlinks(pwsh)
	if err != nil {
		return ""
	}
	var dlls []string
	for _, pattern := range toolDLLPatterns(runtime.GOOS, filepath.Dir(real)) {
		if dlls, _ = filepath.Glob(pattern); len(dlls) > 0 {
			break
		}
	}
	if len(dlls) != 1 {
		return ""
	}
	return dlls[0]
}

// PwshAppDir returns the folder of pwsh's own assemblies (pwsh.dll and
// System.Management.Automation.dll): the tool store's folder for a .NET tool launcher,
// otherwise the folder of pwsh itself (symbolic links followed).
func PwshAppDir(pwsh string) string {
	if dll := toolDLL(pwsh); dll != "" {
		return filepath.Dir(dll)
	}
	if real, err := filepath.EvalSymlinks(pwsh); err == nil {
		return filepath.Dir(real)
	}
	return filepath.Dir(pwsh)
}

// toolDLLPatterns are the globs, in order, that find pwsh.dll in the tool store beside a .NET
// tool launcher in dir: the package keeps one build per OS family ("unix", "win") below "any".
func toolDLLPatterns(goos, dir string) []string {
	family := "unix"
	if goos == "windows" {
		family = "win"
	}
	base := []string{dir, ".store", "powershell", "*", "powershell", "*", "tools", "*", "any"}
	return []string{
		joinPath(goos, append(base, family, "pwsh.dll")...),
		joinPath(goos, append(base, "pwsh.dll")...),
	}
}

// findDotnetHost finds the dotnet host the way the .NET tool launcher does: DOTNET_ROOT,
// then PATH, then the usual install locations.
func findDotnetHost() string {
	var candidates []string
	if root := os.Getenv("DOTNET_ROOT"); root != "" {
		candidates = append(candidates, filepath.Join(root, dotnetName(runtime.GOOS)))
	}
	if p, err := exec.LookPath("dotnet"); err == nil {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, dotnetLocations(runtime.GOOS, os.Getenv)...)
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && isExecutable(runtime.GOOS, st) {
			if abs, err := filepath.EvalSymlinks(c); err == nil {
				return abs
			}
			return c
		}
	}
	return ""
}

func dotnetName(goos string) string {
	if goos == "windows" {
		return "dotnet.exe"
	}
	return "dotnet"
}

// dotnetLocations are where the .NET installers put the dotnet host.
func dotnetLocations(goos string, getenv func(string) string) []string {
	switch goos {
	case "windows":
		programFiles := getenv("ProgramFiles")
		if programFiles == "" {
			programFiles = `C:\Program Files`
		}
		return []string{joinPath(goos, programFiles, "dotnet", "dotnet.exe")}
	case "darwin":
		return []string{"/usr/local/share/dotnet/dotnet", "/usr/local/bin/dotnet", "/opt/homebrew/bin/dotnet"}
	}
	return []string{"/usr/share/dotnet/dotnet", "/usr/lib/dotnet/dotnet", "/usr/local/share/dotnet/dotnet"}
}
