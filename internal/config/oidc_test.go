package config

import (
	"strings"
	"testing"
	"time"
)

// TestOIDCAndBaseURLSettings: the external issuer's settings and http.base-url load from YAML
// and the environment, and nonsense is refused naming the key.
func TestOIDCAndBaseURLSettings(t *testing.T) {
	cfg, err := load(t, "auth:\n  oidc:\n    issuer: https://login.microsoftonline.com/t/v2.0\n    audience: https://psbridge.example.com\n",
		[]string{"PSBRIDGE_AUTH_OIDC_JWKS_REFRESH_MIN_INTERVAL=5m", "PSBRIDGE_HTTP_BASE_URL=https://psbridge.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OIDCIssuer != "https://login.microsoftonline.com/t/v2.0" || cfg.OIDCAudience != "https://psbridge.example.com" ||
		cfg.OIDCRefreshEvery != 5*time.Minute || cfg.BaseURL != "https://psbridge.example.com" {
		t.Fatalf("loaded %+v", cfg)
	}
	if d := Default(); d.OIDCIssuer != "" || d.OIDCRefreshEvery != time.Minute {
		t.Fatalf("defaults %+v", d)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"issuer without audience", []string{"--auth.oidc.issuer", "https://login.example/t"}, "auth.oidc.audience is required when auth.oidc.issuer is set"},
		{"audience without issuer", []string{"--auth.oidc.audience", "x"}, "auth.oidc.audience is set but auth.oidc.issuer is not"},
		{"issuer not a URL", []string{"--auth.oidc.issuer", "login.example", "--auth.oidc.audience", "x"}, `auth.oidc.issuer: "login.example" is not an absolute http(s) URL`},
		{"plain http issuer", []string{"--auth.oidc.issuer", "http://login.example/t", "--auth.oidc.audience", "x"}, "auth.oidc.issuer: \"http://login.example/t\" must use https"},
		{"issuer with a query", []string{"--auth.oidc.issuer", "https://login.example/t?x=1", "--auth.oidc.audience", "x"}, "must have no query"},
		{"refresh too often", []string{"--auth.oidc.jwks-refresh-min-interval", "10ms"}, "auth.oidc.jwks-refresh-min-interval must be 1s or more"},
		{"base URL with a path", []string{"--http.base-url", "https://psbridge.example.com/api"}, "http.base-url: \"https://psbridge.example.com/api\" must be scheme://host[:port] without a path"},
		{"base URL without scheme", []string{"--http.base-url", "psbridge.example.com"}, "http.base-url:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, "", nil, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	for _, ok := range []string{"http://127.0.0.1:8081/realms/x", "http://localhost/realms/x", "http://[::1]:9000"} {
		if _, err := load(t, "", nil, "--auth.oidc.issuer", ok, "--auth.oidc.audience", "a"); err != nil {
			t.Errorf("loopback issuer %s refused: %v", ok, err)
		}
	}
}
