package engine

// This file hands a debugging console what it needs to load one instance exactly as the
// engine runs it. The console package (web/console) adapts it; the engine does not import it,
// so dependencies stay one-way (web → engine).

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// ConsoleData is an integration instance as a debugging console loads it. It holds secrets:
// hand it only to code that masks them (web/console registers Secrets with its filter).
type ConsoleData struct {
	// ScriptName is the type's script file name (e.g. "SentinelOne.ps1").
	ScriptName string
	// ScriptText is the integration script.
	ScriptText string
	// Modules maps every stored module script's name to its text.
	Modules map[string]string
	// FormData are the saved values bound to Init's param() block, [Password] values included.
	FormData map[string]any
	// Secrets lists the [Password] values, longest first. The console masks every string in
	// Context itself (see web/console.ConsoleInstance).
	Secrets []string
	// Context is the instance's $IntegrationContext after its last Init ({} when none).
	Context json.RawMessage
}

// ConsoleInstance loads instance id (a decimal string) for a console session of user. Every
// API token may debug every instance, so user only names the owner in errors.
func (e *Engine) ConsoleInstance(ctx context.Context, user, id string) (ConsoleData, error) {
	if err := ctx.Err(); err != nil {
		return ConsoleData{}, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64)
	if err != nil || n <= 0 {
		return ConsoleData{}, fmt.Errorf("console for %s: integration id %q: %w", user, id, ErrNotFound)
	}
	l, err := e.load(n)
	if err != nil {
		return ConsoleData{}, fmt.Errorf("console for %s: %w", user, err)
	}
	secrets, err := e.st.InstanceSecrets(n)
	if err != nil {
		return ConsoleData{}, fmt.Errorf("console for %s: %w", user, wrapNotFound("integration "+id, err))
	}
	ctxJSON, err := e.st.Context(n)
	if err != nil {
		return ConsoleData{}, fmt.Errorf("console for %s: %w", user, wrapNotFound("integration "+id, err))
	}
	if len(ctxJSON) == 0 {
		ctxJSON = json.RawMessage("{}")
	}
	mods, err := e.st.Modules()
	if err != nil {
		return ConsoleData{}, fmt.Errorf("console for %s: list modules: %w", user, err)
	}
	d := ConsoleData{
		ScriptName: l.typ.ScriptName,
		ScriptText: l.typ.Script,
		Modules:    make(map[string]string, len(mods)),
		FormData:   formValues(l.inst.FormData, secrets),
		Secrets:    secretValues(secrets),
		Context:    ctxJSON,
	}
	for _, m := range mods {
		d.Modules[m.Name] = m.Script
	}
	return d, nil
}
