package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/software"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/dx"
	"github.com/psbridge/psbridge/web/httpx"
)

// Computer is a computer with ImmyBot's field names next to psbridge's own.
type Computer struct {
	engine.ComputerView
	ComputerID       int64  `json:"computerId"`
	ComputerName     string `json:"computerName"`
	TenantID         int64  `json:"tenantId"`
	PrimaryUserEmail string `json:"primaryUserEmail,omitempty"`
	PrimaryUserName  string `json:"primaryUserName,omitempty"`
	IsOnline         bool   `json:"isOnline"`
	Serial           string `json:"serial,omitempty"`
	OS               string `json:"os,omitempty"`
	Manufacturer     string `json:"manufacturer,omitempty"`
	Model            string `json:"model,omitempty"`
	Domain           string `json:"domain,omitempty"`
}

// ImmyComputer adds ImmyBot's field names to a computer.
func ImmyComputer(c engine.ComputerView) Computer {
	out := Computer{ComputerView: c, ComputerID: c.ID, ComputerName: c.Name, TenantID: c.Computer.TenantID, IsOnline: c.Online}
	if inv := c.Inventory; inv != nil {
		if inv.ComputerName != "" {
			out.ComputerName = inv.ComputerName
		}
		out.PrimaryUserEmail, out.PrimaryUserName, out.Serial = inv.PrimaryEmail, inv.PrimaryUser, inv.Serial
		out.OS = strings.TrimSpace(inv.OSName + " " + inv.OSVersion)
		out.Manufacturer, out.Model, out.Domain = inv.Manufacturer, inv.Model, inv.Domain
	}
	return out
}

// ComputerFields are the fields /computers/dx filters and sorts on.
var ComputerFields = dx.Schema[Computer]{
	"id":               func(c Computer) any { return c.ID },
	"computerId":       func(c Computer) any { return c.ComputerID },
	"computerName":     func(c Computer) any { return c.ComputerName },
	"tenantId":         func(c Computer) any { return c.TenantID },
	"primaryUserEmail": func(c Computer) any { return nilIfEmpty(c.PrimaryUserEmail) },
	"primaryUserName":  func(c Computer) any { return nilIfEmpty(c.PrimaryUserName) },
	"isOnline":         func(c Computer) any { return c.IsOnline },
	"serial":           func(c Computer) any { return nilIfEmpty(c.Serial) },
	"os":               func(c Computer) any { return nilIfEmpty(c.OS) },
	"manufacturer":     func(c Computer) any { return nilIfEmpty(c.Manufacturer) },
	"model":            func(c Computer) any { return nilIfEmpty(c.Model) },
	"domain":           func(c Computer) any { return nilIfEmpty(c.Domain) },
	"deviceId":         func(c Computer) any { return nilIfEmpty(c.DeviceID) },
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func immyComputers(cs []engine.ComputerView) []Computer {
	out := make([]Computer, len(cs))
	for i, c := range cs {
		out[i] = ImmyComputer(c)
	}
	return out
}

// computersDx answers the DevExtreme data-source protocol over every computer.
func (a *API) computersDx(w http.ResponseWriter, r *http.Request) {
	q, err := dx.ParseQuery(r.URL.Query())
	if err != nil {
		a.fail(w, r, dxProblem(err))
		return
	}
	cs, err := a.eng.ComputerViews(0)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := dx.Apply(immyComputers(cs), q, ComputerFields)
	if err != nil {
		a.fail(w, r, dxProblem(err))
		return
	}
	httpx.JSON(w, http.StatusOK, res)
}

// dxProblem turns a query error into a 400 naming the bad part.
func dxProblem(err error) error {
	var e *dx.Error
	if !errors.As(err, &e) {
		return err
	}
	field := e.Param
	if e.Path != "" {
		field = e.Path
	}
	return &httpx.RequestError{Details: httpx.Details{Type: httpx.TypeValidation, Status: http.StatusBadRequest, Title: "Invalid data-source query",
		Detail: e.Error(), Errors: []httpx.FieldError{{Field: field, Message: e.Message}}}}
}

// ---- software ----------------------------------------------------------------------------------

func (a *API) listSoftware(scope string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw, err := a.sw.List(scope)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		httpx.JSON(w, http.StatusOK, sw) // a bare array, as ImmyBot answers
	}
}

func (a *API) createSoftware(w http.ResponseWriter, r *http.Request) {
	var in software.Input
	if !a.decode(w, r, &in) {
		return
	}
	sw, err := a.sw.Create(r.Context(), in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/software/%s/%d", sw.Scope, sw.ID))
	httpx.JSON(w, http.StatusCreated, sw)
}

// softwareScope reads {scope} and {id}: a scope other than global or local names no software.
func softwareScope(r *http.Request) (string, int64, error) {
	scope := r.PathValue("scope")
	if scope != "global" && scope != "local" {
		return "", 0, &httpx.RequestError{Details: httpx.Details{Type: httpx.TypeNotFound, Status: http.StatusNotFound,
			Detail: "software scope " + strconv.Quote(scope) + " is neither global nor local"}}
	}
	id, err := pathID(r, "id", scope+" software")
	return scope, id, err
}

func (a *API) getSoftware(w http.ResponseWriter, r *http.Request) {
	scope, id, err := softwareScope(r)
	if err == nil {
		var sw store.Software
		if sw, err = a.sw.Get(scope, id); err == nil {
			httpx.JSON(w, http.StatusOK, sw)
			return
		}
	}
	a.fail(w, r, notFound(err))
}

// updateSoftware replaces software's fields (PUT: the body is the whole Input).
func (a *API) updateSoftware(w http.ResponseWriter, r *http.Request) {
	scope, id, err := softwareScope(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var in software.Input
	if !a.decode(w, r, &in) {
		return
	}
	sw, err := a.sw.Update(r.Context(), scope, id, in)
	if err != nil {
		a.fail(w, r, notFound(err))
		return
	}
	httpx.JSON(w, http.StatusOK, sw)
}

// cachedDynamicVersions answers the versions the dynamic versions script returned last.
func (a *API) cachedDynamicVersions(w http.ResponseWriter, r *http.Request) {
	scope, id, err := softwareScope(r)
	if err == nil {
		var res software.DynamicVersionsResult
		if res, err = a.sw.CachedDynamicVersions(scope, id); err == nil {
			httpx.JSON(w, http.StatusOK, res)
			return
		}
	}
	a.fail(w, r, notFound(err))
}

// refreshDynamicVersions runs the dynamic versions script now and answers its versions.
func (a *API) refreshDynamicVersions(w http.ResponseWriter, r *http.Request) {
	scope, id, err := softwareScope(r)
	if err == nil {
		var res software.DynamicVersionsResult
		if res, err = a.sw.RefreshDynamicVersions(r.Context(), scope, id); err == nil {
			httpx.JSON(w, http.StatusOK, res)
			return
		}
	}
	a.fail(w, r, notFound(err))
}

// runImmyService starts maintenance sessions: 202 with ImmyBot's sessionsStarted and
// sessionsAlreadyInProgress, and psbridge's own sessionIds and sessions (the sessions started).
func (a *API) runImmyService(w http.ResponseWriter, r *http.Request) {
	var in software.RunInput
	if !a.decode(w, r, &in) {
		return
	}
	st, err := a.sw.Start(in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ids := make([]int64, len(st.Sessions))
	for i, s := range st.Sessions {
		ids[i] = s.ID
	}
	httpx.JSON(w, http.StatusAccepted, map[string]any{"sessionIds": ids, "sessions": st.Sessions,
		"sessionsStarted": st.SessionsStarted, "sessionsAlreadyInProgress": st.SessionsAlreadyInProgress})
}

// computerSoftware lists a computer's cached software inventory: the version each session's
// detection last found there (what cacheOnly sessions read).
func (a *API) computerSoftware(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "computer")
	if err == nil {
		var ds []store.DetectedSoftware
		if ds, err = a.sw.DetectedSoftware(id); err == nil {
			httpx.JSON(w, http.StatusOK, ds)
			return
		}
	}
	a.fail(w, r, notFound(err))
}

func (a *API) listSessions(w http.ResponseWriter, r *http.Request) {
	ss, err := a.sw.Sessions()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page(a, w, r, ss, func(s store.MaintenanceSession) string { return idKey(s.ID) }, httpx.LessNumeric)
}

func (a *API) getSession(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "maintenance session")
	if err == nil {
		var s store.MaintenanceSession
		if s, err = a.sw.Session(id); err == nil {
			httpx.JSON(w, http.StatusOK, s)
			return
		}
	}
	a.fail(w, r, notFound(err))
}

// sessionLog streams a session's log as server-sent events.
func (a *API) sessionLog(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "maintenance session")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	StreamSessionLog(w, r, a.sw, id, a.fail)
}

// StreamSessionLog answers r with session id's log as server-sent events: every entry so far
// ("log" events), then new ones as they are written, then an "end" event with the session
// (without its log). The pages serve the same stream to signed-in browsers; fail answers an
// unknown session.
func StreamSessionLog(w http.ResponseWriter, r *http.Request, sw *software.Service, id int64, fail func(http.ResponseWriter, *http.Request, error)) {
	past, ch, stop, err := sw.Follow(id)
	if err != nil {
		fail(w, r, notFound(err))
		return
	}
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(ev string, v any) bool {
		b, _ := jsonMarshal(v)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev, b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	for _, e := range past {
		if !send("log", e) {
			return
		}
	}
	for ch != nil {
		select {
		case e, ok := <-ch:
			if !ok {
				ch = nil
				break
			}
			if !send("log", e) {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
	if s, err := sw.Session(id); err == nil {
		s.Log = nil
		send("end", s)
	}
}

func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", engine.ErrNotFound, err.Error())
	}
	return err
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// ---- deployments -------------------------------------------------------------------------------

func (a *API) listDeployments(w http.ResponseWriter, r *http.Request) {
	ds, err := a.sw.Deployments()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page(a, w, r, ds, func(d store.Deployment) string { return idKey(d.ID) }, httpx.LessNumeric)
}

func (a *API) createDeployment(w http.ResponseWriter, r *http.Request) {
	var in software.DeploymentInput
	if !a.decode(w, r, &in) {
		return
	}
	d, err := a.sw.CreateDeployment(in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/deployments/%d", d.ID))
	httpx.JSON(w, http.StatusCreated, d)
}

func (a *API) getDeployment(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "deployment")
	if err == nil {
		var d store.Deployment
		if d, err = a.sw.Deployment(id); err == nil {
			httpx.JSON(w, http.StatusOK, d)
			return
		}
	}
	a.fail(w, r, notFound(err))
}

func (a *API) deleteDeployment(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "deployment")
	if err == nil {
		if err = a.sw.DeleteDeployment(id); err == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	a.fail(w, r, notFound(err))
}
