package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// UserFunc identifies the user of a request (from a bearer token, a session cookie, …); ok is
// false when the request is not authenticated.
type UserFunc func(r *http.Request) (user string, ok bool)

// Message is a JSON control message (a websocket text frame). Binary frames carry terminal
// bytes: keystrokes from the client, output (secrets masked) from the server.
//
// Client → server: {"type":"resize","cols":N,"rows":M}, {"type":"ping"}.
// Server → client: {"type":"hello","session":"id"}, {"type":"pong"},
// {"type":"exit","code":N}, {"type":"error","message":"…"}.
type Message struct {
	Type    string `json:"type"`
	Session string `json:"session,omitempty"`
	Cols    int    `json:"cols,omitempty"`
	Rows    int    `json:"rows,omitempty"`
	Code    *int   `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// Websocket timing.
const (
	wsWriteTimeout = 10 * time.Second
	wsPingEvery    = 30 * time.Second
	wsReadTimeout  = 90 * time.Second
	wsMaxMessage   = 64 << 10
	openTimeout    = 30 * time.Second
)

// Handler returns the websocket endpoint (mount it at GET …/console/ws). Query parameters:
// session=ID re-attaches to an open session of the same user (another user's gives 403);
// otherwise a new session starts, for instance=ID when given, sized cols×rows.
//
// A request that user does not authenticate gets 401, one from a foreign Origin 403. Errors
// after the upgrade (a session cap, an unknown session, an instance that does not load) come
// as an "error" message followed by a close frame, so that a browser can show them.
func (m *Manager) Handler(user UserFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.serveWS(w, r, user)
	})
}

func (m *Manager) serveWS(w http.ResponseWriter, r *http.Request, userOf UserFunc) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "console: use GET with a websocket upgrade", http.StatusMethodNotAllowed)
		return
	}
	user, ok := "", false
	if userOf != nil {
		user, ok = userOf(r)
	}
	if !ok || user == "" {
		http.Error(w, "console: not authenticated", http.StatusUnauthorized)
		return
	}
	if !m.originAllowed(r) {
		http.Error(w, fmt.Sprintf("console: origin %q is not allowed", r.Header.Get("Origin")), http.StatusForbidden)
		return
	}
	q := r.URL.Query()
	var existing *Session
	if id := q.Get("session"); id != "" {
		s, err := m.Lookup(user, id)
		if errors.Is(err, ErrForbidden) {
			http.Error(w, "console: "+err.Error(), http.StatusForbidden)
			return
		}
		existing = s // nil when not found: reported after the upgrade
	}
	up := websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		CheckOrigin:      func(*http.Request) bool { return true }, // checked above
	}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered the request
	}
	defer conn.Close()
	conn.SetReadLimit(wsMaxMessage)

	s := existing
	if s == nil {
		if q.Get("session") != "" {
			closeWithError(conn, ErrNotFound.Error())
			return
		}
		cols, _ := strconv.Atoi(q.Get("cols"))
		rows, _ := strconv.Atoi(q.Get("rows"))
		ctx, cancel := context.WithTimeout(r.Context(), openTimeout)
		s, err = m.Open(ctx, OpenOptions{User: user, Instance: q.Get("instance"), Cols: cols, Rows: rows})
		cancel()
		if err != nil {
			m.log.Info().Err(err).Str("user", user).Msg("console: open refused")
			closeWithError(conn, err.Error())
			return
		}
	}
	att, err := s.Attach()
	if err != nil {
		closeWithError(conn, err.Error())
		return
	}
	pump(conn, att)
}

// pump runs one websocket connection attached to a session until either side ends.
func pump(conn *websocket.Conn, att *Attachment) {
	s := att.Session()
	control := make(chan Message, 16)
	readerDone := make(chan struct{})
	writerDone := make(chan struct{})

	go func() {
		defer close(writerDone)
		write := func(typ int, b []byte) error {
			_ = conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
			return conn.WriteMessage(typ, b)
		}
		writeJSON := func(msg Message) error {
			b, _ := json.Marshal(msg)
			return write(websocket.TextMessage, b)
		}
		if writeJSON(Message{Type: "hello", Session: s.ID()}) != nil {
			att.Detach()
			return
		}
		ping := time.NewTicker(wsPingEvery)
		defer ping.Stop()
		for {
			select {
			case b, ok := <-att.Output():
				if !ok {
					finish(conn, att, writeJSON)
					return
				}
				if write(websocket.BinaryMessage, b) != nil {
					att.Detach()
					conn.Close()
					return
				}
			case msg := <-control:
				if writeJSON(msg) != nil {
					att.Detach()
					conn.Close()
					return
				}
			case <-ping.C:
				if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteTimeout)) != nil {
					att.Detach()
					conn.Close()
					return
				}
			case <-readerDone:
				att.Detach()
				return
			}
		}
	}()

	_ = conn.SetReadDeadline(time.Now().Add(wsReadTimeout))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(wsReadTimeout)) })
	for {
		typ, data, err := conn.ReadMessage()
		if err != nil {
			break
		}
		_ = conn.SetReadDeadline(time.Now().Add(wsReadTimeout))
		switch typ {
		case websocket.BinaryMessage:
			if _, err := s.Write(data); err != nil && !errors.Is(err, ErrClosed) {
				trySend(control, Message{Type: "error", Message: err.Error()})
			}
		case websocket.TextMessage:
			var msg Message
			if err := json.Unmarshal(data, &msg); err != nil {
				trySend(control, Message{Type: "error", Message: "console: control message is not JSON: " + err.Error()})
				continue
			}
			switch msg.Type {
			case "resize":
				if msg.Cols <= 0 || msg.Rows <= 0 {
					trySend(control, Message{Type: "error", Message: "console: resize needs positive cols and rows"})
				} else if err := s.Resize(msg.Cols, msg.Rows); err != nil && !errors.Is(err, ErrClosed) {
					trySend(control, Message{Type: "error", Message: err.Error()})
				}
			case "ping":
				trySend(control, Message{Type: "pong"})
			default:
				trySend(control, Message{Type: "error", Message: fmt.Sprintf("console: unknown message type %q (want resize or ping)", msg.Type)})
			}
		}
	}
	close(readerDone)
	<-writerDone
}

// finish tells the client why its output ended: the session exited, or the attachment was
// replaced.
func finish(conn *websocket.Conn, att *Attachment, writeJSON func(Message) error) {
	s := att.Session()
	if reason := att.Reason(); reason != "" {
		_ = writeJSON(Message{Type: "error", Message: "console: " + reason})
		closeFrame(conn, websocket.CloseNormalClosure, reason, false)
		return
	}
	select {
	case <-s.Done():
	case <-time.After(wsWriteTimeout):
	}
	if reason := s.CloseReason(); reason != "" && reason != "closed" {
		_ = writeJSON(Message{Type: "error", Message: "console: session " + reason})
	}
	code := s.ExitCode()
	_ = writeJSON(Message{Type: "exit", Code: &code})
	closeFrame(conn, websocket.CloseNormalClosure, "session ended", false)
}

func trySend(ch chan Message, msg Message) {
	select {
	case ch <- msg:
	default:
	}
}

func closeWithError(conn *websocket.Conn, message string) {
	b, _ := json.Marshal(Message{Type: "error", Message: message})
	_ = conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	_ = conn.WriteMessage(websocket.TextMessage, b)
	if len(message) > 120 {
		message = message[:120]
	}
	closeFrame(conn, websocket.ClosePolicyViolation, message, true)
}

// closeFrame sends a close frame and gives the client a moment to answer it. With drain it
// reads until then itself; otherwise the connection's reader (running elsewhere) sees the
// answer or the deadline.
func closeFrame(conn *websocket.Conn, code int, text string, drain bool) {
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	for drain {
		if _, _, err := conn.NextReader(); err != nil {
			return
		}
	}
}

// originAllowed accepts requests without an Origin header (non-browser clients), the same
// host as the request, and Config.AllowedOrigins ("*" allows any).
func (m *Manager) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, o := range m.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(strings.TrimRight(o, "/"), origin) {
			return true
		}
	}
	return false
}
