package software

import (
	"fmt"
	"strings"

	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
)

// DeploymentInput is the body of POST /deployments: one piece of software, one target (a
// tenant's computers or one computer) and the desired state there.
type DeploymentInput struct {
	SoftwareID           int64  `json:"softwareId"`
	TenantID             int64  `json:"tenantId"`
	ComputerID           int64  `json:"computerId"`
	DesiredSoftwareState *int   `json:"desiredSoftwareState"`
	Notes                string `json:"notes"`
}

// CreateDeployment checks and stores a deployment. A second deployment of the same software
// to the same target is refused (engine.ErrConflict).
func (s *Service) CreateDeployment(in DeploymentInput) (store.Deployment, error) {
	var fe engine.FieldErrors
	if in.SoftwareID <= 0 {
		fe = append(fe, engine.FieldError{Field: "softwareId", Message: "is required"})
	} else if _, err := s.st.SoftwareByID(in.SoftwareID); err != nil {
		fe = append(fe, engine.FieldError{Field: "softwareId", Message: "names no software"})
	}
	switch {
	case in.TenantID != 0 && in.ComputerID != 0:
		fe = append(fe, engine.FieldError{Field: "computerId", Message: "set either tenantId (every computer of the tenant) or computerId, not both"})
	case in.TenantID == 0 && in.ComputerID == 0:
		fe = append(fe, engine.FieldError{Field: "tenantId", Message: "a deployment needs a target: tenantId or computerId"})
	case in.TenantID != 0:
		if _, err := s.st.Tenant(in.TenantID); err != nil {
			fe = append(fe, engine.FieldError{Field: "tenantId", Message: "names no tenant"})
		}
	default:
		if _, err := s.st.Computer(in.ComputerID); err != nil {
			fe = append(fe, engine.FieldError{Field: "computerId", Message: "names no computer"})
		}
	}
	switch d := in.DesiredSoftwareState; {
	case d == nil:
		fe = append(fe, engine.FieldError{Field: "desiredSoftwareState", Message: "is required (0 NoAction, 1 NotPresent, 2 ThisVersion, 3 OlderOrEqualVersion, 4 LatestVersion, 5 NewerOrEqualVersion, 6 AnyVersion)"})
	case *d < 0 || *d > 6:
		fe = append(fe, engine.FieldError{Field: "desiredSoftwareState", Message: "must be 0 to 6"})
	}
	if len(in.Notes) > 1000 {
		fe = append(fe, engine.FieldError{Field: "notes", Message: "must be at most 1000 characters"})
	}
	if len(fe) > 0 {
		return store.Deployment{}, fe
	}
	d := store.Deployment{SoftwareID: in.SoftwareID, TenantID: in.TenantID, ComputerID: in.ComputerID,
		DesiredSoftwareState: *in.DesiredSoftwareState, Notes: strings.TrimSpace(in.Notes)}
	if err := s.st.CreateDeployment(&d); err != nil {
		return store.Deployment{}, err
	}
	return d, nil
}

// Deployments lists every deployment.
func (s *Service) Deployments() ([]store.Deployment, error) { return s.st.Deployments() }

// Deployment returns one deployment.
func (s *Service) Deployment(id int64) (store.Deployment, error) { return s.st.DeploymentByID(id) }

// DeleteDeployment removes a deployment; sessions already started keep what they resolved.
func (s *Service) DeleteDeployment(id int64) error { return s.st.DeleteDeployment(id) }

// Applies reports whether deployment d targets computer c.
func Applies(d store.Deployment, c store.Computer) bool {
	return rank(d, c) > 0
}

// rank orders the deployments that target c: 2 for one targeting the computer itself, 1 for
// one targeting its tenant, 0 for one that does not apply.
func rank(d store.Deployment, c store.Computer) int {
	switch {
	case d.ComputerID != 0:
		if d.ComputerID == c.ID {
			return 2
		}
	case d.TenantID != 0 && d.TenantID == c.TenantID:
		return 1
	}
	return 0
}

// Winning picks, for each piece of software, the deployment that decides its desired state on
// computer c: a deployment targeting the computer beats one targeting its tenant (the most
// specific target wins, as in ImmyBot). The store refuses two deployments of the same
// software to the same target, so there is no tie; were there one, the lower id would win.
// The result is in deployment-id order of the winners.
func Winning(ds []store.Deployment, c store.Computer) []store.Deployment {
	best := map[int64]int{} // software id -> index into ds
	var order []int64
	for i, d := range ds {
		r := rank(d, c)
		if r == 0 {
			continue
		}
		j, seen := best[d.SoftwareID]
		if !seen {
			order = append(order, d.SoftwareID)
		}
		if !seen || r > rank(ds[j], c) || (r == rank(ds[j], c) && d.ID < ds[j].ID) {
			best[d.SoftwareID] = i
		}
	}
	out := make([]store.Deployment, 0, len(order))
	for _, sw := range order {
		out = append(out, ds[best[sw]])
	}
	return out
}

// WinningFor returns the winning deployment of software softwareID on computer computerID,
// and false when no deployment of it applies.
func (s *Service) WinningFor(computerID, softwareID int64) (store.Deployment, bool, error) {
	c, err := s.st.Computer(computerID)
	if err != nil {
		return store.Deployment{}, false, err
	}
	ds, err := s.st.Deployments()
	if err != nil {
		return store.Deployment{}, false, err
	}
	for _, d := range Winning(ds, c) {
		if d.SoftwareID == softwareID {
			return d, true, nil
		}
	}
	return store.Deployment{}, false, nil
}

// targetText names a deployment's target for logs and errors.
func targetText(d store.Deployment) string {
	if d.ComputerID != 0 {
		return fmt.Sprintf("computer %d", d.ComputerID)
	}
	return fmt.Sprintf("tenant %d", d.TenantID)
}
