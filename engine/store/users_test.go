package store

import (
	"errors"
	"strings"
	"testing"
)

// TestUsers: users are keyed by their external id (GUIDs in lower case, as Entra issues oid
// claims), unique, with a valid role, and survive a reopen.
func TestUsers(t *testing.T) {
	s, path := newTestStore(t, Options{})
	const oid = "0b5f1a2c-7d6e-4a8b-9c0d-1e2f3a4b5c6d"
	cases := []struct {
		name    string
		in      User
		wantErr bool
		is      error // when wantErr, the error it wraps (nil: any)
	}{
		{"GUID in upper case", User{ExternalID: " 0B5F1A2C-7D6E-4A8B-9C0D-1E2F3A4B5C6D ", Name: "app", Role: RoleAdmin}, false, nil},
		{"same id again", User{ExternalID: oid, Role: RoleOperator}, true, ErrConflict},
		{"a sub that is no GUID", User{ExternalID: "Keycloak-Sub", Role: RoleReadOnly}, false, nil},
		{"bad role", User{ExternalID: "x", Role: "root"}, true, ErrInvalidRole},
		{"no id", User{ExternalID: "  ", Role: RoleAdmin}, true, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.CreateUser(c.in)
			if (err != nil) != c.wantErr || (c.is != nil && !errors.Is(err, c.is)) {
				t.Fatalf("err %v, want error %v (wrapping %v)", err, c.wantErr, c.is)
			}
		})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err := s.User(strings.ToUpper(oid))
	if err != nil || u.Role != RoleAdmin || u.Name != "app" || u.CreatedAt.IsZero() {
		t.Fatalf("User = %+v, %v", u, err)
	}
	if _, err := s.User("keycloak-sub"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a sub is case-sensitive: %v", err)
	}
	all, err := s.Users()
	if err != nil || len(all) != 2 {
		t.Fatalf("Users = %+v, %v", all, err)
	}
	if err := s.DeleteUser(oid); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(oid); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}
