//go:build !windows

package psmodule

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// makeModuleDir creates a module directory below cache, with a lock file unless legacy.
func makeModuleDir(t *testing.T, cache, name string, legacy bool) string {
	t.Helper()
	dir := filepath.Join(cache, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "PSBridge.dll"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !legacy {
		if err := os.WriteFile(filepath.Join(dir, lockName), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestPruneCacheRemovesOnlyWhatNobodyHolds: the cache loses the directories of other builds
// that no process holds, and stale build and removal leftovers; it keeps the current build's,
// a held one, one built before the locks, and a build in progress.
func TestPruneCacheRemovesOnlyWhatNobodyHolds(t *testing.T) {
	cache := t.TempDir()
	makeModuleDir(t, cache, "module-current", false)
	held := makeModuleDir(t, cache, "module-held", false)
	makeModuleDir(t, cache, "module-unheld", false)
	makeModuleDir(t, cache, "module-legacy", true)
	stale := filepath.Join(cache, buildPrefix+"stale")
	fresh := filepath.Join(cache, buildPrefix+"fresh")
	leftover := filepath.Join(cache, oldPrefix+"module-gone")
	for _, d := range []string{stale, fresh, leftover} {
		if err := os.MkdirAll(filepath.Join(d, "src"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	if err := os.Chtimes(stale, now.Add(-2*staleBuild), now.Add(-2*staleBuild)); err != nil {
		t.Fatal(err)
	}
	release, err := holdDir(held)
	if err != nil {
		t.Fatal(err)
	}

	pruneCache(cache, "module-current", now)

	for _, c := range []struct {
		name string
		kept bool
	}{
		{"module-current", true},
		{"module-held", true},
		{"module-unheld", false},
		{"module-legacy", true},
		{buildPrefix + "stale", false},
		{buildPrefix + "fresh", true},
		{oldPrefix + "module-gone", false},
		{oldPrefix + "module-unheld", false},
	} {
		_, err := os.Stat(filepath.Join(cache, c.name))
		if kept := err == nil; kept != c.kept {
			t.Errorf("%s: kept %v, want %v (%v)", c.name, kept, c.kept, err)
		}
	}

	// Released, the held directory goes at the next prune.
	release()
	pruneCache(cache, "module-current", now)
	if _, err := os.Stat(held); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a released directory of another build was kept: %v", err)
	}
}

// TestHoldDirLocksSharedAndSeesRemovals: holders share a directory, a holder keeps pruners
// out, and a directory removed while a holder waited is not held.
func TestHoldDirLocksSharedAndSeesRemovals(t *testing.T) {
	cache := t.TempDir()
	dir := makeModuleDir(t, cache, "module-a", false)
	r1, err := holdDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := holdDir(dir)
	if err != nil {
		t.Fatalf("a second holder was refused: %v", err)
	}
	if _, ok := lockUnheld(filepath.Join(dir, lockName)); ok {
		t.Fatal("a pruner locked a directory two holders hold")
	}
	r1()
	if _, ok := lockUnheld(filepath.Join(dir, lockName)); ok {
		t.Fatal("a pruner locked a directory one holder still holds")
	}
	r2()

	// A pruner holds the lock; a holder waits for it; the pruner renames the directory away,
	// and another process builds it again.
	unlock, ok := lockUnheld(filepath.Join(dir, lockName))
	if !ok {
		t.Fatal("a pruner could not lock a directory nobody holds")
	}
	done := make(chan error, 1)
	go func() {
		release, err := holdDir(dir)
		if err == nil {
			release()
		}
		done <- err
	}()
	// On Linux, wait until the holder has the lock file open (then it waits for the lock), so
	// that the rename comes between its open and its lock.
	opened := runtime.GOOS == "linux"
	for deadline := time.Now().Add(time.Minute); opened && openCount(filepath.Join(dir, lockName)) < 2; {
		if time.Now().After(deadline) {
			t.Fatal("the holder never opened the lock file")
		}
		runtime.Gosched()
	}
	if err := os.Rename(dir, filepath.Join(cache, oldPrefix+"module-a")); err != nil {
		t.Fatal(err)
	}
	// Another process builds the directory again, with a lock file of its own, before the
	// holder gets the old one's lock.
	makeModuleDir(t, cache, "module-a", false)
	unlock()
	err = <-done
	switch {
	case opened && !errors.Is(err, errDirMoved):
		t.Fatalf("holdDir on a directory renamed away while it waited for the lock: %v, want errDirMoved", err)
	case !errors.Is(err, errDirMoved) && !errors.Is(err, fs.ErrNotExist):
		t.Fatalf("holdDir on a directory removed meanwhile: %v", err)
	}

	// A directory without a lock file gets one; nobody but its builder may create it.
	legacy := makeModuleDir(t, cache, "module-legacy", true)
	release, err := holdDir(legacy)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, err := os.Stat(filepath.Join(legacy, lockName)); err != nil {
		t.Fatalf("holdDir did not create the lock file of a directory built before the locks: %v", err)
	}
	// The descriptor that holds the lock is close-on-exec: no worker inherits it.
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		found := false
		for _, e := range fds {
			target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
			if target == filepath.Join(legacy, lockName) {
				found = true
				fd, err := strconv.Atoi(e.Name())
				if err != nil {
					t.Fatal(err)
				}
				flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
				if errno != 0 || flags&syscall.FD_CLOEXEC == 0 {
					t.Fatalf("the lock's descriptor %d is inherited by child processes (flags %d, %v)", fd, flags, errno)
				}
			}
		}
		if !found {
			t.Fatal("no descriptor of this process is open on the lock file holdDir holds")
		}
	}
}

// openCount counts this process's descriptors open on path (Linux: /proc/self/fd).
func openCount(path string) int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range fds {
		if target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); target == path {
			n++
		}
	}
	return n
}
