package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/internal/readytorun"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

// TestPrecompilePwsh runs 'precompile-pwsh' on a copy of the test pwsh's folder (compiling it,
// or finding it compiled already when the test pwsh is), then checks that the engine is
// ReadyToRun and that 'version' says so for that pwsh.
func TestPrecompilePwsh(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: restores crossgen2 and compiles with it")
	}
	src := bridge.PwshAppDir(testpwsh.Pwsh(t))
	if _, err := os.Stat(filepath.Join(src, "pwsh.dll")); err != nil {
		t.Skipf("the test pwsh is not framework-dependent (no pwsh.dll in %s): nothing to compile", src)
	}
	dir := filepath.Join(t.TempDir(), "pwsh")
	if out, err := exec.Command("cp", "-a", src, dir).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v\n%s", src, err, out)
	}
	copyPwsh := filepath.Join(dir, bridge.PwshName)
	stdout, stderr, code := cli(t, "precompile-pwsh", "--pwsh", copyPwsh)
	if code != exitOK {
		t.Fatalf("precompile-pwsh: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "assemblies ahead of time in") && !strings.Contains(stdout, "compiled ahead of time already") {
		t.Fatalf("precompile-pwsh printed %q; want what it compiled, or that there was nothing to do", stdout)
	}
	if k, err := readytorun.Check(dir); err != nil || k != readytorun.ReadyToRun {
		t.Fatalf("engine after precompile-pwsh: %s, %v", k, err)
	}
	// Run again: nothing to do, and it says so.
	if stdout, _, code := cli(t, "precompile-pwsh", "--pwsh", copyPwsh); code != exitOK || !strings.Contains(stdout, "compiled ahead of time already") {
		t.Fatalf("second precompile-pwsh: exit %d, %q", code, stdout)
	}
	t.Setenv("PSBRIDGE_PWSH", copyPwsh)
	var out bytes.Buffer
	if err := runVersion(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), copyPwsh+" (compiled ahead of time)") {
		t.Fatalf("version printed %q; want the copied pwsh, compiled ahead of time", out.String())
	}
}

func TestPrecompilePwshErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-pwsh-here")
	_, stderr, code := cli(t, "precompile-pwsh", "--pwsh", missing)
	if code != exitEnv || !strings.Contains(stderr, missing) {
		t.Fatalf("precompile-pwsh --pwsh %s: exit %d, %q; want exit %d naming the path", missing, code, stderr, exitEnv)
	}
}
