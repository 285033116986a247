package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/psbridge/psbridge/agent/wire"
	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine/computers"
	"github.com/psbridge/psbridge/engine/store"
)

// Hub returns the engine's registry of connected agents (for the agent websocket).
func (e *Engine) Hub() *computers.Hub { return e.hub }

// ---- enrollment --------------------------------------------------------------------------------

// EnrollmentKeyInput is the body of POST /tenants/{id}/enrollment-keys.
type EnrollmentKeyInput struct {
	// ExpiresInSeconds bounds the key's life (0: it never expires).
	ExpiresInSeconds int64 `json:"expiresInSeconds"`
}

// NewEnrollmentKey is a created key: Key is shown once.
type NewEnrollmentKey struct {
	store.EnrollmentKey
	Key string `json:"key"`
}

// CreateEnrollmentKey makes a key that enrolls computers into tenant tenantID; ttl 0 never expires.
func (e *Engine) CreateEnrollmentKey(tenantID int64, ttl time.Duration) (NewEnrollmentKey, error) {
	if ttl < 0 {
		return NewEnrollmentKey{}, FieldErrors{{Field: "expiresInSeconds", Message: "must not be negative"}}
	}
	var exp time.Time
	if ttl > 0 {
		exp = time.Now().Add(ttl)
	}
	key, k, err := e.st.CreateEnrollmentKey(tenantID, exp)
	if err != nil {
		return NewEnrollmentKey{}, wrapNotFound("tenant "+strconv.FormatInt(tenantID, 10), err)
	}
	return NewEnrollmentKey{EnrollmentKey: k, Key: key}, nil
}

// EnrollmentKeys lists the keys of a tenant (never the keys themselves).
func (e *Engine) EnrollmentKeys(tenantID int64) ([]store.EnrollmentKey, error) {
	if _, err := e.st.Tenant(tenantID); err != nil {
		return nil, wrapNotFound("tenant "+strconv.FormatInt(tenantID, 10), err)
	}
	return e.st.EnrollmentKeys(tenantID)
}

// RevokeEnrollmentKey revokes a key of a tenant.
func (e *Engine) RevokeEnrollmentKey(tenantID int64, id string) error {
	keys, err := e.EnrollmentKeys(tenantID)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.ID == id {
			return e.st.RevokeEnrollmentKey(id)
		}
	}
	return fmt.Errorf("enrollment key %q of tenant %d: %w", id, tenantID, ErrNotFound)
}

// Enroll registers a computer with an enrollment key; see store.Store.Enroll.
func (e *Engine) Enroll(key string, inv wire.Inventory) (wire.Enrolled, error) {
	var errs FieldErrors
	if strings.TrimSpace(key) == "" {
		errs = append(errs, FieldError{Field: "key", Message: "is required"})
	}
	if strings.TrimSpace(inv.DeviceID) == "" {
		errs = append(errs, FieldError{Field: "inventory.deviceId", Message: "is required"})
	}
	if len(errs) > 0 {
		return wire.Enrolled{}, errs
	}
	c, cred, err := e.st.Enroll(key, store.Inventory(inv))
	if err != nil {
		return wire.Enrolled{}, err
	}
	e.log.Info().Int64("computer", c.ID).Int64("tenant", c.TenantID).Msg("computer enrolled")
	return wire.Enrolled{ComputerID: c.ID, TenantID: c.TenantID, Credential: cred}, nil
}

// AgentComputer returns the computer an agent credential belongs to.
func (e *Engine) AgentComputer(cred string) (store.Computer, bool, error) {
	return e.st.ComputerForCredential(cred)
}

// ComputerView is a computer with its presence.
type ComputerView struct {
	store.Computer
	Online      bool      `json:"online"`
	OnlineSince time.Time `json:"onlineSince,omitzero"`
}

// ComputerStatus returns a computer with its presence.
func (e *Engine) ComputerStatus(id int64) (ComputerView, error) {
	c, err := e.Computer(id)
	if err != nil {
		return ComputerView{}, err
	}
	return e.view(c), nil
}

func (e *Engine) view(c store.Computer) ComputerView {
	s := e.hub.Status(c.ID)
	return ComputerView{Computer: c, Online: s.Online, OnlineSince: s.Since}
}

// ComputerViews returns every computer (of tenant tenantID when it is not 0) with its presence.
func (e *Engine) ComputerViews(tenantID int64) ([]ComputerView, error) {
	cs, err := e.st.Computers()
	if err != nil {
		return nil, err
	}
	out := make([]ComputerView, 0, len(cs))
	for _, c := range cs {
		if tenantID == 0 || c.TenantID == tenantID {
			out = append(out, e.view(c))
		}
	}
	return out, nil
}

// ---- Invoke-ImmyCommand ------------------------------------------------------------------------

// blockWrapper runs an Invoke-ImmyCommand block on the agent and returns its output as one
// CliXml string (PowerShell remoting's format: PSCustomObject, hashtables, arrays, dates and
// numbers keep their types). The block starts on line 1, so positions in it are the block's.
const blockWrapper = `$__psbA = @(if ($__psbArgsXml) { [System.Management.Automation.PSSerializer]::Deserialize($__psbArgsXml) } elseif ($null -ne $__psbArgList) { $__psbArgList }); $__psbO = [System.Collections.Generic.List[object]]::new(); & {%s
} @__psbA | ForEach-Object { $__psbO.Add($_) }
[System.Management.Automation.PSSerializer]::Serialize($__psbO.ToArray(), 16)
`

// clixmlTag marks output that Invoke-ImmyCommand deserialises (HostJson's typed-value convention).
const clixmlTag = "clixml"

// targets returns the computers an Invoke-ImmyCommand addresses.
func (h *callHost) targets(cmd bridge.ComputerCommand) ([]int64, error) {
	var ids []int64
	if cmd.ComputerID != 0 {
		ids = append(ids, cmd.ComputerID)
	}
	for _, raw := range cmd.Computers {
		var v any
		if json.Unmarshal(raw, &v) != nil {
			continue
		}
		var id int64
		switch x := v.(type) {
		case float64:
			id = int64(x)
		case string:
			n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("Invoke-ImmyCommand: -Computer %q is not a computer id", x)
			}
			id = n
		}
		if id > 0 && (len(ids) == 0 || ids[0] != id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 && h.computerID != 0 {
		ids = append(ids, h.computerID)
	}
	if len(ids) == 0 {
		return nil, bridge.ErrNoComputer
	}
	return ids, nil
}

// RunOnComputer implements bridge.Host: the block runs on each target computer's agent; its
// records reach the caller live, positioned in the calling script.
func (h *callHost) RunOnComputer(ctx context.Context, cmd bridge.ComputerCommand) ([]json.RawMessage, error) {
	ids, err := h.targets(cmd)
	if err != nil {
		return nil, err
	}
	var out []json.RawMessage
	for _, id := range ids {
		o, err := h.e.runBlock(ctx, id, cmd, h.onRecord)
		if err != nil {
			return nil, err
		}
		out = append(out, o...)
	}
	return out, nil
}

// runBlock runs one Invoke-ImmyCommand block on one computer.
func (e *Engine) runBlock(ctx context.Context, computerID int64, cmd bridge.ComputerCommand, onRecord func(bridge.Record)) ([]json.RawMessage, error) {
	c, err := e.Computer(computerID)
	if err != nil {
		return nil, err
	}
	timeout := cmd.Timeout
	if timeout <= 0 {
		timeout = 120
	}
	args := map[string]any{"__psbArgsXml": nil, "__psbArgList": nil}
	if cmd.ArgsXML != "" {
		args["__psbArgsXml"] = cmd.ArgsXML
	} else if len(cmd.Args) > 0 && string(cmd.Args) != "null" {
		var list []any
		if err := json.Unmarshal(cmd.Args, &list); err == nil {
			args["__psbArgList"] = list
		}
	}
	wait := time.Duration(cmd.ConnectTimeout) * time.Second
	if wait <= 0 {
		wait = e.cfg.ComputerConnectWait
	}
	remap := func(r bridge.Record) bridge.Record {
		if r.Line > 0 {
			r.Line += cmd.LineOffset
			if cmd.File != "" {
				r.Script = cmd.File
			}
		}
		return r
	}
	res, err := e.hub.Run(ctx, computerID, wire.Run{
		Name: "Invoke-ImmyCommand.ps1", Script: fmt.Sprintf(blockWrapper, cmd.Script), Args: args,
		TimeoutMs: int64(timeout) * 1000, Context: cmd.Context,
	}, wait, func(r bridge.Record) {
		if onRecord != nil {
			onRecord(remap(r))
		}
	})
	if err != nil {
		return nil, err
	}
	if res.Error != nil {
		if res.Error.Kind == wire.ErrNoUser {
			return skippedBlock(c)
		}
		return nil, blockError(c, cmd, res.Error, timeout)
	}
	if len(res.Output) == 0 {
		return nil, nil
	}
	var xml string
	if err := json.Unmarshal(res.Output[len(res.Output)-1], &xml); err != nil {
		return nil, fmt.Errorf("Invoke-ImmyCommand on computer %d: unexpected output from the agent", c.ID)
	}
	tagged, err := json.Marshal(map[string]string{"$psbridgeType": clixmlTag, "value": xml})
	if err != nil {
		return nil, err
	}
	return []json.RawMessage{tagged}, nil
}

// warningTag marks an item of Invoke-ImmyCommand's answer that the module writes to the
// metascript's warning stream instead of its output.
const warningTag = "warning"

// skippedBlock is the answer for a -Context User block that did not run because nobody is
// logged on to computer c: no output and a warning naming the computer, as ImmyBot skips the
// command; the metascript goes on.
func skippedBlock(c store.Computer) ([]json.RawMessage, error) {
	name := c.Name
	if name == "" {
		name = "computer " + strconv.FormatInt(c.ID, 10)
	}
	tagged, err := json.Marshal(map[string]string{"$psbridgeType": warningTag,
		"value": "Skipped -Context User on " + name + ": no user is logged on"})
	if err != nil {
		return nil, err
	}
	return []json.RawMessage{tagged}, nil
}

// blockError turns a failed block into the error the metascript sees: the message, the
// block's line in the calling script and the computer.
func blockError(c store.Computer, cmd bridge.ComputerCommand, we *wire.Error, timeout int) error {
	where := fmt.Sprintf("computer %d (%s)", c.ID, c.Name)
	switch we.Kind {
	case wire.ErrTimeout:
		return fmt.Errorf("Invoke-ImmyCommand timed out on %s after %d seconds (-Timeout)", where, timeout)
	case wire.ErrCanceled:
		return fmt.Errorf("%w: Invoke-ImmyCommand on %s", bridge.ErrCanceled, where)
	case wire.ErrScript, wire.ErrParse:
		if we.Line > 0 {
			file := cmd.File
			if i := strings.LastIndexAny(file, `/\`); i >= 0 {
				file = file[i+1:]
			}
			if file == "" {
				file = "line"
			} else {
				file += ":"
			}
			sep := " "
			if file != "line" {
				sep = ""
			}
			return fmt.Errorf("Invoke-ImmyCommand block failed on %s at %s%s%d: %s", where, file, sep, we.Line+cmd.LineOffset, we.Message)
		}
		return fmt.Errorf("Invoke-ImmyCommand block failed on %s: %s", where, we.Message)
	}
	return fmt.Errorf("Invoke-ImmyCommand on %s: %s", where, we.Message)
}

// metascriptVars are the variables a metascript bound to computer c sees ($Computer,
// $ComputerName, $TenantId, …), as ImmyBot's metascript context has them.
func (e *Engine) metascriptVars(c store.Computer) map[string]any {
	comp := map[string]any{
		"Id": c.ID, "Name": c.Name, "TenantId": c.TenantID, "DeviceId": c.DeviceID,
		"IsOnline": e.hub.Status(c.ID).Online,
	}
	tenantName := ""
	if c.TenantID != 0 {
		if t, err := e.st.Tenant(c.TenantID); err == nil {
			tenantName = t.Name
		}
	}
	comp["TenantName"] = tenantName
	if inv := c.Inventory; inv != nil {
		comp["OperatingSystemName"] = strings.TrimSpace(inv.OSName + " " + inv.OSVersion)
		comp["SerialNumber"] = inv.Serial
		comp["Manufacturer"] = inv.Manufacturer
		comp["Model"] = inv.Model
		comp["Domain"] = inv.Domain
		comp["PrimaryPersonName"] = inv.PrimaryUser
		comp["PrimaryPersonEmail"] = inv.PrimaryEmail
		comp["LoggedOnUser"] = inv.LoggedOnUser
	}
	return map[string]any{
		"Computer": comp, "ComputerName": c.Name, "ComputerId": c.ID, "TenantId": c.TenantID,
		"TenantName": tenantName, "DeviceId": c.DeviceID,
	}
}

// ---- POST /computers/{id}/scripts ----------------------------------------------------------------

// ComputerScriptInput is the body of POST /computers/{id}/scripts.
type ComputerScriptInput struct {
	Script string `json:"script"`
	// Context is "metascript" (default: run on the server bound to the computer) or
	// "computer" (run the text on the computer's agent).
	Context        string         `json:"context"`
	IntegrationID  int64          `json:"integrationId"`
	TimeoutSeconds int            `json:"timeoutSeconds"`
	Name           string         `json:"name"`
	Args           map[string]any `json:"args"`
}

// RunOnComputerScript runs a script bound to a computer: as a metascript in the pool (its
// Invoke-ImmyCommand blocks and token cmdlets resolve through the computer), or directly on
// the computer's agent.
func (e *Engine) RunOnComputerScript(ctx context.Context, computerID int64, in ComputerScriptInput, onRecord func(bridge.Record)) (*bridge.Result, error) {
	c, err := e.Computer(computerID)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(in.Context) {
	case "", "metascript":
		return e.runScript(ctx, RunScriptInput{
			IntegrationID: in.IntegrationID, ComputerID: c.ID, Script: in.Script, Name: in.Name,
			Args: in.Args, TimeoutSeconds: in.TimeoutSeconds,
		}, onRecord)
	case "computer":
	default:
		return nil, FieldErrors{{Field: "context", Message: `must be "metascript" or "computer"`}}
	}
	if err := CheckArgNames(in.Args); err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.Script) == "" {
		return nil, FieldErrors{{Field: "script", Message: "is required"}}
	}
	if in.TimeoutSeconds < 0 || in.TimeoutSeconds > 24*3600 {
		return nil, FieldErrors{{Field: "timeoutSeconds", Message: "must be between 0 and 86400"}}
	}
	timeout := in.TimeoutSeconds
	if timeout == 0 {
		timeout = 120
	}
	name := in.Name
	if name == "" {
		name = "script.ps1"
	}
	rec := &recorder{max: e.cfg.MaxRecordsPerCall}
	start := time.Now()
	res, err := e.hub.Run(ctx, c.ID, wire.Run{Name: name, Script: in.Script, Args: in.Args, TimeoutMs: int64(timeout) * 1000},
		e.cfg.ComputerConnectWait, func(r bridge.Record) {
			rec.add(r)
			if onRecord != nil {
				onRecord(r)
			}
		})
	if err != nil {
		return nil, err
	}
	if we := res.Error; we != nil {
		switch we.Kind {
		case wire.ErrTimeout:
			return nil, fmt.Errorf("%w: %s on computer %d after %d seconds", bridge.ErrTimeout, name, c.ID, timeout)
		case wire.ErrCanceled:
			return nil, fmt.Errorf("%w: %s on computer %d", bridge.ErrCanceled, name, c.ID)
		case wire.ErrParse:
			return nil, &bridge.ParseError{Script: name, Issues: []bridge.ParseIssue{{Line: we.Line, Column: we.Column, Message: we.Message}}}
		case wire.ErrScript:
			return nil, &bridge.ScriptError{Message: we.Message, Line: we.Line, Column: we.Column, Script: name,
				ErrorID: we.ErrorID, Category: we.Category, Records: rec.list()}
		}
		return nil, &bridge.WorkerError{Reason: "on computer " + strconv.FormatInt(c.ID, 10) + ": " + we.Message}
	}
	return &bridge.Result{Output: res.Output, OutputTypes: res.OutputTypes, HadErrors: res.HadErrors,
		Records: rec.list(), Duration: time.Since(start)}, nil
}

// ---- inventory identification -------------------------------------------------------------------

// IdentifyInterface is the capability whose GetInventoryScript identifies a computer's agent.
const IdentifyInterface = "ISupportsInventoryIdentification"

// IdentifyComputer runs GetInventoryScript of every enabled integration of the computer's
// tenant (one with a client mapped to that tenant) that has it, as a metascript bound to the
// computer, and links the agent id it returns to that integration's agent. Each result is
// stored on the computer and returned.
func (e *Engine) IdentifyComputer(ctx context.Context, computerID int64) ([]store.IdentificationResult, error) {
	c, err := e.Computer(computerID)
	if err != nil {
		return nil, err
	}
	insts, err := e.st.Instances()
	if err != nil {
		return nil, err
	}
	var out []store.IdentificationResult
	for _, inst := range insts {
		if inst.Disabled || c.TenantID == 0 {
			continue
		}
		if _, mapped, err := e.st.ClientForTenant(inst.ID, c.TenantID); err != nil || !mapped {
			continue
		}
		l, err := e.load(inst.ID)
		if err != nil || !l.desc.Supports("GetInventoryScript") {
			continue
		}
		r := e.identifyOne(ctx, c, inst.ID)
		out = append(out, r)
		if _, err := e.st.UpdateComputer(c.ID, func(sc *store.Computer) error {
			if sc.Identification == nil {
				sc.Identification = map[string]store.IdentificationResult{}
			}
			sc.Identification[strconv.FormatInt(inst.ID, 10)] = r
			return nil
		}); err != nil {
			return out, err
		}
		msg := "identified agent " + strconv.Quote(r.AgentID)
		if !r.OK {
			msg = "identification failed: " + r.Error
		}
		e.logCall(inst.ID, "GetInventoryScript (computer "+strconv.FormatInt(c.ID, 10)+"): "+msg, nil, nil, nil)
	}
	e.mu.Lock()
	e.lastIdentify[c.ID] = e.cfg.Now()
	e.mu.Unlock()
	return out, nil
}

func (e *Engine) identifyOne(ctx context.Context, c store.Computer, instanceID int64) store.IdentificationResult {
	r := store.IdentificationResult{IntegrationID: instanceID, At: e.cfg.Now().UTC()}
	_, res, set, err := e.call(ctx, instanceID, "GetInventoryScript", callOpts{
		args: e.metascriptVars(c),
		host: &callHost{e: e, instanceID: instanceID, computerID: c.ID},
	})
	if err != nil {
		r.Error = err.Error()
		return r
	}
	res = maskOutput(set, res)
	agentID := ""
	for i := len(res.Output) - 1; i >= 0 && agentID == ""; i-- {
		var v any
		if json.Unmarshal(res.Output[i], &v) == nil {
			agentID = strings.TrimSpace(idString(v))
		}
	}
	if agentID == "" {
		r.Error = "GetInventoryScript returned no agent id"
		return r
	}
	r.AgentID = agentID
	if _, err := e.Identify(c.ID, instanceID, agentID); err != nil {
		if errors.Is(err, ErrNotFound) {
			// The agent may be newer than the last sync.
			if _, serr := e.SyncAgents(ctx, instanceID); serr == nil {
				_, err = e.Identify(c.ID, instanceID, agentID)
			}
		}
		if err != nil {
			r.Error = fmt.Sprintf("agent %q: %v", agentID, err)
			return r
		}
	}
	r.OK = true
	return r
}

// onComputerConnect identifies a computer when it connects for the first time in this
// process and then once per IdentifyPeriod.
func (e *Engine) onComputerConnect(id int64, _ bool) {
	e.mu.Lock()
	last, seen := e.lastIdentify[id]
	ctx := e.bgCtx
	e.mu.Unlock()
	if ctx == nil || (seen && e.cfg.Now().Sub(last) < e.cfg.IdentifyPeriod) {
		return
	}
	e.identifyAsync(ctx, id)
}

func (e *Engine) identifyAsync(ctx context.Context, id int64) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.lastIdentify[id] = e.cfg.Now() // one run at a time per computer
	e.bg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.bg.Done()
		select {
		case e.identSem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-e.identSem }()
		if _, err := e.IdentifyComputer(ctx, id); err != nil && ctx.Err() == nil {
			e.log.Warn().Int64("computer", id).Err(err).Msg("inventory identification")
		}
	}()
}

// IdentifyDue starts the inventory identification of every connected computer whose last one
// in this process is IdentifyPeriod or more ago (by Config.Now) and returns their ids; it does
// not wait for them. The engine calls it every hour (every IdentifyPeriod when shorter).
func (e *Engine) IdentifyDue(ctx context.Context) []int64 {
	cs, err := e.st.Computers()
	if err != nil {
		e.log.Warn().Err(err).Msg("inventory identification: list computers")
		return nil
	}
	var started []int64
	for _, c := range cs {
		if !e.hub.Status(c.ID).Online {
			continue
		}
		e.mu.Lock()
		last, seen := e.lastIdentify[c.ID]
		e.mu.Unlock()
		if !seen || e.cfg.Now().Sub(last) >= e.cfg.IdentifyPeriod {
			e.identifyAsync(ctx, c.ID)
			started = append(started, c.ID)
		}
	}
	return started
}
