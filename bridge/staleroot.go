package bridge

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// workersRootPrefix begins the name of the directory each pool keeps its workers' directories
// in: psbridge-workers-<pid of the pool's process>-<random>. The pid lets a later pool tell a
// directory whose pool can no longer remove it (its process was killed) from a live one.
const workersRootPrefix = "psbridge-workers-"

// workersRootPattern is the os.MkdirTemp pattern of this process's pools.
func workersRootPattern() string {
	return workersRootPrefix + strconv.Itoa(os.Getpid()) + "-"
}

// removeStaleRoots removes, from tempDir, the workers' directories left by pools whose
// process is gone, and returns their paths. It leaves alone anything it cannot be sure of: a
// name without a pid, a process that may still run (or a pid since reused), a symbolic link,
// and a directory this account does not own.
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
		if err != nil || !info.IsDir() || !ownedByThisAccount(info) {
			continue
		}
		if os.RemoveAll(path) == nil {
			removed = append(removed, path)
		}
	}
	return removed
}
