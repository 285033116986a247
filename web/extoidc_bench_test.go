package web

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/psbridge/psbridge/web/extoidc"
	"github.com/psbridge/psbridge/web/oauth"
)

// BenchmarkVerifyToken measures the API's bearer check (signature, claims, and the store
// lookup of the app or user) for psbridge's own ES256 token next to an external issuer's
// RS256 and ES256 tokens, and the external verification alone (no store lookup); keys are
// cached, so no iteration fetches a JWKS.
func BenchmarkVerifyToken(b *testing.B) {
	f := newFakeIssuer(b)
	ctx := context.Background()
	ext, err := extoidc.New(ctx, extoidc.Options{Issuer: f.srv.URL, Audience: extAudience})
	if err != nil {
		b.Fatal(err)
	}
	s := newServerWith(b, lazyPool(b), Options{OIDC: ext})
	const oid = "6b1e7a8c-3d2e-4a01-9c6d-7e8f9a0b1c23"
	s.must(201, "POST", "/api/v1/users", map[string]any{"externalId": oid, "isAdmin": true}, nil)
	var a app
	s.must(201, "POST", "/api/v1/applications", map[string]any{"name": "bench", "admin": true}, &a)
	as := oauth.New(s.st, oauth.Options{})
	stored, err := s.st.Application(a.ClientID)
	if err != nil {
		b.Fatal(err)
	}
	own, _, err := as.Issue(stored, s.http.URL)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	claims := map[string]any{"iss": f.srv.URL, "aud": extAudience, "sub": oid, "oid": oid,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	rs, es := f.sign("rsa-1", "rsa-1", claims), f.sign("ec-1", "ec-1", claims)

	check := bearer(s.st, as, ext)
	req := httptest.NewRequest("GET", s.http.URL+"/api/v1/tenants", nil)
	for _, c := range []struct{ name, tok string }{{"psbridge ES256", own}, {"external RS256", rs}, {"external ES256", es}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, ok, reason, err := check(req, c.tok); !ok || err != nil {
					b.Fatal(reason, err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
	for _, c := range []struct{ name, tok string }{{"external RS256 verify only", rs}, {"external ES256 verify only", es}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := ext.Verify(ctx, c.tok); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
	if n := f.fetches.Load(); n != 1 {
		b.Errorf("JWKS fetched %d times, want 1 (at start)", n)
	}
}
