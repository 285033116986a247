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
}

// planRunAs decides where a -Context User block runs on computer, given the account the agent
// runs as, whether it may switch accounts (root), the logged-on user and a way to look
// accounts up. Its errors say why the block cannot run as the user.
func planRunAs(computer string, self account, canSwitch bool, loggedOn string, lookup func(string) (account, error)) (runAsPlan, error) {
	loggedOn = strings.TrimSpace(loggedOn)
	if loggedOn == "" {
		return runAsPlan{}, fmt.Errorf("no user is logged on to %s", computer)
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
// logged-on user (started on first use, kept warm, replaced when another user logs on). The
// logged-on user is read again for every run.
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
	a.userMu.Lock()
	defer a.userMu.Unlock()
	if a.userPool != nil && a.userName == plan.User {
		return a.userPool, nil
	}
	a.closeUserPoolLocked()
	p, err := a.cfg.UserPool(ctx, plan.User)
	if err != nil {
		return nil, fmt.Errorf("start a worker as %s: %w", plan.User, err)
	}
	a.userPool, a.userName = p, plan.User
	a.log.Info().Str("user", plan.User).Msg("started a worker for -Context User")
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
	a.userPool, a.userName = nil, ""
}
