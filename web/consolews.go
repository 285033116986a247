package web

// This file mounts the debugging console's websocket: the engine supplies instances (through
// an adapter, so the engine never imports web/console), and a request is authenticated by an
// API token or by a signed-in page session.

import (
	"context"
	"net/http"
	"strings"

	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/web/api"
	"github.com/psbridge/psbridge/web/console"
	"github.com/psbridge/psbridge/web/httpx"
)

// ConsolePath is where the console websocket is mounted.
const ConsolePath = "/api/v1/console/ws"

// ConsoleSource adapts eng to console.InstanceSource: a console session of an instance gets
// its script, every module script, its saved form (with [Password] values, which the console
// registers as secrets) and its $IntegrationContext.
func ConsoleSource(eng *engine.Engine) console.InstanceSource {
	return console.InstanceSourceFunc(func(ctx context.Context, user, id string) (console.ConsoleInstance, error) {
		d, err := eng.ConsoleInstance(ctx, user, id)
		if err != nil {
			return console.ConsoleInstance{}, err
		}
		return console.ConsoleInstance{
			ScriptName: d.ScriptName, ScriptText: d.ScriptText, Modules: d.Modules,
			FormData: d.FormData, Secrets: d.Secrets, Context: d.Context,
		}, nil
	})
}

// PageUserFunc returns the token id and role of a signed-in page session.
type PageUserFunc func(*http.Request) (id, role string, ok bool)

// consoleAuth authenticates a console request by "Authorization: Bearer <token>" or, for
// browsers (which cannot set headers on a websocket), by the page session cookie. The user is
// the API token's id, so a page session and the token it signed in with share sessions.
func consoleAuth(eng *engine.Engine, pageUser PageUserFunc, r *http.Request) (id, role string, ok bool) {
	if scheme, token, found := strings.Cut(r.Header.Get("Authorization"), " "); found && strings.EqualFold(scheme, "Bearer") {
		tok, valid, err := eng.Store().VerifyToken(strings.TrimSpace(token))
		if err != nil || !valid {
			return "", "", false
		}
		return tok.ID, tok.Role, true
	}
	if pageUser != nil {
		return pageUser(r)
	}
	return "", "", false
}

// consoleUser lets only admin tokens (and their page sessions) open a console: it runs any
// PowerShell with an integration's secrets loaded.
func consoleUser(eng *engine.Engine, pageUser PageUserFunc) console.UserFunc {
	return func(r *http.Request) (string, bool) {
		id, role, ok := consoleAuth(eng, pageUser, r)
		if !ok || role != store.RoleAdmin {
			return "", false
		}
		return id, true
	}
}

// consoleHandler serves the websocket, or a 404 problem when the server has no console. A
// valid token or session whose role is not admin gets a 403 problem before the console
// package sees the request.
func consoleHandler(eng *engine.Engine, m *console.Manager, pageUser PageUserFunc) http.Handler {
	if m == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			httpx.Problem(w, r, httpx.Details{Type: httpx.TypeNotFound, Status: http.StatusNotFound, Detail: "this server has no console (psbridge serve starts one)"})
		})
	}
	h := m.Handler(consoleUser(eng, pageUser))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, role, ok := consoleAuth(eng, pageUser, r); ok && role != store.RoleAdmin {
			api.Forbidden(w, r, role, store.RoleAdmin)
			return
		}
		h.ServeHTTP(w, r)
	})
}
