package sandbox

import (
	"os"
	"os/exec"
	"testing"
)

func TestParseLastPID(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"0.20 0.18 0.12 1/80 11206\n", 11206},
		{"12.34 9.63 10.28 7/1234 4194303", 4194303},
		{"0.20 0.18 0.12 1/80", -1},
		{"0.20 0.18 0.12 1/80 x12", -1},
		{"", -1},
	}
	for _, tt := range tests {
		if got := parseLastPID([]byte(tt.in)); got != tt.want {
			t.Errorf("parseLastPID(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// TestTreeSeesNewPIDs checks that the descriptor the tree keeps open reads /proc/loadavg
// afresh: a process started after the tree shows in its last pid, before and after Close.
func TestTreeSeesNewPIDs(t *testing.T) {
	tree := NewTree(os.Getpid(), -1)
	defer tree.Close()
	if tree.loadavg == nil {
		t.Fatal("NewTree did not open /proc/loadavg")
	}
	for _, closed := range []bool{false, true} {
		if closed {
			tree.Close()
		}
		before := tree.lastPID()
		cmd := exec.Command("/bin/true")
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		tree.mu.Lock()
		after := tree.lastPID()
		tree.mu.Unlock()
		if after < 0 || before < 0 {
			t.Fatalf("closed=%v: last pid %d then %d", closed, before, after)
		}
		if after == before || (after < cmd.Process.Pid && after > before) {
			t.Fatalf("closed=%v: last pid %d then %d after starting pid %d", closed, before, after, cmd.Process.Pid)
		}
	}
}
