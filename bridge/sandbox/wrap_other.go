//go:build !unix

package sandbox

import (
	"errors"
	"os/exec"
)

// Wrap leaves cmd as it is: confinement is implemented for Linux only, and switching accounts
// for Unix systems only.
func Wrap(cmd *exec.Cmd, p Policy) error {
	if p.Account != nil {
		return errors.New("sandbox: running as another account is not supported on this system")
	}
	return nil
}
