package web

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/internal/testpwsh"
	"github.com/psbridge/psbridge/web/oauth"
)

// clock is a settable time source for the authorization server.
type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d)) }
func newClock() *clock                   { c := &clock{}; c.t.Store(time.Now().UnixNano()); return c }
func lazyPool(t testing.TB) *bridge.Pool {
	return testpwsh.Pool(t, bridge.Config{MinWorkers: 0, MaxWorkers: 1})
}

type app struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	TenantID     string `json:"tenantId"`
}

// discover follows the example's path: openid-configuration on a domain, then the token
// endpoint it names, form-encoded, scope {base}/.default.
func getToken(t *testing.T, s *server, a app, scope string) (int, map[string]any) {
	t.Helper()
	var cfg struct {
		TokenEndpoint string `json:"token_endpoint"`
		Issuer        string `json:"issuer"`
	}
	resp, err := http.Get(s.http.URL + "/contoso.example/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&cfg)
	resp.Body.Close()
	if !strings.Contains(cfg.TokenEndpoint, "/"+a.TenantID+"/oauth2/v2.0/token") || cfg.Issuer != s.http.URL+"/"+a.TenantID+"/v2.0" {
		t.Fatalf("discovery: %+v", cfg)
	}
	if scope == "" {
		scope = s.http.URL + "/.default"
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {a.ClientID}, "client_secret": {a.ClientSecret}, "scope": {scope}}
	resp, err = http.Post(cfg.TokenEndpoint, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

// bearerClient sends requests with another bearer token.
type bearerClient struct {
	s   *server
	tok string
}

func (s *server) withBearer(tok string) bearerClient { return bearerClient{s, tok} }

func (c bearerClient) do(method, path string, body any) response {
	c.s.t.Helper()
	return c.s.do(method, path, body, "Authorization", "Bearer "+c.tok)
}

func (c bearerClient) must(want int, method, path string, body any, out any) response {
	c.s.t.Helper()
	r := c.do(method, path, body)
	if r.status != want {
		c.s.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.body)
	}
	if out != nil {
		r.decode(c.s.t, out)
	}
	return r
}

// TestOAuthClientCredentials: an app gets a token the example's way, the API accepts it next
// to API tokens, admin apps are admins, others operators, keys rotate and stay published
// while their tokens live.
func TestOAuthClientCredentials(t *testing.T) {
	clk := newClock()
	s := newServerWith(t, lazyPool(t), Options{OAuth: oauth.Options{Now: clk.now, RotateEvery: 30 * time.Minute}})
	var admin, op app
	s.must(201, "POST", "/api/v1/applications", map[string]any{"name": "inbound", "admin": true}, &admin)
	s.must(201, "POST", "/api/v1/applications", map[string]any{"name": "ops"}, &op)
	if !strings.HasPrefix(admin.ClientSecret, "psbs_") || admin.TenantID == "" {
		t.Fatalf("created: %+v", admin)
	}
	list := s.must(200, "GET", "/api/v1/applications", nil, nil)
	if strings.Contains(string(list.body), admin.ClientSecret) || strings.Contains(string(list.body), "secretHash") {
		t.Fatalf("list shows secrets: %s", list.body)
	}

	code, tok := getToken(t, s, admin, "")
	if code != 200 || tok["token_type"] != "Bearer" || tok["expires_in"].(float64) != 3600 {
		t.Fatalf("token: %d %v", code, tok)
	}
	as := s.withBearer(tok["access_token"].(string))
	as.must(200, "GET", "/api/v1/tokens", nil, nil) // admin route
	s.must(200, "GET", "/api/v1/tokens", nil, nil)  // API tokens keep working

	_, otok := getToken(t, s, op, "")
	os := s.withBearer(otok["access_token"].(string))
	os.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "Contoso"}, nil) // operator route
	for _, rt := range [][2]string{{"GET", "/api/v1/tokens"}, {"POST", "/api/v1/applications"}, {"GET", "/api/v1/applications"}} {
		r := os.do(rt[0], rt[1], map[string]any{"name": "x"})
		if r.status != 403 || r.problem(t)["requiredRole"] != "admin" {
			t.Errorf("non-admin app on %s %s: %d %s", rt[0], rt[1], r.status, r.body)
		}
	}

	// Rotation: after RotateEvery a new key signs; the old one stays published while its
	// tokens live, then goes.
	jwks := func() []string {
		var set struct {
			Keys []struct {
				Kid string `json:"kid"`
				Alg string `json:"alg"`
			} `json:"keys"`
		}
		s.must(200, "GET", "/"+admin.TenantID+"/discovery/v2.0/keys", nil, &set)
		var kids []string
		for _, k := range set.Keys {
			if k.Alg != "ES256" {
				t.Fatalf("alg %q", k.Alg)
			}
			kids = append(kids, k.Kid)
		}
		return kids
	}
	first := jwks()
	if len(first) != 1 {
		t.Fatalf("keys before rotation: %v", first)
	}
	clk.advance(31 * time.Minute)
	_, tok2 := getToken(t, s, admin, "")
	if k := jwks(); len(k) != 2 {
		t.Fatalf("keys after rotation: %v", k)
	}
	as.must(200, "GET", "/api/v1/tokens", nil, nil) // old key's token still verifies
	s.withBearer(tok2["access_token"].(string)).must(200, "GET", "/api/v1/tokens", nil, nil)
	clk.advance(time.Hour + time.Minute)
	if k := jwks(); slices.Contains(k, first[0]) {
		t.Fatalf("keys after the old key's tokens expired: %v still has %s", k, first[0])
	}
	if r := as.do("GET", "/api/v1/tokens", nil); r.status != 401 {
		t.Fatalf("expired token: %d", r.status)
	}

	// Bad grants.
	if code, out := getToken(t, s, app{ClientID: admin.ClientID, ClientSecret: "psbs_wrong", TenantID: admin.TenantID}, ""); code != 401 || out["error"] != "invalid_client" {
		t.Errorf("wrong secret: %d %v", code, out)
	}
	if code, out := getToken(t, s, admin, "https://elsewhere.example/.default"); code != 400 || out["error"] != "invalid_scope" {
		t.Errorf("wrong scope: %d %v", code, out)
	}
}

// TestOAuthRefusals: each token RFC 8725 says to refuse is refused with 401 and a reason.
func TestOAuthRefusals(t *testing.T) {
	clk := newClock()
	s := newServerWith(t, lazyPool(t), Options{OAuth: oauth.Options{Now: clk.now}})
	var a app
	s.must(201, "POST", "/api/v1/applications", map[string]any{"name": "inbound", "admin": true}, &a)
	_, tok := getToken(t, s, a, "")
	good := tok["access_token"].(string)
	s.withBearer(good).must(200, "GET", "/api/v1/tenants", nil, nil)

	keys, err := s.st.SigningKeys()
	if err != nil || len(keys) != 1 {
		t.Fatal(keys, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(keys[0].PKCS8)
	if err != nil {
		t.Fatal(err)
	}
	priv := k.(*ecdsa.PrivateKey)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := clk.now()
	base := s.http.URL
	claims := func(mod func(c jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": base + "/" + a.TenantID + "/v2.0", "aud": base, "sub": a.ClientID, "appid": a.ClientID,
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	sign := func(m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
		tk := jwt.NewWithClaims(m, c)
		tk.Header["typ"] = "at+jwt"
		if kid != "" {
			tk.Header["kid"] = kid
		}
		out, err := tk.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	kid := keys[0].KID
	// The forger's control: the same claims with the real key pass.
	s.withBearer(sign(jwt.SigningMethodES256, priv, kid, claims(nil))).must(200, "GET", "/api/v1/tenants", nil, nil)

	pub, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	noTyp := jwt.NewWithClaims(jwt.SigningMethodES256, claims(nil))
	noTyp.Header["kid"] = kid
	noTypS, _ := noTyp.SignedString(priv)
	cases := map[string]struct{ tok, reason string }{
		"expired":                   {sign(jwt.SigningMethodES256, priv, kid, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })), "expired"},
		"wrong audience":            {sign(jwt.SigningMethodES256, priv, kid, claims(func(c jwt.MapClaims) { c["aud"] = "https://other.example" })), "audience"},
		"wrong issuer":              {sign(jwt.SigningMethodES256, priv, kid, claims(func(c jwt.MapClaims) { c["iss"] = "https://login.example/x/v2.0" })), "issuer"},
		"not yet valid":             {sign(jwt.SigningMethodES256, priv, kid, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })), "not valid yet"},
		"no exp":                    {sign(jwt.SigningMethodES256, priv, kid, claims(func(c jwt.MapClaims) { delete(c, "exp") })), "exp"},
		"no nbf":                    {sign(jwt.SigningMethodES256, priv, kid, claims(func(c jwt.MapClaims) { delete(c, "nbf") })), "nbf"},
		"alg none":                  {sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, claims(nil)), "signing method"},
		"HS256 with the public key": {sign(jwt.SigningMethodHS256, pub, kid, claims(nil)), "signing method"},
		"unknown kid":               {sign(jwt.SigningMethodES256, other, "not-a-key", claims(nil)), "no published key"},
		"no kid":                    {sign(jwt.SigningMethodES256, priv, "", claims(nil)), "kid"},
		"foreign key, real kid":     {sign(jwt.SigningMethodES256, other, kid, claims(nil)), "signature"},
		"no typ":                    {noTypS, "typ"},
		"tampered":                  {good[:len(good)-4] + "AAAA", "signature"},
	}
	for name, c := range cases {
		r := s.withBearer(c.tok).do("GET", "/api/v1/tenants", nil)
		if r.status != 401 {
			t.Errorf("%s: status %d, want 401: %s", name, r.status, r.body)
			continue
		}
		if d, _ := r.problem(t)["detail"].(string); !strings.Contains(d, c.reason) {
			t.Errorf("%s: detail %q does not say %q", name, d, c.reason)
		}
	}

	// A revoked (deleted) application's tokens stop at once; its secret too.
	s.must(204, "DELETE", "/api/v1/applications/"+a.ClientID, nil, nil)
	if r := s.withBearer(good).do("GET", "/api/v1/tenants", nil); r.status != 401 || !strings.Contains(string(r.body), "deleted") {
		t.Errorf("revoked app: %d %s", r.status, r.body)
	}
	if code, _ := getToken(t, s, a, ""); code != 401 {
		t.Errorf("revoked app got a token: %d", code)
	}
}
