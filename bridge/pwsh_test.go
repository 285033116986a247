package bridge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseAndCheckPwshVersion(t *testing.T) {
	cases := []struct {
		in      string
		want    [3]int
		parseOK bool
		checkOK bool
	}{
		{"7.6.9", [3]int{7, 6, 9}, true, true},
		{"7.4.0", [3]int{7, 4, 0}, true, true},
		{"7.5.0-preview.3", [3]int{7, 5, 0}, true, true},
		{"7.3.12", [3]int{7, 3, 12}, true, false},
		{"5.1.22621.4391", [3]int{5, 1, 22621}, true, false},
		{"8.0", [3]int{8, 0, 0}, true, true},
		{"garbage", [3]int{}, false, false},
		{"7.x.1", [3]int{}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			v, err := parseVersion(tc.in)
			if (err == nil) != tc.parseOK {
				t.Fatalf("parseVersion(%q) err = %v", tc.in, err)
			}
			if !tc.parseOK {
				return
			}
			if v != tc.want {
				t.Fatalf("parseVersion(%q) = %v, want %v", tc.in, v, tc.want)
			}
			err = CheckPwshVersion(v)
			if (err == nil) != tc.checkOK {
				t.Fatalf("CheckPwshVersion(%v) = %v", v, err)
			}
			if err != nil && (!strings.Contains(err.Error(), "7.4.0 or later") || !strings.Contains(err.Error(), "install-pwsh")) {
				t.Fatalf("error does not say what is needed and how to get it: %v", err)
			}
		})
	}
}

func TestFindPwshOrder(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	explicit, env := mk("explicit-pwsh"), mk("env-pwsh")
	notExec := filepath.Join(dir, "not-exec")
	if err := os.WriteFile(notExec, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PSBRIDGE_PWSH", env)
	if p, err := FindPwsh(explicit); err != nil || p != explicit {
		t.Fatalf("explicit: %q %v", p, err)
	}
	if p, err := FindPwsh(""); err != nil || p != env {
		t.Fatalf("env: %q %v", p, err)
	}
	if _, err := FindPwsh(notExec); err == nil || !strings.Contains(err.Error(), "--pwsh") {
		t.Fatalf("a non-executable --pwsh must fail naming the flag: %v", err)
	}
	t.Setenv("PSBRIDGE_PWSH", filepath.Join(dir, "missing"))
	if _, err := FindPwsh(""); err == nil || !strings.Contains(err.Error(), "PSBRIDGE_PWSH") || !strings.Contains(err.Error(), "dotnet tool install") {
		t.Fatalf("a wrong PSBRIDGE_PWSH must fail naming it and how to install: %v", err)
	}
}
