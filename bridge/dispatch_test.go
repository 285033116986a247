package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

// TestCallsOfOneInstanceEndLikeSeparatePipelines runs many calls of one instance, in one worker,
// one after another: a worker runs an instance's calls in one long-lived pipeline (the
// dispatcher), yet each call must end, fail and leave state exactly as a pipeline of its own
// would, and whatever ended one call must not disturb the next.
func TestCallsOfOneInstanceEndLikeSeparatePipelines(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1, Grace: time.Second})
	// The block runs the case its -Case argument names. No switch statement: it would take
	// the break and continue the cases are about.
	s := method("dispatch", `param([string]$Case, [int]$Count)
if ($Case -eq 'plain') { 'a'; 'b' }
elseif ($Case -eq 'statement-terminating') { 'a'; 1/0; 'b' }
elseif ($Case -eq 'break') { 'a'; break; 'b' }
elseif ($Case -eq 'continue') { 'a'; continue; 'b' }
elseif ($Case -eq 'exit') { 'a'; exit 3; 'b' }
elseif ($Case -eq 'throw') { 'a'; throw 'boom' }
elseif ($Case -eq 'set-parent-scope') { Set-Variable -Scope 1 -Name leaked -Value 'yes'; 'set' }
elseif ($Case -eq 'read-parent-scope') { "leaked=$leaked" }
elseif ($Case -eq 'variable') { "case=$((Get-Variable -Name Case -Scope 1).Value)" }
elseif ($Case -eq 'context') { $IntegrationContext.Seen = "$($IntegrationContext.Given).seen"; 'ok' }
elseif ($Case -eq 'verbose') { Write-Verbose 'talking'; "pref=$VerbosePreference" }
elseif ($Case -eq 'sleep') { Start-Sleep -Seconds 30 }
elseif ($Case -eq 'count') { "count=$Count" }`)
	type want struct {
		output   []string
		err      string // a substring of the ScriptError's message; "timeout" for ErrTimeout
		line     int    // the error's line, when err is set and line > 0
		verbose  bool   // whether a verbose record arrives
		context  string // a substring of the returned context
		hadError bool
	}
	steps := []struct {
		name  string
		args  map[string]any
		prefs bridge.Preferences
		ctx   string
		timeo time.Duration
		want  want
	}{
		{name: "plain", want: want{output: []string{"a", "b"}}},
		{name: "statement-terminating", want: want{output: []string{"a", "b"}, hadError: true}},
		{name: "break", want: want{output: []string{"a"}}},
		{name: "continue", want: want{output: []string{"a"}}},
		{name: "plain", want: want{output: []string{"a", "b"}}},
		{name: "exit", want: want{output: []string{"a"}}},
		{name: "throw", want: want{err: "boom", line: 13}},
		{name: "plain", want: want{output: []string{"a", "b"}}},
		{name: "set-parent-scope", want: want{output: []string{"set"}}},
		{name: "read-parent-scope", want: want{output: []string{"leaked="}}},
		{name: "variable", want: want{output: []string{"case=variable"}}},
		{name: "context", ctx: `{"Given":"g"}`, want: want{output: []string{"ok"}, context: `"Seen":"g.seen"`}},
		{name: "context", ctx: `{"Given":"h"}`, want: want{output: []string{"ok"}, context: `"Seen":"h.seen"`}},
		{name: "verbose", prefs: bridge.Preferences{Verbose: true}, want: want{output: []string{"pref=Continue"}, verbose: true}},
		{name: "verbose", want: want{output: []string{"pref=SilentlyContinue"}}},
		{name: "sleep", timeo: time.Second, want: want{err: "timeout"}},
		{name: "plain", want: want{output: []string{"a", "b"}}},
		{name: "count", args: map[string]any{"Count": "many"}, want: want{err: "Count", line: 7}},
		{name: "count", args: map[string]any{"Count": 3}, want: want{output: []string{"count=3"}}},
	}
	restarts := p.Stats().Restarts
	for i, st := range steps {
		args := map[string]any{"Case": st.name}
		for k, v := range st.args {
			args[k] = v
		}
		var gotVerbose bool
		c := bridge.Call{Script: s, Method: "GetClients", Args: args, Preferences: st.prefs, Timeout: st.timeo,
			OnRecord: func(r bridge.Record) {
				if r.Stream == "verbose" {
					gotVerbose = true
				}
			}}
		if st.ctx != "" {
			c.Context = json.RawMessage(st.ctx)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		r, err := p.Invoke(ctx, c)
		cancel()
		switch {
		case st.want.err == "timeout":
			if !errors.Is(err, bridge.ErrTimeout) {
				t.Fatalf("step %d (%s): err = %v, want ErrTimeout", i, st.name, err)
			}
			continue
		case st.want.err != "":
			var se *bridge.ScriptError
			if !errors.As(err, &se) || !strings.Contains(se.Message, st.want.err) {
				t.Fatalf("step %d (%s): err = %v, want a ScriptError containing %q", i, st.name, err, st.want.err)
			}
			if st.want.line > 0 && se.Line != st.want.line {
				t.Fatalf("step %d (%s): error at line %d, want %d (%v)", i, st.name, se.Line, st.want.line, err)
			}
			continue
		case err != nil:
			t.Fatalf("step %d (%s): %v", i, st.name, err)
		}
		if got := outputStrings(t, r); !slices.Equal(got, st.want.output) {
			t.Fatalf("step %d (%s): output %q, want %q", i, st.name, got, st.want.output)
		}
		if r.HadErrors != st.want.hadError {
			t.Fatalf("step %d (%s): hadErrors %v, want %v", i, st.name, r.HadErrors, st.want.hadError)
		}
		if gotVerbose != st.want.verbose {
			t.Fatalf("step %d (%s): verbose record %v, want %v", i, st.name, gotVerbose, st.want.verbose)
		}
		if st.want.context != "" && !strings.Contains(string(r.Context), st.want.context) {
			t.Fatalf("step %d (%s): context %s, want it to contain %s", i, st.name, r.Context, st.want.context)
		}
	}
	if got := p.Stats().Restarts; got != restarts {
		t.Fatalf("the worker was replaced %d times; every step should leave it serving", got-restarts)
	}
}

// TestInstancesSharingAWorkerTakeTurns alternates calls of two instances that share one worker
// (one group), and reloads one of them in between: each instance's dispatcher loop gives way
// to the other's request, which must then be served in order, in the right runspace.
func TestInstancesSharingAWorkerTakeTurns(t *testing.T) {
	p := testpwsh.Pool(t, bridge.Config{MinWorkers: 1, MaxWorkers: 1})
	script := func(instance, version string) bridge.Script {
		s := method(instance, `$script:calls++; "`+instance+` `+version+` call $script:calls, context $($IntegrationContext.Name)"`)
		s.Group = "shared"
		return s
	}
	steps := []struct {
		instance, version, want string
	}{
		{"a", "v1", "a v1 call 1, context ctx-a"},
		{"b", "v1", "b v1 call 1, context ctx-b"},
		{"a", "v1", "a v1 call 2, context ctx-a"},
		{"a", "v1", "a v1 call 3, context ctx-a"},
		{"b", "v1", "b v1 call 2, context ctx-b"},
		{"a", "v2", "a v2 call 1, context ctx-a"}, // a new script text: loaded again, in a new runspace
		{"b", "v1", "b v1 call 3, context ctx-b"},
		{"a", "v2", "a v2 call 2, context ctx-a"},
	}
	var pid int
	for i, st := range steps {
		r := invoke(t, p, bridge.Call{Script: script(st.instance, st.version), Method: "GetClients",
			Context: json.RawMessage(`{"Name":"ctx-` + st.instance + `"}`)})
		if got := outputStrings(t, r); len(got) != 1 || got[0] != st.want {
			t.Fatalf("step %d: output %q, want %q", i, got, st.want)
		}
		if pid == 0 {
			pid = r.Worker
		} else if r.Worker != pid {
			t.Fatalf("step %d ran in worker %d, the others in %d: the instances should share one", i, r.Worker, pid)
		}
	}
}
