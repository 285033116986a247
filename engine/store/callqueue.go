package store

import (
	"fmt"
	"sync"

	berrors "go.etcd.io/bbolt/errors"
)

// Bounds of the call log writer.
const (
	// callQueueSize is how many entries may wait for the writer; QueueCall waits for room
	// beyond it.
	callQueueSize = 4096
	// maxCallBatch bounds the entries written in one transaction.
	maxCallBatch = 512
)

// pendingCall is a call log entry waiting for the writer.
type pendingCall struct {
	entry CallLogEntry
	done  func(CallLogEntry, error)
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
}

// queue adds an entry, waiting while the queue is full, and starts a writer goroutine unless
// one is running. The entry's time is set here, when the call ended, not when it is written.
func (w *callWriter) queue(s *Store, entry CallLogEntry, done func(CallLogEntry, error)) {
	if entry.Status == "" {
		entry.Status = CallStatus(!entry.OK, entry.HadErrors)
	}
	if entry.At.IsZero() {
		entry.At = s.now()
	}
	w.mu.Lock()
	if w.cond == nil {
		w.cond = sync.NewCond(&w.mu)
	}
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
	w.pending = append(w.pending, pendingCall{entry: entry, done: done})
	w.queued++
	if !w.running {
		w.running = true
		go w.run(s)
	}
	w.cond.Broadcast()
	w.mu.Unlock()
}

// run writes batches until the queue is empty: entries queued while a batch is being written
// go into the next one.
func (w *callWriter) run(s *Store) {
	for {
		w.mu.Lock()
		if len(w.pending) == 0 {
			w.running = false
			w.cond.Broadcast()
			w.mu.Unlock()
			return
		}
		n := min(len(w.pending), maxCallBatch)
		batch := make([]pendingCall, n)
		copy(batch, w.pending)
		rest := copy(w.pending, w.pending[n:])
		clear(w.pending[rest:])
		w.pending = w.pending[:rest]
		w.cond.Broadcast() // room in the queue
		w.mu.Unlock()

		s.appendCalls(batch)

		w.mu.Lock()
		w.written += uint64(n)
		w.cond.Broadcast()
		w.mu.Unlock()
	}
}

// flush waits until every entry queued before it was called is written.
func (w *callWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	target := w.queued
	for w.written < target {
		w.cond.Wait()
	}
}

// close waits until every queued entry is written and makes later entries fail.
func (w *callWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	for w.running {
		w.cond.Wait()
	}
}
