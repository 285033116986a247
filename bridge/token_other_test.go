//go:build !windows

package bridge_test

import (
	"context"
	"strings"
	"testing"

	"github.com/psbridge/psbridge/bridge"
)

// TestConfigTokenOnlyWindows: a Windows access token (Config.Token) is refused elsewhere with
// an error that names the field and the way to switch accounts on this system, before any
// worker starts.
func TestConfigTokenOnlyWindows(t *testing.T) {
	tests := []struct {
		name    string
		token   uintptr
		wantErr string
	}{
		{"a token", 0x1234, "bridge: Config.Token is for Windows; on this system name the workers' account in Config.User"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := bridge.New(context.Background(), bridge.Config{Pwsh: "pwsh", WorkerScript: "worker.ps1", TempDir: t.TempDir(), Token: tt.token})
			if err == nil {
				p.Close(context.Background())
				t.Fatal("New accepted a token")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to say %q", err, tt.wantErr)
			}
		})
	}
}
