package software

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/psbridge/psbridge/engine/store"
)

// TestCompareVersions covers detected and dynamic versions alike (one comparison for both).
func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.10.0", "1.9.9", 1},
		{"1.2", "1.2.0", 0},
		{"2.0.0-beta.1", "2.0.0", -1},
		{"2.0.0", "2.0.0-rc.1", 1},
		{"2.0.0-alpha", "2.0.0-beta", -1},
		{"2.0.0+build.5", "2.0.0", 0},
		{"1.0.0-rc.1", "0.9.9", 1},
		{"1.0-beta", "1.0", -1}, // a detected pre-release does not satisfy its release
		{"1.0", "1.0-beta", 1},
		{"2.0.0-beta.2", "2.0.0-beta.10", -1},
		{"2.0.0-beta", "2.0.0-beta.1", -1},
		{"2.0.0-1", "2.0.0-alpha", -1}, // numbers before words
		{"v3.1.0", "3.1", 0},
		{"23.1.2.400", "23.1.2.399", 1},
		{"1.2.3", "1.2.3", 0},
	} {
		if got := CompareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := CompareVersions(tc.b, tc.a); got != -tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d (antisymmetry)", tc.b, tc.a, got, -tc.want)
		}
	}
}

// TestParseDynamicVersions reads the shapes scripts return (objects, @{ Versions = … }, a
// [System.Version] serialised as an object) and names a bad one.
func TestParseDynamicVersions(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      string // versions in output order, or the error's text
	}{
		{"objects", `[{"Version":"1.2.3","Url":"https://x.example/a.msi"},{"Version":"1.10"}]`, "1.2.3,1.10"},
		{"versions property", `{"Versions":[{"version":"2.0","url":"u"},{"version":"v3.1.0-beta"}]}`, "2.0,3.1.0-beta"},
		{"System.Version object", `{"Version":{"Major":4,"Minor":2,"Build":1,"Revision":-1}}`, "4.2.1"},
		{"nothing", `"just text"`, "returned no versions"},
		{"no version", `[{"Url":"u"}]`, "version 1 of 1 has no Version"},
		{"bad version", `[{"Version":"1.0"},{"Version":"latest"}]`, `version 2 of 2: "latest" is not a version`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out []json.RawMessage
			if err := json.Unmarshal([]byte("["+tc.out+"]"), &out); err != nil {
				t.Fatal(err)
			}
			vs, err := parseDynamicVersions(out)
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				var parts []string
				for _, v := range vs {
					parts = append(parts, v.Version)
				}
				got = strings.Join(parts, ",")
			}
			if !strings.Contains(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestChooseDynamic(t *testing.T) {
	vs := []store.DynamicVersion{{Version: "3.0"}, {Version: "2.5"}, {Version: "2.0"}}
	for _, tc := range []struct {
		desired int
		fixed   string
		want    string // "" when none fits
	}{
		{LatestVersion, "", "3.0"},
		{LatestVersion, "2.0", "3.0"},
		{NewerOrEqualVersion, "", "3.0"},
		{ThisVersion, "2.5", "2.5"},
		{ThisVersion, "2.6", ""},
		{OlderOrEqualVersion, "2.7", "2.5"},
		{AnyVersion, "", "3.0"},
	} {
		v, ok := chooseDynamic(tc.desired, tc.fixed, vs)
		if got := map[bool]string{true: v.Version}[ok]; got != tc.want {
			t.Errorf("chooseDynamic(%s, %q) = %q, want %q", stateName(tc.desired), tc.fixed, got, tc.want)
		}
	}
}
