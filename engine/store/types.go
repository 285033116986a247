package store

import (
	"fmt"
	"strings"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
)

// PutType creates or replaces an integration type. An empty ID gets a new UUID; CreatedAt is
// kept from the stored version and UpdatedAt set to now. Names are unique regardless of case
// (ErrConflict).
func (s *Store) PutType(t *IntegrationType) error {
	if strings.TrimSpace(t.Name) == "" {
		return fmt.Errorf("put type: name is required")
	}
	rec := *t
	if rec.ID == "" {
		rec.ID = uuid.NewString()
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bTypes)
		var old IntegrationType
		found, err := getJSON(b, []byte(rec.ID), &old)
		if err != nil {
			return err
		}
		if err := b.ForEach(func(k, v []byte) error {
			var other IntegrationType
			if err := decodeJSON(v, &other); err != nil {
				return err
			}
			if other.ID != rec.ID && strings.EqualFold(other.Name, rec.Name) {
				return fmt.Errorf("name %q is used by type %s: %w", rec.Name, other.ID, ErrConflict)
			}
			return nil
		}); err != nil {
			return err
		}
		now := s.now()
		rec.CreatedAt = now
		if found {
			rec.CreatedAt = old.CreatedAt
		}
		rec.UpdatedAt = now
		return putJSON(b, []byte(rec.ID), &rec)
	})
	if err != nil {
		return fmt.Errorf("put type %s (%q): %w", rec.ID, rec.Name, err)
	}
	*t = rec
	return nil
}

// Type returns the integration type with the given ID.
func (s *Store) Type(id string) (IntegrationType, error) {
	var t IntegrationType
	err := s.db.View(func(tx *bolt.Tx) error {
		found, err := getJSON(bucket(tx, bTypes), []byte(id), &t)
		if err == nil && !found {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return IntegrationType{}, fmt.Errorf("get type %s: %w", id, err)
	}
	return t, nil
}

// Types returns every integration type, ordered by ID.
func (s *Store) Types() ([]IntegrationType, error) {
	var out []IntegrationType
	err := s.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, bTypes).ForEach(func(k, v []byte) error {
			var t IntegrationType
			if err := decodeJSON(v, &t); err != nil {
				return err
			}
			out = append(out, t)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list types: %w", err)
	}
	return out, nil
}

// DeleteType removes an integration type. It fails with ErrConflict while an instance uses it.
func (s *Store) DeleteType(id string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bTypes)
		if b.Get([]byte(id)) == nil {
			return ErrNotFound
		}
		if err := forEachInstance(tx, func(inst Instance) error {
			if inst.TypeID == id {
				return fmt.Errorf("used by instance %d: %w", inst.ID, ErrConflict)
			}
			return nil
		}); err != nil {
			return err
		}
		return b.Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("delete type %s: %w", id, err)
	}
	return nil
}
