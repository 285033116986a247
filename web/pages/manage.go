package pages

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/web/api"
)

// ---- management: replacing and deleting types, modules, deleting integrations, webhook
// secrets and API tokens. Each form calls the engine (or store) function the matching REST
// endpoint calls, so pages and API behave alike.

// confirmData is the confirmation page of a destructive form.
type confirmData struct {
	Heading  string
	Message  string
	Action   string // the POST path
	Button   string
	Cancel   string // where "Cancel" leads
	Blockers []link // what must be deleted first; the form is not shown while any exist
	Blocked  string // why the blockers block
}

// link is a labelled href.
type link struct{ Label, Href string }

func (p *Pages) confirm(w http.ResponseWriter, r *http.Request, s *session, status int, nav string, pg page, d confirmData) {
	pg.Nav, pg.Data = nav, d
	if pg.Title == "" {
		pg.Title = d.Heading
	}
	p.render(w, r, s, status, "confirm.html", pg)
}

// redirectNotice sends the browser to path with a notice to show.
func redirectNotice(w http.ResponseWriter, r *http.Request, path, notice string) {
	http.Redirect(w, r, path+"?notice="+url.QueryEscape(notice), http.StatusSeeOther)
}

// ---- integrations ------------------------------------------------------------------------

func (p *Pages) deleteInstancePage(w http.ResponseWriter, r *http.Request, s *session) {
	v, id, ok := p.instance(w, r, s, "")
	if !ok {
		return
	}
	p.confirm(w, r, s, http.StatusOK, "integrations", page{}, confirmData{
		Heading: "Delete " + v.Name + "?",
		Message: "This deletes the integration " + v.Name + " (" + v.TypeName + ") with its stored configuration and secrets, " +
			"client mappings, agents, health history and call log. The integration type stays. This cannot be undone.",
		Action: fmt.Sprintf("/integrations/%d/delete", id), Button: "Delete integration", Cancel: fmt.Sprintf("/integrations/%d", id),
	})
}

func (p *Pages) deleteInstance(w http.ResponseWriter, r *http.Request, s *session) {
	v, id, ok := p.instance(w, r, s, "")
	if !ok {
		return
	}
	if err := p.eng.DeleteInstance(id); err != nil {
		p.engineError(w, r, s, err)
		return
	}
	redirectNotice(w, r, "/integrations", "Integration "+v.Name+" deleted.")
}

// ---- integration types -------------------------------------------------------------------

func (p *Pages) editTypePage(w http.ResponseWriter, r *http.Request, s *session) {
	t, err := p.eng.Type(r.PathValue("id"))
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	insts, err := p.instancesOf(t.ID)
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	f := typeForm{ID: t.ID, Name: t.Name, Description: t.Description, ScriptName: t.ScriptName, Script: t.Script, Instances: len(insts)}
	p.render(w, r, s, http.StatusOK, "type-form.html", page{Title: "Replace " + t.Name, Nav: "types", Data: f})
}

// replaceType replaces a type's name, description and script as PUT
// /api/v1/integration-types/{id} does: the engine loads the new script first (a script that
// does not parse changes nothing), and the type's integrations run Init with it at their next
// call.
func (p *Pages) replaceType(w http.ResponseWriter, r *http.Request, s *session) {
	old, err := p.eng.Type(r.PathValue("id"))
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	f, err := readTypeForm(r)
	if err != nil {
		p.fail(w, r, s, http.StatusBadRequest, "The uploaded script could not be read.")
		return
	}
	f.ID = old.ID
	insts, err := p.instancesOf(old.ID)
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	f.Instances = len(insts)
	t, err := p.eng.UpdateType(r.Context(), old.ID, engine.TypeInput{Name: f.Name, Description: f.Description, Script: f.Script, ScriptName: f.ScriptName})
	if err == nil {
		msg := "Script replaced."
		if n := len(insts); n > 0 {
			msg = fmt.Sprintf("Script replaced. Its %d integration(s) run Init with the new script at their next call; a health check follows shortly.", n)
		}
		redirectNotice(w, r, "/types/"+url.PathEscape(t.ID), msg)
		return
	}
	pg := page{Title: "Replace " + old.Name, Nav: "types"}
	status, ok := typeFormError(err, &f, &pg)
	if !ok {
		p.engineError(w, r, s, err)
		return
	}
	pg.Data = f
	p.render(w, r, s, status, "type-form.html", pg)
}

// typeBlockers lists the integrations that keep a type from being deleted.
func typeBlockers(insts []engine.InstanceView) []link {
	out := make([]link, 0, len(insts))
	for _, v := range insts {
		out = append(out, link{Label: v.Name, Href: fmt.Sprintf("/integrations/%d/delete", v.ID)})
	}
	return out
}

func (p *Pages) deleteTypeConfirm(t engine.TypeView, insts []engine.InstanceView) confirmData {
	d := confirmData{
		Heading: "Delete the integration type " + t.Name + "?",
		Message: "This deletes the type and its script " + t.ScriptName + ". This cannot be undone.",
		Action:  "/types/" + url.PathEscape(t.ID) + "/delete", Button: "Delete integration type", Cancel: "/types/" + url.PathEscape(t.ID),
		Blockers: typeBlockers(insts),
	}
	if len(insts) > 0 {
		d.Blocked = fmt.Sprintf("%s cannot be deleted while %d integration(s) use it. Delete these integrations first:", t.Name, len(insts))
	}
	return d
}

func (p *Pages) deleteTypePage(w http.ResponseWriter, r *http.Request, s *session) {
	t, err := p.eng.Type(r.PathValue("id"))
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	insts, err := p.instancesOf(t.ID)
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	p.confirm(w, r, s, http.StatusOK, "types", page{}, p.deleteTypeConfirm(t, insts))
}

// deleteType deletes a type as DELETE /api/v1/integration-types/{id} does: the engine refuses
// (409) while integrations use it, and the page then lists them.
func (p *Pages) deleteType(w http.ResponseWriter, r *http.Request, s *session) {
	t, err := p.eng.Type(r.PathValue("id"))
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	err = p.eng.DeleteType(t.ID)
	if errors.Is(err, engine.ErrConflict) {
		insts, lerr := p.instancesOf(t.ID)
		if lerr != nil {
			p.engineError(w, r, s, lerr)
			return
		}
		d := p.deleteTypeConfirm(t, insts)
		p.confirm(w, r, s, http.StatusConflict, "types", page{Error: d.Blocked}, d)
		return
	}
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	redirectNotice(w, r, "/types", "Integration type "+t.Name+" deleted.")
}

// ---- module scripts ----------------------------------------------------------------------

// moduleForm is the upload form of the Modules page and the replace form of a module's page.
type moduleForm struct {
	Name, Script string
	Errors       map[string]string
}

// modulesData is the Modules page.
type modulesData struct {
	Modules []store.ModuleScript
	Form    moduleForm
}

// moduleData is one module's page.
type moduleData struct {
	Module store.ModuleScript
	Form   moduleForm
}

func (p *Pages) modules(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderModules(w, r, s, http.StatusOK, page{Notice: r.URL.Query().Get("notice")}, moduleForm{})
}

func (p *Pages) renderModules(w http.ResponseWriter, r *http.Request, s *session, status int, pg page, f moduleForm) {
	ms, err := p.eng.Modules()
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	pg.Title, pg.Nav, pg.Data = "Modules", "modules", modulesData{Modules: ms, Form: f}
	p.render(w, r, s, status, "modules.html", pg)
}

// readModuleForm reads a module form: the script from the file input when a file was chosen
// (its base name without .psm1/.ps1 names the module when the name is left empty), else from
// the text area.
func readModuleForm(r *http.Request) (moduleForm, error) {
	f := moduleForm{Name: strings.TrimSpace(r.PostForm.Get("name")), Script: r.PostForm.Get("script")}
	text, name, err := uploadedFile(r, "scriptFile")
	if err != nil {
		return f, err
	}
	if text != "" {
		f.Script = text
		if f.Name == "" {
			base := path.Base(strings.ReplaceAll(name, "\\", "/"))
			f.Name = strings.TrimSuffix(strings.TrimSuffix(base, ".psm1"), ".ps1")
		}
	}
	return f, nil
}

// moduleError puts the engine's complaint into f and pg; ok is false for errors that are not
// the user's doing.
func moduleError(err error, f *moduleForm, pg *page) (status int, ok bool) {
	var fe engine.FieldErrors
	if errors.As(err, &fe) {
		f.Errors = map[string]string{}
		for _, e := range fe {
			f.Errors[e.Field] = e.Message
		}
		pg.Error = "Some values need attention."
		return http.StatusUnprocessableEntity, true
	}
	d, known := api.Classify(err)
	if !known {
		return 0, false
	}
	pg.Error = d.Detail
	return d.Status, true
}

// uploadModule adds a module as POST /api/v1/modules does: a module of the same name (in any
// case) is a conflict, replaced on its own page instead.
func (p *Pages) uploadModule(w http.ResponseWriter, r *http.Request, s *session) {
	f, err := readModuleForm(r)
	if err != nil {
		p.fail(w, r, s, http.StatusBadRequest, "The uploaded module could not be read.")
		return
	}
	m, err := p.eng.PutModule(f.Name, f.Script, true)
	if err == nil {
		redirectNotice(w, r, "/modules/"+url.PathEscape(m.Name), "Module "+m.Name+" uploaded.")
		return
	}
	var pg page
	if errors.Is(err, store.ErrConflict) {
		f.Errors = map[string]string{"name": "a module with this name exists: replace it on its page"}
		pg.Error = "A module named " + f.Name + " exists already. Open it to replace its script."
		f.Script = "" // the text area would otherwise carry a large script back
		p.renderModules(w, r, s, http.StatusConflict, pg, f)
		return
	}
	status, ok := moduleError(err, &f, &pg)
	if !ok {
		p.engineError(w, r, s, err)
		return
	}
	p.renderModules(w, r, s, status, pg, f)
}

func (p *Pages) modulePage(w http.ResponseWriter, r *http.Request, s *session) {
	m, err := p.eng.Module(r.PathValue("name"))
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	p.render(w, r, s, http.StatusOK, "module.html", page{Title: m.Name, Nav: "modules", Notice: r.URL.Query().Get("notice"), Data: moduleData{Module: m}})
}

// replaceModule replaces a module's script as PUT /api/v1/modules/{name} does; workers import
// the new version at their next call.
func (p *Pages) replaceModule(w http.ResponseWriter, r *http.Request, s *session) {
	m, err := p.eng.Module(r.PathValue("name"))
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	f, err := readModuleForm(r)
	if err != nil {
		p.fail(w, r, s, http.StatusBadRequest, "The uploaded module could not be read.")
		return
	}
	f.Name = m.Name // the page replaces this module; the file's name does not rename it
	nm, err := p.eng.PutModule(m.Name, f.Script, false)
	if err == nil {
		redirectNotice(w, r, "/modules/"+url.PathEscape(nm.Name), "Module "+nm.Name+" replaced; integrations import the new version at their next call.")
		return
	}
	pg := page{Title: m.Name, Nav: "modules"}
	status, ok := moduleError(err, &f, &pg)
	if !ok {
		p.engineError(w, r, s, err)
		return
	}
	pg.Data = moduleData{Module: m, Form: f}
	p.render(w, r, s, status, "module.html", pg)
}

func (p *Pages) deleteModulePage(w http.ResponseWriter, r *http.Request, s *session) {
	m, err := p.eng.Module(r.PathValue("name"))
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	p.confirm(w, r, s, http.StatusOK, "modules", page{}, confirmData{
		Heading: "Delete the module " + m.Name + "?",
		Message: "Integration scripts that import " + m.Name + " will fail to load until a module of that name is uploaded again. This cannot be undone.",
		Action:  "/modules/" + url.PathEscape(m.Name) + "/delete", Button: "Delete module", Cancel: "/modules/" + url.PathEscape(m.Name),
	})
}

func (p *Pages) deleteModule(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("name")
	if err := p.eng.DeleteModule(name); err != nil {
		p.engineError(w, r, s, err)
		return
	}
	redirectNotice(w, r, "/modules", "Module "+name+" deleted.")
}

// ---- webhook secret ----------------------------------------------------------------------

// webhookData is the Webhook tab.
type webhookData struct {
	URL string
	// NewSecret is a generated secret, set only in the answer to generating it.
	NewSecret string
}

func (p *Pages) renderWebhook(w http.ResponseWriter, r *http.Request, s *session, status int, v engine.InstanceView, pg page, newSecret string) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: r.Host, Path: v.PluginBaseURL + "/"}
	p.renderInstance(w, r, s, status, "webhook.html", "Webhook", v, pg, webhookData{URL: u.String(), NewSecret: newSecret})
}

// setWebhookSecret sets the webhook secret as PUT /api/v1/integrations/{id}/webhook-secret
// does: an empty value generates one, which is shown once in this answer; a typed one (at
// least 16 characters) is never shown back.
func (p *Pages) setWebhookSecret(w http.ResponseWriter, r *http.Request, s *session) {
	v, id, ok := p.instance(w, r, s, capHTTP)
	if !ok {
		return
	}
	typed := r.PostForm.Get("secret")
	if r.PostForm.Get("generate") != "" {
		typed = ""
	}
	secret, err := p.eng.SetWebhookSecret(id, typed)
	if err != nil {
		d, known := api.Classify(err)
		if !known {
			p.engineError(w, r, s, err)
			return
		}
		msg := d.Detail
		var fe engine.FieldErrors
		if errors.As(err, &fe) && len(fe) > 0 {
			msg = "The secret " + fe[0].Message + "; nothing was changed."
		}
		p.renderWebhook(w, r, s, d.Status, v, page{Error: msg}, "")
		return
	}
	if v, err = p.eng.Instance(id); err != nil {
		p.engineError(w, r, s, err)
		return
	}
	if typed != "" {
		redirectNotice(w, r, fmt.Sprintf("/integrations/%d/webhook", id), "Webhook secret set.")
		return
	}
	p.renderWebhook(w, r, s, http.StatusOK, v, page{Notice: "Webhook secret generated."}, secret)
}

func (p *Pages) clearWebhookSecretPage(w http.ResponseWriter, r *http.Request, s *session) {
	v, id, ok := p.instance(w, r, s, capHTTP)
	if !ok {
		return
	}
	p.confirm(w, r, s, http.StatusOK, "integrations", page{}, confirmData{
		Heading: "Clear the webhook secret of " + v.Name + "?",
		Message: "Without a secret anyone who knows the webhook URL can call it.",
		Action:  fmt.Sprintf("/integrations/%d/webhook/clear", id), Button: "Clear webhook secret", Cancel: fmt.Sprintf("/integrations/%d/webhook", id),
	})
}

func (p *Pages) clearWebhookSecret(w http.ResponseWriter, r *http.Request, s *session) {
	_, id, ok := p.instance(w, r, s, capHTTP)
	if !ok {
		return
	}
	if err := p.eng.ClearWebhookSecret(id); err != nil {
		p.engineError(w, r, s, err)
		return
	}
	redirectNotice(w, r, fmt.Sprintf("/integrations/%d/webhook", id), "Webhook secret cleared: the endpoint is open.")
}

// ---- API tokens --------------------------------------------------------------------------

// tokensData is the Tokens page.
type tokensData struct {
	Tokens []store.APIToken
	Self   string            // the id of the session's token
	Roles  []string          // the roles to choose from
	New    *api.CreatedToken // set only in the answer to creating it
	Name   string            // the form's values after an error
	Role   string
	Errors map[string]string
}

func (p *Pages) tokens(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderTokens(w, r, s, http.StatusOK, page{Notice: r.URL.Query().Get("notice")}, tokensData{})
}

func (p *Pages) renderTokens(w http.ResponseWriter, r *http.Request, s *session, status int, pg page, d tokensData) {
	toks, err := p.eng.Store().Tokens()
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	for i := range toks {
		toks[i].Hash = nil
	}
	d.Tokens, d.Self, d.Roles = toks, s.tokenID, store.Roles
	if d.Role == "" {
		d.Role = store.RoleReadOnly
	}
	pg.Title, pg.Nav, pg.Data = "API tokens", "tokens", d
	p.render(w, r, s, status, "tokens.html", pg)
}

// createToken makes a token as POST /api/v1/tokens does and answers with the Tokens page
// showing it, once: it is in no URL, no later page and no log.
func (p *Pages) createToken(w http.ResponseWriter, r *http.Request, s *session) {
	in := api.TokenInput{Name: strings.TrimSpace(r.PostForm.Get("name")), Role: r.PostForm.Get("role")}
	out, err := api.NewToken(p.eng.Store(), in)
	if err != nil {
		var fe engine.FieldErrors
		if !errors.As(err, &fe) {
			p.engineError(w, r, s, err)
			return
		}
		d := tokensData{Name: in.Name, Role: in.Role, Errors: map[string]string{}}
		for _, e := range fe {
			d.Errors[e.Field] = e.Message
		}
		p.renderTokens(w, r, s, http.StatusUnprocessableEntity, page{Error: "Some values need attention."}, d)
		return
	}
	p.renderTokens(w, r, s, http.StatusCreated, page{Notice: "Token " + out.Name + " created."}, tokensData{New: &out})
}

// token finds the token of the {tokenId} path value.
func (p *Pages) token(w http.ResponseWriter, r *http.Request, s *session) (store.APIToken, bool) {
	id := r.PathValue("tokenId")
	toks, err := p.eng.Store().Tokens()
	if err != nil {
		p.engineError(w, r, s, err)
		return store.APIToken{}, false
	}
	for _, t := range toks {
		if t.ID == id {
			t.Hash = nil
			return t, true
		}
	}
	p.fail(w, r, s, http.StatusNotFound, "No API token has the id "+strconv.Quote(id)+".")
	return store.APIToken{}, false
}

func (p *Pages) revokeTokenPage(w http.ResponseWriter, r *http.Request, s *session) {
	t, ok := p.token(w, r, s)
	if !ok {
		return
	}
	msg := "Programs and people using the token " + t.Name + " (" + t.Role + ") lose access at once, and its browser sessions end."
	if t.ID == s.tokenID {
		msg += " You signed in with this token: you will be signed out."
	}
	p.confirm(w, r, s, http.StatusOK, "tokens", page{}, confirmData{
		Heading: "Revoke the API token " + t.Name + "?", Message: msg,
		Action: "/tokens/" + url.PathEscape(t.ID) + "/revoke", Button: "Revoke token", Cancel: "/tokens",
	})
}

// revokeToken deletes a token as DELETE /api/v1/tokens/{id} does. Sessions signed in with it
// end at their next request.
func (p *Pages) revokeToken(w http.ResponseWriter, r *http.Request, s *session) {
	t, ok := p.token(w, r, s)
	if !ok {
		return
	}
	if err := p.eng.Store().DeleteToken(t.ID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			p.fail(w, r, s, http.StatusNotFound, "No API token has the id "+strconv.Quote(t.ID)+".")
			return
		}
		p.engineError(w, r, s, err)
		return
	}
	if t.ID == s.tokenID {
		p.endSession(s)
		setCookie(w, r, SessionCookie, "", "/", -1)
		http.Redirect(w, r, "/sign-in", http.StatusSeeOther)
		return
	}
	redirectNotice(w, r, "/tokens", "Token "+t.Name+" revoked.")
}
