// Package agentws carries psbridge agents' traffic: the enrollment endpoint and the one
// websocket each agent dials out to the server. It exists so the engine (engine/computers)
// never sees HTTP: this package authenticates the agent, turns frames into wire.Messages for
// the hub, writes the hub's messages back and keeps the connection alive with pings. It
// decides nothing about what runs where.
package agentws

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/psbridge/psbridge/agent/wire"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/computers"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/web/httpx"
)

const (
	writeTimeout = 10 * time.Second
	helloTimeout = 15 * time.Second
	maxMessage   = 64 << 20
)

// Server serves the agent endpoints.
type Server struct {
	eng *engine.Engine
	log zerolog.Logger
	up  websocket.Upgrader
}

// New returns the agent endpoints of eng.
func New(eng *engine.Engine, logger *zerolog.Logger) *Server {
	log := zerolog.Nop()
	if logger != nil {
		log = logger.With().Str("component", "agentws").Logger()
	}
	return &Server{eng: eng, log: log, up: websocket.Upgrader{
		ReadBufferSize: 4096, WriteBufferSize: 4096,
		// Agents are not browsers: they send no Origin, and a browser cannot present the
		// bearer credential the endpoint requires.
		CheckOrigin: func(r *http.Request) bool { return r.Header.Get("Origin") == "" },
	}}
}

// Patterns are the routes Register adds (for the OpenAPI document).
var Patterns = []struct{ Method, Path string }{
	{"POST", wire.EnrollPath},
	{"GET", wire.ConnectPath},
}

// Register mounts the endpoints on mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+wire.EnrollPath, s.enroll)
	mux.HandleFunc("GET "+wire.ConnectPath, s.connect)
}

func (s *Server) enroll(w http.ResponseWriter, r *http.Request) {
	var in wire.EnrollRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil {
		httpx.Problem(w, r, httpx.Details{Type: httpx.TypeMalformed, Status: http.StatusBadRequest, Detail: "the body must be JSON {\"key\",\"inventory\"}: " + err.Error()})
		return
	}
	out, err := s.eng.Enroll(in.Key, in.Inventory)
	var fe engine.FieldErrors
	switch {
	case err == nil:
		httpx.JSON(w, http.StatusCreated, out)
	case errors.Is(err, store.ErrInvalidKey):
		httpx.Problem(w, r, httpx.Details{Type: httpx.TypeUnauthorize, Status: http.StatusUnauthorized, Detail: store.ErrInvalidKey.Error()})
	case errors.As(err, &fe):
		d := httpx.Details{Type: httpx.TypeValidation, Status: http.StatusUnprocessableEntity, Detail: fe.Error()}
		for _, f := range fe {
			d.Errors = append(d.Errors, httpx.FieldError{Field: f.Field, Message: f.Message})
		}
		httpx.Problem(w, r, d)
	default:
		s.log.Error().Err(err).Msg("enroll")
		httpx.Problem(w, r, httpx.Details{Type: httpx.TypeInternal, Status: http.StatusInternalServerError, Detail: "enrollment failed; see the server log"})
	}
}

// conn is one agent websocket; Send may be called from any goroutine.
type conn struct {
	ws *websocket.Conn
	mu sync.Mutex
}

func (c *conn) Send(m wire.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	return c.ws.WriteJSON(m)
}

func (c *conn) ping() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout))
}

func (c *conn) Close() error { return c.ws.Close() }

func (s *Server) connect(w http.ResponseWriter, r *http.Request) {
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	cred = strings.TrimSpace(cred)
	if !strings.EqualFold(scheme, "Bearer") || cred == "" {
		httpx.Problem(w, r, httpx.Details{Type: httpx.TypeUnauthorize, Status: http.StatusUnauthorized, Detail: "send the agent credential as 'Authorization: Bearer <credential>'"})
		return
	}
	c, ok, err := s.eng.AgentComputer(cred)
	if err != nil {
		s.log.Error().Err(err).Msg("check agent credential")
		httpx.Problem(w, r, httpx.Details{Type: httpx.TypeInternal, Status: http.StatusInternalServerError, Detail: "credential check failed"})
		return
	}
	if !ok {
		httpx.Problem(w, r, httpx.Details{Type: httpx.TypeUnauthorize, Status: http.StatusUnauthorized, Detail: "the agent credential is not valid (the computer was re-enrolled or removed); enroll again"})
		return
	}
	ws, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	ws.SetReadLimit(maxMessage)
	hub := s.eng.Hub()
	hb := hub.Heartbeat()
	_ = ws.SetReadDeadline(time.Now().Add(helloTimeout))
	var hello wire.Message
	if err := ws.ReadJSON(&hello); err != nil || hello.Type != wire.TypeHello {
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "expected hello"), time.Now().Add(writeTimeout))
		_ = ws.Close()
		return
	}
	cn := &conn{ws: ws}
	if err := cn.Send(wire.Message{Type: wire.TypeWelcome, ComputerID: c.ID, HeartbeatSeconds: int(hb / time.Second)}); err != nil {
		_ = ws.Close()
		return
	}
	sess := hub.Attach(c, hello.Inventory, cn)
	sess.SetVersion(hello.Version)
	defer hub.Detach(sess)
	defer ws.Close()

	// The server pings every heartbeat; a connection silent for 3 heartbeats is dead.
	deadline := func() { _ = ws.SetReadDeadline(time.Now().Add(3 * hb)) }
	deadline()
	ws.SetPongHandler(func(string) error { deadline(); return nil })
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(hb)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if cn.ping() != nil {
					_ = ws.Close()
					return
				}
			}
		}
	}()
	for {
		var m wire.Message
		if err := ws.ReadJSON(&m); err != nil {
			return
		}
		deadline()
		sess.Deliver(m)
	}
}

var _ computers.Conn = (*conn)(nil)
