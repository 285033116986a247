package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// TokenKind names the integration value a token cmdlet asks for.
type TokenKind string

// Token kinds, one per token cmdlet.
const (
	TokenAgentInstall    TokenKind = "agentInstall"    // Get-IntegrationAgentInstallToken
	TokenTenantUninstall TokenKind = "tenantUninstall" // Get-IntegrationTenantUninstallToken
	TokenAgentUninstall  TokenKind = "agentUninstall"  // Get-IntegrationAgentUninstallToken
	TokenAuthHeader      TokenKind = "authHeader"      // Get-IntegrationAuthenticatedDownload
)

// oauthRefreshPrefix starts the kind of Update-OAuthConsentToken, followed by the field name.
const oauthRefreshPrefix = "oauthRefresh:"

// OAuthRefreshKind is the kind Update-OAuthConsentToken -Name field asks for: refresh the
// tokens of the calling integration's OAuth consent field.
func OAuthRefreshKind(field string) TokenKind { return TokenKind(oauthRefreshPrefix + field) }

// OAuthRefreshField returns the field of an OAuthRefreshKind, and whether kind is one.
func (k TokenKind) OAuthRefreshField() (string, bool) {
	return strings.CutPrefix(string(k), oauthRefreshPrefix)
}

// Module is a module script the host provides to Import-Module by name.
type Module struct {
	Name   string `json:"name"`
	Script string `json:"script"`
}

// ComputerCommand is what Invoke-ImmyCommand asks the host to run on a computer.
type ComputerCommand struct {
	// Script is the block's text, self-contained: each $using: value is assigned first.
	Script string `json:"script"`
	// Args are the -ArgumentList values as plain JSON.
	Args json.RawMessage `json:"args,omitempty"`
	// ArgsXML is -ArgumentList as PowerShell CliXml (types kept); preferred over Args.
	ArgsXML string `json:"argsXml,omitempty"`
	// Timeout is -Timeout in seconds (default 120).
	Timeout int `json:"timeout,omitempty"`
	// Context is "System" or "User".
	Context string `json:"context,omitempty"`
	// ComputerID is the -Computer target when exactly one was given; 0 means the computer in
	// context. Computers holds every -Computer target's id (numbers or strings).
	ComputerID int64             `json:"computerId,omitempty"`
	Computers  []json.RawMessage `json:"computers,omitempty"`
	// ConnectTimeout is -ConnectTimeout in seconds: how long to wait for an offline computer
	// (0: the host's default).
	ConnectTimeout int `json:"connectTimeout,omitempty"`
	// File and LineOffset place the block in the calling script: line L of Script is line
	// L+LineOffset of File, so errors and records name the caller's line.
	File       string `json:"file,omitempty"`
	LineOffset int    `json:"lineOffset,omitempty"`
}

// Host answers a worker's callbacks while one of its calls runs. Implementations must be safe
// for concurrent use.
type Host interface {
	// FindModule returns the module script named name, or nil when the host has none (the
	// worker then falls back to PowerShell's own module path).
	FindModule(ctx context.Context, name string) (*Module, error)
	// Token resolves a token cmdlet for the script's linked integration.
	Token(ctx context.Context, kind TokenKind) (any, error)
	// RunOnComputer runs Invoke-ImmyCommand's script block on the attached computer.
	RunOnComputer(ctx context.Context, cmd ComputerCommand) ([]json.RawMessage, error)
}

// ErrNotLinked is the token cmdlets' error when the script has no linked integration; the text
// is the one ImmyBot shows.
var ErrNotLinked = errors.New("An integration is not linked to this script. If this script was run during a maintenance session, re-save the deployment associated with this script's action to ensure the integration is linked.")

// ErrNoComputer is Invoke-ImmyCommand's error when no computer is attached to the call.
var ErrNoComputer = errors.New("Invoke-ImmyCommand: no computer is attached to this script; psbridge runs it only in the context of a computer")

// Modules is a Host that serves module scripts from memory and answers every other callback
// with the error of a script that has no linked integration and no computer.
type Modules map[string]string

// FindModule implements Host.
func (m Modules) FindModule(_ context.Context, name string) (*Module, error) {
	for n, text := range m {
		if strings.EqualFold(n, name) {
			return &Module{Name: n, Script: text}, nil
		}
	}
	return nil, nil
}

// Token implements Host.
func (Modules) Token(context.Context, TokenKind) (any, error) { return nil, ErrNotLinked }

// RunOnComputer implements Host.
func (Modules) RunOnComputer(context.Context, ComputerCommand) ([]json.RawMessage, error) {
	return nil, ErrNoComputer
}

// LoadModuleFiles reads module scripts from files. Each argument is FILE, and the module is
// named after the file without its extension (.psm1, .ps1, …), or NAME=FILE, and the module is
// NAME whatever the file is called: what `Import-Module NAME` finds.
func LoadModuleFiles(specs ...string) (Modules, error) {
	m := Modules{}
	for _, spec := range specs {
		name, p := ModuleSpec(spec)
		if name == "" {
			return nil, fmt.Errorf("module %q: no module name (give NAME=FILE)", spec)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read module %s: %w", name, err)
		}
		m[name] = string(b)
	}
	return m, nil
}

// ModuleSpec splits a --module argument into the module's name and its file: "NAME=FILE",
// or "FILE" named after the file. A NAME is a module name (letters, digits, '.', '-', '_'),
// so a path that merely contains '=' is taken as a file.
func ModuleSpec(spec string) (name, file string) {
	if i := strings.IndexByte(spec, '='); i > 0 && validModuleName(spec[:i]) {
		return spec[:i], spec[i+1:]
	}
	return strings.TrimSuffix(filepath.Base(spec), filepath.Ext(spec)), spec
}

func validModuleName(s string) bool {
	for _, r := range s {
		if !(r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return s != "" && s != "." && s != ".."
}
