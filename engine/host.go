package engine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/mask"
)

// callHost answers a worker's callbacks for one call: module scripts come from the store; the
// token cmdlets resolve through the linked instance and the attached computer.
type callHost struct {
	e          *Engine
	instanceID int64 // 0: no linked integration
	computerID int64 // 0: no computer attached
	// ownInstance is the integration whose own method is running (0: none): only it may
	// refresh its OAuth consent (Update-OAuthConsentToken), as only it sees $IntegrationContext.
	ownInstance int64
	// onRecord receives the records of Invoke-ImmyCommand blocks as the agent writes them.
	onRecord func(bridge.Record)
}

// FindModule implements bridge.Host: module scripts stored in the engine, by name in any case.
func (h *callHost) FindModule(_ context.Context, name string) (*bridge.Module, error) {
	return h.e.findModule(name)
}

// Token implements bridge.Host for the token cmdlets of ordinary scripts.
func (h *callHost) Token(ctx context.Context, kind bridge.TokenKind) (any, error) {
	if field, ok := kind.OAuthRefreshField(); ok {
		if h.ownInstance == 0 {
			return nil, fmt.Errorf("Update-OAuthConsentToken works only in a method of an integration with an OAuth consent field")
		}
		return h.e.RefreshOAuth(ctx, h.ownInstance, field)
	}
	if h.instanceID == 0 {
		return nil, bridge.ErrNotLinked
	}
	return h.e.resolveToken(ctx, h.instanceID, h.computerID, kind)
}

// resolveToken answers one token cmdlet:
//
//	agentInstall, tenantUninstall: computer → its tenant → the client of the instance mapped to
//	  that tenant → GetTenantInstallToken / GetTenantUninstallToken(clientId)
//	agentUninstall: the instance's agent identified on the computer → GetAgentUninstallToken(agentId)
//	authHeader: GetAuthHeader()
func (e *Engine) resolveToken(ctx context.Context, instanceID, computerID int64, kind bridge.TokenKind) (any, error) {
	l, err := e.load(instanceID)
	if err != nil {
		return nil, err
	}
	var method string
	var args map[string]any
	switch kind {
	case bridge.TokenAgentInstall, bridge.TokenTenantUninstall:
		method = "GetTenantInstallToken"
		if kind == bridge.TokenTenantUninstall {
			method = "GetTenantUninstallToken"
		}
		if err := requireMethod(l, method); err != nil {
			return nil, err
		}
		c, err := e.attachedComputer(computerID)
		if err != nil {
			return nil, err
		}
		if c.TenantID == 0 {
			return nil, &LinkError{Message: fmt.Sprintf("computer %d (%s) belongs to no tenant, so no client of integration %q can be found for it", c.ID, c.Name, l.inst.Name)}
		}
		client, ok, err := e.st.ClientForTenant(instanceID, c.TenantID)
		if err != nil {
			return nil, err
		}
		if !ok {
			tn := strconv.FormatInt(c.TenantID, 10)
			if t, err := e.st.Tenant(c.TenantID); err == nil {
				tn = fmt.Sprintf("%d (%s)", t.ID, t.Name)
			}
			return nil, &LinkError{Message: fmt.Sprintf("tenant %s of computer %d is not mapped to any client of integration %q; map a client to it first", tn, c.ID, l.inst.Name)}
		}
		args = map[string]any{"clientId": client.ExternalClientID}
	case bridge.TokenAgentUninstall:
		method = "GetAgentUninstallToken"
		if err := requireMethod(l, method); err != nil {
			return nil, err
		}
		c, err := e.attachedComputer(computerID)
		if err != nil {
			return nil, err
		}
		a, ok, err := e.st.AgentForComputer(instanceID, c.ID)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, &LinkError{Message: fmt.Sprintf("computer %d (%s) has no agent of integration %q; identify its agent first", c.ID, c.Name, l.inst.Name)}
		}
		args = map[string]any{"agentId": a.ExternalAgentID}
	case bridge.TokenAuthHeader:
		method = "GetAuthHeader"
		if err := requireMethod(l, method); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown token kind %q", kind)
	}
	// The token goes back to the script that asked for it: its output is not masked.
	_, res, _, err := e.call(ctx, instanceID, method, callOpts{args: args})
	if err != nil {
		return nil, err
	}
	if len(res.Output) == 0 {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(res.Output[len(res.Output)-1], &v); err != nil {
		return nil, fmt.Errorf("%s output: %w", method, err)
	}
	return v, nil
}

func (e *Engine) attachedComputer(id int64) (store.Computer, error) {
	if id == 0 {
		return store.Computer{}, &LinkError{Message: "no computer is attached to this script; the token cmdlets need one to find its tenant or agent"}
	}
	return e.Computer(id)
}

// ---- running ordinary scripts ----------------------------------------------------------------

// RunScriptInput runs an ordinary script (a software install script, say) in the context of an
// integration and a computer, so its token cmdlets resolve.
type RunScriptInput struct {
	// IntegrationID links the script to an instance; 0 leaves it unlinked (the token cmdlets
	// then fail with bridge.ErrNotLinked's text).
	IntegrationID int64 `json:"integrationId"`
	// ComputerID attaches a computer (for the tenant and agent lookups).
	ComputerID int64          `json:"computerId"`
	Script     string         `json:"script"`
	Name       string         `json:"name"`
	Args       map[string]any `json:"args"`
	// TimeoutSeconds bounds the script (default: the pool's default).
	TimeoutSeconds int `json:"timeoutSeconds"`
	// Group, set by psbridge's own callers (never by a request), runs an unlinked script
	// without a computer in the workers of trust group "exec:"+Group instead of "exec".
	Group string `json:"-"`
}

// RunScript runs an ordinary script in a fresh runspace (no $IntegrationContext). The linked
// instance's secrets are masked in its records.
func (e *Engine) RunScript(ctx context.Context, in RunScriptInput) (*bridge.Result, error) {
	return e.runScript(ctx, in, nil)
}

// runScript is RunScript passing each record to onRecord as it is written. With a computer
// attached it is a metascript: $Computer, $ComputerName, $TenantId… are set and
// Invoke-ImmyCommand runs on that computer's agent.
func (e *Engine) runScript(ctx context.Context, in RunScriptInput, onRecord func(bridge.Record)) (*bridge.Result, error) {
	if err := CheckArgNames(in.Args); err != nil {
		return nil, err
	}
	var errs FieldErrors
	if strings.TrimSpace(in.Script) == "" {
		errs = append(errs, FieldError{Field: "script", Message: "is required"})
	}
	if in.Name != "" && strings.ContainsAny(in.Name, "/\\\x00") {
		errs = append(errs, FieldError{Field: "name", Message: "must be a file name without directories"})
	}
	if in.TimeoutSeconds < 0 || in.TimeoutSeconds > 3600 {
		errs = append(errs, FieldError{Field: "timeoutSeconds", Message: "must be between 0 and 3600"})
	}
	var secrets []string
	if in.IntegrationID != 0 {
		if s, err := e.st.InstanceSecrets(in.IntegrationID); err != nil {
			errs = append(errs, FieldError{Field: "integrationId", Message: "no integration has this id"})
		} else {
			secrets = secretValues(s)
		}
	}
	args := in.Args
	// Workers are shared only by scripts of one trust domain: those linked to the same
	// integration (they hold its secrets and tokens), else those of one tenant's computers,
	// else unlinked scripts. A thread a script leaves running never sees another domain's.
	group := "exec"
	if in.Group != "" && in.IntegrationID == 0 && in.ComputerID == 0 {
		group = "exec:" + in.Group
	}
	if in.IntegrationID != 0 {
		group = "exec:" + runspaceKey(in.IntegrationID)
	}
	if in.ComputerID != 0 {
		if c, err := e.st.Computer(in.ComputerID); err != nil {
			errs = append(errs, FieldError{Field: "computerId", Message: "no computer has this id"})
		} else {
			if in.IntegrationID == 0 {
				group = "exec:tenant-" + strconv.FormatInt(c.TenantID, 10)
			}
			args = e.metascriptVars(c)
			for k, v := range in.Args {
				args[k] = v
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	name := in.Name
	if name == "" {
		name = "script.ps1"
	}
	rec := &recorder{max: e.cfg.MaxRecordsPerCall}
	record := func(r bridge.Record) {
		rec.add(r)
		if onRecord != nil {
			onRecord(r)
		}
	}
	res, err := e.pool.Exec(ctx, bridge.Exec{
		Group: group, Name: name, Text: in.Script, Args: args, Secrets: secrets,
		Timeout:  time.Duration(in.TimeoutSeconds) * time.Second,
		Host:     &callHost{e: e, instanceID: in.IntegrationID, computerID: in.ComputerID, onRecord: record},
		OnRecord: record,
	})
	set := callMask(secrets, nil)
	if in.IntegrationID != 0 {
		// The linked instance's context strings are its secrets too (its public ones excepted).
		if c, cerr := e.st.Context(in.IntegrationID); cerr == nil {
			var public []string
			if inst, ierr := e.st.Instance(in.IntegrationID); ierr == nil {
				public = publicValues(inst.FormData)
			}
			if set.AddContext(c, public) != nil {
				set.Add(string(c))
			}
		}
	}
	records := maskRecords(set, rec.list())
	if res != nil {
		res.Records = records
	}
	err = maskError(set, err)
	e.logCall(in.IntegrationID, "script "+name, res, err, records)
	if err != nil {
		return nil, maskError(set, fmt.Errorf("run %s: %w", name, err))
	}
	return maskOutput(set, res), nil
}

// ---- maintenance mode ------------------------------------------------------------------------

// MaintenanceInterface is the capability whose members turn an RMM's maintenance mode on and off.
const MaintenanceInterface = "ISupportsMaintenanceMode"

var (
	offWords = []string{"disable", "stop", "end", "exit", "leave", "clear", "remove", "off"}
	onWords  = []string{"enable", "start", "begin", "enter"}
)

// maintenanceMember picks the member of ISupportsMaintenanceMode to call. Its member names are
// not public, so any name works: a member whose name contains Disable/Stop/End/Exit/Leave/
// Clear/Remove/Off turns maintenance off, one containing Enable/Start/Begin/Enter turns
// it on (checked in that order, case-insensitively). A capability with a single member gets
// that member for both, with $enable telling it which.
func maintenanceMember(members []string, enable bool) (string, bool) {
	if len(members) == 1 {
		return members[0], true
	}
	for _, m := range members {
		l := strings.ToLower(m)
		off := containsAny(l, offWords)
		if !enable && off {
			return m, true
		}
		if enable && !off && containsAny(l, onWords) {
			return m, true
		}
	}
	return "", false
}

func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// MaintenanceResult reports which member ran and what it returned.
type MaintenanceResult struct {
	Member string            `json:"member"`
	Enable bool              `json:"enable"`
	Output []json.RawMessage `json:"output"`
}

// SetMaintenance turns the maintenance mode of a computer's agent on or off through the
// instance's ISupportsMaintenanceMode member (see maintenanceMember). The member receives
// $agent (the computer's agent of this instance), $agentId, $clientId, $computerId,
// $computerName and $enable.
func (e *Engine) SetMaintenance(ctx context.Context, id, computerID int64, enable bool) (MaintenanceResult, error) {
	l, err := e.load(id)
	if err != nil {
		return MaintenanceResult{}, err
	}
	var members []string
	for _, c := range l.desc.Capabilities {
		if strings.EqualFold(c.Interface, MaintenanceInterface) {
			members = c.Members
		}
	}
	if len(members) == 0 {
		return MaintenanceResult{}, &CapabilityError{InstanceID: id, Interface: MaintenanceInterface, Method: "a maintenance mode member"}
	}
	member, ok := maintenanceMember(members, enable)
	if !ok {
		what := "off"
		if enable {
			what = "on"
		}
		return MaintenanceResult{}, &CapabilityError{InstanceID: id, Interface: MaintenanceInterface,
			Method: fmt.Sprintf("a member that turns maintenance %s (members: %s)", what, strings.Join(members, ", "))}
	}
	c, err := e.attachedComputer(computerID)
	if err != nil {
		return MaintenanceResult{}, err
	}
	a, ok, err := e.st.AgentForComputer(id, c.ID)
	if err != nil {
		return MaintenanceResult{}, err
	}
	if !ok {
		return MaintenanceResult{}, &LinkError{Message: fmt.Sprintf("computer %d (%s) has no agent of integration %q; identify its agent first", c.ID, c.Name, l.inst.Name)}
	}
	args := map[string]any{
		"agent": agentArg(a), "agentId": a.ExternalAgentID, "clientId": a.ExternalClientID,
		"computerId": c.ID, "computerName": c.Name, "enable": enable,
	}
	_, res, set, err := e.call(ctx, id, member, callOpts{args: args})
	if err != nil {
		return MaintenanceResult{}, err
	}
	out := maskOutput(set, res).Output
	if out == nil {
		out = []json.RawMessage{}
	}
	return MaintenanceResult{Member: member, Enable: enable, Output: out}, nil
}

// ---- the HTTP plugin endpoint ------------------------------------------------------------------

// PluginTarget checks that an instance can serve its plugin endpoint (it exists, is enabled
// and implements HandleHttpRequest) and returns its webhook secret, if one is set.
func (e *Engine) PluginTarget(id int64) (secret string, hasSecret bool, err error) {
	l, err := e.load(id)
	if err != nil {
		return "", false, err
	}
	if l.inst.Disabled {
		return "", false, fmt.Errorf("integration %d: %w", id, ErrDisabled)
	}
	if err := requireMethod(l, "HandleHttpRequest"); err != nil {
		return "", false, err
	}
	if !l.inst.WebhookSecretSet {
		return "", false, nil
	}
	return e.st.WebhookSecret(id)
}

// HandleHTTP runs HandleHttpRequest with $httpContext (a dictionary the worker turns into
// Microsoft.AspNetCore.Http.HttpContext), $body and $route. Every secret of the call is
// masked in the result's output (the webhook response). The returned set holds those
// secrets (the instance's [Password()] values and its $IntegrationContext before and after the
// call, what Secrets would read back from the store), for the caller to mask whatever else it
// derives from the output, such as response headers.
func (e *Engine) HandleHTTP(ctx context.Context, id int64, httpContext map[string]any, body any, route string) (*bridge.Result, *mask.Set, error) {
	_, res, set, err := e.call(ctx, id, "HandleHttpRequest", callOpts{
		args:           map[string]any{"httpContext": httpContext, "body": body, "route": route},
		timeout:        e.cfg.PluginTimeout,
		requireSecrets: true,
	})
	if err != nil {
		return nil, nil, err
	}
	return maskOutput(set, res), set, nil
}

// SetWebhookSecret sets the secret the plugin endpoint requires of an instance (in the
// X-Psbridge-Secret header, or as the key of an X-Psbridge-Signature HMAC-SHA256). An empty
// secret generates one. The secret is returned once and stored sealed.
func (e *Engine) SetWebhookSecret(id int64, secret string) (string, error) {
	if secret == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("generate webhook secret: %w", err)
		}
		secret = base64.RawURLEncoding.EncodeToString(b)
	} else if len(secret) < 16 {
		return "", FieldErrors{{Field: "secret", Message: "must be at least 16 characters"}}
	}
	if err := e.st.PutWebhookSecret(id, secret); err != nil {
		return "", wrapNotFound("integration "+strconv.FormatInt(id, 10), err)
	}
	return secret, nil
}

// ClearWebhookSecret removes an instance's webhook secret: its plugin endpoint is open again.
func (e *Engine) ClearWebhookSecret(id int64) error {
	return wrapNotFound("integration "+strconv.FormatInt(id, 10), e.st.PutWebhookSecret(id, ""))
}
