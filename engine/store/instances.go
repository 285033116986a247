package store

import (
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// CreateInstance stores a new instance and sets inst.ID (from 1 upwards), CreatedAt and
// UpdatedAt. The type must exist (ErrNotFound). An empty Health.Status becomes Pending.
func (s *Store) CreateInstance(inst *Instance) error {
	if strings.TrimSpace(inst.Name) == "" {
		return fmt.Errorf("create instance: name is required")
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if bucket(tx, bTypes).Get([]byte(inst.TypeID)) == nil {
			return fmt.Errorf("type %s: %w", inst.TypeID, ErrNotFound)
		}
		b := bucket(tx, bInstances)
		seq, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("next id: %w", err)
		}
		now := s.now()
		rec := *inst
		rec.ID = int64(seq)
		rec.CreatedAt, rec.UpdatedAt = now, now
		rec.WebhookSecretSet = false
		if rec.Health.Status == "" {
			rec.Health = Health{Status: StatusPending, Since: now}
		}
		if err := putJSON(b, itob(rec.ID), &rec); err != nil {
			return err
		}
		*inst = rec
		return nil
	})
	if err != nil {
		return fmt.Errorf("create instance %q: %w", inst.Name, err)
	}
	return nil
}

// PutInstance replaces an existing instance record (ErrNotFound if there is none). CreatedAt
// and WebhookSecretSet are kept from the stored record, UpdatedAt is set to now, and the
// sealed secrets, context and webhook secret are left untouched. inst is updated to what was
// stored.
func (s *Store) PutInstance(inst *Instance) error {
	var out Instance
	err := s.db.Update(func(tx *bolt.Tx) error {
		if bucket(tx, bTypes).Get([]byte(inst.TypeID)) == nil {
			return fmt.Errorf("type %s: %w", inst.TypeID, ErrNotFound)
		}
		var err error
		out, err = s.updateInstance(tx, inst.ID, func(stored *Instance) error {
			created, hook := stored.CreatedAt, stored.WebhookSecretSet
			*stored = *inst
			stored.CreatedAt, stored.WebhookSecretSet = created, hook
			return nil
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("put instance %d: %w", inst.ID, err)
	}
	*inst = out
	return nil
}

// UpdateInstance applies fn to the stored instance inside one transaction and saves the
// result, so concurrent writers (the health checker and the UI, say) do not overwrite each
// other's fields. Changes fn makes to ID, CreatedAt and WebhookSecretSet are ignored. An
// error from fn aborts the update and is returned wrapped.
func (s *Store) UpdateInstance(id int64, fn func(*Instance) error) (Instance, error) {
	var out Instance
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		out, err = s.updateInstance(tx, id, func(stored *Instance) error {
			created, hook := stored.CreatedAt, stored.WebhookSecretSet
			if err := fn(stored); err != nil {
				return err
			}
			stored.CreatedAt, stored.WebhookSecretSet = created, hook
			return nil
		})
		return err
	})
	if err != nil {
		return Instance{}, fmt.Errorf("update instance %d: %w", id, err)
	}
	return out, nil
}

// updateInstance loads instance id, lets fn modify it, stamps ID and UpdatedAt, stores and
// returns it.
func (s *Store) updateInstance(tx *bolt.Tx, id int64, fn func(*Instance) error) (Instance, error) {
	b := bucket(tx, bInstances)
	var inst Instance
	found, err := getJSON(b, itob(id), &inst)
	if err != nil {
		return Instance{}, err
	}
	if !found {
		return Instance{}, ErrNotFound
	}
	if err := fn(&inst); err != nil {
		return Instance{}, err
	}
	inst.ID = id
	inst.UpdatedAt = s.now()
	if err := putJSON(b, itob(id), &inst); err != nil {
		return Instance{}, err
	}
	return inst, nil
}

// Instance returns the instance with the given id.
func (s *Store) Instance(id int64) (Instance, error) {
	var inst Instance
	err := s.db.View(func(tx *bolt.Tx) error {
		found, err := getJSON(bucket(tx, bInstances), itob(id), &inst)
		if err == nil && !found {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return Instance{}, fmt.Errorf("get instance %d: %w", id, err)
	}
	return inst, nil
}

// Instances returns every instance ordered by id.
func (s *Store) Instances() ([]Instance, error) {
	var out []Instance
	err := s.db.View(func(tx *bolt.Tx) error {
		return forEachInstance(tx, func(inst Instance) error {
			out = append(out, inst)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	return out, nil
}

// forEachInstance calls fn for every instance in id order.
func forEachInstance(tx *bolt.Tx, fn func(Instance) error) error {
	return bucket(tx, bInstances).ForEach(func(k, v []byte) error {
		var inst Instance
		if err := decodeJSON(v, &inst); err != nil {
			return fmt.Errorf("instance %d: %w", btoi(k), err)
		}
		return fn(inst)
	})
}

// DeleteInstance removes an instance together with its secrets, context, webhook secret,
// clients, agents, health history and call log entries.
func (s *Store) DeleteInstance(id int64) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		key := itob(id)
		if bucket(tx, bInstances).Get(key) == nil {
			return ErrNotFound
		}
		for _, name := range []string{bInstances, bInstanceSecrets, bContexts, bWebhookSecrets} {
			if err := bucket(tx, name).Delete(key); err != nil {
				return fmt.Errorf("delete from %s: %w", name, err)
			}
		}
		if byInst := bucket(tx, bCallsByInstance).Bucket(key); byInst != nil {
			calls := bucket(tx, bCalls)
			if err := byInst.ForEach(func(k, _ []byte) error { return calls.Delete(k) }); err != nil {
				return fmt.Errorf("delete calls: %w", err)
			}
		}
		for _, name := range []string{bClients, bAgents, bHealth, bCallsByInstance} {
			if err := deleteNested(bucket(tx, name), key); err != nil {
				return fmt.Errorf("delete %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete instance %d: %w", id, err)
	}
	return nil
}

// deleteNested deletes the nested bucket key of parent if it exists.
func deleteNested(parent *bolt.Bucket, key []byte) error {
	if parent.Bucket(key) == nil {
		return nil
	}
	return parent.DeleteBucket(key)
}
