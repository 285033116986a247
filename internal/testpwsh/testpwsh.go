// Package testpwsh gives tests the real pwsh and the compiled PSBridge module. Tests that need
// pwsh fail (never skip) when it is missing, with the install instructions: CI installs it,
// so a missing pwsh is a broken set-up, not a reason to pass.
package testpwsh

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/psmodule"
)

var (
	once    sync.Once
	pwsh    string
	inst    psmodule.Installed
	findErr error
)

// CacheDir is where tests keep the compiled module between runs.
func CacheDir() string {
	if os.Geteuid() == 0 {
		return "/var/cache/psbridge-test" // readable by the account workers run as
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "psbridge-test")
	}
	return filepath.Join(os.TempDir(), "psbridge-test")
}

func setup() {
	pwsh, findErr = bridge.FindPwsh("")
	if findErr != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	inst, findErr = psmodule.Install(ctx, CacheDir(), pwsh)
}

// Pwsh returns the path of pwsh, failing the test when there is none.
func Pwsh(t testing.TB) string {
	t.Helper()
	once.Do(setup)
	if findErr != nil {
		t.Fatalf("pwsh is required for this test: %v", findErr)
	}
	return pwsh
}

// Module returns the installed, compiled PSBridge module, failing the test when it cannot be built.
func Module(t testing.TB) psmodule.Installed {
	t.Helper()
	Pwsh(t)
	return inst
}

// Pool starts a pool with cfg (Pwsh and WorkerScript filled in) and closes it when the test ends.
func Pool(t testing.TB, cfg bridge.Config) *bridge.Pool {
	t.Helper()
	m := Module(t)
	cfg.Pwsh = pwsh
	cfg.WorkerScript = m.WorkerScript()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := bridge.New(ctx, cfg)
	if err != nil {
		t.Fatalf("start pool: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p
}

// PwshPath returns the path of pwsh for helper processes started by tests (no testing.TB
// there), "" when there is none.
func PwshPath() string {
	once.Do(setup)
	return pwsh
}

// WorkerScriptPath returns the compiled module's worker.ps1 for helper processes, "" when the
// module cannot be built.
func WorkerScriptPath() string {
	once.Do(setup)
	if findErr != nil {
		return ""
	}
	return inst.WorkerScript()
}
