package console

import (
	"os"
	"os/exec"
	"time"
)

// Supported reports whether this system can run console sessions: on Windows it returns
// ErrUnsupported. Sessions need a pseudo-terminal; Windows has one (ConPTY), but os/exec
// cannot attach it to a process, and psbridge does not start processes through
// CreateProcess with a pseudo console attribute yet.
func Supported() error { return ErrUnsupported }

func startPTY(cmd *exec.Cmd, cols, rows int) (*os.File, error) { return nil, ErrUnsupported }

func resizePTY(ptmx *os.File, cols, rows int) error { return ErrUnsupported }

func termGroup(pgid int) {}

func killGroup(pgid int) {}

func waitGroupGone(pgid int, timeout time.Duration) bool { return true }
