package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	cases := []struct {
		name    string
		opts    Options
		wantErr string
		check   func(t *testing.T, out string)
	}{
		{"json by default for a buffer", Options{}, "", func(t *testing.T, out string) {
			var m map[string]any
			if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &m); err != nil {
				t.Fatalf("not JSON: %q", out)
			}
			if m[FieldComponent] != "engine" || m[FieldDurationMS] != 1.5 || m["message"] != "called" || m["time"] == nil {
				t.Fatalf("fields = %v", m)
			}
		}},
		{"console format", Options{Format: "console"}, "", func(t *testing.T, out string) {
			if strings.HasPrefix(out, "{") || !strings.Contains(out, "called") {
				t.Fatalf("console output = %q", out)
			}
		}},
		{"warn level drops info", Options{Level: "warn"}, "", func(t *testing.T, out string) {
			if out != "" {
				t.Fatalf("info logged at warn level: %q", out)
			}
		}},
		{"bad level", Options{Level: "loud"}, `log level "loud"`, nil},
		{"bad format", Options{Format: "xml"}, `log format "xml"`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := New(&buf, tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cl := Component(l, "engine")
			cl.Info().Float64(FieldDurationMS, Millis(1500*time.Microsecond)).Msg("called")
			tc.check(t, buf.String())
		})
	}
}
