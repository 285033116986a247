package store

import (
	"fmt"
	"testing"
	"time"
)

func TestCallLogRing(t *testing.T) {
	s, _ := newTestStore(t, Options{MaxCallLog: 5})
	one, two := mustInstance(t, s, "one"), mustInstance(t, s, "two")
	for i := 1; i <= 12; i++ {
		inst := one.ID
		if i%3 == 0 {
			inst = two.ID
		}
		e := CallLogEntry{InstanceID: inst, Method: fmt.Sprintf("m%d", i), Duration: time.Millisecond, OK: true}
		must(t, s.AppendCall(&e))
		if e.ID != uint64(i) {
			t.Fatalf("call %d got id %d", i, e.ID)
		}
	}
	tests := []struct {
		name     string
		instance int64
		limit    int
		before   uint64
		want     []uint64
	}{
		{"all kept", 0, 0, 0, []uint64{12, 11, 10, 9, 8}},
		{"limit", 0, 2, 0, []uint64{12, 11}},
		{"page", 0, 2, 11, []uint64{10, 9}},
		{"before beyond newest", 0, 1, 100, []uint64{12}},
		{"instance one", one.ID, 0, 0, []uint64{11, 10, 8}},
		{"instance two", two.ID, 0, 0, []uint64{12, 9}},
		{"instance two page", two.ID, 5, 12, []uint64{9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Calls(tt.instance, tt.limit, tt.before)
			must(t, err)
			ids := make([]uint64, len(got))
			for i, e := range got {
				ids[i] = e.ID
			}
			if fmt.Sprint(ids) != fmt.Sprint(tt.want) {
				t.Fatalf("ids = %v, want %v", ids, tt.want)
			}
		})
	}
	// The per-instance index must shrink with the ring.
	var indexed int
	for _, inst := range []int64{one.ID, two.ID} {
		got, _ := s.Calls(inst, 0, 0)
		indexed += len(got)
	}
	if indexed != 5 {
		t.Fatalf("index holds %d entries, want 5", indexed)
	}
}

func TestHealthHistoryBound(t *testing.T) {
	s, _ := newTestStore(t, Options{MaxHealthEvents: 3})
	one, two := mustInstance(t, s, "one"), mustInstance(t, s, "two")
	for i := 0; i < 10; i++ {
		must(t, s.AddHealthEvent(HealthEvent{InstanceID: one.ID, Status: StatusHealthy, Message: fmt.Sprint(i)}))
	}
	must(t, s.AddHealthEvent(HealthEvent{InstanceID: two.ID, Status: StatusUnhealthy}))
	tests := []struct {
		instance int64
		limit    int
		want     []string
	}{
		{one.ID, 0, []string{"9", "8", "7"}},
		{one.ID, 2, []string{"9", "8"}},
		{two.ID, 0, []string{""}},
	}
	for _, tt := range tests {
		got, err := s.HealthEvents(tt.instance, tt.limit)
		must(t, err)
		msgs := make([]string, len(got))
		for i, e := range got {
			msgs[i] = e.Message
		}
		if fmt.Sprint(msgs) != fmt.Sprint(tt.want) {
			t.Errorf("instance %d limit %d: %v, want %v", tt.instance, tt.limit, msgs, tt.want)
		}
	}
}
