package store

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Defaults applied by Open for zero Options fields.
const (
	DefaultTimeout         = 5 * time.Second
	DefaultMaxCallLog      = 10000
	DefaultMaxHealthEvents = 500
)

// Options configures Open. The zero value is usable.
type Options struct {
	// KeyFile is the file holding the encryption key; default: the database path + ".key".
	// It is created with permissions 0600 on first open when the database holds no sealed
	// values yet.
	KeyFile string
	// Key, when set, is the 32-byte encryption key and KeyFile is ignored. RotateKey then
	// writes no key file: the caller keeps the new key.
	Key []byte
	// Timeout bounds the wait for the database file lock; default DefaultTimeout.
	Timeout time.Duration
	// MaxCallLog is how many call log entries are kept in total; default DefaultMaxCallLog.
	MaxCallLog int
	// MaxHealthEvents is how many health events are kept per instance; default
	// DefaultMaxHealthEvents.
	MaxHealthEvents int
}

// Store is an open psbridge database. Create one with Open and release it with Close.
type Store struct {
	db        *bolt.DB
	path      string
	keyFile   string // "" when the key came from Options.Key
	maxCalls  int
	maxHealth int
	now       func() time.Time

	// keyMu guards sealer: holders of sealed values take it for reading for the whole
	// transaction, RotateKey takes it for writing.
	keyMu  sync.RWMutex
	sealer *sealer

	calls callWriter // queues call log entries and writes them in batches

	// dirID caches the directory id once read or created: it never changes while the database
	// is open, and token checks read it on every request.
	dirID atomic.Pointer[string]
}

// Open opens (creating if needed) the database at path, loads or creates its key, and
// migrates the schema to the current version.
func Open(path string, opts Options) (*Store, error) {
	return open(path, opts, migrations())
}

// open is Open with an explicit migration table, so tests can exercise the framework.
func open(path string, opts Options, steps []migration) (*Store, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxCallLog <= 0 {
		opts.MaxCallLog = DefaultMaxCallLog
	}
	if opts.MaxHealthEvents <= 0 {
		opts.MaxHealthEvents = DefaultMaxHealthEvents
	}
	if opts.Key == nil && opts.KeyFile == "" {
		opts.KeyFile = path + ".key"
	}
	if opts.Key != nil && len(opts.Key) != KeySize {
		return nil, fmt.Errorf("open store %s: Options.Key must be %d bytes, got %d", path, KeySize, len(opts.Key))
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open store %s: file is locked by another process (waited %s): %w", path, opts.Timeout, err)
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{
		db:        db,
		path:      path,
		maxCalls:  opts.MaxCallLog,
		maxHealth: opts.MaxHealthEvents,
		now:       func() time.Time { return time.Now().UTC() },
	}
	if opts.Key == nil {
		s.keyFile = opts.KeyFile
	}
	if err := s.init(opts.Key, steps); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

// init checks the schema version, settles the key and runs migrations.
func (s *Store) init(key []byte, steps []migration) error {
	target, err := checkSteps(steps)
	if err != nil {
		return err
	}
	var version uint64
	var keyCheck []byte
	if err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		version, err = readSchemaVersion(tx)
		if m := tx.Bucket([]byte(bMeta)); m != nil {
			if v := m.Get([]byte(kKeyCheck)); v != nil {
				keyCheck = append([]byte(nil), v...)
			}
		}
		return err
	}); err != nil {
		return err
	}
	if version > target {
		return fmt.Errorf("schema version %d, this build supports up to %d; upgrade psbridge: %w", version, target, ErrSchemaTooNew)
	}
	if key == nil {
		key, err = s.loadKey(keyCheck)
	} else {
		err = checkKey(key, keyCheck, "Options.Key")
	}
	if err != nil {
		return err
	}
	if s.sealer, err = newSealer(key); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := migrate(tx, steps); err != nil {
			return err
		}
		if keyCheck == nil {
			if err := writeKeyCheck(tx, s.sealer); err != nil {
				return err
			}
		}
		for _, name := range allBuckets() {
			if tx.Bucket([]byte(name)) == nil {
				return fmt.Errorf("bucket %q missing after migration", name)
			}
		}
		return nil
	})
}

// Close writes the call log entries still queued (QueueCall), then releases the database file.
// The Store must not be used afterwards.
func (s *Store) Close() error {
	s.calls.close()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.path, err)
	}
	return nil
}

// Ping reports whether the database is open and readable (for readiness checks).
func (s *Store) Ping() error {
	if err := s.db.View(func(*bolt.Tx) error { return nil }); err != nil {
		return fmt.Errorf("store %s: %w", s.path, err)
	}
	return nil
}

// Path returns the database file path.
func (s *Store) Path() string { return s.path }

// KeyFile returns the key file path, or "" when the key was passed in Options.Key.
func (s *Store) KeyFile() string { return s.keyFile }
