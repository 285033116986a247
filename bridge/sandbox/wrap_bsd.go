//go:build unix && !linux

package sandbox

import (
	"os/exec"
	"syscall"
)

// Wrap confines nothing here (Landlock and the launcher are Linux-only: Policy.Deny is not
// enforced), but it does switch to Policy.Account: the process starts as that user directly.
func Wrap(cmd *exec.Cmd, p Policy) error {
	if a := p.Account; a != nil {
		if cmd.SysProcAttr == nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{}
		}
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: a.UID, Gid: a.GID, Groups: []uint32{}}
	}
	return nil
}
