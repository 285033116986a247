package psmodule_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/psbridge/psbridge/internal/testpwsh"
)

// maskVectorsScript runs the C# Masker of the compiled PSBridge.dll over every case of the
// shared vectors file and prints one JSON line per case with what it produced.
const maskVectorsScript = `
param([string]$Dll, [string]$Vectors)
$ErrorActionPreference = 'Stop'
Add-Type -LiteralPath $Dll
$doc = [System.Text.Json.JsonDocument]::Parse([System.IO.File]::ReadAllText($Vectors))
foreach ($c in $doc.RootElement.GetProperty('cases').EnumerateArray()) {
    $m = [PSBridge.Host.Masker]::new()
    foreach ($s in $c.GetProperty('secrets').EnumerateArray()) { $m.Add($s.GetString()) }
    $out = @{ name = $c.GetProperty('name').GetString() }
    $in = [System.Text.Json.JsonElement]::new()
    if ($c.TryGetProperty('input', [ref]$in)) {
        $out.got = $m.Apply($in.GetString())
    } else {
        $recs = [System.Collections.Generic.List[string]]::new()
        foreach ($r in $c.GetProperty('records').EnumerateArray()) { $recs.Add($r.GetString()) }
        $out.gotRecords = [string[]]$m.ApplyRecords($recs)
    }
    [System.Text.Json.JsonSerializer]::Serialize([object]$out, [System.Collections.Hashtable], [System.Text.Json.JsonSerializerOptions]::new())
}
`

// TestMaskerVectors checks that the worker host's C# Masker passes the same vectors as Go's
// internal/mask (testdata/mask/vectors.json).
func TestMaskerVectors(t *testing.T) {
	pwsh := testpwsh.Pwsh(t)
	mod := testpwsh.Module(t)
	vectors, err := filepath.Abs(filepath.Join("..", "testdata", "mask", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(vectors)
	if err != nil {
		t.Fatal(err)
	}
	var vf struct {
		Cases []struct {
			Name        string   `json:"name"`
			Input       *string  `json:"input"`
			Want        string   `json:"want"`
			WantRecords []string `json:"wantRecords"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &vf); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "vectors.ps1")
	if err := os.WriteFile(script, []byte(maskVectorsScript), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, pwsh, "-NoLogo", "-NoProfile", "-NonInteractive", "-File", script, "-Dll", mod.Assembly(), "-Vectors", vectors)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pwsh: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != len(vf.Cases) {
		t.Fatalf("pwsh answered %d cases of %d:\n%s\n%s", len(lines), len(vf.Cases), stdout.String(), stderr.String())
	}
	for i, line := range lines {
		var got struct {
			Name       string   `json:"name"`
			Got        string   `json:"got"`
			GotRecords []string `json:"gotRecords"`
		}
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		c := vf.Cases[i]
		if got.Name != c.Name {
			t.Fatalf("case %d is %q, want %q", i, got.Name, c.Name)
		}
		if c.Input != nil {
			if got.Got != c.Want {
				t.Errorf("%s: C# Apply(%q)\n got  %q\n want %q", c.Name, *c.Input, got.Got, c.Want)
			}
		} else if strings.Join(got.GotRecords, "\x00") != strings.Join(c.WantRecords, "\x00") {
			t.Errorf("%s: C# ApplyRecords\n got  %q\n want %q", c.Name, got.GotRecords, c.WantRecords)
		}
	}
}
