package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Top-level bucket names. Integer ids are stored as 8-byte big-endian keys so that cursor
// order is numeric order.
const (
	bMeta            = "meta"                  // schemaVersion, keyCheck
	bTypes           = "types"                 // type UUID -> IntegrationType JSON
	bInstances       = "instances"             // id -> Instance JSON; NextSequence assigns ids
	bInstanceSecrets = "instanceSecrets"       // instance id -> sealed JSON map[string]string
	bContexts        = "instanceContexts"      // instance id -> sealed $IntegrationContext JSON
	bWebhookSecrets  = "webhookSecrets"        // instance id -> sealed webhook secret
	bTenants         = "tenants"               // id -> Tenant JSON
	bClients         = "clients"               // instance id (bucket) -> external client id -> Client JSON
	bAgents          = "agents"                // instance id (bucket) -> external agent id -> Agent JSON
	bComputers       = "computers"             // id -> Computer JSON
	bHealth          = "health"                // instance id (bucket) -> seq -> HealthEvent JSON
	bCalls           = "calls"                 // call id -> CallLogEntry JSON (global ring)
	bCallsByInstance = "callsByInstance"       // instance id (bucket) -> call id -> empty
	bModules         = "modules"               // lower-case name -> ModuleScript JSON
	bTokens          = "tokens"                // token id -> stored token JSON
	bEnrollKeys      = "enrollmentKeys"        // key id -> stored EnrollmentKey JSON (hash, never the key)
	bAgentCreds      = "agentCredentials"      // credential hash (hex) -> computer id (8 bytes)
	bApps            = "applications"          // client id -> stored Application JSON (secret hash, never the secret)
	bSigningKeys     = "signingKeys"           // key id -> sealed SigningKey JSON
	bSoftware        = "software"              // id -> Software JSON
	bSessions        = "maintenanceSessions"   // id -> MaintenanceSession JSON
	bUsers           = "users"                 // external (directory object) id -> User JSON
	bComputerDevices = "computersByDevice"     // tenant id (8 bytes) + device id -> computer id (8 bytes)
	bCredsByComputer = "credentialsByComputer" // computer id -> credential hash (hex), the key in bAgentCreds
	bDeployments     = "deployments"           // id -> Deployment JSON
	bSoftwareInv     = "softwareInventory"     // computer id (8 bytes) + software id (8 bytes) -> DetectedSoftware JSON
)

// Keys inside the meta bucket.
const (
	kSchemaVersion = "schemaVersion"
	kKeyCheck      = "keyCheck"
)

// allBuckets lists every top-level bucket of the current schema.
func allBuckets() []string {
	return []string{bMeta, bTypes, bInstances, bInstanceSecrets, bContexts, bWebhookSecrets,
		bTenants, bClients, bAgents, bComputers, bHealth, bCalls, bCallsByInstance, bModules, bTokens,
		bEnrollKeys, bAgentCreds, bApps, bSigningKeys, bSoftware, bSessions, bUsers, bComputerDevices, bCredsByComputer, bDeployments, bSoftwareInv}
}

// sealedBuckets lists the flat buckets whose every value is sealed.
func sealedBuckets() []string {
	return []string{bInstanceSecrets, bContexts, bWebhookSecrets, bSigningKeys}
}

// itob encodes an int64 id as an 8-byte big-endian key.
func itob(v int64) []byte { return utob(uint64(v)) }

// utob encodes a uint64 id as an 8-byte big-endian key.
func utob(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

// btoi decodes an 8-byte big-endian key; other lengths decode as 0.
func btoi(b []byte) int64 {
	if len(b) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

// bucket returns the top-level bucket name, which Open guarantees exists.
func bucket(tx *bolt.Tx, name string) *bolt.Bucket { return tx.Bucket([]byte(name)) }

// getJSON decodes the value under key into v and reports whether it existed.
func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	if b == nil {
		return false, nil
	}
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("decode %T: %w", v, err)
	}
	return true, nil
}

// putJSON encodes v and stores it under key.
func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %T: %w", v, err)
	}
	return b.Put(key, data)
}

// instanceExists reports whether instance id exists, as ErrNotFound when it does not.
func instanceExists(tx *bolt.Tx, id int64) error {
	if bucket(tx, bInstances).Get(itob(id)) == nil {
		return fmt.Errorf("instance %d: %w", id, ErrNotFound)
	}
	return nil
}

// instanceBucket returns the nested per-instance bucket inside parent, creating it when create
// is set; without create it may return nil.
func instanceBucket(tx *bolt.Tx, parent string, id int64, create bool) (*bolt.Bucket, error) {
	p := bucket(tx, parent)
	if !create {
		return p.Bucket(itob(id)), nil
	}
	b, err := p.CreateBucketIfNotExists(itob(id))
	if err != nil {
		return nil, fmt.Errorf("create %s bucket for instance %d: %w", parent, id, err)
	}
	return b, nil
}

// decodeJSON decodes a stored value into v.
func decodeJSON(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %T: %w", v, err)
	}
	return nil
}

// recordByID reads the JSON record under id in the flat bucket name (ErrNotFound when absent);
// what names the record in the error ("get software 3: …").
func recordByID[T any](s *Store, name string, id int64, what string) (T, error) {
	var v T
	err := s.db.View(func(tx *bolt.Tx) error {
		found, err := getJSON(bucket(tx, name), itob(id), &v)
		if err == nil && !found {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		var zero T
		return zero, fmt.Errorf("get %s %d: %w", what, id, err)
	}
	return v, nil
}

// allRecords decodes every JSON record of the flat bucket name in key order (by id for
// 8-byte ids), passing each through keep when it is not nil; what names them in the error.
func allRecords[T any](s *Store, name, what string, keep func(*T)) ([]T, error) {
	out := []T{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, name).ForEach(func(_, raw []byte) error {
			var v T
			if err := decodeJSON(raw, &v); err != nil {
				return err
			}
			if keep != nil {
				keep(&v)
			}
			out = append(out, v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	return out, nil
}
