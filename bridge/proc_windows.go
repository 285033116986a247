package bridge

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// ProtocolHandlesEnv tells a worker on Windows the handle values of its protocol pipes,
// "IN,OUT" in decimal (docs/protocol.md). Windows has no numbered descriptors to pass beyond
// the standard three; the handles are inherited at the same values.
const ProtocolHandlesEnv = "PSBRIDGE_PROTOCOL_HANDLES"

// platProc is a worker's process tree on Windows: normally a job object created with
// JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE. Every process pwsh starts belongs to the job too, and
// when this process exits (even killed), Windows closes the handle and kills them all.
//
// A job's processes must run in the job's session ("Terminal Services: All processes within
// a job must run within the same session as the job", AssignProcessToJobObject), and a User
// worker the agent (a service, session 0) starts with the logged-on user's token runs in the
// user's session. Such a worker, or one Windows refuses to put in the job, runs without one:
// its tree is then stopped by walking a process snapshot from it (descendants), and it does
// not die with this process (pwsh exits when its protocol pipes close; what it started stays).
type platProc struct {
	mu       sync.Mutex
	job      windows.Handle // 0 when the worker runs without one (noJob says why)
	noJob    string         // why the worker has no job object; "" when it has one
	proc     windows.Handle // the worker's process, held until release so its pid is not reused
	pid      uint32
	created  time.Time      // the worker's creation time, for the walk
	memory   windows.Handle // pwsh, for rss; opened once so a reused pid is never read
	released bool
}

// prepare passes the protocol pipes as inherited handles (their values in ProtocolHandlesEnv)
// and starts the process suspended, so that it is in its job (see started) before it runs any
// code.
func (p *platProc) prepare(cmd *exec.Cmd, toWorker, fromWorker *os.File) error {
	in, out := syscall.Handle(toWorker.Fd()), syscall.Handle(fromWorker.Fd())
	var token syscall.Token // set by runAsToken for a worker of another user (Config.Token)
	if cmd.SysProcAttr != nil {
		token = cmd.SysProcAttr.Token
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		AdditionalInheritedHandles: []syscall.Handle{in, out},
		CreationFlags:              windows.CREATE_SUSPENDED | windows.CREATE_NO_WINDOW,
		Token:                      token,
	}
	cmd.Env = append(cmd.Env, protocolHandlesValue(uintptr(in), uintptr(out)))
	return nil
}

// protocolHandlesValue is the ProtocolHandlesEnv entry for the two pipe handles.
func protocolHandlesValue(in, out uintptr) string {
	return ProtocolHandlesEnv + "=" + strconv.FormatUint(uint64(in), 10) + "," + strconv.FormatUint(uint64(out), 10)
}

// newKillOnCloseJob creates an unnamed job object whose processes die when its last handle
// closes.
func newKillOnCloseJob() (windows.Handle, error) {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return 0, fmt.Errorf("create job object: %w", err)
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{
		BasicLimitInformation: windows.JOBOBJECT_BASIC_LIMIT_INFORMATION{
			LimitFlags: windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
		},
	}
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		_ = windows.CloseHandle(job)
		return 0, fmt.Errorf("set up job object: %w", err)
	}
	return job, nil
}

// started puts the suspended process in a job of its own, or leaves it without one (noJob
// says why), then lets it run.
func (p *platProc) started(pid int) error {
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE|windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return fmt.Errorf("open worker process: %w", err)
	}
	p.mu.Lock()
	p.proc, p.pid = h, uint32(pid)
	p.created, _ = processCreated(h) // zero when unreadable: the walk then stops the worker alone
	p.noJob = p.join(h, uint32(pid))
	p.mu.Unlock()
	return resumeProcess(uint32(pid))
}

// join puts the suspended worker h in a new kill-on-close job and returns "", or returns why
// it runs without one. A worker in another session than this process's is not even offered
// to the job: the documentation makes a shared session a requirement, not a checked error,
// so a job Windows accepted it into anyway would be one whose behaviour nobody promises.
func (p *platProc) join(h windows.Handle, pid uint32) string {
	var ours, theirs uint32
	if windows.ProcessIdToSessionId(windows.GetCurrentProcessId(), &ours) == nil &&
		windows.ProcessIdToSessionId(pid, &theirs) == nil && ours != theirs {
		return fmt.Sprintf("it runs in session %d and this process in session %d, and a job's processes must run in the job's session", theirs, ours)
	}
	job, err := newKillOnCloseJob()
	if err != nil {
		return err.Error()
	}
	if err := windows.AssignProcessToJobObject(job, h); err != nil {
		_ = windows.CloseHandle(job)
		return fmt.Sprintf("put the worker in its job object: %v", err)
	}
	p.job = job
	return ""
}

// degraded says why the worker runs without a job object ("" when it has one); the worker logs
// it once.
func (p *platProc) degraded() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.noJob
}

// processCreated is the creation time of process h.
func processCreated(h windows.Handle) (time.Time, error) {
	var created, exited, kernel, user windows.Filetime
	if err := windows.GetProcessTimes(h, &created, &exited, &kernel, &user); err != nil {
		return time.Time{}, fmt.Errorf("GetProcessTimes: %w", err)
	}
	return time.Unix(0, created.Nanoseconds()), nil
}

// processSnapshot lists the processes running now: pid, parent pid and creation time (zero for
// a process this one may not query).
func processSnapshot() ([]procEntry, error) {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPPROCESS, 0)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	defer windows.CloseHandle(snap)
	var out []procEntry
	pe := windows.ProcessEntry32{Size: uint32(unsafe.Sizeof(windows.ProcessEntry32{}))}
	for err = windows.Process32First(snap, &pe); err == nil; err = windows.Process32Next(snap, &pe) {
		e := procEntry{PID: pe.ProcessID, PPID: pe.ParentProcessID}
		if h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pe.ProcessID); err == nil {
			e.Created, _ = processCreated(h)
			_ = windows.CloseHandle(h)
		}
		out = append(out, e)
	}
	if !errors.Is(err, windows.ERROR_NO_MORE_FILES) {
		return out, fmt.Errorf("list processes: %w", err)
	}
	return out, nil
}

// walkRounds bounds killByWalk: each round catches what the processes of the round before
// started between its snapshot and their end.
const walkRounds = 3

// killByWalk kills the worker and every process below it, found in process snapshots
// (descendants); p.mu is held. The worker goes first, so it starts nothing more; a process is
// killed only through a handle whose creation time is the one the snapshot showed, so a pid
// reused since the snapshot is left alone. A process started by a descendant after a round's
// snapshot, whose parent is then killed, names a pid no longer in the next snapshot and is
// missed (the job object has no such gap).
func (p *platProc) killByWalk() {
	if p.proc == 0 {
		return
	}
	_ = windows.TerminateProcess(p.proc, exitKilled)
	for range walkRounds {
		snap, err := processSnapshot()
		if err != nil && len(snap) == 0 {
			return
		}
		created := make(map[uint32]time.Time, len(snap))
		for _, e := range snap {
			created[e.PID] = e.Created
		}
		pids := descendants(snap, p.pid, p.created)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			terminateIfSame(pid, created[pid])
		}
	}
}

// terminateIfSame kills process pid if it is still the one created at created.
func terminateIfSame(pid uint32, created time.Time) {
	h, err := windows.OpenProcess(windows.PROCESS_TERMINATE|windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return // gone, or not ours to kill
	}
	defer windows.CloseHandle(h)
	if c, err := processCreated(h); err != nil || !c.Equal(created) {
		return
	}
	_ = windows.TerminateProcess(h, exitKilled)
}

// resumeProcess resumes the threads of a process started with CREATE_SUSPENDED (os/exec does
// not hand out the thread handle CreateProcess returns).
func resumeProcess(pid uint32) error {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPTHREAD, 0)
	if err != nil {
		return fmt.Errorf("resume worker: %w", err)
	}
	defer windows.CloseHandle(snap)
	te := windows.ThreadEntry32{Size: uint32(unsafe.Sizeof(windows.ThreadEntry32{}))}
	resumed := 0
	for err = windows.Thread32First(snap, &te); err == nil; err = windows.Thread32Next(snap, &te) {
		if te.OwnerProcessID != pid {
			continue
		}
		th, err := windows.OpenThread(windows.THREAD_SUSPEND_RESUME, false, te.ThreadID)
		if err != nil {
			return fmt.Errorf("resume worker: %w", err)
		}
		_, err = windows.ResumeThread(th)
		_ = windows.CloseHandle(th)
		if err != nil {
			return fmt.Errorf("resume worker: %w", err)
		}
		resumed++
	}
	if resumed == 0 {
		return errors.New("resume worker: its thread was not found")
	}
	return nil
}

// release closes the job (killing whatever is still in it) and the process handles kept.
func (p *platProc) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.released = true
	for _, h := range []*windows.Handle{&p.job, &p.proc, &p.memory} {
		if *h != 0 {
			_ = windows.CloseHandle(*h)
			*h = 0
		}
	}
}

// terminate kills every process in the job, or, without one, the worker's process tree.
func (p *platProc) terminate() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.job != 0 {
		_ = windows.TerminateJobObject(p.job, exitKilled)
		return
	}
	p.killByWalk()
}

// exitKilled is the exit code of processes psbridge kills through the job: 128+9, what a
// shell reports for SIGKILL, so that describeExit reads the same on every system.
const exitKilled = 137

// killTree kills every process in the worker's job (or below it, without one).
func (w *worker) killTree() { w.plat.terminate() }

// terminateTree kills the job: Windows has no signal that asks a process tree to stop.
func (w *worker) terminateTree() { w.plat.terminate() }

// kill ends the worker and everything it started at once.
func (w *worker) kill() { w.plat.terminate() }

var procGetProcessMemoryInfo = windows.NewLazySystemDLL("kernel32.dll").NewProc("K32GetProcessMemoryInfo")

// processMemoryCounters is PROCESS_MEMORY_COUNTERS.
type processMemoryCounters struct {
	cb                         uint32
	PageFaultCount             uint32
	PeakWorkingSetSize         uintptr
	WorkingSetSize             uintptr
	QuotaPeakPagedPoolUsage    uintptr
	QuotaPagedPoolUsage        uintptr
	QuotaPeakNonPagedPoolUsage uintptr
	QuotaNonPagedPoolUsage     uintptr
	PagefileUsage              uintptr
	PeakPagefileUsage          uintptr
}

// rss returns the working set of the process running PowerShell (0 when unknown).
func (w *worker) rss() int64 {
	p := &w.plat
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released {
		return 0
	}
	if p.memory == 0 {
		pid := w.pid
		if w.info.PID > 0 {
			pid = w.info.PID
		}
		h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
		if err != nil {
			return 0
		}
		p.memory = h
	}
	var c processMemoryCounters
	c.cb = uint32(unsafe.Sizeof(c))
	if r, _, _ := procGetProcessMemoryInfo.Call(uintptr(p.memory), uintptr(unsafe.Pointer(&c)), uintptr(c.cb)); r == 0 {
		return 0
	}
	return int64(c.WorkingSetSize)
}

// platformEnv points the folders pwsh and .NET use on Windows (temporary files, the user
// profile's module and history folders, the local and roaming application data) at the
// worker's private directory, as HOME and TMPDIR do on Unix.
func platformEnv(dir string) []string {
	return []string{
		"TEMP=" + dir,
		"TMP=" + dir,
		"USERPROFILE=" + dir,
		"APPDATA=" + filepath.Join(dir, "AppData", "Roaming"),
		"LOCALAPPDATA=" + filepath.Join(dir, "AppData", "Local"),
	}
}

// processMayRun is always true on Windows for now: stale workers' directories are left in
// place there rather than risk removing a live pool's.
func processMayRun(pid int) bool { return true }

// ownedByThisAccount is not consulted on Windows (processMayRun keeps every directory).
func ownedByThisAccount(info os.FileInfo) bool { return false }

// tryLock does nothing on Windows, where stale workers' directories are never removed.
func tryLock(f *os.File) error { return nil }
