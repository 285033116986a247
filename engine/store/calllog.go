package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// AppendCall adds an entry to the call log and sets entry.ID (increasing). The log is a ring:
// entries older than the newest Options.MaxCallLog are dropped. InstanceID must name an
// existing instance, or be 0 for calls made outside any instance (a type's test run).
//
// It returns once the entry is on disk. It shares the call log writer with QueueCall, so
// concurrent appends share one transaction (one fsync).
func (s *Store) AppendCall(entry *CallLogEntry) error {
	type result struct {
		rec CallLogEntry
		err error
	}
	ch := make(chan result, 1)
	s.calls.queue(s, *entry, func(rec CallLogEntry, err error) { ch <- result{rec, err} }, true)
	r := <-ch
	if r.err != nil {
		return r.err
	}
	*entry = r.rec
	return nil
}

// QueueCall adds an entry to the call log like AppendCall, but returns as soon as the entry is
// queued instead of once it is on disk: the call log writer writes queued entries in order,
// as many as have accumulated in one transaction (it lets a batch gather for up to 10 ms
// unless somebody waits for the write), so a request that logs a call does not wait for an
// fsync. Calls, Backup, BackupToFile and Close wait for every entry queued before them,
// so a reader sees every entry whose QueueCall returned, and a clean Close loses none. When
// the queue is full QueueCall waits for room; it never drops an entry.
//
// done, if not nil, runs on the writer's goroutine with the entry as written (ID set) or the
// error that kept it out of the log (ErrNotFound when its instance was deleted meanwhile, an
// error wrapping bbolt's ErrDatabaseNotOpen after Close). It must not use the call log itself.
func (s *Store) QueueCall(entry CallLogEntry, done func(CallLogEntry, error)) {
	s.calls.queue(s, entry, done, false)
}

// appendCalls writes a batch of queued entries in one transaction and reports each entry's
// outcome to its done function. An entry whose instance no longer exists is skipped with
// ErrNotFound; an error of the transaction itself fails every entry of the batch.
func (s *Store) appendCalls(batch []pendingCall) {
	recs := make([]CallLogEntry, len(batch))
	errs := make([]error, len(batch))
	err := s.db.Update(func(tx *bolt.Tx) error {
		calls := bucket(tx, bCalls)
		var last uint64
		for i, p := range batch {
			rec := p.entry
			errs[i] = nil
			if rec.InstanceID != 0 {
				if err := instanceExists(tx, rec.InstanceID); err != nil {
					errs[i] = err
					continue
				}
			}
			seq, err := calls.NextSequence()
			if err != nil {
				return fmt.Errorf("next id: %w", err)
			}
			rec.ID = seq
			if err := putJSON(calls, utob(seq), &rec); err != nil {
				return err
			}
			idx, err := instanceBucket(tx, bCallsByInstance, rec.InstanceID, true)
			if err != nil {
				return err
			}
			if err := idx.Put(utob(seq), nil); err != nil {
				return err
			}
			recs[i], last = rec, seq
		}
		if last == 0 {
			return nil
		}
		// Trimming once after the batch leaves what trimming after each entry would.
		return trimBelow(calls, last, s.maxCalls, func(k, v []byte) error {
			var old struct {
				InstanceID int64 `json:"instanceId"`
			}
			if err := decodeJSON(v, &old); err != nil {
				return err
			}
			if b, _ := instanceBucket(tx, bCallsByInstance, old.InstanceID, false); b != nil {
				return b.Delete(k)
			}
			return nil
		})
	})
	for i, p := range batch {
		e := errs[i]
		if err != nil {
			e = err
		}
		if e != nil {
			e = fmt.Errorf("append call %s of instance %d: %w", p.entry.Method, p.entry.InstanceID, e)
		}
		if p.done != nil {
			p.done(recs[i], e)
		}
	}
}

// Calls returns up to limit call log entries of an instance, newest first, with IDs below
// beforeID (0: from the newest). instanceID 0 lists the entries of all instances; limit <= 0
// returns all matching entries. Entries queued before the call are included.
func (s *Store) Calls(instanceID int64, limit int, beforeID uint64) ([]CallLogEntry, error) {
	s.calls.flush()
	var out []CallLogEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		calls := bucket(tx, bCalls)
		keys := calls // iterate the log itself, or the per-instance index
		if instanceID != 0 {
			if err := instanceExists(tx, instanceID); err != nil {
				return err
			}
			if keys, _ = instanceBucket(tx, bCallsByInstance, instanceID, false); keys == nil {
				return nil
			}
		}
		c := keys.Cursor()
		var k []byte
		if beforeID == 0 {
			k, _ = c.Last()
		} else if k, _ = c.Seek(utob(beforeID)); k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && (limit <= 0 || len(out) < limit); k, _ = c.Prev() {
			var e CallLogEntry
			found, err := getJSON(calls, k, &e)
			if err != nil {
				return fmt.Errorf("call %d: %w", btoi(k), err)
			}
			if found {
				if e.Status == "" { // logged before calls had a status
					e.Status = CallStatus(!e.OK, e.HadErrors)
				}
				out = append(out, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list calls of instance %d: %w", instanceID, err)
	}
	return out, nil
}
