package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/psbridge/psbridge/engine/store"
)

func TestKeyRotate(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "psbridge.db.key")
	stdout, stderr, code := cli(t, "token", "create", "--data-dir", dir)
	if code != exitOK {
		t.Fatalf("token create: exit %d: %s", code, stderr)
	}
	tok := strings.TrimSpace(stdout)
	oldKey, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}

	if _, stderr, code := cli(t, "key", "rotate", "--data-dir", dir); code != exitOK || !strings.Contains(stderr, keyFile) {
		t.Fatalf("key rotate: exit %d: %s", code, stderr)
	}
	newKey, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(oldKey, newKey) {
		t.Fatal("the key file did not change")
	}
	// The new key opens the database and everything is there; the old one no longer does.
	st, err := store.Open(filepath.Join(dir, "psbridge.db"), store.Options{KeyFile: keyFile})
	if err != nil {
		t.Fatalf("open with the new key: %v", err)
	}
	if _, ok, err := st.VerifyToken(tok); err != nil || !ok {
		t.Errorf("token lost after rotation: %v %v", ok, err)
	}
	st.Close()
	oldFile := filepath.Join(t.TempDir(), "old.key")
	if err := os.WriteFile(oldFile, oldKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := store.Open(filepath.Join(dir, "psbridge.db"), store.Options{KeyFile: oldFile}); err == nil {
		st.Close()
		t.Fatal("the old key still opens the database")
	}

	if _, stderr, code := cli(t, "key"); code != exitUsage || !strings.Contains(stderr, "key needs the subcommand 'rotate'") {
		t.Errorf("key without subcommand: exit %d, stderr %q", code, stderr)
	}
}
