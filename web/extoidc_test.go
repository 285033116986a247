package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/psbridge/psbridge/web/extoidc"
	"github.com/psbridge/psbridge/web/oauth"
)

// fakeIssuer is an OpenID Connect issuer (Entra's or Keycloak's part that psbridge uses):
// discovery and a JWKS on a real HTTP server on 127.0.0.1, and keys to sign tokens with.
type fakeIssuer struct {
	t       testing.TB
	srv     *httptest.Server
	fetches atomic.Int64 // JWKS requests

	mu        sync.Mutex
	published []jose.JSONWebKey
	keys      map[string]any // kid -> private key
}

func newFakeIssuer(t testing.TB) *fakeIssuer {
	f := &fakeIssuer{t: t, keys: map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": f.srv.URL, "jwks_uri": f.srv.URL + "/keys", "token_endpoint": f.srv.URL + "/token",
			"authorization_endpoint": f.srv.URL + "/authorize", "id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		f.fetches.Add(1)
		f.mu.Lock()
		defer f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: f.published})
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	f.addKey("rsa-1", "RS256", true)
	f.addKey("ec-1", "ES256", true)
	return f
}

// addKey makes a key of alg under kid, published in the JWKS or not.
func (f *fakeIssuer) addKey(kid, alg string, publish bool) {
	f.t.Helper()
	var priv, pub any
	switch alg {
	case "RS256":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			f.t.Fatal(err)
		}
		priv, pub = k, &k.PublicKey
	default:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			f.t.Fatal(err)
		}
		priv, pub = k, &k.PublicKey
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[kid] = priv
	if publish {
		f.published = append(f.published, jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"})
	}
}

// sign signs claims with the key under kid (header kid set to hdrKid) using go-jose.
func (f *fakeIssuer) sign(kid, hdrKid string, claims map[string]any) string {
	f.t.Helper()
	f.mu.Lock()
	priv := f.keys[kid]
	f.mu.Unlock()
	alg := jose.RS256
	if _, ok := priv.(*ecdsa.PrivateKey); ok {
		alg = jose.ES256
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if hdrKid != "" {
		opts = opts.WithHeader("kid", hdrKid)
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: priv}, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := sg.Sign(payload)
	if err != nil {
		f.t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

// unsigned is a token with alg none.
func unsigned(kid string, claims map[string]any) string {
	h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "JWT", "kid": kid})
	p, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "."
}

const extAudience = "https://psbridge.example.com"

// newOIDCServer starts psbridge trusting a fake issuer, with a settable clock.
func newOIDCServer(t *testing.T, refresh time.Duration) (*server, *fakeIssuer, *clock, *extoidc.Verifier) {
	t.Helper()
	f := newFakeIssuer(t)
	clk := newClock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := extoidc.New(ctx, extoidc.Options{Issuer: f.srv.URL, Audience: extAudience, RefreshMinInterval: refresh, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	s := newServerWith(t, lazyPool(t), Options{OIDC: v, OAuth: oauth.Options{Now: clk.now}})
	return s, f, clk, v
}

// TestExternalOIDC: tokens of a trusted external issuer act as the psbridge user their object
// id maps to; every token RFC 8725 says to refuse is refused, and psbridge's own tokens keep
// working next to them.
func TestExternalOIDC(t *testing.T) {
	s, f, clk, _ := newOIDCServer(t, time.Minute)
	const (
		adminOID = "0b5f1a2c-7d6e-4a8b-9c0d-1e2f3a4b5c6d" // an enterprise app's service principal
		opOID    = "1c6f2b3d-8e7f-4b9c-8d1e-2f3a4b5c6d7e"
		roOID    = "2d7a3c4e-9f8a-4cad-9e2f-3a4b5c6d7e8f"
		kcSub    = "f3b1c2d4-0000-4000-8000-000000000001" // Keycloak: no oid, sub
		strayOID = "3e8b4d5f-0a9b-4dbe-8f3a-4b5c6d7e8f90"
	)
	s.must(201, "POST", "/api/v1/users", map[string]any{"externalId": strings.ToUpper(adminOID), "name": "inbound app", "isAdmin": true}, nil)
	s.must(201, "POST", "/api/v1/users", map[string]any{"externalId": opOID, "name": "ops"}, nil)
	s.must(201, "POST", "/api/v1/users", map[string]any{"externalId": roOID, "role": "read-only"}, nil)
	s.must(201, "POST", "/api/v1/users", map[string]any{"externalId": kcSub, "role": "admin"}, nil)
	for _, bad := range []map[string]any{{"name": "x"}, {"externalId": opOID}, {"externalId": "x", "role": "root"}, {"externalId": "y", "role": "operator", "isAdmin": true}} {
		if r := s.do("POST", "/api/v1/users", bad, "Authorization", "Bearer "+s.token); r.status != 422 && r.status != 409 {
			t.Errorf("bad user %v: %d %s", bad, r.status, r.body)
		}
	}

	now := clk.now()
	claims := func(oid string, mod func(c map[string]any)) map[string]any {
		c := map[string]any{"iss": f.srv.URL, "aud": extAudience, "sub": "app-sub-" + oid, "oid": oid, "tid": "tenant-1",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if oid == "" {
			delete(c, "oid")
			c["sub"] = kcSub
		}
		if mod != nil {
			mod(c)
		}
		return c
	}
	hs256, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims(adminOID, nil))).SignedString([]byte("rsa-1"))
	good := f.sign("rsa-1", "rsa-1", claims(adminOID, nil))
	f.addKey("rogue", "RS256", false)

	cases := []struct {
		name, tok, method, path string
		want                    int
		says                    string
	}{
		{"admin user on an admin route", good, "GET", "/api/v1/tokens", 200, ""},
		{"admin user, ES256", f.sign("ec-1", "ec-1", claims(adminOID, nil)), "GET", "/api/v1/users", 200, ""},
		{"Keycloak-style sub, no oid", f.sign("rsa-1", "rsa-1", claims("", nil)), "GET", "/api/v1/tokens", 200, ""},
		{"operator on an operator route", f.sign("rsa-1", "rsa-1", claims(opOID, nil)), "POST", "/api/v1/tenants", 201, ""},
		{"operator on an admin route", f.sign("rsa-1", "rsa-1", claims(opOID, nil)), "GET", "/api/v1/tokens", 403, `"operator"`},
		{"read-only user writing", f.sign("rsa-1", "rsa-1", claims(roOID, nil)), "POST", "/api/v1/tenants", 403, `"read-only"`},
		{"read-only user reading", f.sign("rsa-1", "rsa-1", claims(roOID, nil)), "GET", "/api/v1/tenants", 200, ""},
		{"object id of no user", f.sign("rsa-1", "rsa-1", claims(strayOID, nil)), "GET", "/api/v1/tenants", 403, strayOID + " (claim oid) is not a psbridge user"},
		{"expired", f.sign("rsa-1", "rsa-1", claims(adminOID, func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() })), "GET", "/api/v1/tenants", 401, "expired"},
		{"no exp", f.sign("rsa-1", "rsa-1", claims(adminOID, func(c map[string]any) { delete(c, "exp") })), "GET", "/api/v1/tenants", 401, "expired"},
		{"not yet valid", f.sign("rsa-1", "rsa-1", claims(adminOID, func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() })), "GET", "/api/v1/tenants", 401, "nbf"},
		{"wrong audience", f.sign("rsa-1", "rsa-1", claims(adminOID, func(c map[string]any) { c["aud"] = "https://other.example" })), "GET", "/api/v1/tenants", 401, "audience"},
		{"wrong issuer", f.sign("rsa-1", "rsa-1", claims(adminOID, func(c map[string]any) { c["iss"] = "https://login.example/other/v2.0" })), "GET", "/api/v1/tenants", 401, "not valid"},
		{"alg none", unsigned("rsa-1", claims(adminOID, nil)), "GET", "/api/v1/tenants", 401, "not valid"},
		{"HS256 keyed with a kid", hs256, "GET", "/api/v1/tenants", 401, "not valid"},
		{"unknown kid", f.sign("rogue", "rogue", claims(adminOID, nil)), "GET", "/api/v1/tenants", 401, `publishes no key with the id \"rogue\"`},
		{"no kid", f.sign("rsa-1", "", claims(adminOID, nil)), "GET", "/api/v1/tenants", 401, "kid"},
		{"foreign key, real kid", f.sign("rogue", "rsa-1", claims(adminOID, nil)), "GET", "/api/v1/tenants", 401, "not valid"},
		{"tampered", good[:len(good)-4] + "AAAA", "GET", "/api/v1/tenants", 401, "not valid"},
		{"API token still works", s.token, "GET", "/api/v1/tokens", 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.withBearer(c.tok).do(c.method, c.path, map[string]any{"name": "Contoso " + c.name})
			if r.status != c.want {
				t.Fatalf("status %d, want %d: %s", r.status, c.want, r.body)
			}
			if c.want != 200 && c.want != 201 && !strings.Contains(string(r.body), c.says) {
				t.Errorf("body does not say %q: %s", c.says, r.body)
			}
		})
	}

	// psbridge's own application tokens keep working beside the issuer's; a revoked app's stop.
	var a app
	s.must(201, "POST", "/api/v1/applications", map[string]any{"name": "inbound", "admin": true}, &a)
	_, tok := getToken(t, s, a, "")
	own := tok["access_token"].(string)
	s.withBearer(own).must(200, "GET", "/api/v1/tokens", nil, nil)
	s.must(204, "DELETE", "/api/v1/applications/"+a.ClientID, nil, nil)
	if r := s.withBearer(own).do("GET", "/api/v1/tenants", nil); r.status != 401 {
		t.Errorf("revoked app: %d %s", r.status, r.body)
	}

	// Removing a user refuses its tokens from the next request on; the list shows the rest.
	s.must(204, "DELETE", "/api/v1/users/"+adminOID, nil, nil)
	if r := s.withBearer(good).do("GET", "/api/v1/tenants", nil); r.status != 403 || !strings.Contains(string(r.body), "not a psbridge user") {
		t.Errorf("removed user: %d %s", r.status, r.body)
	}
	var list struct {
		Items []struct{ ExternalID, Name, Role string } `json:"items"`
	}
	s.must(200, "GET", "/api/v1/users", nil, &list)
	if len(list.Items) != 3 || list.Items[0].ExternalID != kcSub && list.Items[0].ExternalID != opOID {
		t.Errorf("users: %+v", list.Items)
	}
	s.must(404, "DELETE", "/api/v1/users/"+adminOID, nil, nil)
}

// TestExternalOIDCKeyRefresh: a token naming a key the cache lacks makes psbridge fetch the
// issuer's keys again (so a rotated key works), but a flood of such tokens causes at most one
// fetch per refresh interval.
func TestExternalOIDCKeyRefresh(t *testing.T) {
	s, f, clk, v := newOIDCServer(t, time.Minute)
	const oid = "4f9c5e6a-1b0c-4ecf-9a4b-5c6d7e8f9a01"
	s.must(201, "POST", "/api/v1/users", map[string]any{"externalId": oid, "role": "admin"}, nil)
	if n := f.fetches.Load(); n != 1 || v.Fetches() != 1 {
		t.Fatalf("JWKS fetches at start: issuer saw %d, verifier made %d; want 1", n, v.Fetches())
	}
	claims := func() map[string]any {
		now := clk.now()
		return map[string]any{"iss": f.srv.URL, "aud": extAudience, "sub": oid, "oid": oid,
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	// The issuer rotates: a new key is published after psbridge cached the set.
	f.addKey("rsa-2", "RS256", true)
	rotated := f.sign("rsa-2", "rsa-2", claims())
	s.withBearer(rotated).must(401, "GET", "/api/v1/tenants", nil, nil)
	if n := f.fetches.Load(); n != 1 {
		t.Fatalf("a new kid within the interval of the start fetch fetched: %d fetches", n)
	}
	clk.advance(time.Minute)
	s.withBearer(rotated).must(200, "GET", "/api/v1/tenants", nil, nil)
	if n := f.fetches.Load(); n != 2 {
		t.Fatalf("a rotated key after the interval: %d fetches, want 2", n)
	}
	s.withBearer(rotated).must(200, "GET", "/api/v1/tenants", nil, nil)
	if n := f.fetches.Load(); n != 2 {
		t.Fatalf("a cached key fetched again: %d fetches", n)
	}

	// A flood of tokens with made-up kids, concurrently and across three intervals.
	f.addKey("forged", "RS256", false)
	flood := func(n int) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok := f.sign("forged", "kid-"+itoa(i), claims())
				req, _ := http.NewRequest("GET", s.http.URL+"/api/v1/tenants", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 401 {
					t.Errorf("forged kid %d: status %d", i, resp.StatusCode)
				}
			}()
		}
		wg.Wait()
	}
	for round := range 3 {
		clk.advance(time.Minute)
		flood(100)
		if n, want := f.fetches.Load(), int64(3+round); n != want {
			t.Fatalf("after flood %d: %d JWKS fetches, want %d (one per interval)", round+1, n, want)
		}
	}
	flood(100) // within the same interval: none
	if n := f.fetches.Load(); n != 5 {
		t.Fatalf("flood within an interval fetched: %d", n)
	}
}

// TestExternalOIDCDiscoveryErrors: New refuses an issuer that does not answer, one whose
// discovery names another issuer, and one whose keys cannot be fetched, saying which.
func TestExternalOIDCDiscoveryErrors(t *testing.T) {
	f := newFakeIssuer(t)
	mismatch := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": "https://elsewhere.example", "jwks_uri": f.srv.URL + "/keys"})
	}))
	defer mismatch.Close()
	var noKeys *httptest.Server
	noKeys = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/keys" {
			http.Error(w, "down", 503)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": noKeys.URL, "jwks_uri": noKeys.URL + "/keys"})
	}))
	defer noKeys.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	cases := []struct{ name, issuer, says string }{
		{"not answering", dead.URL, "discover"},
		{"issuer mismatch", mismatch.URL, "elsewhere.example"},
		{"keys unavailable", noKeys.URL, "HTTP 503"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := extoidc.New(ctx, extoidc.Options{Issuer: c.issuer, Audience: extAudience})
			if err == nil || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("err %v, want one saying %q", err, c.says)
			}
		})
	}
}
