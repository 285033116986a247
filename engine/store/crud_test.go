package store

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestTypeRoundTrip(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	typ := IntegrationType{Name: "Acme RMM", Description: "d", Script: "param($x)", ScriptName: "acme.ps1",
		ScriptHash: "abc", Capabilities: []string{"Agents", "Clients"}, Schema: json.RawMessage(`{"params":[]}`)}
	if err := s.PutType(&typ); err != nil {
		t.Fatal(err)
	}
	got, err := s.Type(typ.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != typ.Name || !reflect.DeepEqual(got.Capabilities, typ.Capabilities) || string(got.Schema) != string(typ.Schema) || got.CreatedAt.IsZero() {
		t.Fatalf("got %+v, want %+v", got, typ)
	}
	created := got.CreatedAt
	typ.Description = "changed"
	if err := s.PutType(&typ); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Type(typ.ID)
	if got.Description != "changed" || !got.CreatedAt.Equal(created) {
		t.Fatalf("update: got %+v", got)
	}
	all, err := s.Types()
	if err != nil || len(all) != 1 {
		t.Fatalf("Types = %v, %v", all, err)
	}
	if err := s.DeleteType(typ.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Type(typ.ID)
	wantErr(t, err, ErrNotFound)
}

func TestInstanceRoundTrip(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	typeID := mustType(t, s, "T")
	inst := Instance{Name: "one", TypeID: typeID, FormData: map[string]any{"Url": "https://x", "Port": 443.0, "On": true}}
	if err := s.CreateInstance(&inst); err != nil {
		t.Fatal(err)
	}
	if inst.ID != 1 || inst.Health.Status != StatusPending {
		t.Fatalf("created %+v", inst)
	}
	got, err := s.Instance(1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.FormData, inst.FormData) || got.Name != "one" || !got.CreatedAt.Equal(inst.CreatedAt) {
		t.Fatalf("got %+v, want %+v", got, inst)
	}
	got.Disabled = true
	if err := s.PutInstance(&got); err != nil {
		t.Fatal(err)
	}
	upd, err := s.UpdateInstance(1, func(i *Instance) error {
		i.Health = Health{Status: StatusHealthy, Message: "ok"}
		return nil
	})
	if err != nil || !upd.Disabled || upd.Health.Status != StatusHealthy {
		t.Fatalf("UpdateInstance = %+v, %v", upd, err)
	}
	second := Instance{Name: "two", TypeID: typeID}
	if err := s.CreateInstance(&second); err != nil || second.ID != 2 {
		t.Fatalf("second = %+v, %v", second, err)
	}
	all, err := s.Instances()
	if err != nil || len(all) != 2 || all[0].ID != 1 || all[1].ID != 2 {
		t.Fatalf("Instances = %+v, %v", all, err)
	}
	wantErr(t, s.DeleteType(typeID), ErrConflict)
	if err := s.DeleteInstance(1); err != nil {
		t.Fatal(err)
	}
	_, err = s.Instance(1)
	wantErr(t, err, ErrNotFound)
}

func TestTenantsComputersModules(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	ten := Tenant{Name: "Contoso Ltd."}
	if err := s.CreateTenant(&ten); err != nil {
		t.Fatal(err)
	}
	if ten.ID != 1 || ten.Slug != "contoso-ltd" {
		t.Fatalf("tenant %+v", ten)
	}
	if got, err := s.Tenant(1); err != nil || got.Name != ten.Name {
		t.Fatalf("Tenant = %+v, %v", got, err)
	}
	comp := Computer{Name: "PC1", TenantID: ten.ID, DeviceID: "dev-1"}
	if err := s.CreateComputer(&comp); err != nil || comp.ID != 1 {
		t.Fatalf("CreateComputer = %+v, %v", comp, err)
	}
	if got, err := s.Computer(1); err != nil || got.DeviceID != "dev-1" {
		t.Fatalf("Computer = %+v, %v", got, err)
	}
	if all, err := s.Computers(); err != nil || len(all) != 1 {
		t.Fatalf("Computers = %+v, %v", all, err)
	}
	wantErr(t, s.DeleteTenant(ten.ID), ErrConflict) // a computer belongs to it

	if err := s.CreateModule(ModuleScript{Name: "Acme.Helpers", Script: "function A {}"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutModule(ModuleScript{Name: "acme.helpers", Script: "function B {}"}); err != nil {
		t.Fatal(err)
	}
	m, err := s.Module("ACME.HELPERS")
	if err != nil || m.Script != "function B {}" {
		t.Fatalf("Module = %+v, %v", m, err)
	}
	if all, err := s.Modules(); err != nil || len(all) != 1 {
		t.Fatalf("Modules = %+v, %v", all, err)
	}
	if err := s.DeleteModule("Acme.Helpers"); err != nil {
		t.Fatal(err)
	}
}

func TestTokens(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	plain, tok, err := s.CreateToken("ci")
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.VerifyToken(plain)
	if err != nil || !ok || got.ID != tok.ID || got.LastUsed.IsZero() {
		t.Fatalf("VerifyToken = %+v, %v, %v", got, ok, err)
	}
	if _, ok, _ := s.VerifyToken(plain + "x"); ok {
		t.Fatal("wrong token verified")
	}
	all, err := s.Tokens()
	if err != nil || len(all) != 1 || string(all[0].Hash) != string(tok.Hash) {
		t.Fatalf("Tokens = %+v, %v", all, err)
	}
	if b, _ := json.Marshal(tok); strings.Contains(strings.ToLower(string(b)), "hash") {
		t.Fatalf("APIToken JSON exposes the hash: %s", b)
	}
	if err := s.DeleteToken(tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.VerifyToken(plain); ok {
		t.Fatal("deleted token verified")
	}
}

func TestErrors(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	inst := mustInstance(t, s, "i")
	ten := Tenant{Name: "Fabrikam"}
	if err := s.CreateTenant(&ten); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateModule(ModuleScript{Name: "Mod"}); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceClients(inst.ID, []Client{{ExternalClientID: "c1"}, {ExternalClientID: "c2"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.LinkClient(inst.ID, "c1", ten.ID); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"type", func() error { _, err := s.Type("nope"); return err }, ErrNotFound},
		{"delete type", func() error { return s.DeleteType("nope") }, ErrNotFound},
		{"duplicate type name", func() error { return s.PutType(&IntegrationType{Name: "TYPE FOR I"}) }, ErrConflict},
		{"instance", func() error { _, err := s.Instance(99); return err }, ErrNotFound},
		{"instance of unknown type", func() error { return s.CreateInstance(&Instance{Name: "x", TypeID: "nope"}) }, ErrNotFound},
		{"put unknown instance", func() error { return s.PutInstance(&Instance{ID: 99, Name: "x", TypeID: inst.TypeID}) }, ErrNotFound},
		{"update unknown instance", func() error {
			_, err := s.UpdateInstance(99, func(*Instance) error { return nil })
			return err
		}, ErrNotFound},
		{"delete instance", func() error { return s.DeleteInstance(99) }, ErrNotFound},
		{"secrets", func() error { _, err := s.InstanceSecrets(99); return err }, ErrNotFound},
		{"put secrets", func() error { return s.PutInstanceSecrets(99, map[string]string{"a": "b"}) }, ErrNotFound},
		{"context", func() error { _, err := s.Context(99); return err }, ErrNotFound},
		{"webhook", func() error { return s.PutWebhookSecret(99, "x") }, ErrNotFound},
		{"tenant", func() error { _, err := s.Tenant(99); return err }, ErrNotFound},
		{"duplicate tenant name", func() error { return s.CreateTenant(&Tenant{Name: "fabrikam"}) }, ErrConflict},
		{"duplicate tenant slug", func() error { return s.CreateTenant(&Tenant{Name: "Other", Slug: "fabrikam"}) }, ErrConflict},
		{"delete tenant", func() error { return s.DeleteTenant(99) }, ErrNotFound},
		{"clients", func() error { _, err := s.Clients(99); return err }, ErrNotFound},
		{"link unknown client", func() error { return s.LinkClient(inst.ID, "nope", ten.ID) }, ErrNotFound},
		{"link unknown tenant", func() error { return s.LinkClient(inst.ID, "c2", 99) }, ErrNotFound},
		{"tenant linked twice", func() error { return s.LinkClient(inst.ID, "c2", ten.ID) }, ErrConflict},
		{"agents", func() error { return s.UpsertAgents(99, nil) }, ErrNotFound},
		{"link unknown agent", func() error { return s.LinkAgent(inst.ID, "nope", 0) }, ErrNotFound},
		{"delete unknown agent", func() error { return s.DeleteAgent(inst.ID, "nope") }, ErrNotFound},
		{"computer", func() error { _, err := s.Computer(99); return err }, ErrNotFound},
		{"computer of unknown tenant", func() error { return s.CreateComputer(&Computer{Name: "x", TenantID: 99}) }, ErrNotFound},
		{"health", func() error { return s.AddHealthEvent(HealthEvent{InstanceID: 99}) }, ErrNotFound},
		{"health events", func() error { _, err := s.HealthEvents(99, 0); return err }, ErrNotFound},
		{"call", func() error { return s.AppendCall(&CallLogEntry{InstanceID: 99}) }, ErrNotFound},
		{"calls", func() error { _, err := s.Calls(99, 0, 0); return err }, ErrNotFound},
		{"module", func() error { _, err := s.Module("nope"); return err }, ErrNotFound},
		{"duplicate module", func() error { return s.CreateModule(ModuleScript{Name: "MOD"}) }, ErrConflict},
		{"delete module", func() error { return s.DeleteModule("nope") }, ErrNotFound},
		{"delete token", func() error { return s.DeleteToken("nope") }, ErrNotFound},
		{"existing ok", func() error { _, err := s.Instance(inst.ID); return err }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantErr(t, tt.call(), tt.want) })
	}
}
