package web

import (
	"errors"
	"net/http"

	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/web/oauth"
)

// bearer adapts the authorization server's verifier to the API's Bearer hook: an application's
// token acts as an API token named after it, with the admin role for admin apps and the
// operator role for others.
func bearer(as *oauth.Server) func(r *http.Request, token string) (store.APIToken, bool, string, error) {
	return func(r *http.Request, token string) (store.APIToken, bool, string, error) {
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
