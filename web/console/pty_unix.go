//go:build unix

package console

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/creack/pty"
)

// Supported reports whether this system can run console sessions: nil on Linux and macOS.
func Supported() error { return nil }

// startPTY starts cmd in a new pseudo-terminal of cols x rows and returns its master side.
// Setsid makes pwsh (on Linux, its sandbox launcher) the leader of a new session and of a new
// process group (pgid = pid), which is what Setpgid would do; both cannot be set, and the
// terminal needs the session.
func startPTY(cmd *exec.Cmd, cols, rows int) (*os.File, error) {
	return pty.StartWithAttrs(cmd, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)}, sessionAttrs(cmd))
}

// resizePTY changes the terminal size (pwsh sees SIGWINCH).
func resizePTY(ptmx *os.File, cols, rows int) error {
	return pty.Setsize(ptmx, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
}

// termGroup asks every process of the session's process group to stop.
func termGroup(pgid int) { _ = syscall.Kill(-pgid, syscall.SIGTERM) }

// killGroup kills every process of the session's process group.
func killGroup(pgid int) { _ = syscall.Kill(-pgid, syscall.SIGKILL) }

// waitGroupGone polls until no process (zombies included) is left in process group pgid.
func waitGroupGone(pgid int, timeout time.Duration) bool {
	end := time.Now().Add(timeout)
	for {
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		time.Sleep(20 * time.Millisecond)
	}
}
