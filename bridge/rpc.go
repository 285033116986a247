package bridge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// maxMessage bounds one protocol message in either direction.
const maxMessage = 64 << 20

// rpcMessage is any JSON-RPC 2.0 message: request, notification or response.
type rpcMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *rpcError) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message) }

// rpcReply is what a pending request receives: a result, an RPC error, or a transport error.
type rpcReply struct {
	result json.RawMessage
	rpcErr *rpcError
	err    error
}

// connHandler receives what the worker sends on its own initiative.
type connHandler interface {
	// connFailed is told once when the connection dies: at the end of the pipe (eof) or on a
	// protocol fault.
	connFailed(err error, eof bool)
	notify(method string, params json.RawMessage)
	request(ctx context.Context, method string, params json.RawMessage) (any, error)
}

// conn is one JSON-RPC connection over a pair of pipes, usable from many goroutines.
type conn struct {
	w       io.WriteCloser
	r       *bufio.Reader
	handler connHandler

	wmu sync.Mutex

	mu      sync.Mutex
	seq     uint64
	pending map[string]chan rpcReply
	err     error // set once the connection is dead
	done    chan struct{}

	baseCtx context.Context
	cancel  context.CancelFunc
}

func newConn(w io.WriteCloser, r io.Reader, h connHandler) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		w:       w,
		r:       bufio.NewReaderSize(r, 256<<10),
		handler: h,
		pending: make(map[string]chan rpcReply),
		done:    make(chan struct{}),
		baseCtx: ctx,
		cancel:  cancel,
	}
	go c.readLoop()
	return c
}

// readLine reads one newline-terminated message of at most maxMessage bytes.
func (c *conn) readLine() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := c.r.ReadSlice('\n')
		if len(buf)+len(chunk) > maxMessage {
			return nil, fmt.Errorf("protocol message larger than %d MiB", maxMessage>>20)
		}
		if err == nil {
			if buf == nil {
				return chunk, nil
			}
			return append(buf, chunk...), nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			buf = append(buf, chunk...)
			continue
		}
		return nil, err
	}
}

func (c *conn) readLoop() {
	var failure error
	eof := false
	for {
		line, err := c.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				eof = true
				failure = errors.New("worker closed the protocol pipe")
			} else {
				failure = fmt.Errorf("read protocol: %w", err)
			}
			break
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var msg rpcMessage
		if err := json.Unmarshal(line, &msg); err != nil {
			failure = fmt.Errorf("malformed protocol message: %w", err)
			break
		}
		switch {
		case msg.Method != "" && len(msg.ID) == 0:
			c.handler.notify(msg.Method, msg.Params)
		case msg.Method != "":
			go c.serve(msg)
		default:
			c.mu.Lock()
			ch := c.pending[string(msg.ID)]
			delete(c.pending, string(msg.ID))
			c.mu.Unlock()
			if ch != nil {
				ch <- rpcReply{result: msg.Result, rpcErr: msg.Error}
			}
		}
	}
	c.handler.connFailed(failure, eof)
	c.fail(failure)
}

// serve answers one request from the worker.
func (c *conn) serve(msg rpcMessage) {
	result, err := c.handler.request(c.baseCtx, msg.Method, msg.Params)
	reply := rpcMessage{JSONRPC: "2.0", ID: msg.ID}
	if err != nil {
		var re *rpcError
		if errors.As(err, &re) {
			reply.Error = re
		} else {
			reply.Error = &rpcError{Code: -32000, Message: err.Error()}
		}
	} else {
		b, merr := json.Marshal(result)
		if merr != nil {
			reply.Error = &rpcError{Code: -32603, Message: "encode result: " + merr.Error()}
		} else {
			reply.Result = b
		}
	}
	_ = c.write(reply)
}

// fail marks the connection dead and fails every pending request.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	c.cancel()
	close(c.done)
	for _, ch := range pending {
		ch <- rpcReply{err: err}
	}
}

func (c *conn) write(msg rpcMessage) error {
	msg.JSONRPC = "2.0"
	b, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode %s: %w", msg.Method, err)
	}
	if len(b) > maxMessage {
		return fmt.Errorf("protocol message larger than %d MiB", maxMessage>>20)
	}
	b = append(b, '\n')
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.w.Write(b); err != nil {
		return fmt.Errorf("write protocol: %w", err)
	}
	return nil
}

// send starts a request and returns the channel its reply arrives on.
func (c *conn) send(method string, params any) <-chan rpcReply {
	ch := make(chan rpcReply, 1)
	raw, err := json.Marshal(params)
	if err != nil {
		ch <- rpcReply{err: fmt.Errorf("encode %s params: %w", method, err)}
		return ch
	}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		ch <- rpcReply{err: err}
		return ch
	}
	c.seq++
	id := strconv.Quote("g" + strconv.FormatUint(c.seq, 10))
	c.pending[id] = ch
	c.mu.Unlock()
	if err := c.write(rpcMessage{ID: json.RawMessage(id), Method: method, Params: raw}); err != nil {
		c.mu.Lock()
		if c.pending != nil {
			delete(c.pending, id)
		}
		c.mu.Unlock()
		ch <- rpcReply{err: err}
	}
	return ch
}

// call sends a request and waits for its reply or ctx.
func (c *conn) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	select {
	case r := <-c.send(method, params):
		if r.err != nil {
			return nil, r.err
		}
		if r.rpcErr != nil {
			return nil, r.rpcErr
		}
		return r.result, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// notify sends a notification.
func (c *conn) notifyPeer(method string, params any) error {
	raw, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("encode %s params: %w", method, err)
	}
	return c.write(rpcMessage{Method: method, Params: raw})
}

// close closes the writing side; the worker sees end of input and exits.
func (c *conn) close() error { return c.w.Close() }
