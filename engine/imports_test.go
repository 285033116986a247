package engine

import (
	"strings"
	"testing"
)

func TestTypesWarnAboutModulesPsbridgeDoesNotHave(t *testing.T) {
	ctx := testCtx(t)
	e, _ := newEngine(t, Config{})
	const body = `
$Integration = New-DynamicIntegration -Init {
    param()
    Import-Module -Name 'Contoso.Vendor' -Force
    [OpResult]::Ok()
} -HealthCheck { New-HealthyResult }
$Integration
`
	cases := []struct {
		name    string
		script  string
		want    []string // substrings, one per expected warning
		wantNot string
	}{
		{"SentinelOne example without its module", example(t, "testdata/examples/07-sentinelone.ps1"),
			[]string{`module "SentinelOne" (line 97, Import-Module)`}, ""},
		{"named parameter, #Requires and a built-in module", "#Requires -Modules NoSuch.Required\nImport-Module Microsoft.PowerShell.Utility\nipmo Microsoft.PowerShell.Management\n" + body,
			[]string{`module "NoSuch.Required" (line 1, #Requires -Modules)`, `module "Contoso.Vendor" (line 7, Import-Module)`}, "Microsoft.PowerShell.Utility"},
		{"no imports", "$Integration = New-DynamicIntegration -Init { param() [OpResult]::Ok() } -HealthCheck { New-HealthyResult }\n$Integration", nil, ""},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			typ, err := e.CreateType(ctx, TypeInput{Name: "T" + string(rune('a'+i)), Script: c.script})
			if err != nil {
				t.Fatal(err)
			}
			if len(typ.Warnings) != len(c.want) {
				t.Fatalf("warnings %q, want %d", typ.Warnings, len(c.want))
			}
			for j, w := range c.want {
				if !strings.Contains(typ.Warnings[j], w) {
					t.Errorf("warning %d %q lacks %q", j, typ.Warnings[j], w)
				}
			}
			if c.wantNot != "" && strings.Contains(strings.Join(typ.Warnings, "\n"), c.wantNot) {
				t.Errorf("warnings %q name %s, which pwsh has", typ.Warnings, c.wantNot)
			}
		})
	}
	// Uploading the module clears the warning.
	if _, err := e.PutModule("SentinelOne", example(t, "testdata/modules/SentinelOne.psm1"), true); err != nil {
		t.Fatal(err)
	}
	types, err := e.Types()
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range types {
		if typ.Name == "Ta" && len(typ.Warnings) != 0 {
			t.Errorf("after uploading the module: %q", typ.Warnings)
		}
	}
}
