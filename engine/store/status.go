package store

import (
	"encoding/json"
	"strings"
)

// Call status values: CallLogEntry.Status and the API's result views.
const (
	// CallOK is a call that returned without writing errors.
	CallOK = "ok"
	// CallCompletedWithErrors is a call that returned but wrote non-terminating errors
	// (Write-Error, a failed command without -ErrorAction Stop).
	CallCompletedWithErrors = "completed with errors"
	// CallFailed is a call that threw, timed out or could not run.
	CallFailed = "failed"
)

// CallStatus names a call's outcome: CallFailed when it failed, CallCompletedWithErrors when
// it returned but wrote non-terminating errors, CallOK otherwise.
func CallStatus(failed, hadErrors bool) string {
	switch {
	case failed:
		return CallFailed
	case hadErrors:
		return CallCompletedWithErrors
	}
	return CallOK
}

// HealthStatusOf maps the status of a HealthCheckResult, as a script returned it, to a health
// status: "Healthy"/"Degraded"/"Unhealthy" in any case, or ImmyBot's HealthStatus enum
// (Unhealthy=0, Degraded=1, Healthy=2). Anything else is StatusUnhealthy.
func HealthStatusOf(status any) string {
	switch s := status.(type) {
	case string:
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "healthy":
			return StatusHealthy
		case "degraded":
			return StatusDegraded
		}
	case float64:
		switch s {
		case 2:
			return StatusHealthy
		case 1:
			return StatusDegraded
		}
	case json.Number:
		if f, err := s.Float64(); err == nil {
			return HealthStatusOf(f)
		}
	}
	return StatusUnhealthy
}
