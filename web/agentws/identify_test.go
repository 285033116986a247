package agentws_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/psbridge/psbridge/agent"
	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/testpwsh"
	"github.com/psbridge/psbridge/web"
)

// testClock is a clock the test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// identifyScript lists client 7 with agent a-1; its GetInventoryScript asks the computer's
// agent for the id, as integrations do on ImmyBot.
const identifyScript = `$Integration = New-DynamicIntegration -Init { [OpResult]::Ok() } -HealthCheck { New-HealthyResult }
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients {
    New-IntegrationClient -ClientId 7 -ClientName 'Seven'
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingAgents -GetAgents {
    param([string[]]$ClientIds)
    New-IntegrationAgent -Name 'PC-1' -AgentId 'a-1' -ClientId 7
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsInventoryIdentification -GetInventoryScript {
    Invoke-ImmyCommand { 'a-1' }
}
$Integration
`

// TestIdentificationRunsDaily: a computer is identified when its agent first connects, again
// once IdentifyPeriod (24 h) has passed on the engine's clock while it stays connected, not
// before, and not while it is offline. The clock is moved by hand; nothing sleeps.
func TestIdentificationRunsDaily(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	clock := &testClock{now: t0}

	pool := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 2})
	st, err := store.Open(filepath.Join(t.TempDir(), "psbridge.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng, err := engine.New(engine.Config{Store: st, Pool: pool, HealthInterval: -1, AgentSyncTick: -1,
		AgentHeartbeat: time.Second, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	eng.Start(ctx)
	t.Cleanup(eng.Close)
	srv := httptest.NewServer(web.New(eng, web.Options{}))
	t.Cleanup(srv.Close)

	typ, err := eng.CreateType(ctx, engine.TypeInput{Name: "Daily", Script: identifyScript, ScriptName: "Daily.ps1"})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := eng.CreateInstance(ctx, engine.InstanceInput{Name: "Daily", TypeID: typ.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Clients(ctx, inst.ID); err != nil {
		t.Fatal(err)
	}
	tn, err := eng.CreateTenant(engine.TenantInput{Name: "Daily tenant"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.MapClient(inst.ID, "7", tn.ID); err != nil {
		t.Fatal(err)
	}
	key, err := eng.CreateEnrollmentKey(tn.ID, 0)
	if err != nil {
		t.Fatal(err)
	}

	agentPool := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1, MaxWorkersPerInstance: 1, IdleTimeout: -1})
	cfg := agent.Config{StateDir: t.TempDir(), Pool: agentPool, Inventory: map[string]string{"deviceId": "daily-1", "computerName": "PC-1"}}
	enrolled, err := agent.Enroll(ctx, cfg, srv.URL, key.Key)
	if err != nil {
		t.Fatal(err)
	}
	id := enrolled.ComputerID
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	actx, stopAgent := context.WithCancel(ctx)
	agentDone := make(chan struct{})
	go func() { defer close(agentDone); _ = a.Run(actx) }()
	t.Cleanup(func() { stopAgent(); <-agentDone })

	instKey := strconv.FormatInt(inst.ID, 10)
	// identifiedAt waits until the computer's identification by the integration ran at the
	// clock time want, and checks it linked the agent.
	identifiedAt := func(want time.Time) {
		t.Helper()
		for {
			c, err := eng.Computer(id)
			if err != nil {
				t.Fatal(err)
			}
			if r, ok := c.Identification[instKey]; ok && r.At.Equal(want) {
				if !r.OK || r.AgentID != "a-1" {
					t.Fatalf("identification at %s: %+v, want agent a-1", want, r)
				}
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("no identification at %s: %+v", want, c.Identification)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	// waitOnline waits until the hub sees the computer as online (or offline).
	waitOnline := func(want bool) {
		t.Helper()
		for eng.Hub().Status(id).Online != want {
			select {
			case <-ctx.Done():
				t.Fatalf("computer %d never became online=%v", id, want)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}

	waitOnline(true)
	identifiedAt(t0) // the first connect

	steps := []struct {
		name    string
		at      time.Duration // after t0
		offline bool          // stop the agent first
		wantDue bool
	}{
		{"an hour later", time.Hour, false, false},
		{"a minute before a day", 24*time.Hour - time.Minute, false, false},
		{"a day later", 24 * time.Hour, false, true},
		{"an hour after that", 25 * time.Hour, false, false},
		{"two days, offline", 48 * time.Hour, true, false},
	}
	for _, s := range steps {
		if s.offline {
			stopAgent()
			<-agentDone
			waitOnline(false)
		}
		clock.Set(t0.Add(s.at))
		due := eng.IdentifyDue(ctx)
		if got := slices.Contains(due, id); got != s.wantDue {
			t.Fatalf("%s: IdentifyDue = %v, due = %v, want %v", s.name, due, got, s.wantDue)
		}
		if s.wantDue {
			identifiedAt(t0.Add(s.at))
		}
	}
}
