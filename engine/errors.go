package engine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine/store"
)

// ErrNotFound reports an unknown id or name (the same value as store.ErrNotFound).
var ErrNotFound = store.ErrNotFound

// ErrConflict reports a duplicate name or a record still in use (the same value as
// store.ErrConflict).
var ErrConflict = store.ErrConflict

// ErrDisabled reports a call to a disabled instance.
var ErrDisabled = errors.New("the integration is disabled")

// CapabilityError means an instance was asked for something its script does not implement.
// The API maps it to 409 Conflict.
type CapabilityError struct {
	InstanceID int64  `json:"instanceId"`
	Interface  string `json:"interface"`
	Method     string `json:"method"`
}

func (e *CapabilityError) Error() string {
	return fmt.Sprintf("integration %d does not implement %s (no %s)", e.InstanceID, e.Interface, e.Method)
}

// InitError means Init failed (it threw, or returned a failed OpResult) while creating,
// updating or starting an instance. Err is the script error.
type InitError struct {
	Err error
	// Records holds the stream records Init wrote (already masked).
	Records []bridge.Record
}

func (e *InitError) Error() string { return "Init failed: " + e.Err.Error() }
func (e *InitError) Unwrap() error { return e.Err }

// LinkError means a token could not be resolved because the chain computer → tenant →
// client → integration is broken somewhere; Message says where.
type LinkError struct {
	Message string
}

func (e *LinkError) Error() string { return e.Message }

// interfaceOf names the capability interface that provides method, for error messages.
func interfaceOf(method string) string {
	switch strings.ToLower(method) {
	case "getclients":
		return "ISupportsListingClients"
	case "getagents":
		return "ISupportsListingAgents"
	case "getinventoryscript":
		return "ISupportsInventoryIdentification"
	case "gettenantinstalltoken":
		return "ISupportsTenantInstallToken"
	case "gettenantuninstalltoken":
		return "ISupportsTenantUninstallToken"
	case "getagentuninstalltoken":
		return "ISupportsAgentUninstallToken"
	case "handlehttprequest":
		return "ISupportsHttpRequest"
	case "deleteagent":
		return "ISupportsDeletingOfflineAgent"
	case "getdynamicversions":
		return "ISupportsDynamicVersions"
	case "getauthheader":
		return "ISupportsAuthenticatedDownload"
	case "runscript", "get_defaulttimeout":
		return "IRunScriptProvider"
	case "getexternalprovideragenturl":
		return "ISupportsExternalProviderAgentUrl"
	case "createticket", "newsupportformbranding":
		return "ISupportsSupportTicketDetailOverride"
	}
	return "a capability with member " + method
}
