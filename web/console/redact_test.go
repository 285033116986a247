package console

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/psbridge/psbridge/internal/mask"
)

func TestWithoutQueries(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a\x1b[6nb", "ab"},
		{"\x1b[31mred\x1b[0m", "\x1b[31mred\x1b[0m"},
		{"\x1b[>c\x1b[5n\x1b[?6n", ""},
		{"x\x1b[", "x\x1b["},
	}
	for _, tt := range tests {
		if got := string(withoutQueries([]byte(tt.in))); got != tt.want {
			t.Errorf("withoutQueries(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestScrollbackIsBounded(t *testing.T) {
	s := &Session{m: &Manager{cfg: Config{ScrollbackBytes: 64}}}
	for i := 0; i < 50; i++ {
		s.deliver([]byte("line " + strings.Repeat("x", i%7) + "\r\n"))
	}
	a, err := s.Attach()
	if err != nil {
		t.Fatal(err)
	}
	replay := string(<-a.Output())
	if len(replay) > 64 || len(replay) == 0 || !strings.HasPrefix(replay, "line ") {
		t.Fatalf("replay %q: want at most 64 bytes starting at a line", replay)
	}
}

func TestStringLeavesSkipsTypeTags(t *testing.T) {
	cases := []struct {
		name, json string
		want       []string
	}{
		{"flat", `{"a":"x","b":""}`, []string{"x"}},
		{"typed value", `{"Url":{"$psbridgeType":"uri","value":"https://vendor/"}}`, []string{"https://vendor/"}},
		{"nested", `{"a":["p",{"b":"q"}],"n":3}`, []string{"p", "q"}},
		{"tag-like with more keys", `{"$psbridgeType":"uri","value":"v","other":"o"}`, []string{"o", "uri", "v"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(tc.json), &v); err != nil {
				t.Fatal(err)
			}
			got := mask.StringLeaves(v, nil)
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("stringLeaves = %q, want %q", got, tc.want)
			}
		})
	}
}
