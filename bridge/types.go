// Package bridge supervises a pool of pwsh worker processes and talks JSON-RPC 2.0 with each
// one over two private pipes (docs/protocol.md). It exists so the rest of psbridge can run
// integration script blocks as ordinary Go calls with deadlines, cancellation, live stream
// records and callbacks, without ever losing a call to a crashed, hung or chatty worker.
package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Script is an integration script as the pool loads it into a worker: one instance of an
// integration type. Instances are isolated: a worker process serves one instance only.
type Script struct {
	// Instance identifies the integration instance (its runspace and $IntegrationContext).
	Instance string
	// Group names the workers this script may run in; empty means Instance. Scripts that hold
	// no secrets (describing an uploaded type) may share a group; integration instances never.
	Group string
	// Name is the file name used in error positions, e.g. "SentinelOne.ps1".
	Name string
	// Text is the PowerShell source.
	Text string
}

// Record is one stream record (error, warning, verbose, debug, information, progress) written
// while a call ran, already masked by the worker.
type Record struct {
	CallID   string    `json:"callId"`
	Stream   string    `json:"stream"`
	Time     time.Time `json:"time"`
	Message  string    `json:"message"`
	Line     int       `json:"line,omitempty"`
	Column   int       `json:"column,omitempty"`
	Script   string    `json:"script,omitempty"`
	Category string    `json:"category,omitempty"`
	ErrorID  string    `json:"errorId,omitempty"`
	Activity string    `json:"activity,omitempty"`
	Status   string    `json:"status,omitempty"`
	Percent  int       `json:"percent,omitempty"`
	Tags     []string  `json:"tags,omitempty"`
}

// String formats a record the way a terminal shows PowerShell streams.
func (r Record) String() string {
	switch r.Stream {
	case "error":
		if r.Line > 0 {
			return fmt.Sprintf("ERROR: %s (line %d, column %d)", r.Message, r.Line, r.Column)
		}
		return "ERROR: " + r.Message
	case "warning":
		return "WARNING: " + r.Message
	case "verbose":
		return "VERBOSE: " + r.Message
	case "debug":
		return "DEBUG: " + r.Message
	case "progress":
		return "PROGRESS: " + r.Message
	default:
		return r.Message
	}
}

// Preferences turns optional streams on for a call (PowerShell's preference variables).
type Preferences struct {
	Verbose bool `json:"verbose,omitempty"`
	Debug   bool `json:"debug,omitempty"`
}

// Call is one invocation of an integration method.
type Call struct {
	// Script is the integration; the pool loads it into the chosen worker when needed.
	Script Script
	// Method is "Init", "HealthCheck" or a capability member such as "GetClients".
	Method string
	// Args are bound by name to the block's parameters and also set as variables.
	Args map[string]any
	// FormData is bound to Init's parameters and visible as $providerTypeFormData.
	FormData map[string]any
	// Context is the instance's $IntegrationContext as JSON; nil means empty.
	Context json.RawMessage
	// Secrets are masked in every record and error message.
	Secrets []string
	// Public are values that are not secret although they may sit in Context: the
	// instance's plain (not [Password()]) form values. Every other string of Context is
	// masked (see internal/mask, Set.AddContext).
	Public []string
	// Timeout is the script deadline (default 60 s); the context's deadline also applies.
	Timeout time.Duration
	// Preferences turn on verbose or debug records.
	Preferences Preferences
	// OnRecord, when set, receives each record as it is written, in order.
	OnRecord func(Record)
	// Host answers the worker's callbacks (module lookup, tokens, computer commands).
	Host Host
}

// Exec is one run of an ordinary script: no integration and no $IntegrationContext.
type Exec struct {
	// Group names the workers this script may run in (default "exec"): scripts of different
	// groups never share a process.
	Group       string
	Name        string
	Text        string
	Args        map[string]any
	Secrets     []string
	Timeout     time.Duration
	Preferences Preferences
	OnRecord    func(Record)
	Host        Host
}

// Result is what a successful call returned.
type Result struct {
	// Output holds the pipeline's output objects as JSON.
	Output []json.RawMessage `json:"output"`
	// OutputTypes names the .NET type of each output object.
	OutputTypes []string `json:"outputTypes"`
	// Context is $IntegrationContext after the call (invoke only).
	Context json.RawMessage `json:"context,omitempty"`
	// HadErrors reports non-terminating errors (they are also in Records).
	HadErrors bool `json:"hadErrors"`
	// Records holds every stream record of the call.
	Records []Record `json:"-"`
	// Worker is the pid of the worker that ran the call.
	Worker int `json:"-"`
	// Duration is the wall time of the call as seen by the pool.
	Duration time.Duration `json:"-"`
}

// LastOfType returns the last output object whose .NET type name ends with suffix (for
// example "HealthCheckResult" or "OpResult"), or nil.
func (r *Result) LastOfType(suffix string) json.RawMessage {
	for i := len(r.Output) - 1; i >= 0; i-- {
		if i < len(r.OutputTypes) && strings.HasSuffix(r.OutputTypes[i], suffix) {
			return r.Output[i]
		}
	}
	return nil
}

// OpResultFailure reports whether the call returned an [OpResult] with IsSuccess = $false
// (how Init says it failed without throwing), and its reason.
func (r *Result) OpResultFailure() (reason string, failed bool) {
	raw := r.LastOfType("OpResult")
	if raw == nil {
		return "", false
	}
	var op struct {
		IsSuccess *bool  `json:"isSuccess"`
		Reason    string `json:"reason"`
	}
	if json.Unmarshal(raw, &op) != nil || op.IsSuccess == nil || *op.IsSuccess {
		return "", false
	}
	return op.Reason, true
}

// ParamSchema describes one parameter of a script block, read from PowerShell's AST.
type ParamSchema struct {
	Name              string          `json:"name"`
	Type              string          `json:"type"`
	PSType            string          `json:"psType,omitempty"`
	Mandatory         bool            `json:"mandatory"`
	Position          *int            `json:"position,omitempty"`
	Default           json.RawMessage `json:"default,omitempty"`
	DefaultExpression string          `json:"defaultExpression,omitempty"`
	Password          bool            `json:"password,omitempty"`
	StripValue        bool            `json:"stripValue,omitempty"`
	DisplayName       string          `json:"displayName,omitempty"`
	HelpMessage       string          `json:"helpMessage,omitempty"`
	ValidateSet       []string        `json:"validateSet,omitempty"`
	ValidateRange     []any           `json:"validateRange,omitempty"`
	ValidatePattern   string          `json:"validatePattern,omitempty"`
	ValidateLength    []int           `json:"validateLength,omitempty"`
	NotEmpty          bool            `json:"notEmpty,omitempty"`
	// Dynamic: the field comes from Init's dynamicparam block (New-Parameter and friends).
	Dynamic bool `json:"dynamic,omitempty"`
	// OAuthConsent holds the settings of a New-OAuthConsentParameter field (Type "oauthconsent").
	OAuthConsent *OAuthConsent `json:"oauthConsent,omitempty"`
}

// OAuthConsent is what New-OAuthConsentParameter declared. A value that came from one of Init's
// static parameters holds that parameter's marker (see ParamMarker) in its place, since no
// values are bound when a script is described.
type OAuthConsent struct {
	AuthorizationEndpoint string            `json:"authorizationEndpoint"`
	TokenEndpoint         string            `json:"tokenEndpoint"`
	ResponseType          string            `json:"responseType,omitempty"`
	Resource              string            `json:"resource,omitempty"`
	Scope                 string            `json:"scope,omitempty"`
	ClientID              string            `json:"clientId,omitempty"`
	ClientSecret          string            `json:"clientSecret,omitempty"`
	UsePKCE               bool              `json:"usePkce,omitempty"`
	ExtraQueryParameters  map[string]string `json:"extraQueryParameters,omitempty"`
}

// ParamMarker is the text that stands for static parameter name's value in a described
// dynamicparam field (psmodule's HostSchema.MarkerPrefix + name + MarkerSuffix).
func ParamMarker(name string) string { return "x-psbparam-" + name + "-x" }

// paramMarker finds the markers in a described value.
var paramMarker = regexp.MustCompile(`x-psbparam-([A-Za-z0-9_]+)-x`)

// ExpandParams replaces every parameter marker in s with value(name); ok is false when value
// knows no such parameter (the marker then stays).
func ExpandParams(s string, value func(name string) (string, bool)) (out string, ok bool) {
	ok = true
	out = paramMarker.ReplaceAllStringFunc(s, func(m string) string {
		v, found := value(paramMarker.FindStringSubmatch(m)[1])
		if !found {
			ok = false
			return m
		}
		return v
	})
	return out, ok
}

// MethodInfo describes one method block of an integration.
type MethodInfo struct {
	Interface      string        `json:"interface,omitempty"`
	Parameters     []ParamSchema `json:"parameters"`
	TimeoutSeconds int           `json:"timeoutSeconds,omitempty"`
	PeriodMinutes  int           `json:"periodMinutes,omitempty"`
}

// Capability is one interface an integration implements, with its member blocks.
type Capability struct {
	Interface string   `json:"interface"`
	Members   []string `json:"members"`
}

// Description is what loading an integration script reveals.
type Description struct {
	Capabilities []Capability          `json:"capabilities"`
	Methods      map[string]MethodInfo `json:"methods"`
	// Imports lists the modules the script imports by a constant name, found in its AST.
	Imports []ModuleImport `json:"imports,omitempty"`
}

// ModuleImport is one module a script imports: `Import-Module NAME` (or ipmo) anywhere in the
// script, or `#Requires -Modules NAME`.
type ModuleImport struct {
	Name string `json:"name"`
	Line int    `json:"line"`
	// How is "Import-Module", "#Requires -Modules" or "using module".
	How string `json:"how"`
	// Available reports that pwsh has the module without psbridge's help (PSBridge itself, or a
	// module on the worker's PSModulePath).
	Available bool `json:"available"`
}

// MissingModules returns a warning for each module the script imports that pwsh does not have
// and host does not serve (FindModule finds nothing), naming the module and the line.
func (d *Description) MissingModules(ctx context.Context, host Host) []string {
	var out []string
	for _, m := range d.Imports {
		if m.Available {
			continue
		}
		if host != nil {
			if found, err := host.FindModule(ctx, m.Name); err == nil && found != nil {
				continue
			}
		}
		out = append(out, fmt.Sprintf("the script imports module %q (line %d, %s) but psbridge has no such module: upload it as a module (run and dev: --module), or install it where pwsh finds it", m.Name, m.Line, m.How))
	}
	return out
}

// Supports reports whether the integration has the method (Init and HealthCheck included).
func (d *Description) Supports(method string) bool {
	for name := range d.Methods {
		if strings.EqualFold(name, method) {
			return true
		}
	}
	return false
}

// Method returns the method's description, matched case-insensitively.
func (d *Description) Method(method string) (MethodInfo, bool) {
	for name, m := range d.Methods {
		if strings.EqualFold(name, method) {
			return m, true
		}
	}
	return MethodInfo{}, false
}

// Errors returned by the pool. Use errors.Is / errors.As.
var (
	// ErrQueueFull means every worker is busy and the wait queue is at capacity.
	ErrQueueFull = errors.New("bridge: all workers are busy and the queue is full")
	// ErrClosed means the pool is shutting down or closed.
	ErrClosed = errors.New("bridge: pool is closed")
	// ErrTimeout means the script did not finish within its deadline.
	ErrTimeout = errors.New("bridge: script timed out")
	// ErrCanceled means the caller cancelled the call.
	ErrCanceled = errors.New("bridge: call cancelled")
	// ErrNoWorker means no worker could be started for the call (pwsh missing or failing at
	// start); the error wraps the reason.
	ErrNoWorker = errors.New("bridge: no worker could be started")
)

// ScriptError is a terminating PowerShell error: the message, where it happened, and what the
// call produced before it failed.
type ScriptError struct {
	Message         string          `json:"message"`
	Line            int             `json:"line,omitempty"`
	Column          int             `json:"column,omitempty"`
	Script          string          `json:"script,omitempty"`
	PositionMessage string          `json:"positionMessage,omitempty"`
	ErrorID         string          `json:"errorId,omitempty"`
	Category        string          `json:"category,omitempty"`
	ExceptionType   string          `json:"exceptionType,omitempty"`
	Context         json.RawMessage `json:"context,omitempty"`
	// Records holds the stream records written before the failure.
	Records []Record `json:"-"`
}

func (e *ScriptError) Error() string {
	if e.Line > 0 {
		name := e.Script
		if i := strings.LastIndexAny(name, `/\`); i >= 0 {
			name = name[i+1:]
		}
		if name == "" {
			name = "script"
		}
		return fmt.Sprintf("%s:%d:%d: %s", name, e.Line, e.Column, e.Message)
	}
	return e.Message
}

// ParseIssue is one syntax error in a script.
type ParseIssue struct {
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
	ErrorID string `json:"errorId,omitempty"`
}

// ParseError means a script does not parse; Issues lists every syntax error.
type ParseError struct {
	Script string
	Issues []ParseIssue
}

func (e *ParseError) Error() string {
	if len(e.Issues) == 0 {
		return e.Script + ": does not parse"
	}
	var b strings.Builder
	for i, is := range e.Issues {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s:%d:%d: %s", e.Script, is.Line, is.Column, is.Message)
	}
	return b.String()
}

// NotSupportedError means the integration does not implement the method called.
type NotSupportedError struct {
	Method       string   `json:"method"`
	Capabilities []string `json:"capabilities"`
}

func (e *NotSupportedError) Error() string {
	return fmt.Sprintf("the integration does not implement %s (it implements: %s)", e.Method, strings.Join(e.Capabilities, ", "))
}

// LoadError means a script ran but did not produce an integration, or failed while loading.
type LoadError struct {
	Script  string
	Message string
}

func (e *LoadError) Error() string { return e.Message }

// WorkerError means the worker process died, was killed or broke the protocol during the call.
// Reason says what happened in words fit for the caller ("the worker exited with signal 9
// (killed) during the call"); it never carries the worker's console output.
type WorkerError struct {
	PID    int
	Reason string
}

func (e *WorkerError) Error() string {
	return fmt.Sprintf("worker %d: %s", e.PID, e.Reason)
}
