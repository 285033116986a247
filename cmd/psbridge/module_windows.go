//go:build windows

package main

import (
	"errors"
	"fmt"
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

// sharedCacheDir is the module cache of a psbridge running as LocalSystem (the agent's
// service): %ProgramData%\psbridge\cache, which the logged-on user's -Context User worker
// can read; LocalSystem's own cache (in C:\Windows\System32\config\systemprofile) is closed
// to users. The folder gets an access list of its own: the default one of ProgramData lets
// every user add files, which a LocalSystem process must never load.
func sharedCacheDir() (string, bool) {
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil || !tu.User.Sid.IsWellKnown(windows.WinLocalSystemSid) {
		return "", false
	}
	pd, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0)
	if err != nil {
		return "", false
	}
	top := filepath.Join(pd, "psbridge")
	if err := secureSharedDir(top); err != nil {
		fmt.Fprintf(os.Stderr, "psbridge: %v; keeping the module in LocalSystem's own cache, which -Context User workers cannot read\n", err)
		return "", false
	}
	return filepath.Join(top, "cache"), true
}

// sharedDirSDDL makes LocalSystem the owner (a user who created the folder first would keep
// the right to change its access list) and gives LocalSystem and Administrators full control
// and Users read and execute, inherited by everything below, and nothing inherited from above.
const sharedDirSDDL = "O:SYD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)"

// secureSharedDir creates dir and sets its owner and access list to sharedDirSDDL.
func secureSharedDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("shared module cache: %w", err)
	}
	sd, err := windows.SecurityDescriptorFromString(sharedDirSDDL)
	if err != nil {
		return fmt.Errorf("shared module cache: %w", err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return fmt.Errorf("shared module cache: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("shared module cache: %w", err)
	}
	if err := windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION,
		owner, nil, dacl, nil); err != nil {
		return fmt.Errorf("shared module cache: set the access list of %s: %w", dir, err)
	}
	return nil
}
