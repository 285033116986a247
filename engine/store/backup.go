package store

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the database to w and returns the number of bytes
// written. The copy holds sealed values only: restoring it needs the key file as well, which
// should be backed up separately.
//
// The read transaction lasts only as long as copying the file to a temporary file next to the
// database (local disk speed); w, which may be a slow HTTP client, is then fed from that file.
// Streaming straight from the transaction kept it open for as long as the client took, and
// every writer that had to grow the file (bbolt remaps it, which waits for open read
// transactions) stalled until then. The temporary file needs as much free space as the
// database and is removed before Backup returns.
func (s *Store) Backup(w io.Writer) (int64, error) {
	f, err := os.CreateTemp(filepath.Dir(s.path), "."+filepath.Base(s.path)+".backup-*")
	if err != nil {
		return 0, fmt.Errorf("backup %s: %w", s.path, err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	if err := f.Chmod(0o600); err != nil {
		return 0, fmt.Errorf("backup %s: %w", s.path, err)
	}
	if _, err := s.snapshot(f); err != nil {
		return 0, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("backup %s: %w", s.path, err)
	}
	n, err := io.Copy(w, f)
	if err != nil {
		return n, fmt.Errorf("backup %s: %w", s.path, err)
	}
	return n, nil
}

// snapshot writes the database to a local file from one read transaction, after the call log
// entries queued so far are written.
func (s *Store) snapshot(f *os.File) (int64, error) {
	s.calls.flush()
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(f)
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
		n, err = s.snapshot(f)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("backup to %s: %w", path, err)
	}
	return n, nil
}
