//go:build !windows

package psmodule_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/psbridge/psbridge/internal/testpwsh"
	"github.com/psbridge/psbridge/psmodule"
)

// TestInstallHoldsItsDirectoryAndRemovesUnheldOnes: with the real pwsh and the tests' module
// cache, Install keeps its own directory locked for the process's life and removes the
// directory of another build that nobody holds (one psbridge upgrade's leftover).
func TestInstallHoldsItsDirectoryAndRemovesUnheldOnes(t *testing.T) {
	pwsh, inst := testpwsh.Pwsh(t), testpwsh.Module(t)
	cache := testpwsh.CacheDir()
	other := filepath.Join(cache, "module-"+uuid.NewString())
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(other) })
	for _, name := range []string{".lock", "PSBridge.dll"} {
		if err := os.WriteFile(filepath.Join(other, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	again, err := psmodule.Install(ctx, cache, pwsh)
	if err != nil {
		t.Fatal(err)
	}
	if again.Dir != inst.Dir {
		t.Fatalf("a second Install chose %s, the first %s", again.Dir, inst.Dir)
	}
	if _, err := os.Stat(other); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Install kept another build's directory that nobody holds: %v", err)
	}
	if _, err := os.Stat(inst.Assembly()); err != nil {
		t.Fatalf("Install's own directory is gone: %v", err)
	}
	f, err := os.Open(filepath.Join(inst.Dir, ".lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Fatalf("the module directory in use could be locked for removal: %v", err)
	}
}
