package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKeyFileCreated0600(t *testing.T) {
	s, path := newTestStore(t, Options{})
	fi, err := os.Stat(path + ".key")
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file permissions %04o, want 0600", perm)
	}
	if s.KeyFile() != path+".key" {
		t.Fatalf("KeyFile() = %q", s.KeyFile())
	}
}

func TestKeyProblems(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path, keyFile string) Options
		want    error    // sentinel, if any
		msg     []string // substrings the error must contain
	}{
		{
			name: "group readable key file",
			prepare: func(t *testing.T, path, keyFile string) Options {
				must(t, os.Chmod(keyFile, 0o644))
				return Options{}
			},
			msg: []string{keyFileName, "0644", "chmod 600"},
		},
		{
			name: "wrong key in key file",
			prepare: func(t *testing.T, path, keyFile string) Options {
				key, _ := newRandomKey()
				must(t, writeKeyFile(keyFile, key))
				return Options{}
			},
			want: ErrWrongKey,
			msg:  []string{keyFileName},
		},
		{
			name: "missing key file",
			prepare: func(t *testing.T, path, keyFile string) Options {
				must(t, os.Remove(keyFile))
				return Options{}
			},
			want: ErrWrongKey,
			msg:  []string{keyFileName, "does not exist"},
		},
		{
			name: "garbage key file",
			prepare: func(t *testing.T, path, keyFile string) Options {
				must(t, os.WriteFile(keyFile, []byte("not hex"), 0o600))
				return Options{}
			},
			msg: []string{keyFileName, "hex"},
		},
		{
			name: "wrong Options.Key",
			prepare: func(t *testing.T, path, keyFile string) Options {
				return Options{Key: bytes.Repeat([]byte{7}, KeySize)}
			},
			want: ErrWrongKey,
			msg:  []string{"Options.Key"},
		},
		{
			name: "short Options.Key",
			prepare: func(t *testing.T, path, keyFile string) Options {
				return Options{Key: []byte("short")}
			},
			msg: []string{"32 bytes"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "db")
			keyFile := filepath.Join(dir, keyFileName)
			s, err := Open(path, Options{KeyFile: keyFile})
			must(t, err)
			inst := mustInstance(t, s, "x")
			must(t, s.PutInstanceSecrets(inst.ID, map[string]string{"P": "secret"}))
			must(t, s.Close())

			opts := tt.prepare(t, path, keyFile)
			if opts.Key == nil {
				opts.KeyFile = keyFile
			}
			s, err = Open(path, opts)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v is not %v", err, tt.want)
			}
			for _, m := range tt.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

// keyFileName is the key file used by TestKeyProblems.
const keyFileName = "custom.key"

func TestRotateKey(t *testing.T) {
	s, path := newTestStore(t, Options{})
	inst := mustInstance(t, s, "x")
	must(t, s.PutInstanceSecrets(inst.ID, map[string]string{"P": "pw"}))
	must(t, s.PutContext(inst.ID, []byte(`{"t":"ctx"}`)))
	must(t, s.PutWebhookSecret(inst.ID, "hook"))
	oldKey, err := readKeyFile(path + ".key")
	must(t, err)
	newKey, _ := newRandomKey()
	must(t, s.RotateKey(newKey))
	check := func(s *Store) {
		t.Helper()
		sec, err := s.InstanceSecrets(inst.ID)
		if err != nil || sec["P"] != "pw" {
			t.Fatalf("secrets = %v, %v", sec, err)
		}
		ctx, err := s.Context(inst.ID)
		if err != nil || string(ctx) != `{"t":"ctx"}` {
			t.Fatalf("context = %s, %v", ctx, err)
		}
		hook, _, err := s.WebhookSecret(inst.ID)
		if err != nil || hook != "hook" {
			t.Fatalf("webhook = %q, %v", hook, err)
		}
	}
	check(s) // same process, new sealer
	must(t, s.Close())

	onDisk, err := readKeyFile(path + ".key")
	must(t, err)
	if !bytes.Equal(onDisk, newKey) {
		t.Fatal("key file does not hold the new key")
	}
	if fileExists(path + ".key" + pendingKeySuffix) {
		t.Fatal("pending key file left behind")
	}
	if _, err := Open(path, Options{Key: oldKey}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("old key: err = %v, want ErrWrongKey", err)
	}
	s2, err := Open(path, Options{})
	must(t, err)
	defer s2.Close()
	check(s2)
}

func TestRotateKeyInterrupted(t *testing.T) {
	tests := []struct {
		name string
		// crash arranges the files as a crash at that point would leave them.
		crash func(t *testing.T, keyFile string, oldKey, newKey []byte)
		want  func(oldKey, newKey []byte) []byte
	}{
		{
			name: "after commit, before rename",
			crash: func(t *testing.T, keyFile string, oldKey, newKey []byte) {
				must(t, writeKeyFile(keyFile+pendingKeySuffix, newKey))
				must(t, writeKeyFile(keyFile, oldKey))
			},
			want: func(_, newKey []byte) []byte { return newKey },
		},
		{
			name: "stale pending key (crash before commit)",
			crash: func(t *testing.T, keyFile string, oldKey, newKey []byte) {
				other, _ := newRandomKey()
				must(t, writeKeyFile(keyFile+pendingKeySuffix, other))
			},
			want: func(_, newKey []byte) []byte { return newKey },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db")
			keyFile := path + ".key"
			s, err := Open(path, Options{})
			must(t, err)
			inst := mustInstance(t, s, "x")
			must(t, s.PutInstanceSecrets(inst.ID, map[string]string{"P": "pw"}))
			oldKey, _ := readKeyFile(keyFile)
			newKey, _ := newRandomKey()
			must(t, s.RotateKey(newKey))
			must(t, s.Close())
			tt.crash(t, keyFile, oldKey, newKey)

			s, err = Open(path, Options{})
			must(t, err)
			defer s.Close()
			if sec, err := s.InstanceSecrets(inst.ID); err != nil || sec["P"] != "pw" {
				t.Fatalf("secrets = %v, %v", sec, err)
			}
			if got, _ := readKeyFile(keyFile); !bytes.Equal(got, tt.want(oldKey, newKey)) {
				t.Fatal("key file does not hold the key that opens the database")
			}
			if fileExists(keyFile + pendingKeySuffix) {
				t.Fatal("pending key file left behind")
			}
		})
	}
}

func TestBackup(t *testing.T) {
	s, path := newTestStore(t, Options{})
	inst := mustInstance(t, s, "x")
	must(t, s.PutInstanceSecrets(inst.ID, map[string]string{"P": "pw"}))
	must(t, s.CreateModule(ModuleScript{Name: "M", Script: "s"}))
	var buf bytes.Buffer
	n, err := s.Backup(&buf)
	if err != nil || n != int64(buf.Len()) || n == 0 {
		t.Fatalf("Backup = %d, %v (buffer %d)", n, err, buf.Len())
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := s.BackupToFile(backup); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(backup)
	must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup permissions %04o", fi.Mode().Perm())
	}
	b, err := Open(backup, Options{KeyFile: path + ".key"})
	must(t, err)
	defer b.Close()
	if sec, err := b.InstanceSecrets(inst.ID); err != nil || sec["P"] != "pw" {
		t.Fatalf("backup secrets = %v, %v", sec, err)
	}
	if got, err := b.Instance(inst.ID); err != nil || got.Name != "x" {
		t.Fatalf("backup instance = %+v, %v", got, err)
	}
	if m, err := b.Module("m"); err != nil || m.Script != "s" {
		t.Fatalf("backup module = %+v, %v", m, err)
	}
}

func TestOpenLocked(t *testing.T) {
	_, path := newTestStore(t, Options{}) // stays open until cleanup
	_, err := Open(path, Options{Timeout: 50 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second Open: err = %v, want a lock timeout", err)
	}
}
