package pages

// This file serves OAuth consent fields: the Connect button posts here, the browser goes to the
// vendor and comes back to the callback, and web/consent does the protocol. Tokens never reach
// a page: the form only shows whether a field is connected.

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/web/consent"
)

// connectAction is where field's Connect button of integration id posts.
func connectAction(id int64, field string) string {
	return "/integrations/" + strconv.FormatInt(id, 10) + "/oauth/" + url.PathEscape(field) + "/connect"
}

// withConnectActions gives the OAuth consent fields of a saved integration their Connect button.
func withConnectActions(fields []field, id int64) []field {
	for i := range fields {
		if fields[i].Kind == "oauth" {
			fields[i].ConnectAction = connectAction(id, fields[i].Name)
		}
	}
	return fields
}

// needsConsent reports whether a form has a mandatory OAuth consent field: an integration of
// such a type is created disabled, since consent needs it saved.
func needsConsent(schema []bridge.ParamSchema) bool {
	for _, p := range schema {
		if p.Type == "oauthconsent" && p.Mandatory {
			return true
		}
	}
	return false
}

// connectOAuth starts the consent flow of one field and sends the browser to the vendor.
func (p *Pages) connectOAuth(w http.ResponseWriter, r *http.Request, s *session) {
	v, id, ok := p.instance(w, r, s, "")
	if !ok {
		return
	}
	target, err := p.consent.Start(r, s.id, id, r.PathValue("field"))
	if err != nil {
		p.consentError(w, r, s, v, err)
		return
	}
	// Not a redirect: the pages' CSP (form-action 'self') stops a form submission from being
	// redirected to another origin, so a page continues to the vendor.
	var buf bytes.Buffer
	if err := continuePage.Execute(&buf, target); err != nil {
		p.engineError(w, r, s, fmt.Errorf("render the consent redirect: %w", err))
		return
	}
	securityHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// continuePage sends the browser on to the vendor's authorization endpoint.
var continuePage = template.Must(template.New("continue").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={{.}}">
<title>Connecting… · psbridge</title><link rel="stylesheet" href="/static/style.css"></head>
<body><main><p>Continuing to the vendor to sign in… <a id="continue" href="{{.}}">Continue</a></p></main></body></html>
`))

// oauthCallback is the redirect URI: it finishes the flow and returns to the Edit tab.
func (p *Pages) oauthCallback(w http.ResponseWriter, r *http.Request, s *session) {
	v, id, ok := p.instance(w, r, s, "")
	if !ok {
		return
	}
	field, err := p.consent.Finish(r.Context(), r.URL.Query(), s.id, id)
	if err != nil {
		p.consentError(w, r, s, v, err)
		return
	}
	msg := fmt.Sprintf("Connected %s with the vendor.", field)
	if v.Disabled {
		msg += " Untick Disabled and save to run Init with it."
	}
	http.Redirect(w, r, fmt.Sprintf("/integrations/%d/edit?notice=%s", id, url.QueryEscape(msg)), http.StatusSeeOther)
}

// consentError shows a failed consent above the integration's form.
func (p *Pages) consentError(w http.ResponseWriter, r *http.Request, s *session, v engine.InstanceView, err error) {
	var ce *consent.Error
	var fe engine.FieldErrors
	msg := ""
	switch {
	case errors.As(err, &ce):
		msg = ce.Message
	case errors.As(err, &fe):
		parts := make([]string, len(fe))
		for i, e := range fe {
			parts[i] = strings.TrimPrefix(e.Error(), "formData.")
		}
		msg = strings.Join(parts, "; ")
	default:
		p.engineError(w, r, s, err)
		return
	}
	t, terr := p.eng.Type(v.TypeID)
	if terr != nil {
		p.engineError(w, r, s, terr)
		return
	}
	fp := formPage{Action: fmt.Sprintf("/integrations/%d/edit", v.ID), TypeID: t.ID, TypeName: t.Name, Name: v.Name,
		Disabled: v.Disabled, Editing: true, Submit: "Save changes",
		Fields: withConnectActions(buildFields(t.InitParameters, v.FormData, v.InputsWithStoredPasswords, nil), v.ID)}
	p.renderInstance(w, r, s, http.StatusBadRequest, "instance-form.html", "Edit", v, page{Error: "OAuth consent failed: " + msg}, fp)
}
