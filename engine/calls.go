package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/mask"
)

// scriptVersion identifies what an instance's Init ran against: the script and the module
// scripts it may import.
func (e *Engine) scriptVersion(t store.IntegrationType) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return t.ScriptHash + "/" + e.modulesVersion
}

// scriptFor is the integration script as the pool runs it. The trailing comment carries the
// module fingerprint, so a changed module makes workers reload the integration (and re-import
// the new module) without shifting any line number of the script.
func (e *Engine) scriptFor(id int64, t store.IntegrationType) bridge.Script {
	e.mu.Lock()
	mv := e.modulesVersion
	e.mu.Unlock()
	name := t.ScriptName
	if name == "" {
		name = t.Name + ".ps1"
	}
	return bridge.Script{Instance: runspaceKey(id), Name: name, Text: t.Script + "\n# psbridge modules " + mv + "\n"}
}

func (e *Engine) setInitOK(id int64, version string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if version == "" {
		delete(e.initOK, id)
		return
	}
	e.initOK[id] = version
}

func (e *Engine) initDone(id int64, version string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.initOK[id] == version
}

// recorder collects a call's stream records, keeping at most max.
type recorder struct {
	mu      sync.Mutex
	max     int
	records []bridge.Record
	dropped int
}

func (r *recorder) add(rec bridge.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.records) >= r.max {
		r.dropped++
		return
	}
	r.records = append(r.records, rec)
}

func (r *recorder) list() []bridge.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bridge.Record(nil), r.records...)
}

// callOpts are the optional parts of one invocation.
type callOpts struct {
	args     map[string]any
	formData map[string]any
	timeout  time.Duration
	host     bridge.Host
	secrets  []string // overrides the stored secrets (Init with new values)
	fresh    bool     // Init: start from an empty $IntegrationContext
	noLog    bool     // the caller logs the call itself
	onRecord func(bridge.Record)
	// requireSecrets fails the call when the instance's stored secrets are gone (it was
	// deleted meanwhile), for callers that mask a response with the call's secrets: without
	// them the mask would miss the [Password()] values.
	requireSecrets bool
}

// invoke runs one method of an instance: stored secrets for masking, stored context in and the
// new context back to the store, a call log entry with the stream records. The records and
// the error it returns are masked with the call's secrets, which it returns too (the output is
// not masked: callers inside the engine need the values, and mask it before it leaves).
func (e *Engine) invoke(ctx context.Context, l *loaded, method string, o callOpts) (*bridge.Result, *mask.Set, error) {
	id := l.inst.ID
	secrets := o.secrets
	if secrets == nil {
		stored, err := e.st.InstanceSecrets(id)
		if err != nil && (o.requireSecrets || !errors.Is(err, store.ErrNotFound)) {
			return nil, nil, wrapNotFound("integration "+strconv.FormatInt(id, 10), err)
		}
		secrets = secretValues(stored)
	}
	var before json.RawMessage
	if !o.fresh {
		var err error
		if before, err = e.st.Context(id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, nil, err
		}
	}
	host := o.host
	if host == nil {
		host = &callHost{e: e, ownInstance: id}
	}
	rec := &recorder{max: e.cfg.MaxRecordsPerCall}
	record := func(r bridge.Record) {
		rec.add(r)
		if o.onRecord != nil {
			o.onRecord(r)
		}
	}
	if ch, ok := host.(*callHost); ok && ch.onRecord == nil {
		// Records of Invoke-ImmyCommand blocks belong to this call.
		withRecords := *ch
		withRecords.onRecord = record
		host = &withRecords
	}
	res, err := e.pool.Invoke(ctx, bridge.Call{
		Script: e.scriptFor(id, l.typ), Method: method, Args: o.args, FormData: o.formData,
		Context: before, Secrets: secrets, Public: publicValues(l.inst.FormData), Timeout: o.timeout, Host: host,
		OnRecord: record,
	})
	after := json.RawMessage(nil)
	if res != nil {
		after = res.Context
	} else {
		var se *bridge.ScriptError
		if errors.As(err, &se) {
			after = se.Context
		}
	}
	set := callMask(secrets, publicValues(l.inst.FormData), before, after)
	records := maskRecords(set, rec.list())
	if res != nil {
		res.Records = records
	}
	err = maskError(set, err)
	if !o.fresh && !o.noLog && len(after) > 0 && !bytes.Equal(after, before) {
		if perr := e.st.PutContext(id, after); perr != nil && !errors.Is(perr, store.ErrNotFound) {
			e.log.Error().Int64("instance", id).Err(perr).Msg("store context")
		}
	}
	if !o.noLog {
		e.logCall(id, method, res, err, records)
	}
	if err != nil {
		return nil, set, maskError(set, fmt.Errorf("%s of integration %d: %w", method, id, err))
	}
	return res, set, nil
}

// logCall queues a call log entry (the store writes queued entries in batches, so the call
// does not wait for a disk write); failures to log are logged, not returned.
func (e *Engine) logCall(id int64, method string, res *bridge.Result, callErr error, records []bridge.Record) {
	entry := store.CallLogEntry{InstanceID: id, Method: method, OK: callErr == nil}
	if res != nil {
		entry.Duration = res.Duration
		entry.HadErrors = res.HadErrors
		entry.Summary = fmt.Sprintf("%d output object(s)", len(res.Output))
		if res.HadErrors {
			entry.Summary += ", with non-terminating errors"
		}
	}
	entry.Status = store.CallStatus(callErr != nil, entry.HadErrors)
	if callErr != nil {
		entry.Error = callErr.Error()
	}
	if len(records) > 0 {
		entry.Records = rawJSON(records)
	}
	e.st.QueueCall(entry, func(_ store.CallLogEntry, err error) {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			e.log.Error().Int64("instance", id).Str("method", method).Err(err).Msg("append call log")
		}
	})
}

// runInit runs Init with values (plain and secret) and checks its OpResult. It returns the
// result, whose Context is the new $IntegrationContext. With logged set the call is logged.
func (e *Engine) runInit(ctx context.Context, l *loaded, values map[string]any, secrets []string, logged bool) (*bridge.Result, error) {
	rec := &recorder{max: e.cfg.MaxRecordsPerCall}
	res, set, err := e.invoke(ctx, l, "Init", callOpts{formData: values, secrets: secrets, fresh: true, noLog: true, onRecord: rec.add})
	if set == nil {
		set = callMask(secrets, nil)
	}
	if err == nil {
		if msg, failed := res.OpResultFailure(); failed {
			// The reason is script output, which the worker does not mask: a script that
			// writes "login failed with key $ApiKey" must not put the key in an error.
			err = fmt.Errorf("Init returned a failed OpResult: %s", set.String(msg))
		}
	}
	records := maskRecords(set, rec.list())
	if logged {
		e.logCall(l.inst.ID, "Init", res, err, records)
	}
	if err != nil {
		return nil, &InitError{Err: err, Records: records}
	}
	return res, nil
}

// ensureInit runs Init with the stored values unless it already succeeded in this process for
// the current script and modules.
func (e *Engine) ensureInit(ctx context.Context, l *loaded) error {
	version := e.scriptVersion(l.typ)
	if e.initDone(l.inst.ID, version) {
		return nil
	}
	lock := e.instanceLock(l.inst.ID)
	lock.Lock()
	defer lock.Unlock()
	if e.initDone(l.inst.ID, version) {
		return nil
	}
	secrets, err := e.st.InstanceSecrets(l.inst.ID)
	if err != nil {
		return err
	}
	res, err := e.runInit(ctx, l, formValues(l.inst.FormData, secrets), secretValues(secrets), true)
	if err != nil {
		return err
	}
	if err := e.st.PutContext(l.inst.ID, res.Context); err != nil {
		return err
	}
	if _, err := e.st.UpdateInstance(l.inst.ID, func(inst *store.Instance) error {
		inst.InitializedHash = l.typ.ScriptHash
		return nil
	}); err != nil {
		return err
	}
	e.setInitOK(l.inst.ID, version)
	return nil
}

// requireMethod returns a *CapabilityError unless the instance's script implements method.
func requireMethod(l *loaded, method string) error {
	if l.desc.Supports(method) {
		return nil
	}
	return &CapabilityError{InstanceID: l.inst.ID, Interface: interfaceOf(method), Method: method}
}

// call loads an instance, checks it is enabled and implements method, runs Init if needed and
// invokes the method.
func (e *Engine) call(ctx context.Context, id int64, method string, o callOpts) (*loaded, *bridge.Result, *mask.Set, error) {
	l, err := e.load(id)
	if err != nil {
		return nil, nil, nil, err
	}
	if l.inst.Disabled {
		return l, nil, nil, fmt.Errorf("integration %d: %w", id, ErrDisabled)
	}
	if err := requireMethod(l, method); err != nil {
		return l, nil, nil, err
	}
	if err := e.ensureInit(ctx, l); err != nil {
		return l, nil, nil, err
	}
	res, set, err := e.invoke(ctx, l, method, o)
	return l, res, set, err
}

// Call invokes any method of an instance's script (a capability member, or HealthCheck) with
// args bound by name; every secret of the call is masked in its output, records and error.
// Methods the script lacks fail with *CapabilityError; Init runs first
// when needed. Use CheckHealth to record a health check.
func (e *Engine) Call(ctx context.Context, id int64, method string, args map[string]any) (*bridge.Result, error) {
	if strings.EqualFold(method, "Init") {
		return nil, fmt.Errorf("Init runs when an integration is created, updated or started: %w", ErrConflict)
	}
	_, res, set, err := e.call(ctx, id, method, callOpts{args: args})
	if err != nil {
		return nil, err
	}
	return maskOutput(set, res), nil
}

// CallLog returns up to limit call log entries of an instance, newest first, below beforeID
// (0: from the newest).
func (e *Engine) CallLog(id int64, limit int, beforeID uint64) ([]store.CallLogEntry, error) {
	out, err := e.st.Calls(id, limit, beforeID)
	return out, wrapNotFound("integration "+strconv.FormatInt(id, 10), err)
}

// lastCallsScan is how many of an instance's newest call log entries LastCalls looks through
// for its latest Init.
const lastCallsScan = 200

// LastCalls returns an instance's newest call log entry and its newest Init entry among the
// last 200 calls (either nil when there is none), so a page can show that Init completed with
// errors even while HealthCheck reports Healthy.
func (e *Engine) LastCalls(id int64) (last, lastInit *store.CallLogEntry, err error) {
	entries, err := e.CallLog(id, lastCallsScan, 0)
	if err != nil {
		return nil, nil, err
	}
	for i := range entries {
		if last == nil {
			last = &entries[i]
		}
		if strings.EqualFold(entries[i].Method, "Init") {
			lastInit = &entries[i]
			break
		}
	}
	return last, lastInit, nil
}
