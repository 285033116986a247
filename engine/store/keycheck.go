package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	bolt "go.etcd.io/bbolt"
)

// keyCheckPlaintext is sealed into meta/keyCheck so a wrong key is detected at Open rather
// than on the first secret read.
const keyCheckPlaintext = "psbridge key check"

// writeKeyCheck seals the key check value with sl.
func writeKeyCheck(tx *bolt.Tx, sl *sealer) error {
	v, err := sl.seal(bMeta, []byte(kKeyCheck), []byte(keyCheckPlaintext))
	if err != nil {
		return fmt.Errorf("seal key check: %w", err)
	}
	if err := bucket(tx, bMeta).Put([]byte(kKeyCheck), v); err != nil {
		return fmt.Errorf("put key check: %w", err)
	}
	return nil
}

// keyOpens reports whether key opens the sealed key check value (true when there is none).
func keyOpens(key, keyCheck []byte) bool {
	if keyCheck == nil {
		return true
	}
	sl, err := newSealer(key)
	if err != nil {
		return false
	}
	_, err = sl.open(bMeta, []byte(kKeyCheck), keyCheck)
	return err == nil
}

// checkKey returns ErrWrongKey, naming where the key came from, when key does not open
// keyCheck.
func checkKey(key, keyCheck []byte, source string) error {
	if !keyOpens(key, keyCheck) {
		return fmt.Errorf("the key from %s does not open this database: %w", source, ErrWrongKey)
	}
	return nil
}

// loadKey reads the key file, creating it for a database without sealed values, and finishes
// a key rotation that was interrupted after its commit (see RotateKey).
func (s *Store) loadKey(keyCheck []byte) ([]byte, error) {
	pending := s.keyFile + pendingKeySuffix
	if !fileExists(s.keyFile) {
		if keyCheck != nil {
			return nil, fmt.Errorf("key file %s does not exist but the database is sealed with a key; restore the key file: %w", s.keyFile, ErrWrongKey)
		}
		key, err := newRandomKey()
		if err != nil {
			return nil, err
		}
		if err := writeKeyFile(s.keyFile, key); err != nil {
			return nil, err
		}
		return key, nil
	}
	key, err := readKeyFile(s.keyFile)
	if err != nil {
		return nil, err
	}
	if keyOpens(key, keyCheck) {
		// A leftover pending key belongs to a rotation that never committed.
		if err := os.Remove(pending); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("remove stale pending key file %s: %w", pending, err)
		}
		return key, nil
	}
	if fileExists(pending) {
		newKey, err := readKeyFile(pending)
		if err == nil && keyOpens(newKey, keyCheck) {
			if err := renameDurable(pending, s.keyFile); err != nil {
				return nil, fmt.Errorf("finish interrupted key rotation (%s -> %s): %w", pending, s.keyFile, err)
			}
			return newKey, nil
		}
	}
	return nil, checkKey(key, keyCheck, "key file "+s.keyFile)
}
