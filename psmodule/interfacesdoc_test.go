package psmodule_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/psbridge/psbridge/internal/testpwsh"
	"github.com/psbridge/psbridge/psmodule"
)

const interfacesDoc = "../docs/interfaces.md"

// TestInterfacesDocIsCurrent regenerates docs/interfaces.md with the real pwsh from the
// modules' comment-based help and the capability catalog, and fails when the file differs
// (or when a public command lacks help). PSBRIDGE_UPDATE_DOCS=1 rewrites the file instead.
func TestInterfacesDocIsCurrent(t *testing.T) {
	mod := testpwsh.Module(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	got, err := psmodule.GenerateInterfacesDoc(ctx, testpwsh.Pwsh(t), mod.Manifest(), mod.TestingManifest())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"### ISupportsListingClients", "#### -GetAgents", "`$clientIds`", "### New-DynamicIntegration", "### Add-DynamicIntegrationCapability", "### Invoke-PSBridgeTestMethod"} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("the generated document lacks %q", want)
		}
	}
	if os.Getenv("PSBRIDGE_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(interfacesDoc, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", filepath.Clean(interfacesDoc))
		return
	}
	have, err := os.ReadFile(interfacesDoc)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if !bytes.Equal(have, got) {
		t.Fatalf("docs/interfaces.md is not current (%s). Regenerate it with:\n  PSBRIDGE_UPDATE_DOCS=1 go test -run TestInterfacesDocIsCurrent ./psmodule", firstDifference(have, got))
	}
}

// firstDifference names the first line where two texts differ.
func firstDifference(have, want []byte) string {
	h, w := strings.Split(string(have), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(h) || i < len(w); i++ {
		var a, b string
		if i < len(h) {
			a = h[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b || i >= len(h) || i >= len(w) {
			return fmt.Sprintf("line %d: file has %q, generated %q", i+1, a, b)
		}
	}
	return "same lines"
}

// TestInterfacesDocNamesMissingHelp: a public command without help, or with an undocumented
// parameter, stops the generator with the command's and the parameter's name.
func TestInterfacesDocNamesMissingHelp(t *testing.T) {
	mod := testpwsh.Module(t)
	dir := t.TempDir()
	cases := []struct {
		name, function string
		want           []string
	}{
		{"no-help", "function Get-Thing { param([string]$Name) $Name }", []string{"Get-Thing: no .SYNOPSIS"}},
		{"undocumented-parameter", "function Get-Thing {\n<#\n.SYNOPSIS\nGets a thing.\n.PARAMETER Name\nIts name.\n#>\nparam([string]$Name, [int]$Count) $Name }",
			[]string{"Get-Thing: no .PARAMETER Count"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := filepath.Join(dir, tc.name, "Things")
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			psm1 := tc.function + "\nExport-ModuleMember -Function Get-Thing\n"
			psd1 := "@{ RootModule = 'Things.psm1'; ModuleVersion = '1.0.0'; FunctionsToExport = @('Get-Thing') }\n"
			if err := os.WriteFile(filepath.Join(d, "Things.psm1"), []byte(psm1), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, "Things.psd1"), []byte(psd1), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			_, err := psmodule.GenerateInterfacesDoc(ctx, testpwsh.Pwsh(t), mod.Manifest(), filepath.Join(d, "Things.psd1"))
			if err == nil {
				t.Fatal("the generator accepted a command without help")
			}
			for _, w := range append(tc.want, "Missing documentation") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
