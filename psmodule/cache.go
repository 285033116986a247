package psmodule

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The module cache: every psbridge build (embedded sources and pwsh binary) compiles the module
// once into a directory of its own below the cache directory, and would leave it there for good
// (about 0.5 MB each) after an upgrade. A process that uses a directory holds a shared lock on
// the directory's lock file for as long as it runs; Install removes each other directory whose
// lock nobody holds. Directories built before psbridge took these locks have no lock file and are
// never removed: nothing tells whether an older psbridge still runs from one.

const (
	// lockName is the file in a module directory that its users lock.
	lockName = ".lock"
	// buildPrefix names the directories Install builds in before renaming them into place.
	buildPrefix = ".module-build-"
	// oldPrefix names a module directory being removed: it is renamed first, so that no process
	// ever finds it half-removed under its real name.
	oldPrefix = ".module-old-"
	// buildTimeout bounds one build; a build directory much older than that was left by a
	// process that died during its build.
	buildTimeout = 3 * time.Minute
	staleBuild   = 20 * buildTimeout
)

// errDirMoved means the module directory was removed while this process waited for its lock.
var errDirMoved = errors.New("module directory removed while it was being locked")

// pruneCache removes, below cacheDir, the module directories other than keep that no process
// holds, build directories older than staleBuild, and removals left half-done. It does its best
// and reports nothing: what it cannot remove now it removes another time.
func pruneCache(cacheDir, keep string, now time.Time) {
	entries, err := os.ReadDir(cacheDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(cacheDir, name)
		switch {
		case !e.IsDir():
		case strings.HasPrefix(name, "module-") && name != keep:
			removeUnheld(cacheDir, name)
		case strings.HasPrefix(name, buildPrefix):
			if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > staleBuild {
				_ = os.RemoveAll(path)
			}
		case strings.HasPrefix(name, oldPrefix):
			_ = os.RemoveAll(path)
		}
	}
}

// removeUnheld removes the module directory name when nobody holds it: with its lock taken
// exclusively (which fails at once while any process holds it), it renames the directory aside
// and removes it.
func removeUnheld(cacheDir, name string) {
	path := filepath.Join(cacheDir, name)
	unlock, ok := lockUnheld(filepath.Join(path, lockName))
	if !ok {
		return // in use, built before the locks, gone, or no locks on this system
	}
	defer unlock()
	old := filepath.Join(cacheDir, oldPrefix+name)
	_ = os.RemoveAll(old)
	if os.Rename(path, old) != nil {
		return
	}
	_ = os.RemoveAll(old)
}
