package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

func TestCommitInstanceIsAllOrNothing(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	typeID := mustType(t, s, "T")
	id, err := s.ReserveInstanceID()
	if err != nil {
		t.Fatal(err)
	}
	// A failing commit (unknown type) writes nothing.
	bad := Instance{ID: id, Name: "x", TypeID: "no-such-type"}
	if err := s.CommitInstance(&bad, map[string]string{"Key": "k"}, json.RawMessage(`{"a":1}`)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if _, err := s.Instance(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("instance written by a failed commit: %v", err)
	}
	// An id that was never reserved is refused.
	if err := s.CommitInstance(&Instance{ID: id + 10, Name: "x", TypeID: typeID}, nil, nil); err == nil {
		t.Fatal("commit with an unreserved id succeeded")
	}
	inst := Instance{ID: id, Name: "x", TypeID: typeID, FormData: map[string]any{"Url": "https://x/"}}
	if err := s.CommitInstance(&inst, map[string]string{"Key": "k"}, json.RawMessage(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if inst.Health.Status != StatusPending || inst.CreatedAt.IsZero() {
		t.Fatalf("stored %+v", inst)
	}
	sec, _ := s.InstanceSecrets(id)
	ctx, _ := s.Context(id)
	if stored, _ := s.Instance(id); len(stored.SecretNames) != 1 || stored.SecretNames[0] != "Key" {
		t.Fatalf("secret names %v", stored.SecretNames)
	}
	if sec["Key"] != "k" || string(ctx) != `{"a":1}` {
		t.Fatalf("secrets %v context %s", sec, ctx)
	}
	// Replacing keeps CreatedAt and replaces secrets and context.
	created := inst.CreatedAt
	inst.Name = "y"
	if err := s.CommitInstance(&inst, nil, nil); err != nil {
		t.Fatal(err)
	}
	sec, _ = s.InstanceSecrets(id)
	ctx, _ = s.Context(id)
	if !inst.CreatedAt.Equal(created) || len(sec) != 0 || ctx != nil || inst.Name != "y" {
		t.Fatalf("after replace: %+v %v %s", inst, sec, ctx)
	}
}

func TestUpdateTenant(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	a := Tenant{Name: "Alpha"}
	b := Tenant{Name: "Beta"}
	if err := s.CreateTenant(&a); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTenant(&b); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		in   Tenant
		want error
	}{
		{"rename", Tenant{ID: a.ID, Name: "Alpha Two"}, nil},
		{"duplicate name", Tenant{ID: a.ID, Name: "beta"}, ErrConflict},
		{"duplicate slug", Tenant{ID: a.ID, Name: "Gamma", Slug: "beta"}, ErrConflict},
		{"unknown", Tenant{ID: 99, Name: "Z"}, ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			wantErr(t, s.UpdateTenant(&in), tc.want)
		})
	}
	got, _ := s.Tenant(a.ID)
	if got.Name != "Alpha Two" || got.Slug != "alpha" {
		t.Fatalf("got %+v", got)
	}
}

func TestInstancesAfter(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	for i := 0; i < 5; i++ {
		mustInstance(t, s, fmt.Sprintf("i%d", i))
	}
	cases := []struct {
		after int64
		limit int
		ids   []int64
		more  bool
	}{
		{0, 2, []int64{1, 2}, true},
		{2, 2, []int64{3, 4}, true},
		{4, 2, []int64{5}, false},
		{3, 0, []int64{4, 5}, false},
		{9, 2, nil, false},
	}
	for _, tc := range cases {
		got, more, err := s.InstancesAfter(tc.after, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, in := range got {
			ids = append(ids, in.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(tc.ids) || more != tc.more {
			t.Errorf("after %d limit %d: %v %v, want %v %v", tc.after, tc.limit, ids, more, tc.ids, tc.more)
		}
	}
}
