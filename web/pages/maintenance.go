package pages

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/software"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/web/api"
)

// ---- software, deployments and maintenance sessions ----------------------------------------

// stateNames are the desired software states in the order of their numbers (0-6).
var stateNames = []string{"NoAction", "NotPresent", "ThisVersion", "OlderOrEqualVersion", "LatestVersion", "NewerOrEqualVersion", "AnyVersion"}

// stateOption is one choice of a desired-state select.
type stateOption struct {
	Value int
	Name  string
}

func stateOptions() []stateOption {
	out := make([]stateOption, len(stateNames))
	for i, n := range stateNames {
		out[i] = stateOption{i, n}
	}
	return out
}

func stateName(d int) string {
	if d >= 0 && d < len(stateNames) {
		return stateNames[d]
	}
	return strconv.Itoa(d)
}

// names maps the ids of software, tenants and computers to their names for the tables.
type names struct {
	Software  []store.Software
	Tenants   []store.Tenant
	Computers []engine.ComputerView
	sw        map[int64]string
	tenant    map[int64]string
	computer  map[int64]string
}

func (p *Pages) loadNames() (names, error) {
	n := names{sw: map[int64]string{}, tenant: map[int64]string{}, computer: map[int64]string{}}
	var err error
	if n.Software, err = p.opts.Software.List(""); err != nil {
		return n, err
	}
	if n.Tenants, err = p.eng.Tenants(); err != nil {
		return n, err
	}
	if n.Computers, err = p.eng.ComputerViews(0); err != nil {
		return n, err
	}
	for _, s := range n.Software {
		n.sw[s.ID] = s.Name
	}
	for _, t := range n.Tenants {
		n.tenant[t.ID] = t.Name
	}
	for _, c := range n.Computers {
		n.computer[c.ID] = c.Name
	}
	return n, nil
}

func orID(name, what string, id int64) string {
	if name != "" {
		return name
	}
	return fmt.Sprintf("%s %d (deleted)", what, id)
}

// softwareRow is one line of the Software page.
type softwareRow struct {
	store.Software
	Deployments int
}

func (p *Pages) softwarePage(w http.ResponseWriter, r *http.Request, s *session) {
	all, err := p.opts.Software.List("")
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	ds, err := p.opts.Software.Deployments()
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	rows := make([]softwareRow, len(all))
	for i, sw := range all {
		rows[i].Software = sw
		for _, d := range ds {
			if d.SoftwareID == sw.ID {
				rows[i].Deployments++
			}
		}
	}
	p.render(w, r, s, http.StatusOK, "software.html", page{Title: "Software", Nav: "software", Data: rows})
}

// deploymentRow is one line of the Deployments page.
type deploymentRow struct {
	store.Deployment
	Software, Target, State string
}

// deploymentsData is the Deployments page.
type deploymentsData struct {
	Rows     []deploymentRow
	Names    names
	States   []stateOption
	CanWrite bool
	Form     url.Values // the create form's values after an error
}

func (p *Pages) deploymentsPage(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderDeployments(w, r, s, http.StatusOK, page{Notice: r.URL.Query().Get("notice")}, nil)
}

func (p *Pages) renderDeployments(w http.ResponseWriter, r *http.Request, s *session, status int, pg page, form url.Values) {
	n, err := p.loadNames()
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	ds, err := p.opts.Software.Deployments()
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	if form == nil {
		form = url.Values{"desiredSoftwareState": {"5"}}
	}
	d := deploymentsData{Names: n, States: stateOptions(), CanWrite: api.Permits(s.role, store.RoleOperator), Form: form}
	for _, dep := range ds {
		row := deploymentRow{Deployment: dep, Software: orID(n.sw[dep.SoftwareID], "software", dep.SoftwareID), State: stateName(dep.DesiredSoftwareState)}
		if dep.ComputerID != 0 {
			row.Target = "computer " + orID(n.computer[dep.ComputerID], "computer", dep.ComputerID)
		} else {
			row.Target = "tenant " + orID(n.tenant[dep.TenantID], "tenant", dep.TenantID)
		}
		d.Rows = append(d.Rows, row)
	}
	pg.Title, pg.Nav, pg.Data = "Deployments", "deployments", d
	p.render(w, r, s, status, "deployments.html", pg)
}

// formID reads an optional positive id field ("" is 0).
func formID(v url.Values, field string) (int64, bool) {
	raw := strings.TrimSpace(v.Get(field))
	if raw == "" {
		return 0, true
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	return id, err == nil && id > 0
}

// fieldMessage turns a validation error into one sentence for the page.
func fieldMessage(err error) (string, bool) {
	d, ok := api.Classify(err)
	if !ok || d.Status >= 500 {
		return "", false
	}
	if len(d.Errors) == 0 {
		return d.Detail, true
	}
	var parts []string
	for _, e := range d.Errors {
		parts = append(parts, e.Field+" "+e.Message)
	}
	return "Not saved: " + strings.Join(parts, "; ") + ".", true
}

func (p *Pages) createDeployment(w http.ResponseWriter, r *http.Request, s *session) {
	f := r.PostForm
	in := software.DeploymentInput{Notes: f.Get("notes")}
	var bad []string
	var ok bool
	if in.SoftwareID, ok = formID(f, "softwareId"); !ok || in.SoftwareID == 0 {
		bad = append(bad, "Software: choose one")
	}
	target := f.Get("target") // "tenant:ID" or "computer:ID"
	kind, idText, _ := strings.Cut(target, ":")
	id, err := strconv.ParseInt(idText, 10, 64)
	switch {
	case err != nil || id <= 0:
		bad = append(bad, "Target: choose a tenant or a computer")
	case kind == "tenant":
		in.TenantID = id
	case kind == "computer":
		in.ComputerID = id
	default:
		bad = append(bad, "Target: choose a tenant or a computer")
	}
	st, err := strconv.Atoi(f.Get("desiredSoftwareState"))
	if err != nil {
		bad = append(bad, "Desired state: choose one")
	} else {
		in.DesiredSoftwareState = &st
	}
	if len(bad) > 0 {
		p.renderDeployments(w, r, s, http.StatusUnprocessableEntity, page{Error: strings.Join(bad, "; ") + "."}, f)
		return
	}
	d, err := p.opts.Software.CreateDeployment(in)
	if err != nil {
		if msg, ok := fieldMessage(err); ok {
			status := http.StatusUnprocessableEntity
			if dd, _ := api.Classify(err); dd.Status == http.StatusConflict {
				status = http.StatusConflict
			}
			p.renderDeployments(w, r, s, status, page{Error: msg}, f)
			return
		}
		p.engineError(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/deployments?notice="+url.QueryEscape(fmt.Sprintf("Deployment %d created.", d.ID)), http.StatusSeeOther)
}

func (p *Pages) deleteDeployment(w http.ResponseWriter, r *http.Request, s *session) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		p.fail(w, r, s, http.StatusNotFound, "There is no such deployment.")
		return
	}
	if err := p.opts.Software.DeleteDeployment(id); err != nil {
		p.engineError(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/deployments?notice="+url.QueryEscape(fmt.Sprintf("Deployment %d removed.", id)), http.StatusSeeOther)
}

// sessionRow is one maintenance session as the pages show it.
type sessionRow struct {
	store.MaintenanceSession
	Computer, Software, StateName string
}

// sessionsData is the Sessions page.
type sessionsData struct {
	Rows     []sessionRow
	Names    names
	States   []stateOption
	CanWrite bool
	Form     url.Values
}

func (p *Pages) row(n names, m store.MaintenanceSession) sessionRow {
	row := sessionRow{MaintenanceSession: m, Computer: orID(n.computer[m.ComputerID], "computer", m.ComputerID), StateName: stateName(m.DesiredState)}
	switch {
	case m.InventoryOnly:
		row.Software = "inventory only"
	case m.FullMaintenance:
		row.Software = "full maintenance"
	default:
		row.Software = orID(n.sw[m.SoftwareID], "software", m.SoftwareID)
	}
	return row
}

func (p *Pages) sessionsPage(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderSessions(w, r, s, http.StatusOK, page{Notice: r.URL.Query().Get("notice")}, nil)
}

func (p *Pages) renderSessions(w http.ResponseWriter, r *http.Request, s *session, status int, pg page, form url.Values) {
	n, err := p.loadNames()
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	ms, err := p.opts.Software.Sessions()
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	if form == nil {
		form = url.Values{"mode": {"5"}}
	}
	d := sessionsData{Names: n, States: stateOptions(), CanWrite: api.Permits(s.role, store.RoleOperator), Form: form}
	for _, m := range slices.Backward(ms) { // newest first
		d.Rows = append(d.Rows, p.row(n, m))
	}
	pg.Title, pg.Nav, pg.Data = "Maintenance sessions", "sessions", d
	p.render(w, r, s, status, "sessions.html", pg)
}

// runSession starts a session for one computer from the Sessions page's form: one software
// in a chosen state or in its winning deployment's state, full maintenance or inventory only.
func (p *Pages) runSession(w http.ResponseWriter, r *http.Request, s *session) {
	f := r.PostForm
	in := software.RunInput{}
	computer, ok := formID(f, "computerId")
	if !ok || computer == 0 {
		p.renderSessions(w, r, s, http.StatusUnprocessableEntity, page{Error: "Computer: choose one."}, f)
		return
	}
	in.Computers = []software.Target{{ComputerID: computer}}
	mode := f.Get("mode") // 0-6, "winning", "full" or "inventory"
	switch mode {
	case "full":
		in.FullMaintenance = true
	case "inventory":
		in.InventoryOnly = true
	default:
		in.MaintenanceParams = &software.MaintenanceParams{MaintenanceIdentifier: f.Get("softwareId")}
		if mode == "winning" {
			in.UseWinningDeployment = true
		} else if st, err := strconv.Atoi(mode); err == nil {
			in.MaintenanceParams.DesiredSoftwareState = &st
		}
	}
	switch f.Get("offlineBehavior") {
	case "1":
		in.OfflineBehavior = software.OfflineSkip
	case "2":
		in.OfflineBehavior = software.OfflineApplyOnConnect
	}
	in.DetectionOnly = f.Get("detectionOnly") == "on"
	ms, err := p.opts.Software.Run(in)
	if err != nil {
		if msg, ok := fieldMessage(err); ok {
			p.renderSessions(w, r, s, http.StatusUnprocessableEntity, page{Error: strings.Replace(msg, "Not saved", "Not started", 1)}, f)
			return
		}
		p.engineError(w, r, s, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/sessions/%d", ms[0].ID), http.StatusSeeOther)
}

// sessionData is the page of one session.
type sessionData struct {
	sessionRow
	Actions []actionRow
	Live    bool // the session has not ended: the page follows its log
}

// actionRow is one maintenance action of a session.
type actionRow struct {
	store.MaintenanceAction
	StateName string
}

func (p *Pages) sessionPage(w http.ResponseWriter, r *http.Request, s *session) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		p.fail(w, r, s, http.StatusNotFound, "There is no such maintenance session.")
		return
	}
	m, err := p.opts.Software.Session(id)
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	n, err := p.loadNames()
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	d := sessionData{sessionRow: p.row(n, m), Live: m.EndedAt.IsZero()}
	for _, a := range m.Actions {
		d.Actions = append(d.Actions, actionRow{MaintenanceAction: a, StateName: stateName(a.DesiredState)})
	}
	p.render(w, r, s, http.StatusOK, "session.html", page{Title: fmt.Sprintf("Session %d", m.ID), Nav: "sessions", Data: d})
}

// sessionLog streams a session's log to the signed-in browser (the same events as the API's
// /maintenance-sessions/{id}/log).
func (p *Pages) sessionLog(w http.ResponseWriter, r *http.Request, s *session) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		http.Error(w, "no such session", http.StatusNotFound)
		return
	}
	api.StreamSessionLog(w, r, p.opts.Software, id, func(w http.ResponseWriter, r *http.Request, err error) {
		http.Error(w, "no such session", http.StatusNotFound)
	})
}
