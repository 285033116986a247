//go:build unix

package agent

import (
	"os"
	"os/user"
	"strconv"
)

// planUser plans a -Context User run on Linux and macOS: a root agent starts pwsh as the
// logged-on user (setuid and setgid through the worker's launcher); another agent can only
// run blocks of its own account's user.
func planUser(computer, loggedOn string) (runAsPlan, error) {
	self := account{ID: strconv.Itoa(os.Geteuid())}
	if u, err := user.LookupId(self.ID); err == nil {
		self.Name = u.Username
	} else {
		self.Name = "uid " + self.ID
	}
	return planRunAs(computer, self, os.Geteuid() == 0, loggedOn, func(name string) (account, error) {
		u, err := user.Lookup(name)
		if err != nil {
			return account{}, err
		}
		return account{Name: u.Username, ID: u.Uid}, nil
	})
}

// openLoggedOnUser names the account a Unix -Context User pool runs as; the name is the key.
func openLoggedOnUser(computer string, plan runAsPlan) (LoggedOnUser, string, error) {
	return LoggedOnUser{Name: plan.User}, plan.User, nil
}

// closeLoggedOnUser has nothing to release on Unix.
func closeLoggedOnUser(LoggedOnUser) {}
