package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Software is a piece of software psbridge can detect, install, upgrade and uninstall on a
// computer. Global software is shared; local software belongs to this installation's admins
// (ImmyBot's two databases, kept here as a scope).
type Software struct {
	ID                int64  `json:"id"`
	Name              string `json:"name"`
	Scope             string `json:"scope"` // "global" or "local"
	Version           string `json:"version,omitempty"`
	DetectionScript   string `json:"detectionScript,omitempty"`
	InstallScript     string `json:"installScript,omitempty"`
	UninstallScript   string `json:"uninstallScript,omitempty"`
	UpgradeScript     string `json:"upgradeScript,omitempty"`
	ScriptContext     string `json:"scriptContext,omitempty"` // "computer" (default) or "metascript"
	IntegrationTypeID string `json:"integrationTypeId,omitempty"`
	// DynamicVersionsScript runs on the server (no computer) and returns the versions the
	// software can be installed at (New-DynamicVersion objects, or an object whose Versions
	// holds them). With it the newest dynamic version is the version sessions aim for.
	DynamicVersionsScript string `json:"dynamicVersionsScript,omitempty"`
	// DynamicVersions is the last successful result of the script, newest first.
	DynamicVersions []DynamicVersion `json:"dynamicVersions,omitempty"`
	// DynamicVersionsFetchedAt is when DynamicVersions was fetched.
	DynamicVersionsFetchedAt time.Time `json:"dynamicVersionsFetchedAt,omitzero"`
	CreatedAt                time.Time `json:"createdAt"`
	UpdatedAt                time.Time `json:"updatedAt,omitzero"`
}

// DynamicVersion is one version a dynamic versions script returned (ImmyBot's DynamicVersion).
type DynamicVersion struct {
	Version                 string `json:"version"`
	URL                     string `json:"url,omitempty"`
	FileName                string `json:"fileName,omitempty"`
	Architecture            string `json:"architecture,omitempty"`
	PackageType             string `json:"packageType,omitempty"`
	PackageHash             string `json:"packageHash,omitempty"`
	DependsOnVersion        string `json:"dependsOnVersion,omitempty"`
	RelativeCacheSourcePath string `json:"relativeCacheSourcePath,omitempty"`
}

// UpdateSoftware applies fn to stored software and saves it (ErrNotFound when missing); the
// id and creation time are kept and UpdatedAt is set.
func (s *Store) UpdateSoftware(id int64, fn func(sw *Software) error) (Software, error) {
	var sw Software
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bSoftware)
		found, err := getJSON(b, itob(id), &sw)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		created := sw.CreatedAt
		if err := fn(&sw); err != nil {
			return err
		}
		sw.ID, sw.CreatedAt, sw.UpdatedAt = id, created, s.now()
		return putJSON(b, itob(id), &sw)
	})
	if err != nil {
		return Software{}, fmt.Errorf("update software %d: %w", id, err)
	}
	return sw, nil
}

// CreateSoftware stores new software and sets its ID and CreatedAt.
func (s *Store) CreateSoftware(sw *Software) error {
	rec := *sw
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bSoftware)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		rec.ID, rec.CreatedAt = int64(seq), s.now()
		return putJSON(b, itob(rec.ID), &rec)
	})
	if err != nil {
		return fmt.Errorf("create software %q: %w", sw.Name, err)
	}
	*sw = rec
	return nil
}

// SoftwareByID returns the software with the given id.
func (s *Store) SoftwareByID(id int64) (Software, error) {
	return recordByID[Software](s, bSoftware, id, "software")
}

// SoftwareList returns every piece of software ordered by id.
func (s *Store) SoftwareList() ([]Software, error) {
	return allRecords[Software](s, bSoftware, "software", nil)
}

// SessionLogEntry is one line of a maintenance session's log.
type SessionLogEntry struct {
	Time    time.Time `json:"time"`
	Stage   string    `json:"stage"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
}

// MaintenanceAction is what a session did about one piece of software: the desired state it
// resolved (from the request or a deployment), the detected version and the action taken.
type MaintenanceAction struct {
	SoftwareID      int64  `json:"softwareId"`
	SoftwareName    string `json:"softwareName,omitempty"`
	DeploymentID    int64  `json:"deploymentId,omitempty"` // 0: the request's maintenanceParams
	DesiredState    int    `json:"desiredSoftwareState"`
	DetectedVersion string `json:"detectedVersion,omitempty"`
	Action          string `json:"action,omitempty"` // install, upgrade, uninstall, none, undetermined (cacheOnly, nothing cached)
	Result          string `json:"result"`           // pending, succeeded, failed, undetermined
	Error           string `json:"error,omitempty"`
}

// MaintenanceSession is one run of maintenance on one computer. A session of one item (the
// request's maintenanceParams or a pinned deployment) repeats that item's fields at the top
// level; a full-maintenance session has one action per deployment that applies.
type MaintenanceSession struct {
	ID              int64               `json:"id"`
	ComputerID      int64               `json:"computerId"`
	SoftwareID      int64               `json:"softwareId,omitempty"`
	State           string              `json:"state"` // pending, waiting (for the computer to connect), running, succeeded, completed with errors (an action undetermined, or the reboot failed or was refused), failed, skipped, cancelled (the server shut down)
	Stage           string              `json:"stage"` // resolution, inventory, detection, action, verification, reboot, done
	FullMaintenance bool                `json:"fullMaintenance,omitempty"`
	InventoryOnly   bool                `json:"inventoryOnly,omitempty"`
	DeploymentID    int64               `json:"deploymentId,omitempty"`
	Actions         []MaintenanceAction `json:"maintenanceActions,omitempty"`
	DesiredState    int                 `json:"desiredSoftwareState"`
	DetectedVersion string              `json:"detectedVersion,omitempty"`
	Action          string              `json:"action,omitempty"` // install, upgrade, uninstall, none
	Error           string              `json:"error,omitempty"`
	Request         json.RawMessage     `json:"request,omitempty"`
	Log             []SessionLogEntry   `json:"log"`
	CreatedAt       time.Time           `json:"createdAt"`
	UpdatedAt       time.Time           `json:"updatedAt"`
	EndedAt         time.Time           `json:"endedAt,omitzero"`

	// RebootPending and RebootAction (rebooted, suppressed, refused, none) are the reboot
	// stage's, run after the computer's actions; RebootAction is unset when no action ran.
	RebootPending bool   `json:"rebootPending"`
	RebootAction  string `json:"rebootAction,omitempty"`
}

// PutSession stores a session, assigning its ID when it is 0.
func (s *Store) PutSession(m *MaintenanceSession) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bSessions)
		if m.ID == 0 {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			m.ID, m.CreatedAt = int64(seq), s.now()
		}
		m.UpdatedAt = s.now()
		return putJSON(b, itob(m.ID), m)
	})
	if err != nil {
		return fmt.Errorf("put session %d: %w", m.ID, err)
	}
	return nil
}

// Session returns the maintenance session with the given id.
func (s *Store) Session(id int64) (MaintenanceSession, error) {
	return recordByID[MaintenanceSession](s, bSessions, id, "session")
}

// Sessions returns every maintenance session (without logs) ordered by id.
func (s *Store) Sessions() ([]MaintenanceSession, error) {
	return allRecords(s, bSessions, "sessions", func(m *MaintenanceSession) { m.Log = nil })
}
