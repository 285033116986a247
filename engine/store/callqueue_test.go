package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	berrors "go.etcd.io/bbolt/errors"
)

// outcomes collects what QueueCall's done functions report.
type outcomes struct {
	mu   sync.Mutex
	recs map[string]CallLogEntry // by method
	errs map[string]error
}

func newOutcomes() *outcomes {
	return &outcomes{recs: map[string]CallLogEntry{}, errs: map[string]error{}}
}

func (o *outcomes) done(method string) func(CallLogEntry, error) {
	return func(rec CallLogEntry, err error) {
		o.mu.Lock()
		defer o.mu.Unlock()
		if _, dup := o.recs[method]; dup {
			o.errs[method] = errors.New("done called twice")
			return
		}
		o.recs[method], o.errs[method] = rec, err
	}
}

// queueConcurrently queues perWriter entries from each of writers goroutines, alternating
// between instances, and returns once every QueueCall has returned. Methods are "w<i>-<n>".
func queueConcurrently(s *Store, o *outcomes, writers, perWriter int, instances ...int64) {
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range perWriter {
				m := fmt.Sprintf("w%d-%d", w, n)
				s.QueueCall(CallLogEntry{InstanceID: instances[n%len(instances)], Method: m, OK: true}, o.done(m))
			}
		}()
	}
	wg.Wait()
}

// TestQueueCall checks the call log writer: an entry is visible to Calls (and to a backup) as
// soon as QueueCall returns, the writer keeps each caller's order and the ring bound, and a
// clean Close writes every queued entry.
func TestQueueCall(t *testing.T) {
	tests := []struct {
		name      string
		maxCalls  int
		writers   int
		perWriter int
		// read is how the entries are read back once every QueueCall has returned.
		read string // "calls", "backup" or "reopen" (Close, then Open again)
	}{
		{"readers see queued entries", 0, 8, 150, "calls"},
		{"ring bound over batches", 7, 4, 50, "calls"},
		{"backup includes queued entries", 0, 4, 100, "backup"},
		{"close writes queued entries", 0, 4, 250, "reopen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "psbridge.db")
			key := make([]byte, KeySize)
			s, err := Open(path, Options{Key: key, MaxCallLog: tt.maxCalls})
			must(t, err)
			defer func() { _ = s.Close() }()
			one, two := mustInstance(t, s, "one"), mustInstance(t, s, "two")
			o := newOutcomes()
			queueConcurrently(s, o, tt.writers, tt.perWriter, one.ID, two.ID)
			reader := s
			switch tt.read {
			case "backup":
				bpath := filepath.Join(t.TempDir(), "backup.db")
				_, err := s.BackupToFile(bpath)
				must(t, err)
				reader, err = Open(bpath, Options{Key: key})
				must(t, err)
				defer func() { _ = reader.Close() }()
			case "reopen":
				must(t, s.Close())
				reader, err = Open(path, Options{Key: key})
				must(t, err)
				defer func() { _ = reader.Close() }()
			}
			got, err := reader.Calls(0, 0, 0)
			must(t, err)
			total := tt.writers * tt.perWriter
			want := total
			if tt.maxCalls > 0 {
				want = tt.maxCalls
			}
			if len(got) != want {
				t.Fatalf("the log holds %d entries, want %d", len(got), want)
			}
			// Newest first, ids strictly decreasing; each writer's entries in its own order.
			lastN := map[string]int{}
			for i := len(got) - 1; i >= 0; i-- {
				e := got[i]
				if i < len(got)-1 && e.ID <= got[i+1].ID {
					t.Fatalf("ids out of order: %d after %d", e.ID, got[i+1].ID)
				}
				var w, n int
				if _, err := fmt.Sscanf(e.Method, "w%d-%d", &w, &n); err != nil {
					t.Fatalf("method %q: %v", e.Method, err)
				}
				key := fmt.Sprint(w)
				if prev, ok := lastN[key]; ok && n <= prev {
					t.Fatalf("writer %d: entry %d logged after %d", w, n, prev)
				}
				lastN[key] = n
				if e.At.IsZero() || e.Status != CallStatus(false, false) {
					t.Fatalf("entry %d: at %v, status %q", e.ID, e.At, e.Status)
				}
			}
			// The per-instance index holds exactly the kept entries.
			var indexed int
			for _, id := range []int64{one.ID, two.ID} {
				es, err := reader.Calls(id, 0, 0)
				must(t, err)
				indexed += len(es)
			}
			if indexed != want {
				t.Fatalf("the per-instance index holds %d entries, want %d", indexed, want)
			}
			// Every done ran once, without error, with the id the entry got.
			o.mu.Lock()
			defer o.mu.Unlock()
			if len(o.recs) != total {
				t.Fatalf("done ran for %d entries, want %d", len(o.recs), total)
			}
			for _, e := range got {
				if err := o.errs[e.Method]; err != nil {
					t.Fatalf("%s: %v", e.Method, err)
				}
				if o.recs[e.Method].ID != e.ID {
					t.Fatalf("%s: done saw id %d, stored %d", e.Method, o.recs[e.Method].ID, e.ID)
				}
			}
		})
	}
}

// TestQueueCallErrors checks the entries the writer cannot log: one of a deleted instance
// fails alone with ErrNotFound, and after Close every entry fails at once.
func TestQueueCallErrors(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	gone, kept := mustInstance(t, s, "gone"), mustInstance(t, s, "kept")
	must(t, s.DeleteInstance(gone.ID))
	o := newOutcomes()
	s.QueueCall(CallLogEntry{InstanceID: gone.ID, Method: "gone"}, o.done("gone"))
	s.QueueCall(CallLogEntry{InstanceID: kept.ID, Method: "kept"}, o.done("kept"))
	got, err := s.Calls(kept.ID, 0, 0)
	must(t, err)
	if len(got) != 1 || got[0].Method != "kept" {
		t.Fatalf("calls of the kept instance: %+v", got)
	}
	must(t, s.Close())
	s.QueueCall(CallLogEntry{InstanceID: kept.ID, Method: "closed"}, o.done("closed"))
	appendErr := s.AppendCall(&CallLogEntry{InstanceID: kept.ID, Method: "closed-sync"})
	o.mu.Lock()
	defer o.mu.Unlock()
	tests := []struct {
		method string
		err    error
		want   error
	}{
		{"gone", o.errs["gone"], ErrNotFound},
		{"kept", o.errs["kept"], nil},
		{"closed", o.errs["closed"], berrors.ErrDatabaseNotOpen},
		{"closed-sync", appendErr, berrors.ErrDatabaseNotOpen},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			wantErr(t, tt.err, tt.want)
			if tt.err != nil && tt.method == "gone" && tt.err.Error() != fmt.Sprintf("append call gone of instance %d: instance %d: not found", gone.ID, gone.ID) {
				t.Fatalf("error text %q", tt.err)
			}
		})
	}
}
