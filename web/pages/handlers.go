package pages

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/web/api"
	"github.com/psbridge/psbridge/web/httpx"
)

// Capability interfaces that add tabs to an integration's page.
const (
	capClients = "ISupportsListingClients"
	capAgents  = "ISupportsListingAgents"
	capHTTP    = "ISupportsHttpRequest"
)

// ---- sign-in -----------------------------------------------------------------------------

func (p *Pages) signInPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := p.current(r); ok {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	p.renderSignIn(w, r, http.StatusOK, r.URL.Query().Get("next"), "")
}

// renderSignIn shows the sign-in form with a fresh pre-session CSRF token (a cookie the form
// must echo).
func (p *Pages) renderSignIn(w http.ResponseWriter, r *http.Request, status int, next, msg string) {
	csrf := randomToken()
	setCookie(w, r, SignInCookie, csrf, "/sign-in", 1800)
	p.render(w, r, nil, status, "signin.html", page{Title: "Sign in", CSRF: csrf, Error: msg, Data: safeNext(next)})
}

func (p *Pages) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		p.renderSignIn(w, r, http.StatusBadRequest, "", "The form could not be read.")
		return
	}
	next := r.PostForm.Get("next")
	c, err := r.Cookie(SignInCookie)
	if err != nil || !equalSecret(c.Value, r.PostForm.Get(CSRFField)) {
		p.renderSignIn(w, r, http.StatusForbidden, next, "The form's security token is missing or wrong (are cookies enabled?). Try again.")
		return
	}
	tok, ok, err := p.eng.Store().VerifyToken(strings.TrimSpace(r.PostForm.Get("token")))
	if err != nil {
		p.log.Error().Err(err).Msg("verify API token for sign-in")
		p.renderSignIn(w, r, http.StatusInternalServerError, next, "The token could not be checked; see the server log.")
		return
	}
	if !ok {
		p.renderSignIn(w, r, http.StatusUnauthorized, next, "That API token is not valid. Create one with 'psbridge token create'.")
		return
	}
	s := p.newSession(tok.ID, tok.Name, tok.Role)
	setCookie(w, r, SignInCookie, "", "/sign-in", -1)
	setCookie(w, r, SessionCookie, s.id, "/", int(p.opts.SessionLifetime.Seconds()))
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
}

func (p *Pages) signOut(w http.ResponseWriter, r *http.Request, s *session) {
	p.endSession(s)
	setCookie(w, r, SessionCookie, "", "/", -1)
	http.Redirect(w, r, "/sign-in", http.StatusSeeOther)
}

// ---- errors ------------------------------------------------------------------------------

// engineError renders err as the error page: known engine and script errors with their
// message and status, anything else as a logged 500.
func (p *Pages) engineError(w http.ResponseWriter, r *http.Request, s *session, err error) {
	d, ok := api.Classify(err)
	if !ok {
		p.log.Error().Err(err).Str("request_id", httpx.RequestID(r.Context())).Str("route", r.Pattern).Msg("page failed")
		p.fail(w, r, s, http.StatusInternalServerError, "The server failed while handling this page; the log has details (request "+httpx.RequestID(r.Context())+").")
		return
	}
	p.fail(w, r, s, d.Status, d.Detail)
}

// ---- integrations ------------------------------------------------------------------------

func (p *Pages) integrations(w http.ResponseWriter, r *http.Request, s *session) {
	insts, err := p.eng.Instances()
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	p.render(w, r, s, http.StatusOK, "integrations.html", page{Title: "Integrations", Nav: "integrations", Notice: r.URL.Query().Get("notice"), Data: insts})
}

// tab is one entry of an integration's tab bar.
type tab struct {
	Label, Href string
	Active      bool
}

// instancePage is the data of every per-integration page.
type instancePage struct {
	Inst engine.InstanceView
	Tabs []tab
	Data any
}

// tabsFor lists the tabs an integration supports, marking active.
func (p *Pages) tabsFor(v engine.InstanceView, active string, s *session) []tab {
	base := "/integrations/" + strconv.FormatInt(v.ID, 10)
	var out []tab
	add := func(label, suffix string) {
		out = append(out, tab{Label: label, Href: base + suffix, Active: label == active})
	}
	add("Overview", "")
	if slices.Contains(v.Capabilities, capClients) {
		add("Clients", "/clients")
	}
	if slices.Contains(v.Capabilities, capAgents) {
		add("Agents", "/agents")
	}
	if slices.Contains(v.Capabilities, capHTTP) {
		add("Webhook", "/webhook")
	}
	add("Health", "/health")
	add("Calls", "/calls")
	if p.opts.Console && s != nil && s.role == store.RoleAdmin {
		add("Console", "/console")
	}
	if s != nil && s.canWrite() {
		add("Edit", "/edit")
	}
	return out
}

// instance loads the integration named by the {id} path value, rendering the error page when
// it cannot. With capability set, an integration without it is a 404.
func (p *Pages) instance(w http.ResponseWriter, r *http.Request, s *session, capability string) (engine.InstanceView, int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		p.fail(w, r, s, http.StatusNotFound, "No integration has the id "+strconv.Quote(r.PathValue("id"))+".")
		return engine.InstanceView{}, 0, false
	}
	v, err := p.eng.Instance(id)
	if err != nil {
		p.engineError(w, r, s, err)
		return v, id, false
	}
	if capability != "" && !slices.Contains(v.Capabilities, capability) {
		p.fail(w, r, s, http.StatusNotFound, fmt.Sprintf("%s does not implement %s.", v.Name, capability))
		return v, id, false
	}
	return v, id, true
}

func (p *Pages) renderInstance(w http.ResponseWriter, r *http.Request, s *session, status int, file, active string, v engine.InstanceView, pg page, data any) {
	pg.Nav = "integrations"
	if pg.Title == "" {
		pg.Title = active + " · " + v.Name
	}
	pg.Data = instancePage{Inst: v, Tabs: p.tabsFor(v, active, s), Data: data}
	p.render(w, r, s, status, file, pg)
}

// configValue is one saved configuration value on the overview.
type configValue struct {
	Label, Value string
	Password     bool
	Stored       bool
}

// overviewData is the data of an integration's overview: its saved configuration and its
// latest calls.
type overviewData struct {
	Config []configValue
	Calls  latestCalls
}

// latestCalls are an integration's newest call and newest Init, so its pages show a call
// that completed with errors even while HealthCheck reports Healthy.
type latestCalls struct {
	Last, Init *store.CallLogEntry
	// InitErrors are the error records of the newest Init when it completed with errors.
	InitErrors []string
}

// latest reads an integration's latest calls; a call log that cannot be read shows nothing.
func (p *Pages) latest(id int64) latestCalls {
	var lc latestCalls
	var err error
	if lc.Last, lc.Init, err = p.eng.LastCalls(id); err != nil {
		p.log.Warn().Int64("instance", id).Err(err).Msg("read latest calls")
		return latestCalls{}
	}
	if lc.Init != nil && lc.Init.Status == store.CallCompletedWithErrors && len(lc.Init.Records) > 0 {
		var recs []bridge.Record
		if json.Unmarshal(lc.Init.Records, &recs) == nil {
			for _, rec := range recs {
				if rec.Stream == "error" && len(lc.InitErrors) < 5 {
					lc.InitErrors = append(lc.InitErrors, rec.String())
				}
			}
		}
	}
	return lc
}

func (p *Pages) overview(w http.ResponseWriter, r *http.Request, s *session) {
	v, id, ok := p.instance(w, r, s, "")
	if !ok {
		return
	}
	var cfg []configValue
	if t, err := p.eng.Type(v.TypeID); err == nil {
		for _, f := range buildFields(t.InitParameters, v.FormData, v.InputsWithStoredPasswords, nil) {
			c := configValue{Label: f.Label, Value: f.Value, Password: f.Kind == "password", Stored: f.Stored}
			switch f.Kind {
			case "checkbox":
				c.Value = strconv.FormatBool(f.Checked)
			case "helptext":
				continue
			case "oauth":
				c.Value = "not connected"
				if f.Connected {
					c.Value = "connected"
				}
			}
			cfg = append(cfg, c)
		}
	}
	p.renderInstance(w, r, s, http.StatusOK, "overview.html", "Overview", v, page{Title: v.Name, Notice: r.URL.Query().Get("notice")},
		overviewData{Config: cfg, Calls: p.latest(id)})
}

func (p *Pages) checkHealth(w http.ResponseWriter, r *http.Request, s *session) {
	_, id, ok := p.instance(w, r, s, "")
	if !ok {
		return
	}
	if _, err := p.eng.CheckHealth(r.Context(), id); err != nil {
		p.engineError(w, r, s, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/integrations/%d", id), http.StatusSeeOther)
}

// ---- the integration form ----------------------------------------------------------------

// formPage is the data of the new/edit integration form.
type formPage struct {
	Action   string
	TypeID   string
	TypeName string
	Name     string
	NameErr  string
	Disabled bool
	Editing  bool
	Fields   []field
	Submit   string
}

func (p *Pages) newInstancePage(w http.ResponseWriter, r *http.Request, s *session) {
	typeID := r.URL.Query().Get("type")
	if typeID == "" {
		types, err := p.eng.Types()
		if err != nil {
			p.engineError(w, r, s, err)
			return
		}
		p.render(w, r, s, http.StatusOK, "choose-type.html", page{Title: "New integration", Nav: "integrations", Data: types})
		return
	}
	t, err := p.eng.Type(typeID)
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	fp := formPage{Action: "/integrations/new", TypeID: t.ID, TypeName: t.Name, Submit: "Create integration",
		Fields: buildFields(t.InitParameters, nil, nil, nil)}
	p.render(w, r, s, http.StatusOK, "instance-form.html", page{Title: "New " + t.Name + " integration", Nav: "integrations", Data: instancePage{Data: fp}})
}

func (p *Pages) createInstance(w http.ResponseWriter, r *http.Request, s *session) {
	t, err := p.eng.Type(r.PostForm.Get("type"))
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	values := formData(t.InitParameters, r.PostForm)
	// Consent needs a saved integration: one that requires it waits disabled until connected.
	in := engine.InstanceInput{Name: strings.TrimSpace(r.PostForm.Get("name")), TypeID: t.ID, FormData: values, Disabled: needsConsent(t.InitParameters)}
	v, err := p.eng.CreateInstance(r.Context(), in)
	if err != nil {
		fp := formPage{Action: "/integrations/new", TypeID: t.ID, TypeName: t.Name, Name: in.Name, Submit: "Create integration"}
		p.formError(w, r, s, err, t, values, nil, fp, page{Title: "New " + t.Name + " integration", Nav: "integrations"})
		return
	}
	if in.Disabled {
		http.Redirect(w, r, fmt.Sprintf("/integrations/%d/edit?notice=%s", v.ID, url.QueryEscape("Integration created, disabled until it is connected: press Connect.")), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/integrations/%d?notice=%s", v.ID, url.QueryEscape("Integration created.")), http.StatusSeeOther)
}

// formError re-renders the integration form with the engine's complaint: field errors beside
// their inputs, an Init failure or any other known error above the form.
func (p *Pages) formError(w http.ResponseWriter, r *http.Request, s *session, err error, t engine.TypeView, values map[string]any, stored []string, fp formPage, pg page) {
	status, ok := applyFormError(err, t, values, stored, &fp, &pg)
	if !ok {
		p.engineError(w, r, s, err)
		return
	}
	pg.Data = instancePage{Data: fp}
	p.render(w, r, s, status, "instance-form.html", pg)
}

// applyFormError puts the engine's complaint about a submitted form into fp and pg: field
// errors beside their inputs, errors of fields the form does not show and any other known
// error above it. ok is false for errors that are not the user's doing.
func applyFormError(err error, t engine.TypeView, values map[string]any, stored []string, fp *formPage, pg *page) (status int, ok bool) {
	var fe engine.FieldErrors
	var errs map[string]string
	status = http.StatusUnprocessableEntity
	switch {
	case errors.As(err, &fe):
		errs = fieldErrors(fe)
		pg.Error = "Some values need attention."
	default:
		d, known := api.Classify(err)
		if !known {
			return 0, false
		}
		status, pg.Error = d.Status, d.Detail
	}
	fp.NameErr = errs["name"]
	fp.Fields = buildFields(t.InitParameters, values, stored, errs)
	used := map[string]bool{"name": true}
	for _, f := range fp.Fields {
		used[strings.ToLower(f.Name)] = true
	}
	for k, msg := range errs {
		if !used[k] {
			pg.Error += " " + k + ": " + msg
		}
	}
	return status, true
}

func (p *Pages) editInstancePage(w http.ResponseWriter, r *http.Request, s *session) {
	v, _, ok := p.instance(w, r, s, "")
	if !ok {
		return
	}
	t, err := p.eng.Type(v.TypeID)
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	fp := formPage{Action: fmt.Sprintf("/integrations/%d/edit", v.ID), TypeID: t.ID, TypeName: t.Name, Name: v.Name,
		Disabled: v.Disabled, Editing: true, Submit: "Save changes",
		Fields: withConnectActions(buildFields(t.InitParameters, v.FormData, v.InputsWithStoredPasswords, nil), v.ID)}
	p.renderInstance(w, r, s, http.StatusOK, "instance-form.html", "Edit", v, page{Notice: r.URL.Query().Get("notice")}, fp)
}

func (p *Pages) updateInstance(w http.ResponseWriter, r *http.Request, s *session) {
	v, id, ok := p.instance(w, r, s, "")
	if !ok {
		return
	}
	t, err := p.eng.Type(v.TypeID)
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	values := formData(t.InitParameters, r.PostForm)
	in := engine.InstanceInput{Name: strings.TrimSpace(r.PostForm.Get("name")), FormData: values, Disabled: r.PostForm.Get("disabled") != ""}
	if _, err := p.eng.UpdateInstance(r.Context(), id, in); err != nil {
		fp := formPage{Action: fmt.Sprintf("/integrations/%d/edit", id), TypeID: t.ID, TypeName: t.Name, Name: in.Name,
			Disabled: in.Disabled, Editing: true, Submit: "Save changes"}
		pg := page{Title: "Edit · " + v.Name, Nav: "integrations"}
		status, ok := applyFormError(err, t, values, v.InputsWithStoredPasswords, &fp, &pg)
		if !ok {
			p.engineError(w, r, s, err)
			return
		}
		fp.Fields = withConnectActions(fp.Fields, id)
		// Render inside the tab frame like the edit page.
		p.renderInstance(w, r, s, status, "instance-form.html", "Edit", v, pg, fp)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/integrations/%d?notice=%s", id, url.QueryEscape("Changes saved.")), http.StatusSeeOther)
}

// ---- clients -----------------------------------------------------------------------------

// clientRow is one remote client with its mapping.
type clientRow struct {
	store.Client
	TenantName string
}

// clientsData is the Clients tab.
type clientsData struct {
	Clients []clientRow
	Tenants []store.Tenant
}

func (p *Pages) clients(w http.ResponseWriter, r *http.Request, s *session) {
	v, id, ok := p.instance(w, r, s, capClients)
	if !ok {
		return
	}
	p.renderClients(w, r, s, v, id, http.StatusOK, page{Notice: r.URL.Query().Get("notice")})
}

func (p *Pages) renderClients(w http.ResponseWriter, r *http.Request, s *session, v engine.InstanceView, id int64, status int, pg page) {
	cs, err := p.eng.Clients(r.Context(), id)
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	tenants, err := p.eng.Tenants()
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	names := map[int64]string{}
	for _, t := range tenants {
		names[t.ID] = t.Name
	}
	d := clientsData{Tenants: tenants}
	for _, c := range cs {
		d.Clients = append(d.Clients, clientRow{Client: c, TenantName: names[c.LinkedTenantID]})
	}
	p.renderInstance(w, r, s, status, "clients.html", "Clients", v, pg, d)
}

func (p *Pages) refreshClients(w http.ResponseWriter, r *http.Request, s *session) {
	_, id, ok := p.instance(w, r, s, capClients)
	if !ok {
		return
	}
	cs, err := p.eng.RefreshClients(r.Context(), id)
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/integrations/%d/clients?notice=%s", id, url.QueryEscape(fmt.Sprintf("Fetched %d clients.", len(cs)))), http.StatusSeeOther)
}

func (p *Pages) mapClient(w http.ResponseWriter, r *http.Request, s *session) {
	v, id, ok := p.instance(w, r, s, capClients)
	if !ok {
		return
	}
	clientID := r.PostForm.Get("client")
	tenantID, _ := strconv.ParseInt(r.PostForm.Get("tenant"), 10, 64)
	fail := func(status int, msg string) {
		p.renderClients(w, r, s, v, id, status, page{Error: msg})
	}
	if name := strings.TrimSpace(r.PostForm.Get("newTenant")); name != "" {
		t, err := p.eng.CreateTenant(engine.TenantInput{Name: name})
		if err != nil {
			d, ok := api.Classify(err)
			if !ok { // not the user's doing: log it, do not show internals
				p.engineError(w, r, s, err)
				return
			}
			fail(http.StatusUnprocessableEntity, "The tenant could not be created: "+d.Detail)
			return
		}
		tenantID = t.ID
	}
	c, err := p.eng.MapClient(id, clientID, tenantID)
	if err != nil {
		d, ok := api.Classify(err)
		if !ok {
			p.engineError(w, r, s, err)
			return
		}
		fail(d.Status, d.Detail)
		return
	}
	msg := fmt.Sprintf("%s is no longer mapped.", c.ExternalClientName)
	if tenantID != 0 {
		msg = fmt.Sprintf("%s is mapped.", c.ExternalClientName)
	}
	http.Redirect(w, r, fmt.Sprintf("/integrations/%d/clients?notice=%s", id, url.QueryEscape(msg)), http.StatusSeeOther)
}

// ---- agents, webhook, health, calls, console ---------------------------------------------

// agentsData is the Agents tab.
type agentsData struct {
	Agents  []store.Agent
	Pending int
	// Mapped is how many clients are mapped to a tenant: only their agents are synced.
	Mapped int
	// ClientsTab is set when the integration has a Clients tab to map clients on.
	ClientsTab bool
}

func (p *Pages) agents(w http.ResponseWriter, r *http.Request, s *session) {
	v, id, ok := p.instance(w, r, s, capAgents)
	if !ok {
		return
	}
	as, err := p.eng.Agents(id)
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	mapped, err := p.eng.Mappings(id)
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	d := agentsData{Agents: as, Mapped: len(mapped), ClientsTab: slices.Contains(v.Capabilities, capClients)}
	for _, a := range as {
		if a.ComputerID == 0 {
			d.Pending++
		}
	}
	p.renderInstance(w, r, s, http.StatusOK, "agents.html", "Agents", v, page{Notice: r.URL.Query().Get("notice")}, d)
}

func (p *Pages) syncAgents(w http.ResponseWriter, r *http.Request, s *session) {
	_, id, ok := p.instance(w, r, s, capAgents)
	if !ok {
		return
	}
	res, err := p.eng.SyncAgents(r.Context(), id)
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	msg := fmt.Sprintf("Synced %d agents of %d clients.", res.Agents, res.Clients)
	if res.Skipped {
		msg = "No client is mapped to a tenant, so no agents were synced: map clients on the Clients tab first."
	}
	http.Redirect(w, r, fmt.Sprintf("/integrations/%d/agents?notice=%s", id, url.QueryEscape(msg)), http.StatusSeeOther)
}

func (p *Pages) webhook(w http.ResponseWriter, r *http.Request, s *session) {
	v, _, ok := p.instance(w, r, s, capHTTP)
	if !ok {
		return
	}
	p.renderWebhook(w, r, s, http.StatusOK, v, page{Notice: r.URL.Query().Get("notice")}, "")
}

// healthData is the data of an integration's health page.
type healthData struct {
	Events []store.HealthEvent
	Calls  latestCalls
}

func (p *Pages) health(w http.ResponseWriter, r *http.Request, s *session) {
	v, id, ok := p.instance(w, r, s, "")
	if !ok {
		return
	}
	hs, err := p.eng.HealthHistory(id, 100)
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	p.renderInstance(w, r, s, http.StatusOK, "health.html", "Health", v, page{}, healthData{Events: hs, Calls: p.latest(id)})
}

// callRow is one logged call with its decoded stream records.
type callRow struct {
	store.CallLogEntry
	Streams []bridge.Record
}

func (p *Pages) calls(w http.ResponseWriter, r *http.Request, s *session) {
	v, id, ok := p.instance(w, r, s, "")
	if !ok {
		return
	}
	before, _ := strconv.ParseUint(r.URL.Query().Get("before"), 10, 64)
	entries, err := p.eng.CallLog(id, 50, before)
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	rows := make([]callRow, 0, len(entries))
	for _, e := range entries {
		row := callRow{CallLogEntry: e}
		if len(e.Records) > 0 {
			if err := json.Unmarshal(e.Records, &row.Streams); err != nil {
				row.Streams = []bridge.Record{{Stream: "error", Message: "the stored stream records could not be read"}}
			}
		}
		rows = append(rows, row)
	}
	p.renderInstance(w, r, s, http.StatusOK, "calls.html", "Calls", v, page{}, rows)
}

func (p *Pages) consolePage(w http.ResponseWriter, r *http.Request, s *session) {
	if !p.opts.Console {
		p.fail(w, r, s, http.StatusNotFound, "This server has no console.")
		return
	}
	if s.role != store.RoleAdmin {
		p.fail(w, r, s, http.StatusForbidden, "The console is for admin tokens; you signed in with a "+s.role+" token.")
		return
	}
	v, _, ok := p.instance(w, r, s, "")
	if !ok {
		return
	}
	p.renderInstance(w, r, s, http.StatusOK, "console.html", "Console", v, page{}, nil)
}

// ---- integration types -------------------------------------------------------------------

func (p *Pages) types(w http.ResponseWriter, r *http.Request, s *session) {
	ts, err := p.eng.Types()
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	p.render(w, r, s, http.StatusOK, "types.html", page{Title: "Integration types", Nav: "types", Notice: r.URL.Query().Get("notice"), Data: ts})
}

func (p *Pages) typePage(w http.ResponseWriter, r *http.Request, s *session) {
	t, err := p.eng.Type(r.PathValue("id"))
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	p.renderType(w, r, s, http.StatusOK, t, page{Notice: r.URL.Query().Get("notice")})
}

// typeData is the type page: the type and the integrations that use it.
type typeData struct {
	Type      engine.TypeView
	Instances []engine.InstanceView
}

// renderType renders the type page of t with its integrations.
func (p *Pages) renderType(w http.ResponseWriter, r *http.Request, s *session, status int, t engine.TypeView, pg page) {
	insts, err := p.instancesOf(t.ID)
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	pg.Title, pg.Nav, pg.Data = t.Name, "types", typeData{Type: t, Instances: insts}
	p.render(w, r, s, status, "type.html", pg)
}

// instancesOf lists the integrations of a type.
func (p *Pages) instancesOf(typeID string) ([]engine.InstanceView, error) {
	all, err := p.eng.Instances()
	if err != nil {
		return nil, err
	}
	var out []engine.InstanceView
	for _, v := range all {
		if v.TypeID == typeID {
			out = append(out, v)
		}
	}
	return out, nil
}

// typeForm is the data of the upload form (new type) and the replace form (existing type).
type typeForm struct {
	// ID is the type being replaced; empty for a new type.
	ID                                    string
	Name, Description, ScriptName, Script string
	Errors                                map[string]string
	Issues                                []bridge.ParseIssue
	IssueScript                           string
	// Instances is how many integrations use the type being replaced.
	Instances int
}

func (p *Pages) newTypePage(w http.ResponseWriter, r *http.Request, s *session) {
	p.render(w, r, s, http.StatusOK, "type-form.html", page{Title: "New integration type", Nav: "types", Data: typeForm{}})
}

// readTypeForm reads the upload form: name, description, script name and the script, from the
// file input when a file was chosen, else from the text area.
func readTypeForm(r *http.Request) (typeForm, error) {
	f := typeForm{
		Name: strings.TrimSpace(r.PostForm.Get("name")), Description: strings.TrimSpace(r.PostForm.Get("description")),
		ScriptName: strings.TrimSpace(r.PostForm.Get("scriptName")), Script: r.PostForm.Get("script"),
	}
	text, name, err := uploadedFile(r, "scriptFile")
	if err != nil {
		return f, err
	}
	if text != "" {
		f.Script = text
		if f.ScriptName == "" {
			f.ScriptName = name
		}
	}
	return f, nil
}

// uploadedFile returns the text and file name of the file input field of a multipart form;
// both are empty when no file (or an empty one) was chosen.
func uploadedFile(r *http.Request, field string) (text, name string, err error) {
	file, hdr, err := r.FormFile(field)
	if err != nil {
		return "", "", nil // no file chosen (or not a multipart form)
	}
	defer file.Close()
	b, err := io.ReadAll(io.LimitReader(file, maxFormBody))
	if err != nil {
		return "", "", fmt.Errorf("read the uploaded file %s: %w", hdr.Filename, err)
	}
	return string(b), hdr.Filename, nil
}

// typeFormError puts the engine's complaint about an uploaded script into f and pg: field
// errors beside their inputs, parse errors listed with line and column. ok is false for
// errors that are not the user's doing.
func typeFormError(err error, f *typeForm, pg *page) (status int, ok bool) {
	var fe engine.FieldErrors
	var pe *bridge.ParseError
	switch {
	case errors.As(err, &fe):
		f.Errors = map[string]string{}
		for _, e := range fe {
			f.Errors[e.Field] = e.Message
		}
		pg.Error = "Some values need attention."
	case errors.As(err, &pe):
		f.Issues, f.IssueScript = pe.Issues, pe.Script
		pg.Error = "The script does not parse."
	default:
		d, known := api.Classify(err)
		if !known {
			return 0, false
		}
		pg.Error = d.Detail
		return d.Status, true
	}
	return http.StatusUnprocessableEntity, true
}

func (p *Pages) createType(w http.ResponseWriter, r *http.Request, s *session) {
	f, err := readTypeForm(r)
	if err != nil {
		p.fail(w, r, s, http.StatusBadRequest, "The uploaded script could not be read.")
		return
	}
	t, err := p.eng.CreateType(r.Context(), engine.TypeInput{Name: f.Name, Description: f.Description, Script: f.Script, ScriptName: f.ScriptName})
	if err == nil {
		http.Redirect(w, r, "/types/"+url.PathEscape(t.ID)+"?notice="+url.QueryEscape("Integration type created."), http.StatusSeeOther)
		return
	}
	pg := page{Title: "New integration type", Nav: "types"}
	status, ok := typeFormError(err, &f, &pg)
	if !ok {
		p.engineError(w, r, s, err)
		return
	}
	pg.Data = f
	p.render(w, r, s, status, "type-form.html", pg)
}
