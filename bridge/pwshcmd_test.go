package bridge

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestPwshCommandRunsDotNetToolsDirectly(t *testing.T) {
	touch := func(t *testing.T, path string, mode os.FileMode) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	dotnetRoot := t.TempDir()
	dotnet := filepath.Join(dotnetRoot, "dotnet")
	touch(t, dotnet, 0o755)
	t.Setenv("DOTNET_ROOT", dotnetRoot)

	cases := []struct {
		name     string
		dlls     []string
		wantProg string // "pwsh" means the launcher itself
		wantArgs int
	}{
		{"tool store with one version", []string{".store/powershell/7.6.9/powershell/7.6.9/tools/net10.0/any/unix/pwsh.dll"}, "dotnet", 1},
		{"plain pwsh, no tool store", nil, "pwsh", 0},
		{"two versions: let the launcher choose", []string{
			".store/powershell/7.6.8/powershell/7.6.8/tools/net10.0/any/unix/pwsh.dll",
			".store/powershell/7.6.9/powershell/7.6.9/tools/net10.0/any/unix/pwsh.dll",
		}, "pwsh", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pwsh := filepath.Join(dir, "pwsh")
			touch(t, pwsh, 0o755)
			for _, d := range tc.dlls {
				touch(t, filepath.Join(dir, filepath.FromSlash(d)), 0o644)
			}
			prog, args := pwshCommand(pwsh)
			want := pwsh
			if tc.wantProg == "dotnet" {
				want, _ = filepath.EvalSymlinks(dotnet)
			}
			if prog != want || len(args) != tc.wantArgs {
				t.Fatalf("pwshCommand = %q %v, want %q with %d args", prog, args, want, tc.wantArgs)
			}
			if tc.wantArgs == 1 && !reflect.DeepEqual(args, []string{filepath.Join(dir, filepath.FromSlash(tc.dlls[0]))}) {
				t.Fatalf("args = %v", args)
			}
		})
	}
}

// PwshCommand lets the external benchmarks start pwsh exactly as the pool does.
var PwshCommand = pwshCommand
