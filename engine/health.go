package engine

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/psbridge/psbridge/engine/store"
)

// CheckHealth runs HealthCheck on an instance (Init first when needed), records the event in
// the health history and returns the instance's new health. A failed check is not an error
// here: it shows as Degraded, then Unhealthy after UnhealthyAfter consecutive failures, and the
// instance becomes Healthy again by itself at the first good check. Errors are returned only
// when the instance cannot be found or stored.
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
			if status == store.StatusUnhealthy && h.ConsecutiveFailures < e.cfg.UnhealthyAfter {
				status = store.StatusDegraded
			}
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
	res, err := e.invoke(ctx, l, "HealthCheck", callOpts{})
	if err != nil {
		return store.StatusUnhealthy, err.Error()
	}
	raw := lastOfType(res, "HealthCheckResult")
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
	switch s := h.Status.(type) {
	case string:
		switch strings.ToLower(s) {
		case "healthy":
			return store.StatusHealthy, h.Message
		case "degraded":
			return store.StatusDegraded, h.Message
		}
	case float64: // ImmyBot's enum: Unhealthy=0, Degraded=1, Healthy=2
		switch s {
		case 2:
			return store.StatusHealthy, h.Message
		case 1:
			return store.StatusDegraded, h.Message
		}
	}
	if h.Message == "" {
		h.Message = "HealthCheck reported unhealthy"
	}
	return store.StatusUnhealthy, h.Message
}

// HealthHistory returns up to limit health events of an instance, newest first.
func (e *Engine) HealthHistory(id int64, limit int) ([]store.HealthEvent, error) {
	out, err := e.st.HealthEvents(id, limit)
	return out, wrapNotFound("integration "+strconv.FormatInt(id, 10), err)
}
