package store

import (
	"fmt"
	"testing"
)

func TestReplaceClientsKeepsLinks(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	inst := mustInstance(t, s, "i")
	ta, tb := Tenant{Name: "A"}, Tenant{Name: "B"}
	must(t, s.CreateTenant(&ta))
	must(t, s.CreateTenant(&tb))
	must(t, s.ReplaceClients(inst.ID, []Client{{ExternalClientID: "1", ExternalClientName: "One"}, {ExternalClientID: "2", ExternalClientName: "Two"}}))
	must(t, s.LinkClient(inst.ID, "1", ta.ID))
	must(t, s.LinkClient(inst.ID, "2", tb.ID))
	// Client 2 disappears, 1 is renamed, 3 is new.
	must(t, s.ReplaceClients(inst.ID, []Client{{ExternalClientID: "1", ExternalClientName: "One renamed"}, {ExternalClientID: "3", ExternalClientName: "Three"}}))
	got, err := s.Clients(inst.ID)
	must(t, err)
	want := "[1/One renamed/1 3/Three/0]"
	if s := summariseClients(got); s != want {
		t.Fatalf("clients = %s, want %s", s, want)
	}
	tests := []struct {
		tenant int64
		want   string
		ok     bool
	}{
		{ta.ID, "1", true},
		{tb.ID, "", false},
		{0, "", false},
	}
	for _, tt := range tests {
		c, ok, err := s.ClientForTenant(inst.ID, tt.tenant)
		if err != nil || ok != tt.ok || c.ExternalClientID != tt.want {
			t.Errorf("ClientForTenant(%d) = %+v, %v, %v", tt.tenant, c, ok, err)
		}
	}
	must(t, s.DeleteTenant(ta.ID))
	got, _ = s.Clients(inst.ID)
	if s := summariseClients(got); s != "[1/One renamed/0 3/Three/0]" {
		t.Fatalf("after tenant delete: %s", s)
	}
}

func summariseClients(cs []Client) string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = fmt.Sprintf("%s/%s/%d", c.ExternalClientID, c.ExternalClientName, c.LinkedTenantID)
	}
	return fmt.Sprint(out)
}

func TestAgentsKeepLinksAndPending(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	one, two := mustInstance(t, s, "one"), mustInstance(t, s, "two")
	comp := Computer{Name: "PC"}
	must(t, s.CreateComputer(&comp))
	must(t, s.UpsertAgents(one.ID, []Agent{{ExternalAgentID: "a1", Name: "A1"}, {ExternalAgentID: "a2", Name: "A2", Extra: map[string]any{"k": "v"}}}))
	must(t, s.UpsertAgents(two.ID, []Agent{{ExternalAgentID: "b1", Name: "B1"}}))
	must(t, s.LinkAgent(one.ID, "a1", comp.ID))
	// A later sync reports a1 again without a computer and a new a3.
	must(t, s.UpsertAgents(one.ID, []Agent{{ExternalAgentID: "a1", Name: "A1 renamed", IsOnline: true}, {ExternalAgentID: "a3", Name: "A3"}}))

	agents, err := s.Agents(one.ID)
	must(t, err)
	if got := summariseAgents(agents); got != "[a1/A1 renamed/1 a2/A2/0 a3/A3/0]" {
		t.Fatalf("agents = %s", got)
	}
	if agents[1].Extra["k"] != "v" || !agents[0].IsOnline {
		t.Fatalf("agent fields lost: %+v", agents)
	}
	pending, err := s.PendingAgents()
	must(t, err)
	if got := summariseAgents(pending); got != "[a2/A2/0 a3/A3/0 b1/B1/0]" {
		t.Fatalf("pending = %s", got)
	}
	tests := []struct {
		instance, computer int64
		want               string
		ok                 bool
	}{
		{one.ID, comp.ID, "a1", true},
		{two.ID, comp.ID, "", false},
		{one.ID, 0, "", false},
	}
	for _, tt := range tests {
		a, ok, err := s.AgentForComputer(tt.instance, tt.computer)
		if err != nil || ok != tt.ok || a.ExternalAgentID != tt.want {
			t.Errorf("AgentForComputer(%d, %d) = %+v, %v, %v", tt.instance, tt.computer, a, ok, err)
		}
	}
	must(t, s.LinkAgent(one.ID, "a1", 0))
	if pending, _ := s.PendingAgents(); len(pending) != 4 {
		t.Fatalf("after unlink %d pending, want 4", len(pending))
	}
	must(t, s.DeleteAgent(one.ID, "a1"))
	if agents, _ := s.Agents(one.ID); len(agents) != 2 {
		t.Fatalf("after delete %d agents, want 2", len(agents))
	}
}

func summariseAgents(as []Agent) string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = fmt.Sprintf("%s/%s/%d", a.ExternalAgentID, a.Name, a.ComputerID)
	}
	return fmt.Sprint(out)
}

// BenchmarkUpsertAgents10k measures one sync of 10,000 agents into an instance that already
// holds them (the steady state: every agent is read for its link and rewritten).
func BenchmarkUpsertAgents10k(b *testing.B) {
	s, _ := newTestStore(b, Options{})
	inst := mustInstance(b, s, "bench")
	agents := benchAgents()
	must(b, s.UpsertAgents(inst.ID, agents))
	for b.Loop() {
		if err := s.UpsertAgents(inst.ID, agents); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInsertAgents10k measures the first sync of 10,000 agents into an empty instance.
func BenchmarkInsertAgents10k(b *testing.B) {
	s, _ := newTestStore(b, Options{})
	typeID := mustType(b, s, "bench")
	agents := benchAgents()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		inst := Instance{Name: "bench", TypeID: typeID}
		must(b, s.CreateInstance(&inst))
		b.StartTimer()
		if err := s.UpsertAgents(inst.ID, agents); err != nil {
			b.Fatal(err)
		}
	}
}

// benchAgents returns 10,000 realistic agents.
func benchAgents() []Agent {
	agents := make([]Agent, 10000)
	for i := range agents {
		agents[i] = Agent{ExternalAgentID: fmt.Sprintf("agent-%05d", i), Name: fmt.Sprintf("PC-%05d", i),
			SerialNumber: fmt.Sprintf("SN%08d", i), OSName: "Windows 11 Pro", Manufacturer: "Dell Inc.",
			AgentVersion: "1.2.3", IsOnline: i%2 == 0, SupportsRunningScripts: true, SupportsOnlineStatus: true,
			Extra: map[string]any{"site": "HQ"}}
	}
	return agents
}
