package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ReplaceClients makes clients the complete client list of an instance, as returned by a
// client sync. Clients that no longer appear are dropped; clients that still exist keep their
// tenant link unless the new value carries a non-zero LinkedTenantID.
func (s *Store) ReplaceClients(instanceID int64, clients []Client) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := instanceExists(tx, instanceID); err != nil {
			return err
		}
		links := map[string]int64{}
		if old, _ := instanceBucket(tx, bClients, instanceID, false); old != nil {
			if err := old.ForEach(func(k, v []byte) error {
				var c Client
				if err := decodeJSON(v, &c); err != nil {
					return err
				}
				links[string(k)] = c.LinkedTenantID
				return nil
			}); err != nil {
				return err
			}
			if err := bucket(tx, bClients).DeleteBucket(itob(instanceID)); err != nil {
				return err
			}
		}
		b, err := instanceBucket(tx, bClients, instanceID, true)
		if err != nil {
			return err
		}
		now := s.now()
		for _, c := range clients {
			if c.ExternalClientID == "" {
				return fmt.Errorf("client %q has an empty external id", c.ExternalClientName)
			}
			c.InstanceID = instanceID
			if c.LinkedTenantID == 0 {
				c.LinkedTenantID = links[c.ExternalClientID]
			}
			c.UpdatedAt = now
			if err := putJSON(b, []byte(c.ExternalClientID), &c); err != nil {
				return fmt.Errorf("client %s: %w", c.ExternalClientID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replace clients of instance %d: %w", instanceID, err)
	}
	return nil
}

// Clients returns the clients of an instance ordered by external id.
func (s *Store) Clients(instanceID int64) ([]Client, error) {
	var out []Client
	err := s.db.View(func(tx *bolt.Tx) error {
		if err := instanceExists(tx, instanceID); err != nil {
			return err
		}
		return forEachClient(tx, instanceID, func(c Client) error {
			out = append(out, c)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list clients of instance %d: %w", instanceID, err)
	}
	return out, nil
}

// forEachClient calls fn for every client of an instance.
func forEachClient(tx *bolt.Tx, instanceID int64, fn func(Client) error) error {
	b, _ := instanceBucket(tx, bClients, instanceID, false)
	if b == nil {
		return nil
	}
	return b.ForEach(func(_, v []byte) error {
		var c Client
		if err := decodeJSON(v, &c); err != nil {
			return err
		}
		return fn(c)
	})
}

// LinkClient maps a client of an instance to a tenant; tenantID 0 removes the mapping. A
// tenant maps to at most one client per instance (ErrConflict); unknown instance, client or
// tenant is ErrNotFound.
func (s *Store) LinkClient(instanceID int64, externalClientID string, tenantID int64) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := instanceExists(tx, instanceID); err != nil {
			return err
		}
		if tenantID != 0 && bucket(tx, bTenants).Get(itob(tenantID)) == nil {
			return fmt.Errorf("tenant %d: %w", tenantID, ErrNotFound)
		}
		b, _ := instanceBucket(tx, bClients, instanceID, false)
		var c Client
		found, err := getJSON(b, []byte(externalClientID), &c)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("client: %w", ErrNotFound)
		}
		if tenantID != 0 {
			if err := forEachClient(tx, instanceID, func(o Client) error {
				if o.LinkedTenantID == tenantID && o.ExternalClientID != externalClientID {
					return fmt.Errorf("tenant %d is already linked to client %q: %w", tenantID, o.ExternalClientID, ErrConflict)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		c.LinkedTenantID = tenantID
		c.UpdatedAt = s.now()
		return putJSON(b, []byte(externalClientID), &c)
	})
	if err != nil {
		return fmt.Errorf("link client %q of instance %d to tenant %d: %w", externalClientID, instanceID, tenantID, err)
	}
	return nil
}

// ClientForTenant returns the client of an instance linked to a tenant; ok is false when none
// is.
func (s *Store) ClientForTenant(instanceID, tenantID int64) (c Client, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		if err := instanceExists(tx, instanceID); err != nil {
			return err
		}
		return forEachClient(tx, instanceID, func(o Client) error {
			if !ok && tenantID != 0 && o.LinkedTenantID == tenantID {
				c, ok = o, true
			}
			return nil
		})
	})
	if err != nil {
		return Client{}, false, fmt.Errorf("client for tenant %d of instance %d: %w", tenantID, instanceID, err)
	}
	return c, ok, nil
}

// unlinkTenantClients clears every client link to tenantID across all instances.
func unlinkTenantClients(tx *bolt.Tx, tenantID int64, now time.Time) error {
	return bucket(tx, bClients).ForEachBucket(func(inst []byte) error {
		b := bucket(tx, bClients).Bucket(inst)
		var changed []Client
		if err := b.ForEach(func(_, v []byte) error {
			var c Client
			if err := decodeJSON(v, &c); err != nil {
				return err
			}
			if c.LinkedTenantID == tenantID {
				c.LinkedTenantID, c.UpdatedAt = 0, now
				changed = append(changed, c)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, c := range changed {
			if err := putJSON(b, []byte(c.ExternalClientID), &c); err != nil {
				return err
			}
		}
		return nil
	})
}
