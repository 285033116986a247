package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine/store"
)

// InstanceInput is what a client submits to create or update an integration instance.
type InstanceInput struct {
	Name   string `json:"name"`
	TypeID string `json:"typeId"`
	// FormData holds the values of Init's parameters. On update, a [Password] parameter that
	// is left out keeps its stored value; one sent as null is cleared.
	FormData map[string]any `json:"formData"`
	Disabled bool           `json:"disabled"`
}

// InstanceView is an instance as the API shows it: never a [Password] value.
type InstanceView struct {
	ID       int64          `json:"id"`
	Name     string         `json:"name"`
	TypeID   string         `json:"typeId"`
	TypeName string         `json:"typeName"`
	FormData map[string]any `json:"formData"`
	// InputsWithStoredPasswords names the [Password] parameters that have a stored value.
	InputsWithStoredPasswords []string     `json:"inputsWithStoredPasswords"`
	Capabilities              []string     `json:"capabilities"`
	Health                    store.Health `json:"health"`
	Disabled                  bool         `json:"disabled"`
	PluginBaseURL             string       `json:"pluginBaseUrl"`
	WebhookSecretSet          bool         `json:"webhookSecretSet"`
	CreatedAt                 time.Time    `json:"createdAt"`
	UpdatedAt                 time.Time    `json:"updatedAt"`
}

// PluginBasePath is the path of an instance's HTTP plugin endpoint.
func PluginBasePath(id int64) string { return "/plugins/api/v1/" + strconv.FormatInt(id, 10) }

// loaded is an instance with its type and the type's description.
type loaded struct {
	inst store.Instance
	typ  store.IntegrationType
	desc *bridge.Description
}

func (e *Engine) load(id int64) (*loaded, error) {
	inst, err := e.st.Instance(id)
	if err != nil {
		return nil, wrapNotFound("integration "+strconv.FormatInt(id, 10), err)
	}
	t, err := e.getType(inst.TypeID)
	if err != nil {
		return nil, fmt.Errorf("integration %d: its type: %w", id, err)
	}
	d, err := e.typeDescription(t)
	if err != nil {
		return nil, err
	}
	return &loaded{inst: inst, typ: t, desc: d}, nil
}

func initSchema(d *bridge.Description) []bridge.ParamSchema {
	m, _ := d.Method("Init")
	return m.Parameters
}

// formSchema is the schema a submitted form is validated against: a disabled instance may lack
// its OAuth consent, since consent is given (Connect) once the instance exists.
func formSchema(schema []bridge.ParamSchema, disabled bool) []bridge.ParamSchema {
	if !disabled {
		return schema
	}
	out := make([]bridge.ParamSchema, len(schema))
	for i, p := range schema {
		if p.Type == "oauthconsent" {
			p.Mandatory = false
		}
		out[i] = p
	}
	return out
}

// splitSecrets separates validated values into plain form data and [Password] values.
func splitSecrets(schema []bridge.ParamSchema, values map[string]any) (plain map[string]any, secrets map[string]string) {
	plain, secrets = map[string]any{}, map[string]string{}
	pw := map[string]bool{}
	for _, p := range schema {
		if isSecret(p) {
			pw[p.Name] = true
		}
	}
	for k, v := range values {
		if pw[k] {
			s, err := toString(v)
			if err != nil {
				s = string(rawJSON(v))
			}
			secrets[k] = s
			continue
		}
		plain[k] = v
	}
	return plain, secrets
}

// secretValues lists the values to mask, longest first. A secret that is a JSON object (an
// OAuth consent's tokens) adds its string members too, since scripts use them one by one.
func secretValues(secrets map[string]string) []string {
	out := make([]string, 0, len(secrets))
	for _, v := range secrets {
		if v == "" {
			continue
		}
		out = append(out, v)
		if strings.HasPrefix(v, "{") {
			var m map[string]any
			if json.Unmarshal([]byte(v), &m) == nil {
				for k, leaf := range m {
					if s, ok := leaf.(string); ok && len(s) >= 8 && !publicConsentMember(k) {
						out = append(out, s)
					}
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// formValues merges plain form data and secrets into what Init receives.
func formValues(plain map[string]any, secrets map[string]string) map[string]any {
	out := make(map[string]any, len(plain)+len(secrets))
	for k, v := range plain {
		out[k] = v
	}
	for k, v := range secrets {
		out[k] = v
	}
	return out
}

func (in *InstanceInput) checkName() FieldErrors {
	if strings.TrimSpace(in.Name) == "" {
		return FieldErrors{{Field: "name", Message: "is required"}}
	}
	if len(in.Name) > 200 {
		return FieldErrors{{Field: "name", Message: "must be at most 200 characters"}}
	}
	return nil
}

// prefix qualifies form field errors with "formData.".
func prefix(errs FieldErrors) FieldErrors {
	out := make(FieldErrors, len(errs))
	for i, fe := range errs {
		out[i] = FieldError{Field: "formData." + fe.Field, Message: fe.Message}
	}
	return out
}

// CreateInstance validates the form against Init's parameters (every problem at once, as
// FieldErrors), runs Init, and only when it succeeds stores the instance with its sealed
// [Password] values and $IntegrationContext in one transaction. A failed Init is an
// *InitError and stores nothing. A first HealthCheck runs before it returns.
func (e *Engine) CreateInstance(ctx context.Context, in InstanceInput) (InstanceView, error) {
	errs := in.checkName()
	var t store.IntegrationType
	var d *bridge.Description
	if in.TypeID == "" {
		errs = append(errs, FieldError{Field: "typeId", Message: "is required"})
	} else if typ, err := e.getType(in.TypeID); errors.Is(err, store.ErrNotFound) {
		errs = append(errs, FieldError{Field: "typeId", Message: "no integration type has this id"})
	} else if err != nil {
		return InstanceView{}, err
	} else {
		t = typ
		if d, err = e.typeDescription(t); err != nil {
			return InstanceView{}, err
		}
	}
	var values map[string]any
	if d != nil {
		var ferrs FieldErrors
		values, ferrs = ValidateForm(formSchema(initSchema(d), in.Disabled), dropNulls(in.FormData))
		errs = append(errs, prefix(ferrs)...)
	}
	if len(errs) > 0 {
		return InstanceView{}, errs
	}
	plain, secrets := splitSecrets(initSchema(d), values)
	id, err := e.st.ReserveInstanceID()
	if err != nil {
		return InstanceView{}, err
	}
	inst := store.Instance{ID: id, Name: in.Name, TypeID: t.ID, FormData: plain, Disabled: in.Disabled}
	l := &loaded{inst: inst, typ: t, desc: d}
	version := e.scriptVersion(t)
	var ctxJSON []byte
	var initRes *bridge.Result
	if !in.Disabled {
		initRes, err = e.runInit(ctx, l, values, secretValues(secrets), false)
		if err != nil {
			return InstanceView{}, err
		}
		ctxJSON = initRes.Context
		inst.InitializedHash = t.ScriptHash
	}
	if err := e.st.CommitInstance(&inst, secrets, ctxJSON); err != nil {
		return InstanceView{}, fmt.Errorf("create integration: %w", err)
	}
	if initRes != nil {
		e.logCall(inst.ID, "Init", initRes, nil, initRes.Records)
		e.setInitOK(inst.ID, version)
		e.mu.Lock()
		e.lastAgentSync[inst.ID] = time.Now()
		e.mu.Unlock()
		if _, err := e.CheckHealth(ctx, inst.ID); err != nil {
			e.log.Warn().Int64("instance", inst.ID).Err(err).Msg("first health check")
		}
	}
	return e.Instance(inst.ID)
}

// UpdateInstance replaces the name, form and disabled flag of an instance. [Password] values
// that are not resent keep their stored value. Init runs with the new values and nothing is
// changed unless it succeeds. The type cannot change.
func (e *Engine) UpdateInstance(ctx context.Context, id int64, in InstanceInput) (InstanceView, error) {
	l, err := e.load(id)
	if err != nil {
		return InstanceView{}, err
	}
	errs := in.checkName()
	if in.TypeID != "" && in.TypeID != l.inst.TypeID {
		errs = append(errs, FieldError{Field: "typeId", Message: "cannot change; create a new integration instead"})
	}
	stored, err := e.st.InstanceSecrets(id)
	if err != nil {
		return InstanceView{}, err
	}
	schema := initSchema(l.desc)
	values := dropNulls(in.FormData)
	for _, p := range schema {
		if !isSecret(p) {
			continue
		}
		if _, given := valueFor(in.FormData, p.Name); given {
			continue // a new value, or null to clear it
		}
		if v, ok := stored[p.Name]; ok {
			values[p.Name] = v
		}
	}
	values, ferrs := ValidateForm(formSchema(schema, in.Disabled), values)
	errs = append(errs, prefix(ferrs)...)
	if len(errs) > 0 {
		return InstanceView{}, errs
	}
	plain, secrets := splitSecrets(schema, values)
	lock := e.instanceLock(id)
	lock.Lock()
	defer lock.Unlock()
	inst := l.inst
	inst.Name, inst.FormData, inst.Disabled = in.Name, plain, in.Disabled
	ctxJSON, err := e.st.Context(id)
	if err != nil {
		return InstanceView{}, err
	}
	var initRes *bridge.Result
	if !in.Disabled {
		l2 := &loaded{inst: inst, typ: l.typ, desc: l.desc}
		if initRes, err = e.runInit(ctx, l2, values, secretValues(secrets), true); err != nil {
			return InstanceView{}, err
		}
		ctxJSON = initRes.Context
		inst.InitializedHash = l.typ.ScriptHash
	}
	cur, err := e.st.Instance(id) // keep the latest health
	if err != nil {
		return InstanceView{}, wrapNotFound("integration "+strconv.FormatInt(id, 10), err)
	}
	inst.Health = cur.Health
	if in.Disabled {
		inst.Health = store.Health{Status: store.StatusDisabled, Since: time.Now().UTC(), CheckedAt: cur.Health.CheckedAt}
	} else if cur.Health.Status == store.StatusDisabled {
		inst.Health = store.Health{Status: store.StatusPending, Since: time.Now().UTC()}
	}
	if err := e.st.CommitInstance(&inst, secrets, ctxJSON); err != nil {
		return InstanceView{}, fmt.Errorf("update integration %d: %w", id, err)
	}
	if initRes != nil {
		e.setInitOK(id, e.scriptVersion(l.typ))
		if _, err := e.CheckHealth(ctx, id); err != nil {
			e.log.Warn().Int64("instance", id).Err(err).Msg("health check after update")
		}
	} else {
		e.setInitOK(id, "")
	}
	return e.Instance(id)
}

// DeleteInstance removes an instance with everything stored for it.
func (e *Engine) DeleteInstance(id int64) error {
	if err := e.st.DeleteInstance(id); err != nil {
		return wrapNotFound("integration "+strconv.FormatInt(id, 10), err)
	}
	e.forget(id)
	e.pool.Forget(runspaceKey(id)) // its worker holds its secrets: retire it now
	return nil
}

// Instance returns one instance as the API shows it.
func (e *Engine) Instance(id int64) (InstanceView, error) {
	l, err := e.load(id)
	if err != nil {
		return InstanceView{}, err
	}
	return view(l.inst, l.typ), nil
}

// Instances returns every instance ordered by id.
func (e *Engine) Instances() ([]InstanceView, error) {
	v, _, err := e.InstancesAfter(0, 0)
	return v, err
}

// InstancesAfter returns up to limit instances with ids above after (limit <= 0: all), and
// whether more exist.
func (e *Engine) InstancesAfter(after int64, limit int) ([]InstanceView, bool, error) {
	insts, more, err := e.st.InstancesAfter(after, limit)
	if err != nil {
		return nil, false, err
	}
	out := make([]InstanceView, 0, len(insts))
	for _, inst := range insts {
		t, err := e.getType(inst.TypeID)
		if err != nil {
			return nil, false, err
		}
		out = append(out, view(inst, t))
	}
	return out, more, nil
}

func view(inst store.Instance, t store.IntegrationType) InstanceView {
	v := InstanceView{
		ID: inst.ID, Name: inst.Name, TypeID: inst.TypeID, TypeName: t.Name, FormData: inst.FormData,
		Capabilities: t.Capabilities, Health: inst.Health, Disabled: inst.Disabled,
		PluginBaseURL: PluginBasePath(inst.ID), WebhookSecretSet: inst.WebhookSecretSet,
		CreatedAt: inst.CreatedAt, UpdatedAt: inst.UpdatedAt,
		InputsWithStoredPasswords: append([]string{}, inst.SecretNames...),
	}
	if v.FormData == nil {
		v.FormData = map[string]any{}
	}
	if v.Capabilities == nil {
		v.Capabilities = []string{}
	}
	return v
}

// dropNulls copies m without its null values.
func dropNulls(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if v != nil {
			out[k] = v
		}
	}
	return out
}
