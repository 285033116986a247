package agent

import (
	"context"
	"io"
)

// ServiceName is the name the agent's Windows service is installed under (docs/agent.md).
const ServiceName = "psbridge-agent"

// Service is how the agent process was started. Outside the Windows service control manager
// (every other system, and Windows from a console) Context is the context StartService was
// given, Log is nil and Stopped does nothing.
type Service struct {
	// Context ends when the service control manager asks the service to stop or the system
	// shuts down.
	Context context.Context
	// Log, when not nil, is where the agent should log: a service has no console, so it is
	// the file agent.log in the state directory.
	Log io.Writer
	// Stopped reports the agent's end to the service control manager (a nil error: stopped
	// cleanly, otherwise a service-specific exit code of 1); call it once, when the agent has
	// stopped.
	Stopped func(err error)
}
