//go:build !unix

package agent

import "fmt"

// planUser refuses -Context User where the agent cannot start a process as another account
// yet (Windows: that needs the session's token, WTSQueryUserToken and CreateProcessAsUser).
func planUser(computer, loggedOn string) (runAsPlan, error) {
	if loggedOn == "" {
		return runAsPlan{}, fmt.Errorf("no user is logged on to %s", computer)
	}
	return runAsPlan{}, fmt.Errorf("running a block as the logged-on user %s is not supported by the agent on this system yet", loggedOn)
}
