package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/psbridge/psbridge/bridge"
)

// account is a user account as the agent sees it: a name and a numeric id (a SID on Windows).
type account struct {
	Name, ID string
}

// runAsPlan says how a -Context User run starts: in the agent's own pool (the logged-on user
// is the agent's own account) or in a pool of the logged-on user's.
type runAsPlan struct {
	OwnPool bool
	User    string
	// Session is the Windows console session the user is logged on to (0 elsewhere).
	Session uint32
}

// LoggedOnUser is the account Config.UserPool starts a -Context User worker as.
type LoggedOnUser struct {
	// Name is the account's name (DOMAIN\name on Windows).
	Name string
	// Token, on Windows, is a primary access token of the user's console logon, for
	// bridge.Config.Token; the agent closes it once UserPool returns (the pool keeps its own
	// duplicate). 0 on other systems, which switch accounts by Name (bridge.Config.User).
	Token uintptr
}

// noUserError means nobody is logged on to the computer (or its console): ImmyBot skips a
// -Context User block then rather than failing it, so the agent reports it with its own error
// kind (wire.ErrNoUser) and the server turns it into a warning.
type noUserError struct {
	// Where names what nobody is logged on to: the computer, or on Windows its console.
	Where string
}

func (e *noUserError) Error() string { return "no user is logged on to " + e.Where }

// consoleUser is who is logged on to a Windows console session: the account's name and SID
// ("" when the session has no user).
type consoleUser struct {
	Session   uint32
	Name, SID string
}

// planConsoleRunAs decides where a -Context User block runs on a Windows computer, given the
// account the agent runs as (name and SID), whether that is LocalSystem (the only account that
// may take a session's token, WTSQueryUserToken) and the console session's user. Its errors
// say why the block cannot run as the user.
func planConsoleRunAs(computer string, self account, isSystem bool, console consoleUser) (runAsPlan, error) {
	if strings.TrimSpace(console.Name) == "" {
		return runAsPlan{}, &noUserError{Where: computer + "'s console"}
	}
	if (console.SID != "" && console.SID == self.ID) || strings.EqualFold(console.Name, self.Name) {
		return runAsPlan{OwnPool: true}, nil
	}
	if !isSystem {
		return runAsPlan{}, fmt.Errorf("the agent runs as %s, not as LocalSystem: it cannot start a process as the logged-on user (%s); install it as a service (docs/agent.md)", self.Name, console.Name)
	}
	return runAsPlan{User: console.Name, Session: console.Session}, nil
}

// planRunAs decides where a -Context User block runs on computer, given the account the agent
// runs as, whether it may switch accounts (root), the logged-on user and a way to look
// accounts up. Its errors say why the block cannot run as the user.
func planRunAs(computer string, self account, canSwitch bool, loggedOn string, lookup func(string) (account, error)) (runAsPlan, error) {
	loggedOn = strings.TrimSpace(loggedOn)
	if loggedOn == "" {
		return runAsPlan{}, &noUserError{Where: computer}
	}
	if strings.EqualFold(loggedOn, self.Name) || loggedOn == self.ID {
		return runAsPlan{OwnPool: true}, nil
	}
	if !canSwitch {
		return runAsPlan{}, fmt.Errorf("the agent runs as %s and cannot start a process as %s (run the agent as root)", self.Name, loggedOn)
	}
	u, err := lookup(loggedOn)
	if err != nil {
		return runAsPlan{}, fmt.Errorf("the logged-on user %s of %s has no local account: %w", loggedOn, computer, err)
	}
	if u.ID == self.ID {
		return runAsPlan{OwnPool: true}, nil
	}
	return runAsPlan{User: u.Name}, nil
}

// userContextPool returns the pool a -Context User block runs in: the agent's own when the
// logged-on user is the agent's account, otherwise a pool of one worker running as the
// logged-on user (started on first use, kept warm, replaced when another user, or the same
// user in another logon, is on). The logged-on user is read again for every run.
func (a *Agent) userContextPool(ctx context.Context) (*bridge.Pool, error) {
	inv, err := Collect(a.cfg.Inventory)
	if err != nil {
		return nil, err
	}
	computer := inv.ComputerName
	if computer == "" {
		computer = "this computer"
	}
	plan, err := planUser(computer, inv.LoggedOnUser)
	if err != nil {
		return nil, err
	}
	if plan.OwnPool {
		return a.cfg.Pool, nil
	}
	if a.cfg.UserPool == nil {
		return nil, errors.New("this agent has no way to start a worker as another user (Config.UserPool)")
	}
	// Windows: the logon's token; the key tells one logon from the next (Unix: the name).
	u, key, err := openLoggedOnUser(computer, plan)
	if err != nil {
		return nil, err
	}
	defer closeLoggedOnUser(u)
	a.userMu.Lock()
	defer a.userMu.Unlock()
	if a.userPool != nil && a.userKey == key {
		return a.userPool, nil
	}
	a.closeUserPoolLocked()
	p, err := a.cfg.UserPool(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("start a worker as %s: %w", u.Name, err)
	}
	a.userPool, a.userKey = p, key
	a.log.Info().Str("user", u.Name).Msg("started a worker for -Context User")
	return p, nil
}

// closeUserPoolLocked stops the logged-on user's pool, if any; userMu is held.
func (a *Agent) closeUserPoolLocked() {
	if a.userPool == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = a.userPool.Close(ctx)
	a.userPool, a.userKey = nil, ""
}
