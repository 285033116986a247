//go:build windows

package agent

import (
	"errors"
	"fmt"
	"strconv"
	"unsafe"

	"golang.org/x/sys/windows"
)

// noConsoleSession is what WTSGetActiveConsoleSessionId returns while no session is attached
// to the console (during a session switch).
const noConsoleSession = 0xFFFFFFFF

// planUser plans a -Context User run on Windows: the user is whoever is logged on to the
// console session (the inventory's LastLoggedOnUser may be stale; loggedOn is not used). An
// agent running as LocalSystem (the Windows service) starts pwsh with that logon's token; an
// agent running as another account can only run blocks of its own account's user.
func planUser(computer, _ string) (runAsPlan, error) {
	self, isSystem, err := processAccount()
	if err != nil {
		return runAsPlan{}, err
	}
	return planConsoleRunAs(computer, self, isSystem, activeConsoleUser())
}

// processAccount is the account this process runs as (name and SID) and whether it is
// LocalSystem.
func processAccount() (account, bool, error) {
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return account{}, false, fmt.Errorf("read the agent's own account: %w", err)
	}
	sid := tu.User.Sid
	return account{Name: sidName(sid), ID: sid.String()}, sid.IsWellKnown(windows.WinLocalSystemSid), nil
}

// activeConsoleUser is the user of the session attached to the console (Name "" when none).
func activeConsoleUser() consoleUser {
	session := windows.WTSGetActiveConsoleSessionId()
	if session == noConsoleSession {
		return consoleUser{}
	}
	c := consoleUser{Session: session}
	user, err1 := sessionString(session, wtsUserName)
	domain, err2 := sessionString(session, wtsDomainName)
	if err1 != nil || err2 != nil || user == "" {
		return c // the login screen: nobody on the console
	}
	c.Name = user
	if domain != "" {
		c.Name = domain + `\` + user
	}
	if sid, _, _, err := windows.LookupSID("", c.Name); err == nil {
		c.SID = sid.String()
	}
	return c
}

// WTS_INFO_CLASS values WTSQuerySessionInformationW answers.
const (
	wtsUserName   = 5
	wtsDomainName = 7
)

var procWTSQuerySessionInformation = windows.NewLazySystemDLL("wtsapi32.dll").NewProc("WTSQuerySessionInformationW")

// sessionString asks the terminal services for one string about a session of this computer.
func sessionString(session uint32, class uint32) (string, error) {
	var buf *uint16
	var n uint32
	r, _, err := procWTSQuerySessionInformation.Call(0 /* WTS_CURRENT_SERVER_HANDLE */, uintptr(session),
		uintptr(class), uintptr(unsafe.Pointer(&buf)), uintptr(unsafe.Pointer(&n)))
	if r == 0 {
		return "", fmt.Errorf("WTSQuerySessionInformation: %w", err)
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(buf)))
	return windows.UTF16PtrToString(buf), nil
}

// tokenStatistics is TOKEN_STATISTICS.
type tokenStatistics struct {
	TokenID            windows.LUID
	AuthenticationID   windows.LUID // the logon session
	ExpirationTime     int64
	TokenType          uint32
	ImpersonationLevel uint32
	DynamicCharged     uint32
	DynamicAvailable   uint32
	GroupCount         uint32
	PrivilegeCount     uint32
	ModifiedID         windows.LUID
}

// openLoggedOnUser takes the token of the console session's logon (WTSQueryUserToken, which
// only LocalSystem may call). The key names the logon (the user's SID and logon id), so a user
// who logged off and on again gets a new worker: the old token's logon is gone.
func openLoggedOnUser(computer string, plan runAsPlan) (LoggedOnUser, string, error) {
	var t windows.Token
	if err := windows.WTSQueryUserToken(plan.Session, &t); err != nil {
		if errors.Is(err, windows.ERROR_NO_TOKEN) {
			return LoggedOnUser{}, "", &noUserError{Where: computer + "'s console"}
		}
		return LoggedOnUser{}, "", fmt.Errorf("take the token of %s's logon (console session %d): %w", plan.User, plan.Session, err)
	}
	tu, err := t.GetTokenUser()
	if err != nil {
		t.Close()
		return LoggedOnUser{}, "", fmt.Errorf("read the token of %s's logon: %w", plan.User, err)
	}
	var st tokenStatistics
	var n uint32
	if err := windows.GetTokenInformation(t, windows.TokenStatistics, (*byte)(unsafe.Pointer(&st)), uint32(unsafe.Sizeof(st)), &n); err != nil {
		t.Close()
		return LoggedOnUser{}, "", fmt.Errorf("read the token of %s's logon: %w", plan.User, err)
	}
	// The token's user is the one the worker will be, should the console have changed hands
	// since planUser looked.
	sid := tu.User.Sid
	key := sid.String() + "/" + strconv.FormatUint(uint64(uint32(st.AuthenticationID.HighPart))<<32|uint64(st.AuthenticationID.LowPart), 16)
	return LoggedOnUser{Name: sidName(sid), Token: uintptr(t)}, key, nil
}

// closeLoggedOnUser closes the token openLoggedOnUser took.
func closeLoggedOnUser(u LoggedOnUser) {
	if u.Token != 0 {
		_ = windows.Token(u.Token).Close()
	}
}

// sidName is DOMAIN\name of sid, or the SID's string when it cannot be looked up.
func sidName(sid *windows.SID) string {
	name, domain, _, err := sid.LookupAccount("")
	if err != nil {
		return sid.String()
	}
	if domain != "" {
		return domain + `\` + name
	}
	return name
}
