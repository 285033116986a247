package store

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestSecretsSealedAtRest(t *testing.T) {
	s, path := newTestStore(t, Options{})
	inst := mustInstance(t, s, "one")
	inst.FormData = map[string]any{"Url": "https://visible.example"}
	if err := s.PutInstance(&inst); err != nil {
		t.Fatal(err)
	}
	const (
		password = "hunter2-SECRET-password-31337"
		ctxValue = "SECRET-refresh-token-4242"
		webhook  = "SECRET-webhook-9999"
	)
	if err := s.PutInstanceSecrets(inst.ID, map[string]string{"Password": password}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutContext(inst.ID, json.RawMessage(`{"RefreshToken":"`+ctxValue+`"}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutWebhookSecret(inst.ID, webhook); err != nil {
		t.Fatal(err)
	}

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte("visible.example")) {
		t.Fatal("sanity: non-secret form data not found in the raw file")
	}
	for _, secret := range []string{password, ctxValue, webhook} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("secret %q found in plaintext in the database file", secret)
		}
	}

	got, err := s.InstanceSecrets(inst.ID)
	if err != nil || got["Password"] != password {
		t.Fatalf("InstanceSecrets = %v, %v", got, err)
	}
	ctx, err := s.Context(inst.ID)
	if err != nil || !strings.Contains(string(ctx), ctxValue) {
		t.Fatalf("Context = %s, %v", ctx, err)
	}
	hook, ok, err := s.WebhookSecret(inst.ID)
	if err != nil || !ok || hook != webhook {
		t.Fatalf("WebhookSecret = %q, %v, %v", hook, ok, err)
	}
	if stored, _ := s.Instance(inst.ID); !stored.WebhookSecretSet {
		t.Fatal("WebhookSecretSet not set")
	}
}

func TestSealedValueBoundToSlot(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	one, two := mustInstance(t, s, "one"), mustInstance(t, s, "two")
	const secret = "only-for-instance-one"
	if err := s.PutInstanceSecrets(one.ID, map[string]string{"Password": secret}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutContext(two.ID, json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		toBkt   string
		toID    int64
		readErr func() error
	}{
		{"other instance", bInstanceSecrets, two.ID, func() error { _, err := s.InstanceSecrets(two.ID); return err }},
		{"other bucket", bContexts, one.ID, func() error { _, err := s.Context(one.ID); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.db.Update(func(tx *bolt.Tx) error {
				v := bytes.Clone(bucket(tx, bInstanceSecrets).Get(itob(one.ID)))
				return bucket(tx, tt.toBkt).Put(itob(tt.toID), v)
			}); err != nil {
				t.Fatal(err)
			}
			err := tt.readErr()
			if err == nil {
				t.Fatal("a sealed value moved to another slot opened")
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error leaks the secret: %v", err)
			}
		})
	}
}

func TestSecretsKeptAndMerged(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	inst := mustInstance(t, s, "one")
	initial := map[string]string{"ApiKey": "k1", "Password": "p1", "Extra": "e1"}
	if err := s.PutInstanceSecrets(inst.ID, initial); err != nil {
		t.Fatal(err)
	}
	inst.Name = "renamed"
	if err := s.PutInstance(&inst); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateInstance(inst.ID, func(i *Instance) error { i.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		changed map[string]string
		remove  []string
		want    map[string]string
	}{
		{"no change after PutInstance", nil, nil, initial},
		{"change one", map[string]string{"Password": "p2"}, nil, map[string]string{"ApiKey": "k1", "Password": "p2", "Extra": "e1"}},
		{"add and remove", map[string]string{"New": "n"}, []string{"Extra"}, map[string]string{"ApiKey": "k1", "Password": "p2", "New": "n"}},
		{"remove unknown", nil, []string{"Missing"}, map[string]string{"ApiKey": "k1", "Password": "p2", "New": "n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.changed != nil || tt.remove != nil {
				if err := s.MergeInstanceSecrets(inst.ID, tt.changed, tt.remove); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.InstanceSecrets(inst.ID)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("secrets = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestDeleteInstanceCascades(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	one, two := mustInstance(t, s, "one"), mustInstance(t, s, "two")
	for _, inst := range []Instance{one, two} {
		must(t, s.PutInstanceSecrets(inst.ID, map[string]string{"P": "x"}))
		must(t, s.PutContext(inst.ID, json.RawMessage(`{"a":1}`)))
		must(t, s.PutWebhookSecret(inst.ID, "w"))
		must(t, s.ReplaceClients(inst.ID, []Client{{ExternalClientID: "c"}}))
		must(t, s.UpsertAgents(inst.ID, []Agent{{ExternalAgentID: "a"}}))
		must(t, s.AddHealthEvent(HealthEvent{InstanceID: inst.ID, Status: StatusHealthy}))
		must(t, s.AppendCall(&CallLogEntry{InstanceID: inst.ID, Method: "GetClients"}))
	}
	must(t, s.DeleteInstance(one.ID))
	if err := s.db.View(func(tx *bolt.Tx) error {
		for _, name := range []string{bInstanceSecrets, bContexts, bWebhookSecrets} {
			if bucket(tx, name).Get(itob(one.ID)) != nil {
				t.Errorf("%s still holds instance %d", name, one.ID)
			}
		}
		for _, name := range []string{bClients, bAgents, bHealth, bCallsByInstance} {
			if bucket(tx, name).Bucket(itob(one.ID)) != nil {
				t.Errorf("%s still holds instance %d", name, one.ID)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	calls, err := s.Calls(0, 0, 0)
	if err != nil || len(calls) != 1 || calls[0].InstanceID != two.ID {
		t.Fatalf("calls after delete = %+v, %v", calls, err)
	}
	if sec, err := s.InstanceSecrets(two.ID); err != nil || sec["P"] != "x" {
		t.Fatalf("other instance's secrets = %v, %v", sec, err)
	}
}

// must fails the test on a non-nil error.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
