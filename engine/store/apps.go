package store

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
)

// AppSecretPrefix starts every application client secret, so leaked secrets are easy to spot.
const AppSecretPrefix = "psbs_"

// kDirectoryID is the meta key holding this installation's directory (OAuth tenant) id.
const kDirectoryID = "directoryId"

// Application is a machine client of psbridge's OAuth2 authorization server: it gets access
// tokens with the client-credentials grant. Admin apps act with the admin role, others with
// the operator role.
type Application struct {
	ClientID  string    `json:"clientId"`
	Name      string    `json:"name"`
	Admin     bool      `json:"admin"`
	CreatedAt time.Time `json:"createdAt"`
}

type storedApp struct {
	Application
	SecretHash []byte `json:"secretHash"`
}

// DirectoryID returns this installation's directory id (a UUID made on first use), the
// {tenant} of the OAuth paths and the tid of its tokens.
func (s *Store) DirectoryID() (string, error) {
	if id := s.dirID.Load(); id != nil {
		return *id, nil
	}
	var id string
	err := s.db.View(func(tx *bolt.Tx) error {
		id = string(bucket(tx, bMeta).Get([]byte(kDirectoryID)))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("directory id: %w", err)
	}
	if id != "" {
		s.dirID.Store(&id)
		return id, nil
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		m := bucket(tx, bMeta)
		if v := m.Get([]byte(kDirectoryID)); v != nil {
			id = string(v)
			return nil
		}
		id = uuid.NewString()
		return m.Put([]byte(kDirectoryID), []byte(id))
	})
	if err != nil {
		return "", fmt.Errorf("directory id: %w", err)
	}
	s.dirID.Store(&id)
	return id, nil
}

// CreateApplication registers an application and returns its client secret, which is not
// kept (only its SHA-256) and cannot be shown again.
func (s *Store) CreateApplication(name string, admin bool) (string, Application, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", Application{}, fmt.Errorf("create application: name is required")
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", Application{}, fmt.Errorf("create application %q: %w", name, err)
	}
	secret := AppSecretPrefix + base64.RawURLEncoding.EncodeToString(raw)
	h := sha256.Sum256([]byte(secret))
	app := Application{ClientID: uuid.NewString(), Name: name, Admin: admin, CreatedAt: s.now()}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return putJSON(bucket(tx, bApps), []byte(app.ClientID), storedApp{Application: app, SecretHash: h[:]})
	})
	if err != nil {
		return "", Application{}, fmt.Errorf("create application %q: %w", name, err)
	}
	return secret, app, nil
}

// Application returns the application with the given client id.
func (s *Store) Application(clientID string) (Application, error) {
	a, err := s.storedApplication(clientID)
	return a.Application, err
}

func (s *Store) storedApplication(clientID string) (storedApp, error) {
	var a storedApp
	err := s.db.View(func(tx *bolt.Tx) error {
		found, err := getJSON(bucket(tx, bApps), []byte(clientID), &a)
		if err == nil && !found {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return storedApp{}, fmt.Errorf("get application %s: %w", clientID, err)
	}
	return a, nil
}

// VerifyApplicationSecret reports whether secret is the client secret of clientID, comparing
// hashes in constant time. An unknown client id is not an error (ok false).
func (s *Store) VerifyApplicationSecret(clientID, secret string) (Application, bool, error) {
	a, err := s.storedApplication(clientID)
	h := sha256.Sum256([]byte(secret))
	if err != nil {
		subtle.ConstantTimeCompare(h[:], h[:]) // same work whether or not the client exists
		if isNotFound(err) {
			return Application{}, false, nil
		}
		return Application{}, false, err
	}
	if subtle.ConstantTimeCompare(a.SecretHash, h[:]) != 1 {
		return Application{}, false, nil
	}
	return a.Application, true, nil
}

// Applications returns every application ordered by client id.
func (s *Store) Applications() ([]Application, error) {
	out := []Application{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, bApps).ForEach(func(k, v []byte) error {
			var a storedApp
			if err := decodeJSON(v, &a); err != nil {
				return fmt.Errorf("application %s: %w", k, err)
			}
			out = append(out, a.Application)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list applications: %w", err)
	}
	return out, nil
}

// DeleteApplication revokes an application: its secret and every token issued to it stop
// working at once.
func (s *Store) DeleteApplication(clientID string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bApps)
		if b.Get([]byte(clientID)) == nil {
			return ErrNotFound
		}
		return b.Delete([]byte(clientID))
	})
	if err != nil {
		return fmt.Errorf("delete application %s: %w", clientID, err)
	}
	return nil
}

// SigningKey is a private key that signs access tokens. Keys are sealed in the store like
// integration secrets.
type SigningKey struct {
	KID       string    `json:"kid"`
	Alg       string    `json:"alg"`
	PKCS8     []byte    `json:"pkcs8"`
	CreatedAt time.Time `json:"createdAt"`
}

// SigningKeys returns every stored signing key, oldest first.
func (s *Store) SigningKeys() ([]SigningKey, error) {
	var out []SigningKey
	err := s.sealedView(func(tx *bolt.Tx) error {
		return bucket(tx, bSigningKeys).ForEach(func(k, v []byte) error {
			pt, err := s.sealer.open(bSigningKeys, k, v)
			if err != nil {
				return fmt.Errorf("signing key %s: %w", k, err)
			}
			var sk SigningKey
			if err := decodeJSON(pt, &sk); err != nil {
				return fmt.Errorf("signing key %s: %w", k, err)
			}
			out = append(out, sk)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	for i := 1; i < len(out); i++ { // insertion sort by age: a handful of keys
		for j := i; j > 0 && out[j].CreatedAt.Before(out[j-1].CreatedAt); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

// PutSigningKey stores (seals) a signing key; a nil PKCS8 deletes the key KID.
func (s *Store) PutSigningKey(k SigningKey) error {
	err := s.sealedUpdate(func(tx *bolt.Tx) error {
		b := bucket(tx, bSigningKeys)
		if k.PKCS8 == nil {
			return b.Delete([]byte(k.KID))
		}
		pt, err := jsonBytes(k)
		if err != nil {
			return err
		}
		v, err := s.sealer.seal(bSigningKeys, []byte(k.KID), pt)
		if err != nil {
			return err
		}
		return b.Put([]byte(k.KID), v)
	})
	if err != nil {
		return fmt.Errorf("put signing key %s: %w", k.KID, err)
	}
	return nil
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

func jsonBytes(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return b, nil
}
