package psmodule

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// genDocsScript writes docs/interfaces.md. It is not part of the installed module (and not of
// SourceHash): only the generator needs it.
//
//go:embed gendocs.ps1
var genDocsScript []byte

// GenerateInterfacesDoc returns docs/interfaces.md: every capability interface with its
// members' parameters and return types (from [PSBridge.CapabilityCatalog]) and every public
// command of the given module manifests (PSBridge first, then PSBridge.Testing) with its
// parameters, from the commands' comment-based help. It runs pwsh; a public command without
// help, or a parameter without a description, is an error that lists them.
func GenerateInterfacesDoc(ctx context.Context, pwsh string, manifests ...string) ([]byte, error) {
	if len(manifests) == 0 {
		return nil, fmt.Errorf("generate interfaces doc: no module manifest given")
	}
	dir, err := os.MkdirTemp("", "psbridge-gendocs-")
	if err != nil {
		return nil, fmt.Errorf("generate interfaces doc: %w", err)
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "gendocs.ps1")
	if err := os.WriteFile(script, genDocsScript, 0o600); err != nil {
		return nil, fmt.Errorf("generate interfaces doc: %w", err)
	}
	outFile := filepath.Join(dir, "interfaces.md")
	args := append([]string{"-NoLogo", "-NoProfile", "-NonInteractive", "-File", script, outFile}, manifests...)
	cmd := exec.CommandContext(ctx, pwsh, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("generate interfaces doc with %s: %w\n%s", pwsh, err, strings.TrimSpace(out.String()))
	}
	b, err := os.ReadFile(outFile)
	if err != nil {
		return nil, fmt.Errorf("generate interfaces doc: no output: %w\n%s", err, strings.TrimSpace(out.String()))
	}
	return b, nil
}
