package config

import (
	"testing"
)

// FuzzParseYAML: any config file either applies or fails with an error; it never panics, and
// a file that applies yields values Validate can judge.
func FuzzParseYAML(f *testing.F) {
	for _, s := range []string{
		"listen: 127.0.0.1:9090\nworkers: {max: 4, min: 1}\n",
		"webhook:\n  rate: 2.5\n  burst: 5\nhttp:\n  body-timeout: 3s\n",
		"workers: 3\n", "- a\n- b\n", "a: &x [*x]\n", "log:\n  level: [debug]\n", "", "~", "{", "workers.max: 9",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg := Default()
		if err := parseYAML("fuzz.yaml", b, &cfg); err != nil {
			return
		}
		_ = cfg.Validate()
		_ = cfg.Print(discard{})
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
