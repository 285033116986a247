package store

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
)

// Prefixes of the secrets agents use, so a leaked one is easy to recognise.
const (
	EnrollKeyPrefix  = "psbe_" // enrollment keys
	CredentialPrefix = "psba_" // an enrolled agent's credential
)

// ErrInvalidKey means an enrollment key is unknown, revoked or expired.
var ErrInvalidKey = errors.New("the enrollment key is not valid (unknown, revoked or expired)")

// storedEnrollKey is the persisted form of an EnrollmentKey.
type storedEnrollKey struct {
	EnrollmentKey
	Hash []byte `json:"hash"`
}

func randomSecret(prefix string) (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(raw), nil
}

// CreateEnrollmentKey makes a key that enrolls computers into tenant tenantID until expiresAt
// (zero: never). It returns the key, which is not kept, with its record.
func (s *Store) CreateEnrollmentKey(tenantID int64, expiresAt time.Time) (string, EnrollmentKey, error) {
	plaintext, err := randomSecret(EnrollKeyPrefix)
	if err != nil {
		return "", EnrollmentKey{}, fmt.Errorf("create enrollment key: %w", err)
	}
	k := EnrollmentKey{ID: uuid.NewString(), TenantID: tenantID, CreatedAt: s.now(), ExpiresAt: expiresAt.UTC()}
	if expiresAt.IsZero() {
		k.ExpiresAt = time.Time{}
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if bucket(tx, bTenants).Get(itob(tenantID)) == nil {
			return fmt.Errorf("tenant %d: %w", tenantID, ErrNotFound)
		}
		return putJSON(bucket(tx, bEnrollKeys), []byte(k.ID), storedEnrollKey{EnrollmentKey: k, Hash: hashToken(plaintext)})
	})
	if err != nil {
		return "", EnrollmentKey{}, fmt.Errorf("create enrollment key: %w", err)
	}
	return plaintext, k, nil
}

// EnrollmentKeys lists the keys of a tenant (0: of every tenant), oldest first.
func (s *Store) EnrollmentKeys(tenantID int64) ([]EnrollmentKey, error) {
	var out []EnrollmentKey
	err := s.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, bEnrollKeys).ForEach(func(_, v []byte) error {
			var k storedEnrollKey
			if err := decodeJSON(v, &k); err != nil {
				return err
			}
			if tenantID == 0 || k.TenantID == tenantID {
				out = append(out, k.EnrollmentKey)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list enrollment keys: %w", err)
	}
	sortKeys(out)
	return out, nil
}

func sortKeys(ks []EnrollmentKey) {
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j].CreatedAt.Before(ks[j-1].CreatedAt); j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
}

// RevokeEnrollmentKey stops a key from enrolling more computers (computers it enrolled stay).
func (s *Store) RevokeEnrollmentKey(id string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bEnrollKeys)
		var k storedEnrollKey
		found, err := getJSON(b, []byte(id), &k)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		if k.RevokedAt.IsZero() {
			k.RevokedAt = s.now()
		}
		return putJSON(b, []byte(id), k)
	})
	if err != nil {
		return fmt.Errorf("revoke enrollment key %s: %w", id, err)
	}
	return nil
}

// Enroll checks an enrollment key and stores the computer inv describes in the key's tenant:
// a computer of that tenant with the same device id is the same computer (its record is
// updated, its old credential revoked), otherwise a new one is made. It returns the computer
// and a new credential for its agent, which is not kept (only its hash).
func (s *Store) Enroll(key string, inv Inventory) (Computer, string, error) {
	if strings.TrimSpace(inv.DeviceID) == "" {
		return Computer{}, "", fmt.Errorf("enroll: the inventory has no device id")
	}
	cred, err := randomSecret(CredentialPrefix)
	if err != nil {
		return Computer{}, "", fmt.Errorf("enroll: %w", err)
	}
	var c Computer
	err = s.db.Update(func(tx *bolt.Tx) error {
		kb := bucket(tx, bEnrollKeys)
		want := hashToken(key)
		var match *storedEnrollKey
		if err := kb.ForEach(func(_, v []byte) error {
			var k storedEnrollKey
			if err := decodeJSON(v, &k); err != nil {
				return err
			}
			if subtle.ConstantTimeCompare(k.Hash, want) == 1 {
				match = &k
			}
			return nil
		}); err != nil {
			return err
		}
		now := s.now()
		if match == nil || !match.RevokedAt.IsZero() || (!match.ExpiresAt.IsZero() && !now.Before(match.ExpiresAt)) {
			return ErrInvalidKey
		}
		if bucket(tx, bTenants).Get(itob(match.TenantID)) == nil {
			return ErrInvalidKey
		}
		match.Uses++
		match.LastUsed = now
		if err := putJSON(kb, []byte(match.ID), match); err != nil {
			return err
		}
		cb := bucket(tx, bComputers)
		found := false
		if id := computerByDevice(tx, match.TenantID, inv.DeviceID); id != 0 {
			var err error
			if found, err = getJSON(cb, itob(id), &c); err != nil {
				return err
			}
		}
		if !found {
			seq, err := cb.NextSequence()
			if err != nil {
				return err
			}
			c = Computer{ID: int64(seq), TenantID: match.TenantID, DeviceID: inv.DeviceID, CreatedAt: now}
		}
		inv := inv
		c.Name = inv.ComputerName
		if c.Name == "" {
			c.Name = "computer-" + strconv.FormatInt(c.ID, 10)
		}
		c.Inventory = &inv
		c.EnrolledAt = now
		if err := putJSON(cb, itob(c.ID), &c); err != nil {
			return err
		}
		if !found {
			if err := indexComputer(tx, &c); err != nil {
				return err
			}
		}
		return replaceCredential(tx, c.ID, hashToken(cred))
	})
	if err != nil {
		return Computer{}, "", fmt.Errorf("enroll: %w", err)
	}
	return c, cred, nil
}

// replaceCredential drops computer id's credential (found through bCredsByComputer) and stores
// hash as its only one.
func replaceCredential(tx *bolt.Tx, id int64, hash []byte) error {
	creds, byComputer := bucket(tx, bAgentCreds), bucket(tx, bCredsByComputer)
	if old := byComputer.Get(itob(id)); old != nil {
		if err := creds.Delete(append([]byte(nil), old...)); err != nil {
			return err
		}
	}
	k := []byte(hex.EncodeToString(hash))
	if err := creds.Put(k, itob(id)); err != nil {
		return err
	}
	return byComputer.Put(itob(id), k)
}

// ComputerForCredential returns the computer whose agent holds credential cred; ok is false
// for an unknown (or replaced) credential.
func (s *Store) ComputerForCredential(cred string) (c Computer, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v := bucket(tx, bAgentCreds).Get([]byte(hex.EncodeToString(hashToken(cred))))
		if v == nil {
			return nil
		}
		found, err := getJSON(bucket(tx, bComputers), v, &c)
		ok = found
		return err
	})
	if err != nil {
		return Computer{}, false, fmt.Errorf("check agent credential: %w", err)
	}
	return c, ok, nil
}

// UpdateComputer applies fn to a stored computer and saves it (ErrNotFound when missing).
func (s *Store) UpdateComputer(id int64, fn func(c *Computer) error) (Computer, error) {
	var c Computer
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bComputers)
		found, err := getJSON(b, itob(id), &c)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		old := c
		if err := fn(&c); err != nil {
			return err
		}
		c.ID = id
		if err := reindexComputer(tx, &old, &c); err != nil {
			return err
		}
		return putJSON(b, itob(id), &c)
	})
	if err != nil {
		return Computer{}, fmt.Errorf("update computer %d: %w", id, err)
	}
	return c, nil
}
