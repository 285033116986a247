package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Conn is a terminal's view of a session, remote (Dial) or in-process (Local).
type Conn interface {
	// SessionID is the id to re-attach with.
	SessionID() string
	// Input sends keystrokes.
	Input(p []byte) error
	// Resize changes the terminal size.
	Resize(cols, rows int) error
	// Output delivers terminal output; it is closed when the conversation ends.
	Output() <-chan []byte
	// Wait returns, once Output is closed, pwsh's exit code, or why there is none (an error
	// message from the server, a dropped connection, a detach).
	Wait() (exitCode int, err error)
	// Close detaches; the session stays open for its reconnect window.
	Close() error
}

// ErrDetached is Wait's error after Close: the session goes on without this terminal.
var ErrDetached = errors.New("detached from the console session")

// WebsocketURL turns a server address (http://host:port, https://…, ws://…, optionally with
// the full …/console/ws path) into the console websocket URL with query q.
func WebsocketURL(base string, q url.Values) (string, error) {
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil {
		return "", fmt.Errorf("console: server URL %q: %w", base, err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("console: server URL %q: want http://, https://, ws:// or wss://", base)
	}
	if u.Host == "" {
		return "", fmt.Errorf("console: server URL %q has no host", base)
	}
	if !strings.HasSuffix(u.Path, "/console/ws") {
		u.Path = strings.TrimSuffix(u.Path, "/")
		if !strings.HasSuffix(u.Path, "/api/v1") {
			u.Path += "/api/v1"
		}
		u.Path += "/console/ws"
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Client is a Conn over the console websocket.
type Client struct {
	conn *websocket.Conn
	wmu  sync.Mutex
	out  chan []byte
	id   string

	mu       sync.Mutex
	code     *int
	lastErr  string
	detached bool
	done     chan struct{}
	quit     chan struct{}
	quitOnce sync.Once
}

// Dial connects to the console websocket at wsURL (see WebsocketURL) with header (e.g.
// Authorization) and waits for the server's hello.
func Dial(ctx context.Context, wsURL string, header http.Header) (*Client, error) {
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, Proxy: http.ProxyFromEnvironment}
	conn, resp, err := d.DialContext(ctx, wsURL, header)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			return nil, fmt.Errorf("console: %s refused the connection: %s: %s", redactURL(wsURL), resp.Status, strings.TrimSpace(string(body)))
		}
		return nil, fmt.Errorf("console: connect to %s: %w", redactURL(wsURL), err)
	}
	c := &Client{conn: conn, out: make(chan []byte, 256), done: make(chan struct{}), quit: make(chan struct{})}
	// The first message is hello, or an error and the close.
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	for c.id == "" {
		typ, data, err := conn.ReadMessage()
		if err != nil {
			conn.Close()
			if c.lastErr != "" {
				return nil, fmt.Errorf("console: %s", strings.TrimPrefix(c.lastErr, "console: "))
			}
			return nil, fmt.Errorf("console: waiting for the server's hello: %w", err)
		}
		if typ == websocket.TextMessage {
			c.handle(data)
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	go c.read()
	return c, nil
}

func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		u.RawQuery = ""
		return u.String()
	}
	return s
}

func (c *Client) handle(data []byte) {
	var m Message
	if err := json.Unmarshal(data, &m); err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m.Type {
	case "hello":
		c.id = m.Session
	case "error":
		c.lastErr = m.Message
	case "exit":
		code := -1
		if m.Code != nil {
			code = *m.Code
		}
		c.code = &code
	}
}

func (c *Client) read() {
	defer close(c.done)
	defer close(c.out)
	for {
		typ, data, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		var show []byte
		switch typ {
		case websocket.BinaryMessage:
			show = data
		case websocket.TextMessage:
			var m Message
			if json.Unmarshal(data, &m) == nil && m.Type == "error" {
				// Show errors in the terminal as they come; Wait returns the last one too.
				show = []byte("\r\n[psbridge] " + m.Message + "\r\n")
			}
			c.handle(data)
		}
		if show != nil {
			select {
			case c.out <- show:
			case <-c.quit:
				return
			}
		}
	}
}

// SessionID implements Conn.
func (c *Client) SessionID() string { return c.id }

func (c *Client) write(typ int, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	if err := c.conn.WriteMessage(typ, b); err != nil {
		return fmt.Errorf("console: send: %w", err)
	}
	return nil
}

// Input implements Conn.
func (c *Client) Input(p []byte) error { return c.write(websocket.BinaryMessage, p) }

// Resize implements Conn.
func (c *Client) Resize(cols, rows int) error {
	b, _ := json.Marshal(Message{Type: "resize", Cols: cols, Rows: rows})
	return c.write(websocket.TextMessage, b)
}

// Output implements Conn.
func (c *Client) Output() <-chan []byte { return c.out }

// Wait implements Conn.
func (c *Client) Wait() (int, error) {
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.code != nil:
		return *c.code, nil
	case c.detached:
		return -1, ErrDetached
	case c.lastErr != "":
		return -1, fmt.Errorf("console: %s", strings.TrimPrefix(c.lastErr, "console: "))
	}
	return -1, errors.New("console: the connection to the server was lost (re-attach with --session " + c.id + ")")
}

// Close implements Conn.
func (c *Client) Close() error {
	c.mu.Lock()
	c.detached = c.code == nil
	c.mu.Unlock()
	c.quitOnce.Do(func() { close(c.quit) })
	c.wmu.Lock()
	_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "detach"), time.Now().Add(time.Second))
	c.wmu.Unlock()
	return c.conn.Close()
}

// LocalConn is a Conn attached in-process to a Session.
type LocalConn struct {
	s        *Session
	att      *Attachment
	mu       sync.Mutex
	detached bool
}

// Local attaches to s in-process.
func Local(s *Session) (*LocalConn, error) {
	att, err := s.Attach()
	if err != nil {
		return nil, err
	}
	return &LocalConn{s: s, att: att}, nil
}

// SessionID implements Conn.
func (l *LocalConn) SessionID() string { return l.s.ID() }

// Input implements Conn.
func (l *LocalConn) Input(p []byte) error {
	_, err := l.s.Write(p)
	return err
}

// Resize implements Conn.
func (l *LocalConn) Resize(cols, rows int) error { return l.s.Resize(cols, rows) }

// Output implements Conn.
func (l *LocalConn) Output() <-chan []byte { return l.att.Output() }

// Wait implements Conn.
func (l *LocalConn) Wait() (int, error) {
	l.mu.Lock()
	detached := l.detached
	l.mu.Unlock()
	if detached {
		return -1, ErrDetached
	}
	if r := l.att.Reason(); r != "" {
		return -1, fmt.Errorf("console: %s", r)
	}
	<-l.s.Done()
	if r := l.s.CloseReason(); r != "" && r != "closed" {
		return l.s.ExitCode(), fmt.Errorf("console: session %s", r)
	}
	return l.s.ExitCode(), nil
}

// Close implements Conn.
func (l *LocalConn) Close() error {
	l.mu.Lock()
	l.detached = true
	l.mu.Unlock()
	l.att.Detach()
	return nil
}

// DetachKey (Ctrl-]) typed in Run's input detaches instead of reaching pwsh.
const DetachKey = 0x1d

// Run connects a terminal to conn: in is copied to the session (DetachKey detaches), output
// goes to out, and resize (when not nil) delivers terminal size changes. It returns when the
// session ends (its exit code), the terminal detaches (ErrDetached) or ctx ends.
func Run(ctx context.Context, conn Conn, in io.Reader, out io.Writer, resize <-chan [2]int) (int, error) {
	detach := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := in.Read(buf)
			if n > 0 {
				p := buf[:n]
				if i := bytes.IndexByte(p, DetachKey); i >= 0 {
					if i > 0 {
						_ = conn.Input(p[:i])
					}
					close(detach)
					return
				}
				if conn.Input(p) != nil {
					return
				}
			}
			if err != nil {
				return // end of input: stay attached until the session ends
			}
		}
	}()
	output := conn.Output()
	for {
		select {
		case b, ok := <-output:
			if !ok {
				return conn.Wait()
			}
			if _, err := out.Write(b); err != nil {
				conn.Close()
				return -1, fmt.Errorf("console: write output: %w", err)
			}
		case sz := <-resize:
			_ = conn.Resize(sz[0], sz[1])
		case <-detach:
			conn.Close()
			return -1, ErrDetached
		case <-ctx.Done():
			conn.Close()
			return -1, ctx.Err()
		}
	}
}
