//go:build windows

package main

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// userModulesDir is pwsh's CurrentUser module folder on Windows: PowerShell\Modules in the
// user's Documents folder (wherever it was redirected to).
func userModulesDir() (string, error) {
	docs, err := windows.KnownFolderPath(windows.FOLDERID_Documents, 0)
	if err != nil {
		return "", err
	}
	return filepath.Join(docs, "PowerShell", "Modules"), nil
}

// allUsersModulesDir is pwsh's AllUsers module folder on Windows.
func allUsersModulesDir() (string, error) {
	pf := os.Getenv("ProgramFiles")
	if pf == "" {
		return "", errors.New("ProgramFiles is not set")
	}
	return filepath.Join(pf, "PowerShell", "Modules"), nil
}
