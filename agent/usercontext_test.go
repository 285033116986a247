package agent

import (
	"errors"
	"strings"
	"testing"
)

// TestPlanRunAs: where a -Context User block runs, and the error that says why it cannot.
func TestPlanRunAs(t *testing.T) {
	accounts := map[string]account{"alice": {"alice", "1000"}, "root": {"root", "0"}, "svc": {"svc", "998"}}
	lookup := func(name string) (account, error) {
		if a, ok := accounts[name]; ok {
			return a, nil
		}
		return account{}, errors.New("unknown user " + name)
	}
	root, svc := account{"root", "0"}, account{"svc", "998"}
	tests := []struct {
		name      string
		self      account
		canSwitch bool
		loggedOn  string
		want      runAsPlan
		wantErr   string
		skip      bool // the error says nobody is logged on: the block is skipped, not failed
	}{
		{"root agent, alice logged on", root, true, "alice", runAsPlan{User: "alice"}, "", false},
		{"root agent, root logged on", root, true, "root", runAsPlan{OwnPool: true}, "", false},
		{"root agent, nobody logged on", root, true, "  ", runAsPlan{}, "no user is logged on to PC-1", true},
		{"root agent, unknown user", root, true, "bob", runAsPlan{}, "the logged-on user bob of PC-1 has no local account: unknown user bob", false},
		{"service agent, alice logged on", svc, false, "alice", runAsPlan{}, "the agent runs as svc and cannot start a process as alice", false},
		{"service agent, itself logged on", svc, false, "svc", runAsPlan{OwnPool: true}, "", false},
		{"service agent, by uid", svc, false, "998", runAsPlan{OwnPool: true}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := planRunAs("PC-1", tt.self, tt.canSwitch, tt.loggedOn, lookup)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to say %q", err, tt.wantErr)
				}
				var nu *noUserError
				if errors.As(err, &nu) != tt.skip {
					t.Fatalf("err = %v (%T): a *noUserError is %v, want %v", err, err, !tt.skip, tt.skip)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("plan = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestPlanRunAsConsole: where a Windows agent runs a -Context User block, given its own account
// and the console session's user, and the error that says why it cannot.
func TestPlanRunAsConsole(t *testing.T) {
	system := account{`NT AUTHORITY\SYSTEM`, "S-1-5-18"}
	admin := account{`PC-1\admin`, "S-1-5-21-1-2-3-500"}
	alice := consoleUser{Session: 2, Name: `CORP\alice`, SID: "S-1-5-21-9-9-9-1104"}
	tests := []struct {
		name     string
		self     account
		isSystem bool
		console  consoleUser
		want     runAsPlan
		wantErr  string
		skip     bool // the error says nobody is logged on: the block is skipped, not failed
	}{
		{"service, alice on the console", system, true, alice, runAsPlan{User: `CORP\alice`, Session: 2}, "", false},
		{"service, nobody on the console", system, true, consoleUser{}, runAsPlan{}, "no user is logged on to PC-1's console", true},
		{"service, login screen", system, true, consoleUser{Session: 1, Name: "  "}, runAsPlan{}, "no user is logged on to PC-1's console", true},
		{"console agent, alice on the console", admin, false, alice, runAsPlan{},
			`the agent runs as PC-1\admin, not as LocalSystem: it cannot start a process as the logged-on user (CORP\alice); install it as a service (docs/agent.md)`, false},
		{"console agent, itself on the console", admin, false, consoleUser{Session: 1, Name: `PC-1\admin`, SID: admin.ID}, runAsPlan{OwnPool: true}, "", false},
		{"console agent, itself by name (SID unknown)", admin, false, consoleUser{Session: 1, Name: `pc-1\ADMIN`}, runAsPlan{OwnPool: true}, "", false},
		{"console agent, nobody on the console", admin, false, consoleUser{}, runAsPlan{}, "no user is logged on to PC-1's console", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := planConsoleRunAs("PC-1", tt.self, tt.isSystem, tt.console)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to say %q", err, tt.wantErr)
				}
				var nu *noUserError
				if errors.As(err, &nu) != tt.skip {
					t.Fatalf("err = %v (%T): a *noUserError is %v, want %v", err, err, !tt.skip, tt.skip)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("plan = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
