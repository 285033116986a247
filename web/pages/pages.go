// Package pages is psbridge's browser interface: server-rendered HTML pages (html/template,
// assets embedded with embed, no build step at run time) for signing in with an API token,
// uploading integration types, configuring integrations through forms generated from Init's
// param() block, mapping clients to tenants, reading health history and the call log, and
// opening the debugging console (xterm.js over the console websocket).
//
// It exists so that people who configure integrations need neither curl nor the OpenAPI
// document: the REST API stays the machine interface, these pages are the human one, and both
// drive the same engine. Pages never render a secret: [Password()] values are write-only,
// $IntegrationContext and API tokens are never shown.
package pages

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/software"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/web/api"
	"github.com/psbridge/psbridge/web/consent"
	"github.com/psbridge/psbridge/web/httpx"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Cookie names and limits.
const (
	// SessionCookie holds the id of a signed-in browser session.
	SessionCookie = "psbridge_session"
	// SignInCookie holds the CSRF token of the sign-in form (before a session exists).
	SignInCookie = "psbridge_signin"
	// CSRFField is the hidden form field every POST form carries.
	CSRFField = "csrf"
	// DefaultSessionLifetime is how long a session lasts without signing in again.
	DefaultSessionLifetime = 12 * time.Hour
	// maxFormBody bounds page form submissions (type scripts included).
	maxFormBody = 4 << 20
)

// Options configures the pages. The zero value is usable.
type Options struct {
	// Logger receives errors the pages cannot show (never form values). Default: discard.
	Logger *zerolog.Logger
	// Console enables the Console tab (the server mounts the console websocket).
	Console bool
	// ConsolePath is the websocket path the Console page connects to.
	ConsolePath string
	// SessionLifetime bounds a session (default DefaultSessionLifetime).
	SessionLifetime time.Duration
	// Now returns the current time (default time.Now); tests set it.
	Now func() time.Time
	// BaseURL is psbridge's public URL, on which OAuth consent redirect URIs are built
	// (empty: each request's scheme and Host).
	BaseURL string
	// OAuthClient makes OAuth consent token requests (default: 30 s timeout).
	OAuthClient *http.Client
	// Software runs maintenance sessions (shared with the API so both follow live logs).
	// Nil: the software, deployment and session pages make their own.
	Software *software.Service
}

// Pages serves the HTML interface. Create it with New and add it to a mux with Register.
type Pages struct {
	eng   *engine.Engine
	opts  Options
	log   zerolog.Logger
	tmpls map[string]*template.Template
	// consent runs OAuth consent fields' authorization-code flows.
	consent *consent.Flow

	mu       sync.Mutex
	sessions map[string]*session
}

// session is one signed-in browser.
type session struct {
	id        string
	tokenID   string
	tokenName string
	role      string // the token's role, refreshed on every request
	csrf      string
	expires   time.Time
}

// pageFiles lists the page templates; each is parsed with layout.html.
var pageFiles = []string{
	"signin.html", "integrations.html", "choose-type.html", "instance-form.html", "overview.html",
	"clients.html", "agents.html", "webhook.html", "health.html", "calls.html", "console.html",
	"types.html", "type.html", "type-form.html", "error.html",
	"tenants.html", "tenant.html", "computers.html",
	"confirm.html", "modules.html", "module.html", "tokens.html",
	"software.html", "deployments.html", "sessions.html", "session.html",
}

// New parses the templates and returns the pages of eng.
func New(eng *engine.Engine, opts Options) (*Pages, error) {
	if opts.SessionLifetime <= 0 {
		opts.SessionLifetime = DefaultSessionLifetime
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ConsolePath == "" {
		opts.ConsolePath = "/api/v1/console/ws"
	}
	log := zerolog.Nop()
	if opts.Logger != nil {
		log = opts.Logger.With().Str("component", "pages").Logger()
	}
	if opts.Software == nil && eng != nil {
		opts.Software = software.New(eng, 0)
	}
	p := &Pages{eng: eng, opts: opts, log: log, tmpls: map[string]*template.Template{}, sessions: map[string]*session{}}
	p.consent = consent.New(eng, consent.Options{BaseURL: opts.BaseURL, Client: opts.OAuthClient, Now: opts.Now})
	for _, f := range pageFiles {
		t, err := template.New(f).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+f)
		if err != nil {
			return nil, fmt.Errorf("pages: parse %s: %w", f, err)
		}
		p.tmpls[f] = t
	}
	return p, nil
}

// Register adds every page, the sign-in and sign-out forms and /static/ to mux.
func (p *Pages) Register(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := p.current(r); ok {
			http.Redirect(w, r, "/integrations", http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, "/sign-in", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /sign-in", p.signInPage)
	mux.HandleFunc("POST /sign-in", p.signIn)
	mux.HandleFunc("POST /sign-out", p.post(p.signOut))

	mux.HandleFunc("GET /integrations", p.get(p.integrations))
	mux.HandleFunc("GET /integrations/new", p.get(p.writerOnly(p.newInstancePage)))
	mux.HandleFunc("POST /integrations/new", p.write(p.createInstance))
	mux.HandleFunc("GET /integrations/{id}", p.get(p.overview))
	mux.HandleFunc("GET /integrations/{id}/edit", p.get(p.writerOnly(p.editInstancePage)))
	mux.HandleFunc("POST /integrations/{id}/edit", p.write(p.updateInstance))
	mux.HandleFunc("POST /integrations/{id}/health-check", p.write(p.checkHealth))
	mux.HandleFunc("GET /integrations/{id}/clients", p.get(p.clients))
	mux.HandleFunc("POST /integrations/{id}/clients/refresh", p.write(p.refreshClients))
	mux.HandleFunc("POST /integrations/{id}/clients/map", p.write(p.mapClient))
	mux.HandleFunc("GET /integrations/{id}/agents", p.get(p.agents))
	mux.HandleFunc("POST /integrations/{id}/agents/sync", p.write(p.syncAgents))
	mux.HandleFunc("GET /integrations/{id}/webhook", p.get(p.webhook))
	mux.HandleFunc("GET /integrations/{id}/health", p.get(p.health))
	mux.HandleFunc("GET /integrations/{id}/calls", p.get(p.calls))
	mux.HandleFunc("GET /integrations/{id}/console", p.get(p.consolePage))
	mux.HandleFunc("GET /integrations/{id}/delete", p.get(p.writerOnly(p.deleteInstancePage)))
	mux.HandleFunc("POST /integrations/{id}/delete", p.write(p.deleteInstance))
	mux.HandleFunc("POST /integrations/{id}/webhook/secret", p.write(p.setWebhookSecret))
	mux.HandleFunc("GET /integrations/{id}/webhook/clear", p.get(p.writerOnly(p.clearWebhookSecretPage)))
	mux.HandleFunc("POST /integrations/{id}/webhook/clear", p.write(p.clearWebhookSecret))
	mux.HandleFunc("POST /integrations/{id}/oauth/{field}/connect", p.write(p.connectOAuth))
	mux.HandleFunc("GET /integrations/{id}/oauth/callback", p.get(p.oauthCallback))

	mux.HandleFunc("GET /types", p.get(p.types))
	mux.HandleFunc("GET /types/new", p.get(p.writerOnly(p.newTypePage)))
	mux.HandleFunc("POST /types/new", p.write(p.createType))
	mux.HandleFunc("GET /types/{id}", p.get(p.typePage))
	mux.HandleFunc("GET /types/{id}/edit", p.get(p.writerOnly(p.editTypePage)))
	mux.HandleFunc("POST /types/{id}/edit", p.write(p.replaceType))
	mux.HandleFunc("GET /types/{id}/delete", p.get(p.writerOnly(p.deleteTypePage)))
	mux.HandleFunc("POST /types/{id}/delete", p.write(p.deleteType))

	mux.HandleFunc("GET /modules", p.get(p.modules))
	mux.HandleFunc("POST /modules", p.write(p.uploadModule))
	mux.HandleFunc("GET /modules/{name}", p.get(p.modulePage))
	mux.HandleFunc("POST /modules/{name}", p.write(p.replaceModule))
	mux.HandleFunc("GET /modules/{name}/delete", p.get(p.writerOnly(p.deleteModulePage)))
	mux.HandleFunc("POST /modules/{name}/delete", p.write(p.deleteModule))

	mux.HandleFunc("GET /tokens", p.get(p.adminOnly(p.tokens)))
	mux.HandleFunc("POST /tokens", p.admin(p.createToken))
	mux.HandleFunc("GET /tokens/{tokenId}/revoke", p.get(p.adminOnly(p.revokeTokenPage)))
	mux.HandleFunc("POST /tokens/{tokenId}/revoke", p.admin(p.revokeToken))

	mux.HandleFunc("GET /tenants", p.get(p.tenants))
	mux.HandleFunc("GET /tenants/{id}", p.get(p.tenantPage))
	mux.HandleFunc("POST /tenants/{id}/enrollment-keys", p.write(p.createEnrollmentKey))
	mux.HandleFunc("POST /tenants/{id}/enrollment-keys/{keyId}/revoke", p.write(p.revokeEnrollmentKey))
	mux.HandleFunc("GET /tenants/{id}/computers", p.get(p.computers))

	mux.HandleFunc("GET /software", p.get(p.softwarePage))
	mux.HandleFunc("GET /deployments", p.get(p.deploymentsPage))
	mux.HandleFunc("POST /deployments", p.write(p.createDeployment))
	mux.HandleFunc("POST /deployments/{id}/delete", p.write(p.deleteDeployment))
	mux.HandleFunc("GET /sessions", p.get(p.sessionsPage))
	mux.HandleFunc("POST /sessions", p.write(p.runSession))
	mux.HandleFunc("GET /sessions/{id}", p.get(p.sessionPage))
	mux.HandleFunc("GET /sessions/{id}/log", p.get(p.sessionLog))
}

// User returns the API token id of the browser session of r (the console websocket's user),
// and whether r carries a valid session.
func (p *Pages) User(r *http.Request) (string, bool) {
	s, ok := p.current(r)
	if !ok {
		return "", false
	}
	return s.tokenID, true
}

// UserRole is User with the role of the session's token.
func (p *Pages) UserRole(r *http.Request) (id, role string, ok bool) {
	s, ok := p.current(r)
	if !ok {
		return "", "", false
	}
	return s.tokenID, s.role, true
}

// ---- sessions ----------------------------------------------------------------------------

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return base64.RawURLEncoding.EncodeToString(b)
}

// current returns the live session of r. A session whose API token was revoked ends.
func (p *Pages) current(r *http.Request) (*session, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil, false
	}
	now := p.opts.Now()
	p.mu.Lock()
	s := p.sessions[c.Value]
	if s != nil && now.After(s.expires) {
		delete(p.sessions, c.Value)
		s = nil
	}
	p.mu.Unlock()
	if s == nil {
		return nil, false
	}
	toks, err := p.eng.Store().Tokens()
	if err != nil {
		p.log.Error().Err(err).Msg("list API tokens to check a session")
		return nil, false
	}
	for _, t := range toks {
		if t.ID == s.tokenID {
			cp := *s
			cp.role = t.Role
			return &cp, true
		}
	}
	p.mu.Lock()
	delete(p.sessions, s.id)
	p.mu.Unlock()
	return nil, false
}

// newSession stores a session for a verified token and prunes expired ones.
func (p *Pages) newSession(tokenID, tokenName, role string) *session {
	now := p.opts.Now()
	s := &session{id: randomToken(), tokenID: tokenID, tokenName: tokenName, role: role, csrf: randomToken(), expires: now.Add(p.opts.SessionLifetime)}
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, old := range p.sessions {
		if now.After(old.expires) {
			delete(p.sessions, id)
		}
	}
	p.sessions[s.id] = s
	return s
}

func (p *Pages) endSession(s *session) {
	p.mu.Lock()
	delete(p.sessions, s.id)
	p.mu.Unlock()
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

// equalSecret compares two tokens in constant time; empty never matches.
func equalSecret(a, b string) bool {
	return a != "" && b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// handler is a page handler of a signed-in session.
type handler func(w http.ResponseWriter, r *http.Request, s *session)

// get requires a session; without one the browser goes to the sign-in page and comes back.
func (p *Pages) get(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := p.current(r)
		if !ok {
			http.Redirect(w, r, "/sign-in?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h(w, r, s)
	}
}

// post requires a session and the session's CSRF token in the form (403 otherwise).
func (p *Pages) post(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
		s, ok := p.current(r)
		if !ok {
			p.fail(w, r, nil, http.StatusUnauthorized, "Your session has ended: sign in again.")
			return
		}
		if err := parseForm(r); err != nil {
			p.fail(w, r, s, http.StatusBadRequest, "The form could not be read: "+err.Error())
			return
		}
		if !equalSecret(r.PostForm.Get(CSRFField), s.csrf) {
			p.fail(w, r, s, http.StatusForbidden, "The form's security token is missing or wrong. Reload the page and try again.")
			return
		}
		h(w, r, s)
	}
}

// canWrite reports whether the session may submit forms that change something.
func (s *session) canWrite() bool { return api.Permits(s.role, store.RoleOperator) }

// admin is post for forms only admin tokens may submit (API token management), as the API's
// /api/v1/tokens routes; other roles get 403.
func (p *Pages) admin(h handler) http.HandlerFunc {
	return p.post(p.adminOnly(h))
}

// adminOnly answers 403 to sessions whose token is not an admin token.
func (p *Pages) adminOnly(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		if s.role != store.RoleAdmin {
			p.fail(w, r, s, http.StatusForbidden, "API tokens are managed with admin tokens; you signed in with a "+s.role+" token.")
			return
		}
		h(w, r, s)
	}
}

// write is post for forms that change something: read-only tokens get 403.
func (p *Pages) write(h handler) http.HandlerFunc {
	return p.post(p.writerOnly(h))
}

// writerOnly answers 403 to sessions that may not change anything. Pages that only show a
// form for a change (edit, new, delete confirmations) use it too, so a read-only user who types
// such a URL is told so at once instead of filling in a form whose submit would be refused.
func (p *Pages) writerOnly(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		if !s.canWrite() {
			p.fail(w, r, s, http.StatusForbidden, "You signed in with a "+s.role+" token: it may look, not change anything.")
			return
		}
		h(w, r, s)
	}
}

func parseForm(r *http.Request) error {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		if err := r.ParseMultipartForm(maxFormBody); err != nil {
			return fmt.Errorf("parse multipart form: %w", err)
		}
		return nil
	}
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("parse form: %w", err)
	}
	return nil
}

// safeNext accepts only local absolute paths as a redirect target after sign-in. Any control
// character is refused: browsers drop tabs and newlines from URLs, so "/\t/evil.example"
// would become the scheme-relative "//evil.example" (and http.Redirect leaves a URL it cannot
// parse as it is).
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "/integrations"
	}
	return next
}

// ---- rendering ---------------------------------------------------------------------------

// page is what every template gets.
type page struct {
	Title   string
	Nav     string // "integrations", "types", "modules", "tenants", "software", "deployments", "sessions" or "tokens": the highlighted menu entry
	Signed  bool
	User    string // the API token's name
	CSRF    string
	Error   string
	Notice  string
	Console string // websocket path of the console
	// CanWrite is set for sessions that may submit forms that change something (operator and
	// admin tokens): pages show write forms only then.
	CanWrite bool
	// Admin is set for admin sessions (the Tokens page).
	Admin bool
	Data  any
}

// securityHeaders keeps pages out of frames and caches and limits what they may load.
func securityHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
}

// render executes a page template into a buffer first, so a template error is a clean 500.
func (p *Pages) render(w http.ResponseWriter, r *http.Request, s *session, status int, file string, pg page) {
	if s != nil {
		pg.Signed, pg.User, pg.CSRF = true, s.tokenName, s.csrf
		pg.CanWrite, pg.Admin = s.canWrite(), s.role == store.RoleAdmin
	}
	pg.Console = p.opts.ConsolePath
	var buf bytes.Buffer
	if err := p.tmpls[file].ExecuteTemplate(&buf, "layout", pg); err != nil {
		p.log.Error().Err(err).Str("request_id", httpx.RequestID(r.Context())).Str("template", file).Msg("render page")
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	securityHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail renders the error page.
func (p *Pages) fail(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	p.render(w, r, s, status, "error.html", page{Title: http.StatusText(status), Error: msg})
}

// funcs are the template helpers.
var funcs = template.FuncMap{
	// badge is the colour of a health status (store.Status*).
	"badge": func(status string) string {
		switch status {
		case store.StatusHealthy:
			return "ok"
		case store.StatusDegraded:
			return "warn"
		case store.StatusUnhealthy:
			return "bad"
		}
		return "muted"
	},
	// callBadge is the colour of a call status (store.Call*): completed with errors is amber.
	"callBadge": func(status string) string {
		switch status {
		case store.CallOK:
			return "ok"
		case store.CallCompletedWithErrors:
			return "warn"
		case store.CallFailed:
			return "bad"
		}
		return "muted"
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"dur": func(d time.Duration) string { return d.Round(time.Millisecond).String() },
}
