// Package console is psbridge's debugging console: an interactive pwsh in a pseudo-terminal,
// reached over a websocket (or in-process by 'psbridge console --local').
//
// It exists because integration scripts are hard to debug through a request/response API: an
// author wants a prompt where the integration is loaded exactly as the service runs it, to call
// its methods, set breakpoints in Init or GetClients and look around. The console gives that
// without handing out the instance's secrets: the pwsh process is the author's, but every byte
// it prints passes a streaming filter that masks each registered secret (form values marked
// [Password()], every string in $IntegrationContext) in all its usual encodings before it
// reaches the browser, and $IntegrationContext lives outside the prompt's reach except while a
// method runs.
//
// Sessions belong to the user who opened them, survive a dropped connection for a short
// reconnect window (the scrollback is replayed on re-attach), close after an idle timeout, and
// take their whole process group with them when they close.
package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/psbridge/psbridge/bridge/sandbox"
	"github.com/rs/zerolog"
)

// Defaults for the zero values of Config.
const (
	DefaultIdleTimeout        = 15 * time.Minute
	DefaultReconnectWindow    = 60 * time.Second
	DefaultMaxSessionsPerUser = 3
	DefaultMaxSessions        = 20
	DefaultScrollback         = 64 << 10
	DefaultKillGrace          = 3 * time.Second
	DefaultFlushDelay         = 15 * time.Millisecond
	DefaultCols               = 120
	DefaultRows               = 30
)

// Errors returned by Manager and Session methods; test with errors.Is.
var (
	// ErrNotFound means no session has that id (it never existed, or it closed).
	ErrNotFound = errors.New("console session not found (it may have closed or its reconnect window passed)")
	// ErrForbidden means the session belongs to another user.
	ErrForbidden = errors.New("console session belongs to another user")
	// ErrLimit means a cap on the number of sessions was reached; the error is a *LimitError.
	ErrLimit = errors.New("too many console sessions")
	// ErrClosed means the manager or session is closed.
	ErrClosed = errors.New("console closed")
	// ErrUnsupported means this system cannot run console sessions (Windows; see Supported).
	ErrUnsupported = errors.New("the console is available on Linux and macOS only: it runs pwsh in a pseudo-terminal, " +
		"which psbridge does not create on Windows (Windows' pseudo console, ConPTY, is not supported yet); " +
		"from Windows, attach to a psbridge server on Linux or macOS with 'psbridge console --url', or run scripts with 'psbridge run'")
	// ErrNoInstances means a session for an integration instance was asked for but the manager
	// has no InstanceSource (or no PSBridge module).
	ErrNoInstances = errors.New("this console cannot load integration instances")
)

// LimitError reports which session cap was hit.
type LimitError struct {
	// User is the user who asked for a session.
	User string
	// Limit is the cap that was reached.
	Limit int
	// PerUser is true for the per-user cap, false for the server-wide one.
	PerUser bool
}

// Error says which cap was reached and what to do.
func (e *LimitError) Error() string {
	if e.PerUser {
		return fmt.Sprintf("user %q already has %d console sessions open (the limit per user); close one (type 'exit') or wait for it to time out", e.User, e.Limit)
	}
	return fmt.Sprintf("the server already has %d console sessions open (its limit); try again later", e.Limit)
}

// Is makes errors.Is(err, ErrLimit) true.
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// Config configures a Manager. Zero values take the defaults above.
type Config struct {
	// Pwsh is the pwsh binary (see bridge.FindPwsh). Required.
	Pwsh string
	// ModuleManifest is the path of PSBridge.psd1 (psmodule.Installed.Manifest); required for
	// sessions that load an integration instance.
	ModuleManifest string
	// Instances loads integration instances for sessions opened with an instance id; nil
	// disables them.
	Instances InstanceSource
	// IdleTimeout closes a session that got no input (keystrokes or resizes) for this long.
	IdleTimeout time.Duration
	// ReconnectWindow is how long a session whose connection dropped waits to be re-attached.
	ReconnectWindow time.Duration
	// MaxSessionsPerUser and MaxSessions cap open sessions per user and in total.
	MaxSessionsPerUser int
	MaxSessions        int
	// ScrollbackBytes bounds the output kept for replay on re-attach.
	ScrollbackBytes int
	// KillGrace is the time between SIGTERM and SIGKILL when a session closes.
	KillGrace time.Duration
	// FlushDelay is how long output that could be the start of a secret is held back before
	// it is sent anyway.
	FlushDelay time.Duration
	// AllowedOrigins lists the Origin values (scheme://host[:port]) the websocket handler
	// accepts besides requests without an Origin header; empty means same host only.
	AllowedOrigins []string
	// Deny lists paths a console's pwsh may not read or write (the data directory, the key),
	// as for pool workers (package bridge/sandbox).
	Deny []string
	// TempDir is where session directories are created (default os.TempDir()).
	TempDir string
	// Env is the environment of pwsh; nil means this process's environment without PSBRIDGE_*
	// variables.
	Env []string
	// Logger receives lifecycle events (never terminal content); the zero value logs nothing.
	Logger zerolog.Logger
}

func (c *Config) setDefaults() {
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.ReconnectWindow <= 0 {
		c.ReconnectWindow = DefaultReconnectWindow
	}
	if c.MaxSessionsPerUser <= 0 {
		c.MaxSessionsPerUser = DefaultMaxSessionsPerUser
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.ScrollbackBytes <= 0 {
		c.ScrollbackBytes = DefaultScrollback
	}
	if c.KillGrace <= 0 {
		c.KillGrace = DefaultKillGrace
	}
	if c.FlushDelay <= 0 {
		c.FlushDelay = DefaultFlushDelay
	}
	if c.TempDir == "" {
		c.TempDir = os.TempDir()
	}
	if c.Env == nil {
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "PSBRIDGE_") {
				c.Env = append(c.Env, kv)
			}
		}
	}
}

// Manager owns the console sessions of one server (or one 'psbridge console --local').
type Manager struct {
	cfg Config
	log zerolog.Logger

	mu       sync.Mutex
	sessions map[string]*Session
	closed   bool
}

// NewManager checks cfg and returns a Manager.
func NewManager(cfg Config) (*Manager, error) {
	if cfg.Pwsh == "" {
		return nil, errors.New("console: Config.Pwsh is required")
	}
	if _, err := os.Stat(cfg.Pwsh); err != nil {
		return nil, fmt.Errorf("console: pwsh: %w", err)
	}
	cfg.setDefaults()
	return &Manager{cfg: cfg, log: cfg.Logger, sessions: map[string]*Session{}}, nil
}

// Config returns the effective configuration (defaults filled in).
func (m *Manager) Config() Config { return m.cfg }

// OpenOptions describes a new session.
type OpenOptions struct {
	// User owns the session; only the same user may attach to it.
	User string
	// Instance, when set, loads that integration instance into the session (see
	// InstanceSource).
	Instance string
	// Cols and Rows are the initial terminal size (default 120x30).
	Cols, Rows int
}

// Open starts a session: pwsh in a new pseudo-terminal, in its own session and process group.
// It fails with a *LimitError when a cap is reached.
func (m *Manager) Open(ctx context.Context, opts OpenOptions) (*Session, error) {
	if err := Supported(); err != nil {
		return nil, err
	}
	if opts.User == "" {
		return nil, errors.New("console: open: no user")
	}
	if opts.Instance != "" && (m.cfg.Instances == nil || m.cfg.ModuleManifest == "") {
		return nil, ErrNoInstances
	}
	id, err := newID()
	if err != nil {
		return nil, fmt.Errorf("console: open: %w", err)
	}
	s := &Session{
		id:       id,
		user:     opts.User,
		instance: opts.Instance,
		m:        m,
		secrets:  NewSecrets(),
		done:     make(chan struct{}),
		waited:   make(chan struct{}),
		exitCode: -1,
	}
	// Reserve the slot first so concurrent opens cannot overshoot the caps.
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	if len(m.sessions) >= m.cfg.MaxSessions {
		m.mu.Unlock()
		return nil, &LimitError{User: opts.User, Limit: m.cfg.MaxSessions}
	}
	n := 0
	for _, o := range m.sessions {
		if o.user == opts.User {
			n++
		}
	}
	if n >= m.cfg.MaxSessionsPerUser {
		m.mu.Unlock()
		return nil, &LimitError{User: opts.User, Limit: m.cfg.MaxSessionsPerUser, PerUser: true}
	}
	m.sessions[id] = s
	m.mu.Unlock()

	if err := s.start(ctx, opts); err != nil {
		m.remove(s)
		s.cleanupFiles()
		return nil, err
	}
	m.log.Info().Str("session", id).Str("user", opts.User).Str("instance", opts.Instance).Int("pid", s.pid).Msg("console session opened")
	return s, nil
}

// Lookup returns the session id of user. Another user's session gives ErrForbidden.
func (m *Manager) Lookup(user, id string) (*Session, error) {
	m.mu.Lock()
	s := m.sessions[id]
	m.mu.Unlock()
	if s == nil {
		return nil, ErrNotFound
	}
	if s.user != user {
		return nil, ErrForbidden
	}
	return s, nil
}

// Count returns the number of open sessions, and of those the number owned by user.
func (m *Manager) Count(user string) (total, ofUser int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.sessions {
		if s.user == user {
			ofUser++
		}
	}
	return len(m.sessions), ofUser
}

// Close closes every session (waiting for their processes) and refuses new ones.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	var all []*Session
	for _, s := range m.sessions {
		all = append(all, s)
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Close()
		}()
	}
	wg.Wait()
	return nil
}

func (m *Manager) remove(s *Session) {
	m.mu.Lock()
	if m.sessions[s.id] == s {
		delete(m.sessions, s.id)
	}
	m.mu.Unlock()
}

func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// Session is one pwsh in a pseudo-terminal.
type Session struct {
	id, user, instance string
	m                  *Manager

	cmd     *exec.Cmd
	pid     int
	ptmx    *os.File
	dir     string
	secrets *Secrets
	filter  *Filter
	// ctl is the listening control socket of an instance session: pwsh reports the secrets a
	// method call left in $IntegrationContext, psbridge registers them and acknowledges.
	ctl net.Listener

	mu          sync.Mutex
	scroll      []byte
	att         *Attachment
	idleTimer   *time.Timer
	detachTimer *time.Timer
	ctlConn     net.Conn
	closing     bool
	pendingDSR  int    // cursor position queries sent and not answered yet
	reason      string // why the session was closed by psbridge (idle, reconnect window, …)

	closeOnce sync.Once
	waited    chan struct{} // closed once the pwsh process is reaped
	done      chan struct{} // closed once everything is cleaned up
	exitCode  int
}

// ID is the session id used to re-attach.
func (s *Session) ID() string { return s.id }

// User is the owner.
func (s *Session) User() string { return s.user }

// PID is the process id of the pwsh process (the process group id too).
func (s *Session) PID() int { return s.pid }

// Dir is the session's private temporary directory (removed on close).
func (s *Session) Dir() string { return s.dir }

// Secrets is the set of values masked in this session's output.
func (s *Session) Secrets() *Secrets { return s.secrets }

// Done is closed when the session has ended and its processes and files are gone.
func (s *Session) Done() <-chan struct{} { return s.done }

// ExitCode is pwsh's exit code once Done is closed (-1 when it was killed by a signal).
func (s *Session) ExitCode() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exitCode
}

// CloseReason says why psbridge closed the session ("" when pwsh exited by itself).
func (s *Session) CloseReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

func (s *Session) start(ctx context.Context, opts OpenOptions) error {
	cfg := &s.m.cfg
	dir, err := os.MkdirTemp(cfg.TempDir, "psbridge-console-")
	if err != nil {
		return fmt.Errorf("console: session directory: %w", err)
	}
	s.dir = dir
	startup := filepath.Join(dir, "startup.ps1")
	if err := os.WriteFile(startup, startupScript, 0o600); err != nil {
		return fmt.Errorf("console: write start-up script: %w", err)
	}
	args := []string{"-NoLogo", "-NoProfile", "-NoExit", "-File", startup}
	if opts.Instance != "" {
		// A Unix socket in the private session directory (not an inherited descriptor, which
		// every native program started at the prompt would inherit too).
		ln, err := net.Listen("unix", filepath.Join(dir, "ctl.sock"))
		if err != nil {
			return fmt.Errorf("console: control socket: %w", err)
		}
		s.ctl = ln
		dataFile, err := s.prepareInstance(ctx, opts.Instance, ln.Addr().String())
		if err != nil {
			s.closeCtl()
			return err
		}
		args = append(args, "-DataFile", dataFile)
	}
	cmd := exec.Command(cfg.Pwsh, args...)
	cmd.Dir = dir
	cmd.Env = append(append([]string{}, cfg.Env...), "TERM=xterm-256color", "POWERSHELL_TELEMETRY_OPTOUT=1", "POWERSHELL_UPDATECHECK=Off")
	cols, rows := opts.Cols, opts.Rows
	if cols <= 0 || rows <= 0 {
		cols, rows = DefaultCols, DefaultRows
	}
	// Confined like a pool worker, under the cleaning launcher (which becomes the session leader).
	if err := sandbox.Wrap(cmd, sandbox.Policy{Deny: cfg.Deny, Private: dir}); err != nil {
		s.closeCtl()
		return fmt.Errorf("console: %w", err)
	}
	ptmx, err := startPTY(cmd, clamp(cols), clamp(rows)) // in its own session and process group (pty_*.go)
	if err != nil {
		s.closeCtl()
		return fmt.Errorf("console: start %s: %w", cfg.Pwsh, err)
	}
	s.cmd, s.ptmx, s.pid = cmd, ptmx, cmd.Process.Pid
	s.filter = NewFilter(s.secrets, s.deliver, cfg.FlushDelay)

	s.mu.Lock()
	s.idleTimer = time.AfterFunc(cfg.IdleTimeout, func() { s.closeFor(fmt.Sprintf("closed after %s without input", cfg.IdleTimeout)) })
	// Until someone attaches, the session waits as if its connection had dropped.
	s.detachTimer = time.AfterFunc(cfg.ReconnectWindow, s.detachExpired)
	s.mu.Unlock()

	readDone := make(chan struct{})
	go s.readLoop(readDone)
	if s.ctl != nil {
		go s.controlLoop()
	}
	go s.supervise(readDone)
	return nil
}

func clamp(n int) int {
	if n < 1 {
		return 1
	}
	if n > 1000 {
		return 1000
	}
	return n
}

// readLoop copies the terminal's output through the filter.
func (s *Session) readLoop(done chan struct{}) {
	defer close(done)
	buf := make([]byte, 32<<10)
	for {
		n, err := s.ptmx.Read(buf)
		if n > 0 {
			s.filter.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// controlLoop accepts pwsh's one connection to the control socket, then registers the
// secrets each JSON line reports and acknowledges it with "ok\n".
func (s *Session) controlLoop() {
	conn, err := s.ctl.Accept()
	s.ctl.Close() // nobody else may connect
	if err != nil {
		return
	}
	s.mu.Lock()
	s.ctlConn = conn
	closing := s.closing
	s.mu.Unlock()
	if closing {
		conn.Close()
		return
	}
	dec := json.NewDecoder(conn)
	for {
		var msg struct {
			Secrets []string `json:"secrets"`
		}
		if err := dec.Decode(&msg); err != nil {
			return
		}
		s.secrets.Add(msg.Secrets...)
		if _, err := conn.Write([]byte("ok\n")); err != nil {
			return
		}
	}
}

// supervise reaps pwsh, kills what is left of its process group, drains the terminal and
// cleans up.
func (s *Session) supervise(readDone chan struct{}) {
	err := s.cmd.Wait()
	code := -1
	if s.cmd.ProcessState != nil {
		code = s.cmd.ProcessState.ExitCode()
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		s.m.log.Warn().Err(err).Str("session", s.id).Msg("console: wait for pwsh")
	}
	close(s.waited)
	// Children pwsh started (jobs, native tools, the dotnet process behind a .NET-tool
	// launcher) die with it; wait until the kernel has them all gone.
	killGroup(s.pid)
	if !waitGroupGone(s.pid, 10*time.Second) {
		s.m.log.Warn().Str("session", s.id).Int("pgid", s.pid).Msg("console: processes of the session outlived SIGKILL")
	}
	select {
	case <-readDone:
	case <-time.After(2 * time.Second):
		// Something outside the group still holds the terminal open.
	}
	s.ptmx.Close()
	<-readDone
	s.filter.Close()
	s.closeCtl()
	s.cleanupFiles()
	s.m.remove(s)

	s.mu.Lock()
	s.exitCode = code
	s.closing = true
	if s.idleTimer != nil {
		s.idleTimer.Stop()
	}
	if s.detachTimer != nil {
		s.detachTimer.Stop()
	}
	if s.att != nil {
		s.att.end("")
		s.att = nil
	}
	s.mu.Unlock()
	s.m.log.Info().Str("session", s.id).Int("exit_code", code).Str("reason", s.CloseReason()).Msg("console session closed")
	close(s.done)
}

func (s *Session) closeCtl() {
	if s.ctl != nil {
		s.ctl.Close()
	}
	s.mu.Lock()
	if s.ctlConn != nil {
		s.ctlConn.Close()
	}
	s.mu.Unlock()
}

func (s *Session) cleanupFiles() {
	if s.dir != "" {
		if err := os.RemoveAll(s.dir); err != nil {
			s.m.log.Warn().Err(err).Str("session", s.id).Msg("console: remove session directory")
		}
	}
}

// deliver receives filtered output (with the filter's lock held).
func (s *Session) deliver(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := s.m.cfg.ScrollbackBytes
	s.pendingDSR += bytes.Count(b, dsrQuery)
	s.scroll = append(s.scroll, b...)
	if len(s.scroll) > limit {
		s.scroll = append(s.scroll[:0:0], s.scroll[len(s.scroll)-limit:]...)
	}
	if s.att != nil {
		s.att.send(append([]byte(nil), b...))
	}
}

// Write sends keystrokes (terminal input) to pwsh and counts as activity.
func (s *Session) Write(p []byte) (int, error) {
	if err := s.touch(); err != nil {
		return 0, err
	}
	if bytes.IndexByte(p, 0x1b) >= 0 {
		if n := len(cprAnswer.FindAllIndex(p, -1)); n > 0 {
			s.mu.Lock()
			s.pendingDSR = max(0, s.pendingDSR-n)
			s.mu.Unlock()
		}
	}
	n, err := s.ptmx.Write(p)
	if err != nil {
		return n, fmt.Errorf("console: write to terminal: %w", err)
	}
	return n, nil
}

// Resize changes the terminal size (pwsh sees SIGWINCH) and counts as activity.
func (s *Session) Resize(cols, rows int) error {
	if err := s.touch(); err != nil {
		return err
	}
	if err := resizePTY(s.ptmx, clamp(cols), clamp(rows)); err != nil {
		return fmt.Errorf("console: resize terminal: %w", err)
	}
	return nil
}

func (s *Session) touch() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return ErrClosed
	}
	s.idleTimer.Reset(s.m.cfg.IdleTimeout)
	return nil
}

// Close ends the session: SIGTERM to its process group, SIGKILL after the grace period, and
// waits until the processes are reaped and the session directory is removed.
func (s *Session) Close() error {
	s.closeFor("closed")
	<-s.done
	return nil
}

func (s *Session) closeFor(reason string) {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		if s.reason == "" {
			s.reason = reason
		}
		s.mu.Unlock()
		go func() {
			termGroup(s.pid)
			select {
			case <-s.waited:
			case <-time.After(s.m.cfg.KillGrace):
				killGroup(s.pid)
			}
		}()
	})
}

func (s *Session) detachExpired() {
	s.mu.Lock()
	expired := s.att == nil && !s.closing
	s.mu.Unlock()
	if expired {
		s.closeFor(fmt.Sprintf("closed: nobody re-attached within %s", s.m.cfg.ReconnectWindow))
	}
}

// Attachment is one connection's view of a session: the scrollback, then live output.
type Attachment struct {
	s      *Session
	out    chan []byte
	ended  bool
	reason string
}

// Attach connects a viewer to the session, replacing (and ending) any previous attachment.
// The first value on Output is the scrollback (up to Config.ScrollbackBytes of recent output,
// starting at a line boundary when it was cut).
func (s *Session) Attach() (*Attachment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, ErrClosed
	}
	if s.att != nil {
		s.att.end("attached from elsewhere")
	}
	if s.detachTimer != nil {
		s.detachTimer.Stop()
	}
	a := &Attachment{s: s, out: make(chan []byte, 1024)}
	s.att = a
	replay := s.scroll
	if len(replay) >= s.m.cfg.ScrollbackBytes {
		if i := bytes.IndexByte(replay, '\n'); i >= 0 {
			replay = replay[i+1:]
		}
	}
	replay = withoutQueries(replay)
	// pwsh (PSReadLine) waits for the answers to cursor position queries nobody answered
	// (sent while detached, or to a terminal that went away): ask the new terminal.
	for i := 0; i < min(s.pendingDSR, 4); i++ {
		replay = append(replay, dsrQuery...)
	}
	if len(replay) > 0 {
		a.out <- replay
	}
	return a, nil
}

// dsrQuery asks the terminal for the cursor position; cprAnswer matches its answer.
var (
	dsrQuery  = []byte("\x1b[6n")
	cprAnswer = regexp.MustCompile(`\x1b\[[0-9]+;[0-9]+R`)
)

// withoutQueries copies b without the terminal queries in it (device status "ESC [ … n",
// device attributes "ESC [ … c"): a terminal replaying the scrollback would answer them, and
// the answers would reach pwsh as stray keystrokes.
func withoutQueries(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == 0x1b && i+1 < len(b) && b[i+1] == '[' {
			j := i + 2
			for j < len(b) && b[j] >= 0x20 && b[j] <= 0x3f {
				j++
			}
			if j < len(b) && (b[j] == 'n' || b[j] == 'c') {
				i = j
				continue
			}
		}
		out = append(out, b[i])
	}
	return out
}

// Output delivers terminal output (secrets masked). It is closed when the attachment ends:
// see Reason, and the session's Done.
func (a *Attachment) Output() <-chan []byte { return a.out }

// Reason says why the attachment ended while the session goes on ("attached from
// elsewhere", "too slow"); "" when the session ended.
func (a *Attachment) Reason() string {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return a.reason
}

// Session returns the attached session.
func (a *Attachment) Session() *Session { return a.s }

// Detach ends the attachment; the session waits Config.ReconnectWindow for a new one.
func (a *Attachment) Detach() {
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.att != a {
		return
	}
	a.end("detached")
	s.att = nil
	if !s.closing {
		s.detachTimer.Reset(s.m.cfg.ReconnectWindow)
	}
}

// send queues output; a viewer that falls far behind is dropped (it can re-attach and gets
// the scrollback). Called with s.mu held.
func (a *Attachment) send(b []byte) {
	if a.ended {
		return
	}
	select {
	case a.out <- b:
	default:
		a.end("too slow: output was dropped; re-attach to see the latest output")
		a.s.att = nil
		if !a.s.closing {
			a.s.detachTimer.Reset(a.s.m.cfg.ReconnectWindow)
		}
	}
}

// end closes the output channel. Called with s.mu held.
func (a *Attachment) end(reason string) {
	if a.ended {
		return
	}
	a.ended = true
	a.reason = reason
	close(a.out)
}

var _ io.Writer = (*Session)(nil)
