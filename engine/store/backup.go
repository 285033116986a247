package store

import (
	"fmt"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the database to w from one read transaction, so writers
// are not blocked, and returns the number of bytes written. The copy holds sealed values only:
// restoring it needs the key file as well, which should be backed up separately.
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backup %s: %w", s.path, err)
	}
	return n, nil
}

// BackupToFile writes a backup to path atomically (temporary file, fsync, rename) with
// permissions 0600 and returns its size.
func (s *Store) BackupToFile(path string) (int64, error) {
	var n int64
	err := writeFileAtomic(path, func(f *os.File) error {
		var err error
		n, err = s.Backup(f)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("backup to %s: %w", path, err)
	}
	return n, nil
}
