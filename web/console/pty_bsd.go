//go:build unix && !linux

package console

import (
	"os/exec"
	"syscall"
)

// sessionAttrs: a new session with the terminal as its controlling terminal. macOS has no
// parent-death signal and psbridge no sandbox launcher there (Landlock and the subreaper are
// Linux-only): a session whose server was killed with SIGKILL gets SIGHUP when the terminal's
// master side closes, but what it started in the background may live on.
func sessionAttrs(cmd *exec.Cmd) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true, Setctty: true}
}
