package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/psbridge/psbridge/agent/wire"
	"github.com/psbridge/psbridge/bridge"
)

// Version is reported in the inventory.
var Version = "0.1.0"

// Defaults of Config.
const (
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 60 * time.Second
	// healthyAfter is how long a connection must last before the backoff starts over.
	healthyAfter = 30 * time.Second
)

// ErrRejected means the server refused the credential: the computer was re-enrolled elsewhere
// or removed. The agent stops; enroll it again.
var ErrRejected = errors.New("agent: the server rejected this agent's credential; enroll it again with --enroll-key")

// Config sets up an Agent.
type Config struct {
	// StateDir holds the enrollment (agent.json, 0600).
	StateDir string
	// Pool runs the scripts (a pool of one warm worker; the agent does not close it).
	Pool *bridge.Pool
	// Inventory overrides fields of the collected inventory (tests fake computers with it).
	Inventory map[string]string
	// MinBackoff and MaxBackoff bound the reconnect delay (defaults 1 s and 60 s); each try
	// waits a random time between half and all of the current delay, which doubles.
	MinBackoff, MaxBackoff time.Duration
	// HTTPClient is used to enroll (default http.DefaultClient).
	HTTPClient *http.Client
	Logger     *zerolog.Logger
	// Drives maps drive names to directories ("C" → "/srv/fake-c") in every script's
	// runspace, so scripts written for Windows paths (C:\Program Files\…) find files on other
	// systems; for tests and trials, not for production Windows agents.
	Drives map[string]string
	// OnConnect, when set, is called after each welcome (tests wait on it).
	OnConnect func(computerID int64)
	// UserPool starts the pool that runs -Context User blocks as the logged-on user (an
	// account name; on Windows also the console logon's token), when that is not the agent's
	// own account; the agent closes it. Nil: such blocks fail with an error saying so.
	UserPool func(ctx context.Context, user LoggedOnUser) (*bridge.Pool, error)
	// RebootCommand is the argv the agent runs when a maintenance session reboots the
	// computer (ParseRebootCommand; no shell). Nil: the agent refuses reboots.
	RebootCommand []string
	// RebootPendingFile, when set, is a file whose existence means a reboot is pending
	// (DefaultRebootPendingFile; tests point it at a temporary file).
	RebootPendingFile string
	// SystemRebootChecks also asks the operating system's own signals (on Windows the CBS
	// and Windows Update registry keys and PendingFileRenameOperations).
	SystemRebootChecks bool
}

// Enroll registers this computer with server using key and saves the credential in
// cfg.StateDir. Enrolling again (a new key, a reinstalled agent) keeps the same computer when
// the device id is the same.
func Enroll(ctx context.Context, cfg Config, server, key string) (State, error) {
	inv, err := Collect(cfg.Inventory)
	if err != nil {
		return State{}, err
	}
	if inv.DeviceID == "" {
		if old, err := LoadState(cfg.StateDir); err == nil && old.DeviceID != "" {
			inv.DeviceID = old.DeviceID
		} else {
			inv.DeviceID = deviceIDFrom(fmt.Sprintf("random-%d-%d", time.Now().UnixNano(), rand.Int64()))
		}
	}
	inv.AgentVersion = Version
	body, _ := json.Marshal(wire.EnrollRequest{Key: key, Inventory: inv})
	u := strings.TrimSuffix(server, "/") + wire.EnrollPath
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return State{}, fmt.Errorf("agent: enroll: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	hc := cfg.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return State{}, fmt.Errorf("agent: enroll at %s: %w", server, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		var p struct {
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(b, &p)
		if p.Detail == "" {
			p.Detail = strings.TrimSpace(string(b))
		}
		return State{}, fmt.Errorf("agent: enroll at %s: %s: %s", server, resp.Status, p.Detail)
	}
	var out wire.Enrolled
	if err := json.Unmarshal(b, &out); err != nil {
		return State{}, fmt.Errorf("agent: enroll: bad answer: %w", err)
	}
	st := State{Server: strings.TrimSuffix(server, "/"), ComputerID: out.ComputerID, TenantID: out.TenantID,
		Credential: out.Credential, EnrolledAt: time.Now().UTC(), DeviceID: inv.DeviceID}
	if err := SaveState(cfg.StateDir, st); err != nil {
		return State{}, err
	}
	return st, nil
}

// Agent is an enrolled agent.
type Agent struct {
	cfg   Config
	state State
	log   zerolog.Logger
	inv   wire.Inventory

	userMu   sync.Mutex
	userPool *bridge.Pool // runs -Context User blocks as the logon userKey names
	userKey  string
}

// New loads the enrollment from cfg.StateDir.
func New(cfg Config) (*Agent, error) {
	if cfg.Pool == nil {
		return nil, errors.New("agent: Config.Pool is required")
	}
	st, err := LoadState(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	log := zerolog.Nop()
	if cfg.Logger != nil {
		log = cfg.Logger.With().Str("component", "agent").Logger()
	}
	inv, err := Collect(cfg.Inventory)
	if err != nil {
		return nil, err
	}
	if inv.DeviceID == "" {
		inv.DeviceID = st.DeviceID
	}
	inv.AgentVersion = Version
	return &Agent{cfg: cfg, state: st, log: log, inv: inv}, nil
}

// State returns the enrollment.
func (a *Agent) State() State { return a.state }

// Run keeps one connection to the server until ctx ends, reconnecting with backoff and jitter.
// It returns ErrRejected when the server refuses the credential.
func (a *Agent) Run(ctx context.Context) error {
	defer func() {
		a.userMu.Lock()
		a.closeUserPoolLocked()
		a.userMu.Unlock()
	}()
	backoff := a.cfg.MinBackoff
	for {
		start := time.Now()
		err := a.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrRejected) {
			return err
		}
		if time.Since(start) > healthyAfter {
			backoff = a.cfg.MinBackoff
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		a.log.Warn().Err(err).Dur("retry_in", wait).Msg("disconnected from the server")
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, a.cfg.MaxBackoff)
	}
}

// wsURL turns the server's http(s) URL into the websocket URL.
func wsURL(server string) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", fmt.Errorf("agent: server URL %q must be http(s)://", server)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + wire.ConnectPath
	return u.String(), nil
}

// session is one connection: hello, welcome, then runs until the connection fails.
func (a *Agent) session(ctx context.Context) error {
	u, err := wsURL(a.state.Server)
	if err != nil {
		return err
	}
	h := http.Header{}
	h.Set("Authorization", "Bearer "+a.state.Credential)
	d := websocket.Dialer{HandshakeTimeout: 15 * time.Second, Proxy: http.ProxyFromEnvironment}
	ws, resp, err := d.DialContext(ctx, u, h)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return ErrRejected
		}
		return fmt.Errorf("dial %s: %w", u, err)
	}
	defer ws.Close()
	ws.SetReadLimit(64 << 20)
	c := &wsConn{ws: ws}
	if err := c.send(wire.Message{Type: wire.TypeHello, Version: wire.Version, Inventory: &a.inv}); err != nil {
		return err
	}
	_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	var welcome wire.Message
	if err := ws.ReadJSON(&welcome); err != nil {
		return fmt.Errorf("read welcome: %w", err)
	}
	if welcome.Type != wire.TypeWelcome {
		return fmt.Errorf("expected welcome, got %q", welcome.Type)
	}
	hb := time.Duration(welcome.HeartbeatSeconds) * time.Second
	if hb <= 0 {
		hb = 10 * time.Second
	}
	// The server pings every heartbeat: silence for 3 heartbeats means the link is dead.
	deadline := func() { _ = ws.SetReadDeadline(time.Now().Add(3 * hb)) }
	deadline()
	ws.SetPingHandler(func(data string) error {
		deadline()
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(10*time.Second))
	})
	a.log.Info().Int64("computer", welcome.ComputerID).Msg("connected")
	if a.cfg.OnConnect != nil {
		a.cfg.OnConnect(welcome.ComputerID)
	}

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { <-sctx.Done(); _ = ws.Close() }()
	var (
		mu   sync.Mutex
		runs = map[string]context.CancelFunc{}
		wg   sync.WaitGroup
	)
	defer wg.Wait()
	defer cancel()
	for {
		var m wire.Message
		if err := ws.ReadJSON(&m); err != nil {
			return fmt.Errorf("read: %w", err)
		}
		deadline()
		switch m.Type {
		case wire.TypeRun:
			if m.Run == nil {
				continue
			}
			rctx, rcancel := context.WithCancel(sctx)
			mu.Lock()
			runs[m.ID] = rcancel
			mu.Unlock()
			wg.Add(1)
			go func(id string, run wire.Run) {
				defer wg.Done()
				res := a.exec(rctx, id, run, c)
				mu.Lock()
				delete(runs, id)
				mu.Unlock()
				rcancel()
				_ = c.send(wire.Message{Type: wire.TypeResult, ID: id, Result: res})
			}(m.ID, *m.Run)
		case wire.TypeRebootCheck, wire.TypeReboot:
			wg.Add(1)
			go func(m wire.Message) {
				defer wg.Done()
				var r wire.Reboot
				if m.Type == wire.TypeReboot {
					r = a.reboot(sctx)
				} else {
					r = a.rebootPending()
				}
				_ = c.send(wire.Message{Type: wire.TypeRebootReply, ID: m.ID, Reboot: &r})
			}(m)
		case wire.TypeCancel:
			mu.Lock()
			if fn := runs[m.ID]; fn != nil {
				fn()
			}
			mu.Unlock()
		}
	}
}

// wsConn serialises writes to the websocket.
type wsConn struct {
	ws *websocket.Conn
	mu sync.Mutex
}

func (c *wsConn) send(m wire.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(30 * time.Second))
	return c.ws.WriteJSON(m)
}

// exec runs one script in the local pool, streaming its records to the server.
func (a *Agent) exec(ctx context.Context, id string, run wire.Run, c *wsConn) *wire.Result {
	start := time.Now()
	pool := a.cfg.Pool
	if strings.EqualFold(run.Context, "User") {
		p, err := a.userContextPool(ctx)
		if err != nil {
			we := &wire.Error{Kind: wire.ErrOther, Message: "-Context User: " + err.Error()}
			var nu *noUserError
			if errors.As(err, &nu) {
				// Not a failure: the server skips the block (older servers show the message).
				we.Kind = wire.ErrNoUser
				a.log.Info().Str("run", id).Msg("skipped a -Context User block: " + err.Error())
			}
			return &wire.Result{DurationMs: time.Since(start).Milliseconds(), Error: we}
		}
		pool = p
	}
	name := run.Name
	if name == "" {
		name = "script.ps1"
	}
	res, err := pool.Exec(ctx, bridge.Exec{
		Name: name, Text: a.drivePrologue() + run.Script, Args: run.Args, Timeout: time.Duration(run.TimeoutMs) * time.Millisecond,
		OnRecord: func(r bridge.Record) {
			_ = c.send(wire.Message{Type: wire.TypeRecord, ID: id, Record: &r})
		},
	})
	out := &wire.Result{DurationMs: time.Since(start).Milliseconds()}
	if err != nil {
		out.Error = toWireError(ctx, err)
		return out
	}
	out.Output, out.OutputTypes, out.HadErrors = res.Output, res.OutputTypes, res.HadErrors
	return out
}

// drivePrologue maps Config.Drives on the script's first line, so no line number moves.
func (a *Agent) drivePrologue() string {
	var b strings.Builder
	for name, root := range a.cfg.Drives {
		fmt.Fprintf(&b, "$null = New-PSDrive -Name '%s' -PSProvider FileSystem -Root '%s' -Scope Global; ",
			strings.ReplaceAll(name, "'", "''"), strings.ReplaceAll(root, "'", "''"))
	}
	return b.String()
}

func toWireError(ctx context.Context, err error) *wire.Error {
	var (
		se *bridge.ScriptError
		pe *bridge.ParseError
		we *bridge.WorkerError
	)
	switch {
	case errors.As(err, &se):
		return &wire.Error{Kind: wire.ErrScript, Message: se.Message, Line: se.Line, Column: se.Column, Script: se.Script, ErrorID: se.ErrorID, Category: se.Category}
	case errors.As(err, &pe):
		e := &wire.Error{Kind: wire.ErrParse, Message: pe.Error()}
		if len(pe.Issues) > 0 {
			e.Message, e.Line, e.Column = pe.Issues[0].Message, pe.Issues[0].Line, pe.Issues[0].Column
		}
		return e
	case errors.Is(err, bridge.ErrTimeout):
		return &wire.Error{Kind: wire.ErrTimeout, Message: err.Error()}
	case errors.Is(err, bridge.ErrCanceled), ctx.Err() != nil:
		return &wire.Error{Kind: wire.ErrCanceled, Message: err.Error()}
	case errors.As(err, &we):
		return &wire.Error{Kind: wire.ErrWorker, Message: we.Reason}
	}
	return &wire.Error{Kind: wire.ErrOther, Message: err.Error()}
}
