package web

// This file mounts the debugging console's websocket: the engine supplies instances (through
// an adapter, so the engine never imports web/console), and a request is authenticated by an
// API token or by a signed-in page session.

import (
	"context"
	"net/http"
	"strings"

	"github.com/psbridge/psbridge/engine"
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

// consoleUser authenticates a console request by "Authorization: Bearer <token>" or, for
// browsers (which cannot set headers on a websocket), by the page session cookie. The user is
// the API token's id, so a page session and the token it signed in with share sessions.
func consoleUser(eng *engine.Engine, pageUser func(*http.Request) (string, bool)) console.UserFunc {
	return func(r *http.Request) (string, bool) {
		if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
			tok, valid, err := eng.Store().VerifyToken(strings.TrimSpace(token))
			if err != nil || !valid {
				return "", false
			}
			return tok.ID, true
		}
		if pageUser != nil {
			return pageUser(r)
		}
		return "", false
	}
}

// consoleHandler serves the websocket, or a 404 problem when the server has no console.
func consoleHandler(eng *engine.Engine, m *console.Manager, pageUser func(*http.Request) (string, bool)) http.Handler {
	if m == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			httpx.Problem(w, r, httpx.Details{Type: httpx.TypeNotFound, Status: http.StatusNotFound, Detail: "this server has no console (psbridge serve starts one)"})
		})
	}
	return m.Handler(consoleUser(eng, pageUser))
}
