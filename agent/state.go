// Package agent is the psbridge agent: it enrolls a computer with an enrollment key, keeps its
// credential in a state directory, dials one websocket out to the server (reconnecting with
// backoff and jitter), reports the computer's inventory and runs the scripts the server sends
// in a warm local pwsh (a bridge.Pool of one worker). It exists so metascripts'
// Invoke-ImmyCommand blocks have a real computer to run on.
package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// StateFile is the file in the state directory that holds the enrollment.
const StateFile = "agent.json"

// State is what an enrolled agent keeps between runs (mode 0600: it holds the credential).
type State struct {
	Server     string    `json:"server"`
	ComputerID int64     `json:"computerId"`
	TenantID   int64     `json:"tenantId"`
	Credential string    `json:"credential"`
	EnrolledAt time.Time `json:"enrolledAt"`
	// DeviceID is kept when the operating system offers no machine id, so the computer keeps
	// its identity across restarts.
	DeviceID string `json:"deviceId,omitempty"`
}

// ErrNotEnrolled means the state directory holds no enrollment.
var ErrNotEnrolled = errors.New("agent: not enrolled; run with --server URL --enroll-key KEY first")

// LoadState reads the state of dir.
func LoadState(dir string) (State, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return State{}, ErrNotEnrolled
	}
	if err != nil {
		return State{}, fmt.Errorf("agent: read state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("agent: state file %s is corrupt: %w", filepath.Join(dir, StateFile), err)
	}
	if s.Credential == "" || s.Server == "" {
		return State{}, ErrNotEnrolled
	}
	return s, nil
}

// SaveState writes s into dir atomically, readable by the owner only.
func SaveState(dir string, s State) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agent: state dir: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".agent-*.json")
	if err != nil {
		return fmt.Errorf("agent: write state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil && !isWindows() {
		tmp.Close()
		return fmt.Errorf("agent: write state: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("agent: write state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, StateFile)); err != nil {
		return fmt.Errorf("agent: write state: %w", err)
	}
	return nil
}
