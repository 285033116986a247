package store

import (
	"encoding/json"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// ReserveInstanceID takes the next instance id without storing an instance, so a caller can
// prepare everything an instance needs (run its Init, say) before CommitInstance writes it all
// at once. An id reserved and never committed is simply skipped.
func (s *Store) ReserveInstanceID() (int64, error) {
	var id int64
	err := s.db.Update(func(tx *bolt.Tx) error {
		seq, err := bucket(tx, bInstances).NextSequence()
		id = int64(seq)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("reserve instance id: %w", err)
	}
	return id, nil
}

// CommitInstance writes an instance record, its secret parameter values and its
// $IntegrationContext in one transaction: either all of it is stored or none. inst.ID must be
// an existing instance (which is replaced, keeping CreatedAt and WebhookSecretSet) or an id
// from ReserveInstanceID (which creates it). secrets replaces every stored secret (empty
// removes them); ctx replaces the stored context (nil removes it). inst is updated to what was
// stored.
func (s *Store) CommitInstance(inst *Instance, secrets map[string]string, ctx json.RawMessage) error {
	if strings.TrimSpace(inst.Name) == "" {
		return fmt.Errorf("commit instance: name is required")
	}
	if inst.ID <= 0 {
		return fmt.Errorf("commit instance %q: no id (use ReserveInstanceID)", inst.Name)
	}
	if len(ctx) > 0 && !json.Valid(ctx) {
		return fmt.Errorf("commit instance %d: context: %w", inst.ID, errSecretEncoding)
	}
	rec := *inst
	err := s.sealedUpdate(func(tx *bolt.Tx) error {
		if bucket(tx, bTypes).Get([]byte(rec.TypeID)) == nil {
			return fmt.Errorf("type %s: %w", rec.TypeID, ErrNotFound)
		}
		b := bucket(tx, bInstances)
		var old Instance
		found, err := getJSON(b, itob(rec.ID), &old)
		if err != nil {
			return err
		}
		now := s.now()
		if found {
			rec.CreatedAt, rec.WebhookSecretSet = old.CreatedAt, old.WebhookSecretSet
		} else {
			if uint64(rec.ID) > b.Sequence() {
				return fmt.Errorf("id %d was not reserved", rec.ID)
			}
			rec.CreatedAt, rec.WebhookSecretSet = now, false
			if rec.Health.Status == "" {
				rec.Health = Health{Status: StatusPending, Since: now}
			}
		}
		rec.UpdatedAt = now
		if err := putJSON(b, itob(rec.ID), &rec); err != nil {
			return err
		}
		if err := s.writeSecrets(tx, rec.ID, secrets); err != nil {
			return err
		}
		var pt []byte
		if len(ctx) > 0 {
			pt = ctx
		}
		return s.putSealed(tx, bContexts, rec.ID, pt)
	})
	if err != nil {
		return fmt.Errorf("commit instance %d (%q): %w", inst.ID, inst.Name, err)
	}
	*inst = rec
	return nil
}

// UpdateTenant renames a tenant (and changes its slug; empty keeps the stored one). Name and
// slug stay unique (ErrConflict); an unknown id is ErrNotFound. t is updated to what was
// stored.
func (s *Store) UpdateTenant(t *Tenant) error {
	if strings.TrimSpace(t.Name) == "" {
		return fmt.Errorf("update tenant %d: name is required", t.ID)
	}
	var out Tenant
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bTenants)
		found, err := getJSON(b, itob(t.ID), &out)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		out.Name = t.Name
		if t.Slug != "" {
			out.Slug = t.Slug
		}
		if err := b.ForEach(func(_, v []byte) error {
			var other Tenant
			if err := decodeJSON(v, &other); err != nil {
				return err
			}
			switch {
			case other.ID == out.ID:
			case strings.EqualFold(other.Name, out.Name):
				return fmt.Errorf("name used by tenant %d: %w", other.ID, ErrConflict)
			case other.Slug == out.Slug:
				return fmt.Errorf("slug %q used by tenant %d: %w", out.Slug, other.ID, ErrConflict)
			}
			return nil
		}); err != nil {
			return err
		}
		return putJSON(b, itob(out.ID), &out)
	})
	if err != nil {
		return fmt.Errorf("update tenant %d: %w", t.ID, err)
	}
	*t = out
	return nil
}

// InstancesAfter returns up to limit instances with ids above after, in id order, and whether
// more follow; limit <= 0 returns all of them. Only the returned records are decoded.
func (s *Store) InstancesAfter(after int64, limit int) ([]Instance, bool, error) {
	var out []Instance
	more := false
	err := s.db.View(func(tx *bolt.Tx) error {
		c := bucket(tx, bInstances).Cursor()
		for k, v := c.Seek(itob(after + 1)); k != nil; k, v = c.Next() {
			if limit > 0 && len(out) == limit {
				more = true
				return nil
			}
			var inst Instance
			if err := decodeJSON(v, &inst); err != nil {
				return fmt.Errorf("instance %d: %w", btoi(k), err)
			}
			out = append(out, inst)
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("list instances after %d: %w", after, err)
	}
	return out, more, nil
}
