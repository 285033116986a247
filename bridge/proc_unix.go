//go:build unix

package bridge

import (
	"os"
	"os/exec"
	"syscall"
)

// platProc is a worker's process tree on Unix: its process group (pgid = the worker's pid).
// Nothing needs keeping; the group is addressed through the pid.
type platProc struct{}

// prepare passes the protocol pipes as fds 3 and 4 and puts the worker in a new process
// group (see sysProcAttr for the rest).
func (*platProc) prepare(cmd *exec.Cmd, toWorker, fromWorker *os.File) error {
	cmd.ExtraFiles = []*os.File{toWorker, fromWorker} // fds 3 and 4
	cmd.SysProcAttr = sysProcAttr()
	return nil
}

// started has nothing to do on Unix: the process group exists from the fork.
func (*platProc) started(pid int) error { return nil }

// degraded is always "" on Unix: the process group holds every worker's tree.
func (*platProc) degraded() string { return "" }

// release has nothing to free on Unix.
func (*platProc) release() {}

// killTree kills every process left in the worker's process group.
func (w *worker) killTree() { _ = syscall.Kill(-w.pid, syscall.SIGKILL) }

// terminateTree asks every process of the worker's process group to stop (SIGTERM).
func (w *worker) terminateTree() { _ = syscall.Kill(-w.pid, syscall.SIGTERM) }

// platformEnv adds nothing on Unix: HOME, TMPDIR and the XDG variables workerEnv sets are
// where pwsh and .NET keep their files.
func platformEnv(dir string) []string { return nil }

// processMayRun reports whether a process with this pid exists (this account's or another's).
func processMayRun(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

// ownedByThisAccount reports whether info (from os.Lstat) belongs to this process's user.
func ownedByThisAccount(info os.FileInfo) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}

// tryLock takes an exclusive lock on f without waiting (flock: released when the last
// descriptor closes, so when the process ends).
func tryLock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
