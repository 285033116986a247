//go:build !windows

package bridge

import (
	"errors"
	"os/exec"
)

// adoptToken refuses Config.Token: only Windows starts processes with an access token; Linux
// and macOS switch accounts with Config.User.
func adoptToken(t uintptr) (uintptr, error) {
	if t != 0 {
		return 0, errors.New("bridge: Config.Token is for Windows; on this system name the workers' account in Config.User")
	}
	return 0, nil
}

// closeToken has nothing to close outside Windows.
func closeToken(uintptr) {}

// runAsToken is never reached outside Windows (adoptToken refuses a token).
func runAsToken(cmd *exec.Cmd, dir string, token uintptr, settings []string) error {
	return errors.New("bridge: starting a worker with an access token needs Windows")
}
