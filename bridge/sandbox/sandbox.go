// Package sandbox confines the pwsh processes psbridge starts (pool workers and console
// sessions) and cleans up after them.
//
// psbridge holds vendor keys that can push software to every client computer, and it runs
// scripts that are untrusted by every other integration. A confined process:
//
//   - cannot read or write the paths in Policy.Deny (the data directory, the key file,
//     backups, the other workers' private directories): Landlock on Linux 5.13+;
//   - cannot signal, ptrace or read /proc/<pid>/environ and memory of any process outside
//     its own sandbox (the server, other workers): Landlock's ptrace rule and, on Linux 6.12+,
//     its signal scope; its own memory is not dumpable (the worker host sets PR_SET_DUMPABLE);
//   - leaves nothing behind: it runs under a small launcher (this binary, re-executed) that is
//     a child subreaper, so every process the script starts, even one that daemonises, stays
//     below it; the launcher kills them all when pwsh exits and when the server dies (it gets
//     SIGTERM through PR_SET_PDEATHSIG, even after kill -9 of the server).
//
// The launcher is the same executable as the server: Wrap rewrites an exec.Cmd to start
// os.Executable() with a spec in its environment, and this package's init function notices
// the spec and becomes the launcher before main (or a test binary's TestMain) runs.
// On systems other than Linux, Wrap confines nothing (on macOS it still switches to
// Policy.Account) and Probe says so.
package sandbox

import (
	"fmt"
	"strings"
)

// Policy says what a confined process may not touch.
type Policy struct {
	// Deny lists files and directories the process must neither read nor write: the data
	// directory, the key file, backup directories, the parent of other workers' directories.
	Deny []string
	// Private is the process's own directory (its HOME and TMPDIR): always read-write, even
	// when it lies below a denied directory.
	Private string
	// Account, when set, is the account the process runs as (the launcher stays with this
	// process's, so that it can always clean up). Only root can switch.
	Account *Account
}

// Account is a user and group id to run as.
type Account struct {
	UID, GID uint32
}

// Report says what confinement this system gives, for the log line serve writes at start.
type Report struct {
	// Landlock is the kernel's Landlock ABI version, 0 when Landlock is unavailable.
	Landlock int
	// Filesystem reports whether Policy.Deny is enforced.
	Filesystem bool
	// SignalScope reports whether confined processes cannot signal processes outside their
	// sandbox (Landlock ABI 6).
	SignalScope bool
	// Launcher reports whether processes run under the cleaning launcher (subreaper, death
	// signal, process tree killed at exit).
	Launcher bool
	// SeparateUser is the user workers run as when the server runs as root, "" otherwise.
	SeparateUser string
	// Notes explains what is missing and why.
	Notes []string
}

// String is the one-line summary serve logs.
func (r Report) String() string {
	var parts []string
	if r.Filesystem {
		parts = append(parts, fmt.Sprintf("landlock ABI %d (data directory, key and other workers' files denied)", r.Landlock))
	} else {
		parts = append(parts, "no filesystem confinement")
	}
	if r.SignalScope {
		parts = append(parts, "signals scoped")
	}
	if r.Launcher {
		parts = append(parts, "process trees reaped (subreaper, death signal)")
	}
	if r.SeparateUser != "" {
		parts = append(parts, "workers run as "+r.SeparateUser)
	}
	s := strings.Join(parts, "; ")
	if len(r.Notes) > 0 {
		s += " — " + strings.Join(r.Notes, "; ")
	}
	return s
}

// spec is what Wrap hands the launcher through its environment.
type spec struct {
	Path      string   `json:"path"`
	Args      []string `json:"args"`
	Deny      []string `json:"deny,omitempty"`
	Private   string   `json:"private,omitempty"`
	Files     int      `json:"files"`     // descriptors 0..Files-1 are passed on to pwsh
	ParentPID int      `json:"parentPid"` // the server; the launcher exits if it is already gone
	UID       *uint32  `json:"uid,omitempty"`
	GID       *uint32  `json:"gid,omitempty"`
}

// specEnv carries the spec. It is removed before pwsh starts.
const specEnv = "PSBRIDGE_SANDBOX_SPEC"

// ExitSignalBase is added to the number of the signal that killed pwsh to form the launcher's
// exit status (the shell convention), so the pool can say "killed by signal 9".
const ExitSignalBase = 128

// ExitLauncherFailed is the launcher's exit status when it could not set up the sandbox or
// start pwsh; it writes the reason to stderr first.
const ExitLauncherFailed = 121
