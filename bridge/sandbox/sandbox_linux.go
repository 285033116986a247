//go:build linux

package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	if s, ok := os.LookupEnv(specEnv); ok {
		os.Exit(runLauncher(s))
	}
}

// Wrap rewrites cmd so that it starts through the launcher, which applies p and cleans up
// after the process. cmd must not have started; its Path, Args, Env, Dir, ExtraFiles and
// SysProcAttr keep their meaning for the process the launcher starts (SysProcAttr's process
// group and session settings apply to the launcher, whose group the process shares).
func Wrap(cmd *exec.Cmd, p Policy) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("sandbox: find the launcher: %w", err)
	}
	path := cmd.Path
	if !filepath.IsAbs(path) {
		if path, err = exec.LookPath(path); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	sp := spec{Path: path, Args: cmd.Args, Private: p.Private, Files: 3 + len(cmd.ExtraFiles), ParentPID: os.Getpid()}
	if a := p.Account; a != nil {
		sp.UID, sp.GID = &a.UID, &a.GID
	}
	for _, d := range p.Deny {
		if d != "" {
			sp.Deny = append(sp.Deny, d)
		}
	}
	b, err := json.Marshal(sp)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(append([]string{}, env...), specEnv+"="+string(b))
	cmd.Path = exe
	cmd.Args = []string{"psbridge-sandbox"}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// The launcher cleans up when the server dies, so it must get a signal it can handle.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	return nil
}

var (
	probeOnce sync.Once
	probed    Report
)

// Probe reports what confinement this system gives (see Report).
func Probe() Report {
	probeOnce.Do(func() {
		r := Report{Launcher: true}
		r.Landlock = landlockABI()
		switch {
		case r.Landlock <= 0:
			r.Notes = append(r.Notes, "Landlock is not available in this kernel (needs Linux 5.13+ with landlock in the lsm= list): workers can read every file this user can")
		default:
			r.Filesystem = true
			r.SignalScope = r.Landlock >= 6
			if !r.SignalScope {
				r.Notes = append(r.Notes, "Landlock ABI < 6: workers can still signal other processes of this user")
			}
		}
		if exe, err := os.Executable(); err != nil || exe == "" {
			r.Launcher = false
			r.Notes = append(r.Notes, "cannot find this executable to use as launcher")
		}
		probed = r
	})
	return probed
}

// ---- the launcher ----------------------------------------------------------------------

// runLauncher is the whole life of a launcher process: set up, start pwsh, wait, clean up.
// It returns the exit status.
func runLauncher(raw string) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "psbridge sandbox: "+format+"\n", args...)
		return ExitLauncherFailed
	}
	var sp spec
	if err := json.Unmarshal([]byte(raw), &sp); err != nil {
		return fail("bad spec: %v", err)
	}
	_ = os.Unsetenv(specEnv)
	if sp.ParentPID != 0 && os.Getppid() != sp.ParentPID {
		return fail("the server exited before the worker started")
	}
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)

	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGCHLD, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)

	// Landlock applies to the calling thread and to what it forks: keep both on this thread.
	runtime.LockOSThread()
	if abi := landlockABI(); abi > 0 {
		if err := restrict(abi, sp.Deny, sp.Private); err != nil {
			return fail("landlock: %v", err)
		}
	}
	files := make([]*os.File, sp.Files)
	for i := range files {
		files[i] = os.NewFile(uintptr(i), fmt.Sprintf("fd%d", i))
	}
	proc, err := os.StartProcess(sp.Path, sp.Args, &os.ProcAttr{
		Env:   os.Environ(),
		Files: files,
		Sys:   procAttr(sp),
	})
	if err != nil {
		return fail("start %s: %v", sp.Path, err)
	}
	for _, f := range files[min(3, len(files)):] {
		_ = f.Close() // pwsh holds the protocol pipes now; the server must see them close with it
	}
	pwsh := proc.Pid
	status := -1
	for status < 0 {
		switch <-sigs {
		case syscall.SIGTERM:
			_ = syscall.Kill(pwsh, syscall.SIGKILL)
		case syscall.SIGCHLD:
			status = reap(pwsh)
		}
	}
	killTree(os.Getpid(), 0, 5*time.Second)
	return status
}

// procAttr is how the launcher starts pwsh: killed with the launcher, as another account when
// the spec names one.
func procAttr(sp spec) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if sp.UID != nil && sp.GID != nil {
		a.Credential = &syscall.Credential{Uid: *sp.UID, Gid: *sp.GID, Groups: []uint32{}}
	}
	return a
}

// reap collects every exited child without blocking and returns pwsh's exit status (128+N
// for signal N) once it has exited, or -1.
func reap(pwsh int) int {
	status := -1
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return status
		}
		if pid == pwsh {
			switch {
			case ws.Signaled():
				status = ExitSignalBase + int(ws.Signal())
			default:
				status = ws.ExitStatus()
			}
		}
	}
}

// killTree kills every descendant of root but keep, until none is left or the time is up.
// The caller is root or its subreaper, so it reaps what it kills.
func killTree(root, keep int, limit time.Duration) int {
	deadline := time.Now().Add(limit)
	killed := 0
	for {
		procs, err := scanProcs(0)
		if err != nil {
			return killed
		}
		victims := descendants(procs, root, keep)
		if len(victims) == 0 {
			if root == os.Getpid() {
				reap(0)
			}
			return killed
		}
		for _, pid := range victims {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed++
			}
		}
		if root == os.Getpid() {
			reap(0)
		}
		if time.Now().After(deadline) {
			return killed
		}
		time.Sleep(5 * time.Millisecond) // let the kills land before looking again
	}
}

// ---- the process table -----------------------------------------------------------------

// procInfo is what scanProcs reads of one process.
type procInfo struct {
	pid, ppid int
	zombie    bool
}

// scanProcs lists the processes (thread group leaders) whose pid is above after (0: all).
func scanProcs(after int) ([]procInfo, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	var out []procInfo
	var buf [512]byte
	for _, n := range names {
		pid := atoi(n)
		if pid <= after {
			continue
		}
		pi, ok := readStat(pid, buf[:])
		if ok {
			out = append(out, pi)
		}
	}
	return out, nil
}

// readStat parses pid, state and ppid from /proc/<pid>/stat.
func readStat(pid int, buf []byte) (procInfo, bool) {
	fd, err := unix.Open("/proc/"+itoa(pid)+"/stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return procInfo{}, false
	}
	n, err := unix.Read(fd, buf)
	unix.Close(fd)
	if err != nil || n <= 0 {
		return procInfo{}, false
	}
	s := string(buf[:n])
	// "pid (comm) S ppid ...": comm may hold spaces and parentheses; the last ')' ends it.
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+4 > len(s) {
		return procInfo{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return procInfo{}, false
	}
	return procInfo{pid: pid, ppid: atoi(f[1]), zombie: f[0] == "Z" || f[0] == "X"}, true
}

// descendants returns the live processes below root, keep and its descendants excepted.
func descendants(procs []procInfo, root, keep int) []int {
	below := map[int]bool{root: true}
	var out []int
	for changed := true; changed; {
		changed = false
		for _, p := range procs {
			if below[p.pid] || !below[p.ppid] || p.pid == keep {
				continue
			}
			below[p.pid] = true
			changed = true
			if !p.zombie {
				out = append(out, p.pid)
			}
		}
	}
	return out
}

// lastPID is the most recently allocated pid in this pid namespace (from /proc/loadavg).
func lastPID() int {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	return parseLastPID(b)
}

// parseLastPID reads the fifth field of /proc/loadavg ("0.20 0.18 0.12 1/80 11206"), -1 when
// there is none.
func parseLastPID(b []byte) int {
	f := strings.Fields(string(b))
	if len(f) < 5 {
		return -1
	}
	return atoi(f[4])
}

// Tree tracks the processes below one launched process so that what a call started can be
// killed when the call ends, cheaply: it only looks at pids allocated since its last sweep.
type Tree struct {
	root, keep int
	mu         sync.Mutex
	sweptTo    int
	// loadavg is /proc/loadavg, kept open: a sweep follows every call, and one pread costs a
	// fraction of opening, reading and closing the file (which was ~5% of the plugin
	// endpoint's Go CPU). nil once closed, or when it could not be opened.
	loadavg *os.File
}

// NewTree tracks the descendants of root (the launcher), keep (pwsh) and its threads excepted.
// Close releases it.
func NewTree(root, keep int) *Tree {
	t := &Tree{root: root, keep: keep}
	if f, err := os.Open("/proc/loadavg"); err == nil {
		t.loadavg = f
	}
	t.sweptTo = t.lastPID()
	return t
}

// lastPID is lastPID through the tree's descriptor (t.mu held, or t not yet shared).
func (t *Tree) lastPID() int {
	if t.loadavg == nil {
		return lastPID()
	}
	var buf [128]byte
	n, err := t.loadavg.ReadAt(buf[:], 0)
	if n == 0 && err != nil {
		return lastPID()
	}
	return parseLastPID(buf[:n])
}

// Close releases the tree's descriptor; a later Sweep still works, reading the file afresh.
func (t *Tree) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.loadavg != nil {
		_ = t.loadavg.Close()
		t.loadavg = nil
	}
}

// Sweep kills every process below the tree's root that is not keep, and returns how many it
// killed. It costs one small read when no process was created since the last sweep.
func (t *Tree) Sweep() (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	killed := 0
	signalled := map[int]bool{}
	for round := 0; round < 50; round++ {
		last := t.lastPID()
		if last < 0 {
			return killed, errors.New("sandbox: /proc/loadavg is unreadable")
		}
		if last == t.sweptTo {
			return killed, nil
		}
		after := t.sweptTo
		if last < after { // pids wrapped around
			after = 0
		}
		procs, err := scanProcs(after)
		if err != nil {
			return killed, fmt.Errorf("sandbox: scan processes: %w", err)
		}
		// Orphans were re-parented to the launcher; children of pwsh hang below keep.
		victims := append(descendants(procs, t.root, t.keep), descendants(procs, t.keep, -1)...)
		if len(victims) == 0 {
			t.sweptTo = last
			return killed, nil
		}
		again := true
		for _, pid := range victims {
			if !signalled[pid] {
				again = false
				signalled[pid] = true
				killed++
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if again {
			time.Sleep(time.Millisecond) // only the dying are left: let them die
		}
		// Look at the same range again: the killed may have forked meanwhile.
	}
	return killed, errors.New("sandbox: the call's processes kept forking")
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func itoa(n int) string { return fmt.Sprint(n) }

// HideEnviron protects the server's secrets from the processes it starts: it overwrites the
// values of the variables whose names start with prefix in the process's original environment
// block (what /proc/<pid>/environ shows) and makes the process not dumpable, so other processes
// of this user can neither read that file nor the process's memory. The Go runtime copied the
// environment at start, so os.Getenv still returns the real values; only what other processes
// can read changes.
func HideEnviron(prefix string) {
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return
	}
	f := strings.Fields(s[i+1:])
	// Fields after the command: env_start and env_end are fields 50 and 51 of stat (1-based),
	// i.e. 47 and 48 here (state is field 3).
	if len(f) < 49 {
		return
	}
	start, end := parseUint(f[47]), parseUint(f[48])
	if start == 0 || end <= start || end-start > 1<<20 {
		return
	}
	mem, err := os.OpenFile("/proc/self/mem", os.O_RDWR, 0)
	if err != nil {
		return
	}
	defer mem.Close()
	block := make([]byte, end-start)
	if _, err := mem.ReadAt(block, int64(start)); err != nil {
		return
	}
	changed := false
	for off := 0; off < len(block); {
		n := 0
		for off+n < len(block) && block[off+n] != 0 {
			n++
		}
		kv := block[off : off+n]
		if eq := strings.IndexByte(string(kv), '='); eq > 0 && strings.HasPrefix(string(kv), prefix) {
			for j := eq + 1; j < len(kv); j++ {
				kv[j] = 'x'
			}
			changed = true
		}
		off += n + 1
	}
	if changed {
		_, _ = mem.WriteAt(block, int64(start))
	}
}

func parseUint(s string) uint64 {
	var n uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + uint64(c-'0')
	}
	return n
}
