package config

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func load(t *testing.T, yamlText string, env []string, args ...string) (Config, error) {
	t.Helper()
	if yamlText != "" {
		path := filepath.Join(t.TempDir(), "psbridge.yaml")
		if err := os.WriteFile(path, []byte(yamlText), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"--config", path}, args...)
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	return f.Load(env)
}

func TestPrecedenceDefaultsFileEnvFlags(t *testing.T) {
	file := "listen: 0.0.0.0:9000\nworkers:\n  max: 4\n  call-timeout: 2m\nlog:\n  level: debug\n"
	cases := []struct {
		name string
		yaml string
		env  []string
		args []string
		want func(Config) bool
	}{
		{"defaults", "", nil, nil, func(c Config) bool {
			return c.Listen == "127.0.0.1:8080" && c.MaxWorkers == 8 && c.MinWorkers == 1 && c.PerIntegration == 2 && c.CallTimeout == time.Minute && c.DataDir == DefaultDataDir()
		}},
		{"file over defaults", file, nil, nil, func(c Config) bool {
			return c.Listen == "0.0.0.0:9000" && c.MaxWorkers == 4 && c.CallTimeout == 2*time.Minute && c.LogLevel == "debug"
		}},
		{"env over file", file, []string{"PSBRIDGE_WORKERS_MAX=3", "PSBRIDGE_LISTEN=:7000"}, nil, func(c Config) bool { return c.MaxWorkers == 3 && c.Listen == ":7000" }},
		{"flag over env", file, []string{"PSBRIDGE_WORKERS_MAX=3"}, []string{"--workers.max", "5"}, func(c Config) bool { return c.MaxWorkers == 5 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.yaml, tc.env, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}

func TestConfigFileFromEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("workers:\n  min: 2\n  max: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := load(t, "", []string{"PSBRIDGE_CONFIG=" + path})
	if err != nil || c.MinWorkers != 2 {
		t.Fatalf("cfg %+v err %v", c, err)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		env  []string
		args []string
		want string
	}{
		{"unknown yaml key", "listen: x\nworkers:\n  maxx: 3\n", nil, nil, `psbridge.yaml:3: unknown key "workers.maxx"`},
		{"bad yaml duration", "health:\n  interval: soon\n", nil, nil, `health.interval: "soon" is not a duration`},
		{"unknown env", "", []string{"PSBRIDGE_LISTN=x"}, nil, "unknown environment variable PSBRIDGE_LISTN"},
		{"bad env int", "", []string{"PSBRIDGE_WORKERS_MAX=many"}, nil, `PSBRIDGE_WORKERS_MAX: "many" is not a whole number`},
		{"bad flag", "", nil, []string{"--workers.min", "-x"}, `invalid argument "-x" for "--workers.min" flag: "-x" is not a whole number`},
		{"min over max", "", nil, []string{"--workers.min", "3", "--workers.max", "2"}, "workers.min (3) is more than workers.max (2)"},
		{"bad key", "", []string{"PSBRIDGE_KEY=abc"}, nil, "key must be 64 hex characters"},
		{"bad level", "log:\n  level: loud\n", nil, nil, `log.level must be debug, info, warn or error, got "loud"`},
		{"no worker", "", nil, []string{"--workers.min", "0", "--workers.max", "0"}, "workers.max must be at least 1"},
		{"timeout over 5m", "workers:\n  call-timeout: 10m\n", nil, nil, "workers.call-timeout must be more than 0 and at most 5m"},
		{"renamed env", "", []string{"PSBRIDGE_WORKERS=4"}, nil, "PSBRIDGE_WORKERS is now PSBRIDGE_WORKERS_MAX"},
		{"negative grace", "", []string{"PSBRIDGE_SHUTDOWN_GRACE=-1s"}, nil, "shutdown-grace must not be negative"},
		{"missing file", "", nil, []string{"--config", "/nonexistent/psbridge.yaml"}, "read config"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yaml, tc.env, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestPrintMasksSecrets(t *testing.T) {
	key := strings.Repeat("ab", 32)
	c, err := load(t, "", []string{"PSBRIDGE_KEY=" + key})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := c.Print(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, key) || !strings.Contains(out, "key: ********") || !strings.Contains(out, "workers.max: 8") {
		t.Fatalf("print:\n%s", out)
	}
}

func TestReferenceListsEveryField(t *testing.T) {
	var buf bytes.Buffer
	if err := Reference(&buf); err != nil {
		t.Fatal(err)
	}
	for _, f := range Fields() {
		if f.Key == "" || f.Help == "" {
			t.Errorf("field %+v lacks a key or help", f)
		}
		if !strings.Contains(buf.String(), "`"+f.Env+"`") {
			t.Errorf("reference lacks %s", f.Env)
		}
	}
}

func TestKeyFilePathMatchesTheStore(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"default next to the database", Config{DataDir: "/d"}, "/d/psbridge.db.key"},
		{"explicit file", Config{DataDir: "/d", KeyFile: "/k/key"}, "/k/key"},
		{"key given", Config{DataDir: "/d", Key: strings.Repeat("ab", 32)}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cfg.KeyFilePath(); got != tc.want {
				t.Fatalf("KeyFilePath() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLoadShowsTheKeyFileInEffect(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		want string
	}{
		{"default next to the database", []string{"PSBRIDGE_DATA_DIR=/d"}, "/d/psbridge.db.key"},
		{"explicit", []string{"PSBRIDGE_DATA_DIR=/d", "PSBRIDGE_KEY_FILE=/k"}, "/k"},
		{"key given", []string{"PSBRIDGE_DATA_DIR=/d", "PSBRIDGE_KEY=" + strings.Repeat("ab", 32)}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, "", tc.env)
			if err != nil || c.KeyFile != tc.want {
				t.Fatalf("key-file %q (err %v), want %q", c.KeyFile, err, tc.want)
			}
		})
	}
}

// TestAddFlagsShowsOnlyTheNamedSettings: a command lists the settings it uses; the others are
// hidden but still parse and apply, so command lines that set them keep working.
func TestAddFlagsShowsOnlyTheNamedSettings(t *testing.T) {
	cases := []struct {
		name   string
		shown  []string
		hidden []string
		listed []string
	}{
		{"subset", []string{"data-dir", "key-file"}, []string{"workers.max", "listen", "log.level"}, []string{"data-dir", "key-file", "config"}},
		{"all", nil, nil, []string{"data-dir", "workers.max", "listen", "log.level", "config"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			f := AddFlags(fs, tc.shown...)
			for _, k := range tc.hidden {
				if fl := fs.Lookup(k); fl == nil || !fl.Hidden {
					t.Errorf("--%s is not hidden", k)
				}
			}
			usage := fs.FlagUsages()
			for _, k := range tc.listed {
				if !strings.Contains(usage, "--"+k+" ") {
					t.Errorf("--%s is not listed:\n%s", k, usage)
				}
			}
			if err := fs.Parse([]string{"--workers.max", "5", "--data-dir", "/d"}); err != nil {
				t.Fatal(err)
			}
			c, err := f.Load(nil)
			if err != nil || c.MaxWorkers != 5 || c.DataDir != "/d" {
				t.Fatalf("hidden settings did not apply: %+v %v", c, err)
			}
		})
	}
}
