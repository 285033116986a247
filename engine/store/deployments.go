package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Deployment is a desired state of one piece of software for one target: every computer of a
// tenant (TenantID set) or one computer (ComputerID set), never both. ImmyBot calls it a
// target assignment; sessions apply deployments, they never run by themselves.
type Deployment struct {
	ID                   int64     `json:"id"`
	SoftwareID           int64     `json:"softwareId"`
	TenantID             int64     `json:"tenantId,omitempty"`
	ComputerID           int64     `json:"computerId,omitempty"`
	DesiredSoftwareState int       `json:"desiredSoftwareState"`
	Notes                string    `json:"notes,omitempty"`
	CreatedAt            time.Time `json:"createdAt"`
}

// sameTarget reports whether two deployments deploy the same software to the same target.
func (d Deployment) sameTarget(o Deployment) bool {
	return d.SoftwareID == o.SoftwareID && d.TenantID == o.TenantID && d.ComputerID == o.ComputerID
}

// CreateDeployment stores a new deployment and sets its ID and CreatedAt. A second deployment
// of the same software to the same target fails with ErrConflict, so that the winning
// deployment of a computer is never a tie.
func (s *Store) CreateDeployment(d *Deployment) error {
	rec := *d
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bDeployments)
		if err := b.ForEach(func(_, v []byte) error {
			var o Deployment
			if err := decodeJSON(v, &o); err != nil {
				return err
			}
			if o.sameTarget(rec) {
				return fmt.Errorf("deployment %d already deploys software %d to that target: %w", o.ID, o.SoftwareID, ErrConflict)
			}
			return nil
		}); err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		rec.ID, rec.CreatedAt = int64(seq), s.now()
		return putJSON(b, itob(rec.ID), &rec)
	})
	if err != nil {
		return fmt.Errorf("create deployment of software %d: %w", d.SoftwareID, err)
	}
	*d = rec
	return nil
}

// DeploymentByID returns the deployment with the given id.
func (s *Store) DeploymentByID(id int64) (Deployment, error) {
	return recordByID[Deployment](s, bDeployments, id, "deployment")
}

// Deployments returns every deployment ordered by id.
func (s *Store) Deployments() ([]Deployment, error) {
	return allRecords[Deployment](s, bDeployments, "deployments", nil)
}

// DeleteDeployment removes a deployment.
func (s *Store) DeleteDeployment(id int64) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucket(tx, bDeployments)
		if b.Get(itob(id)) == nil {
			return ErrNotFound
		}
		return b.Delete(itob(id))
	})
	if err != nil {
		return fmt.Errorf("delete deployment %d: %w", id, err)
	}
	return nil
}

// deleteTenantDeployments deletes every deployment that targets tenant id.
func deleteTenantDeployments(tx *bolt.Tx, id int64) error {
	b := bucket(tx, bDeployments)
	var doomed [][]byte
	if err := b.ForEach(func(k, v []byte) error {
		var d Deployment
		if err := decodeJSON(v, &d); err != nil {
			return err
		}
		if d.TenantID == id {
			doomed = append(doomed, append([]byte(nil), k...))
		}
		return nil
	}); err != nil {
		return fmt.Errorf("deployments of tenant %d: %w", id, err)
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("delete deployment %d of tenant %d: %w", btoi(k), id, err)
		}
	}
	return nil
}
