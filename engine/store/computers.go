package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// CreateComputer stores a new computer and sets its ID and CreatedAt. A non-zero TenantID
// must name an existing tenant (ErrNotFound).
func (s *Store) CreateComputer(c *Computer) error {
	rec := *c
	err := s.db.Update(func(tx *bolt.Tx) error {
		if rec.TenantID != 0 && bucket(tx, bTenants).Get(itob(rec.TenantID)) == nil {
			return fmt.Errorf("tenant %d: %w", rec.TenantID, ErrNotFound)
		}
		b := bucket(tx, bComputers)
		seq, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("next id: %w", err)
		}
		rec.ID = int64(seq)
		rec.CreatedAt = s.now()
		if err := indexComputer(tx, &rec); err != nil {
			return err
		}
		return putJSON(b, itob(rec.ID), &rec)
	})
	if err != nil {
		return fmt.Errorf("create computer %q: %w", c.Name, err)
	}
	*c = rec
	return nil
}

// Computer returns the computer with the given id.
func (s *Store) Computer(id int64) (Computer, error) {
	var c Computer
	err := s.db.View(func(tx *bolt.Tx) error {
		found, err := getJSON(bucket(tx, bComputers), itob(id), &c)
		if err == nil && !found {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return Computer{}, fmt.Errorf("get computer %d: %w", id, err)
	}
	return c, nil
}

// Computers returns every computer ordered by id.
func (s *Store) Computers() ([]Computer, error) {
	var out []Computer
	err := s.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, bComputers).ForEach(func(_, v []byte) error {
			var c Computer
			if err := decodeJSON(v, &c); err != nil {
				return err
			}
			out = append(out, c)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list computers: %w", err)
	}
	return out, nil
}
