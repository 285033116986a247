package web

import (
	"errors"
	"net/http"

	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/web/extoidc"
	"github.com/psbridge/psbridge/web/httpx"
	"github.com/psbridge/psbridge/web/oauth"
)

// bearer adapts the token verifiers to the API's Bearer hook. A token whose iss is the
// trusted external issuer (ext, nil when none) is verified against that issuer's keys and
// acts as the psbridge user its object id maps to (403 when it maps to none); any other JWT
// must be psbridge's own: an application's token acts as an API token named after it, with
// the admin role for admin apps and the operator role for others.
func bearer(st *store.Store, as *oauth.Server, ext *extoidc.Verifier) func(r *http.Request, token string) (store.APIToken, bool, string, error) {
	return func(r *http.Request, token string) (store.APIToken, bool, string, error) {
		if ext != nil && ext.Owns(token) {
			return external(st, ext, r, token)
		}
		p, err := as.Verify(r, token)
		if errors.Is(err, oauth.ErrInvalidToken) {
			return store.APIToken{}, false, "the access token is not valid: " + err.Error(), nil
		}
		if err != nil {
			return store.APIToken{}, false, "", err
		}
		return store.APIToken{ID: "app:" + p.ClientID, Name: p.Name, Role: p.Role()}, true, "", nil
	}
}

// external verifies a token of the external issuer and maps its object id to a user.
func external(st *store.Store, ext *extoidc.Verifier, r *http.Request, token string) (store.APIToken, bool, string, error) {
	id, err := ext.Verify(r.Context(), token)
	if err != nil {
		return store.APIToken{}, false, "the access token of " + ext.Issuer() + " is not valid: " + err.Error(), nil
	}
	u, err := st.User(id.ObjectID)
	if errors.Is(err, store.ErrNotFound) {
		return store.APIToken{}, false, "", &httpx.RequestError{Details: httpx.Details{Type: httpx.TypeForbidden, Status: http.StatusForbidden, Title: "Forbidden",
			Detail: "the token's object id " + id.ObjectID + " (claim " + id.Claim + ") is not a psbridge user; an admin adds it with POST /api/v1/users",
			Extra:  map[string]any{"externalId": id.ObjectID}}}
	}
	if err != nil {
		return store.APIToken{}, false, "", err
	}
	return store.APIToken{ID: "user:" + u.ExternalID, Name: u.Name, Role: u.Role}, true, "", nil
}
