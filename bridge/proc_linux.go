package bridge

import (
	"os"
	"strconv"
	"syscall"
	"time"
)

// sysProcAttr starts the worker (on Linux, its sandbox launcher) in its own process group,
// killed when this process dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// kill ends the worker at once: pwsh is killed, and its launcher kills every process below it
// (even those that left the process group) before it exits. The process group is the backstop.
func (w *worker) kill() {
	if pid := int(w.pwshPID.Load()); pid > 0 && pid != w.pid {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		_ = syscall.Kill(w.pid, syscall.SIGTERM)
		go func() {
			select {
			case <-w.exited:
			case <-time.After(5 * time.Second):
				_ = syscall.Kill(-w.pid, syscall.SIGKILL)
			}
		}()
		return
	}
	_ = syscall.Kill(-w.pid, syscall.SIGKILL)
}

// rss returns the worker's resident set size in bytes (0 when unknown): that of the process
// running PowerShell, which reported its pid in the handshake (a launcher may sit between).
//
// The pool asks after every call, so this is on the hot path: it reads /proc/<pid>/statm
// (the same counter as VmRSS in /proc/<pid>/status, which is far costlier to produce for a
// process with pwsh's many threads) through a descriptor kept open for the worker's life,
// so a check is one pread of a few microseconds instead of tens. The descriptor stays
// bound to the process, never to a later process that reuses the pid.
func (w *worker) rss() int64 {
	w.statmMu.Lock()
	defer w.statmMu.Unlock()
	if w.statmClosed {
		return 0
	}
	if w.statm == nil {
		pid := w.pid
		if w.info.PID > 0 {
			pid = w.info.PID
		}
		f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/statm")
		if err != nil {
			return 0
		}
		w.statm = f
	}
	var buf [128]byte
	n, err := w.statm.ReadAt(buf[:], 0)
	if n == 0 && err != nil {
		return 0
	}
	return parseStatmRSS(buf[:n])
}
