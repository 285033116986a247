// Package api is psbridge's REST API under /api/v1: integration types, module scripts,
// instances and their health, call log, clients, tenant mappings, agents, computers,
// identification, token scripts, maintenance mode and backups. It exists to turn HTTP
// requests into engine calls and engine errors into precise RFC 9457 problems; it holds no
// state of its own. Every route needs a bearer token made by `psbridge token create`.
package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/computers"
	"github.com/psbridge/psbridge/engine/software"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/web/httpx"
)

// Options configures the API. The zero value is usable.
type Options struct {
	// MaxBody bounds JSON request bodies (default httpx.DefaultMaxBody, 1 MiB).
	MaxBody int64
	// Logger receives service logs. Default: discard.
	Logger *zerolog.Logger
	// Now returns the current time (for backup file names). Default: time.Now.
	Now func() time.Time
	// Bearer verifies a bearer token that is not an API token (an OAuth access token, see
	// web/oauth) and returns the identity it speaks for; ok false refuses it with reason.
	// Nil: only API tokens are accepted.
	Bearer func(r *http.Request, token string) (tok store.APIToken, ok bool, reason string, err error)
	// Software runs software and maintenance sessions; share it with the pages so both see
	// live logs. Its owner shuts it down (cancelling running sessions). Nil: the API makes
	// one of its own, never shut down (tests).
	Software *software.Service
}

// API serves the REST routes.
type API struct {
	sw   *software.Service
	eng  *engine.Engine
	opts Options
	log  zerolog.Logger
}

// Route is one registered endpoint.
type Route struct {
	Method  string
	Pattern string
	Handler http.HandlerFunc
}

// New returns the API for eng.
func New(eng *engine.Engine, opts Options) *API {
	if opts.MaxBody <= 0 {
		opts.MaxBody = httpx.DefaultMaxBody
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := zerolog.Nop()
	if opts.Logger != nil {
		log = opts.Logger.With().Str("component", "api").Logger()
	}
	a := &API{eng: eng, opts: opts, log: log}
	if a.sw = opts.Software; a.sw == nil && eng != nil {
		a.sw = software.New(eng, 0)
	}
	return a
}

// Routes lists every endpoint of the API.
func (a *API) Routes() []Route {
	const v = "/api/v1"
	return []Route{
		{"GET", v + "/integration-types", a.listTypes},
		{"POST", v + "/integration-types", a.createType},
		{"GET", v + "/integration-types/{typeId}", a.getType},
		{"PUT", v + "/integration-types/{typeId}", a.updateType},
		{"DELETE", v + "/integration-types/{typeId}", a.deleteType},

		{"GET", v + "/modules", a.listModules},
		{"POST", v + "/modules", a.createModule},
		{"GET", v + "/modules/{name}", a.getModule},
		{"PUT", v + "/modules/{name}", a.putModule},
		{"DELETE", v + "/modules/{name}", a.deleteModule},

		{"GET", v + "/integrations", a.listInstances},
		{"POST", v + "/integrations", a.createInstance},
		{"GET", v + "/integrations/{id}", a.getInstance},
		{"PUT", v + "/integrations/{id}", a.updateInstance},
		{"DELETE", v + "/integrations/{id}", a.deleteInstance},
		{"GET", v + "/integrations/{id}/health", a.healthHistory},
		{"POST", v + "/integrations/{id}/health-check", a.checkHealth},
		{"GET", v + "/integrations/{id}/calls", a.callLog},
		{"POST", v + "/integrations/{id}/methods/{method}", a.invokeMethod},
		{"GET", v + "/integrations/{id}/clients", a.listClients},
		{"POST", v + "/integrations/{id}/clients/refresh", a.refreshClients},
		{"GET", v + "/integrations/{id}/mappings", a.listMappings},
		{"PUT", v + "/integrations/{id}/mappings/{clientId}", a.mapClient},
		{"DELETE", v + "/integrations/{id}/mappings/{clientId}", a.unmapClient},
		{"GET", v + "/integrations/{id}/agents", a.listAgents},
		{"POST", v + "/integrations/{id}/agents/sync", a.syncAgents},
		{"POST", v + "/integrations/{id}/maintenance", a.maintenance},
		{"PUT", v + "/integrations/{id}/webhook-secret", a.setWebhookSecret},
		{"DELETE", v + "/integrations/{id}/webhook-secret", a.clearWebhookSecret},

		{"GET", v + "/agents/pending", a.pendingAgents},

		{"GET", v + "/tenants", a.listTenants},
		{"POST", v + "/tenants", a.createTenant},
		{"GET", v + "/tenants/{id}", a.getTenant},
		{"PUT", v + "/tenants/{id}", a.updateTenant},
		{"DELETE", v + "/tenants/{id}", a.deleteTenant},
		{"GET", v + "/tenants/{id}/enrollment-keys", a.listEnrollmentKeys},
		{"POST", v + "/tenants/{id}/enrollment-keys", a.createEnrollmentKey},
		{"DELETE", v + "/tenants/{id}/enrollment-keys/{keyId}", a.revokeEnrollmentKey},

		{"GET", v + "/computers", a.listComputers},
		{"GET", v + "/computers/dx", a.computersDx},
		{"POST", v + "/computers", a.createComputer},
		{"GET", v + "/computers/{id}", a.getComputer},
		{"POST", v + "/computers/{id}/identification", a.identify},
		{"POST", v + "/computers/{id}/identify", a.identifyNow},
		{"POST", v + "/computers/{id}/scripts", a.computerScript},
		{"GET", v + "/computers/{id}/software", a.computerSoftware},

		{"POST", v + "/scripts/run", a.runScript},

		{"GET", v + "/software/global", a.listSoftware("global")},
		{"GET", v + "/software/local", a.listSoftware("local")},
		{"POST", v + "/software", a.createSoftware},
		{"GET", v + "/software/{scope}/{id}", a.getSoftware},
		{"PUT", v + "/software/{scope}/{id}", a.updateSoftware},
		{"GET", v + "/software/{scope}/{id}/dynamic-versions", a.cachedDynamicVersions},
		{"POST", v + "/software/{scope}/{id}/dynamic-versions", a.refreshDynamicVersions},
		{"POST", v + "/run-immy-service", a.runImmyService},
		{"GET", v + "/maintenance-sessions", a.listSessions},
		{"GET", v + "/maintenance-sessions/{id}", a.getSession},
		{"GET", v + "/maintenance-sessions/{id}/log", a.sessionLog},
		{"GET", v + "/deployments", a.listDeployments},
		{"POST", v + "/deployments", a.createDeployment},
		{"GET", v + "/deployments/{id}", a.getDeployment},
		{"DELETE", v + "/deployments/{id}", a.deleteDeployment},

		{"GET", v + "/admin/backup", a.backup},

		{"GET", v + "/tokens", a.listTokens},
		{"POST", v + "/tokens", a.createToken},
		{"DELETE", v + "/tokens/{tokenId}", a.revokeToken},

		{"GET", v + "/applications", a.listApps},
		{"POST", v + "/applications", a.createApp},
		{"DELETE", v + "/applications/{clientId}", a.deleteApp},

		{"GET", v + "/users", a.listUsers},
		{"POST", v + "/users", a.createUser},
		{"DELETE", v + "/users/{externalId}", a.deleteUser},
	}
}

// RequiredRole is the least role a route needs: token, application and user management is
// for admins, the backup (every sealed secret and token hash) for operators, other reads for
// every token, and writes for operators.
func RequiredRole(method, pattern string) string {
	switch {
	case strings.HasPrefix(pattern, "/api/v1/tokens"), strings.HasPrefix(pattern, "/api/v1/applications"),
		strings.HasPrefix(pattern, "/api/v1/users"):
		return store.RoleAdmin
	case pattern == "/api/v1/admin/backup":
		return store.RoleOperator
	case method == http.MethodGet || method == http.MethodHead:
		return store.RoleReadOnly
	}
	return store.RoleOperator
}

// Permits reports whether a token of role may use a route that needs need.
func Permits(role, need string) bool {
	rank := func(r string) int {
		switch r {
		case store.RoleAdmin:
			return 3
		case store.RoleOperator:
			return 2
		case store.RoleReadOnly:
			return 1
		}
		return 0 // unknown roles may do nothing
	}
	return rank(role) > 0 && rank(role) >= rank(need)
}

type tokenKey struct{}

// TokenFrom returns the API token that authenticated the request (ok false outside the API).
func TokenFrom(ctx context.Context) (store.APIToken, bool) {
	t, ok := ctx.Value(tokenKey{}).(store.APIToken)
	return t, ok
}

// Forbidden answers a request whose token lacks the role a route needs.
func Forbidden(w http.ResponseWriter, r *http.Request, role, need string) {
	httpx.Problem(w, r, httpx.Details{Type: httpx.TypeForbidden, Status: http.StatusForbidden, Title: "Forbidden",
		Detail: "this API token's role is " + strconv.Quote(role) + "; this request needs " + strconv.Quote(need) + " or above",
		Extra:  map[string]any{"role": role, "requiredRole": need}})
}

// Register adds every route to mux behind bearer-token authentication, plus a problem answer
// for unknown paths under /api/v1/.
func (a *API) Register(mux *http.ServeMux) {
	for _, rt := range a.Routes() {
		mux.Handle(rt.Method+" "+rt.Pattern, a.authenticated(RequiredRole(rt.Method, rt.Pattern), rt.Handler))
	}
	mux.Handle("/api/v1/", a.authenticated(store.RoleReadOnly, func(w http.ResponseWriter, r *http.Request) {
		httpx.Problem(w, r, httpx.Details{Type: httpx.TypeNotFound, Status: http.StatusNotFound, Detail: "no such endpoint: " + r.URL.Path})
	}))
}

// authenticated requires "Authorization: Bearer <token>" with a token from the store whose
// role is need or above (403 otherwise).
func (a *API) authenticated(need string, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="psbridge"`)
			httpx.Problem(w, r, httpx.Details{Type: httpx.TypeUnauthorize, Status: http.StatusUnauthorized,
				Detail: "send an API token as 'Authorization: Bearer <token>' (create one with 'psbridge token create')"})
			return
		}
		var (
			tok    store.APIToken
			ok     bool
			err    error
			reason = "the API token is not valid"
		)
		if a.opts.Bearer != nil && !strings.HasPrefix(token, store.TokenPrefix) && strings.Count(token, ".") == 2 {
			tok, ok, reason, err = a.opts.Bearer(r, token)
		} else {
			tok, ok, err = a.eng.Store().VerifyToken(token)
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="psbridge", error="invalid_token"`)
			httpx.Problem(w, r, httpx.Details{Type: httpx.TypeUnauthorize, Status: http.StatusUnauthorized, Detail: reason})
			return
		}
		if !Permits(tok.Role, need) {
			Forbidden(w, r, tok.Role, need)
			return
		}
		tok.Hash = nil
		next(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok)))
	})
}

// fail answers err as a problem: request errors as they are, engine and bridge errors mapped to
// their status codes, anything else as a 500 whose cause is logged, not shown.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	d, ok := Classify(err)
	if !ok {
		a.log.Error().Str("request_id", httpx.RequestID(r.Context())).Str("route", r.Pattern).Err(err).Msg("request failed")
	}
	if d.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	httpx.Problem(w, r, d)
}

// Classify maps an error to problem details; ok is false for unexpected errors (500).
func Classify(err error) (httpx.Details, bool) {
	var (
		re  *httpx.RequestError
		fe  engine.FieldErrors
		pe  *bridge.ParseError
		le  *bridge.LoadError
		ie  *engine.InitError
		ce  *engine.CapabilityError
		lke *engine.LinkError
		se  *bridge.ScriptError
		ns  *bridge.NotSupportedError
		we  *bridge.WorkerError
		ae  *bridge.ArgNameError
		oe  *computers.OfflineError
		dve *software.VersionsError
	)
	switch {
	case errors.As(err, &re):
		return re.Details, true
	case errors.As(err, &oe):
		return httpx.Details{Type: httpx.TypeOffline, Status: http.StatusServiceUnavailable, Title: "The computer is offline", Detail: oe.Error(),
			Extra: map[string]any{"computerId": oe.ComputerID}}, true
	case errors.As(err, &ae):
		return httpx.Details{Type: httpx.TypeValidation, Status: http.StatusBadRequest, Title: "Invalid argument name", Detail: ae.Error(),
			Errors: []httpx.FieldError{{Field: "args." + ae.Name, Message: "must be a plain identifier matching ^[A-Za-z_][A-Za-z0-9_]*$"}}}, true
	case errors.As(err, &fe):
		d := httpx.Details{Type: httpx.TypeValidation, Status: http.StatusUnprocessableEntity, Title: "Invalid request", Detail: fe.Error()}
		for _, f := range fe {
			d.Errors = append(d.Errors, httpx.FieldError{Field: f.Field, Message: f.Message})
		}
		return d, true
	case errors.As(err, &pe):
		issues := pe.Issues
		if issues == nil {
			issues = []bridge.ParseIssue{}
		}
		return httpx.Details{Type: httpx.TypeParse, Status: http.StatusUnprocessableEntity, Title: "The script does not parse",
			Detail: pe.Error(), Extra: map[string]any{"issues": issues}}, true
	case errors.As(err, &ie):
		d := httpx.Details{Type: httpx.TypeInit, Status: http.StatusUnprocessableEntity, Title: "Init failed", Detail: ie.Error(),
			Extra: map[string]any{"records": nonNil(ie.Records)}}
		if errors.As(ie.Err, &se) {
			addPosition(&d, se)
		}
		return d, true
	case errors.As(err, &le):
		return httpx.Details{Type: httpx.TypeLoad, Status: http.StatusUnprocessableEntity, Title: "The script did not produce an integration", Detail: le.Error()}, true
	case errors.As(err, &ce):
		return httpx.Details{Type: httpx.TypeCapability, Status: http.StatusConflict, Title: "The integration lacks a capability",
			Detail: ce.Error(), Extra: map[string]any{"interface": ce.Interface, "method": ce.Method}}, true
	case errors.As(err, &ns):
		return httpx.Details{Type: httpx.TypeCapability, Status: http.StatusConflict, Title: "The integration lacks a capability", Detail: ns.Error()}, true
	case errors.As(err, &lke):
		return httpx.Details{Type: httpx.TypeNotLinked, Status: http.StatusConflict, Title: "Not linked", Detail: lke.Error()}, true
	case errors.Is(err, engine.ErrDisabled):
		return httpx.Details{Type: httpx.TypeConflict, Status: http.StatusConflict, Title: "The integration is disabled", Detail: err.Error()}, true
	case errors.Is(err, engine.ErrNotFound):
		return httpx.Details{Type: httpx.TypeNotFound, Status: http.StatusNotFound, Detail: err.Error()}, true
	case errors.Is(err, engine.ErrConflict):
		return httpx.Details{Type: httpx.TypeConflict, Status: http.StatusConflict, Detail: err.Error()}, true
	case errors.Is(err, bridge.ErrQueueFull):
		return httpx.Details{Type: httpx.TypeBusy, Status: http.StatusServiceUnavailable, Title: "Busy", Detail: err.Error() + "; retry shortly"}, true
	case errors.Is(err, bridge.ErrNoWorker):
		return httpx.Details{Type: httpx.TypeBusy, Status: http.StatusServiceUnavailable, Title: "No worker could be started",
			Detail: err.Error()}, true
	case errors.Is(err, bridge.ErrTimeout):
		return httpx.Details{Type: httpx.TypeTimeout, Status: http.StatusGatewayTimeout, Title: "The script timed out", Detail: err.Error()}, true
	case errors.As(err, &dve):
		return httpx.Details{Type: httpx.TypeScript, Status: http.StatusBadGateway, Title: "The dynamic versions script returned no usable versions",
			Detail: dve.Error(), Extra: map[string]any{"softwareId": dve.SoftwareID}}, true
	case errors.As(err, &se):
		d := httpx.Details{Type: httpx.TypeScript, Status: http.StatusBadGateway, Title: "The integration script failed", Detail: se.Error(),
			Extra: map[string]any{"records": nonNil(se.Records)}}
		addPosition(&d, se)
		return d, true
	case errors.As(err, &we):
		// What happened to the worker, in words (never its console output): the caller can act on it.
		return httpx.Details{Type: httpx.TypeScript, Status: http.StatusBadGateway, Title: "The worker running the call failed",
			Detail: we.Reason}, true
	case errors.Is(err, bridge.ErrCanceled), errors.Is(err, context.Canceled), errors.Is(err, bridge.ErrClosed):
		return httpx.Details{Type: httpx.TypeBusy, Status: http.StatusServiceUnavailable, Title: "Unavailable", Detail: "the call was cancelled or the server is shutting down"}, true
	}
	return httpx.Details{Type: httpx.TypeInternal, Status: http.StatusInternalServerError, Title: "Internal server error",
		Detail: "the server failed while handling this request; see the server log for this request id"}, false
}

func addPosition(d *httpx.Details, se *bridge.ScriptError) {
	if se.Line > 0 {
		d.Extra["line"], d.Extra["column"] = se.Line, se.Column
	}
	if se.Script != "" {
		d.Extra["script"] = se.Script
	}
	if se.ErrorID != "" {
		d.Extra["errorId"] = se.ErrorID
	}
}

func nonNil(r []bridge.Record) []bridge.Record {
	if r == nil {
		return []bridge.Record{}
	}
	return r
}

// pathID reads an integer path value; a malformed id names nothing, so it is a 404.
func pathID(r *http.Request, name, what string) (int64, error) {
	s := r.PathValue(name)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, &httpx.RequestError{Details: httpx.Details{Type: httpx.TypeNotFound, Status: http.StatusNotFound,
			Detail: "no " + what + " has the id " + strconv.Quote(s)}}
	}
	return id, nil
}
