//go:build !unix && !windows

package agent

import "fmt"

// planUser refuses -Context User where the agent has no way to start a process as another
// account.
func planUser(computer, loggedOn string) (runAsPlan, error) {
	if loggedOn == "" {
		return runAsPlan{}, &noUserError{Where: computer}
	}
	return runAsPlan{}, fmt.Errorf("running a block as the logged-on user %s is not supported by the agent on this system", loggedOn)
}

// openLoggedOnUser is never reached: planUser refuses every other user.
func openLoggedOnUser(computer string, plan runAsPlan) (LoggedOnUser, string, error) {
	return LoggedOnUser{Name: plan.User}, plan.User, nil
}

// closeLoggedOnUser has nothing to release.
func closeLoggedOnUser(LoggedOnUser) {}
