package store

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
)

// User is a person or service principal of an external OIDC issuer (Entra ID, Keycloak) that
// psbridge lets in: a token from that issuer whose object id (Entra's oid claim, else sub)
// equals ExternalID acts with Role. It is ImmyBot's Person with an "AD External ID" made a
// User, the Admin box being Role admin.
type User struct {
	ExternalID string    `json:"externalId"`
	Name       string    `json:"name"`
	Role       string    `json:"role"`
	CreatedAt  time.Time `json:"createdAt"`
}

// NormalizeExternalID trims an external id and writes a GUID in lower case, as Entra issues
// oid claims, so an id pasted from a portal in upper case still matches.
func NormalizeExternalID(id string) string {
	id = strings.TrimSpace(id)
	if u, err := uuid.Parse(id); err == nil && len(id) == 36 {
		return u.String()
	}
	return id
}

// CreateUser adds u (CreatedAt set here). A second user with the same external id is
// ErrConflict; a role outside Roles is ErrInvalidRole.
func (s *Store) CreateUser(u User) (User, error) {
	u.ExternalID = NormalizeExternalID(u.ExternalID)
	u.Name = strings.TrimSpace(u.Name)
	if u.ExternalID == "" {
		return User{}, fmt.Errorf("create user: the external id is required")
	}
	if !ValidRole(u.Role) {
		return User{}, fmt.Errorf("create user %s: %w, not %q", u.ExternalID, ErrInvalidRole, u.Role)
	}
	u.CreatedAt = s.now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bUsers)
		if b.Get([]byte(u.ExternalID)) != nil {
			return fmt.Errorf("a user with the external id %s already exists: %w", u.ExternalID, ErrConflict)
		}
		return putJSON(b, []byte(u.ExternalID), u)
	})
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// User returns the user with the given external id, ErrNotFound when there is none.
func (s *Store) User(externalID string) (User, error) {
	externalID = NormalizeExternalID(externalID)
	var u User
	err := s.db.View(func(tx *bolt.Tx) error {
		found, err := getJSON(bucket(tx, bUsers), []byte(externalID), &u)
		if err == nil && !found {
			err = fmt.Errorf("user %s: %w", externalID, ErrNotFound)
		}
		return err
	})
	return u, err
}

// Users returns every user ordered by external id.
func (s *Store) Users() ([]User, error) {
	out := []User{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, bUsers).ForEach(func(_, v []byte) error {
			var u User
			if err := decodeJSON(v, &u); err != nil {
				return err
			}
			out = append(out, u)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// DeleteUser removes a user: the issuer's tokens for that object id are refused from the next
// request on. ErrNotFound when there is none.
func (s *Store) DeleteUser(externalID string) error {
	externalID = NormalizeExternalID(externalID)
	return s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bUsers)
		if b.Get([]byte(externalID)) == nil {
			return fmt.Errorf("user %s: %w", externalID, ErrNotFound)
		}
		return b.Delete([]byte(externalID))
	})
}
