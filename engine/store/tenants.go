package store

import (
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// CreateTenant stores a new tenant and sets its ID and CreatedAt. An empty Slug is derived
// from Name. Name (regardless of case) and Slug must be unique (ErrConflict).
func (s *Store) CreateTenant(t *Tenant) error {
	if strings.TrimSpace(t.Name) == "" {
		return fmt.Errorf("create tenant: name is required")
	}
	rec := *t
	if rec.Slug == "" {
		rec.Slug = slugify(rec.Name)
	}
	if rec.Slug == "" {
		return fmt.Errorf("create tenant %q: cannot derive a slug; pass one", t.Name)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bTenants)
		if err := b.ForEach(func(_, v []byte) error {
			var other Tenant
			if err := decodeJSON(v, &other); err != nil {
				return err
			}
			switch {
			case strings.EqualFold(other.Name, rec.Name):
				return fmt.Errorf("name used by tenant %d: %w", other.ID, ErrConflict)
			case other.Slug == rec.Slug:
				return fmt.Errorf("slug %q used by tenant %d: %w", rec.Slug, other.ID, ErrConflict)
			}
			return nil
		}); err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("next id: %w", err)
		}
		rec.ID = int64(seq)
		rec.CreatedAt = s.now()
		return putJSON(b, itob(rec.ID), &rec)
	})
	if err != nil {
		return fmt.Errorf("create tenant %q: %w", t.Name, err)
	}
	*t = rec
	return nil
}

// slugify lower-cases name and turns every run of other characters than letters and digits
// into one hyphen.
func slugify(name string) string {
	var sb strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			sb.WriteRune(r)
			dash = false
		} else if !dash && sb.Len() > 0 {
			sb.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(sb.String(), "-")
}

// Tenant returns the tenant with the given id.
func (s *Store) Tenant(id int64) (Tenant, error) {
	var t Tenant
	err := s.db.View(func(tx *bolt.Tx) error {
		found, err := getJSON(bucket(tx, bTenants), itob(id), &t)
		if err == nil && !found {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return Tenant{}, fmt.Errorf("get tenant %d: %w", id, err)
	}
	return t, nil
}

// Tenants returns every tenant ordered by id.
func (s *Store) Tenants() ([]Tenant, error) {
	var out []Tenant
	err := s.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, bTenants).ForEach(func(_, v []byte) error {
			var t Tenant
			if err := decodeJSON(v, &t); err != nil {
				return err
			}
			out = append(out, t)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return out, nil
}

// DeleteTenant removes a tenant, unlinks every client linked to it and deletes the deployments
// that target it (in the same transaction: a deployment of a deleted tenant would never match
// again). It fails with ErrConflict while computers belong to the tenant, so no computer goes
// with it and deployments aimed at single computers stay.
func (s *Store) DeleteTenant(id int64) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		if bucket(tx, bTenants).Get(itob(id)) == nil {
			return ErrNotFound
		}
		if err := bucket(tx, bComputers).ForEach(func(_, v []byte) error {
			var c Computer
			if err := decodeJSON(v, &c); err != nil {
				return err
			}
			if c.TenantID == id {
				return fmt.Errorf("computer %d belongs to it: %w", c.ID, ErrConflict)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := unlinkTenantClients(tx, id, s.now()); err != nil {
			return err
		}
		if err := deleteTenantDeployments(tx, id); err != nil {
			return err
		}
		return bucket(tx, bTenants).Delete(itob(id))
	})
	if err != nil {
		return fmt.Errorf("delete tenant %d: %w", id, err)
	}
	return nil
}
