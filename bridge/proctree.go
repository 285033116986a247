package bridge

import "time"

// procEntry is one process of a system snapshot: what a process tree walk needs to tell a
// process's children from unrelated processes that reuse a pid. On Windows it comes from
// CreateToolhelp32Snapshot (pid, parent pid) and GetProcessTimes (creation time); the walk
// itself (descendants) is the same on every system, so it is tested everywhere.
type procEntry struct {
	PID, PPID uint32
	// Created is when the process started; the zero time when it could not be read (such a
	// process is never taken for a descendant: nothing proves it is one).
	Created time.Time
}

// descendants returns the pids of every process below root in snapshot, parents before
// their children, root itself excluded. A process is a child of P when its parent pid is
// P's pid and it was created no earlier than P: a parent pid is only a number, which Windows
// gives to a new process once the parent has exited and its last handle is closed, so an
// older process "whose parent" has P's pid is the child of an earlier holder of that pid,
// not of P. That test also breaks the cycles pid reuse can make (A's parent pid names B and
// B's names A).
//
// rootCreated is root's creation time. Root need not be in the snapshot: its children outlive
// it, still naming its pid. The caller must keep a handle open on root while it walks, so
// that its pid is not reused; if the snapshot nevertheless holds another process under
// root's pid (created at another time), nothing is root's and descendants returns nil. Root
// listed with an unknown creation time (exiting, say) is taken to be root.
func descendants(snapshot []procEntry, root uint32, rootCreated time.Time) []uint32 {
	if rootCreated.IsZero() {
		return nil
	}
	children := make(map[uint32][]procEntry, len(snapshot))
	for _, e := range snapshot {
		if e.PID == root && !e.Created.IsZero() && !e.Created.Equal(rootCreated) {
			return nil // root's pid is another process's now
		}
		if e.PID == e.PPID || e.Created.IsZero() {
			continue // the idle process (pid 0 is its own parent), or unknown age
		}
		children[e.PPID] = append(children[e.PPID], e)
	}
	var out []uint32
	seen := map[uint32]bool{root: true}
	queue := []procEntry{{PID: root, Created: rootCreated}}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p.PID] {
			if seen[c.PID] || c.Created.Before(p.Created) {
				continue
			}
			seen[c.PID] = true
			out = append(out, c.PID)
			queue = append(queue, c)
		}
	}
	return out
}
