package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// migration is one step of the schema history: apply turns a database at version to-1 into
// one at version to. Steps run inside the single transaction that Open uses to migrate, so a
// failed migration leaves the file untouched.
type migration struct {
	to    uint64
	name  string
	apply func(tx *bolt.Tx) error
}

// migrations is the schema history, oldest first. Append new steps; never edit old ones.
func migrations() []migration {
	return []migration{
		{to: 1, name: "create buckets", apply: createBuckets},
		{to: 2, name: "token roles", apply: tokenRoles},
		{to: 3, name: "enrollment keys and agent credentials", apply: createBuckets},
		{to: 4, name: "applications, signing keys, software and maintenance sessions", apply: createBuckets},
		{to: 5, name: "users of an external OIDC issuer", apply: createBuckets},
		{to: 6, name: "index computers by tenant and device id, credentials by computer", apply: buildComputerIndexes},
		{to: 7, name: "deployments", apply: createBuckets},
		{to: 8, name: "cached software inventory (detected versions per computer)", apply: createBuckets},
	}
}

// tokenRoles gives every API token made before roles existed the admin role: those tokens
// could do everything.
func tokenRoles(tx *bolt.Tx) error {
	b := tx.Bucket([]byte(bTokens))
	if b == nil {
		return nil
	}
	type update struct{ k, v []byte }
	var ups []update
	err := b.ForEach(func(k, v []byte) error {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("token %s: %w", k, err)
		}
		if r, ok := m["role"]; ok && string(r) != `""` && string(r) != "null" {
			return nil
		}
		m["role"] = json.RawMessage(`"` + RoleAdmin + `"`)
		nv, err := json.Marshal(m)
		if err != nil {
			return err
		}
		ups = append(ups, update{append([]byte(nil), k...), nv})
		return nil
	})
	if err != nil {
		return err
	}
	for _, u := range ups {
		if err := b.Put(u.k, u.v); err != nil {
			return err
		}
	}
	return nil
}

// createBuckets creates every top-level bucket of schema version 1, keeping existing data.
func createBuckets(tx *bolt.Tx) error {
	for _, name := range allBuckets() {
		if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// checkSteps validates a migration table and returns the version it migrates to.
func checkSteps(steps []migration) (uint64, error) {
	for i, st := range steps {
		if st.to != uint64(i+1) || st.apply == nil {
			return 0, fmt.Errorf("migration table broken at step %d (%q)", i, st.name)
		}
	}
	return uint64(len(steps)), nil
}

// readSchemaVersion returns the stored schema version; a file without one is version 0.
func readSchemaVersion(tx *bolt.Tx) (uint64, error) {
	m := tx.Bucket([]byte(bMeta))
	if m == nil {
		return 0, nil
	}
	v := m.Get([]byte(kSchemaVersion))
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("meta/%s is %d bytes, want 8", kSchemaVersion, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// migrate runs every step above the stored version and records the new version.
func migrate(tx *bolt.Tx, steps []migration) error {
	version, err := readSchemaVersion(tx)
	if err != nil {
		return err
	}
	target := uint64(len(steps))
	if version > target {
		return fmt.Errorf("schema version %d, this build supports up to %d; upgrade psbridge: %w", version, target, ErrSchemaTooNew)
	}
	for _, st := range steps[version:] {
		if err := st.apply(tx); err != nil {
			return fmt.Errorf("migrate to schema %d (%s): %w", st.to, st.name, err)
		}
	}
	meta, err := tx.CreateBucketIfNotExists([]byte(bMeta))
	if err != nil {
		return fmt.Errorf("create meta bucket: %w", err)
	}
	if err := meta.Put([]byte(kSchemaVersion), utob(target)); err != nil {
		return fmt.Errorf("put schema version: %w", err)
	}
	return nil
}
