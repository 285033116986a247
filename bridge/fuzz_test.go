package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"sync"
	"testing"
)

// recordingHandler is a connHandler that remembers what the connection told it.
type recordingHandler struct {
	mu       sync.Mutex
	notes    []string
	failed   error
	eof      bool
	failures int
	done     chan struct{}
}

func (h *recordingHandler) connFailed(err error, eof bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failed, h.eof = err, eof
	h.failures++
	close(h.done)
}

func (h *recordingHandler) notify(method string, params json.RawMessage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.notes = append(h.notes, method)
}

func (h *recordingHandler) request(context.Context, string, json.RawMessage) (any, error) {
	return nil, &rpcError{Code: -32601, Message: "no"}
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// FuzzFrameReader feeds arbitrary bytes to the worker protocol reader: it must never panic,
// must report exactly one failure (end of input or a protocol fault), and must deliver a
// notification only for a well-formed message.
func FuzzFrameReader(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","method":"ready","params":{"protocol":1,"pid":7}}` + "\n"))
	f.Add([]byte(`{"jsonrpc":"2.0","method":"record","params":{"callId":"c1","stream":"warning","message":"x"}}` + "\n\n"))
	f.Add([]byte(`{"jsonrpc":"2.0","id":"g1","result":[1,2]}` + "\n"))
	f.Add([]byte("garbage{{{\n"))
	f.Add([]byte(`{"jsonrpc":"2.0","id":"x","method":"host.token","params":{}}` + "\n"))
	f.Add([]byte{0xff, 0xfe, '\n'})
	f.Fuzz(func(t *testing.T, data []byte) {
		h := &recordingHandler{done: make(chan struct{})}
		var out bytes.Buffer
		c := newConn(nopWriteCloser{&out}, bytes.NewReader(data), h)
		<-h.done
		<-c.done
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.failures != 1 || h.failed == nil {
			t.Fatalf("failures = %d (%v), want exactly one", h.failures, h.failed)
		}
		if len(h.notes) > 0 && len(bytes.TrimSpace(data)) == 0 {
			t.Fatalf("notifications %v from blank input", h.notes)
		}
	})
}

// FuzzRecordParams feeds arbitrary "record" notification params to a worker: no panic, and a
// record reaches the running call only when it names that call.
func FuzzRecordParams(f *testing.F) {
	f.Add([]byte(`{"callId":"c1","stream":"warning","message":"careful"}`))
	f.Add([]byte(`{"callId":"other","stream":"error","message":"x","line":3}`))
	f.Add([]byte(`{"callId":"c1","percent":"nope"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, params []byte) {
		w := &worker{ready: make(chan readyInfo, 1)}
		ac := &activeCall{id: "c1"}
		var seen []Record
		ac.onRecord = func(r Record) { seen = append(seen, r) }
		w.active = ac
		w.notify("record", params)
		w.notify("ready", params)
		for _, r := range append(seen, ac.records...) {
			if r.CallID != "c1" {
				t.Fatalf("record for call %q reached call c1", r.CallID)
			}
		}
		if len(seen) != len(ac.records) {
			t.Fatalf("%d records delivered live, %d kept", len(seen), len(ac.records))
		}
	})
}
