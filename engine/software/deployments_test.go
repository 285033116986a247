package software

import (
	"testing"

	"github.com/psbridge/psbridge/engine/store"
)

// TestWinning checks the rule that picks a computer's deployment of each software: one
// targeting the computer beats one targeting its tenant; others do not apply.
func TestWinning(t *testing.T) {
	pc := store.Computer{ID: 7, TenantID: 3}
	tenant := func(id, sw, tn int64, st int) store.Deployment {
		return store.Deployment{ID: id, SoftwareID: sw, TenantID: tn, DesiredSoftwareState: st}
	}
	computer := func(id, sw, c int64, st int) store.Deployment {
		return store.Deployment{ID: id, SoftwareID: sw, ComputerID: c, DesiredSoftwareState: st}
	}
	for _, tc := range []struct {
		name string
		ds   []store.Deployment
		want []int64 // winning deployment ids, in order
	}{
		{"none", nil, nil},
		{"tenant deployment applies", []store.Deployment{tenant(1, 10, 3, 5)}, []int64{1}},
		{"other tenant does not apply", []store.Deployment{tenant(1, 10, 4, 5)}, nil},
		{"other computer does not apply", []store.Deployment{computer(1, 10, 8, 5)}, nil},
		{"computer beats tenant (computer first)", []store.Deployment{computer(1, 10, 7, 1), tenant(2, 10, 3, 5)}, []int64{1}},
		{"computer beats tenant (tenant first)", []store.Deployment{tenant(1, 10, 3, 5), computer(2, 10, 7, 1)}, []int64{2}},
		{"one winner per software", []store.Deployment{tenant(1, 10, 3, 5), tenant(2, 11, 3, 6), computer(3, 11, 7, 1), computer(4, 12, 8, 1)}, []int64{1, 3}},
		{"tie: lower id", []store.Deployment{tenant(2, 10, 3, 5), tenant(1, 10, 3, 1)}, []int64{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Winning(tc.ds, pc)
			var ids []int64
			for _, d := range got {
				ids = append(ids, d.ID)
			}
			if len(ids) != len(tc.want) {
				t.Fatalf("winners %v, want %v", ids, tc.want)
			}
			for i := range ids {
				if ids[i] != tc.want[i] {
					t.Fatalf("winners %v, want %v", ids, tc.want)
				}
			}
		})
	}
}
