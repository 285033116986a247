package console

import (
	"os/exec"
	"syscall"
)

// sessionAttrs: a new session with the terminal as its controlling terminal, killed with this
// process (the sandbox launcher, which Wrap put in front of pwsh, asks for SIGTERM instead so
// that it can clean up).
func sessionAttrs(cmd *exec.Cmd) *syscall.SysProcAttr {
	attrs := &syscall.SysProcAttr{Setsid: true, Setctty: true, Pdeathsig: syscall.SIGKILL}
	if cmd.SysProcAttr != nil {
		attrs.Pdeathsig = cmd.SysProcAttr.Pdeathsig
	}
	return attrs
}
