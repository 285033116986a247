package store

import (
	"cmp"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// agentLink is the part of a stored agent that UpsertAgents must keep; decoding only it keeps
// large syncs cheap.
type agentLink struct {
	ComputerID int64 `json:"computerId"`
}

// UpsertAgents inserts or updates agents of an instance (by ExternalAgentID) in one
// transaction. A stored agent keeps its ComputerID unless the new value carries a non-zero
// one. Agents not in the list are left alone; remove them with DeleteAgent.
func (s *Store) UpsertAgents(instanceID int64, agents []Agent) error {
	sorted := slices.Clone(agents)
	slices.SortFunc(sorted, func(a, b Agent) int { return cmp.Compare(a.ExternalAgentID, b.ExternalAgentID) })
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := instanceExists(tx, instanceID); err != nil {
			return err
		}
		b, err := instanceBucket(tx, bAgents, instanceID, true)
		if err != nil {
			return err
		}
		for i := range sorted {
			a := &sorted[i]
			if a.ExternalAgentID == "" {
				return fmt.Errorf("agent %q has an empty external id", a.Name)
			}
			a.InstanceID = instanceID
			if a.ComputerID == 0 {
				var old agentLink
				if _, err := getJSON(b, []byte(a.ExternalAgentID), &old); err != nil {
					return fmt.Errorf("agent %s: %w", a.ExternalAgentID, err)
				}
				a.ComputerID = old.ComputerID
			}
			if err := putJSON(b, []byte(a.ExternalAgentID), a); err != nil {
				return fmt.Errorf("agent %s: %w", a.ExternalAgentID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("upsert %d agents of instance %d: %w", len(agents), instanceID, err)
	}
	return nil
}

// Agents returns the agents of an instance ordered by external id.
func (s *Store) Agents(instanceID int64) ([]Agent, error) {
	var out []Agent
	err := s.db.View(func(tx *bolt.Tx) error {
		if err := instanceExists(tx, instanceID); err != nil {
			return err
		}
		return forEachAgent(tx, instanceID, func(a Agent) error {
			out = append(out, a)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list agents of instance %d: %w", instanceID, err)
	}
	return out, nil
}

// forEachAgent calls fn for every agent of an instance.
func forEachAgent(tx *bolt.Tx, instanceID int64, fn func(Agent) error) error {
	b, _ := instanceBucket(tx, bAgents, instanceID, false)
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error {
		var a Agent
		if err := decodeJSON(v, &a); err != nil {
			return fmt.Errorf("agent %s: %w", k, err)
		}
		return fn(a)
	})
}

// PendingAgents returns the agents of all instances that are not linked to a computer yet,
// ordered by instance id and external id.
func (s *Store) PendingAgents() ([]Agent, error) {
	var out []Agent
	err := s.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, bAgents).ForEachBucket(func(k []byte) error {
			return forEachAgent(tx, btoi(k), func(a Agent) error {
				if a.ComputerID == 0 {
					out = append(out, a)
				}
				return nil
			})
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list pending agents: %w", err)
	}
	return out, nil
}

// LinkAgent links an agent of an instance to a computer; computerID 0 marks it pending again.
// Unknown instance, agent or computer is ErrNotFound.
func (s *Store) LinkAgent(instanceID int64, externalAgentID string, computerID int64) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := instanceExists(tx, instanceID); err != nil {
			return err
		}
		if computerID != 0 && bucket(tx, bComputers).Get(itob(computerID)) == nil {
			return fmt.Errorf("computer %d: %w", computerID, ErrNotFound)
		}
		b, _ := instanceBucket(tx, bAgents, instanceID, false)
		var a Agent
		found, err := getJSON(b, []byte(externalAgentID), &a)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("agent: %w", ErrNotFound)
		}
		a.ComputerID = computerID
		return putJSON(b, []byte(externalAgentID), &a)
	})
	if err != nil {
		return fmt.Errorf("link agent %q of instance %d to computer %d: %w", externalAgentID, instanceID, computerID, err)
	}
	return nil
}

// AgentForComputer returns the agent of an instance linked to a computer; ok is false when
// none is.
func (s *Store) AgentForComputer(instanceID, computerID int64) (a Agent, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		if err := instanceExists(tx, instanceID); err != nil {
			return err
		}
		return forEachAgent(tx, instanceID, func(o Agent) error {
			if !ok && computerID != 0 && o.ComputerID == computerID {
				a, ok = o, true
			}
			return nil
		})
	})
	if err != nil {
		return Agent{}, false, fmt.Errorf("agent for computer %d of instance %d: %w", computerID, instanceID, err)
	}
	return a, ok, nil
}

// DeleteAgent removes one agent of an instance.
func (s *Store) DeleteAgent(instanceID int64, externalAgentID string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, _ := instanceBucket(tx, bAgents, instanceID, false)
		if b == nil || b.Get([]byte(externalAgentID)) == nil {
			return ErrNotFound
		}
		return b.Delete([]byte(externalAgentID))
	})
	if err != nil {
		return fmt.Errorf("delete agent %q of instance %d: %w", externalAgentID, instanceID, err)
	}
	return nil
}
