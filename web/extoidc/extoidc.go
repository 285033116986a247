// Package extoidc makes psbridge trust access tokens of an external OpenID Connect issuer
// (Microsoft Entra ID, Keycloak, ...): the issuer is discovered once at start
// (/.well-known/openid-configuration, with go-oidc), its signing keys (JWKS) are cached, and
// a token whose kid is not in the cache makes psbridge fetch the keys again, at most once per
// RefreshMinInterval, so a flood of tokens with made-up kids cannot turn psbridge into a
// client flooding the issuer. Tokens must be RS256 or ES256 ("none", HMAC and the rest are
// refused before any key is looked at), name the configured audience, be issued by the
// configured issuer and be unexpired.
//
// The identity a token speaks for is its object id: Entra's oid claim (the object id of the
// user or of the enterprise application's service principal, ImmyBot's "AD External ID"),
// or sub when the token has no oid (Keycloak and most other issuers). Mapping that id to a
// psbridge user and role is the caller's job (web, with store.User).
package extoidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
)

// Algs are the signature algorithms accepted, an explicit allowlist (RFC 8725 §3.1).
var Algs = []string{"RS256", "ES256"}

// DefaultRefreshMinInterval is the least time between two JWKS fetches caused by unknown key
// ids when Options.RefreshMinInterval is zero.
const DefaultRefreshMinInterval = time.Minute

// maxJWKS bounds a JWKS document.
const maxJWKS = 1 << 20

// Options configures a Verifier.
type Options struct {
	// Issuer is the issuer URL, exactly as the tokens' iss claim and the discovery document
	// spell it (Entra v2 tokens: https://login.microsoftonline.com/{tenant}/v2.0).
	Issuer string
	// Audience is the value the tokens' aud claim must contain (Entra: the application ID URI
	// or client id of the API app, e.g. https://psbridge.example.com).
	Audience string
	// RefreshMinInterval is the least time between two JWKS fetches caused by unknown kids
	// (default DefaultRefreshMinInterval).
	RefreshMinInterval time.Duration
	// Client makes the discovery and JWKS requests. Default: a client with a 10 s timeout.
	Client *http.Client
	// Now returns the current time (token expiry, refresh interval). Default: time.Now.
	Now func() time.Time
}

// ErrInvalidToken wraps every reason a token is refused.
var ErrInvalidToken = errors.New("invalid access token")

// Verifier checks the issuer's tokens.
type Verifier struct {
	opts     Options
	keys     *keySet
	verifier *oidc.IDTokenVerifier
}

// Identity is whom a verified token speaks for.
type Identity struct {
	// ObjectID is the oid claim, or sub when there is no oid.
	ObjectID string
	// Claim names the claim ObjectID came from ("oid" or "sub").
	Claim string
	// Name is a display name from the token (name, preferred_username or app_displayname), if any.
	Name string
}

// New discovers the issuer and fetches its keys once; ctx bounds both. An error names what
// failed (discovery, an issuer mismatch, the JWKS) so the caller can name the setting.
func New(ctx context.Context, opts Options) (*Verifier, error) {
	if opts.Issuer == "" || opts.Audience == "" {
		return nil, errors.New("the issuer and the audience are both required")
	}
	if opts.RefreshMinInterval <= 0 {
		opts.RefreshMinInterval = DefaultRefreshMinInterval
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, opts.Client), opts.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", opts.Issuer, err)
	}
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKSURI == "" {
		return nil, fmt.Errorf("discover %s: the openid-configuration names no jwks_uri", opts.Issuer)
	}
	ks := &keySet{url: meta.JWKSURI, client: opts.Client, min: opts.RefreshMinInterval, now: opts.Now}
	if err := ks.fetch(ctx); err != nil {
		return nil, fmt.Errorf("keys of %s: %w", opts.Issuer, err)
	}
	v := oidc.NewVerifier(opts.Issuer, ks, &oidc.Config{ClientID: opts.Audience, SupportedSigningAlgs: Algs, Now: opts.Now})
	return &Verifier{opts: opts, keys: ks, verifier: v}, nil
}

// Issuer returns the configured issuer.
func (v *Verifier) Issuer() string { return v.opts.Issuer }

// Fetches returns how many times the JWKS was requested (the one at start included).
func (v *Verifier) Fetches() int64 { return v.keys.fetches.Load() }

// Owns reports whether raw's (unverified) iss claim is this issuer, which is how the API
// tells the issuer's tokens from psbridge's own. Verify still checks everything.
func (v *Verifier) Owns(raw string) bool {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || len(parts[1]) > 64<<10 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var c struct {
		Iss string `json:"iss"`
	}
	return json.Unmarshal(b, &c) == nil && c.Iss == v.opts.Issuer
}

// Verify checks raw (signature with the issuer's keys, alg, iss, aud, exp, nbf) and returns
// its identity. Every refusal wraps ErrInvalidToken and says why.
func (v *Verifier) Verify(ctx context.Context, raw string) (Identity, error) {
	tok, err := v.verifier.Verify(oidc.ClientContext(ctx, v.opts.Client), raw)
	if err != nil {
		var te *oidc.TokenExpiredError
		if errors.As(err, &te) {
			return Identity{}, fmt.Errorf("%w: the token expired at %s", ErrInvalidToken, te.Expiry.UTC().Format(time.RFC3339))
		}
		return Identity{}, fmt.Errorf("%w: %s", ErrInvalidToken, strings.TrimPrefix(err.Error(), "oidc: "))
	}
	var c struct {
		OID     string `json:"oid"`
		Name    string `json:"name"`
		UPN     string `json:"preferred_username"`
		AppName string `json:"app_displayname"`
	}
	if err := tok.Claims(&c); err != nil {
		return Identity{}, fmt.Errorf("%w: the claims do not decode: %v", ErrInvalidToken, err)
	}
	id := Identity{ObjectID: c.OID, Claim: "oid", Name: firstNonEmpty(c.Name, c.UPN, c.AppName)}
	if id.ObjectID == "" {
		id.ObjectID, id.Claim = tok.Subject, "sub"
	}
	if id.ObjectID == "" {
		return Identity{}, fmt.Errorf("%w: the token has neither an oid nor a sub claim", ErrInvalidToken)
	}
	return id, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// keySet is an oidc.KeySet over the issuer's JWKS: cached, refetched when a token names a
// key id the cache lacks, but at most once per min (go-oidc's RemoteKeySet refetches on every
// such token, only merging concurrent fetches).
type keySet struct {
	url    string
	client *http.Client
	min    time.Duration
	now    func() time.Time

	fetchMu sync.Mutex // one fetch at a time; waiters then see the fresh keys
	mu      sync.RWMutex
	keys    []jose.JSONWebKey
	last    time.Time // when the last fetch was started, successful or not
	fetches atomic.Int64
}

// VerifySignature implements oidc.KeySet. The verifier has already checked alg against Algs.
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	algs := make([]jose.SignatureAlgorithm, len(Algs))
	for i, a := range Algs {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	jws, err := jose.ParseSigned(raw, algs)
	if err != nil {
		return nil, fmt.Errorf("malformed token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("the token must have exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	if kid == "" {
		return nil, errors.New("the token names no key (kid)")
	}
	if key, ok := k.find(kid); ok {
		return jws.Verify(&key)
	}
	seen := k.lastFetch()
	k.fetchMu.Lock()
	// Another request may have fetched while this one waited; otherwise fetch if allowed.
	if k.lastFetch().Equal(seen) && k.now().Sub(seen) >= k.min {
		if err := k.fetch(ctx); err != nil {
			k.fetchMu.Unlock()
			return nil, fmt.Errorf("no cached key has the id %q and the keys could not be fetched again: %w", kid, err)
		}
	}
	k.fetchMu.Unlock()
	if key, ok := k.find(kid); ok {
		return jws.Verify(&key)
	}
	return nil, fmt.Errorf("the issuer publishes no key with the id %q", kid)
}

func (k *keySet) find(kid string) (jose.JSONWebKey, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, key := range k.keys {
		if key.KeyID == kid {
			return key, true
		}
	}
	return jose.JSONWebKey{}, false
}

func (k *keySet) lastFetch() time.Time {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.last
}

// fetch replaces the cached keys with the JWKS. A failed fetch keeps the old keys but still
// counts for the rate limit.
func (k *keySet) fetch(ctx context.Context) error {
	k.fetches.Add(1)
	k.mu.Lock()
	k.last = k.now()
	k.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return fmt.Errorf("jwks_uri %s: %w", k.url, err)
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", k.url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKS))
	if err != nil {
		return fmt.Errorf("fetch %s: %w", k.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch %s: HTTP %d", k.url, resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return fmt.Errorf("fetch %s: not a JWKS: %w", k.url, err)
	}
	keys := set.Keys[:0:0]
	for _, key := range set.Keys {
		if key.IsPublic() && key.Valid() && (key.Use == "" || key.Use == "sig") {
			keys = append(keys, key)
		}
	}
	k.mu.Lock()
	k.keys = keys
	k.mu.Unlock()
	return nil
}
