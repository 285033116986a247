package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// errSecretEncoding replaces JSON errors about secret payloads, whose text could quote
// fragments of the secret.
var errSecretEncoding = errors.New("sealed payload is not valid JSON")

// sealedUpdate runs fn in a write transaction holding the key for reading.
func (s *Store) sealedUpdate(fn func(tx *bolt.Tx) error) error {
	s.keyMu.RLock()
	defer s.keyMu.RUnlock()
	return s.db.Update(fn)
}

// sealedView runs fn in a read transaction holding the key for reading.
func (s *Store) sealedView(fn func(tx *bolt.Tx) error) error {
	s.keyMu.RLock()
	defer s.keyMu.RUnlock()
	return s.db.View(fn)
}

// putSealed seals plaintext into the slot (name, instance id); nil plaintext deletes it.
func (s *Store) putSealed(tx *bolt.Tx, name string, id int64, plaintext []byte) error {
	b, key := bucket(tx, name), itob(id)
	if plaintext == nil {
		return b.Delete(key)
	}
	v, err := s.sealer.seal(name, key, plaintext)
	if err != nil {
		return err
	}
	return b.Put(key, v)
}

// getSealed opens the slot (name, instance id); ok is false when it is empty.
func (s *Store) getSealed(tx *bolt.Tx, name string, id int64) (plaintext []byte, ok bool, err error) {
	v := bucket(tx, name).Get(itob(id))
	if v == nil {
		return nil, false, nil
	}
	pt, err := s.sealer.open(name, itob(id), v)
	if err != nil {
		return nil, true, fmt.Errorf("%s of instance %d: %w", name, id, err)
	}
	return pt, true, nil
}

// readSecrets returns the decoded secrets of instance id (empty map when none).
func (s *Store) readSecrets(tx *bolt.Tx, id int64) (map[string]string, error) {
	out := map[string]string{}
	pt, ok, err := s.getSealed(tx, bInstanceSecrets, id)
	if err != nil || !ok {
		return out, err
	}
	if err := json.Unmarshal(pt, &out); err != nil {
		return nil, errSecretEncoding
	}
	return out, nil
}

// writeSecrets seals secrets for instance id (an empty map deletes them) and records their
// names in the instance's SecretNames.
func (s *Store) writeSecrets(tx *bolt.Tx, id int64, secrets map[string]string) error {
	if err := setSecretNames(tx, id, secrets); err != nil {
		return err
	}
	if len(secrets) == 0 {
		return s.putSealed(tx, bInstanceSecrets, id, nil)
	}
	for name := range secrets {
		if name == "" {
			return errors.New("secret with an empty parameter name")
		}
	}
	pt, err := json.Marshal(secrets)
	if err != nil {
		return errSecretEncoding
	}
	return s.putSealed(tx, bInstanceSecrets, id, pt)
}

// PutInstanceSecrets replaces all secret parameter values of an instance (the values of its
// [Password] parameters). An empty map removes them.
func (s *Store) PutInstanceSecrets(id int64, secrets map[string]string) error {
	err := s.sealedUpdate(func(tx *bolt.Tx) error {
		if err := instanceExists(tx, id); err != nil {
			return err
		}
		return s.writeSecrets(tx, id, secrets)
	})
	if err != nil {
		return fmt.Errorf("put secrets of instance %d: %w", id, err)
	}
	return nil
}

// MergeInstanceSecrets sets the secrets in changed and deletes those named in remove, keeping
// every other stored secret. Use it when a form is saved with only some password fields
// filled in.
func (s *Store) MergeInstanceSecrets(id int64, changed map[string]string, remove []string) error {
	err := s.sealedUpdate(func(tx *bolt.Tx) error {
		if err := instanceExists(tx, id); err != nil {
			return err
		}
		cur, err := s.readSecrets(tx, id)
		if err != nil {
			return err
		}
		for _, name := range remove {
			delete(cur, name)
		}
		for name, v := range changed {
			cur[name] = v
		}
		return s.writeSecrets(tx, id, cur)
	})
	if err != nil {
		return fmt.Errorf("merge secrets of instance %d: %w", id, err)
	}
	return nil
}

// InstanceSecrets returns the secret parameter values of an instance (an empty map when none
// are stored).
func (s *Store) InstanceSecrets(id int64) (map[string]string, error) {
	var out map[string]string
	err := s.sealedView(func(tx *bolt.Tx) error {
		if err := instanceExists(tx, id); err != nil {
			return err
		}
		var err error
		out, err = s.readSecrets(tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get secrets of instance %d: %w", id, err)
	}
	return out, nil
}

// PutContext stores the $IntegrationContext JSON of an instance, sealed. A nil or empty value
// removes it.
func (s *Store) PutContext(id int64, ctx json.RawMessage) error {
	var pt []byte
	if len(ctx) > 0 {
		if !json.Valid(ctx) {
			return fmt.Errorf("put context of instance %d: %w", id, errSecretEncoding)
		}
		pt = ctx
	}
	err := s.sealedUpdate(func(tx *bolt.Tx) error {
		if err := instanceExists(tx, id); err != nil {
			return err
		}
		return s.putSealed(tx, bContexts, id, pt)
	})
	if err != nil {
		return fmt.Errorf("put context of instance %d: %w", id, err)
	}
	return nil
}

// Context returns the stored $IntegrationContext JSON of an instance, or nil when none.
func (s *Store) Context(id int64) (json.RawMessage, error) {
	var out json.RawMessage
	err := s.sealedView(func(tx *bolt.Tx) error {
		if err := instanceExists(tx, id); err != nil {
			return err
		}
		pt, _, err := s.getSealed(tx, bContexts, id)
		out = pt
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get context of instance %d: %w", id, err)
	}
	return out, nil
}

// PutWebhookSecret stores the webhook secret of an instance, sealed, and sets the instance's
// WebhookSecretSet; an empty secret removes it and clears the flag.
func (s *Store) PutWebhookSecret(id int64, secret string) error {
	err := s.sealedUpdate(func(tx *bolt.Tx) error {
		var pt []byte
		if secret != "" {
			pt = []byte(secret)
		}
		if err := s.putSealed(tx, bWebhookSecrets, id, pt); err != nil {
			return err
		}
		_, err := s.updateInstance(tx, id, func(inst *Instance) error {
			inst.WebhookSecretSet = secret != ""
			return nil
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("put webhook secret of instance %d: %w", id, err)
	}
	return nil
}

// WebhookSecret returns the webhook secret of an instance; ok is false when none is set.
func (s *Store) WebhookSecret(id int64) (secret string, ok bool, err error) {
	err = s.sealedView(func(tx *bolt.Tx) error {
		if err := instanceExists(tx, id); err != nil {
			return err
		}
		pt, found, err := s.getSealed(tx, bWebhookSecrets, id)
		secret, ok = string(pt), found
		return err
	})
	if err != nil {
		return "", false, fmt.Errorf("get webhook secret of instance %d: %w", id, err)
	}
	return secret, ok, nil
}

// setSecretNames stores the sorted names of secrets in the instance record, if it exists.
func setSecretNames(tx *bolt.Tx, id int64, secrets map[string]string) error {
	b := bucket(tx, bInstances)
	var inst Instance
	found, err := getJSON(b, itob(id), &inst)
	if err != nil || !found {
		return err
	}
	names := make([]string, 0, len(secrets))
	for name := range secrets {
		names = append(names, name)
	}
	sort.Strings(names)
	if slices.Equal(names, inst.SecretNames) {
		return nil
	}
	inst.SecretNames = names
	if len(names) == 0 {
		inst.SecretNames = nil
	}
	return putJSON(b, itob(id), &inst)
}
