// Package web assembles psbridge's HTTP surface: the REST API (web/api) under /api/v1, the
// plugin endpoint (web/plugin) under /plugins/api/v1, the OpenAPI document at
// /api/openapi.yaml, the browser pages (web/pages) and the console websocket, behind one
// middleware that gives every request an id, recovers panics and logs requests. It exists so `psbridge serve`, the demo and the tests build the same server.
package web

import (
	_ "embed"
	"net/http"
	"sort"

	"github.com/rs/zerolog"

	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/software"
	"github.com/psbridge/psbridge/web/agentws"
	"github.com/psbridge/psbridge/web/api"
	"github.com/psbridge/psbridge/web/console"
	"github.com/psbridge/psbridge/web/extoidc"
	"github.com/psbridge/psbridge/web/httpx"
	"github.com/psbridge/psbridge/web/oauth"
	"github.com/psbridge/psbridge/web/ops"
	"github.com/psbridge/psbridge/web/pages"
	"github.com/psbridge/psbridge/web/plugin"
)

// OpenAPI is the OpenAPI 3.1 document of every route, served at /api/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

// OpenAPIPath is where the document is served (without authentication).
const OpenAPIPath = "/api/openapi.yaml"

// Options configures the server. The zero value is usable.
type Options struct {
	// MaxBody bounds request bodies of the API and the plugin endpoint (default 1 MiB).
	MaxBody int64
	// Webhook configures the plugin endpoint's body deadline and per-integration rate limit
	// (MaxBody and Logger are taken from these Options).
	Webhook plugin.Options
	// Logger receives service logs. Default: discard.
	Logger *zerolog.Logger
	// Ops serves /healthz, /readyz and /metrics and drains calls on shutdown. Default: one
	// watching the engine's store and pool.
	Ops *ops.Ops
	// Console serves the debugging console websocket at ConsolePath and enables the pages'
	// Console tab; nil answers that path with 404. The caller closes it.
	Console *console.Manager
	// OAuth configures psbridge's OAuth2 authorization server (web/oauth), whose access tokens
	// the API accepts next to API tokens.
	OAuth oauth.Options
	// OIDC, when set, makes the API also accept access tokens of that external issuer for
	// the users mapped to their object ids (store.User). Build it with extoidc.New.
	OIDC *extoidc.Verifier
	// Software runs maintenance sessions for the API; the caller shuts it down (serve does, so
	// that shutdown cancels running sessions). Nil: the API makes its own.
	Software *software.Service
}

// New returns the handler serving the API, the plugin endpoint and the OpenAPI document.
func New(eng *engine.Engine, opts Options) http.Handler {
	log := zerolog.Nop()
	if opts.Logger != nil {
		log = opts.Logger.With().Str("component", "http").Logger()
	}
	mux := http.NewServeMux()
	sw := opts.Software // one for the API and the pages, so both follow live session logs
	if sw == nil && eng != nil {
		sw = software.New(eng, 0)
	}
	if sw != nil {
		if err := sw.Resume(); err != nil {
			log.Error().Err(err).Msg("resume maintenance sessions")
		}
	}
	ao := api.Options{MaxBody: opts.MaxBody, Logger: opts.Logger, Software: sw}
	var as *oauth.Server
	if eng != nil {
		as = oauth.New(eng.Store(), opts.OAuth)
		ao.Bearer = bearer(eng.Store(), as, opts.OIDC)
	}
	api.New(eng, ao).Register(mux)
	if eng != nil {
		agentws.New(eng, opts.Logger).Register(mux)
	}
	po := opts.Webhook
	po.MaxBody, po.Logger = opts.MaxBody, opts.Logger
	plugin.New(eng, po).Register(mux)
	pg, err := pages.New(eng, pages.Options{Logger: opts.Logger, Console: opts.Console != nil, ConsolePath: ConsolePath, BaseURL: opts.OAuth.BaseURL, Software: sw})
	if err != nil {
		panic(err) // the templates are embedded: a parse error is a bug caught by every test
	}
	pg.Register(mux)
	mux.Handle("GET "+ConsolePath, consoleHandler(eng, opts.Console, pg.UserRole))
	mux.HandleFunc("GET "+OpenAPIPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(OpenAPI)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpx.Problem(w, r, httpx.Details{Type: httpx.TypeNotFound, Status: http.StatusNotFound, Detail: "no such endpoint: " + r.URL.Path})
	})
	o := opts.Ops
	if o == nil {
		oo := ops.Options{}
		if eng != nil {
			oo.Store, oo.Pool = eng.Store(), eng.Pool()
		}
		if c := opts.Console; c != nil {
			oo.Consoles = func() int { n, _ := c.Count(""); return n }
		}
		o = ops.New(oo)
	}
	o.Register(mux)
	var h http.Handler = mux
	if as != nil {
		h = as.Wrap(mux)
	}
	return httpx.Middleware(log, o.Middleware(h))
}

// Route is one method and path template as the OpenAPI document spells it.
type Route struct {
	Method string // lower case, as an OpenAPI operation key
	Path   string // with {param} placeholders, no "..." suffix
}

// pluginMethods are the methods the plugin endpoint documents (it accepts any).
var pluginMethods = []string{"get", "post", "put", "patch", "delete"}

// Routes lists every registered route the OpenAPI document must describe, sorted.
func Routes() []Route {
	var out []Route
	for _, rt := range api.New(nil, api.Options{}).Routes() {
		out = append(out, Route{Method: lower(rt.Method), Path: rt.Pattern})
	}
	for _, p := range plugin.Patterns {
		p = trimWildcard(p)
		for _, m := range pluginMethods {
			out = append(out, Route{Method: m, Path: p})
		}
	}
	for _, p := range oauth.Patterns {
		out = append(out, Route{Method: lower(p.Method), Path: p.Path})
	}
	for _, p := range agentws.Patterns {
		out = append(out, Route{Method: lower(p.Method), Path: p.Path})
	}
	out = append(out, Route{Method: "get", Path: OpenAPIPath}, Route{Method: "get", Path: ConsolePath})
	for _, p := range []string{ops.HealthzPath, ops.ReadyzPath, ops.MetricsPath} {
		out = append(out, Route{Method: "get", Path: p})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// trimWildcard turns "{route...}" into "{route}".
func trimWildcard(p string) string {
	if n := len(p); n > 5 && p[n-4:] == "...}" {
		return p[:n-4] + "}"
	}
	return p
}
