package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// The key file holds the 32-byte key as 64 hex characters and a newline, so it can be copied
// into a password manager. It must not be readable by group or others.

// pendingKeySuffix names the file holding a new key while RotateKey is in progress.
const pendingKeySuffix = ".new"

// readKeyFile loads a key file, refusing files that group or others can read.
func readKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file", path)
	}
	// Windows has no permission bits (Stat reports 0666 for every writable file); the file's
	// ACL, inherited from the data directory, decides there.
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("key file %s has permissions %04o; it must not be accessible by group or others (run: chmod 600 %s)", path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("key file %s must hold %d hex characters (a %d-byte key)", path, 2*KeySize, KeySize)
	}
	return key, nil
}

// newRandomKey returns a fresh random key.
func newRandomKey() ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return key, nil
}

// writeKeyFile atomically writes key to path with permissions 0600.
func writeKeyFile(path string, key []byte) error {
	data := []byte(hex.EncodeToString(key) + "\n")
	if err := writeFileAtomic(path, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	}); err != nil {
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	return nil
}

// writeFileAtomic writes a file with permissions 0600 via a temporary file in the same
// directory: write, fsync, rename over path, fsync the directory. Readers see either the old
// file or the complete new one.
func writeFileAtomic(path string, write func(*os.File) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if err = write(f); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// renameDurable renames oldPath to newPath and fsyncs the directory.
func renameDurable(oldPath, newPath string) error {
	if err := os.Rename(oldPath, newPath); err != nil {
		return err
	}
	return syncDir(filepath.Dir(newPath))
}

// syncDir fsyncs a directory so a rename or create in it survives a crash.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // a directory cannot be flushed there; NTFS journals the rename itself
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, fs.ErrInvalid) {
		return err
	}
	return nil
}

// fileExists reports whether path exists (errors other than not-exist count as existing, so
// callers go on to report them).
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}
