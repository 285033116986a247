//go:build windows

package bridge_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/internal/testpwsh"
	"golang.org/x/sys/windows"
)

// TestWorkerRunsWithAToken: a worker started with Config.Token runs as the token's user, with
// that user's environment block, in a private directory it can write. A test cannot take
// another user's token without LocalSystem, so it passes this process's own (a duplicate of
// the caller's token needs no SE_ASSIGNPRIMARYTOKEN_NAME); the agent passes the console
// logon's. Written for Windows CI; not yet run on Windows.
func TestWorkerRunsWithAToken(t *testing.T) {
	var own windows.Token
	if err := windows.OpenProcessToken(windows.CurrentProcess(), windows.TOKEN_QUERY|windows.TOKEN_DUPLICATE|windows.TOKEN_ASSIGN_PRIMARY, &own); err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	tu, err := own.GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	name, _, _, err := tu.User.Sid.LookupAccount("")
	if err != nil {
		t.Fatal(err)
	}
	profile, err := own.GetUserProfileDirectory()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m := testpwsh.Module(t)
	p, err := bridge.New(ctx, bridge.Config{Pwsh: testpwsh.Pwsh(t), WorkerScript: m.WorkerScript(), MinWorkers: 1, MaxWorkers: 1, Token: uintptr(own)})
	if errors.Is(err, windows.ERROR_PRIVILEGE_NOT_HELD) {
		t.Skipf("CreateProcessAsUser refuses this process's own token here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	own.Close() // the pool keeps its own duplicate

	tests := []struct {
		name, script, want string
	}{
		{"the token's user", `[Environment]::UserName`, name},
		{"the user's profile", `$env:USERPROFILE`, profile},
		{"the user's temp folder", `[IO.Path]::GetTempPath().TrimEnd('\').StartsWith($env:USERPROFILE, 'OrdinalIgnoreCase')`, "True"},
		{"a writable private directory", `Set-Content -LiteralPath (Join-Path $env:PSBRIDGE_WORKER_DIR 'w.txt') 'ok' -ErrorAction Stop; Get-Content -LiteralPath (Join-Path $env:PSBRIDGE_WORKER_DIR 'w.txt')`, "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := invoke(t, p, bridge.Call{Script: method("token", tt.script), Method: "GetClients"})
			if got := outputStrings(t, r); len(got) != 1 || !strings.EqualFold(got[0], tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
