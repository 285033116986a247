package store

import (
	"bytes"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

// RotateKey re-encrypts every sealed value under newKey (32 bytes) in one transaction and then
// makes newKey the key on disk. Other store calls that touch sealed values wait meanwhile.
//
// With a key file the sequence is: (1) write newKey to KeyFile+".new" atomically (temp file,
// fsync, rename); (2) commit the re-encryption; (3) rename KeyFile+".new" over KeyFile and
// fsync the directory. A crash before (2) commits leaves the database under the old key; the
// next Open sees that KeyFile still opens it and deletes the stale ".new". A crash between (2)
// and (3) leaves the database under the new key while KeyFile holds the old one; the next Open
// finds that KeyFile no longer opens the database, tries KeyFile+".new", and completes the
// rename. So there is no window in which a crash loses the key, provided the ".new" file is
// kept with the database. When the store was opened with Options.Key no file is written and
// the caller must persist newKey before calling.
func (s *Store) RotateKey(newKey []byte) error {
	next, err := newSealer(newKey)
	if err != nil {
		return fmt.Errorf("rotate key: %w", err)
	}
	s.keyMu.Lock()
	defer s.keyMu.Unlock()

	pending := ""
	if s.keyFile != "" {
		pending = s.keyFile + pendingKeySuffix
		if err := writeKeyFile(pending, newKey); err != nil {
			return fmt.Errorf("rotate key: %w", err)
		}
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range sealedBuckets() {
			if err := reseal(bucket(tx, name), name, s.sealer, next); err != nil {
				return err
			}
		}
		return writeKeyCheck(tx, next)
	})
	if err != nil {
		if pending != "" {
			_ = os.Remove(pending)
		}
		return fmt.Errorf("rotate key: %w", err)
	}
	s.sealer = next
	if pending != "" {
		if err := renameDurable(pending, s.keyFile); err != nil {
			return fmt.Errorf("rotate key: the database now uses the key in %s but it could not replace %s (the next Open finishes this): %w", pending, s.keyFile, err)
		}
	}
	return nil
}

// reseal re-encrypts every value of a flat sealed bucket from old to next.
func reseal(b *bolt.Bucket, name string, old, next *sealer) error {
	type kv struct{ k, v []byte }
	var all []kv
	if err := b.ForEach(func(k, v []byte) error {
		pt, err := old.open(name, k, v)
		if err != nil {
			return fmt.Errorf("%s/%x: %w", name, k, err)
		}
		sealed, err := next.seal(name, k, pt)
		if err != nil {
			return err
		}
		all = append(all, kv{bytes.Clone(k), sealed})
		return nil
	}); err != nil {
		return err
	}
	for _, e := range all {
		if err := b.Put(e.k, e.v); err != nil {
			return fmt.Errorf("%s/%x: %w", name, e.k, err)
		}
	}
	return nil
}
