package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestServeRefusesABadOIDCIssuer: an external issuer that does not answer, or whose
// discovery names another issuer, stops serve at start with an error naming the setting
// (and a bad pair of settings is refused before anything starts).
func TestServeRefusesABadOIDCIssuer(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"issuer":"https://elsewhere.example","jwks_uri":"https://elsewhere.example/keys"}`))
	}))
	defer other.Close()
	cases := []struct {
		name string
		args []string
		code int
		says []string
	}{
		{"not answering", []string{"--auth.oidc.issuer", dead.URL, "--auth.oidc.audience", "https://psbridge.example"}, exitEnv, []string{"auth.oidc.issuer " + dead.URL, "discover"}},
		{"another issuer", []string{"--auth.oidc.issuer", other.URL, "--auth.oidc.audience", "https://psbridge.example"}, exitEnv, []string{"auth.oidc.issuer", "elsewhere.example"}},
		{"no audience", []string{"--auth.oidc.issuer", other.URL}, exitUsage, []string{"auth.oidc.audience is required"}},
		{"plain http to a remote host", []string{"--auth.oidc.issuer", "http://login.example/t/v2.0", "--auth.oidc.audience", "x"}, exitUsage, []string{"auth.oidc.issuer", "https"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			var stdout, stderr syncBuffer
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--log.level", "warn", "--data-dir", dir}, c.args...)
			err := dispatch(context.Background(), args, &stdout, &stderr)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != c.code {
				t.Fatalf("serve = %v (%T), want exit %d\n%s", err, err, c.code, stderr.String())
			}
			for _, s := range c.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
}
