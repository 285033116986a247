package bridge

import (
	"slices"
	"testing"
	"time"
)

// TestDescendants: the process tree walk the Windows worker falls back to when it has no job
// object (a User worker in another session) finds every process below the worker, parents
// first, and none that only reuses a pid of the tree.
func TestDescendants(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	const root = 100
	// A chain of 10,000 processes, each the child of the one before: the walk must not recurse.
	var chain []procEntry
	var chainWant []uint32
	for i := range uint32(10000) {
		parent := uint32(root)
		if i > 0 {
			parent = 1000 + i - 1
		}
		chain = append(chain, procEntry{PID: 1000 + i, PPID: parent, Created: at(int(i) + 1)})
		chainWant = append(chainWant, 1000+i)
	}
	tests := []struct {
		name        string
		snapshot    []procEntry
		rootCreated time.Time
		want        []uint32
	}{
		{"children and grandchildren, parents first", []procEntry{
			{0, 0, at(-100)}, {4, 0, at(-100)},
			{300, 200, at(3)}, {root, 4, at(0)}, {200, root, at(1)}, {201, root, at(2)}, {999, 4, at(5)},
		}, at(0), []uint32{200, 201, 300}},
		{"no children", []procEntry{{root, 4, at(0)}, {999, 4, at(5)}}, at(0), nil},
		{"a process older than root that names root's pid is not its child (pid reuse)", []procEntry{
			{root, 4, at(10)}, {200, root, at(5)}, {201, root, at(11)},
		}, at(10), []uint32{201}},
		{"a grandchild older than its supposed parent is not in the tree (the parent's pid was reused)", []procEntry{
			{root, 4, at(0)}, {200, root, at(10)}, {300, 200, at(5)}, {301, 200, at(11)}, {400, 300, at(6)},
		}, at(0), []uint32{200, 301}},
		{"a child created in the same tick as its parent is its child", []procEntry{
			{root, 4, at(0)}, {200, root, at(0)},
		}, at(0), []uint32{200}},
		{"a cycle through root ends (root's parent pid names its grandchild, all in one tick)", []procEntry{
			{root, 300, at(0)}, {200, root, at(0)}, {300, 200, at(0)},
		}, at(0), []uint32{200, 300}},
		{"a cycle beside the tree is not in it", []procEntry{
			{root, 4, at(0)}, {200, root, at(1)}, {500, 600, at(1)}, {600, 500, at(1)},
		}, at(0), []uint32{200}},
		{"a process that names itself its parent", []procEntry{
			{root, 4, at(0)}, {200, root, at(1)}, {300, 300, at(2)},
		}, at(0), []uint32{200}},
		{"a process whose creation time is unknown is left alone", []procEntry{
			{root, 4, at(0)}, {200, root, time.Time{}}, {300, 200, at(3)}, {201, root, at(2)},
		}, at(0), []uint32{201}},
		{"root gone: its orphans still name it", []procEntry{
			{200, root, at(1)}, {300, 200, at(2)}, {150, root, at(-1)},
		}, at(0), []uint32{200, 300}},
		{"root listed with an unknown creation time (exiting): its children are still found", []procEntry{
			{root, 4, time.Time{}}, {200, root, at(1)},
		}, at(0), []uint32{200}},
		{"root's pid is another process's now: nothing is root's", []procEntry{
			{root, 4, at(50)}, {200, root, at(51)},
		}, at(0), nil},
		{"root's creation time unknown: nothing is provably root's", []procEntry{
			{root, 4, at(0)}, {200, root, at(1)},
		}, time.Time{}, nil},
		{"a deep chain", append([]procEntry{{root, 4, at(0)}}, chain...), at(0), chainWant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := descendants(tt.snapshot, root, tt.rootCreated)
			if !slices.Equal(got, tt.want) {
				if len(got) > 10 || len(tt.want) > 10 {
					t.Fatalf("descendants: %d pids, want %d", len(got), len(tt.want))
				}
				t.Fatalf("descendants = %v, want %v", got, tt.want)
			}
		})
	}
}
