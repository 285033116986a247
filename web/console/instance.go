package console

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// startupScript is the fixed script every session starts with (written to the session's
// directory and run with -File). It never contains user data: an instance's data reaches it
// through a 0600 JSON file that it deletes after reading.
//
//go:embed startup.ps1
var startupScript []byte

// InstanceSource loads what a console needs to host one integration instance. The engine
// implements it; user is the console's owner (for access checks).
type InstanceSource interface {
	ConsoleInstance(ctx context.Context, user, instanceID string) (ConsoleInstance, error)
}

// InstanceSourceFunc adapts a function to InstanceSource.
type InstanceSourceFunc func(ctx context.Context, user, instanceID string) (ConsoleInstance, error)

// ConsoleInstance implements InstanceSource.
func (f InstanceSourceFunc) ConsoleInstance(ctx context.Context, user, instanceID string) (ConsoleInstance, error) {
	return f(ctx, user, instanceID)
}

// ConsoleInstance is an integration instance as a console session loads it.
type ConsoleInstance struct {
	// ScriptName is the script's file name (e.g. "SentinelOne.ps1"); breakpoints name it.
	ScriptName string
	// ScriptText is the integration script.
	ScriptText string
	// ScriptPath, when set, is an existing script file the session runs in place instead of a
	// copy of ScriptText: breakpoints set on that file hit, and Update-PSBridgeIntegration
	// (alias reload) re-reads the user's edits. Only a local console (psbridge console --local)
	// sets it; a server's instances come from its store.
	ScriptPath string
	// Modules maps module script names to their text; Import-Module <Name> finds them.
	Modules map[string]string
	// ModulePaths maps module names to existing .psm1/.ps1/.psd1 files; Import-Module <Name>
	// finds them. They are used in place, as ScriptPath is: the session directory gets only a
	// manifest named <Name> whose RootModule is the user's file, so breakpoints on that file hit
	// and the module's name need not be its file name.
	ModulePaths map[string]string
	// FormData are the saved configuration values bound to Init's param() block.
	FormData map[string]any
	// Secrets are values to mask ([Password()] form values and the like). Every string in
	// Context is masked too, and so is every string a method call leaves in it.
	Secrets []string
	// Context is the instance's $IntegrationContext (a JSON object), e.g. after its last Init.
	// When empty, the console runs Init once at start-up.
	Context json.RawMessage
}

// instanceData is the JSON file startup.ps1 reads.
type instanceData struct {
	Manifest   string          `json:"manifest"`
	Script     string          `json:"script"`
	ScriptName string          `json:"scriptName"`
	ModulesDir string          `json:"modulesDir"`
	FormData   map[string]any  `json:"formData"`
	Context    json.RawMessage `json:"context"`
	RunInit    bool            `json:"runInit"`
	InstanceID string          `json:"instanceId"`
	Control    string          `json:"control"`
	InPlace    bool            `json:"inPlace"`
	// ModuleFiles maps module names to the absolute paths of module files used in place:
	// startup.ps1 writes each one's manifest with New-ModuleManifest (PowerShell quotes the path;
	// no script text is built here).
	ModuleFiles map[string]string `json:"moduleFiles"`
}

var safeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// prepareInstance loads the instance, registers its secrets and writes the script, modules
// and data file into the session directory. It returns the data file's path.
func (s *Session) prepareInstance(ctx context.Context, instanceID, controlSocket string) (string, error) {
	cfg := &s.m.cfg
	inst, err := cfg.Instances.ConsoleInstance(ctx, s.user, instanceID)
	if err != nil {
		return "", fmt.Errorf("console: load instance %s: %w", instanceID, err)
	}
	s.secrets.Add(inst.Secrets...)
	ctxJSON := bytes.TrimSpace(inst.Context)
	if len(ctxJSON) == 0 || bytes.Equal(ctxJSON, []byte("null")) {
		ctxJSON = []byte("{}")
	}
	var ctxValue any
	if err := json.Unmarshal(ctxJSON, &ctxValue); err != nil {
		return "", fmt.Errorf("console: instance %s: context is not JSON: %w", instanceID, err)
	}
	if _, ok := ctxValue.(map[string]any); !ok {
		return "", fmt.Errorf("console: instance %s: context must be a JSON object", instanceID)
	}
	s.secrets.AddLeaves(ctxValue)

	name := safeName.ReplaceAllString(filepath.Base(inst.ScriptName), "_")
	if name == "" || name == "." || name == "_" || strings.HasPrefix(name, ".") {
		name = "integration.ps1"
	}
	if !strings.HasSuffix(strings.ToLower(name), ".ps1") {
		name += ".ps1"
	}
	var script string
	if inst.ScriptPath != "" {
		// In place: the user's own file, so breakpoints on it hit and reload sees edits.
		script, err = filepath.Abs(inst.ScriptPath)
		if err == nil {
			_, err = os.Stat(script)
		}
		if err != nil {
			return "", fmt.Errorf("console: integration script: %w", err)
		}
		name = filepath.Base(script)
	} else {
		script = filepath.Join(s.dir, name)
		if err := os.WriteFile(script, []byte(inst.ScriptText), 0o600); err != nil {
			return "", fmt.Errorf("console: write integration script: %w", err)
		}
	}
	modulesDir := filepath.Join(s.dir, "modules")
	writeModule := func(modName string, text []byte, ext string) error {
		mn := safeName.ReplaceAllString(modName, "_")
		if mn == "" || strings.HasPrefix(mn, ".") {
			return fmt.Errorf("console: module name %q is not usable", modName)
		}
		d := filepath.Join(modulesDir, mn)
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("console: module %s: %w", modName, err)
		}
		if err := os.WriteFile(filepath.Join(d, mn+ext), text, 0o600); err != nil {
			return fmt.Errorf("console: module %s: %w", modName, err)
		}
		return nil
	}
	for modName, text := range inst.Modules {
		if err := writeModule(modName, []byte(text), ".psm1"); err != nil {
			return "", err
		}
	}
	moduleFiles := map[string]string{}
	for modName, p := range inst.ModulePaths {
		mn := safeName.ReplaceAllString(modName, "_")
		if mn == "" || strings.HasPrefix(mn, ".") {
			return "", fmt.Errorf("console: module name %q is not usable", modName)
		}
		abs, err := filepath.Abs(p)
		if err == nil {
			_, err = os.Stat(abs)
		}
		if err != nil {
			return "", fmt.Errorf("console: module %s: %w", modName, err)
		}
		if err := os.MkdirAll(filepath.Join(modulesDir, mn), 0o700); err != nil {
			return "", fmt.Errorf("console: module %s: %w", modName, err)
		}
		moduleFiles[mn] = abs
	}
	data := instanceData{
		Manifest:   cfg.ModuleManifest,
		Script:     script,
		ScriptName: name,
		ModulesDir: modulesDir,
		FormData:   inst.FormData,
		Context:    ctxJSON,
		RunInit:    bytes.Equal(bytes.Join(bytes.Fields(ctxJSON), nil), []byte("{}")),
		InstanceID: instanceID,
		Control:    controlSocket,
		InPlace:    inst.ScriptPath != "",

		ModuleFiles: moduleFiles,
	}
	if data.FormData == nil {
		data.FormData = map[string]any{}
	}
	b, err := json.Marshal(data)
	if err != nil {
		return "", fmt.Errorf("console: encode instance data: %w", err)
	}
	f, err := os.CreateTemp(s.dir, "instance-*.json")
	if err != nil {
		return "", fmt.Errorf("console: write instance data: %w", err)
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return "", fmt.Errorf("console: write instance data: %w", err)
	}
	return f.Name(), nil
}
