package engine

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine/store"
)

// CheckHealth runs HealthCheck on an instance (Init first when needed), records the event in
// the health history and returns the instance's new health. A failed check is not an error
// here: the instance shows what the check reported, named by store.HealthStatusOf like
// everywhere else (a failing Init or a throwing check is Unhealthy); after UnhealthyAfter
// consecutive failures Init runs again, and the instance becomes Healthy again by itself at
// the first good check. Errors are returned only when the instance cannot be found or stored.
func (e *Engine) CheckHealth(ctx context.Context, id int64) (store.Health, error) {
	l, err := e.load(id)
	if err != nil {
		return store.Health{}, err
	}
	if l.inst.Disabled {
		return l.inst.Health, nil
	}
	start := time.Now()
	status, msg := e.runHealthCheck(ctx, l)
	if ctx.Err() != nil {
		return l.inst.Health, ctx.Err()
	}
	dur := time.Since(start)
	now := time.Now().UTC()
	var failures int
	inst, err := e.st.UpdateInstance(id, func(inst *store.Instance) error {
		h := inst.Health
		switch status {
		case store.StatusHealthy:
			h.ConsecutiveFailures = 0
		default:
			h.ConsecutiveFailures++
		}
		if h.Status != status {
			h.Since = now
		}
		h.Status, h.Message, h.CheckedAt = status, msg, now
		inst.Health = h
		failures = h.ConsecutiveFailures
		return nil
	})
	if err != nil {
		return store.Health{}, wrapNotFound("integration "+strconv.FormatInt(id, 10), err)
	}
	e.scheduleHealth(id, failures, time.Now())
	if failures >= e.cfg.UnhealthyAfter {
		e.setInitOK(id, "") // run Init again: credentials or sessions may have expired
	}
	if err := e.st.AddHealthEvent(store.HealthEvent{InstanceID: id, At: now, Status: status, Message: msg, Duration: dur}); err != nil && !errors.Is(err, store.ErrNotFound) {
		return inst.Health, err
	}
	return inst.Health, nil
}

// runHealthCheck returns the status the check reported (Healthy, Degraded or Unhealthy) and
// its message.
func (e *Engine) runHealthCheck(ctx context.Context, l *loaded) (string, string) {
	if err := e.ensureInit(ctx, l); err != nil {
		return store.StatusUnhealthy, err.Error()
	}
	stored, err := e.st.InstanceSecrets(l.inst.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.StatusUnhealthy, err.Error()
	}
	secrets := secretValues(stored)
	res, set, err := e.invoke(ctx, l, "HealthCheck", callOpts{secrets: secrets})
	if err != nil {
		return store.StatusUnhealthy, err.Error()
	}
	status, msg := healthOf(res)
	// The message is script output, which the worker does not mask; it is stored and shown.
	return status, set.String(msg)
}

// healthOf reads the status and message of HealthCheck's last HealthCheckResult.
func healthOf(res *bridge.Result) (string, string) {
	raw := res.LastOfType("HealthCheckResult")
	if raw == nil {
		return store.StatusUnhealthy, "HealthCheck returned no HealthCheckResult (use New-HealthyResult or New-UnhealthyResult)"
	}
	var h struct {
		Status  any    `json:"status"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return store.StatusUnhealthy, "HealthCheck returned an unreadable HealthCheckResult"
	}
	status := store.HealthStatusOf(h.Status)
	if status == store.StatusUnhealthy && h.Message == "" {
		h.Message = "HealthCheck reported unhealthy"
	}
	return status, h.Message
}

// HealthHistory returns up to limit health events of an instance, newest first.
func (e *Engine) HealthHistory(id int64, limit int) ([]store.HealthEvent, error) {
	out, err := e.st.HealthEvents(id, limit)
	return out, wrapNotFound("integration "+strconv.FormatInt(id, 10), err)
}

// healthDelay is how long after a check the next periodic one is due: HealthInterval when the
// check passed; after failures, HealthRetry doubled per further failure and capped at
// HealthInterval, so a broken vendor API is retried soon but not hammered. Either way the
// delay is spread by ±10% so instances created together do not stay in lockstep.
func (e *Engine) healthDelay(failures int) time.Duration {
	d := e.cfg.HealthInterval
	if failures > 0 {
		r := e.cfg.HealthRetry << min(failures-1, 20)
		if r > 0 && r < d {
			d = r
		}
	}
	if spread := int64(d / 5); spread > 0 {
		d += time.Duration(rand.Int64N(spread+1)) - d/10
	}
	return d
}

// scheduleHealth records when instance id is next due for a periodic check.
func (e *Engine) scheduleHealth(id int64, failures int, now time.Time) {
	if e.cfg.HealthInterval < 0 {
		return
	}
	next := now.Add(e.healthDelay(failures))
	e.mu.Lock()
	e.nextHealth[id] = next
	e.mu.Unlock()
}

// healthDue reports whether instance id should be checked at now (never-checked ones are).
func (e *Engine) healthDue(id int64, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	next, ok := e.nextHealth[id]
	return !ok || !now.Before(next)
}

// healthTick is how often the loop looks for due checks: a tenth of the shortest delay it
// schedules, between 10 ms and 1 s.
func (e *Engine) healthTick() time.Duration {
	d := min(e.cfg.HealthInterval, e.cfg.HealthRetry) / 10
	return max(10*time.Millisecond, min(d, time.Second))
}
