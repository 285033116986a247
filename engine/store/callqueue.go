package store

import (
	"fmt"
	"sync"
	"time"

	berrors "go.etcd.io/bbolt/errors"
)

// Bounds of the call log writer.
const (
	// callQueueSize is how many entries may wait for the writer; QueueCall waits for room
	// beyond it.
	callQueueSize = 4096
	// maxCallBatch bounds the entries written in one transaction.
	maxCallBatch = 512
	// callLinger is how long the writer lets entries gather before it writes a batch that is
	// not full, unless someone waits for the write (AppendCall, a reader's flush, Close). At a
	// thousand calls a second a commit per call spent a third of psbridge's own CPU in commits
	// and fsyncs; with the linger a batch holds ~10 entries. The price: a hard crash (kill -9,
	// power loss) can lose up to this much more of the call log, which is diagnostic.
	callLinger = 10 * time.Millisecond
)

// pendingCall is a call log entry waiting for the writer.
type pendingCall struct {
	entry  CallLogEntry
	done   func(CallLogEntry, error)
	waiter bool // someone waits for this entry's write (AppendCall)
}

// callWriter is the call log's group-commit writer: callers queue entries, one goroutine
// writes whatever has accumulated in one transaction. Appending an entry used to be a
// transaction and an fsync of its own (3–8 ms on a busy disk), which every webhook and API
// call waited for and which serialised them: the store, not the workers, bounded the call rate.
type callWriter struct {
	mu      sync.Mutex
	cond    *sync.Cond // queue grew or shrank, entries were written, or the writer stops
	pending []pendingCall
	queued  uint64 // entries ever queued
	written uint64 // entries ever taken off the queue and written (or failed)
	running bool   // a writer goroutine is running; it returns when the queue is empty
	closed  bool
	urgent  int           // entries, flushes and a close waiting for the write: no linger
	wake    chan struct{} // cuts the writer's linger short (buffered, one token)
}

// queue adds an entry, waiting while the queue is full, and starts a writer goroutine unless
// one is running. The entry's time is set here, when the call ended, not when it is written.
//
// A waiter (AppendCall) marks the entry urgent: the writer skips its linger.
func (w *callWriter) queue(s *Store, entry CallLogEntry, done func(CallLogEntry, error), waiter bool) {
	if entry.Status == "" {
		entry.Status = CallStatus(!entry.OK, entry.HadErrors)
	}
	if entry.At.IsZero() {
		entry.At = s.now()
	}
	w.mu.Lock()
	w.init()
	for len(w.pending) >= callQueueSize && !w.closed {
		w.cond.Wait()
	}
	if w.closed {
		w.mu.Unlock()
		if done != nil {
			done(CallLogEntry{}, fmt.Errorf("append call %s of instance %d: %w", entry.Method, entry.InstanceID, berrors.ErrDatabaseNotOpen))
		}
		return
	}
	w.pending = append(w.pending, pendingCall{entry: entry, done: done, waiter: waiter})
	w.queued++
	if waiter {
		w.urgent++
		w.poke()
	}
	if !w.running {
		w.running = true
		go w.run(s)
	}
	w.cond.Broadcast()
	w.mu.Unlock()
}

// init makes the condition variable and the wake channel; w.mu is held.
func (w *callWriter) init() {
	if w.cond == nil {
		w.cond = sync.NewCond(&w.mu)
		w.wake = make(chan struct{}, 1)
	}
}

// poke cuts a running linger short; w.mu is held.
func (w *callWriter) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run writes batches until the queue is empty: entries queued while a batch is being written
// go into the next one. Before a batch that is not full it lingers (callLinger) so that more
// entries share the transaction, unless someone waits for the write.
func (w *callWriter) run(s *Store) {
	for {
		w.mu.Lock()
		if len(w.pending) == 0 {
			w.running = false
			w.cond.Broadcast()
			w.mu.Unlock()
			return
		}
		if len(w.pending) < maxCallBatch && w.urgent == 0 && !w.closed {
			w.mu.Unlock()
			t := time.NewTimer(callLinger)
			select {
			case <-t.C:
			case <-w.wake:
				t.Stop()
			}
			w.mu.Lock()
		}
		n := min(len(w.pending), maxCallBatch)
		batch := make([]pendingCall, n)
		copy(batch, w.pending)
		rest := copy(w.pending, w.pending[n:])
		clear(w.pending[rest:])
		w.pending = w.pending[:rest]
		w.cond.Broadcast() // room in the queue
		w.mu.Unlock()

		waiters := 0
		for _, p := range batch {
			if p.waiter {
				waiters++
			}
		}

		s.appendCalls(batch)

		w.mu.Lock()
		w.urgent -= waiters
		w.written += uint64(n)
		w.cond.Broadcast()
		w.mu.Unlock()
	}
}

// waitFor marks the caller as waiting for the write (no linger) until done runs; w.mu is held.
func (w *callWriter) waitFor() (done func()) {
	w.init()
	w.urgent++
	w.poke()
	return func() { w.urgent-- }
}

// flush waits until every entry queued before it was called is written.
func (w *callWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	target := w.queued
	if w.written >= target {
		return
	}
	defer w.waitFor()()
	for w.written < target {
		w.cond.Wait()
	}
}

// close waits until every queued entry is written and makes later entries fail.
func (w *callWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.running {
		w.poke()
	}
	for w.running {
		w.cond.Wait()
	}
}
