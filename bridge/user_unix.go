//go:build unix

package bridge

import (
	"fmt"
	"os"
	"os/user"
	"strconv"

	"github.com/psbridge/psbridge/bridge/sandbox"
)

// lookupUser resolves Config.User to the credential workers start with: nil when no account
// is named or this process is not root (only root can switch).
func lookupUser(name string) (*sandbox.Account, error) {
	if name == "" || os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		if u, err = user.LookupId(name); err != nil {
			return nil, fmt.Errorf("bridge: workers' account %q: %w", name, err)
		}
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("bridge: workers' account %q has a non-numeric id %s:%s", name, u.Uid, u.Gid)
	}
	if uid == 0 {
		return nil, fmt.Errorf("bridge: workers' account %q is root; name an unprivileged account", name)
	}
	return &sandbox.Account{UID: uint32(uid), GID: uint32(gid)}, nil
}
