//go:build unix

package agentws_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/psbridge/psbridge/agent"
	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/testpwsh"
	"github.com/psbridge/psbridge/web"
)

// TestInvokeImmyCommandContextUser: a metascript's `Invoke-ImmyCommand -Context User` block runs
// in a pwsh started as the computer's logged-on user (here the `nobody` account, named through
// the agent's inventory override) when the agent runs as root; it fails with an error naming
// why when the user has no account or the agent cannot switch. With no user logged on the
// block is skipped, as ImmyBot does: no output, a warning naming the computer in the
// metascript's warning stream, and the metascript goes on. -Context System and a logged-on
// user that is the agent's own account run in the agent's own worker.
func TestInvokeImmyCommandContextUser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	root := os.Geteuid() == 0

	pool := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 2})
	st, err := store.Open(filepath.Join(t.TempDir(), "psbridge.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng, err := engine.New(engine.Config{Store: st, Pool: pool, HealthInterval: -1, AgentSyncTick: -1, AgentHeartbeat: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	eng.Start(ctx)
	t.Cleanup(eng.Close)
	srv := httptest.NewServer(web.New(eng, web.Options{}))
	t.Cleanup(srv.Close)
	tn := store.Tenant{Name: "Users"}
	if err := st.CreateTenant(&tn); err != nil {
		t.Fatal(err)
	}
	key, err := eng.CreateEnrollmentKey(tn.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The agents share one worker for their own account; the logged-on user's is their own.
	agentPool := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1, MaxWorkersPerInstance: 1, IdleTimeout: -1})
	userPool := func(ctx context.Context, u agent.LoggedOnUser) (*bridge.Pool, error) {
		m := testpwsh.Module(t)
		return bridge.New(ctx, bridge.Config{Pwsh: testpwsh.Pwsh(t), WorkerScript: m.WorkerScript(),
			MinWorkers: 1, MaxWorkers: 1, MaxWorkersPerInstance: 1, IdleTimeout: -1, User: u.Name})
	}

	nobodyWant, nobodyErr := "nobody", ""
	if !root {
		nobodyWant, nobodyErr = "", "the agent runs as "+me.Username+" and cannot start a process as nobody"
	}
	tests := []struct {
		name     string
		loggedOn string
		context  string
		want     string // [Environment]::UserName in the block; "" when the block did not run
		wantErr  string
		wantWarn string // the metascript's warning
	}{
		{"logged-on user", "nobody", "User", nobodyWant, nobodyErr, ""},
		{"system context ignores the user", "nobody", "System", me.Username, "", ""},
		{"the agent's own account", me.Username, "User", me.Username, "", ""},
		{"no one logged on", "", "User", "", "", "Skipped -Context User on PC-NO-ONE-LOGGED-ON: no user is logged on"},
		{"nobody logged on, system context runs", "", "System", me.Username, "", ""},
		{"unknown account", "psbridge-no-such-user", "User", "", "the logged-on user psbridge-no-such-user of PC-UNKNOWN-ACCOUNT has no local account", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "PC-" + strings.ToUpper(strings.ReplaceAll(tt.name, " ", "-"))
			cfg := agent.Config{StateDir: t.TempDir(), Pool: agentPool, UserPool: userPool,
				Inventory: map[string]string{"deviceId": "user-" + tt.name, "computerName": name, "loggedOnUser": tt.loggedOn}}
			enrolled, err := agent.Enroll(ctx, cfg, srv.URL, key.Key)
			if err != nil {
				t.Fatal(err)
			}
			a, err := agent.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			actx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); _ = a.Run(actx) }()
			defer func() { stop(); <-done }()

			// The statement after the block shows whether the metascript went on.
			res, err := eng.RunScript(ctx, engine.RunScriptInput{ComputerID: enrolled.ComputerID, Script: "$r = Invoke-ImmyCommand -Context " +
				tt.context + " -ConnectTimeout 60 { [Environment]::UserName }\n$r\n'after'"})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to say %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range res.Output {
				var s string
				if err := json.Unmarshal(o, &s); err != nil {
					t.Fatalf("output %s is not a string", o)
				}
				got = append(got, s)
			}
			want := []string{tt.want, "after"}
			if tt.want == "" {
				want = []string{"after"}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("output = %q, want %q", got, want)
			}
			var warnings []string
			for _, r := range res.Records {
				if r.Stream == "warning" {
					warnings = append(warnings, r.Message)
				}
			}
			if tt.wantWarn == "" && len(warnings) > 0 || tt.wantWarn != "" && (len(warnings) != 1 || warnings[0] != tt.wantWarn) {
				t.Fatalf("warnings = %q, want %q", warnings, tt.wantWarn)
			}
		})
	}
}
