//go:build linux

package cputime

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Self is the user and system CPU time this process has used.
func Self() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Tree is the user and system CPU time used so far by the processes pids and their
// descendants (a worker's launcher and its pwsh), read from /proc; 0 where /proc is missing.
func Tree(pids []int) time.Duration {
	children, ticks := processes()
	var total int64
	for _, pid := range descendants(children, pids) {
		total += ticks[pid]
	}
	return ticksToDuration(total)
}

// Thread is the user and system CPU time used so far by the thread named name (as in its
// comm) of a process in the tree under root; found is false when no such thread runs.
func Thread(root int, name string) (cpu time.Duration, found bool) {
	children, _ := processes()
	for _, pid := range descendants(children, []int{root}) {
		tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*")
		for _, task := range tasks {
			comm, err := os.ReadFile(task + "/comm")
			if err != nil || strings.TrimSpace(string(comm)) != name {
				continue
			}
			if _, ticks, ok := readStat(task + "/stat"); ok {
				return ticksToDuration(ticks), true
			}
		}
	}
	return 0, false
}

// processes reads every process's parent and CPU ticks from /proc.
func processes() (children map[int][]int, ticks map[int]int64) {
	children, ticks = map[int][]int{}, map[int]int64{}
	entries, _ := os.ReadDir("/proc")
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		ppid, t, ok := readStat("/proc/" + ent.Name() + "/stat")
		if !ok {
			continue
		}
		children[ppid] = append(children[ppid], pid)
		ticks[pid] = t
	}
	return children, ticks
}

// descendants lists pids and all their descendants, each once.
func descendants(children map[int][]int, pids []int) []int {
	var all []int
	seen := map[int]bool{}
	queue := slices.Clone(pids)
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		all = append(all, pid)
		queue = append(queue, children[pid]...)
	}
	return all
}

// readStat reads a process's or thread's parent pid and user plus system ticks from its stat file.
func readStat(path string) (ppid int, ticks int64, ok bool) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, false
	}
	// Fields after the ")" that ends the command name: state ppid … utime(12) stime(13).
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	if len(f) < 13 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ppid, ut + st, true
}

func ticksToDuration(ticks int64) time.Duration {
	return time.Duration(ticks) * time.Second / 100 // USER_HZ is 100 on Linux
}
