// Package oauth makes psbridge an OAuth2 authorization server for machine clients, in the
// shape Microsoft Entra ID gives ImmyBot's inbound integrations: applications (store.Application)
// get signed JWT access tokens with the client-credentials grant at /{tenant}/oauth2/v2.0/token,
// discovered at /{tenant}/.well-known/openid-configuration (and under /v2.0/), verified against
// the keys published at /{tenant}/discovery/v2.0/keys. {tenant} is the installation's
// directory id (store.DirectoryID); discovery also answers for any other name (a domain), as
// Entra does, pointing at the canonical one.
//
// Tokens follow RFC 9068 and RFC 8725: ES256 only (an explicit allowlist; "none" and HMAC are
// refused), typ "at+jwt", a kid naming a published key, iss, aud, exp, nbf and iat all required
// and checked, and the application looked up on every request so a deleted (revoked) app's
// tokens stop at once. Signing keys live sealed in the store and rotate.
package oauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/psbridge/psbridge/engine/store"
)

// Alg is the only signature algorithm psbridge issues and accepts.
const Alg = "ES256"

// TokenType is the JWT typ of access tokens (RFC 9068).
const TokenType = "at+jwt"

// Options configures the server. The zero value of each field picks its default.
type Options struct {
	// BaseURL is psbridge's public URL (scheme://host[:port]), the audience of its tokens and
	// the host of its issuer. Empty: taken from each request (scheme and Host).
	BaseURL string
	// TokenLifetime is how long an access token lives (default 1 h).
	TokenLifetime time.Duration
	// RotateEvery is how long a signing key signs before a new one replaces it (default 30
	// days); the old key stays published until the tokens it signed have expired.
	RotateEvery time.Duration
	// Leeway is the clock skew tolerated on exp, nbf and iat (default 30 s).
	Leeway time.Duration
	// Now returns the current time. Default: time.Now.
	Now func() time.Time
}

// Pattern is one route of the server.
type Pattern struct{ Method, Path string }

// Patterns lists the server's routes as the OpenAPI document spells them.
var Patterns = []Pattern{
	{"GET", "/{tenant}/.well-known/openid-configuration"},
	{"GET", "/{tenant}/v2.0/.well-known/openid-configuration"},
	{"GET", "/{tenant}/discovery/v2.0/keys"},
	{"POST", "/{tenant}/oauth2/v2.0/token"},
}

// Server issues and verifies access tokens.
type Server struct {
	st   *store.Store
	opts Options

	mu   sync.Mutex
	keys []key // oldest first; the last one signs
}

type key struct {
	kid     string
	priv    *ecdsa.PrivateKey
	created time.Time
}

// New returns the server for st.
func New(st *store.Store, opts Options) *Server {
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = time.Hour
	}
	if opts.RotateEvery <= 0 {
		opts.RotateEvery = 30 * 24 * time.Hour
	}
	if opts.Leeway <= 0 {
		opts.Leeway = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	return &Server{st: st, opts: opts}
}

// Principal is who an access token speaks for.
type Principal struct {
	ClientID string
	Name     string
	Admin    bool
}

// Role is the API role of the principal: admin apps are admins, others operators.
func (p Principal) Role() string {
	if p.Admin {
		return store.RoleAdmin
	}
	return store.RoleOperator
}

// BaseURL returns the public URL for a request: Options.BaseURL or the request's own.
func (s *Server) BaseURL(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return s.opts.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// Issuer returns the issuer of tokens for base URL base.
func (s *Server) Issuer(base string) (string, error) {
	dir, err := s.st.DirectoryID()
	if err != nil {
		return "", err
	}
	return base + "/" + dir + "/v2.0", nil
}

// ---- keys -------------------------------------------------------------------------------------

// load reads the stored keys once. Callers hold mu.
func (s *Server) load() error {
	if s.keys != nil {
		return nil
	}
	stored, err := s.st.SigningKeys()
	if err != nil {
		return err
	}
	s.keys = []key{}
	for _, sk := range stored {
		k, err := x509.ParsePKCS8PrivateKey(sk.PKCS8)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", sk.KID, err)
		}
		ec, ok := k.(*ecdsa.PrivateKey)
		if !ok || sk.Alg != Alg {
			continue // not ours to use
		}
		s.keys = append(s.keys, key{kid: sk.KID, priv: ec, created: sk.CreatedAt})
	}
	return nil
}

// signingKey returns the current key, making (and storing) a new one when there is none or
// the newest is older than RotateEvery, and retiring keys whose tokens have all expired.
func (s *Server) signingKey() (key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return key{}, err
	}
	now := s.opts.Now()
	if n := len(s.keys); n == 0 || now.Sub(s.keys[n-1].created) >= s.opts.RotateEvery {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return key{}, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return key{}, err
		}
		k := key{kid: uuid.NewString(), priv: priv, created: now}
		if err := s.st.PutSigningKey(store.SigningKey{KID: k.kid, Alg: Alg, PKCS8: der, CreatedAt: now}); err != nil {
			return key{}, err
		}
		s.keys = append(s.keys, k)
	}
	// A key stops signing when its successor appears; once every token it signed has
	// expired it is no longer published either.
	keep := s.keys[:0:0]
	for i, k := range s.keys {
		if i+1 < len(s.keys) && now.Sub(s.keys[i+1].created) > s.opts.TokenLifetime+s.opts.Leeway {
			if err := s.st.PutSigningKey(store.SigningKey{KID: k.kid}); err != nil {
				return key{}, err
			}
			continue
		}
		keep = append(keep, k)
	}
	s.keys = keep
	return s.keys[len(s.keys)-1], nil
}

// publicKey returns the public key kid names (nil when no published key has that id).
func (s *Server) publicKey(kid string) (*ecdsa.PublicKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return nil, err
	}
	for _, k := range s.keys {
		if k.kid == kid {
			return &k.priv.PublicKey, nil
		}
	}
	return nil, nil
}

// JWKS returns the published public keys.
func (s *Server) JWKS() (jose.JSONWebKeySet, error) {
	if _, err := s.signingKey(); err != nil { // make the first key, rotate and retire
		return jose.JSONWebKeySet{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range s.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: Alg, Use: "sig"})
	}
	return set, nil
}

// ---- tokens -----------------------------------------------------------------------------------

// Claims are an access token's claims.
type Claims struct {
	jwt.RegisteredClaims
	TenantID string   `json:"tid"`
	AppID    string   `json:"appid"`
	ClientID string   `json:"client_id"`
	Roles    []string `json:"roles,omitempty"`
}

// Issue signs an access token for app with audience base (the public URL) and returns it with
// its expiry.
func (s *Server) Issue(app store.Application, base string) (string, time.Time, error) {
	k, err := s.signingKey()
	if err != nil {
		return "", time.Time{}, err
	}
	iss, err := s.Issuer(base)
	if err != nil {
		return "", time.Time{}, err
	}
	dir, _ := s.st.DirectoryID()
	now := s.opts.Now().Truncate(time.Second)
	exp := now.Add(s.opts.TokenLifetime)
	p := Principal{ClientID: app.ClientID, Name: app.Name, Admin: app.Admin}
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: iss, Subject: app.ClientID, Audience: jwt.ClaimStrings{base},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
			ID: uuid.NewString(),
		},
		TenantID: dir, AppID: app.ClientID, ClientID: app.ClientID, Roles: []string{p.Role()},
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	t.Header["kid"] = k.kid
	t.Header["typ"] = TokenType
	signed, err := t.SignedString(k.priv)
	if err != nil {
		return "", time.Time{}, err
	}
	return signed, exp, nil
}

// ErrInvalidToken wraps every reason a token is refused.
var ErrInvalidToken = errors.New("invalid access token")

// LooksLikeJWT reports whether a bearer token has the shape of a JWS compact serialisation.
func LooksLikeJWT(tok string) bool {
	return strings.Count(tok, ".") == 2 && !strings.HasPrefix(tok, store.TokenPrefix)
}

// Verify checks an access token presented to a request and returns its principal. Every
// refusal wraps ErrInvalidToken and says why.
func (s *Server) Verify(r *http.Request, raw string) (Principal, error) {
	base := s.BaseURL(r)
	iss, err := s.Issuer(base)
	if err != nil {
		return Principal{}, err
	}
	var storeErr error
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{Alg}),
		jwt.WithIssuer(iss),
		jwt.WithAudience(base),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(s.opts.Leeway),
		jwt.WithTimeFunc(s.opts.Now),
	)
	var c Claims
	_, err = p.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); !strings.EqualFold(typ, TokenType) {
			return nil, fmt.Errorf("typ must be %q", TokenType)
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("the token names no key (kid)")
		}
		pk, err := s.publicKey(kid)
		if err != nil {
			storeErr = err
			return nil, err
		}
		if pk == nil {
			return nil, fmt.Errorf("no published key has the id %q", kid)
		}
		return pk, nil
	})
	if storeErr != nil {
		return Principal{}, storeErr
	}
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %s", ErrInvalidToken, strings.TrimPrefix(err.Error(), "token has invalid claims: "))
	}
	if c.NotBefore == nil {
		return Principal{}, fmt.Errorf("%w: nbf is required", ErrInvalidToken)
	}
	if c.Subject == "" || c.AppID != c.Subject {
		return Principal{}, fmt.Errorf("%w: sub and appid must name the application", ErrInvalidToken)
	}
	app, err := s.st.Application(c.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, fmt.Errorf("%w: the application %s was deleted", ErrInvalidToken, c.Subject)
	}
	if err != nil {
		return Principal{}, err
	}
	return Principal{ClientID: app.ClientID, Name: app.Name, Admin: app.Admin}, nil
}

// ---- HTTP -------------------------------------------------------------------------------------

// Wrap serves the discovery, JWKS and token routes in front of next. They are matched here
// rather than registered on a ServeMux because "/{tenant}/..." overlaps prefix patterns such as
// "GET /static/" that a mux refuses to hold together.
func (s *Server) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var h http.HandlerFunc
		method := ""
		for i, p := range Patterns {
			if tenant, ok := match(p.Path, r.URL.Path); ok {
				r.SetPathValue("tenant", tenant)
				method = p.Method
				h = [...]http.HandlerFunc{s.discovery, s.discovery, s.jwks, s.token}[i]
				break
			}
		}
		switch {
		case h == nil:
			next.ServeHTTP(w, r)
		case r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead):
			w.Header().Set("Allow", method)
			oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "use "+method)
		default:
			h(w, r)
		}
	})
}

// match reports whether path fits pattern (whose first segment is {tenant}) and returns the
// tenant segment.
func match(pattern, path string) (string, bool) {
	rest := strings.TrimPrefix(pattern, "/{tenant}")
	if !strings.HasSuffix(path, rest) || len(path) <= len(rest)+1 || path[0] != '/' {
		return "", false
	}
	tenant := path[1 : len(path)-len(rest)]
	if tenant == "" || strings.Contains(tenant, "/") {
		return "", false
	}
	return tenant, true
}

// tenantName accepts a directory id or a domain name in discovery.
var tenantName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$`)

func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	if !tenantName.MatchString(r.PathValue("tenant")) {
		oauthError(w, http.StatusNotFound, "invalid_tenant", "no such tenant")
		return
	}
	base := s.BaseURL(r)
	dir, err := s.st.DirectoryID()
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", "the directory id could not be read")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base + "/" + dir + "/v2.0",
		"token_endpoint":                        base + "/" + dir + "/oauth2/v2.0/token",
		"jwks_uri":                              base + "/" + dir + "/discovery/v2.0/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
		"grant_types_supported":                 []string{"client_credentials"},
		"response_types_supported":              []string{"token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{Alg},
		"scopes_supported":                      []string{base + "/.default"},
		"tenant_region_scope":                   nil,
	})
}

// canonical reports whether the path's tenant is this installation's directory id.
func (s *Server) canonical(w http.ResponseWriter, r *http.Request) bool {
	dir, err := s.st.DirectoryID()
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", "the directory id could not be read")
		return false
	}
	if r.PathValue("tenant") != dir {
		oauthError(w, http.StatusBadRequest, "invalid_request", "unknown tenant "+fmt.Sprintf("%q", r.PathValue("tenant"))+"; use the token_endpoint of the openid-configuration")
		return false
	}
	return true
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	if !s.canonical(w, r) {
		return
	}
	set, err := s.JWKS()
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", "the signing keys could not be read")
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, set)
}

// maxForm bounds the token request body.
const maxForm = 16 << 10

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if !s.canonical(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/x-www-form-urlencoded") {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the form does not parse")
		return
	}
	f := r.PostForm
	if gt := f.Get("grant_type"); gt != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "only grant_type=client_credentials is supported, not "+fmt.Sprintf("%q", gt))
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = f.Get("client_id"), f.Get("client_secret")
	}
	if id == "" || secret == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "client_id and client_secret are required")
		return
	}
	base := s.BaseURL(r)
	if scope := f.Get("scope"); scope != base+"/.default" && scope != base+"//.default" {
		oauthError(w, http.StatusBadRequest, "invalid_scope", "scope must be "+base+"/.default")
		return
	}
	app, ok, err := s.st.VerifyApplicationSecret(id, secret)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", "the client could not be checked")
		return
	}
	if !ok {
		if basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="psbridge"`)
		}
		oauthError(w, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
		return
	}
	tok, exp, err := s.Issue(app, base)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", "the token could not be signed")
		return
	}
	_ = exp
	secs := int(s.opts.TokenLifetime / time.Second)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok})
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
