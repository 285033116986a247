package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine/store"
)

// SyncResult summarises one agent sync.
type SyncResult struct {
	// Clients is how many mapped client ids were passed to GetAgents.
	Clients int `json:"clients"`
	// Agents is how many agents GetAgents returned (and were stored).
	Agents int `json:"agents"`
	// Skipped is set when no client is mapped, so GetAgents was not called.
	Skipped bool `json:"skipped,omitempty"`
	// ScriptErrors are the non-terminating errors GetAgents wrote ("script:line:column:
	// message"); the agents it still returned are stored, but an agent whose
	// New-IntegrationAgent call failed is missing, and this says why.
	ScriptErrors []string `json:"scriptErrors,omitempty"`
}

// agentOut is the JSON of one New-IntegrationAgent object.
type agentOut struct {
	AgentID                any            `json:"agentId"`
	Name                   string         `json:"name"`
	ClientID               any            `json:"clientId"`
	SerialNumber           string         `json:"serialNumber"`
	OSName                 string         `json:"osName"`
	Manufacturer           string         `json:"manufacturer"`
	IsOnline               bool           `json:"isOnline"`
	AgentVersion           any            `json:"agentVersion"`
	SupportsRunningScripts bool           `json:"supportsRunningScripts"`
	SupportsOnlineStatus   bool           `json:"supportsOnlineStatus"`
	InternalData           any            `json:"internalData"`
	Extra                  map[string]any `json:"extra"`
}

// SyncAgents calls GetAgents with the external ids of the instance's clients that are mapped
// to a tenant and stores what it returns (agents keep their computer links). With no mapped
// client it does not call the script (GetAgents must never get an empty list).
func (e *Engine) SyncAgents(ctx context.Context, id int64) (SyncResult, error) {
	l, err := e.load(id)
	if err != nil {
		return SyncResult{}, err
	}
	if err := requireMethod(l, "GetAgents"); err != nil {
		return SyncResult{}, err
	}
	mapped, err := e.Mappings(id)
	if err != nil {
		return SyncResult{}, err
	}
	e.mu.Lock()
	e.lastAgentSync[id] = time.Now()
	e.mu.Unlock()
	ids := make([]any, 0, len(mapped))
	for _, c := range mapped {
		ids = append(ids, c.ExternalClientID)
	}
	if len(ids) == 0 {
		return SyncResult{Skipped: true}, nil
	}
	_, res, _, err := e.call(ctx, id, "GetAgents", callOpts{args: map[string]any{"ClientIds": ids}})
	if err != nil {
		return SyncResult{}, err
	}
	now := time.Now().UTC()
	agents := make([]store.Agent, 0, len(res.Output))
	for _, raw := range res.Output {
		var a agentOut
		if json.Unmarshal(raw, &a) != nil {
			continue
		}
		aid := idString(a.AgentID)
		if aid == "" {
			continue
		}
		st := store.Agent{
			ExternalAgentID: aid, ExternalClientID: idString(a.ClientID), Name: a.Name,
			SerialNumber: a.SerialNumber, OSName: a.OSName, Manufacturer: a.Manufacturer,
			AgentVersion: versionString(a.AgentVersion), IsOnline: a.IsOnline,
			SupportsRunningScripts: a.SupportsRunningScripts, SupportsOnlineStatus: a.SupportsOnlineStatus,
			Extra: a.Extra, LastSeen: now,
		}
		if a.InternalData != nil {
			if st.Extra == nil {
				st.Extra = map[string]any{}
			}
			st.Extra["internalData"] = a.InternalData
		}
		if len(st.Extra) == 0 {
			st.Extra = nil
		}
		agents = append(agents, st)
	}
	if err := e.st.UpsertAgents(id, agents); err != nil {
		return SyncResult{}, wrapNotFound("integration "+strconv.FormatInt(id, 10), err)
	}
	return SyncResult{Clients: len(ids), Agents: len(agents), ScriptErrors: scriptErrors(res.Records)}, nil
}

// scriptErrors formats the error records of a call, each with its position when known.
func scriptErrors(records []bridge.Record) []string {
	var out []string
	for _, r := range records {
		if r.Stream != "error" {
			continue
		}
		msg := r.Message
		if r.Line > 0 {
			where := r.Script
			if where == "" {
				where = "line"
			}
			msg = fmt.Sprintf("%s:%d:%d: %s", where, r.Line, r.Column, msg)
		}
		out = append(out, msg)
	}
	return out
}

// versionString renders an agent version that serialised as a string or a {major,…} object.
func versionString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		var parts []string
		for _, k := range []string{"major", "minor", "build", "revision"} {
			n, ok := x[k].(float64)
			if !ok || n < 0 {
				break
			}
			parts = append(parts, strconv.FormatFloat(n, 'f', -1, 64))
		}
		return strings.Join(parts, ".")
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// syncDue syncs the agents of every enabled instance whose period has passed. The period is
// GetAgents' [JobSettings(PeriodMinutes)] or AgentSyncPeriod.
func (e *Engine) syncDue(ctx context.Context) {
	insts, err := e.st.Instances()
	if err != nil {
		e.log.Error().Err(err).Msg("list instances for agent sync")
		return
	}
	now := time.Now()
	var due []int64
	for _, inst := range insts {
		if inst.Disabled {
			continue
		}
		t, err := e.getType(inst.TypeID)
		if err != nil {
			continue
		}
		d, err := e.typeDescription(t)
		if err != nil {
			continue
		}
		m, ok := d.Method("GetAgents")
		if !ok {
			continue
		}
		period := e.cfg.AgentSyncPeriod
		if m.PeriodMinutes > 0 {
			period = time.Duration(m.PeriodMinutes) * time.Minute
		}
		e.mu.Lock()
		last, seen := e.lastAgentSync[inst.ID]
		if !seen {
			e.lastAgentSync[inst.ID] = now
		}
		e.mu.Unlock()
		if seen && now.Sub(last) >= period {
			due = append(due, inst.ID)
		}
	}
	e.background(ctx, due, func(ctx context.Context, id int64) {
		if _, err := e.SyncAgents(ctx, id); err != nil && ctx.Err() == nil {
			e.log.Warn().Int64("instance", id).Err(err).Msg("periodic agent sync")
		}
	})
}

// Agents returns the stored agents of an instance ordered by external id.
func (e *Engine) Agents(id int64) ([]store.Agent, error) {
	out, err := e.st.Agents(id)
	return out, wrapNotFound("integration "+strconv.FormatInt(id, 10), err)
}

// PendingAgents returns the agents of all instances not yet linked to a computer.
func (e *Engine) PendingAgents() ([]store.Agent, error) { return e.st.PendingAgents() }

// ---- computers and identification ----------------------------------------------------------

// ComputerInput is what a client submits to create a computer.
type ComputerInput struct {
	Name     string `json:"name"`
	TenantID int64  `json:"tenantId"`
	DeviceID string `json:"deviceId"`
}

// CreateComputer stores a new computer; a non-zero TenantID must exist.
func (e *Engine) CreateComputer(in ComputerInput) (store.Computer, error) {
	var errs FieldErrors
	if strings.TrimSpace(in.Name) == "" {
		errs = append(errs, FieldError{Field: "name", Message: "is required"})
	}
	if in.TenantID < 0 {
		errs = append(errs, FieldError{Field: "tenantId", Message: "must be a tenant id"})
	} else if in.TenantID > 0 {
		if _, err := e.st.Tenant(in.TenantID); err != nil {
			errs = append(errs, FieldError{Field: "tenantId", Message: "no tenant has this id"})
		}
	}
	if len(errs) > 0 {
		return store.Computer{}, errs
	}
	c := store.Computer{Name: in.Name, TenantID: in.TenantID, DeviceID: in.DeviceID}
	if err := e.st.CreateComputer(&c); err != nil {
		return store.Computer{}, err
	}
	return c, nil
}

// Computer returns one computer.
func (e *Engine) Computer(id int64) (store.Computer, error) {
	c, err := e.st.Computer(id)
	return c, wrapNotFound("computer "+strconv.FormatInt(id, 10), err)
}

// Computers returns every computer ordered by id.
func (e *Engine) Computers() ([]store.Computer, error) { return e.st.Computers() }

// Identify records an inventory-identification result: the agent agentID of instance
// instanceID runs on computer computerID. The agent leaves the pending list.
func (e *Engine) Identify(computerID, instanceID int64, agentID string) (store.Agent, error) {
	if err := e.st.LinkAgent(instanceID, agentID, computerID); err != nil {
		return store.Agent{}, wrapNotFound(fmt.Sprintf("integration %d, agent %q or computer %d", instanceID, agentID, computerID), err)
	}
	a, ok, err := e.st.AgentForComputer(instanceID, computerID)
	if err != nil {
		return store.Agent{}, err
	}
	if !ok {
		return store.Agent{}, fmt.Errorf("agent %q: %w", agentID, ErrNotFound)
	}
	return a, nil
}

// agentArg is an agent as a script receives it (bound to [IProviderAgentDetails]$agent).
func agentArg(a store.Agent) map[string]any {
	m := map[string]any{
		"agentId": a.ExternalAgentID, "name": a.Name, "clientId": a.ExternalClientID,
		"serialNumber": a.SerialNumber, "osName": a.OSName, "manufacturer": a.Manufacturer,
		"isOnline": a.IsOnline, "supportsRunningScripts": a.SupportsRunningScripts,
		"supportsOnlineStatus": a.SupportsOnlineStatus,
	}
	if a.AgentVersion != "" {
		m["agentVersion"] = a.AgentVersion
	}
	if len(a.Extra) > 0 {
		m["extra"] = a.Extra
	}
	return m
}
