package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine/store"
)

// TypeInput is what a client submits to create or update an integration type.
type TypeInput struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Script      string `json:"script"`
	// ScriptName is the file name used in error positions (default: Name + ".ps1").
	ScriptName string `json:"scriptName"`
}

// TypeView is an integration type as the API shows it.
type TypeView struct {
	store.IntegrationType
	// InitParameters is the Init param() schema: the form of the type's instances.
	InitParameters []bridge.ParamSchema `json:"initParameters"`
	// Interfaces lists each capability with its member blocks.
	Interfaces []bridge.Capability `json:"interfaces"`
	// Warnings name what will fail although the script loaded: each module it imports that
	// psbridge does not have (neither uploaded nor available to pwsh), with its line.
	Warnings []string `json:"warnings"`
}

// MarshalJSON hides the stored raw schema and description in favour of the typed fields.
func (v TypeView) MarshalJSON() ([]byte, error) {
	t := v.IntegrationType
	t.Schema, t.Describe = nil, nil
	type plain store.IntegrationType
	return json.Marshal(struct {
		plain
		InitParameters []bridge.ParamSchema `json:"initParameters"`
		Interfaces     []bridge.Capability  `json:"interfaces"`
		Warnings       []string             `json:"warnings"`
	}{plain(t), v.InitParameters, v.Interfaces, v.Warnings})
}

// hashScript returns the hex SHA-256 of a script.
func hashScript(text string) string {
	h := sha256.Sum256([]byte(text))
	return hex.EncodeToString(h[:])
}

func (in *TypeInput) check() FieldErrors {
	var errs FieldErrors
	if strings.TrimSpace(in.Name) == "" {
		errs = append(errs, FieldError{Field: "name", Message: "is required"})
	} else if len(in.Name) > 200 {
		errs = append(errs, FieldError{Field: "name", Message: "must be at most 200 characters"})
	}
	if strings.TrimSpace(in.Script) == "" {
		errs = append(errs, FieldError{Field: "script", Message: "is required"})
	}
	if in.ScriptName != "" && strings.ContainsAny(in.ScriptName, "/\\\x00") {
		errs = append(errs, FieldError{Field: "scriptName", Message: "must be a file name without directories"})
	}
	return errs
}

// describe loads a script in a worker and returns what it implements. Scripts that do not
// parse fail with *bridge.ParseError (every issue with line and column).
func (e *Engine) describe(ctx context.Context, name, text string) (*bridge.Description, error) {
	d, err := e.pool.Describe(ctx, bridge.Script{Instance: "describe-" + hashScript(text)[:16], Group: "describe", Name: name, Text: text})
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	if _, ok := d.Method("Init"); !ok {
		return nil, &bridge.LoadError{Script: name, Message: "the script's integration has no Init block"}
	}
	return d, nil
}

// fillType stores what describe learnt into t.
func fillType(t *store.IntegrationType, d *bridge.Description) {
	t.Capabilities = nil
	for _, c := range d.Capabilities {
		t.Capabilities = append(t.Capabilities, c.Interface)
	}
	init, _ := d.Method("Init")
	t.Schema = rawJSON(init.Parameters)
	t.Describe = rawJSON(d)
	t.ScriptHash = hashScript(t.Script)
}

// CreateType loads the script in a worker and stores it as a new integration type. A script
// that does not parse fails with *bridge.ParseError; one that produces no integration with
// *bridge.LoadError; bad input with FieldErrors. Nothing is stored on error.
func (e *Engine) CreateType(ctx context.Context, in TypeInput) (TypeView, error) {
	if errs := in.check(); len(errs) > 0 {
		return TypeView{}, errs
	}
	t := store.IntegrationType{Name: in.Name, Description: in.Description, Script: in.Script, ScriptName: in.ScriptName}
	if t.ScriptName == "" {
		t.ScriptName = in.Name + ".ps1"
	}
	d, err := e.describe(ctx, t.ScriptName, t.Script)
	if err != nil {
		return TypeView{}, err
	}
	fillType(&t, d)
	if err := e.putType(&t); err != nil {
		return TypeView{}, fmt.Errorf("create type: %w", err)
	}
	return e.typeView(t)
}

// UpdateType replaces the name, description and script of a type after loading the new script.
// Its instances run Init again with the new script on their next call.
func (e *Engine) UpdateType(ctx context.Context, id string, in TypeInput) (TypeView, error) {
	old, err := e.getType(id)
	if err != nil {
		return TypeView{}, wrapNotFound("integration type "+id, err)
	}
	if errs := in.check(); len(errs) > 0 {
		return TypeView{}, errs
	}
	t := old
	t.Name, t.Description, t.Script = in.Name, in.Description, in.Script
	if in.ScriptName != "" {
		t.ScriptName = in.ScriptName
	}
	d, err := e.describe(ctx, t.ScriptName, t.Script)
	if err != nil {
		return TypeView{}, err
	}
	fillType(&t, d)
	if err := e.putType(&t); err != nil {
		return TypeView{}, fmt.Errorf("update type %s: %w", id, err)
	}
	// Instances of the type run Init again at their next call (the script version changed);
	// make that call come now, from the health loop, so their health reflects the new script.
	if insts, err := e.st.Instances(); err == nil {
		e.mu.Lock()
		for _, inst := range insts {
			if inst.TypeID == id {
				delete(e.nextHealth, inst.ID)
			}
		}
		e.mu.Unlock()
	}
	return e.typeView(t)
}

// DeleteType removes a type that no instance uses (ErrConflict otherwise).
func (e *Engine) DeleteType(id string) error {
	err := e.st.DeleteType(id)
	e.mu.Lock()
	delete(e.types, id)
	e.mu.Unlock()
	return wrapNotFound("integration type "+id, err)
}

// getType returns a type from the engine's cache, reading the store on a miss. Only the engine
// writes types (the database is locked to one process), so the cache stays exact.
func (e *Engine) getType(id string) (store.IntegrationType, error) {
	e.mu.Lock()
	t, ok := e.types[id]
	e.mu.Unlock()
	if ok {
		return t, nil
	}
	t, err := e.st.Type(id)
	if err != nil {
		return t, err
	}
	e.mu.Lock()
	e.types[id] = t
	e.mu.Unlock()
	return t, nil
}

// putType stores a type and refreshes the cache.
func (e *Engine) putType(t *store.IntegrationType) error {
	err := e.st.PutType(t)
	e.mu.Lock()
	delete(e.types, t.ID)
	e.mu.Unlock()
	return err
}

// Type returns one integration type.
func (e *Engine) Type(id string) (TypeView, error) {
	t, err := e.getType(id)
	if err != nil {
		return TypeView{}, wrapNotFound("integration type "+id, err)
	}
	return e.typeView(t)
}

// Types returns every integration type, ordered by id.
func (e *Engine) Types() ([]TypeView, error) {
	ts, err := e.st.Types()
	if err != nil {
		return nil, err
	}
	out := make([]TypeView, 0, len(ts))
	for _, t := range ts {
		v, err := e.typeView(t)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (e *Engine) typeView(t store.IntegrationType) (TypeView, error) {
	d, err := e.typeDescription(t)
	if err != nil {
		return TypeView{}, err
	}
	init, _ := d.Method("Init")
	v := TypeView{IntegrationType: t, InitParameters: init.Parameters, Interfaces: d.Capabilities}
	if v.InitParameters == nil {
		v.InitParameters = []bridge.ParamSchema{}
	}
	if v.Interfaces == nil {
		v.Interfaces = []bridge.Capability{}
	}
	// Modules are looked up now, not at upload: uploading the module clears the warning.
	v.Warnings = d.MissingModules(context.Background(), &callHost{e: e})
	if v.Warnings == nil {
		v.Warnings = []string{}
	}
	return v, nil
}

// typeDescription decodes (once per script version) the stored description of a type.
func (e *Engine) typeDescription(t store.IntegrationType) (*bridge.Description, error) {
	key := t.ID + "/" + t.ScriptHash
	e.mu.Lock()
	d := e.descs[key]
	e.mu.Unlock()
	if d != nil {
		return d, nil
	}
	d = &bridge.Description{}
	if len(t.Describe) > 0 {
		if err := json.Unmarshal(t.Describe, d); err != nil {
			return nil, fmt.Errorf("type %s: stored description: %w", t.ID, err)
		}
	}
	e.mu.Lock()
	if len(e.descs) > 4096 {
		e.descs = map[string]*bridge.Description{}
	}
	e.descs[key] = d
	e.mu.Unlock()
	return d, nil
}

// ---- module scripts ----------------------------------------------------------------------

// moduleName is what Import-Module accepts as a bare name.
var moduleName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// PutModule stores a module script that any integration can load with Import-Module name.
// create refuses to replace an existing module (ErrConflict).
func (e *Engine) PutModule(name, script string, create bool) (store.ModuleScript, error) {
	var errs FieldErrors
	if !moduleName.MatchString(name) {
		errs = append(errs, FieldError{Field: "name", Message: "must be a module name: letters, digits, '.', '_' or '-', at most 128 characters"})
	}
	if strings.TrimSpace(script) == "" {
		errs = append(errs, FieldError{Field: "script", Message: "is required"})
	}
	if len(errs) > 0 {
		return store.ModuleScript{}, errs
	}
	m := store.ModuleScript{Name: name, Script: script}
	var err error
	if create {
		err = e.st.CreateModule(m)
	} else {
		err = e.st.PutModule(m)
	}
	if err != nil {
		return store.ModuleScript{}, err
	}
	if err := e.refreshModulesVersion(); err != nil {
		return store.ModuleScript{}, err
	}
	return e.st.Module(name)
}

// Module returns one module script.
func (e *Engine) Module(name string) (store.ModuleScript, error) {
	m, err := e.st.Module(name)
	return m, wrapNotFound("module "+name, err)
}

// Modules returns every module script ordered by lower-case name.
func (e *Engine) Modules() ([]store.ModuleScript, error) { return e.st.Modules() }

// DeleteModule removes a module script.
func (e *Engine) DeleteModule(name string) error {
	if err := e.st.DeleteModule(name); err != nil {
		return wrapNotFound("module "+name, err)
	}
	return e.refreshModulesVersion()
}

// refreshModulesVersion recomputes the fingerprint of all module scripts. It is part of the
// script text handed to the pool, so a changed module makes every worker reload the
// integration and import the new version.
func (e *Engine) refreshModulesVersion() error {
	ms, err := e.st.Modules()
	if err != nil {
		return fmt.Errorf("engine: modules: %w", err)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	h := sha256.New()
	for _, m := range ms {
		fmt.Fprintf(h, "%s\x00%s\x00", strings.ToLower(m.Name), m.Script)
	}
	e.mu.Lock()
	e.modulesVersion = hex.EncodeToString(h.Sum(nil))[:16]
	e.mu.Unlock()
	return nil
}

// findModule implements bridge.Host.FindModule from the store.
func (e *Engine) findModule(name string) (*bridge.Module, error) {
	m, err := e.st.Module(name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &bridge.Module{Name: m.Name, Script: m.Script}, nil
}
