package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// AppendCall adds an entry to the call log and sets entry.ID (increasing). The log is a ring:
// entries older than the newest Options.MaxCallLog are dropped. InstanceID must name an
// existing instance, or be 0 for calls made outside any instance (a type's test run).
func (s *Store) AppendCall(entry *CallLogEntry) error {
	rec := *entry
	if rec.Status == "" {
		rec.Status = CallStatus(!rec.OK, rec.HadErrors)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if rec.InstanceID != 0 {
			if err := instanceExists(tx, rec.InstanceID); err != nil {
				return err
			}
		}
		calls := bucket(tx, bCalls)
		seq, err := calls.NextSequence()
		if err != nil {
			return fmt.Errorf("next id: %w", err)
		}
		rec.ID = seq
		if rec.At.IsZero() {
			rec.At = s.now()
		}
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
		return trimBelow(calls, seq, s.maxCalls, func(k, v []byte) error {
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
	if err != nil {
		return fmt.Errorf("append call %s of instance %d: %w", entry.Method, entry.InstanceID, err)
	}
	*entry = rec
	return nil
}

// Calls returns up to limit call log entries of an instance, newest first, with IDs below
// beforeID (0: from the newest). instanceID 0 lists the entries of all instances; limit <= 0
// returns all matching entries.
func (s *Store) Calls(instanceID int64, limit int, beforeID uint64) ([]CallLogEntry, error) {
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
