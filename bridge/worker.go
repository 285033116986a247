package bridge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/psbridge/psbridge/bridge/sandbox"
	"github.com/rs/zerolog"
)

// protocolVersion is the version of the worker protocol (docs/protocol.md) this supervisor
// speaks. A worker announces its own in the handshake; any other version fails the start,
// since a message of one version may mean something else in another.
const protocolVersion = 1

// checkHandshake accepts a worker's handshake, or says why it cannot serve calls.
func checkHandshake(info readyInfo) error {
	if info.Protocol != protocolVersion {
		return fmt.Errorf("the worker speaks protocol version %d and this psbridge speaks %d: its PSBridge module (%s) is not the one built into this psbridge",
			info.Protocol, protocolVersion, info.ModuleVersion)
	}
	return nil
}

// warmUpReport is the params of the worker's warmedUp notification: its warm-up ended.
type warmUpReport struct {
	Invocations int64  `json:"invocations"` // pipelines the worker had run then, calls included
	Error       string `json:"error,omitempty"`
}

// readyInfo is the worker's handshake.
type readyInfo struct {
	Protocol      int    `json:"protocol"`
	PID           int    `json:"pid"`
	PSVersion     string `json:"psVersion"`
	ModuleVersion string `json:"moduleVersion"`
}

// activeCall routes a running call's records and callbacks.
type activeCall struct {
	ctx      context.Context // the caller's; callbacks run under it (see nestedCall)
	id       string
	onRecord func(Record)
	host     Host
	records  []Record
	secrets  []string
}

// worker is one pwsh process. It runs one top-level call at a time; the pool guarantees that.
type worker struct {
	pid   int
	cmd   *exec.Cmd
	conn  *conn
	dir   string
	log   zerolog.Logger
	stray *tailBuffer
	info  readyInfo

	exited  chan struct{}
	exitErr error

	mu     sync.Mutex
	active *activeCall
	ready  chan readyInfo

	statmMu     sync.Mutex // guards statm (see rss), and tree until it is set
	statm       *os.File
	statmClosed bool

	tree      *sandbox.Tree // what the worker's calls start, for sweep
	plat      platProc      // the platform's handle on the process tree (proc_*.go)
	reasonMu  sync.Mutex    // guards reason
	reason    string        // why the worker was killed or is broken, once known
	faulted   atomic.Bool   // the protocol broke: never route another call here
	pwshPID   atomic.Int64  // pwsh's pid from the handshake (the launcher's child)
	callCount atomic.Int64  // calls served, for Stats
	warmedUp  atomic.Bool   // the worker finished its warm-up (notification warmedUp)

	// Owned by whoever holds the worker, or the pool's lock (group).
	group     string            // the integration (Script.Group) it serves; "" while a spare
	loaded    map[string]string // instance → script hash
	calls     int
	startedAt time.Time
	idleSince time.Time
	retiring  bool
}

// tailBuffer keeps the last bytes a worker wrote to stdout/stderr before its handshake, to
// explain a worker that fails to start (no script has run and no secret has reached it then),
// and only counts what comes after: once scripts run, that noise may hold anything, so it is
// never kept, logged or stored.
type tailBuffer struct {
	mu     sync.Mutex
	buf    []byte
	total  int64
	sealed bool
}

const strayTail = 4096

// seal drops what was kept and stops keeping (the worker is ready to run scripts).
func (t *tailBuffer) seal() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sealed = true
	t.buf = nil
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total += int64(len(p))
	if t.sealed {
		return len(p), nil
	}
	t.buf = append(t.buf, p...)
	if len(t.buf) > strayTail {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-strayTail:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) tail() (string, int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf), t.total
}

// workerConfig is what starting a worker needs.
type workerConfig struct {
	pwsh         string
	script       string   // worker.ps1
	root         string   // parent of the workers' private directories
	deny         []string // paths the worker may not touch (besides root)
	memoryLimit  int64
	cred         *sandbox.Account // the account to run as, nil for this process's
	token        uintptr          // Windows: the primary token to run as (Config.Token), 0 for this process's
	startTimeout time.Duration
	log          zerolog.Logger
}

// passedEnv lists the variables of the server's environment a worker gets (exact names, or
// prefixes ending in "_"): what pwsh, .NET and scripts reaching vendors through a proxy need.
// Everything else (PSBRIDGE_KEY, cloud credentials, tokens in the service's unit file) stays
// out of the worker.
var passedEnv = []string{"PATH", "LANG", "LANGUAGE", "LC_", "TZ", "TERM", "DOTNET_", "POWERSHELL_", "PSModulePath",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
	"SYSTEMROOT", "SystemRoot", "WINDIR", "COMSPEC", "PATHEXT", "ProgramFiles", "ProgramData", "NUMBER_OF_PROCESSORS"}

// passEnv reports whether a variable of the server's environment reaches workers.
func passEnv(name string) bool {
	for _, p := range passedEnv {
		if name == p || strings.HasSuffix(p, "_") && strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// workerEnv is the environment of a worker: the few variables passEnv lets through, its
// private directory as HOME and TMPDIR, and the .NET heap limit. Secrets never travel here or
// in argv.
func workerEnv(dir string, memoryLimit int64) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if passEnv(name) && !strings.HasPrefix(name, "PSBRIDGE_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"HOME="+dir,
		"TMPDIR="+dir,
		"XDG_CACHE_HOME="+filepath.Join(dir, ".cache"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, ".config"),
		"XDG_DATA_HOME="+filepath.Join(dir, ".local", "share"),
	)
	env = append(env, platformEnv(dir)...)
	return append(env, workerSettings(dir, memoryLimit)...)
}

// defaultGen0Size is the workers' gen0 GC budget (hex bytes, 12 MiB) unless DOTNET_GCgen0size
// is set.
const defaultGen0Size = "0xC00000"

// workerSettings are the variables every worker gets whatever its base environment (the
// server's filtered, or a Windows user's own): its directory, no telemetry, the .NET settings
// and heap limit.
func workerSettings(dir string, memoryLimit int64) []string {
	env := []string{
		"PSBRIDGE_WORKER_DIR=" + dir,
		"DOTNET_EnableDiagnostics=0", // no debugger/profiler pipes other processes could attach to
		"POWERSHELL_TELEMETRY_OPTOUT=1",
		"POWERSHELL_UPDATECHECK=Off",
		"DOTNET_CLI_TELEMETRY_OPTOUT=1",
		"DOTNET_NOLOGO=1",
	}
	// Dynamic PGO adds an instrumented tier that every hot method of the PowerShell engine
	// passes through before it is fully optimised; a worker spends its first thousands of
	// calls (and often its whole life, with MaxCallsPerWorker at 1000) paying for it, and
	// ends up no faster. An operator's own setting wins.
	if _, set := os.LookupEnv("DOTNET_TieredPGO"); !set {
		env = append(env, "DOTNET_TieredPGO=0")
	}
	// The GC sizes its youngest generation from the CPU's cache: on a server CPU that budget
	// is tens of MiB, which a worker fills within its first thousand calls and then keeps
	// resident, so a warm worker idled at about 255 MiB. With pwsh compiled ahead of time, a
	// 12 MiB budget keeps it at about 118 MiB, and a collection comes rarely enough that it
	// stays out of the 99th percentile of warm calls, which it did not at 4 MiB (p99 4.2-4.7x
	// p50 against 2.1-2.5x; docs/performance.md). An operator's own setting wins.
	if _, set := os.LookupEnv("DOTNET_GCgen0size"); !set {
		env = append(env, "DOTNET_GCgen0size="+defaultGen0Size)
	}
	if memoryLimit > 0 {
		// The GC refuses to grow the managed heap past the limit (OutOfMemoryException in the
		// script) before the pool's resident-memory check has to kill the worker.
		env = append(env, "DOTNET_GCHeapHardLimit="+strconv.FormatInt(memoryLimit, 16))
	}
	return env
}

// startWorker starts a pwsh worker and waits for its handshake.
func startWorker(ctx context.Context, cfg workerConfig) (*worker, error) {
	dir, err := os.MkdirTemp(cfg.root, "w-")
	if err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	if cfg.cred != nil {
		if err := os.Chown(dir, int(cfg.cred.UID), int(cfg.cred.GID)); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("start worker: %w", err)
		}
	}
	toWorkerR, toWorkerW, err := os.Pipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start worker: %w", err)
	}
	fromWorkerR, fromWorkerW, err := os.Pipe()
	if err != nil {
		toWorkerR.Close()
		toWorkerW.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start worker: %w", err)
	}
	w := &worker{
		dir:       dir,
		stray:     &tailBuffer{},
		exited:    make(chan struct{}),
		ready:     make(chan readyInfo, 1),
		loaded:    make(map[string]string),
		startedAt: time.Now(),
	}
	prog, args := pwshCommand(cfg.pwsh)
	cmd := exec.Command(prog, append(args, "-NoLogo", "-NoProfile", "-NonInteractive", "-File", cfg.script)...)
	cmd.Stdout = w.stray
	cmd.Stderr = w.stray
	cmd.Env = workerEnv(dir, cfg.memoryLimit)
	cmd.Dir = dir
	if cfg.token != 0 {
		// Windows: the token's user, its environment, a directory it may write (token_*.go).
		if err := runAsToken(cmd, dir, cfg.token, workerSettings(dir, cfg.memoryLimit)); err != nil {
			toWorkerR.Close()
			toWorkerW.Close()
			fromWorkerR.Close()
			fromWorkerW.Close()
			os.RemoveAll(dir)
			return nil, fmt.Errorf("start worker: %w", err)
		}
	}
	// The protocol pipes (fds 3 and 4 on Unix, inherited handles on Windows), the process
	// group or job object: proc_*.go.
	if err := w.plat.prepare(cmd, toWorkerR, fromWorkerW); err != nil {
		toWorkerR.Close()
		toWorkerW.Close()
		fromWorkerR.Close()
		fromWorkerW.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start worker: %w", err)
	}
	if err := sandbox.Wrap(cmd, sandbox.Policy{Deny: append([]string{cfg.root}, cfg.deny...), Private: dir, Account: cfg.cred}); err != nil {
		toWorkerR.Close()
		toWorkerW.Close()
		fromWorkerR.Close()
		fromWorkerW.Close()
		w.plat.release()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start worker: %w", err)
	}
	// Grandchildren may keep stdout open after pwsh exits; don't let them delay crash detection.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		toWorkerR.Close()
		toWorkerW.Close()
		fromWorkerR.Close()
		fromWorkerW.Close()
		w.plat.release()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start worker %s: %w", cfg.pwsh, err)
	}
	toWorkerR.Close()
	fromWorkerW.Close()
	w.cmd = cmd
	w.pid = cmd.Process.Pid
	if err := w.plat.started(cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		w.plat.release()
		toWorkerW.Close()
		fromWorkerR.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start worker %s: %w", cfg.pwsh, err)
	}
	w.log = cfg.log.With().Str("component", "worker").Int("worker_pid", w.pid).Logger()
	if why := w.plat.degraded(); why != "" {
		w.log.Warn().Str("reason", why).Msg("the worker runs without a job object: its process tree is stopped by walking it")
	}
	w.conn = newConn(toWorkerW, fromWorkerR, w)
	go w.wait(fromWorkerR)

	timer := time.NewTimer(cfg.startTimeout)
	defer timer.Stop()
	select {
	case info := <-w.ready:
		if err := checkHandshake(info); err != nil {
			w.kill()
			<-w.exited
			return nil, fmt.Errorf("start worker: %w", err)
		}
		w.info = info
		w.pwshPID.Store(int64(info.PID))
		w.stray.seal()
		if info.PID > 0 && info.PID != w.pid {
			w.statmMu.Lock() // closeStatm, from wait, closes the tree too
			if !w.statmClosed {
				w.tree = sandbox.NewTree(w.pid, info.PID)
			}
			w.statmMu.Unlock()
		}
		w.log.Debug().Str("ps_version", info.PSVersion).Dur("start", time.Since(w.startedAt)).Msg("worker ready")
		return w, nil
	case <-w.exited:
		tail, _ := w.stray.tail()
		return nil, fmt.Errorf("start worker: pwsh exited before it was ready (%s): %s", describeExit(w.exitErr), strings.TrimSpace(tail))
	case <-timer.C:
		w.kill()
		<-w.exited
		return nil, fmt.Errorf("start worker: no handshake within %s", cfg.startTimeout)
	case <-ctx.Done():
		w.kill()
		<-w.exited
		return nil, fmt.Errorf("start worker: %w", ctx.Err())
	}
}

// wait reaps the process, kills what is left of its process group and fails pending requests.
func (w *worker) wait(fromWorker *os.File) {
	err := w.cmd.Wait()
	// Take down any grandchildren still in the group (background Start-Process and the like).
	w.killTree()
	w.plat.release()
	w.exitErr = err
	if err == nil {
		w.exitErr = errors.New("exit status 0")
	}
	w.conn.fail(fmt.Errorf("worker exited: %v", w.exitErr))
	fromWorker.Close()
	w.closeStatm()
	_ = os.RemoveAll(w.dir)
	close(w.exited)
}

// alive reports whether the process is still running.
func (w *worker) alive() bool {
	select {
	case <-w.exited:
		return false
	default:
		return true
	}
}

// killFor kills the worker and records why, for the error of the call it was running.
func (w *worker) killFor(reason string) {
	w.reasonMu.Lock()
	if w.reason == "" {
		w.reason = reason
	}
	w.reasonMu.Unlock()
	w.faulted.Store(true)
	w.kill()
}

// broken reports whether the worker must never serve another call.
func (w *worker) broken() bool { return w.faulted.Load() }

// brokenReason says why the worker was killed or broke, "" when it did not.
func (w *worker) brokenReason() string {
	w.reasonMu.Lock()
	defer w.reasonMu.Unlock()
	return w.reason
}

// connFailed implements connHandler: a protocol fault (garbage, an oversized message) kills
// the worker at once; the end of the pipe is the process exiting, explained by its status.
func (w *worker) connFailed(err error, eof bool) {
	if eof {
		return
	}
	w.killFor("the worker broke the protocol (" + err.Error() + ") and was killed")
}

// sweep kills what the last call left running below the worker.
func (w *worker) sweep() (int, error) {
	if w.tree == nil {
		return 0, nil
	}
	return w.tree.Sweep()
}

// stop asks the worker to shut down, then kills its process group after grace.
func (w *worker) stop(grace time.Duration) {
	if !w.alive() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	_, _ = w.conn.call(ctx, "shutdown", struct{}{})
	_ = w.conn.close()
	select {
	case <-w.exited:
		return
	case <-time.After(grace):
	}
	w.terminateTree()
	select {
	case <-w.exited:
	case <-time.After(grace):
		w.kill()
		<-w.exited
	}
}

// parseStatmRSS reads the resident pages (second field) of /proc/<pid>/statm, in bytes.
func parseStatmRSS(b []byte) int64 {
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

// closeStatm releases rss's descriptor, and the sweep's, once the process is gone.
func (w *worker) closeStatm() {
	w.statmMu.Lock()
	defer w.statmMu.Unlock()
	if w.tree != nil {
		w.tree.Close()
	}
	w.statmClosed = true
	if w.statm != nil {
		_ = w.statm.Close()
		w.statm = nil
	}
}

// notify implements connHandler: the handshake, the end of the warm-up and stream records.
func (w *worker) notify(method string, params json.RawMessage) {
	switch method {
	case "ready":
		var info readyInfo
		if err := json.Unmarshal(params, &info); err == nil {
			select {
			case w.ready <- info:
			default:
			}
		}
	case "warmedUp":
		var r warmUpReport
		if err := json.Unmarshal(params, &r); err != nil {
			return
		}
		if r.Error != "" {
			// psbridge's own code failed, with no script of any integration involved: the
			// worker serves calls all the same, only its first ones are slower.
			w.log.Warn().Str("error", r.Error).Int64("invocations", r.Invocations).Msg("the worker's warm-up stopped early")
			return
		}
		w.warmedUp.Store(true)
		w.log.Debug().Int64("invocations", r.Invocations).Dur("age", time.Since(w.startedAt)).Msg("worker warmed up")
	case "record":
		var rec Record
		if err := json.Unmarshal(params, &rec); err != nil {
			return
		}
		w.mu.Lock()
		ac := w.active
		if ac != nil && ac.id == rec.CallID {
			ac.records = append(ac.records, rec)
		}
		w.mu.Unlock()
		if ac != nil && ac.id == rec.CallID && ac.onRecord != nil {
			ac.onRecord(rec)
		}
	}
}

// request implements connHandler: callbacks from a running call.
func (w *worker) request(ctx context.Context, method string, params json.RawMessage) (any, error) {
	w.mu.Lock()
	ac := w.active
	w.mu.Unlock()
	var p struct {
		CallID string `json:"callId"`
		Name   string `json:"name"`
		Kind   string `json:"kind"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, &rpcError{Code: -32602, Message: "bad params: " + err.Error()}
	}
	if ac == nil || ac.id != p.CallID {
		return nil, &rpcError{Code: -32000, Message: "no call " + p.CallID + " is running"}
	}
	if ac.ctx != nil {
		ctx = ac.ctx // a cancelled call cancels the callbacks it is waiting for
	}
	ctx = context.WithValue(ctx, nestedCall{}, true)
	host := ac.host
	if host == nil {
		host = Modules(nil)
	}
	switch method {
	case "host.findModule":
		m, err := host.FindModule(ctx, p.Name)
		if err != nil {
			return nil, err
		}
		if m == nil {
			return nil, nil
		}
		return m, nil
	case "host.token":
		v, err := host.Token(ctx, TokenKind(p.Kind))
		if err != nil {
			return nil, err
		}
		return map[string]any{"value": v}, nil
	case "host.computerCommand":
		var cc ComputerCommand
		if err := json.Unmarshal(params, &cc); err != nil {
			return nil, &rpcError{Code: -32602, Message: "bad params: " + err.Error()}
		}
		out, err := host.RunOnComputer(ctx, cc)
		if err != nil {
			return nil, err
		}
		return map[string]any{"output": out}, nil
	}
	return nil, &rpcError{Code: -32601, Message: "unknown host method " + method}
}

// callOptions controls one request to a worker.
type callOptions struct {
	timeout time.Duration // script deadline the worker enforces itself; 0 = none
	grace   time.Duration // how long to wait after cancel before killing the process group
}

// do sends one request as the running call and waits for it. Cancellation of ctx or an
// expired deadline sends "cancel"; a worker that does not answer within grace is killed.
func (w *worker) do(ctx context.Context, method string, params any, ac *activeCall, opt callOptions) (json.RawMessage, error) {
	w.mu.Lock()
	w.active = ac
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.active = nil
		w.mu.Unlock()
	}()

	replies := w.conn.send(method, params)
	var deadline <-chan time.Time
	if opt.timeout > 0 {
		// The worker stops the pipeline itself at the timeout; this is the backstop.
		t := time.NewTimer(opt.timeout + opt.grace)
		defer t.Stop()
		deadline = t.C
	}
	var killAt <-chan time.Time
	var stopReason error
	ctxDone := ctx.Done()
	for {
		select {
		case r := <-replies:
			if r.err != nil {
				if stopReason != nil {
					return nil, stopReason
				}
				return nil, &WorkerError{PID: w.pid, Reason: w.deathReason(r.err)}
			}
			if r.rpcErr != nil {
				return nil, r.rpcErr
			}
			return r.result, nil
		case <-ctxDone:
			ctxDone = nil
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				stopReason = fmt.Errorf("%w: the caller's deadline passed", ErrTimeout)
			} else {
				stopReason = fmt.Errorf("%w: %v", ErrCanceled, ctx.Err())
			}
			killAt = w.requestStop(ac, opt.grace)
		case <-deadline:
			// The worker stops the script itself at the deadline; this is deadline + grace.
			deadline = nil
			stopReason = fmt.Errorf("%w: the script did not stop within %s of its %s deadline, so its worker was killed", ErrTimeout, opt.grace, opt.timeout)
			w.log.Warn().Str("call_id", ac.id).Msg("call ignored its deadline; killing the worker")
			w.killFor("the call did not stop at its deadline")
			<-w.exited
			return nil, stopReason
		case <-killAt:
			w.log.Warn().Str("call_id", ac.id).Msg("worker did not stop within the grace period; killing it")
			w.killFor("the call did not stop within the grace period after it was cancelled")
			<-w.exited
			return nil, stopReason
		}
	}
}

func (w *worker) requestStop(ac *activeCall, grace time.Duration) <-chan time.Time {
	if ac != nil {
		_ = w.conn.notifyPeer("cancel", map[string]string{"callId": ac.id})
	}
	return time.After(grace)
}

// deathReason says in words why the call's connection failed: why the pool killed the worker,
// or how the process ended. The worker's console output is never part of it (it may hold
// anything, another integration's secrets included).
func (w *worker) deathReason(err error) string {
	if r := w.brokenReason(); r != "" && !strings.Contains(r, "did not stop") {
		return r
	}
	select {
	case <-w.exited:
	case <-time.After(2 * time.Second):
		w.kill()
		<-w.exited
	}
	if r := w.brokenReason(); r != "" {
		return r
	}
	if w.exitErr != nil {
		return describeExit(w.exitErr) + " during the call"
	}
	return err.Error()
}

// describeExit puts a worker's exit status in words: through the sandbox launcher, status
// 128+N means pwsh was killed by signal N (on Windows, 137 is a worker killed through its job).
func describeExit(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
			switch {
			case ws.Signaled():
				return fmt.Sprintf("the worker was killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
			case ws.ExitStatus() == sandbox.ExitLauncherFailed && runtime.GOOS == "linux":
				return "the worker's sandbox could not start pwsh"
			case ws.ExitStatus() > sandbox.ExitSignalBase && ws.ExitStatus() < sandbox.ExitSignalBase+65:
				sig := syscall.Signal(ws.ExitStatus() - sandbox.ExitSignalBase)
				return fmt.Sprintf("the worker exited with signal %d (%s)", int(sig), sig)
			default:
				return fmt.Sprintf("the worker exited with status %d", ws.ExitStatus())
			}
		}
	}
	if err == nil {
		return "the worker exited"
	}
	return "the worker exited: " + err.Error()
}

// scriptHash identifies a script's content for the worker's loaded-instance cache.
func scriptHash(s Script) string {
	h := sha256.New()
	h.Write([]byte(s.Name))
	h.Write([]byte{0})
	h.Write([]byte(s.Text))
	return hex.EncodeToString(h.Sum(nil))[:16]
}
