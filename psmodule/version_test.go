package psmodule

import (
	"regexp"
	"testing"
)

// TestVersionIsTheSameEverywhere: the module's version is written in three places, Version,
// PSBridge.psd1 and the assembly's version (which the worker's handshake reports), and they
// must agree.
func TestVersionIsTheSameEverywhere(t *testing.T) {
	for _, c := range []struct {
		file    string
		pattern string
	}{
		{"PSBridge.psd1", `(?m)^\s*ModuleVersion\s*=\s*'([^']+)'`},
		{"src/Host.cs", `(?m)^\[assembly: System\.Reflection\.AssemblyVersion\("([^"]+)"\)\]`},
	} {
		b, err := files.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(c.pattern).FindSubmatch(b)
		if m == nil {
			t.Errorf("%s: no version found (pattern %s)", c.file, c.pattern)
			continue
		}
		if got := string(m[1]); got != Version {
			t.Errorf("%s says version %s, psmodule.Version is %s", c.file, got, Version)
		}
	}
}
