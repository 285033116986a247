//go:build unix && !linux

package bridge

import "syscall"

// sysProcAttr starts the worker in its own process group. macOS has no parent-death signal
// and no sandbox launcher (Landlock and the subreaper are Linux-only): a worker whose server
// was killed with SIGKILL notices when its protocol pipe closes and exits, but what its
// scripts started in the background is not reaped.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// kill ends the worker at once: SIGKILL to its whole process group.
func (w *worker) kill() { w.killTree() }

// rss is unknown here (macOS exposes another process's resident size only through libproc):
// Config.MaxRSS and Config.MemoryLimit are not checked against it, while the .NET heap limit
// (DOTNET_GCHeapHardLimit) still applies.
func (w *worker) rss() int64 { return 0 }
