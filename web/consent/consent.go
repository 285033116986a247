// Package consent runs the OAuth 2.0 authorization-code flow of OAuth consent fields
// (New-OAuthConsentParameter in an integration's Init dynamicparam block) for the pages: Start
// sends the browser to the vendor's authorization endpoint with a state and a PKCE (S256)
// challenge, Finish checks the state the vendor sends back, exchanges the code at the vendor's
// token endpoint (with the code verifier and the client secret, which never reach the
// browser) and hands the tokens to the engine, which stores them sealed.
//
// A state is good once, for ten minutes, for the session and the integration that started it:
// a callback carrying another browser's state, or arriving twice, is refused.
package consent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/oauthtoken"
)

// CallbackPath is the path of integration id's redirect URI, the one to register with the
// vendor (behind the base URL).
func CallbackPath(id int64) string {
	return "/integrations/" + strconv.FormatInt(id, 10) + "/oauth/callback"
}

// Limits of pending flows.
const (
	// StateLifetime is how long a started flow waits for the vendor's callback.
	StateLifetime = 10 * time.Minute
	// MaxPending bounds the flows waiting at once; the oldest is dropped beyond it.
	MaxPending = 1000
)

// Options configures a Flow. The zero value is usable.
type Options struct {
	// BaseURL is psbridge's public URL (scheme://host[:port]) the redirect URI is built on.
	// Empty: taken from each request (its scheme and Host).
	BaseURL string
	// Client makes the token requests. Default: a client with a 30 s timeout.
	Client *http.Client
	// Now returns the current time. Default: time.Now.
	Now func() time.Time
}

// Engine is what a Flow needs of the engine.
type Engine interface {
	OAuthConsentConfig(id int64, field string) (bridge.OAuthConsent, string, error)
	ConnectOAuth(ctx context.Context, id int64, field string, tokens engine.OAuthTokens) (engine.InstanceView, error)
}

// Flow holds the flows in progress. Create it with New.
type Flow struct {
	eng  Engine
	opts Options

	mu      sync.Mutex
	pending map[string]*pending // by state
}

// pending is one started flow.
type pending struct {
	session     string // a hash of the pages session that started it
	instance    int64
	field       string
	verifier    string
	redirectURI string
	cfg         bridge.OAuthConsent
	expires     time.Time
}

// New returns a Flow serving eng's consent fields.
func New(eng Engine, opts Options) *Flow {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	return &Flow{eng: eng, opts: opts, pending: map[string]*pending{}}
}

// Error is a problem of the flow the user can act on; its message says what went wrong and
// never holds a token or the client secret. Failed token requests are this type too.
type Error = oauthtoken.Error

func userError(format string, args ...any) error {
	return &Error{Message: fmt.Sprintf(format, args...)}
}

// RedirectURI is integration id's redirect URI for request r.
func (f *Flow) RedirectURI(r *http.Request, id int64) string {
	base := f.opts.BaseURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + CallbackPath(id)
}

// Start begins the flow of instance id's consent field for session and returns the vendor URL
// to send the browser to.
func (f *Flow) Start(r *http.Request, session string, id int64, field string) (string, error) {
	cfg, name, err := f.eng.OAuthConsentConfig(id, field)
	if err != nil {
		return "", err
	}
	auth, err := url.Parse(cfg.AuthorizationEndpoint)
	if err != nil || (auth.Scheme != "https" && auth.Scheme != "http") || auth.Host == "" {
		return "", userError("%s: the authorization endpoint %q is not an absolute http(s) URL", name, cfg.AuthorizationEndpoint)
	}
	if u, err := url.Parse(cfg.TokenEndpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", userError("%s: the token endpoint %q is not an absolute http(s) URL", name, cfg.TokenEndpoint)
	}
	if cfg.ClientID == "" {
		return "", userError("%s: New-OAuthConsentParameter gave no client id", name)
	}
	state, verifier := random(), random()
	p := &pending{session: hash(session), instance: id, field: name, verifier: verifier,
		redirectURI: f.RedirectURI(r, id), cfg: cfg, expires: f.opts.Now().Add(StateLifetime)}
	f.put(state, p)

	q := auth.Query()
	for k, v := range cfg.ExtraQueryParameters {
		q.Set(k, v)
	}
	responseType := cfg.ResponseType
	if responseType == "" {
		responseType = "code"
	}
	q.Set("response_type", responseType)
	q.Set("client_id", cfg.ClientID)
	q.Set("redirect_uri", p.redirectURI)
	if cfg.Scope != "" {
		q.Set("scope", cfg.Scope)
	}
	if cfg.Resource != "" {
		q.Set("resource", cfg.Resource)
	}
	q.Set("state", state)
	sum := sha256.Sum256([]byte(verifier))
	q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
	q.Set("code_challenge_method", "S256")
	auth.RawQuery = q.Encode()
	return auth.String(), nil
}

func (f *Flow) put(state string, p *pending) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.opts.Now()
	for k, v := range f.pending {
		if now.After(v.expires) {
			delete(f.pending, k)
		}
	}
	if len(f.pending) >= MaxPending {
		var oldest string
		for k, v := range f.pending {
			if oldest == "" || v.expires.Before(f.pending[oldest].expires) {
				oldest = k
			}
		}
		delete(f.pending, oldest)
	}
	f.pending[state] = p
}

// take removes and returns the flow of state if it belongs to session and instance id.
func (f *Flow) take(state, session string, id int64) (*pending, error) {
	if state == "" {
		return nil, userError("the vendor sent no state back, so this answer cannot be matched to a Connect press: press Connect again")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pending[state]
	if !ok || f.opts.Now().After(p.expires) {
		delete(f.pending, state)
		return nil, userError("the state the vendor sent back is unknown, already used or expired (a flow lasts %s): press Connect again", StateLifetime)
	}
	if p.session != hash(session) || p.instance != id {
		// Not deleted: the browser that started it may still come back with it.
		return nil, userError("the state the vendor sent back belongs to another sign-in or integration (state mismatch): press Connect again from this page")
	}
	delete(f.pending, state)
	return p, nil
}

// Finish completes the flow with the vendor's callback query for session and instance id:
// it checks the state, exchanges the code and stores the tokens. It returns the field's name.
func (f *Flow) Finish(ctx context.Context, query url.Values, session string, id int64) (string, error) {
	p, err := f.take(query.Get("state"), session, id)
	if err != nil {
		return "", err
	}
	if e := query.Get("error"); e != "" {
		msg := fmt.Sprintf("%s: the vendor refused consent: %s", p.field, oauthtoken.Clip(e))
		if d := query.Get("error_description"); d != "" {
			msg += ": " + oauthtoken.Clip(d)
		}
		return p.field, &Error{Message: msg}
	}
	code := query.Get("code")
	if code == "" {
		return p.field, userError("%s: the vendor's answer has no code", p.field)
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {p.redirectURI},
		"code_verifier": {p.verifier},
	}
	tokens, err := oauthtoken.Request(ctx, f.opts.Client, f.opts.Now(), p.field, p.cfg, form)
	if err != nil {
		return p.field, err
	}
	tokens.Code = code
	if _, err := f.eng.ConnectOAuth(ctx, id, p.field, tokens); err != nil {
		return p.field, err
	}
	return p.field, nil
}

func random() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("consent: crypto/rand: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
