// Package config is psbridge's one configuration struct and the rules that fill it: built-in
// defaults, then a YAML file (--config or PSBRIDGE_CONFIG), then PSBRIDGE_* environment
// variables, then command-line flags, each overriding the one before. Keeping every setting in
// one annotated struct lets `psbridge config` print the effective values (secrets masked) and
// lets the documentation's configuration reference be generated instead of hand-written.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// Config is every setting of the psbridge service. Each field's tags give its YAML key, its
// help text and whether it is a secret; the environment variable is PSBRIDGE_ plus the key in
// upper case with dots and dashes as underscores, the flag is the key itself.
type Config struct {
	Listen  string `key:"listen" help:"address the HTTP server listens on"`
	DataDir string `key:"data-dir" docdefault:"$XDG_CONFIG_HOME/psbridge (~/.config/psbridge)" help:"directory of the database (DATA-DIR/psbridge.db) and, by default, its key file; 'token' and 'backup' use it too"`
	KeyFile string `key:"key-file" docdefault:"DATA-DIR/psbridge.db.key" help:"file holding the encryption key for secrets, created with 0600 on first start; back it up apart from the database"`
	Key     string `key:"key" secret:"true" help:"encryption key for secrets as 64 hex characters; overrides key-file"`
	Pwsh    string `key:"pwsh" help:"pwsh binary (default: PATH, then the .NET tool folders)"`

	MinWorkers        int           `key:"workers.min" help:"spare workers kept warm, bound to no integration yet, so an integration's first call does not wait for a cold pwsh; /readyz answers 503 until they are running"`
	MaxWorkers        int           `key:"workers.max" help:"most workers at once, all integrations together; each integration runs in workers of its own (~150 MiB each), so set it to at least the number of integrations plus workers.min to avoid evicting idle ones (token cmdlets calling from inside a running script may briefly start up to as many again)"`
	PerIntegration    int           `key:"workers.per-integration" help:"most workers one integration may hold, so that a flood against one cannot starve the others (at most workers.max)"`
	WorkerMemoryLimit int64         `key:"workers.memory-limit-mb" help:"hard memory limit of a worker in MiB: its .NET heap cannot grow past it and a worker above it is killed with an error naming the limit (0: none)"`
	WorkerUser        string        `key:"workers.user" help:"account the workers run as when psbridge runs as root (default nobody); ignored otherwise, and on Windows"`
	QueueSize         int           `key:"workers.queue" help:"calls that may wait for a worker before new ones are refused with 503"`
	CallTimeout       time.Duration `key:"workers.call-timeout" help:"default deadline of an integration method, at most 5m ([ScriptTimeout] on a block sets its own, also bounded by 5m)"`
	MaxCallsPerWorker int           `key:"workers.max-calls" help:"recycle a worker after this many calls (0: never); workers get about 3× faster over their first ~4000 calls, so keep it well above that"`
	MaxWorkerMemory   int64         `key:"workers.max-memory-mb" help:"recycle a worker whose resident memory passes this many MiB (0: never)"`

	HealthInterval   time.Duration `key:"health.interval" help:"how often each instance's HealthCheck runs (0: only at start and on request)"`
	AgentHeartbeat   time.Duration `key:"agents.heartbeat" help:"how often the server pings each connected psbridge agent; an agent silent for 3 heartbeats is offline"`
	AgentConnectWait time.Duration `key:"agents.connect-wait" help:"how long Invoke-ImmyCommand and computer scripts wait for an offline computer's agent to connect before failing"`
	ShutdownGrace    time.Duration `key:"shutdown-grace" help:"how long in-flight calls may finish on SIGTERM before workers are killed"`
	BaseURL          string        `key:"http.base-url" help:"psbridge's public URL (scheme://host[:port]): OAuth consent fields' redirect URIs (BASE-URL/integrations/ID/oauth/callback, to register with the vendor) and the issuer of psbridge's own OAuth tokens are built on it (empty: each request's scheme and Host)"`
	MaxBodyBytes     int64         `key:"http.max-body-bytes" help:"largest request body accepted by the API and plugin endpoints"`
	BodyTimeout      time.Duration `key:"http.body-timeout" help:"longest a webhook request body may take to arrive once its headers have; a slower body gets 408 and runs no script"`

	WebhookRate  float64 `key:"webhook.rate" help:"webhook requests per second each integration's plugin endpoint runs (authenticated ones; unsigned requests to an integration with a webhook secret never count); above it, 429 with Retry-After (0: no limit)"`
	WebhookBurst int     `key:"webhook.burst" help:"webhook requests an integration may take at once above webhook.rate before 429s begin"`

	OIDCIssuer       string        `key:"auth.oidc.issuer" help:"issuer URL of an external OpenID Connect provider whose access tokens the API also accepts (Entra ID: https://login.microsoftonline.com/TENANT/v2.0; Keycloak: https://HOST/realms/REALM); discovered at start, which fails naming this key if the issuer does not answer within 15s (empty: none)"`
	OIDCAudience     string        `key:"auth.oidc.audience" help:"the aud value the external issuer's tokens must carry (Entra: the API app's application ID URI or client id); required with auth.oidc.issuer"`
	OIDCRefreshEvery time.Duration `key:"auth.oidc.jwks-refresh-min-interval" help:"least time between two fetches of the external issuer's signing keys caused by tokens naming an unknown key id (kid); tokens with unknown kids in between are refused without a fetch"`

	LogLevel  string `key:"log.level" help:"debug, info, warn or error"`
	LogFormat string `key:"log.format" help:"json, console, or auto (console on a terminal); logs go to stderr"`
}

// DefaultDataDir is the data directory when data-dir is not set: psbridge under the user's
// configuration directory (where 'psbridge serve' always kept its database), or ./psbridge-data
// when the system has none.
func DefaultDataDir() string {
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "psbridge")
	}
	return "psbridge-data"
}

// Default returns the built-in defaults. DataDir is empty here: Load fills it with
// DefaultDataDir, which depends on the environment.
func Default() Config {
	return Config{
		Listen:            "127.0.0.1:8080",
		MinWorkers:        1,
		MaxWorkers:        8,
		PerIntegration:    2,
		WorkerMemoryLimit: 2048,
		QueueSize:         256,
		CallTimeout:       60 * time.Second,
		MaxCallsPerWorker: 10000,
		MaxWorkerMemory:   1024,
		HealthInterval:    60 * time.Second,
		AgentHeartbeat:    10 * time.Second,
		AgentConnectWait:  30 * time.Second,
		ShutdownGrace:     30 * time.Second,
		MaxBodyBytes:      1 << 20,
		BodyTimeout:       10 * time.Second,
		WebhookRate:       10,
		WebhookBurst:      20,
		OIDCRefreshEvery:  time.Minute,
		LogLevel:          "info",
		LogFormat:         "auto",
	}
}

// DatabasePath is the database file inside the data directory.
func (c Config) DatabasePath() string { return filepath.Join(c.DataDir, "psbridge.db") }

// KeyFilePath is the key file in effect: key-file, or the store's default next to the
// database (DATA-DIR/psbridge.db.key). It is "" when key is set.
func (c Config) KeyFilePath() string {
	switch {
	case c.Key != "":
		return ""
	case c.KeyFile != "":
		return c.KeyFile
	}
	return c.DatabasePath() + ".key"
}

// Field describes one setting, for help, printing and the generated reference.
type Field struct {
	Key     string // YAML key and flag name, e.g. workers.max
	Env     string // environment variable, e.g. PSBRIDGE_WORKERS_MAX
	Type    string // string, int, float, duration, bool
	Help    string
	Secret  bool
	Default string
	// DocDefault describes a default that depends on the environment (data-dir).
	DocDefault string
	index      int
}

// Fields lists the settings in declaration order.
func Fields() []Field {
	t := reflect.TypeOf(Config{})
	def := reflect.ValueOf(Default())
	out := make([]Field, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := f.Tag.Get("key")
		out = append(out, Field{
			Key:        key,
			Env:        EnvName(key),
			Type:       typeName(f.Type),
			Help:       f.Tag.Get("help"),
			Secret:     f.Tag.Get("secret") == "true",
			Default:    format(def.Field(i)),
			DocDefault: f.Tag.Get("docdefault"),
			index:      i,
		})
	}
	return out
}

// EnvName is the environment variable of a key: PSBRIDGE_ + upper case, '.' and '-' as '_'.
func EnvName(key string) string {
	return "PSBRIDGE_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// internalEnv are PSBRIDGE_ variables that are not settings: the config file itself,
// variables psbridge sets for its own child processes, and the client commands' server URL
// and API token (console, backup --url).
var internalEnv = map[string]bool{"PSBRIDGE_CONFIG": true, "PSBRIDGE_WORKER_DIR": true, "PSBRIDGE_CACHE_DIR": true, "PSBRIDGE_TOKEN": true, "PSBRIDGE_URL": true}

// renamedEnv maps variables of earlier releases to the settings that replaced them, for the
// error message.
var renamedEnv = map[string]string{"PSBRIDGE_WORKERS": "PSBRIDGE_WORKERS_MAX"}

// Flags are the configuration flags of one command: --config and one flag per setting. The
// command's parser (cobra, pflag) parses them; Load then builds the effective configuration.
type Flags struct {
	configPath string
	values     map[string]*settingValue
}

// AddFlags registers --config and one flag per setting on fs. Settings named in shown are
// listed in the command's help; the others are accepted too (a command line that worked keeps
// working) but hidden, so that a command's help lists only the settings it uses. With no shown
// keys every setting is listed.
func AddFlags(fs *pflag.FlagSet, shown ...string) *Flags {
	f := &Flags{values: map[string]*settingValue{}}
	fs.StringVar(&f.configPath, "config", "", "YAML configuration `FILE` (settings: see 'psbridge config -h'; env PSBRIDGE_CONFIG)")
	show := map[string]bool{}
	for _, k := range shown {
		show[k] = true
	}
	for _, field := range Fields() {
		v := &settingValue{typ: field.Type}
		f.values[field.Key] = v
		// No backquotes: pflag would take the quoted default for the value's placeholder.
		help := field.Help + " (env " + field.Env + ", default " + strings.ReplaceAll(displayDefault(field), "`", "") + ")"
		fl := fs.VarPF(v, field.Key, "", help)
		if field.Type == "bool" {
			fl.NoOptDefVal = "true"
		}
		if len(shown) > 0 && !show[field.Key] {
			fl.Hidden = true
		}
	}
	return f
}

// settingValue is one setting's flag: the value is checked when parsed, so that a bad one is
// reported as a flag error naming the flag, and applied by Load over the file and environment.
type settingValue struct {
	typ string
	val string
	set bool
}

func (v *settingValue) String() string { return v.val }
func (v *settingValue) Type() string   { return v.typ }
func (v *settingValue) Set(s string) error {
	if _, err := parse(v.typ, s); err != nil {
		return err
	}
	v.val, v.set = s, true
	return nil
}

// Load builds the effective configuration: defaults, then the YAML file named by --config (or
// PSBRIDGE_CONFIG), then the environment, then the flags given on the command line. environ is
// os.Environ() in production.
func (f *Flags) Load(environ []string) (Config, error) {
	cfg := Default()
	fields := Fields()
	v := reflect.ValueOf(&cfg).Elem()

	env := map[string]string{}
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(name, "PSBRIDGE_") {
			env[name] = val
		}
	}
	configPath := f.configPath
	if configPath == "" {
		configPath = env["PSBRIDGE_CONFIG"]
	}
	if configPath != "" {
		if err := loadFile(configPath, &cfg); err != nil {
			return Config{}, err
		}
	}
	known := map[string]bool{}
	for _, field := range fields {
		known[field.Env] = true
		if val, ok := env[field.Env]; ok {
			if err := setValue(v.Field(field.index), field.Type, val); err != nil {
				return Config{}, fmt.Errorf("environment %s: %w", field.Env, err)
			}
		}
	}
	var unknown []string
	for name := range env {
		if !known[name] && !internalEnv[name] && !strings.HasPrefix(name, "PSBRIDGE_TEST_") {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		hint := ""
		for _, name := range unknown {
			if renamed, ok := renamedEnv[name]; ok {
				hint += "; " + name + " is now " + renamed
			}
		}
		return Config{}, fmt.Errorf("unknown environment variable %s (settings: 'psbridge config -h')%s", strings.Join(unknown, ", "), hint)
	}
	for _, field := range fields {
		if fv := f.values[field.Key]; fv != nil && fv.set {
			if err := setValue(v.Field(field.index), field.Type, fv.val); err != nil {
				return Config{}, fmt.Errorf("flag --%s: %w", field.Key, err)
			}
		}
	}
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir()
	}
	if cfg.KeyFile == "" && cfg.Key == "" {
		cfg.KeyFile = cfg.KeyFilePath() // the store's own default, shown by 'psbridge config'
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// loadFile reads a YAML file strictly: unknown keys are errors naming the key and line.
func loadFile(path string, cfg *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	return parseYAML(path, b, cfg)
}

// parseYAML applies the YAML document b (read from path, for messages) to cfg.
func parseYAML(path string, b []byte, cfg *Config) error {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if len(root.Content) == 0 {
		return nil
	}
	byKey := map[string]Field{}
	for _, f := range Fields() {
		byKey[f.Key] = f
	}
	v := reflect.ValueOf(cfg).Elem()
	var walk func(prefix string, n *yaml.Node) error
	walk = func(prefix string, n *yaml.Node) error {
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("config %s:%d: %s must be a mapping", path, n.Line, strings.TrimSuffix(prefix, "."))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			key := prefix + k.Value
			if val.Kind == yaml.MappingNode {
				if err := walk(key+".", val); err != nil {
					return err
				}
				continue
			}
			f, ok := byKey[key]
			if !ok {
				return fmt.Errorf("config %s:%d: unknown key %q (settings: 'psbridge config -h')", path, k.Line, key)
			}
			if val.Kind != yaml.ScalarNode {
				return fmt.Errorf("config %s:%d: %s must be a single value", path, val.Line, key)
			}
			if err := setValue(v.Field(f.index), f.Type, val.Value); err != nil {
				return fmt.Errorf("config %s:%d: %s: %w", path, val.Line, key, err)
			}
		}
		return nil
	}
	return walk("", root.Content[0])
}

// Validate checks values that parse but make no sense together.
func (c Config) Validate() error {
	var errs []error
	if c.MinWorkers < 0 {
		errs = append(errs, fmt.Errorf("workers.min must be 0 or more, got %d", c.MinWorkers))
	}
	if c.MaxWorkers < 1 {
		errs = append(errs, fmt.Errorf("workers.max must be at least 1, got %d", c.MaxWorkers))
	}
	if c.PerIntegration < 1 {
		errs = append(errs, fmt.Errorf("workers.per-integration must be at least 1, got %d", c.PerIntegration))
	}
	if c.WorkerMemoryLimit < 0 {
		errs = append(errs, fmt.Errorf("workers.memory-limit-mb must be 0 or more, got %d", c.WorkerMemoryLimit))
	}
	if c.MinWorkers > c.MaxWorkers && c.MaxWorkers >= 1 {
		errs = append(errs, fmt.Errorf("workers.min (%d) is more than workers.max (%d)", c.MinWorkers, c.MaxWorkers))
	}
	if c.Key != "" {
		if len(c.Key) != 64 || strings.Trim(c.Key, "0123456789abcdefABCDEF") != "" {
			errs = append(errs, errors.New("key must be 64 hex characters (32 bytes)"))
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level must be debug, info, warn or error, got %q", c.LogLevel))
	}
	switch c.LogFormat {
	case "json", "console", "auto":
	default:
		errs = append(errs, fmt.Errorf("log.format must be json, console or auto, got %q", c.LogFormat))
	}
	if c.Listen == "" {
		errs = append(errs, errors.New("listen must not be empty"))
	}
	if c.QueueSize < 1 {
		errs = append(errs, fmt.Errorf("workers.queue must be at least 1, got %d", c.QueueSize))
	}
	if c.CallTimeout <= 0 || c.CallTimeout > 5*time.Minute {
		errs = append(errs, fmt.Errorf("workers.call-timeout must be more than 0 and at most 5m (every call is bounded by 5m), got %s", c.CallTimeout))
	}
	if c.MaxCallsPerWorker < 0 {
		errs = append(errs, fmt.Errorf("workers.max-calls must be 0 (never) or more, got %d", c.MaxCallsPerWorker))
	}
	if c.MaxWorkerMemory < 0 {
		errs = append(errs, fmt.Errorf("workers.max-memory-mb must be 0 (never) or more, got %d", c.MaxWorkerMemory))
	}
	if c.AgentHeartbeat < time.Second {
		errs = append(errs, fmt.Errorf("agents.heartbeat must be 1s or more, got %s", c.AgentHeartbeat))
	}
	if c.AgentConnectWait < 0 {
		errs = append(errs, fmt.Errorf("agents.connect-wait must be 0 or more, got %s", c.AgentConnectWait))
	}
	if c.HealthInterval < 0 {
		errs = append(errs, fmt.Errorf("health.interval must be 0 (off) or more, got %s", c.HealthInterval))
	}
	if c.ShutdownGrace < 0 {
		errs = append(errs, fmt.Errorf("shutdown-grace must not be negative, got %s", c.ShutdownGrace))
	}
	if c.MaxBodyBytes < 1 {
		errs = append(errs, fmt.Errorf("http.max-body-bytes must be positive, got %d", c.MaxBodyBytes))
	}
	if c.BaseURL != "" {
		if err := checkURL(c.BaseURL, false); err != nil {
			errs = append(errs, fmt.Errorf("http.base-url: %w", err))
		}
	}
	if c.BodyTimeout <= 0 {
		errs = append(errs, fmt.Errorf("http.body-timeout must be positive, got %s", c.BodyTimeout))
	}
	if c.WebhookRate < 0 || math.IsNaN(c.WebhookRate) || math.IsInf(c.WebhookRate, 0) {
		errs = append(errs, fmt.Errorf("webhook.rate must be 0 (no limit) or a positive number, got %v", c.WebhookRate))
	}
	if c.WebhookBurst < 1 {
		errs = append(errs, fmt.Errorf("webhook.burst must be at least 1, got %d", c.WebhookBurst))
	}
	switch {
	case c.OIDCIssuer != "":
		if err := checkURL(c.OIDCIssuer, true); err != nil {
			errs = append(errs, fmt.Errorf("auth.oidc.issuer: %w", err))
		}
		if strings.TrimSpace(c.OIDCAudience) == "" {
			errs = append(errs, errors.New("auth.oidc.audience is required when auth.oidc.issuer is set"))
		}
	case c.OIDCAudience != "":
		errs = append(errs, errors.New("auth.oidc.audience is set but auth.oidc.issuer is not"))
	}
	if c.OIDCRefreshEvery < time.Second {
		errs = append(errs, fmt.Errorf("auth.oidc.jwks-refresh-min-interval must be 1s or more, got %s", c.OIDCRefreshEvery))
	}
	return errors.Join(errs...)
}

// checkURL accepts an absolute https URL, or http to a loopback host (a local issuer or
// psbridge without TLS in front); pathOK allows a path (issuers have one).
func checkURL(s string, pathOK bool) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must have no query, fragment or user info", s)
	}
	if !pathOK && strings.Trim(u.Path, "/") != "" {
		return fmt.Errorf("%q must be scheme://host[:port] without a path", s)
	}
	if u.Scheme == "http" && pathOK {
		h := u.Hostname()
		if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("%q must use https (http only for a loopback host)", s)
		}
	}
	return nil
}

// Print writes the effective configuration as YAML-style key: value lines, secrets masked.
func (c Config) Print(w io.Writer) error {
	v := reflect.ValueOf(c)
	var buf bytes.Buffer
	for _, f := range Fields() {
		val := quote(format(v.Field(f.index)))
		if f.Secret && val != `""` {
			val = "********"
		}
		fmt.Fprintf(&buf, "%s: %s\n", f.Key, val)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// Reference writes the configuration reference as a Markdown table (docs/configuration.md).
func Reference(w io.Writer) error {
	var buf bytes.Buffer
	buf.WriteString("| Key (YAML, flag) | Environment | Type | Default | Meaning |\n| --- | --- | --- | --- | --- |\n")
	for _, f := range Fields() {
		fmt.Fprintf(&buf, "| `%s` | `%s` | %s | %s | %s |\n", f.Key, f.Env, f.Type, displayDefault(f), f.Help)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func displayDefault(f Field) string {
	switch {
	case f.Secret:
		return "none"
	case f.DocDefault != "":
		return "`" + f.DocDefault + "`"
	case f.Default == "":
		return "none"
	default:
		return "`" + f.Default + "`"
	}
}

func quote(s string) string {
	if s == "" || strings.ContainsAny(s, ":#'\"{}[],&*!|>%@`") || strings.TrimSpace(s) != s {
		return strconv.Quote(s)
	}
	return s
}

func typeName(t reflect.Type) string {
	switch {
	case t == reflect.TypeOf(time.Duration(0)):
		return "duration"
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		return "int"
	case t.Kind() == reflect.Bool:
		return "bool"
	case t.Kind() == reflect.Float64:
		return "float"
	default:
		return "string"
	}
}

func format(v reflect.Value) string {
	if d, ok := v.Interface().(time.Duration); ok {
		return d.String()
	}
	return fmt.Sprint(v.Interface())
}

func parse(typ, s string) (any, error) {
	s = strings.TrimSpace(s)
	switch typ {
	case "duration":
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration (examples: 30s, 5m, 1h)", s)
		}
		return d, nil
	case "int":
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", s)
		}
		return n, nil
	case "float":
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%q is not a number", s)
		}
		return f, nil
	case "bool":
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", s)
		}
		return b, nil
	default:
		return s, nil
	}
}

func setValue(field reflect.Value, typ, s string) error {
	x, err := parse(typ, s)
	if err != nil {
		return err
	}
	switch val := x.(type) {
	case time.Duration:
		field.SetInt(int64(val))
	case int64:
		field.SetInt(val)
	case float64:
		field.SetFloat(val)
	case bool:
		field.SetBool(val)
	case string:
		field.SetString(val)
	}
	return nil
}
