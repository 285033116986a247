package api

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/web/httpx"
)

// ---- API tokens ---------------------------------------------------------------------------
//
// The same handlers serve the REST API (admin tokens) and the admin socket of 'psbridge
// serve' (the admin secret), which 'psbridge token' uses while the server holds the database.

// TokenInput is the body of POST /api/v1/tokens.
type TokenInput struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// CreatedToken is a new token's record with its plaintext, shown only in this answer.
type CreatedToken struct {
	store.APIToken
	Token string `json:"token"`
}

// tokenView drops the hash (APIToken never marshals it; this keeps it out of memory too).
func tokenView(t store.APIToken) store.APIToken {
	t.Hash = nil
	return t
}

func listTokens(st *store.Store, w http.ResponseWriter, r *http.Request, fail func(http.ResponseWriter, *http.Request, error)) {
	toks, err := st.Tokens()
	if err != nil {
		fail(w, r, err)
		return
	}
	for i := range toks {
		toks[i] = tokenView(toks[i])
	}
	limit, cursor, err := httpx.PageParams(r)
	if err != nil {
		fail(w, r, err)
		return
	}
	p, err := httpx.Paginate(toks, func(t store.APIToken) string { return t.ID }, httpx.LessText, limit, cursor)
	if err != nil {
		fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, p)
}

func createToken(st *store.Store, maxBody int64, w http.ResponseWriter, r *http.Request, fail func(http.ResponseWriter, *http.Request, error)) {
	var in TokenInput
	if err := httpx.Decode(w, r, maxBody, &in); err != nil {
		fail(w, r, err)
		return
	}
	out, err := NewToken(st, in)
	if err != nil {
		fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusCreated, out)
}

// NewToken creates an API token by the rules of POST /api/v1/tokens (a name of at most 200
// characters and a known role; otherwise engine.FieldErrors) and returns it with its
// plaintext, which is shown once. The pages' Tokens form uses it too.
func NewToken(st *store.Store, in TokenInput) (CreatedToken, error) {
	var fe engine.FieldErrors
	if strings.TrimSpace(in.Name) == "" {
		fe = append(fe, engine.FieldError{Field: "name", Message: "is required"})
	} else if len(in.Name) > 200 {
		fe = append(fe, engine.FieldError{Field: "name", Message: "must be at most 200 characters"})
	}
	if !store.ValidRole(in.Role) {
		fe = append(fe, engine.FieldError{Field: "role", Message: "must be admin, operator or read-only"})
	}
	if len(fe) > 0 {
		return CreatedToken{}, fe
	}
	plain, rec, err := st.CreateTokenWithRole(in.Name, in.Role)
	if err != nil {
		return CreatedToken{}, fmt.Errorf("create API token: %w", err)
	}
	return CreatedToken{APIToken: tokenView(rec), Token: plain}, nil
}

func revokeToken(st *store.Store, w http.ResponseWriter, r *http.Request, fail func(http.ResponseWriter, *http.Request, error)) {
	id := r.PathValue("tokenId")
	if err := st.DeleteToken(id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = &httpx.RequestError{Details: httpx.Details{Type: httpx.TypeNotFound, Status: http.StatusNotFound, Detail: "no API token has the id " + id}}
		}
		fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request) {
	listTokens(a.eng.Store(), w, r, a.fail)
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request) {
	createToken(a.eng.Store(), a.opts.MaxBody, w, r, a.fail)
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) {
	revokeToken(a.eng.Store(), w, r, a.fail)
}

// AdminSecretHeader carries the admin secret on the admin socket.
const AdminSecretHeader = "X-Psbridge-Admin-Secret"

// AdminHandler serves token management (GET and POST /api/v1/tokens, DELETE
// /api/v1/tokens/{tokenId}, the same bodies as the REST API) for the admin socket of 'psbridge
// serve'. Every request needs the admin secret in AdminSecretHeader.
func AdminHandler(st *store.Store, secret string, logger *zerolog.Logger) http.Handler {
	a := New(nil, Options{Logger: logger})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/tokens", func(w http.ResponseWriter, r *http.Request) { listTokens(st, w, r, a.fail) })
	mux.HandleFunc("POST /api/v1/tokens", func(w http.ResponseWriter, r *http.Request) { createToken(st, a.opts.MaxBody, w, r, a.fail) })
	mux.HandleFunc("DELETE /api/v1/tokens/{tokenId}", func(w http.ResponseWriter, r *http.Request) { revokeToken(st, w, r, a.fail) })
	mux.HandleFunc("POST /api/v1/admin/enrollment-keys", func(w http.ResponseWriter, r *http.Request) {
		var in AdminEnrollmentKeyInput
		if err := httpx.Decode(w, r, a.opts.MaxBody, &in); err != nil {
			a.fail(w, r, err)
			return
		}
		var exp time.Time
		if in.ExpiresInSeconds > 0 {
			exp = time.Now().Add(time.Duration(in.ExpiresInSeconds) * time.Second)
		}
		key, k, err := st.CreateEnrollmentKey(in.TenantID, exp)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				err = fmt.Errorf("tenant %d: %w", in.TenantID, engine.ErrNotFound)
			}
			a.fail(w, r, err)
			return
		}
		httpx.JSON(w, http.StatusCreated, engine.NewEnrollmentKey{EnrollmentKey: k, Key: key})
	})
	mux.HandleFunc("POST /api/v1/applications", func(w http.ResponseWriter, r *http.Request) {
		var in AppInput
		if err := httpx.Decode(w, r, a.opts.MaxBody, &in); err != nil {
			a.fail(w, r, err)
			return
		}
		out, err := CreateApp(st, in)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		httpx.JSON(w, http.StatusCreated, out)
	})
	mux.HandleFunc("GET /api/v1/users", func(w http.ResponseWriter, r *http.Request) {
		list, err := st.Users()
		if err != nil {
			a.fail(w, r, err)
			return
		}
		httpx.JSON(w, http.StatusOK, map[string]any{"items": list})
	})
	mux.HandleFunc("POST /api/v1/users", func(w http.ResponseWriter, r *http.Request) {
		var in UserInput
		if err := httpx.Decode(w, r, a.opts.MaxBody, &in); err != nil {
			a.fail(w, r, err)
			return
		}
		u, err := CreateUser(st, in)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		httpx.JSON(w, http.StatusCreated, u)
	})
	mux.HandleFunc("DELETE /api/v1/users/{externalId}", func(w http.ResponseWriter, r *http.Request) { deleteUser(st, w, r, a.fail) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpx.Problem(w, r, httpx.Details{Type: httpx.TypeNotFound, Status: http.StatusNotFound, Detail: "the admin socket serves only /api/v1/tokens, /api/v1/applications, /api/v1/users and /api/v1/admin/enrollment-keys"})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if secret == "" || subtle.ConstantTimeCompare([]byte(r.Header.Get(AdminSecretHeader)), []byte(secret)) != 1 {
			httpx.Problem(w, r, httpx.Details{Type: httpx.TypeUnauthorize, Status: http.StatusUnauthorized,
				Detail: "the admin socket needs the admin secret (DATA-DIR/admin.secret) in " + AdminSecretHeader})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// AdminEnrollmentKeyInput is the admin socket's body for creating an enrollment key.
type AdminEnrollmentKeyInput struct {
	TenantID         int64 `json:"tenantId"`
	ExpiresInSeconds int64 `json:"expiresInSeconds"`
}
