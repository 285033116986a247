package store

import (
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// moduleKey is the case-insensitive key of a module name.
func moduleKey(name string) []byte { return []byte(strings.ToLower(name)) }

// CreateModule stores a new module script; a module with the same name in any case exists
// already → ErrConflict.
func (s *Store) CreateModule(m ModuleScript) error {
	return s.putModule(m, false)
}

// PutModule creates a module script or replaces the one with the same name in any case; the
// stored name takes m.Name's spelling.
func (s *Store) PutModule(m ModuleScript) error {
	return s.putModule(m, true)
}

// putModule stores m, replacing an existing module only when replace is set.
func (s *Store) putModule(m ModuleScript, replace bool) error {
	if strings.TrimSpace(m.Name) == "" {
		return fmt.Errorf("put module: name is required")
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bModules)
		if !replace && b.Get(moduleKey(m.Name)) != nil {
			return ErrConflict
		}
		m.UpdatedAt = s.now()
		return putJSON(b, moduleKey(m.Name), &m)
	})
	if err != nil {
		return fmt.Errorf("put module %q: %w", m.Name, err)
	}
	return nil
}

// Module returns the module script with the given name, compared case-insensitively.
func (s *Store) Module(name string) (ModuleScript, error) {
	var m ModuleScript
	err := s.db.View(func(tx *bolt.Tx) error {
		found, err := getJSON(bucket(tx, bModules), moduleKey(name), &m)
		if err == nil && !found {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return ModuleScript{}, fmt.Errorf("get module %q: %w", name, err)
	}
	return m, nil
}

// Modules returns every module script ordered by lower-case name.
func (s *Store) Modules() ([]ModuleScript, error) {
	var out []ModuleScript
	err := s.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, bModules).ForEach(func(_, v []byte) error {
			var m ModuleScript
			if err := decodeJSON(v, &m); err != nil {
				return err
			}
			out = append(out, m)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list modules: %w", err)
	}
	return out, nil
}

// DeleteModule removes the module script with the given name (any case).
func (s *Store) DeleteModule(name string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bModules)
		if b.Get(moduleKey(name)) == nil {
			return ErrNotFound
		}
		return b.Delete(moduleKey(name))
	})
	if err != nil {
		return fmt.Errorf("delete module %q: %w", name, err)
	}
	return nil
}
