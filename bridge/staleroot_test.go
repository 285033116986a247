package bridge

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"
)

func TestRemoveStaleRootsRemovesOnlyEndedPoolsDirectories(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("stale workers' directories are kept on Windows")
	}
	dead := strconv.Itoa(ExitedPID(t))
	tmp := t.TempDir()
	elsewhere := t.TempDir()
	if err := os.WriteFile(filepath.Join(elsewhere, "keep"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	ours, err := os.MkdirTemp(tmp, workersRootPattern())
	if err != nil {
		t.Fatal(err)
	}
	var held *os.File
	t.Cleanup(func() {
		if held != nil {
			held.Close()
		}
	})
	entries := []struct {
		name    string
		make    func(path string) error
		removed bool
	}{
		{"psbridge-workers-" + dead + "-111", mkdirLocked, true},
		{"psbridge-workers-" + dead + "-222", func(p string) error { return os.Mkdir(p, 0o700) }, false}, // no lock file
		{"psbridge-workers-" + dead + "-333", func(p string) error { // a live pool in another pid namespace
			if err := os.Mkdir(p, 0o700); err != nil {
				return err
			}
			var err error
			held, err = lockRoot(p)
			return err
		}, false},
		{filepath.Base(ours), nil, false},                          // this process's own pool
		{"psbridge-workers-1-444", mkdirLocked, false},             // pid 1 runs
		{"psbridge-workers-555", mkdirLocked, false},               // a name without a pid
		{"psbridge-workers-x" + dead + "-666", mkdirLocked, false}, // not a pid
		{"psbridge-workers-" + dead + "-777", func(p string) error { return os.Symlink(elsewhere, p) }, false},
		{"psbridge-workers-" + dead + "-888", func(p string) error { return os.WriteFile(p, nil, 0o600) }, false},
		{"other-" + dead + "-999", mkdirLocked, false},
	}
	for _, tc := range entries {
		if tc.make != nil {
			if err := tc.make(filepath.Join(tmp, tc.name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	removed := removeStaleRoots(tmp)
	for _, tc := range entries {
		path := filepath.Join(tmp, tc.name)
		_, err := os.Lstat(path)
		if gone := os.IsNotExist(err); gone != tc.removed {
			t.Errorf("%s: removed = %v, want %v", tc.name, gone, tc.removed)
		}
		if slices.Contains(removed, path) != tc.removed {
			t.Errorf("%s: reported removed = %v, want %v", tc.name, !tc.removed, tc.removed)
		}
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "keep")); err != nil {
		t.Errorf("the symbolic link's target lost its file: %v", err)
	}
}

// mkdirLocked makes a workers' directory as a pool that has since ended left it: a worker's
// directory with a file, and the lock file nobody holds.
func mkdirLocked(path string) error {
	if err := os.MkdirAll(filepath.Join(path, "w-1"), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(path, "w-1", "file"), []byte("x"), 0o600); err != nil {
		return err
	}
	f, err := lockRoot(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// ExitedPID returns the pid of a child (this test binary, running no test) that has exited and
// been waited for: a pid no process runs under. It skips the test if the pid was reused at once.
func ExitedPID(t testing.TB) int {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run=^$")
	if err := child.Run(); err != nil {
		t.Fatal(err)
	}
	if processMayRun(child.Process.Pid) {
		t.Skip("the exited child's pid was reused at once")
	}
	return child.Process.Pid
}
