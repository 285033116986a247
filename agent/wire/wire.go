// Package wire is the message format between a psbridge agent and its server: JSON text
// messages over one websocket the agent dials (docs/agent.md). Both sides import it; it holds
// no logic beyond the types, so the agent binary and the server cannot drift apart.
package wire

import (
	"encoding/json"

	"github.com/psbridge/psbridge/bridge"
)

// Version is the protocol version an agent announces in its hello. Version 2 added the reboot
// requests (TypeRebootCheck, TypeReboot); a server sends them only to agents that announce 2
// or more, so an older agent is never asked what it cannot answer.
const Version = 2

// VersionReboot is the first version whose agents answer TypeRebootCheck and TypeReboot.
const VersionReboot = 2

// Paths on the server.
const (
	// EnrollPath takes POST {"key","inventory"} and answers 201 Enrolled.
	EnrollPath = "/api/v1/agent/enroll"
	// ConnectPath is the websocket; the agent authenticates with "Authorization: Bearer <credential>".
	ConnectPath = "/api/v1/agent/connect"
)

// Message types.
const (
	TypeHello     = "hello"     // agent → server, first message: Version, Inventory
	TypeWelcome   = "welcome"   // server → agent: ComputerID, HeartbeatSeconds
	TypeRun       = "run"       // server → agent: ID, Run
	TypeCancel    = "cancel"    // server → agent: ID
	TypeRecord    = "record"    // agent → server: ID, Record (one stream record, live)
	TypeResult    = "result"    // agent → server: ID, Result (the run ended)
	TypeInventory = "inventory" // agent → server: Inventory (changed)
	// TypeRebootCheck asks whether the computer has a reboot pending (server → agent: ID);
	// the agent answers TypeRebootReply with Reboot.Pending and Reboot.Reasons.
	TypeRebootCheck = "rebootCheck"
	// TypeReboot asks the agent to run its reboot command (server → agent: ID); the agent
	// answers TypeRebootReply with Reboot.Rebooting, or Reboot.Refused or Reboot.Error, before
	// the computer goes down.
	TypeReboot = "reboot"
	// TypeRebootReply answers TypeRebootCheck or TypeReboot (agent → server: ID, Reboot).
	TypeRebootReply = "rebootReply"
)

// Message is every message in either direction; Type says which fields are set.
type Message struct {
	Type             string         `json:"type"`
	ID               string         `json:"id,omitempty"`
	Version          int            `json:"version,omitempty"`
	Inventory        *Inventory     `json:"inventory,omitempty"`
	ComputerID       int64          `json:"computerId,omitempty"`
	HeartbeatSeconds int            `json:"heartbeatSeconds,omitempty"`
	Run              *Run           `json:"run,omitempty"`
	Record           *bridge.Record `json:"record,omitempty"`
	Result           *Result        `json:"result,omitempty"`
	Reboot           *Reboot        `json:"reboot,omitempty"`
}

// Reboot is the agent's answer to TypeRebootCheck or TypeReboot.
type Reboot struct {
	// Pending: the operating system says a reboot is pending (TypeRebootCheck).
	Pending bool `json:"pending,omitempty"`
	// Reasons name what said so ("/var/run/reboot-required", a registry key).
	Reasons []string `json:"reasons,omitempty"`
	// Rebooting: the reboot command ran and exited 0 (TypeReboot).
	Rebooting bool `json:"rebooting,omitempty"`
	// Refused says why the agent does not reboot (it runs with --reboot-command none).
	Refused string `json:"refused,omitempty"`
	// Error is why the check or the reboot command failed.
	Error string `json:"error,omitempty"`
}

// Inventory is what an agent reports about its computer. DeviceID is stable across agent
// reinstalls (derived from the operating system's machine id), so a re-enrolled computer is
// the same computer.
type Inventory struct {
	ComputerName string `json:"computerName"`
	OSName       string `json:"osName,omitempty"`
	OSVersion    string `json:"osVersion,omitempty"`
	Serial       string `json:"serialNumber,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
	Model        string `json:"model,omitempty"`
	Domain       string `json:"domain,omitempty"`
	LoggedOnUser string `json:"loggedOnUser,omitempty"`
	PrimaryUser  string `json:"primaryUser,omitempty"`
	PrimaryEmail string `json:"primaryUserEmail,omitempty"`
	DeviceID     string `json:"deviceId"`
	AgentVersion string `json:"agentVersion,omitempty"`
	PwshVersion  string `json:"pwshVersion,omitempty"`
	Platform     string `json:"platform,omitempty"`
}

// EnrollRequest is the body of POST EnrollPath.
type EnrollRequest struct {
	Key       string    `json:"key"`
	Inventory Inventory `json:"inventory"`
}

// Enrolled is the answer to an enrollment: the agent keeps Credential (0600) and uses it on
// every connection from then on.
type Enrolled struct {
	ComputerID int64  `json:"computerId"`
	TenantID   int64  `json:"tenantId"`
	Credential string `json:"credential"`
}

// Run is one script the agent runs in its local pwsh (bridge.Exec).
type Run struct {
	Name      string         `json:"name"`
	Script    string         `json:"script"`
	Args      map[string]any `json:"args,omitempty"`
	TimeoutMs int64          `json:"timeoutMs"`
	// Context is "System" or "User" (Invoke-ImmyCommand -Context).
	Context string `json:"context,omitempty"`
}

// Result is how a run ended: its output as the worker returned it, or Error.
type Result struct {
	Output      []json.RawMessage `json:"output,omitempty"`
	OutputTypes []string          `json:"outputTypes,omitempty"`
	HadErrors   bool              `json:"hadErrors,omitempty"`
	DurationMs  int64             `json:"durationMs"`
	Error       *Error            `json:"error,omitempty"`
}

// Error kinds.
const (
	ErrScript   = "script"   // a terminating error in the script (position fields set)
	ErrParse    = "parse"    // the script does not parse
	ErrTimeout  = "timeout"  // the run passed its deadline and was stopped
	ErrCanceled = "canceled" // the server cancelled it
	ErrWorker   = "worker"   // the agent's pwsh died or failed
	// ErrNoUser: a -Context User run found nobody logged on and did not start. It is not a
	// failure: the server skips the block with a warning, as ImmyBot does. Added within
	// Version 1: a server that does not know it shows the message as an error, as before.
	ErrNoUser = "no-user"
	ErrOther  = "other"
)

// Error is a failed run.
type Error struct {
	Kind     string `json:"kind"`
	Message  string `json:"message"`
	Line     int    `json:"line,omitempty"`
	Column   int    `json:"column,omitempty"`
	Script   string `json:"script,omitempty"`
	ErrorID  string `json:"errorId,omitempty"`
	Category string `json:"category,omitempty"`
}
