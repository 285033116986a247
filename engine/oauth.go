package engine

// This file serves OAuth consent fields (New-OAuthConsentParameter in Init's dynamicparam
// block): it resolves a field's settings with an instance's values and stores the tokens the
// vendor answered as the field's sealed value. The browser side of the flow (state, PKCE, the
// token request) lives in web/consent.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine/oauthtoken"
)

// OAuthTokens is an OAuth consent field's value: what the vendor's token endpoint answered.
// Its JSON members are the properties of the [PSBridge.OAuthConsentResult] Init receives.
type OAuthTokens = oauthtoken.Tokens

// publicConsentMember names the members of stored OAuth tokens that are not secrets (so
// short, common values such as "Bearer" are not masked everywhere).
func publicConsentMember(name string) bool {
	switch strings.ToLower(name) {
	case "tokentype", "scope", "accesstokenexpiresatutc":
		return true
	}
	return false
}

// OAuthConsentConfig returns the settings of instance id's OAuth consent field with the
// instance's values in place of the static parameters they refer to (a client secret from a
// [Password] parameter included: the caller must never show it). It fails, naming the
// parameter, when a referenced value is missing.
func (e *Engine) OAuthConsentConfig(id int64, field string) (bridge.OAuthConsent, string, error) {
	l, err := e.load(id)
	if err != nil {
		return bridge.OAuthConsent{}, "", err
	}
	var p *bridge.ParamSchema
	var names []string
	for i, q := range initSchema(l.desc) {
		if q.Type != "oauthconsent" || q.OAuthConsent == nil {
			continue
		}
		names = append(names, q.Name)
		if strings.EqualFold(q.Name, field) {
			p = &initSchema(l.desc)[i]
		}
	}
	if p == nil {
		msg := fmt.Sprintf("integration %d has no OAuth consent field %q", id, field)
		if len(names) > 0 {
			msg += " (its OAuth consent fields: " + strings.Join(names, ", ") + ")"
		}
		return bridge.OAuthConsent{}, "", fmt.Errorf("%s: %w", msg, ErrNotFound)
	}
	secrets, err := e.st.InstanceSecrets(id)
	if err != nil {
		return bridge.OAuthConsent{}, "", err
	}
	value := func(name string) (string, bool) {
		if v, ok := valueFor(l.inst.FormData, name); ok && v != nil {
			s, err := toString(v)
			return s, err == nil && s != ""
		}
		for k, v := range secrets {
			if strings.EqualFold(k, name) {
				return v, v != ""
			}
		}
		return "", false
	}
	c := *p.OAuthConsent
	var errs FieldErrors
	expand := func(what string, s *string) {
		out, ok := bridge.ExpandParams(*s, value)
		if !ok {
			missing := []string{}
			for _, m := range paramMarkers(*s) {
				if _, found := value(m); !found {
					missing = append(missing, m)
				}
			}
			errs = append(errs, FieldError{Field: p.Name, Message: fmt.Sprintf("its %s comes from parameter %s, which has no value: fill it in and save first", what, strings.Join(missing, ", "))})
			return
		}
		*s = out
	}
	expand("authorization endpoint", &c.AuthorizationEndpoint)
	expand("token endpoint", &c.TokenEndpoint)
	expand("client id", &c.ClientID)
	expand("client secret", &c.ClientSecret)
	expand("scope", &c.Scope)
	expand("resource", &c.Resource)
	extra := make(map[string]string, len(c.ExtraQueryParameters))
	for k, v := range c.ExtraQueryParameters {
		expand("query parameter "+k, &v)
		extra[k] = v
	}
	c.ExtraQueryParameters = extra
	if len(errs) > 0 {
		return bridge.OAuthConsent{}, "", errs
	}
	return c, p.Name, nil
}

func paramMarkers(s string) []string {
	var out []string
	_, _ = bridge.ExpandParams(s, func(name string) (string, bool) {
		out = append(out, name)
		return "", true
	})
	return out
}

// ConnectOAuth stores tokens as the value of instance id's OAuth consent field and, unless the
// instance is disabled, runs Init with them (as UpdateInstance: nothing changes unless Init
// succeeds). Other values stay as they are.
func (e *Engine) ConnectOAuth(ctx context.Context, id int64, field string, tokens OAuthTokens) (InstanceView, error) {
	l, err := e.load(id)
	if err != nil {
		return InstanceView{}, err
	}
	found := false
	for _, p := range initSchema(l.desc) {
		if p.Type == "oauthconsent" && strings.EqualFold(p.Name, field) {
			found, field = true, p.Name
		}
	}
	if !found {
		return InstanceView{}, fmt.Errorf("integration %d has no OAuth consent field %q: %w", id, field, ErrNotFound)
	}
	b, err := json.Marshal(tokens)
	if err != nil {
		return InstanceView{}, fmt.Errorf("integration %d: OAuth tokens: %w", id, err)
	}
	var tokenMap map[string]any
	if err := json.Unmarshal(b, &tokenMap); err != nil {
		return InstanceView{}, fmt.Errorf("integration %d: OAuth tokens: %w", id, err)
	}
	form := make(map[string]any, len(l.inst.FormData)+1)
	for k, v := range l.inst.FormData {
		form[k] = v
	}
	form[field] = tokenMap
	v, err := e.UpdateInstance(ctx, id, InstanceInput{Name: l.inst.Name, FormData: form, Disabled: l.inst.Disabled})
	if err != nil {
		return InstanceView{}, fmt.Errorf("integration %d: store the OAuth consent of %s: %w", id, field, err)
	}
	return v, nil
}

// OAuthConnected reports which OAuth consent fields of an instance hold tokens.
func OAuthConnected(v InstanceView, schema []bridge.ParamSchema) map[string]bool {
	out := map[string]bool{}
	for _, p := range schema {
		if p.Type != "oauthconsent" {
			continue
		}
		for _, n := range v.InputsWithStoredPasswords {
			if strings.EqualFold(n, p.Name) {
				out[p.Name] = true
			}
		}
	}
	return out
}

// StoredOAuthTokens returns the tokens stored in instance id's OAuth consent field (for a
// refresh; never to be shown).
func (e *Engine) StoredOAuthTokens(id int64, field string) (OAuthTokens, error) {
	secrets, err := e.st.InstanceSecrets(id)
	if err != nil {
		return OAuthTokens{}, wrapNotFound("integration "+strconv.FormatInt(id, 10), err)
	}
	for k, v := range secrets {
		if strings.EqualFold(k, field) {
			var t OAuthTokens
			if err := json.Unmarshal([]byte(v), &t); err != nil {
				return OAuthTokens{}, fmt.Errorf("integration %d: the stored OAuth consent of %s is not a JSON object", id, field)
			}
			return t, nil
		}
	}
	return OAuthTokens{}, fmt.Errorf("integration %d: %s holds no OAuth consent yet: connect first: %w", id, field, ErrNotFound)
}

// RefreshOAuth trades the refresh token stored in instance id's OAuth consent field for new
// tokens at the vendor's token endpoint and stores them sealed (keeping the refresh token when
// the vendor sends no new one). Init does not run again: the caller gets the tokens. Refreshes
// of one engine run one at a time, so two calls never spend the same refresh token twice.
func (e *Engine) RefreshOAuth(ctx context.Context, id int64, field string) (OAuthTokens, error) {
	e.oauthMu.Lock()
	defer e.oauthMu.Unlock()
	cfg, name, err := e.OAuthConsentConfig(id, field)
	if err != nil {
		return OAuthTokens{}, err
	}
	old, err := e.StoredOAuthTokens(id, name)
	if err != nil {
		return OAuthTokens{}, err
	}
	if old.RefreshToken == "" {
		return OAuthTokens{}, fmt.Errorf("integration %d: %s holds no refresh token (consent with a scope that grants one, such as offline_access)", id, name)
	}
	client := e.cfg.OAuthClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	tokens, err := oauthtoken.Request(ctx, client, time.Now(), name, cfg, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old.RefreshToken}})
	if err != nil {
		return OAuthTokens{}, err
	}
	if tokens.RefreshToken == "" {
		tokens.RefreshToken = old.RefreshToken
	}
	b, err := json.Marshal(tokens)
	if err != nil {
		return OAuthTokens{}, fmt.Errorf("integration %d: OAuth tokens: %w", id, err)
	}
	secrets, err := e.st.InstanceSecrets(id)
	if err != nil {
		return OAuthTokens{}, wrapNotFound("integration "+strconv.FormatInt(id, 10), err)
	}
	if secrets == nil {
		secrets = map[string]string{}
	}
	secrets[name] = string(b)
	if err := e.st.PutInstanceSecrets(id, secrets); err != nil {
		return OAuthTokens{}, fmt.Errorf("integration %d: store the refreshed tokens of %s: %w", id, name, err)
	}
	return tokens, nil
}
