package readytorun_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/internal/readytorun"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

// frameworkDir returns the shared framework folder the test pwsh runs on.
func frameworkDir(t *testing.T, pwsh string) string {
	t.Helper()
	out, err := exec.Command(pwsh, "-NoProfile", "-NonInteractive", "-Command",
		"[System.Runtime.InteropServices.RuntimeEnvironment]::GetRuntimeDirectory()").Output()
	if err != nil {
		t.Fatalf("ask pwsh for its runtime: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func TestInspect(t *testing.T) {
	pwsh := testpwsh.Pwsh(t)
	m := testpwsh.Module(t)
	fw := frameworkDir(t, pwsh)
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.dll")
	if err := os.WriteFile(text, []byte("not a PE file at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A PE header cut short: the first 200 bytes of a real assembly.
	whole, err := os.ReadFile(m.Assembly())
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.dll")
	if err := os.WriteFile(cut, whole[:200], 0o644); err != nil {
		t.Fatal(err)
	}
	native, _ := filepath.Glob(filepath.Join(fw, "libcoreclr.*"))
	if len(native) == 0 {
		native, _ = filepath.Glob(filepath.Join(fw, "coreclr.dll"))
	}
	if len(native) == 0 {
		t.Fatalf("no coreclr library in %s", fw)
	}
	tests := []struct {
		name, path string
		want       readytorun.Kind
		wantErr    bool
	}{
		// The framework's own assemblies ship compiled ahead of time.
		{"framework assembly", filepath.Join(fw, "System.Private.CoreLib.dll"), readytorun.ReadyToRun, false},
		// Add-Type (Roslyn) writes IL only.
		{"assembly compiled by Add-Type", m.Assembly(), readytorun.IL, false},
		{"native library", native[0], readytorun.NotManaged, false},
		{"text file", text, readytorun.NotManaged, false},
		{"truncated PE file", cut, readytorun.NotManaged, false},
		{"missing file", filepath.Join(dir, "missing.dll"), readytorun.NotManaged, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readytorun.Inspect(tt.path)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Inspect(%s) error = %v, want error: %v", tt.path, err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("Inspect(%s) = %s, want %s", tt.path, got, tt.want)
			}
		})
	}
}

// TestCompile compiles a copy of the test pwsh's folder with an IL-only assembly added (the
// PSBridge module's, compiled by Add-Type) with the real crossgen2, then checks that the
// assembly is ReadyToRun and that pwsh from the copy still runs and loads it.
func TestCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: restores crossgen2 and compiles with it")
	}
	pwsh := testpwsh.Pwsh(t)
	m := testpwsh.Module(t)
	src := bridge.PwshAppDir(pwsh)
	if _, err := os.Stat(filepath.Join(src, "pwsh.dll")); err != nil {
		t.Skipf("the test pwsh is not framework-dependent (no pwsh.dll in %s): nothing to compile", src)
	}
	dotnet, err := exec.LookPath("dotnet")
	if err != nil {
		t.Fatalf("the .NET SDK (dotnet) is needed to restore crossgen2: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "pwsh")
	if out, err := exec.Command("cp", "-a", src, dir).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v\n%s", src, err, out)
	}
	whole, err := os.ReadFile(m.Assembly())
	if err != nil {
		t.Fatal(err)
	}
	subject := filepath.Join(dir, "PSBridge.dll")
	if err := os.WriteFile(subject, whole, 0o640); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	res, err := readytorun.Compile(ctx, dir, readytorun.Options{Pwsh: pwsh, Dotnet: dotnet, CacheDir: testpwsh.CacheDir(), Log: &log})
	if err != nil {
		t.Fatalf("Compile: %v\n%s", err, log.String())
	}
	if len(res.Failed) > 0 {
		t.Errorf("assemblies left as IL: %v", res.Failed)
	}
	found := false
	for _, n := range res.Compiled {
		found = found || n == "PSBridge.dll"
	}
	if !found {
		t.Fatalf("PSBridge.dll not among the compiled %v\n%s", res.Compiled, log.String())
	}
	for _, name := range []string{"PSBridge.dll", "System.Management.Automation.dll"} {
		if k, err := readytorun.Inspect(filepath.Join(dir, name)); err != nil || k != readytorun.ReadyToRun {
			t.Errorf("%s after Compile: %s, %v", name, k, err)
		}
	}
	if st, err := os.Stat(subject); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("PSBridge.dll's mode after Compile: %v, %v; want 0640 as before", st.Mode(), err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*r2r-tmp")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// Run pwsh from the compiled copy, the way the pool does (dotnet pwsh.dll).
	host := "dotnet"
	if runtime.GOOS == "windows" {
		host = "dotnet.exe"
	}
	cmd := exec.Command(host, filepath.Join(dir, "pwsh.dll"), "-NoProfile", "-NonInteractive", "-Command",
		"[System.Reflection.Assembly]::LoadFrom($env:PSBRIDGE_TEST_ASSEMBLY).GetType('PSBridge.Host.Worker').FullName; [System.Management.Automation.PSObject].Assembly.Location")
	cmd.Env = append(os.Environ(), "PSBRIDGE_TEST_ASSEMBLY="+subject)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pwsh from the compiled copy: %v\n%s", err, out)
	}
	if got := string(out); !strings.Contains(got, "PSBridge.Host.Worker") || !strings.Contains(got, dir) {
		t.Fatalf("pwsh from the compiled copy printed %q; want the worker type and an engine loaded from %s", got, dir)
	}
	// A second run has nothing left to do.
	again, err := readytorun.Compile(ctx, dir, readytorun.Options{Pwsh: pwsh, Dotnet: dotnet, CacheDir: testpwsh.CacheDir()})
	if err != nil || len(again.Compiled) != 0 || again.Already < len(res.Compiled) {
		t.Fatalf("second Compile: %+v, %v; want nothing compiled and at least %d already", again, err, len(res.Compiled))
	}
}

// TestCompileWithoutSDK: no crossgen2 cached and a dotnet that cannot run is an error that
// says what was wanted, and leaves the folder as it was.
func TestCompileWithoutSDK(t *testing.T) {
	pwsh := testpwsh.Pwsh(t)
	m := testpwsh.Module(t)
	dir := t.TempDir()
	whole, err := os.ReadFile(m.Assembly())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "PSBridge.dll"), whole, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = readytorun.Compile(context.Background(), dir, readytorun.Options{
		Pwsh: pwsh, Dotnet: filepath.Join(dir, "no-such-dotnet"), CacheDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "fetch crossgen2") || !strings.Contains(err.Error(), "Microsoft.NETCore.App.Crossgen2.") {
		t.Fatalf("Compile without an SDK: %v; want an error naming the crossgen2 package", err)
	}
	if k, _ := readytorun.Inspect(filepath.Join(dir, "PSBridge.dll")); k != readytorun.IL {
		t.Fatalf("PSBridge.dll after a failed Compile: %s, want IL as before", k)
	}
}
