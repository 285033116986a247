package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// TestMain lets the test binary double as the crash-test child (see crash_test.go).
func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		os.Exit(runCrashChild(path))
	}
	goleak.VerifyTestMain(m)
}

// newTestStore opens a fresh store in a temporary directory and closes it after the test.
func newTestStore(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "psbridge.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

// mustType stores an integration type and returns its ID.
func mustType(t testing.TB, s *Store, name string) string {
	t.Helper()
	typ := IntegrationType{Name: name, Script: "param()"}
	if err := s.PutType(&typ); err != nil {
		t.Fatalf("PutType: %v", err)
	}
	return typ.ID
}

// mustInstance creates an instance of a new type and returns it.
func mustInstance(t testing.TB, s *Store, name string) Instance {
	t.Helper()
	inst := Instance{Name: name, TypeID: mustType(t, s, "type for "+name)}
	if err := s.CreateInstance(&inst); err != nil {
		t.Fatalf("CreateInstance: %v", err)
	}
	return inst
}

// wantErr fails the test unless err matches want (nil means no error expected).
func wantErr(t *testing.T, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error = %v, want %v", err, want)
	}
}
