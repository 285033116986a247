package store

import (
	"bytes"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DetectedSoftware is the cached result of the last detection of one piece of software on one
// computer: the version a session's detection script returned (or that it is not installed),
// when, and by which session. Sessions with cacheOnly read it instead of running detection.
type DetectedSoftware struct {
	ComputerID    int64     `json:"computerId"`
	SoftwareID    int64     `json:"softwareId"`
	SoftwareScope string    `json:"softwareScope"` // "global" or "local"
	SoftwareName  string    `json:"softwareName,omitempty"`
	Installed     bool      `json:"installed"`
	Version       string    `json:"version,omitempty"` // "" when not installed
	DetectedAt    time.Time `json:"detectedAt"`
	SessionID     int64     `json:"sessionId"`
}

// inventoryKey is the key of a cached detection: computer id then software id, so that one
// computer's entries are adjacent.
func inventoryKey(computerID, softwareID int64) []byte {
	return append(itob(computerID), itob(softwareID)...)
}

// PutDetectedSoftware stores (replaces) the cached detection of d's software on d's computer.
func (s *Store) PutDetectedSoftware(d DetectedSoftware) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return putJSON(bucket(tx, bSoftwareInv), inventoryKey(d.ComputerID, d.SoftwareID), &d)
	})
	if err != nil {
		return fmt.Errorf("cache detection of software %d on computer %d: %w", d.SoftwareID, d.ComputerID, err)
	}
	return nil
}

// DetectedSoftwareFor returns the cached detection of software softwareID on computer
// computerID; ok is false when there is none.
func (s *Store) DetectedSoftwareFor(computerID, softwareID int64) (d DetectedSoftware, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		ok, err = getJSON(bucket(tx, bSoftwareInv), inventoryKey(computerID, softwareID), &d)
		return err
	})
	if err != nil {
		return DetectedSoftware{}, false, fmt.Errorf("read cached detection of software %d on computer %d: %w", softwareID, computerID, err)
	}
	return d, ok, nil
}

// DetectedSoftwareOf returns every cached detection on computer computerID, ordered by
// software id.
func (s *Store) DetectedSoftwareOf(computerID int64) ([]DetectedSoftware, error) {
	out := []DetectedSoftware{}
	prefix := itob(computerID)
	err := s.db.View(func(tx *bolt.Tx) error {
		c := bucket(tx, bSoftwareInv).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var d DetectedSoftware
			if err := decodeJSON(v, &d); err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list cached software inventory of computer %d: %w", computerID, err)
	}
	return out, nil
}
