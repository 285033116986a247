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
	"unsafe"

	"golang.org/x/sys/windows"
)

// ProtocolHandlesEnv tells a worker on Windows the handle values of its protocol pipes,
// "IN,OUT" in decimal (docs/protocol.md). Windows has no numbered descriptors to pass beyond
// the standard three; the handles are inherited at the same values.
const ProtocolHandlesEnv = "PSBRIDGE_PROTOCOL_HANDLES"

// platProc is a worker's process tree on Windows: a job object created with
// JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE. Every process pwsh starts belongs to the job too, and
// when this process exits (even killed), Windows closes the handle and kills them all.
type platProc struct {
	mu     sync.Mutex
	job    windows.Handle
	memory windows.Handle // pwsh, for rss; opened once so a reused pid is never read
}

// prepare creates the job, passes the protocol pipes as inherited handles (their values in
// ProtocolHandlesEnv) and starts the process suspended, so that it is in the job before it
// runs any code.
func (p *platProc) prepare(cmd *exec.Cmd, toWorker, fromWorker *os.File) error {
	job, err := newKillOnCloseJob()
	if err != nil {
		return err
	}
	p.job = job
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

// started puts the suspended process in the job, then lets it run.
func (p *platProc) started(pid int) error {
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(pid))
	if err != nil {
		return fmt.Errorf("open worker process: %w", err)
	}
	err = windows.AssignProcessToJobObject(p.job, h)
	_ = windows.CloseHandle(h)
	if err != nil {
		return fmt.Errorf("put the worker in its job object: %w", err)
	}
	return resumeProcess(uint32(pid))
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

// release closes the job (killing whatever is still in it) and the process handle rss keeps.
func (p *platProc) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.job != 0 {
		_ = windows.CloseHandle(p.job)
		p.job = 0
	}
	if p.memory != 0 {
		_ = windows.CloseHandle(p.memory)
		p.memory = 0
	}
}

// terminate kills every process in the job.
func (p *platProc) terminate() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.job != 0 {
		_ = windows.TerminateJobObject(p.job, exitKilled)
	}
}

// exitKilled is the exit code of processes psbridge kills through the job: 128+9, what a
// shell reports for SIGKILL, so that describeExit reads the same on every system.
const exitKilled = 137

// killTree kills every process in the worker's job.
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
	if p.job == 0 {
		return 0 // exited and released
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
