package store

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Two indexes keep enrollment O(log n) in the number of computers: without them, every
// enrollment decoded every computer to find the device id and walked every credential to
// replace the computer's old one (issue 11: 5,000 enrollments took 104 s, growing with each).
//
//   - bComputerDevices: tenant id + device id → computer id. The lowest computer id wins when
//     several computers of a tenant share a device id (only computers made through the API
//     can), which is the computer the scan used to find.
//   - bCredsByComputer: computer id → the key of its credential in bAgentCreds.

// deviceKey is the bComputerDevices key of a tenant's device id.
func deviceKey(tenantID int64, deviceID string) []byte {
	k := make([]byte, 8, 8+len(deviceID))
	copy(k, itob(tenantID))
	return append(k, deviceID...)
}

// computerByDevice returns the id of tenantID's computer with deviceID (0: none).
func computerByDevice(tx *bolt.Tx, tenantID int64, deviceID string) int64 {
	return btoi(bucket(tx, bComputerDevices).Get(deviceKey(tenantID, deviceID)))
}

// indexComputer records c under its tenant and device id unless another stored computer with
// a lower id already holds that pair. Computers without a device id are not indexed.
func indexComputer(tx *bolt.Tx, c *Computer) error {
	if c.DeviceID == "" {
		return nil
	}
	b := bucket(tx, bComputerDevices)
	k := deviceKey(c.TenantID, c.DeviceID)
	if cur := btoi(b.Get(k)); cur != 0 && cur < c.ID && bucket(tx, bComputers).Get(itob(cur)) != nil {
		return nil
	}
	if err := b.Put(k, itob(c.ID)); err != nil {
		return fmt.Errorf("index computer %d: %w", c.ID, err)
	}
	return nil
}

// unindexComputer drops old's tenant and device id from the index when it points at old; the
// next computer holding that pair, if any, takes its place.
func unindexComputer(tx *bolt.Tx, old *Computer) error {
	if old.DeviceID == "" {
		return nil
	}
	b := bucket(tx, bComputerDevices)
	k := deviceKey(old.TenantID, old.DeviceID)
	if btoi(b.Get(k)) != old.ID {
		return nil
	}
	if err := b.Delete(k); err != nil {
		return fmt.Errorf("unindex computer %d: %w", old.ID, err)
	}
	// Rare (a duplicate pair made through the API): find the next holder by a scan.
	return bucket(tx, bComputers).ForEach(func(id, v []byte) error {
		if bytes.Equal(id, itob(old.ID)) || b.Get(k) != nil {
			return nil
		}
		var o Computer
		if err := decodeJSON(v, &o); err != nil {
			return err
		}
		if o.TenantID == old.TenantID && o.DeviceID == old.DeviceID {
			return b.Put(k, itob(o.ID))
		}
		return nil
	})
}

// reindexComputer keeps the index right when a computer's tenant or device id changed.
func reindexComputer(tx *bolt.Tx, old, cur *Computer) error {
	if old.TenantID == cur.TenantID && old.DeviceID == cur.DeviceID {
		return nil
	}
	if err := unindexComputer(tx, old); err != nil {
		return err
	}
	return indexComputer(tx, cur)
}

// buildComputerIndexes is migration 5: it creates both index buckets and fills them from the
// stored computers and credentials.
func buildComputerIndexes(tx *bolt.Tx) error {
	if err := createBuckets(tx); err != nil {
		return err
	}
	if err := bucket(tx, bComputers).ForEach(func(_, v []byte) error {
		var c Computer
		if err := decodeJSON(v, &c); err != nil {
			return err
		}
		return indexComputer(tx, &c)
	}); err != nil {
		return fmt.Errorf("index computers: %w", err)
	}
	byComputer := bucket(tx, bCredsByComputer)
	return bucket(tx, bAgentCreds).ForEach(func(k, v []byte) error {
		if err := byComputer.Put(append([]byte(nil), v...), append([]byte(nil), k...)); err != nil {
			return fmt.Errorf("index credentials: %w", err)
		}
		return nil
	})
}
