// Package oauthtoken is the token request of OAuth 2.0 (RFC 6749 §4.1.3, §6): trading an
// authorization code or a refresh token for tokens at a vendor's token endpoint, for OAuth
// consent fields. The pages' consent flow (web/consent) and the engine's refresh share it.
package oauthtoken

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/psbridge/psbridge/bridge"
)

// maxTokenResponse bounds a token endpoint's answer.
const maxTokenResponse = 1 << 20

// Tokens is what a token endpoint answered, as an OAuth consent field stores it. Its JSON
// members are the properties of the [PSBridge.OAuthConsentResult] Init receives.
type Tokens struct {
	Code                    string     `json:"Code,omitempty"`
	AccessToken             string     `json:"AccessToken,omitempty"`
	RefreshToken            string     `json:"RefreshToken,omitempty"`
	IDToken                 string     `json:"IdToken,omitempty"`
	TokenType               string     `json:"TokenType,omitempty"`
	Scope                   string     `json:"Scope,omitempty"`
	AccessTokenExpiresAtUtc *time.Time `json:"AccessTokenExpiresAtUtc,omitempty"`
}

// Error is a failed token request; its message says what went wrong and never holds a token
// or the client secret.
type Error struct{ Message string }

func (e *Error) Error() string { return e.Message }

func userError(format string, args ...any) error {
	return &Error{Message: fmt.Sprintf(format, args...)}
}

// tokenResponse is a token endpoint's answer (RFC 6749 §5.1, §5.2).
type tokenResponse struct {
	AccessToken      string          `json:"access_token"`
	RefreshToken     string          `json:"refresh_token"`
	IDToken          string          `json:"id_token"`
	TokenType        string          `json:"token_type"`
	Scope            string          `json:"scope"`
	ExpiresIn        json.RawMessage `json:"expires_in"`
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

// Request posts form to cfg's token endpoint with the client id and secret (and resource) added
// and returns the tokens it answers; now dates the expiry. Errors name field and the endpoint,
// with the vendor's error code and description, and never a token or the client secret.
func Request(ctx context.Context, client *http.Client, now time.Time, field string, cfg bridge.OAuthConsent, form url.Values) (Tokens, error) {
	form.Set("client_id", cfg.ClientID)
	if cfg.ClientSecret != "" {
		form.Set("client_secret", cfg.ClientSecret)
	}
	if cfg.Resource != "" {
		form.Set("resource", cfg.Resource)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return Tokens{}, userError("%s: the token endpoint %q is not a usable URL", field, cfg.TokenEndpoint)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is named below; the error adds nothing secret
		}
		return Tokens{}, userError("%s: the vendor's token endpoint %s could not be reached: %v", field, cfg.TokenEndpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
	if err != nil {
		return Tokens{}, userError("%s: reading the answer of the vendor's token endpoint %s: %v", field, cfg.TokenEndpoint, err)
	}
	var tr tokenResponse
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	jsonErr := json.Unmarshal(body, &tr)
	if resp.StatusCode/100 != 2 || tr.Error != "" {
		msg := fmt.Sprintf("%s: the vendor's token endpoint %s refused the request (HTTP %d)", field, cfg.TokenEndpoint, resp.StatusCode)
		if tr.Error != "" {
			msg += ": " + Clip(tr.Error)
			if tr.ErrorDescription != "" {
				msg += ": " + Clip(tr.ErrorDescription)
			}
		}
		return Tokens{}, &Error{Message: msg}
	}
	if jsonErr != nil {
		return Tokens{}, userError("%s: the vendor's token endpoint %s answered %s, not a JSON token response", field, cfg.TokenEndpoint, orUnknown(ct))
	}
	if tr.AccessToken == "" {
		return Tokens{}, userError("%s: the vendor's token endpoint %s answered no access_token", field, cfg.TokenEndpoint)
	}
	t := Tokens{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken, IDToken: tr.IDToken, TokenType: tr.TokenType, Scope: tr.Scope}
	if secs, ok := seconds(tr.ExpiresIn); ok {
		at := now.UTC().Add(time.Duration(secs) * time.Second).Truncate(time.Second)
		t.AccessTokenExpiresAtUtc = &at
	}
	return t, nil
}

// seconds reads expires_in, a number or (some vendors) a string of one.
func seconds(raw json.RawMessage) (int64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	s := strings.Trim(string(raw), `"`)
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return int64(n), true
}

func orUnknown(ct string) string {
	if ct == "" {
		return "a body without a content type"
	}
	return ct
}

// Clip bounds text a vendor sends, which the pages show.
func Clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}
