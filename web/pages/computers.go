package pages

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/web/api"
)

// ---- tenants, enrollment keys and computers ----------------------------------------------

// tenantRow is one line of the Tenants page.
type tenantRow struct {
	store.Tenant
	Computers, Online int
}

func (p *Pages) tenants(w http.ResponseWriter, r *http.Request, s *session) {
	ts, err := p.eng.Tenants()
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	cs, err := p.eng.ComputerViews(0)
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	rows := make([]tenantRow, len(ts))
	idx := map[int64]int{}
	for i, t := range ts {
		rows[i] = tenantRow{Tenant: t}
		idx[t.ID] = i
	}
	for _, c := range cs {
		if i, ok := idx[c.TenantID]; ok {
			rows[i].Computers++
			if c.Online {
				rows[i].Online++
			}
		}
	}
	p.render(w, r, s, http.StatusOK, "tenants.html", page{Title: "Tenants", Nav: "tenants", Data: rows})
}

// keyRow is an enrollment key as the tenant page shows it.
type keyRow struct {
	store.EnrollmentKey
	State string // "active", "expired" or "revoked"
}

// tenantData is the tenant page.
type tenantData struct {
	Tenant    store.Tenant
	Keys      []keyRow
	NewKey    *engine.NewEnrollmentKey // set only in the answer to creating it
	Computers int
	Online    int
	CanWrite  bool
	Expires   string // the create form's value after an error
}

// tenant reads {id} and loads the tenant, rendering the error page when it cannot.
func (p *Pages) tenant(w http.ResponseWriter, r *http.Request, s *session) (store.Tenant, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		p.fail(w, r, s, http.StatusNotFound, "There is no such tenant.")
		return store.Tenant{}, false
	}
	t, err := p.eng.Tenant(id)
	if err != nil {
		p.engineError(w, r, s, err)
		return store.Tenant{}, false
	}
	return t, true
}

func (p *Pages) tenantPage(w http.ResponseWriter, r *http.Request, s *session) {
	t, ok := p.tenant(w, r, s)
	if !ok {
		return
	}
	p.renderTenant(w, r, s, http.StatusOK, t, page{Notice: r.URL.Query().Get("notice")}, tenantData{})
}

func (p *Pages) renderTenant(w http.ResponseWriter, r *http.Request, s *session, status int, t store.Tenant, pg page, d tenantData) {
	keys, err := p.eng.EnrollmentKeys(t.ID)
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	cs, err := p.eng.ComputerViews(t.ID)
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	now := p.opts.Now()
	d.Tenant, d.Computers, d.CanWrite = t, len(cs), api.Permits(s.role, store.RoleOperator)
	for _, c := range cs {
		if c.Online {
			d.Online++
		}
	}
	for i := len(keys) - 1; i >= 0; i-- { // newest first
		k := keys[i]
		st := "active"
		switch {
		case !k.RevokedAt.IsZero():
			st = "revoked"
		case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
			st = "expired"
		}
		d.Keys = append(d.Keys, keyRow{EnrollmentKey: k, State: st})
	}
	pg.Title, pg.Nav, pg.Data = t.Name, "tenants", d
	p.render(w, r, s, status, "tenant.html", pg)
}

// createEnrollmentKey makes a key and answers with the tenant page showing it, once: it is in
// no URL, no later page and no log.
func (p *Pages) createEnrollmentKey(w http.ResponseWriter, r *http.Request, s *session) {
	t, ok := p.tenant(w, r, s)
	if !ok {
		return
	}
	raw := strings.TrimSpace(r.PostForm.Get("expiresHours"))
	var ttl time.Duration
	if raw != "" {
		h, err := strconv.ParseFloat(raw, 64)
		if err != nil || h < 0 || h > 24*3650 {
			p.renderTenant(w, r, s, http.StatusUnprocessableEntity, t, page{Error: "Expires in: give a number of hours between 0 (never) and 87600."}, tenantData{Expires: raw})
			return
		}
		ttl = time.Duration(h * float64(time.Hour))
	}
	k, err := p.eng.CreateEnrollmentKey(t.ID, ttl)
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	p.renderTenant(w, r, s, http.StatusCreated, t, page{Notice: "Enrollment key created. Copy it now: it is not shown again."}, tenantData{NewKey: &k})
}

func (p *Pages) revokeEnrollmentKey(w http.ResponseWriter, r *http.Request, s *session) {
	t, ok := p.tenant(w, r, s)
	if !ok {
		return
	}
	keyID := r.PathValue("keyId")
	if err := p.eng.RevokeEnrollmentKey(t.ID, keyID); err != nil {
		p.engineError(w, r, s, err)
		return
	}
	msg := "Enrollment key " + keyID + " revoked; the computers it enrolled stay."
	http.Redirect(w, r, fmt.Sprintf("/tenants/%d?notice=%s", t.ID, url.QueryEscape(msg)), http.StatusSeeOther)
}

// identRow is one integration's last identification of a computer.
type identRow struct {
	Integration string
	store.IdentificationResult
}

// computerRow is one computer of the Computers page.
type computerRow struct {
	engine.ComputerView
	Inv   store.Inventory
	Ident []identRow
}

// computersData is the Computers page.
type computersData struct {
	Tenant    store.Tenant
	Computers []computerRow
	Online    int
}

func (p *Pages) computers(w http.ResponseWriter, r *http.Request, s *session) {
	t, ok := p.tenant(w, r, s)
	if !ok {
		return
	}
	cs, err := p.eng.ComputerViews(t.ID)
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	insts, err := p.eng.Instances()
	if err != nil {
		p.engineError(w, r, s, err)
		return
	}
	names := map[string]string{}
	for _, in := range insts {
		names[strconv.FormatInt(in.ID, 10)] = in.Name
	}
	d := computersData{Tenant: t}
	for _, c := range cs {
		row := computerRow{ComputerView: c}
		if c.Inventory != nil {
			row.Inv = *c.Inventory
		}
		for id, res := range c.Identification {
			n := names[id]
			if n == "" {
				n = "integration " + id + " (deleted)"
			}
			row.Ident = append(row.Ident, identRow{Integration: n, IdentificationResult: res})
		}
		sort.Slice(row.Ident, func(i, j int) bool { return row.Ident[i].Integration < row.Ident[j].Integration })
		if c.Online {
			d.Online++
		}
		d.Computers = append(d.Computers, row)
	}
	p.render(w, r, s, http.StatusOK, "computers.html", page{Title: "Computers of " + t.Name, Nav: "tenants", Data: d})
}
