//go:build !windows

package psmodule

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// holdDir takes a shared lock (flock(2)) on dir's lock file, creating the file in a directory
// built before the locks; fs.ErrNotExist when dir does not exist, errDirMoved when it was
// removed while this process waited. The lock is held on a descriptor that is never closed
// unless release is called, and that no child process inherits: a process that uses the
// directory holds it for as long as it runs, whatever becomes of its Installed value.
func holdDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, lockName)
	fd, err := open(path, syscall.O_RDONLY|syscall.O_CREAT)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		// A directory built before the locks in a cache this process may not write (a
		// read-only image): used unlocked, as before the locks; nobody removes a directory
		// that has no lock file.
		if _, statErr := os.Stat(path); errors.Is(statErr, fs.ErrNotExist) {
			if _, dirErr := os.Stat(dir); dirErr == nil {
				return func() {}, nil
			}
		}
		return nil, err
	}
	if err := flock(fd, syscall.LOCK_SH); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// A pruner that held the lock before us renamed the directory away: our lock is then on a
	// file that is no longer the directory's.
	var held, now syscall.Stat_t
	if syscall.Fstat(fd, &held) != nil || syscall.Stat(path, &now) != nil || held.Dev != now.Dev || held.Ino != now.Ino {
		syscall.Close(fd)
		return nil, errDirMoved
	}
	return func() { syscall.Close(fd) }, nil
}

// lockUnheld takes the lock file at path exclusively if no process holds it, without waiting.
func lockUnheld(path string) (unlock func(), ok bool) {
	fd, err := open(path, syscall.O_RDONLY)
	if err != nil {
		return nil, false
	}
	if flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		syscall.Close(fd)
		return nil, false
	}
	return func() { syscall.Close(fd) }, true
}

// open opens path close-on-exec, as os.Open does, but as a bare descriptor: no finalizer
// closes it.
func open(path string, mode int) (int, error) {
	for {
		fd, err := syscall.Open(path, mode|syscall.O_CLOEXEC, 0o644)
		if err != syscall.EINTR {
			if err != nil {
				return -1, &fs.PathError{Op: "open", Path: path, Err: err}
			}
			return fd, nil
		}
	}
}

func flock(fd, how int) error {
	for {
		if err := syscall.Flock(fd, how); err != syscall.EINTR {
			return err
		}
	}
}
