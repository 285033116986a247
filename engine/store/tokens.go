package store

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
)

// TokenPrefix starts every API token, so leaked tokens are easy to recognise and grep for.
const TokenPrefix = "psb_"

// lastUsedGranularity limits how often VerifyToken writes LastUsed for one token.
const lastUsedGranularity = time.Minute

// storedToken is the persisted form of an APIToken; APIToken hides Hash from JSON.
type storedToken struct {
	APIToken
	Hash []byte `json:"hash"`
}

// hashToken returns the SHA-256 of a plaintext token.
func hashToken(plaintext string) []byte {
	h := sha256.Sum256([]byte(plaintext))
	return h[:]
}

// Token roles. Read-only tokens may only read (GET); operators may do everything but manage
// tokens and open the debugging console; admins may do everything.
const (
	RoleAdmin    = "admin"
	RoleOperator = "operator"
	RoleReadOnly = "read-only"
)

// Roles lists the roles, most powerful first.
var Roles = []string{RoleAdmin, RoleOperator, RoleReadOnly}

// ValidRole reports whether role is one of Roles.
func ValidRole(role string) bool { return slices.Contains(Roles, role) }

// ErrInvalidRole is returned for a role outside Roles.
var ErrInvalidRole = errors.New("role must be admin, operator or read-only")

// CreateToken makes a new admin API token named name and returns its plaintext, which is not
// kept and cannot be shown again, with its record.
func (s *Store) CreateToken(name string) (string, APIToken, error) {
	return s.CreateTokenWithRole(name, RoleAdmin)
}

// CreateTokenWithRole is CreateToken for a token of the given role.
func (s *Store) CreateTokenWithRole(name, role string) (string, APIToken, error) {
	if strings.TrimSpace(name) == "" {
		return "", APIToken{}, fmt.Errorf("create token: name is required")
	}
	if !ValidRole(role) {
		return "", APIToken{}, fmt.Errorf("create token %q: %w, not %q", name, ErrInvalidRole, role)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", APIToken{}, fmt.Errorf("create token %q: %w", name, err)
	}
	plaintext := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	t := APIToken{ID: uuid.NewString(), Name: name, Role: role, Hash: hashToken(plaintext), CreatedAt: s.now()}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return putJSON(bucket(tx, bTokens), []byte(t.ID), storedToken{APIToken: t, Hash: t.Hash})
	})
	if err != nil {
		return "", APIToken{}, fmt.Errorf("create token %q: %w", name, err)
	}
	return plaintext, t, nil
}

// VerifyToken reports whether plaintext is a stored API token and returns its record. Every
// stored hash is compared in constant time, so timing does not reveal which token nearly
// matched. LastUsed is updated at most once a minute per token.
func (s *Store) VerifyToken(plaintext string) (APIToken, bool, error) {
	want := hashToken(plaintext)
	var match APIToken
	found := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		return forEachToken(tx, func(t APIToken) error {
			if subtle.ConstantTimeCompare(t.Hash, want) == 1 {
				match = t
				found = 1
			}
			return nil
		})
	})
	if err != nil {
		return APIToken{}, false, fmt.Errorf("verify token: %w", err)
	}
	if found == 0 {
		return APIToken{}, false, nil
	}
	now := s.now()
	if now.Sub(match.LastUsed) >= lastUsedGranularity {
		match.LastUsed = now
		err := s.db.Update(func(tx *bolt.Tx) error {
			b := bucket(tx, bTokens)
			if b.Get([]byte(match.ID)) == nil {
				return nil // deleted meanwhile
			}
			return putJSON(b, []byte(match.ID), storedToken{APIToken: match, Hash: match.Hash})
		})
		if err != nil {
			return APIToken{}, false, fmt.Errorf("verify token: record last use of %s: %w", match.ID, err)
		}
	}
	return match, true, nil
}

// forEachToken calls fn for every stored token, with Hash filled in.
func forEachToken(tx *bolt.Tx, fn func(APIToken) error) error {
	return bucket(tx, bTokens).ForEach(func(k, v []byte) error {
		var st storedToken
		if err := decodeJSON(v, &st); err != nil {
			return fmt.Errorf("token %s: %w", k, err)
		}
		t := st.APIToken
		t.Hash = st.Hash
		return fn(t)
	})
}

// Tokens returns every API token (with Hash) ordered by ID.
func (s *Store) Tokens() ([]APIToken, error) {
	var out []APIToken
	err := s.db.View(func(tx *bolt.Tx) error {
		return forEachToken(tx, func(t APIToken) error {
			out = append(out, t)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// DeleteToken revokes the API token with the given ID.
func (s *Store) DeleteToken(id string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bTokens)
		if b.Get([]byte(id)) == nil {
			return ErrNotFound
		}
		return b.Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("delete token %s: %w", id, err)
	}
	return nil
}
