// Package computers keeps the server side of psbridge agents: which computers are connected,
// enrollment, and routing a script to a computer's agent and its records and result back. It
// exists so the engine can say "run this on computer 7" without knowing about websockets: the
// transport (web/agentws) hands the hub a Conn per connected agent and feeds it the agent's
// messages; the hub decides everything else.
package computers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/psbridge/psbridge/agent/wire"
	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine/store"
)

// Defaults of Options.
const (
	DefaultConnectWait = 30 * time.Second
	DefaultHeartbeat   = 10 * time.Second
	// cancelGrace is how long a cancelled run waits for the agent to confirm the stop.
	cancelGrace = 5 * time.Second
	// resultGrace is how long past its deadline a run waits for the agent's own timeout.
	resultGrace = 10 * time.Second
)

// Conn is one connected agent as the transport sees it. Send must be safe for concurrent use.
type Conn interface {
	Send(m wire.Message) error
	Close() error
}

// Options configures a Hub.
type Options struct {
	// ConnectWait is how long a run waits for an offline computer to connect (default 30 s).
	ConnectWait time.Duration
	// Heartbeat is the ping period the transport uses; agents learn it in the welcome (default 10 s).
	Heartbeat time.Duration
	// OnConnect, when set, is called (on its own goroutine) each time a computer connects.
	OnConnect func(computerID int64, first bool)
	Logger    *zerolog.Logger
}

// Hub tracks connected agents. It is safe for concurrent use.
type Hub struct {
	st   *store.Store
	opts Options
	log  zerolog.Logger
	seq  atomic.Uint64

	mu       sync.Mutex
	sessions map[int64]*Session
	online   map[int64]chan struct{} // closed when the computer connects
}

// New returns a hub over st.
func New(st *store.Store, opts Options) *Hub {
	if opts.ConnectWait <= 0 {
		opts.ConnectWait = DefaultConnectWait
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	log := zerolog.Nop()
	if opts.Logger != nil {
		log = opts.Logger.With().Str("component", "computers").Logger()
	}
	return &Hub{st: st, opts: opts, log: log, sessions: map[int64]*Session{}, online: map[int64]chan struct{}{}}
}

// Heartbeat is the ping period agents are told.
func (h *Hub) Heartbeat() time.Duration { return h.opts.Heartbeat }

// ConnectWait is the default wait for an offline computer.
func (h *Hub) ConnectWait() time.Duration { return h.opts.ConnectWait }

// SetOnConnect sets the connect callback (before agents connect).
func (h *Hub) SetOnConnect(fn func(computerID int64, first bool)) {
	h.mu.Lock()
	h.opts.OnConnect = fn
	h.mu.Unlock()
}

// Session is one connection of an agent.
type Session struct {
	hub        *Hub
	ComputerID int64
	conn       Conn
	Since      time.Time

	mu      sync.Mutex
	runs    map[string]*pending
	replies map[string]chan *wire.Reboot // reboot requests waiting for the agent's answer
	version int                          // the protocol version the agent's hello announced
	closed  bool
}

// SetVersion records the protocol version the agent announced in its hello (wire.Version);
// the hub sends it only the requests that version knows.
func (s *Session) SetVersion(v int) {
	s.mu.Lock()
	s.version = v
	s.mu.Unlock()
}

type pending struct {
	onRecord func(bridge.Record)
	done     chan *wire.Result
}

// Status is a computer's presence.
type Status struct {
	Online bool      `json:"online"`
	Since  time.Time `json:"since,omitzero"`
}

// Status reports whether a computer's agent is connected.
func (h *Hub) Status(id int64) Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.sessions[id]; s != nil {
		return Status{Online: true, Since: s.Since}
	}
	return Status{}
}

// Connected returns a channel that is closed when computer id's agent connects: already
// closed when it is connected now. Waiters use it instead of polling Status.
func (h *Hub) Connected(id int64) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sessions[id] != nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	ch := h.online[id]
	if ch == nil {
		ch = make(chan struct{})
		h.online[id] = ch
	}
	return ch
}

// OnlineCount is how many agents are connected.
func (h *Hub) OnlineCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// Attach registers a connected agent of computer c, replacing an older connection of the same
// computer (which is closed), and stores its inventory.
func (h *Hub) Attach(c store.Computer, inv *wire.Inventory, conn Conn) *Session {
	now := time.Now().UTC()
	first := c.LastSeen.IsZero()
	if _, err := h.st.UpdateComputer(c.ID, func(sc *store.Computer) error {
		if inv != nil && inv.DeviceID != "" {
			si := store.Inventory(*inv)
			sc.Inventory = &si
			if inv.ComputerName != "" {
				sc.Name = inv.ComputerName
			}
		}
		sc.LastSeen = now
		return nil
	}); err != nil {
		h.log.Error().Int64("computer", c.ID).Err(err).Msg("store inventory")
	}
	s := &Session{hub: h, ComputerID: c.ID, conn: conn, Since: now, runs: map[string]*pending{}, replies: map[string]chan *wire.Reboot{}}
	h.mu.Lock()
	old := h.sessions[c.ID]
	h.sessions[c.ID] = s
	if ch := h.online[c.ID]; ch != nil {
		close(ch)
		delete(h.online, c.ID)
	}
	onConnect := h.opts.OnConnect
	h.mu.Unlock()
	if old != nil {
		old.fail("the computer's agent reconnected")
		_ = old.conn.Close()
	}
	h.log.Info().Int64("computer", c.ID).Msg("agent connected")
	if onConnect != nil {
		go onConnect(c.ID, first)
	}
	return s
}

// Detach ends a session (the connection closed or failed): its runs fail and the computer is
// offline unless a newer connection replaced it.
func (h *Hub) Detach(s *Session) {
	s.fail("the computer's agent disconnected")
	h.mu.Lock()
	current := h.sessions[s.ComputerID] == s
	if current {
		delete(h.sessions, s.ComputerID)
	}
	h.mu.Unlock()
	if current {
		if _, err := h.st.UpdateComputer(s.ComputerID, func(c *store.Computer) error {
			c.LastSeen = time.Now().UTC()
			return nil
		}); err != nil && !errors.Is(err, store.ErrNotFound) {
			h.log.Error().Int64("computer", s.ComputerID).Err(err).Msg("store last seen")
		}
		h.log.Info().Int64("computer", s.ComputerID).Msg("agent disconnected")
	}
}

// fail ends every run of the session with an error.
func (s *Session) fail(reason string) {
	s.mu.Lock()
	runs, replies := s.runs, s.replies
	s.runs, s.replies = map[string]*pending{}, map[string]chan *wire.Reboot{}
	s.closed = true
	s.mu.Unlock()
	for _, ch := range replies {
		select {
		case ch <- &wire.Reboot{Error: reason}:
		default:
		}
	}
	for _, p := range runs {
		select {
		case p.done <- &wire.Result{Error: &wire.Error{Kind: wire.ErrWorker, Message: reason}}:
		default:
		}
	}
}

// Deliver handles one message from the agent.
func (s *Session) Deliver(m wire.Message) {
	switch m.Type {
	case wire.TypeRecord:
		s.mu.Lock()
		p := s.runs[m.ID]
		s.mu.Unlock()
		if p != nil && m.Record != nil && p.onRecord != nil {
			p.onRecord(*m.Record)
		}
	case wire.TypeResult:
		s.mu.Lock()
		p := s.runs[m.ID]
		delete(s.runs, m.ID)
		s.mu.Unlock()
		if p != nil {
			r := m.Result
			if r == nil {
				r = &wire.Result{Error: &wire.Error{Kind: wire.ErrOther, Message: "the agent sent an empty result"}}
			}
			p.done <- r
		}
	case wire.TypeRebootReply:
		s.mu.Lock()
		ch := s.replies[m.ID]
		delete(s.replies, m.ID)
		s.mu.Unlock()
		if ch != nil {
			r := m.Reboot
			if r == nil {
				r = &wire.Reboot{Error: "the agent sent an empty reboot answer"}
			}
			ch <- r
		}
	case wire.TypeInventory:
		if m.Inventory != nil && m.Inventory.DeviceID != "" {
			inv := store.Inventory(*m.Inventory)
			if _, err := s.hub.st.UpdateComputer(s.ComputerID, func(c *store.Computer) error {
				c.Inventory = &inv
				return nil
			}); err != nil {
				s.hub.log.Error().Int64("computer", s.ComputerID).Err(err).Msg("store inventory")
			}
		}
	}
}

// OfflineError means the computer's agent was not connected within the wait.
type OfflineError struct {
	ComputerID int64
	Name       string
	Waited     time.Duration
}

func (e *OfflineError) Error() string {
	name := ""
	if e.Name != "" {
		name = " (" + e.Name + ")"
	}
	return fmt.Sprintf("computer %d%s is offline: its psbridge agent did not connect within %s", e.ComputerID, name, e.Waited)
}

// waitOnline returns the session of a computer, waiting up to wait for it to connect.
func (h *Hub) waitOnline(ctx context.Context, id int64, wait time.Duration) (*Session, error) {
	var timer <-chan time.Time
	for {
		h.mu.Lock()
		s := h.sessions[id]
		var ch chan struct{}
		if s == nil {
			ch = h.online[id]
			if ch == nil {
				ch = make(chan struct{})
				h.online[id] = ch
			}
		}
		h.mu.Unlock()
		if s != nil {
			return s, nil
		}
		if timer == nil {
			if wait <= 0 {
				return nil, h.offline(id, 0)
			}
			t := time.NewTimer(wait)
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-ch:
		case <-timer:
			return nil, h.offline(id, wait)
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %v", bridge.ErrCanceled, ctx.Err())
		}
	}
}

func (h *Hub) offline(id int64, waited time.Duration) error {
	e := &OfflineError{ComputerID: id, Waited: waited}
	if c, err := h.st.Computer(id); err == nil {
		e.Name = c.Name
	}
	return e
}

// Run sends a script to a computer's agent and waits for its result, passing each stream record
// to onRecord as it arrives. An offline computer is waited for up to wait (0: the hub's
// ConnectWait). Cancelling ctx cancels the run on the agent. A run past its deadline (plus a
// grace for the agent's own timeout) fails with bridge.ErrTimeout.
func (h *Hub) Run(ctx context.Context, computerID int64, run wire.Run, wait time.Duration, onRecord func(bridge.Record)) (*wire.Result, error) {
	if wait == 0 {
		wait = h.opts.ConnectWait
	}
	s, err := h.waitOnline(ctx, computerID, wait)
	if err != nil {
		return nil, err
	}
	id := "r" + strconv.FormatUint(h.seq.Add(1), 10)
	p := &pending{onRecord: onRecord, done: make(chan *wire.Result, 1)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("computer %d: the agent disconnected", computerID)
	}
	s.runs[id] = p
	s.mu.Unlock()
	forget := func() {
		s.mu.Lock()
		delete(s.runs, id)
		s.mu.Unlock()
	}
	if err := s.conn.Send(wire.Message{Type: wire.TypeRun, ID: id, Run: &run}); err != nil {
		forget()
		return nil, fmt.Errorf("computer %d: send the script to its agent: %w", computerID, err)
	}
	var deadline <-chan time.Time
	if run.TimeoutMs > 0 {
		t := time.NewTimer(time.Duration(run.TimeoutMs)*time.Millisecond + resultGrace)
		defer t.Stop()
		deadline = t.C
	}
	select {
	case r := <-p.done:
		return r, nil
	case <-deadline:
		forget()
		_ = s.conn.Send(wire.Message{Type: wire.TypeCancel, ID: id})
		return nil, fmt.Errorf("%w: computer %d did not answer within %s", bridge.ErrTimeout, computerID, time.Duration(run.TimeoutMs)*time.Millisecond)
	case <-ctx.Done():
		_ = s.conn.Send(wire.Message{Type: wire.TypeCancel, ID: id})
		t := time.NewTimer(cancelGrace)
		defer t.Stop()
		select {
		case r := <-p.done:
			if r.Error != nil && r.Error.Kind == wire.ErrCanceled {
				return nil, fmt.Errorf("%w: %v (stopped on computer %d)", bridge.ErrCanceled, context.Cause(ctx), computerID)
			}
			return r, nil
		case <-t.C:
			forget()
			return nil, fmt.Errorf("%w: %v", bridge.ErrCanceled, context.Cause(ctx))
		}
	}
}

// ErrAgentTooOld means the computer's agent predates the reboot requests (it announced a
// protocol version below wire.VersionReboot): it can neither say whether a reboot is pending
// nor reboot.
var ErrAgentTooOld = errors.New("the computer's agent is too old for reboot handling (update psbridge on the computer)")

// Timeouts of the reboot requests.
const (
	rebootCheckTimeout = 60 * time.Second
	rebootTimeout      = 90 * time.Second // the agent's reboot command may take up to 60 s
)

// RebootPending asks a computer's agent whether its operating system has a reboot pending.
// An agent too old to know the request fails with ErrAgentTooOld.
func (h *Hub) RebootPending(ctx context.Context, computerID int64) (wire.Reboot, error) {
	return h.ask(ctx, computerID, wire.TypeRebootCheck, rebootCheckTimeout)
}

// Reboot asks a computer's agent to run its reboot command; the answer comes before the
// computer goes down (Rebooting), or says why not (Refused, Error).
func (h *Hub) Reboot(ctx context.Context, computerID int64) (wire.Reboot, error) {
	return h.ask(ctx, computerID, wire.TypeReboot, rebootTimeout)
}

// ask sends a reboot request of type typ and waits for the agent's reply.
func (h *Hub) ask(ctx context.Context, computerID int64, typ string, timeout time.Duration) (wire.Reboot, error) {
	s, err := h.waitOnline(ctx, computerID, h.opts.ConnectWait)
	if err != nil {
		return wire.Reboot{}, err
	}
	id := "q" + strconv.FormatUint(h.seq.Add(1), 10)
	ch := make(chan *wire.Reboot, 1)
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return wire.Reboot{}, fmt.Errorf("computer %d: the agent disconnected", computerID)
	case s.version < wire.VersionReboot:
		s.mu.Unlock()
		return wire.Reboot{}, fmt.Errorf("computer %d: %w", computerID, ErrAgentTooOld)
	}
	s.replies[id] = ch
	s.mu.Unlock()
	forget := func() {
		s.mu.Lock()
		delete(s.replies, id)
		s.mu.Unlock()
	}
	if err := s.conn.Send(wire.Message{Type: typ, ID: id}); err != nil {
		forget()
		return wire.Reboot{}, fmt.Errorf("computer %d: send %s to its agent: %w", computerID, typ, err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return *r, nil
	case <-t.C:
		forget()
		return wire.Reboot{}, fmt.Errorf("%w: computer %d did not answer %s within %s", bridge.ErrTimeout, computerID, typ, timeout)
	case <-ctx.Done():
		forget()
		return wire.Reboot{}, fmt.Errorf("%w: %v", bridge.ErrCanceled, context.Cause(ctx))
	}
}
