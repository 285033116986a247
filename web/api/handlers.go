package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/web/httpx"
)

func (a *API) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := httpx.Decode(w, r, a.opts.MaxBody, v); err != nil {
		a.fail(w, r, err)
		return false
	}
	return true
}

// page writes one page of items sorted ascending by key.
func page[T any](a *API, w http.ResponseWriter, r *http.Request, items []T, key func(T) string, less func(x, y string) bool) {
	limit, cursor, err := httpx.PageParams(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p, err := httpx.Paginate(items, key, less, limit, cursor)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, p)
}

func idKey(id int64) string { return strconv.FormatInt(id, 10) }

// ---- integration types ---------------------------------------------------------------------

func (a *API) listTypes(w http.ResponseWriter, r *http.Request) {
	ts, err := a.eng.Types()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for i := range ts {
		ts[i].Script = "" // the list stays small; GET one type for its script
	}
	page(a, w, r, ts, func(t engine.TypeView) string { return t.ID }, httpx.LessText)
}

func (a *API) createType(w http.ResponseWriter, r *http.Request) {
	var in engine.TypeInput
	if !a.decode(w, r, &in) {
		return
	}
	t, err := a.eng.CreateType(r.Context(), in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/integration-types/"+t.ID)
	httpx.JSON(w, http.StatusCreated, t)
}

func (a *API) getType(w http.ResponseWriter, r *http.Request) {
	t, err := a.eng.Type(r.PathValue("typeId"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, t)
}

func (a *API) updateType(w http.ResponseWriter, r *http.Request) {
	var in engine.TypeInput
	if !a.decode(w, r, &in) {
		return
	}
	t, err := a.eng.UpdateType(r.Context(), r.PathValue("typeId"), in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, t)
}

func (a *API) deleteType(w http.ResponseWriter, r *http.Request) {
	if err := a.eng.DeleteType(r.PathValue("typeId")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- module scripts ---------------------------------------------------------------------------

// moduleInput is the body of POST /modules and PUT /modules/{name}.
type moduleInput struct {
	Name   string `json:"name"`
	Script string `json:"script"`
}

func (a *API) listModules(w http.ResponseWriter, r *http.Request) {
	ms, err := a.eng.Modules()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for i := range ms {
		ms[i].Script = ""
	}
	page(a, w, r, ms, func(m store.ModuleScript) string { return strings.ToLower(m.Name) }, httpx.LessText)
}

func (a *API) createModule(w http.ResponseWriter, r *http.Request) {
	var in moduleInput
	if !a.decode(w, r, &in) {
		return
	}
	m, err := a.eng.PutModule(in.Name, in.Script, true)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/modules/"+m.Name)
	httpx.JSON(w, http.StatusCreated, m)
}

func (a *API) getModule(w http.ResponseWriter, r *http.Request) {
	m, err := a.eng.Module(r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, m)
}

func (a *API) putModule(w http.ResponseWriter, r *http.Request) {
	var in moduleInput
	if !a.decode(w, r, &in) {
		return
	}
	name := r.PathValue("name")
	if in.Name != "" && !strings.EqualFold(in.Name, name) {
		a.fail(w, r, engine.FieldErrors{{Field: "name", Message: "must match the name in the path (or be left out)"}})
		return
	}
	if in.Name == "" {
		in.Name = name
	}
	m, err := a.eng.PutModule(in.Name, in.Script, false)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, m)
}

func (a *API) deleteModule(w http.ResponseWriter, r *http.Request) {
	if err := a.eng.DeleteModule(r.PathValue("name")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- instances --------------------------------------------------------------------------------

func (a *API) listInstances(w http.ResponseWriter, r *http.Request) {
	limit, cursor, err := httpx.PageParams(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var after int64
	if cursor != "" {
		s, err := httpx.DecodeCursor(cursor)
		if err == nil {
			after, err = strconv.ParseInt(s, 10, 64)
		}
		if err != nil {
			a.fail(w, r, &httpx.RequestError{Details: httpx.Details{Type: httpx.TypeMalformed, Status: http.StatusBadRequest,
				Detail: "cursor is not a cursor this server returned", Errors: []httpx.FieldError{{Field: "cursor", Message: "is not a cursor this server returned"}}}})
			return
		}
	}
	items, more, err := a.eng.InstancesAfter(after, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p := httpx.Page[engine.InstanceView]{Items: items}
	if more && len(items) > 0 {
		p.NextCursor = httpx.EncodeCursor(idKey(items[len(items)-1].ID))
	}
	httpx.JSON(w, http.StatusOK, p)
}

func (a *API) createInstance(w http.ResponseWriter, r *http.Request) {
	var in engine.InstanceInput
	if !a.decode(w, r, &in) {
		return
	}
	v, err := a.eng.CreateInstance(r.Context(), in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/integrations/"+idKey(v.ID))
	httpx.JSON(w, http.StatusCreated, v)
}

func (a *API) getInstance(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "integration")
	if err == nil {
		var v engine.InstanceView
		if v, err = a.eng.Instance(id); err == nil {
			httpx.JSON(w, http.StatusOK, v)
			return
		}
	}
	a.fail(w, r, err)
}

func (a *API) updateInstance(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "integration")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var in engine.InstanceInput
	if !a.decode(w, r, &in) {
		return
	}
	v, err := a.eng.UpdateInstance(r.Context(), id, in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, v)
}

func (a *API) deleteInstance(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "integration")
	if err == nil {
		err = a.eng.DeleteInstance(id)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) healthHistory(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "integration")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	events, err := a.eng.HealthHistory(id, 0)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// Newest first: the cursor is the time of the last event shown, and the next page holds
	// older events, so new events arriving meanwhile do not shift it.
	page(a, w, r, events, func(ev store.HealthEvent) string {
		return strconv.FormatInt(ev.At.UnixNano(), 10)
	}, func(x, y string) bool { return httpx.LessNumeric(y, x) })
}

func (a *API) checkHealth(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "integration")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	h, err := a.eng.CheckHealth(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, h)
}

func (a *API) callLog(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "integration")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	limit, cursor, err := httpx.PageParams(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var before uint64
	if cursor != "" {
		s, derr := httpx.DecodeCursor(cursor)
		if derr != nil {
			a.fail(w, r, derr)
			return
		}
		if before, err = strconv.ParseUint(s, 10, 64); err != nil {
			a.fail(w, r, &httpx.RequestError{Details: httpx.Details{Type: httpx.TypeMalformed, Status: http.StatusBadRequest, Detail: "cursor is not a cursor this server returned"}})
			return
		}
	}
	entries, err := a.eng.CallLog(id, limit+1, before)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p := httpx.Page[store.CallLogEntry]{Items: entries}
	if len(entries) > limit {
		p.Items = entries[:limit]
		p.NextCursor = httpx.EncodeCursor(strconv.FormatUint(p.Items[limit-1].ID, 10))
	}
	if p.Items == nil {
		p.Items = []store.CallLogEntry{}
	}
	httpx.JSON(w, http.StatusOK, p)
}

// invokeInput is the body of POST /integrations/{id}/methods/{method}.
type invokeInput struct {
	Args map[string]any `json:"args"`
}

// resultView is a script's result as the API shows it.
type resultView struct {
	Output      []json.RawMessage `json:"output"`
	OutputTypes []string          `json:"outputTypes"`
	HadErrors   bool              `json:"hadErrors"`
	// Status is "ok", or "completed with errors" when the call wrote non-terminating errors
	// (store.CallStatus; a failed call answers with a problem instead).
	Status     string          `json:"status"`
	Records    []bridge.Record `json:"records"`
	DurationMs int64           `json:"durationMs"`
}

func viewResult(res *bridge.Result) resultView {
	v := resultView{Output: res.Output, OutputTypes: res.OutputTypes, HadErrors: res.HadErrors,
		Status: store.CallStatus(false, res.HadErrors), Records: res.Records, DurationMs: res.Duration.Milliseconds()}
	if v.Output == nil {
		v.Output = []json.RawMessage{}
	}
	if v.OutputTypes == nil {
		v.OutputTypes = []string{}
	}
	if v.Records == nil {
		v.Records = []bridge.Record{}
	}
	return v
}

func (a *API) invokeMethod(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "integration")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var in invokeInput
	if r.ContentLength != 0 || r.Header.Get("Content-Type") != "" {
		if !a.decode(w, r, &in) {
			return
		}
	}
	if err := engine.CheckArgNames(in.Args); err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.eng.Call(r.Context(), id, r.PathValue("method"), in.Args)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, viewResult(res))
}

// ---- clients and mappings ---------------------------------------------------------------------

func clientKey(c store.Client) string { return c.ExternalClientID }

func (a *API) listClients(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "integration")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	cs, err := a.eng.Clients(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page(a, w, r, cs, clientKey, httpx.LessText)
}

func (a *API) refreshClients(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "integration")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	cs, err := a.eng.RefreshClients(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page(a, w, r, cs, clientKey, httpx.LessText)
}

func (a *API) listMappings(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "integration")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	cs, err := a.eng.Mappings(id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page(a, w, r, cs, clientKey, httpx.LessText)
}

// mappingInput is the body of PUT /integrations/{id}/mappings/{clientId}.
type mappingInput struct {
	TenantID int64 `json:"tenantId"`
}

func (a *API) mapClient(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "integration")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var in mappingInput
	if !a.decode(w, r, &in) {
		return
	}
	if in.TenantID <= 0 {
		a.fail(w, r, engine.FieldErrors{{Field: "tenantId", Message: "is required (a tenant id; DELETE the mapping to unmap)"}})
		return
	}
	c, err := a.eng.MapClient(id, r.PathValue("clientId"), in.TenantID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, c)
}

func (a *API) unmapClient(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "integration")
	if err == nil {
		_, err = a.eng.MapClient(id, r.PathValue("clientId"), 0)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- agents -----------------------------------------------------------------------------------

func (a *API) listAgents(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "integration")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	as, err := a.eng.Agents(id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page(a, w, r, as, func(ag store.Agent) string { return ag.ExternalAgentID }, httpx.LessText)
}

func (a *API) syncAgents(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "integration")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.eng.SyncAgents(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, res)
}

func (a *API) pendingAgents(w http.ResponseWriter, r *http.Request) {
	as, err := a.eng.PendingAgents()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page(a, w, r, as, func(ag store.Agent) string {
		return fmt.Sprintf("%020d/%s", ag.InstanceID, ag.ExternalAgentID)
	}, httpx.LessText)
}

// maintenanceInput is the body of POST /integrations/{id}/maintenance.
type maintenanceInput struct {
	ComputerID int64 `json:"computerId"`
	Enable     *bool `json:"enable"`
}

func (a *API) maintenance(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "integration")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var in maintenanceInput
	if !a.decode(w, r, &in) {
		return
	}
	var fe engine.FieldErrors
	if in.ComputerID <= 0 {
		fe = append(fe, engine.FieldError{Field: "computerId", Message: "is required"})
	}
	if in.Enable == nil {
		fe = append(fe, engine.FieldError{Field: "enable", Message: "is required (true or false)"})
	}
	if len(fe) > 0 {
		a.fail(w, r, fe)
		return
	}
	res, err := a.eng.SetMaintenance(r.Context(), id, in.ComputerID, *in.Enable)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, res)
}

// webhookSecretInput is the body of PUT /integrations/{id}/webhook-secret.
type webhookSecretInput struct {
	// Secret to require; empty generates one.
	Secret string `json:"secret"`
}

func (a *API) setWebhookSecret(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "integration")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var in webhookSecretInput
	if !a.decode(w, r, &in) {
		return
	}
	secret, err := a.eng.SetWebhookSecret(id, in.Secret)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]string{"secret": secret,
		"note": "shown once; send it as X-Psbridge-Secret, or sign the body with it as X-Psbridge-Signature: sha256=<hex HMAC-SHA256>"})
}

func (a *API) clearWebhookSecret(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "integration")
	if err == nil {
		err = a.eng.ClearWebhookSecret(id)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- tenants ----------------------------------------------------------------------------------

func (a *API) listTenants(w http.ResponseWriter, r *http.Request) {
	ts, err := a.eng.Tenants()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page(a, w, r, ts, func(t store.Tenant) string { return idKey(t.ID) }, httpx.LessNumeric)
}

func (a *API) createTenant(w http.ResponseWriter, r *http.Request) {
	var in engine.TenantInput
	if !a.decode(w, r, &in) {
		return
	}
	t, err := a.eng.CreateTenant(in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/tenants/"+idKey(t.ID))
	httpx.JSON(w, http.StatusCreated, t)
}

func (a *API) getTenant(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "tenant")
	if err == nil {
		var t store.Tenant
		if t, err = a.eng.Tenant(id); err == nil {
			httpx.JSON(w, http.StatusOK, t)
			return
		}
	}
	a.fail(w, r, err)
}

func (a *API) updateTenant(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "tenant")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var in engine.TenantInput
	if !a.decode(w, r, &in) {
		return
	}
	t, err := a.eng.UpdateTenant(id, in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, t)
}

func (a *API) deleteTenant(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "tenant")
	if err == nil {
		err = a.eng.DeleteTenant(id)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- computers and identification ---------------------------------------------------------------

func (a *API) listComputers(w http.ResponseWriter, r *http.Request) {
	var tenant int64
	if q := r.URL.Query().Get("tenantId"); q != "" {
		n, err := strconv.ParseInt(q, 10, 64)
		if err != nil || n <= 0 {
			a.fail(w, r, engine.FieldErrors{{Field: "tenantId", Message: "must be a tenant id"}})
			return
		}
		tenant = n
	}
	cs, err := a.eng.ComputerViews(tenant)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	if !q.Has("limit") && !q.Has("cursor") {
		// ImmyBot answers a bare array of every computer, and scripts written for it index
		// the answer directly ($Computers | … computerId = $_.id); psbridge's paged envelope
		// is for callers that ask for a page.
		httpx.JSON(w, http.StatusOK, immyComputers(cs))
		return
	}
	page(a, w, r, immyComputers(cs), func(c Computer) string { return idKey(c.ID) }, httpx.LessNumeric)
}

func (a *API) createComputer(w http.ResponseWriter, r *http.Request) {
	var in engine.ComputerInput
	if !a.decode(w, r, &in) {
		return
	}
	c, err := a.eng.CreateComputer(in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/computers/"+idKey(c.ID))
	httpx.JSON(w, http.StatusCreated, c)
}

func (a *API) getComputer(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "computer")
	if err == nil {
		var c engine.ComputerView
		if c, err = a.eng.ComputerStatus(id); err == nil {
			httpx.JSON(w, http.StatusOK, ImmyComputer(c))
			return
		}
	}
	a.fail(w, r, err)
}

// identifyNow runs inventory identification on a computer now and answers its results.
func (a *API) identifyNow(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "computer")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.eng.IdentifyComputer(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if res == nil {
		res = []store.IdentificationResult{}
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"results": res})
}

// computerScript runs a metascript bound to a computer, or a script on the computer itself.
func (a *API) computerScript(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "computer")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var in engine.ComputerScriptInput
	if !a.decode(w, r, &in) {
		return
	}
	res, err := a.eng.RunOnComputerScript(r.Context(), id, in, nil)
	a.scriptAnswer(w, r, res, err)
}

// ---- enrollment keys --------------------------------------------------------------------------

func (a *API) listEnrollmentKeys(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "tenant")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ks, err := a.eng.EnrollmentKeys(id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if ks == nil {
		ks = []store.EnrollmentKey{}
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"items": ks})
}

func (a *API) createEnrollmentKey(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "tenant")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var in engine.EnrollmentKeyInput
	if r.ContentLength != 0 && !a.decode(w, r, &in) {
		return
	}
	k, err := a.eng.CreateEnrollmentKey(id, time.Duration(in.ExpiresInSeconds)*time.Second)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/tenants/"+idKey(id)+"/enrollment-keys/"+k.ID)
	httpx.JSON(w, http.StatusCreated, k)
}

func (a *API) revokeEnrollmentKey(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "tenant")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.eng.RevokeEnrollmentKey(id, r.PathValue("keyId")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// identificationInput is the body of POST /computers/{id}/identification: the agent id an
// inventory script found on the computer.
type identificationInput struct {
	IntegrationID int64  `json:"integrationId"`
	AgentID       string `json:"agentId"`
}

func (a *API) identify(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "computer")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var in identificationInput
	if !a.decode(w, r, &in) {
		return
	}
	var fe engine.FieldErrors
	if in.IntegrationID <= 0 {
		fe = append(fe, engine.FieldError{Field: "integrationId", Message: "is required"})
	}
	if strings.TrimSpace(in.AgentID) == "" {
		fe = append(fe, engine.FieldError{Field: "agentId", Message: "is required"})
	}
	if len(fe) > 0 {
		a.fail(w, r, fe)
		return
	}
	ag, err := a.eng.Identify(id, in.IntegrationID, in.AgentID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, ag)
}

// ---- scripts and admin ----------------------------------------------------------------------------

func (a *API) runScript(w http.ResponseWriter, r *http.Request) {
	var in engine.RunScriptInput
	if !a.decode(w, r, &in) {
		return
	}
	if err := engine.CheckArgNames(in.Args); err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.eng.RunScript(r.Context(), in)
	a.scriptAnswer(w, r, res, err)
}

// scriptAnswer answers a script run: its result, or a problem (the caller's own script failing
// is a 422, not a gateway error).
func (a *API) scriptAnswer(w http.ResponseWriter, r *http.Request, res *bridge.Result, err error) {
	if err != nil {
		d, ok := Classify(err)
		if d.Type == httpx.TypeScript {
			// The caller's own script failed: that is a problem with the request, not a gateway.
			d.Status, d.Title = http.StatusUnprocessableEntity, "The script failed"
		}
		if !ok {
			a.fail(w, r, err)
			return
		}
		httpx.Problem(w, r, d)
		return
	}
	httpx.JSON(w, http.StatusOK, viewResult(res))
}

func (a *API) backup(w http.ResponseWriter, r *http.Request) {
	name := "psbridge-" + a.opts.Now().UTC().Format("20060102-150405") + ".db"
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	start := time.Now()
	n, err := a.eng.Store().Backup(w)
	if err != nil {
		// Headers are gone; the truncated body fails the client's copy. Log the cause.
		a.log.Error().Str("request_id", httpx.RequestID(r.Context())).Err(err).Msg("backup")
		return
	}
	a.log.Info().Int64("bytes", n).Dur("duration", time.Since(start)).Msg("backup streamed")
}
