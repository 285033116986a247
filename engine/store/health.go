package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// AddHealthEvent appends an event to the health history of ev.InstanceID, dropping the oldest
// events beyond Options.MaxHealthEvents for that instance.
func (s *Store) AddHealthEvent(ev HealthEvent) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := instanceExists(tx, ev.InstanceID); err != nil {
			return err
		}
		b, err := instanceBucket(tx, bHealth, ev.InstanceID, true)
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("next sequence: %w", err)
		}
		if ev.At.IsZero() {
			ev.At = s.now()
		}
		if err := putJSON(b, utob(seq), &ev); err != nil {
			return err
		}
		return trimBelow(b, seq, s.maxHealth, nil)
	})
	if err != nil {
		return fmt.Errorf("add health event for instance %d: %w", ev.InstanceID, err)
	}
	return nil
}

// trimBelow deletes the entries of b (keyed by increasing uint64 sequence) that fall outside
// the newest max sequence numbers ending at last. onDelete, if set, runs for each entry first.
// Because sequences only grow, at most max entries remain.
func trimBelow(b *bolt.Bucket, last uint64, max int, onDelete func(k, v []byte) error) error {
	if last <= uint64(max) {
		return nil
	}
	keepFrom := last - uint64(max) + 1
	c := b.Cursor()
	for k, v := c.First(); k != nil && binary.BigEndian.Uint64(k) < keepFrom; k, v = c.First() {
		if onDelete != nil {
			if err := onDelete(k, v); err != nil {
				return err
			}
		}
		if err := c.Delete(); err != nil {
			return fmt.Errorf("trim: %w", err)
		}
	}
	return nil
}

// HealthEvents returns up to limit health events of an instance, newest first; limit <= 0
// returns all of them.
func (s *Store) HealthEvents(instanceID int64, limit int) ([]HealthEvent, error) {
	var out []HealthEvent
	err := s.db.View(func(tx *bolt.Tx) error {
		if err := instanceExists(tx, instanceID); err != nil {
			return err
		}
		b, _ := instanceBucket(tx, bHealth, instanceID, false)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			var ev HealthEvent
			if err := decodeJSON(v, &ev); err != nil {
				return err
			}
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("health events of instance %d: %w", instanceID, err)
	}
	return out, nil
}
