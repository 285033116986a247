package store

import (
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// enrollFixture is a store with two tenants and an enrollment key for each.
type enrollFixture struct {
	s          *Store
	path       string
	keyA, keyB string
	tenA, tenB int64
}

func newEnrollFixture(t *testing.T) *enrollFixture {
	t.Helper()
	s, path := newTestStore(t, Options{})
	f := &enrollFixture{s: s, path: path}
	for _, p := range []struct {
		key *string
		ten *int64
	}{{&f.keyA, &f.tenA}, {&f.keyB, &f.tenB}} {
		ten := Tenant{Name: fmt.Sprintf("tenant %p", p.key)}
		must(t, s.CreateTenant(&ten))
		k, _, err := s.CreateEnrollmentKey(ten.ID, time.Time{})
		must(t, err)
		*p.key, *p.ten = k, ten.ID
	}
	return f
}

func (f *enrollFixture) enroll(t *testing.T, key, device string) (Computer, string) {
	t.Helper()
	c, cred, err := f.s.Enroll(key, Inventory{ComputerName: "PC-" + device, DeviceID: device})
	must(t, err)
	return c, cred
}

// credOwner returns the computer a credential belongs to (0: none).
func (f *enrollFixture) credOwner(t *testing.T, cred string) int64 {
	t.Helper()
	c, ok, err := f.s.ComputerForCredential(cred)
	must(t, err)
	if !ok {
		return 0
	}
	return c.ID
}

// TestEnrollFindsTheSameComputer: enrollment finds a tenant's computer by device id through
// the index, whichever way the computer came to have it, and an agent keeps exactly one
// working credential.
func TestEnrollFindsTheSameComputer(t *testing.T) {
	tests := []struct {
		name string
		// setup makes the computer the second enrollment should (or should not) find and
		// returns its id (0: none).
		setup    func(t *testing.T, f *enrollFixture) int64
		key      func(f *enrollFixture) string
		device   string
		wantSame bool
	}{
		{"enrolled before", func(t *testing.T, f *enrollFixture) int64 {
			c, _ := f.enroll(t, f.keyA, "dev-1")
			return c.ID
		}, func(f *enrollFixture) string { return f.keyA }, "dev-1", true},
		{"other device is another computer", func(t *testing.T, f *enrollFixture) int64 {
			c, _ := f.enroll(t, f.keyA, "dev-1")
			return c.ID
		}, func(f *enrollFixture) string { return f.keyA }, "dev-2", false},
		{"same device in another tenant is another computer", func(t *testing.T, f *enrollFixture) int64 {
			c, _ := f.enroll(t, f.keyA, "dev-1")
			return c.ID
		}, func(f *enrollFixture) string { return f.keyB }, "dev-1", false},
		{"made through the API", func(t *testing.T, f *enrollFixture) int64 {
			c := Computer{Name: "API", TenantID: f.tenA, DeviceID: "dev-api"}
			must(t, f.s.CreateComputer(&c))
			return c.ID
		}, func(f *enrollFixture) string { return f.keyA }, "dev-api", true},
		{"device id changed by an update", func(t *testing.T, f *enrollFixture) int64 {
			c, _ := f.enroll(t, f.keyA, "dev-old")
			_, err := f.s.UpdateComputer(c.ID, func(c *Computer) error { c.DeviceID = "dev-new"; return nil })
			must(t, err)
			return c.ID
		}, func(f *enrollFixture) string { return f.keyA }, "dev-new", true},
		{"old device id after an update is free", func(t *testing.T, f *enrollFixture) int64 {
			c, _ := f.enroll(t, f.keyA, "dev-old")
			_, err := f.s.UpdateComputer(c.ID, func(c *Computer) error { c.DeviceID = "dev-new"; return nil })
			must(t, err)
			return c.ID
		}, func(f *enrollFixture) string { return f.keyA }, "dev-old", false},
		{"moved to another tenant", func(t *testing.T, f *enrollFixture) int64 {
			c, _ := f.enroll(t, f.keyA, "dev-1")
			_, err := f.s.UpdateComputer(c.ID, func(c *Computer) error { c.TenantID = f.tenB; return nil })
			must(t, err)
			return c.ID
		}, func(f *enrollFixture) string { return f.keyB }, "dev-1", true},
		{"index entry of a computer whose record is gone", func(t *testing.T, f *enrollFixture) int64 {
			c, _ := f.enroll(t, f.keyA, "dev-gone")
			must(t, f.s.db.Update(func(tx *bolt.Tx) error { return bucket(tx, bComputers).Delete(itob(c.ID)) }))
			return 0
		}, func(f *enrollFixture) string { return f.keyA }, "dev-gone", false},
		{"duplicate made through the API: the lowest id wins, then the next", func(t *testing.T, f *enrollFixture) int64 {
			a := Computer{Name: "A", TenantID: f.tenA, DeviceID: "dup"}
			b := Computer{Name: "B", TenantID: f.tenA, DeviceID: "dup"}
			must(t, f.s.CreateComputer(&a))
			must(t, f.s.CreateComputer(&b))
			if c, _ := f.enroll(t, f.keyA, "dup"); c.ID != a.ID {
				t.Fatalf("device dup enrolled as computer %d, want the lowest id %d", c.ID, a.ID)
			}
			_, err := f.s.UpdateComputer(a.ID, func(c *Computer) error { c.DeviceID = "other"; return nil })
			must(t, err)
			return b.ID
		}, func(f *enrollFixture) string { return f.keyA }, "dup", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newEnrollFixture(t)
			before := tt.setup(t, f)
			_, oldCred, err := f.s.Enroll(tt.key(f), Inventory{DeviceID: "unrelated-" + tt.name})
			must(t, err)
			c, cred := f.enroll(t, tt.key(f), tt.device)
			if got := c.ID == before; got != tt.wantSame {
				t.Fatalf("enrolled as computer %d, the earlier one is %d: same = %v, want %v", c.ID, before, got, tt.wantSame)
			}
			if owner := f.credOwner(t, cred); owner != c.ID {
				t.Fatalf("new credential belongs to computer %d, want %d", owner, c.ID)
			}
			if f.credOwner(t, oldCred) == 0 {
				t.Fatal("enrolling one computer revoked another computer's credential")
			}
			again, cred2 := f.enroll(t, tt.key(f), tt.device)
			if again.ID != c.ID {
				t.Fatalf("enrolling again made computer %d, want %d", again.ID, c.ID)
			}
			if f.credOwner(t, cred) != 0 || f.credOwner(t, cred2) != c.ID {
				t.Fatal("enrolling again must replace the computer's credential")
			}
		})
	}
}

// TestMigrateBuildsComputerIndexes: a schema-4 database (no indexes) gets both indexes from its
// computers and credentials, so re-enrolling finds the computer and revokes its old credential.
func TestMigrateBuildsComputerIndexes(t *testing.T) {
	f := newEnrollFixture(t)
	var comps []Computer
	var creds []string
	for i := range 20 {
		c, cred := f.enroll(t, f.keyA, fmt.Sprintf("dev-%02d", i))
		comps, creds = append(comps, c), append(creds, cred)
	}
	must(t, f.s.Close())
	rawUpdate(t, f.path, func(tx *bolt.Tx) error {
		for _, b := range []string{bComputerDevices, bCredsByComputer} {
			if err := tx.DeleteBucket([]byte(b)); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte(bMeta)).Put([]byte(kSchemaVersion), utob(4))
	})
	s, err := Open(f.path, Options{})
	must(t, err)
	t.Cleanup(func() { _ = s.Close() })
	f.s = s
	if v := rawVersionOf(t, s); v != uint64(len(migrations())) {
		t.Fatalf("schema version %d after migration, want %d", v, len(migrations()))
	}
	for i, want := range comps {
		c, cred := f.enroll(t, f.keyA, want.DeviceID)
		if c.ID != want.ID {
			t.Fatalf("device %s enrolled as computer %d after migration, want %d", want.DeviceID, c.ID, want.ID)
		}
		if f.credOwner(t, creds[i]) != 0 || f.credOwner(t, cred) != c.ID {
			t.Fatalf("computer %d: re-enrolling after migration did not replace its credential", c.ID)
		}
	}
}

// rawVersionOf reads the schema version through an open store.
func rawVersionOf(t *testing.T, s *Store) uint64 {
	t.Helper()
	var v uint64
	must(t, s.db.View(func(tx *bolt.Tx) error {
		var err error
		v, err = readSchemaVersion(tx)
		return err
	}))
	return v
}
