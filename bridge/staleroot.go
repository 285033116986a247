package bridge

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// workersRootPrefix begins the name of the directory each pool keeps its workers' directories
// in: psbridge-workers-<pid of the pool's process>-<random>. The pid is a later pool's quick
// first test of whether that pool still runs; the lock file (rootLockName) decides.
const workersRootPrefix = "psbridge-workers-"

// rootLockName is the file in a pool's workers' directory that the pool keeps locked while it
// runs. The lock goes with the process however it ends, and unlike a pid it means the same in
// every pid namespace that shares the directory (containers sharing a temporary directory).
const rootLockName = ".pool.lock"

// lockRoot creates root's lock file and locks it; the pool keeps the file open until it has
// removed root.
func lockRoot(root string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(root, rootLockName), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the workers' directory: %w", err)
	}
	if err := tryLock(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock the workers' directory: %w", err)
	}
	return f, nil
}

// ownerGone reports whether the pool that made root has ended: its lock file is there and
// nobody holds its lock.
func ownerGone(root string) bool {
	f, err := os.Open(filepath.Join(root, rootLockName))
	if err != nil {
		return false
	}
	defer f.Close()
	return tryLock(f) == nil
}

// workersRootPattern is the os.MkdirTemp pattern of this process's pools.
func workersRootPattern() string {
	return workersRootPrefix + strconv.Itoa(os.Getpid()) + "-"
}

// removeStaleRoots removes, from tempDir, the workers' directories left by pools whose
// process is gone, and returns their paths. It leaves alone anything it cannot be sure of: a
// name without a pid, a process that may still run (or a pid since reused), a symbolic link,
// a directory this account does not own, and one whose lock file is missing or held.
func removeStaleRoots(tempDir string) []string {
	entries, err := os.ReadDir(tempDir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), workersRootPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		digits, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(digits)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() || processMayRun(pid) {
			continue
		}
		path := filepath.Join(tempDir, e.Name())
		info, err := os.Lstat(path)
		if err != nil || !info.IsDir() || !ownedByThisAccount(info) || !ownerGone(path) {
			continue
		}
		if os.RemoveAll(path) == nil {
			removed = append(removed, path)
		}
	}
	return removed
}
