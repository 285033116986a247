package bridge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
  - or point psbridge at a pwsh:  --pwsh /path/to/pwsh  or  PSBRIDGE_PWSH=/path/to/pwsh`

// FindPwsh locates the pwsh binary: the explicit path if given, then $PSBRIDGE_PWSH, then PATH,
// then the .NET global and local tool folders and the usual install locations. The error lists
// every place it looked and how to install pwsh.
func FindPwsh(explicit string) (string, error) {
	var looked []string
	try := func(p string) (string, bool) {
		if p == "" {
			return "", false
		}
		looked = append(looked, p)
		st, err := os.Stat(p)
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
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
	var candidates []string
	if d := ManagedPwshDir(); d != "" {
		candidates = append(candidates, filepath.Join(d, "pwsh"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		candidates = append(candidates, filepath.Join(home, ".dotnet", "tools", "pwsh"))
	}
	if wd, err := os.Getwd(); err == nil {
		// Where .ci/run and the README's test command install it (dotnet tool install --tool-path .tools/pwsh).
		for dir := wd; ; dir = filepath.Dir(dir) {
			candidates = append(candidates, filepath.Join(dir, ".tools", "pwsh", "pwsh"))
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	candidates = append(candidates, "/opt/microsoft/powershell/7/pwsh", "/usr/local/bin/pwsh", "/usr/bin/pwsh")
	for _, c := range candidates {
		if p, ok := try(c); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("pwsh not found (looked in: %s)\n%s", strings.Join(looked, ", "), PwshInstallHelp)
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
	real, err := filepath.EvalSymlinks(pwsh)
	if err != nil {
		return pwsh, nil
	}
	dir := filepath.Dir(real)
	dlls, _ := filepath.Glob(filepath.Join(dir, ".store", "powershell", "*", "powershell", "*", "tools", "*", "any", "unix", "pwsh.dll"))
	if len(dlls) == 0 {
		dlls, _ = filepath.Glob(filepath.Join(dir, ".store", "powershell", "*", "powershell", "*", "tools", "*", "any", "pwsh.dll"))
	}
	if len(dlls) != 1 {
		return pwsh, nil // none, or several versions: let the launcher choose
	}
	dotnet := findDotnetHost()
	if dotnet == "" {
		return pwsh, nil
	}
	return dotnet, []string{dlls[0]}
}

// findDotnetHost finds the dotnet host the way the .NET tool launcher does: DOTNET_ROOT,
// then PATH, then the usual install locations.
func findDotnetHost() string {
	var candidates []string
	if root := os.Getenv("DOTNET_ROOT"); root != "" {
		candidates = append(candidates, filepath.Join(root, "dotnet"))
	}
	if p, err := exec.LookPath("dotnet"); err == nil {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "/usr/share/dotnet/dotnet", "/usr/lib/dotnet/dotnet", "/usr/local/share/dotnet/dotnet")
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			if abs, err := filepath.EvalSymlinks(c); err == nil {
				return abs
			}
			return c
		}
	}
	return ""
}
