package store

import (
	"encoding/json"
	"time"
)

// Health status values stored in Health.Status and HealthEvent.Status. They are the only
// names psbridge gives health, in the API, the pages, the metrics and `psbridge run`;
// HealthStatusOf maps a HealthCheckResult's status to one of them.
const (
	StatusHealthy   = "Healthy"
	StatusDegraded  = "Degraded"
	StatusUnhealthy = "Unhealthy"
	StatusDisabled  = "Disabled"
	StatusPending   = "Pending"
)

// HealthStatuses lists every health status, best first.
var HealthStatuses = [...]string{StatusHealthy, StatusDegraded, StatusUnhealthy, StatusPending, StatusDisabled}

// IntegrationType is an uploaded integration script and what was learnt from parsing it.
type IntegrationType struct {
	ID           string          `json:"id"` // a UUID, assigned by PutType when empty
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	Script       string          `json:"script"`
	ScriptName   string          `json:"scriptName,omitempty"`
	ScriptHash   string          `json:"scriptHash,omitempty"`
	Capabilities []string        `json:"capabilities,omitempty"`
	Schema       json.RawMessage `json:"schema,omitempty"` // Init param schema, produced elsewhere
	// Describe is the whole description the script produced when it was loaded (capabilities
	// with their members; every method's parameters, timeout and period), as JSON.
	Describe  json.RawMessage `json:"describe,omitempty"`
	CreatedAt time.Time       `json:"createdAt"`
	UpdatedAt time.Time       `json:"updatedAt"`
}

// Instance is one configured use of an IntegrationType. Secret parameter values are not part
// of it; see Store.InstanceSecrets.
type Instance struct {
	ID               int64          `json:"id"` // assigned by CreateInstance, starting at 1
	Name             string         `json:"name"`
	TypeID           string         `json:"typeId"`
	FormData         map[string]any `json:"formData,omitempty"` // non-secret values only
	Disabled         bool           `json:"disabled,omitempty"`
	Health           Health         `json:"health"`
	InitializedHash  string         `json:"initializedHash,omitempty"`
	WebhookSecretSet bool           `json:"webhookSecretSet,omitempty"` // maintained by PutWebhookSecret
	// SecretNames lists the parameters that have a sealed secret value (never the values);
	// maintained by every method that writes secrets.
	SecretNames []string  `json:"secretNames,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// Health is the current health of an instance.
type Health struct {
	Status              string    `json:"status"` // one of the Status* constants
	Message             string    `json:"message,omitempty"`
	CheckedAt           time.Time `json:"checkedAt"`
	Since               time.Time `json:"since"`
	ConsecutiveFailures int       `json:"consecutiveFailures,omitempty"`
}

// Tenant is a customer of the service provider running psbridge.
type Tenant struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Slug      string    `json:"slug"`
	CreatedAt time.Time `json:"createdAt"`
}

// Client is a client (customer) as seen by one instance's remote system, optionally linked to
// a Tenant.
type Client struct {
	InstanceID         int64     `json:"instanceId"`
	ExternalClientID   string    `json:"externalClientId"`
	ExternalClientName string    `json:"externalClientName"`
	LinkedTenantID     int64     `json:"linkedTenantId,omitempty"` // 0 = unmapped
	UpdatedAt          time.Time `json:"updatedAt"`
}

// Agent is a device agent as reported by one instance, optionally linked to a Computer.
type Agent struct {
	InstanceID             int64          `json:"instanceId"`
	ExternalAgentID        string         `json:"externalAgentId"`
	ExternalClientID       string         `json:"externalClientId,omitempty"`
	Name                   string         `json:"name"`
	SerialNumber           string         `json:"serialNumber,omitempty"`
	OSName                 string         `json:"osName,omitempty"`
	Manufacturer           string         `json:"manufacturer,omitempty"`
	AgentVersion           string         `json:"agentVersion,omitempty"`
	IsOnline               bool           `json:"isOnline"`
	SupportsRunningScripts bool           `json:"supportsRunningScripts"`
	SupportsOnlineStatus   bool           `json:"supportsOnlineStatus"`
	ComputerID             int64          `json:"computerId,omitempty"` // 0 = pending identification
	Extra                  map[string]any `json:"extra,omitempty"`
	LastSeen               time.Time      `json:"lastSeen"`
}

// Computer is one identified device, which agents of several instances may point at.
type Computer struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	TenantID  int64     `json:"tenantId,omitempty"`
	DeviceID  string    `json:"deviceId,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	// Inventory is what the computer's psbridge agent last reported (nil for computers made
	// through the API).
	Inventory *Inventory `json:"inventory,omitempty"`
	// EnrolledAt is when a psbridge agent last enrolled this computer.
	EnrolledAt time.Time `json:"enrolledAt,omitzero"`
	// LastSeen is when its agent was last connected (updated on connect and disconnect).
	LastSeen time.Time `json:"lastSeen,omitzero"`
	// Identification holds the last inventory-identification result per integration id.
	Identification map[string]IdentificationResult `json:"identification,omitempty"`
}

// Inventory is what a psbridge agent reports about its computer.
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
	Platform     string `json:"platform,omitempty"` // GOOS/GOARCH
}

// IdentificationResult is one run of an integration's GetInventoryScript on a computer.
type IdentificationResult struct {
	IntegrationID int64     `json:"integrationId"`
	At            time.Time `json:"at"`
	OK            bool      `json:"ok"`
	AgentID       string    `json:"agentId,omitempty"`
	Error         string    `json:"error,omitempty"`
}

// EnrollmentKey lets psbridge agents enroll computers into one tenant. The key itself is
// shown once at creation; only its hash is kept.
type EnrollmentKey struct {
	ID        string    `json:"id"`
	TenantID  int64     `json:"tenantId"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	RevokedAt time.Time `json:"revokedAt,omitzero"`
	LastUsed  time.Time `json:"lastUsed,omitzero"`
	Uses      int       `json:"uses"`
	Hash      []byte    `json:"-"`
}

// HealthEvent is one entry of an instance's health history.
type HealthEvent struct {
	InstanceID int64         `json:"instanceId"`
	At         time.Time     `json:"at"`
	Status     string        `json:"status"`
	Message    string        `json:"message,omitempty"`
	Duration   time.Duration `json:"duration"`
}

// CallLogEntry records one call of an integration method.
type CallLogEntry struct {
	ID         uint64        `json:"id"` // assigned by AppendCall, increasing
	InstanceID int64         `json:"instanceId"`
	Method     string        `json:"method"`
	At         time.Time     `json:"at"`
	Duration   time.Duration `json:"duration"`
	OK         bool          `json:"ok"`
	// HadErrors reports that the call wrote non-terminating errors.
	HadErrors bool `json:"hadErrors,omitempty"`
	// Status is CallStatus(!OK, HadErrors): "ok", "completed with errors" or "failed".
	Status  string          `json:"status"`
	Summary string          `json:"summary,omitempty"`
	Error   string          `json:"error,omitempty"`
	Records json.RawMessage `json:"records,omitempty"`
}

// ModuleScript is a shared PowerShell module that integration scripts may import. Names are
// unique regardless of case.
type ModuleScript struct {
	Name      string    `json:"name"`
	Script    string    `json:"script"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// APIToken describes a bearer token for the HTTP API. Only the SHA-256 of the token is kept;
// Hash is never serialised to JSON by callers (it is tagged "-").
type APIToken struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Role is RoleAdmin, RoleOperator or RoleReadOnly.
	Role      string    `json:"role"`
	Hash      []byte    `json:"-"` // sha256 of the plaintext token
	CreatedAt time.Time `json:"createdAt"`
	LastUsed  time.Time `json:"lastUsed"`
}
