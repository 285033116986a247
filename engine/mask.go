package engine

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/mask"
)

// callMask is the set of a call's secrets: its [Password()] form values and the string leaves
// of its $IntegrationContext (before and after the call) that are not public, that is not
// equal to one of the instance's plain form values (mask.Set.AddContext has the rule).
func callMask(secrets, public []string, contexts ...json.RawMessage) *mask.Set {
	set := mask.NewSet(secrets...)
	for _, c := range contexts {
		if err := set.AddContext(c, public); err != nil {
			// A context is JSON the worker wrote; one that does not parse is masked whole.
			set.Add(string(c))
		}
	}
	return set
}

// publicValues are the string leaves of an instance's plain (not [Password()]) form data.
func publicValues(formData map[string]any) []string {
	return mask.StringLeaves(any(formData), nil)
}

// maskRecords returns masked copies of records. The messages are masked as one stream, so a
// secret split across consecutive records (Write-Host -NoNewline) is masked in both.
func maskRecords(set *mask.Set, records []bridge.Record) []bridge.Record {
	if records == nil {
		return nil
	}
	out := make([]bridge.Record, len(records))
	msgs := make([]string, len(records))
	for i, r := range records {
		msgs[i] = r.Message
	}
	msgs = set.Records(msgs)
	for i, r := range records {
		r.Message = msgs[i]
		r.Script = set.String(r.Script)
		r.Category = set.String(r.Category)
		r.ErrorID = set.String(r.ErrorID)
		r.Activity = set.String(r.Activity)
		r.Status = set.String(r.Status)
		if r.Tags != nil {
			tags := make([]string, len(r.Tags))
			for j, t := range r.Tags {
				tags[j] = set.String(t)
			}
			r.Tags = tags
		}
		out[i] = r
	}
	return out
}

// maskError masks, in place, the text fields of the script errors inside err and returns err
// wrapped so that its Error() text is masked too (errors.Is/As still see the original).
func maskError(set *mask.Set, err error) error {
	if err == nil {
		return nil
	}
	var se *bridge.ScriptError
	if errors.As(err, &se) {
		// The worker masks the message but not every form; the error id, which for
		// `throw "text"` is the text itself, is shown by the API (errorId).
		se.Message = set.String(se.Message)
		se.ErrorID = set.String(se.ErrorID)
		se.PositionMessage = set.String(se.PositionMessage)
		se.Script = set.String(se.Script)
		se.Category = set.String(se.Category)
		se.ExceptionType = set.String(se.ExceptionType)
		se.Records = maskRecords(set, se.Records)
	}
	var le *bridge.LoadError
	if errors.As(err, &le) {
		le.Message = set.String(le.Message)
	}
	var me *maskedError
	if errors.As(err, &me) && me.set == set {
		return err
	}
	return &maskedError{err: err, set: set}
}

// maskedError is an error whose text is masked; a worker crash report, for one, can quote what
// the script printed.
type maskedError struct {
	err error
	set *mask.Set
}

func (m *maskedError) Error() string { return m.set.String(m.err.Error()) }
func (m *maskedError) Unwrap() error { return m.err }

// maskOutput masks every string in a result's output objects (method results leave psbridge
// through the API and the plugin endpoint). Internal consumers that need the values (the
// token cmdlets) read the result before this.
func maskOutput(set *mask.Set, res *bridge.Result) *bridge.Result {
	if res == nil {
		return nil
	}
	out := *res
	if res.Output != nil {
		out.Output = make([]json.RawMessage, len(res.Output))
		for i, o := range res.Output {
			out.Output[i] = set.JSON(o)
		}
	}
	if res.OutputTypes != nil {
		out.OutputTypes = make([]string, len(res.OutputTypes))
		for i, t := range res.OutputTypes {
			out.OutputTypes[i] = set.String(t)
		}
	}
	out.Records = maskRecords(set, res.Records)
	return &out
}

// Secrets returns the secrets of an instance as they stand: its [Password()] values and every
// string of its stored $IntegrationContext, for sinks outside the engine. (The plugin
// endpoint masks its response with the set HandleHTTP returns, which holds the same.)
func (e *Engine) Secrets(id int64) (*mask.Set, error) {
	stored, err := e.st.InstanceSecrets(id)
	if err != nil {
		return nil, wrapNotFound("integration "+strconv.FormatInt(id, 10), err)
	}
	ctx, err := e.st.Context(id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err // fail closed: without the context its secrets are unknown
	}
	var public []string
	if inst, ierr := e.st.Instance(id); ierr == nil {
		public = publicValues(inst.FormData)
	}
	return callMask(secretValues(stored), public, ctx), nil
}
