//go:build !windows

package main

import (
	"os"
	"path/filepath"
)

// userModulesDir is pwsh's CurrentUser module folder on Linux and macOS.
func userModulesDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "powershell", "Modules"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".local", "share", "powershell", "Modules"), nil
}

// allUsersModulesDir is pwsh's AllUsers module folder on Linux and macOS.
func allUsersModulesDir() (string, error) { return "/usr/local/share/powershell/Modules", nil }

// sharedCacheDir is the module cache of a root psbridge: a directory the account workers run
// as (workers.user, an agent's -Context User) can read, unlike root's own cache.
func sharedCacheDir() (string, bool) {
	if os.Geteuid() != 0 {
		return "", false
	}
	return "/var/cache/psbridge", true
}
