package console

import (
	"bytes"
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

// terminalView splits a stream the way Filter's parser does: the visible text, and the string
// payload of every OSC/DCS/APC/PM/SOS sequence. It is a separate, straightforward reading of
// the same grammar for the fuzz properties.
func terminalView(s []byte) (visible string, payloads []string) {
	var vis bytes.Buffer
	var pay *bytes.Buffer
	endPayload := func() {
		if pay != nil {
			payloads = append(payloads, pay.String())
			pay = nil
		}
	}
	const (
		ground = iota
		esc
		inter
		csi
		str
		strEsc
	)
	st := ground
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch st {
		case ground:
			if b == 0x1b {
				st = esc
			} else {
				vis.WriteByte(b)
			}
		case esc:
			switch {
			case b == '[':
				st = csi
			case b == ']' || b == 'P' || b == 'X' || b == '^' || b == '_':
				st = str
				pay = &bytes.Buffer{}
			case b >= 0x20 && b <= 0x2f:
				st = inter
			case b == 0x1b:
			default:
				st = ground
			}
		case inter:
			switch {
			case b == 0x1b:
				st = esc
			case b < 0x20 || b > 0x2f:
				st = ground
			}
		case csi:
			switch {
			case b == 0x1b:
				st = esc
			case (b >= 0x40 && b <= 0x7e) || b == 0x18 || b == 0x1a:
				st = ground
			}
		case str:
			switch b {
			case 0x07:
				endPayload()
				st = ground
			case 0x1b:
				endPayload()
				st = strEsc
			default:
				pay.WriteByte(b)
			}
		case strEsc:
			if b == '\\' {
				st = ground
			} else {
				st = esc
				i-- // reread b as the byte after ESC
			}
		}
	}
	endPayload()
	return vis.String(), payloads
}
