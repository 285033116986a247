//go:build windows

package bridge

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"

	"golang.org/x/sys/windows"
)

// adoptToken duplicates Config.Token into a primary token the pool owns (0 for none), so the
// caller may close its own handle and the pool can start workers with it until Close.
func adoptToken(t uintptr) (uintptr, error) {
	if t == 0 {
		return 0, nil
	}
	var dup windows.Token
	if err := windows.DuplicateTokenEx(windows.Token(t), windows.MAXIMUM_ALLOWED, nil,
		windows.SecurityImpersonation, windows.TokenPrimary, &dup); err != nil {
		return 0, fmt.Errorf("bridge: Config.Token: duplicate the access token: %w", err)
	}
	return uintptr(dup), nil
}

// closeToken closes a token adoptToken returned.
func closeToken(t uintptr) {
	if t != 0 {
		_ = windows.Token(t).Close()
	}
}

// runAsToken makes cmd start as the token's user (CreateProcessAsUser through os/exec): its
// environment is the user's own (CreateEnvironmentBlock: USERPROFILE, APPDATA, LOCALAPPDATA,
// TEMP in the user's profile) plus the worker's settings, and the user is granted full
// control of the worker's private directory, its working directory. The process lands in the
// token's session on a window station of its own (os/exec leaves lpDesktop empty): the worker
// can show nothing on the user's desktop.
func runAsToken(cmd *exec.Cmd, dir string, token uintptr, settings []string) error {
	tok := windows.Token(token)
	tu, err := tok.GetTokenUser()
	if err != nil {
		return fmt.Errorf("read the access token's user: %w", err)
	}
	if err := grantDirectory(dir, tu.User.Sid); err != nil {
		return err
	}
	env, err := tok.Environ(false)
	if err != nil {
		return fmt.Errorf("load the environment of %s: %w", accountName(tu.User.Sid), err)
	}
	cmd.Env = append(userEnv(env), settings...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Token: syscall.Token(token)}
	return nil
}

// userEnv drops from a user's environment block what must not come from it: PSBRIDGE_
// variables (the worker's own are appended after).
func userEnv(env []string) []string {
	out := env[:0]
	for _, kv := range env {
		if !strings.HasPrefix(strings.ToUpper(kv), "PSBRIDGE_") {
			out = append(out, kv)
		}
	}
	return out
}

// grantDirectory adds to dir's access list an inherited full-control entry for sid: the
// workers' directories are made by this process (LocalSystem, under its own TEMP), which
// the user could not otherwise open.
func grantDirectory(dir string, sid *windows.SID) error {
	sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("read the access list of %s: %w", dir, err)
	}
	old, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("read the access list of %s: %w", dir, err)
	}
	acl, err := windows.ACLFromEntries([]windows.EXPLICIT_ACCESS{{
		AccessPermissions: windows.GENERIC_ALL,
		AccessMode:        windows.GRANT_ACCESS,
		Inheritance:       windows.SUB_CONTAINERS_AND_OBJECTS_INHERIT,
		Trustee: windows.TRUSTEE{
			TrusteeForm:  windows.TRUSTEE_IS_SID,
			TrusteeType:  windows.TRUSTEE_IS_USER,
			TrusteeValue: windows.TrusteeValueFromSID(sid),
		},
	}}, old)
	if err != nil {
		return fmt.Errorf("grant %s access to %s: %w", accountName(sid), dir, err)
	}
	if err := windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION,
		nil, nil, acl, nil); err != nil {
		return fmt.Errorf("grant %s access to %s: %w", accountName(sid), dir, err)
	}
	return nil
}

// accountName is DOMAIN\name of sid for messages, or the SID's string when it cannot be looked up.
func accountName(sid *windows.SID) string {
	if name, domain, _, err := sid.LookupAccount(""); err == nil {
		if domain != "" {
			return domain + `\` + name
		}
		return name
	}
	return sid.String()
}
