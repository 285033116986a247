package store

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// rawUpdate runs fn on the database file directly, without the store.
func rawUpdate(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	must(t, err)
	defer db.Close()
	must(t, db.Update(fn))
}

// rawVersion reads the stored schema version directly.
func rawVersion(t *testing.T, path string) uint64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	must(t, err)
	defer db.Close()
	var v uint64
	must(t, db.View(func(tx *bolt.Tx) error {
		var err error
		v, err = readSchemaVersion(tx)
		return err
	}))
	return v
}

func TestMigrateVersion0File(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	// A version-0 file: no meta bucket, but one instance already stored.
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte(bInstances))
		if err != nil {
			return err
		}
		if _, err := b.NextSequence(); err != nil {
			return err
		}
		return b.Put(itob(1), []byte(`{"id":1,"name":"legacy","typeId":"t"}`))
	})
	s, err := Open(path, Options{})
	must(t, err)
	inst, err := s.Instance(1)
	if err != nil || inst.Name != "legacy" {
		t.Fatalf("legacy instance = %+v, %v", inst, err)
	}
	must(t, s.Close())
	if v, want := rawVersion(t, path), uint64(len(migrations())); v != want {
		t.Fatalf("schema version %d after migration, want %d", v, want)
	}
}

func TestMigrationFramework(t *testing.T) {
	cur := uint64(len(migrations()))
	withMarker := func(fail bool) []migration {
		return append(migrations(), migration{to: cur + 1, name: "add marker", apply: func(tx *bolt.Tx) error {
			if fail {
				return errors.New("boom")
			}
			_, err := tx.CreateBucketIfNotExists([]byte("marker"))
			return err
		}})
	}
	tests := []struct {
		name        string
		steps       []migration
		wantErr     error
		wantMsg     string
		wantVersion uint64
		wantMarker  bool
	}{
		{"current table keeps version", migrations(), nil, "", cur, false},
		{"next step runs", withMarker(false), nil, "", cur + 1, true},
		{"failing step rolls back", withMarker(true), nil, "boom", cur, false},
		{"broken table", []migration{{to: 2, name: "gap", apply: createBuckets}}, nil, "migration table broken", cur, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db")
			s, err := Open(path, Options{})
			must(t, err)
			must(t, s.Close())
			s, err = open(path, Options{}, tt.steps)
			if tt.wantMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantMsg)
				}
			} else {
				must(t, err)
				must(t, s.Close())
			}
			if v := rawVersion(t, path); v != tt.wantVersion {
				t.Fatalf("version %d, want %d", v, tt.wantVersion)
			}
			var marker bool
			rawUpdate(t, path, func(tx *bolt.Tx) error { marker = tx.Bucket([]byte("marker")) != nil; return nil })
			if marker != tt.wantMarker {
				t.Fatalf("marker = %v, want %v", marker, tt.wantMarker)
			}
		})
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s, err := Open(path, Options{})
	must(t, err)
	must(t, s.Close())
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bMeta)).Put([]byte(kSchemaVersion), utob(99))
	})
	_, err = Open(path, Options{})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("err = %v, want ErrSchemaTooNew", err)
	}
	for _, m := range []string{"99", "upgrade", path} {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not mention %q", err, m)
		}
	}
	if v := rawVersion(t, path); v != 99 {
		t.Fatalf("refused open changed the version to %d", v)
	}
}

// TestMigrateTokenRoles: tokens stored before roles existed become admin tokens; tokens
// with a role keep it.
func TestMigrateTokenRoles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	s, err := open(path, Options{}, migrations()[:1])
	must(t, err)
	plain, old, err := s.CreateTokenWithRole("old", RoleReadOnly)
	must(t, err)
	_, ro, err := s.CreateTokenWithRole("ro", RoleReadOnly)
	must(t, err)
	must(t, s.Close())
	// Make "old" look like a version-1 record: no role member at all.
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bTokens))
		v := strings.Replace(string(b.Get([]byte(old.ID))), `"role":"read-only",`, "", 1)
		if strings.Contains(v, "role") {
			t.Fatalf("fixture still has a role: %s", v)
		}
		return b.Put([]byte(old.ID), []byte(v))
	})
	s, err = Open(path, Options{})
	must(t, err)
	defer s.Close()
	got, ok, err := s.VerifyToken(plain)
	if err != nil || !ok || got.Role != RoleAdmin {
		t.Fatalf("migrated token = %+v, %v, %v; want role admin", got, ok, err)
	}
	toks, err := s.Tokens()
	must(t, err)
	for _, tk := range toks {
		if tk.ID == ro.ID && tk.Role != RoleReadOnly {
			t.Fatalf("token with a role changed to %q", tk.Role)
		}
	}
}
