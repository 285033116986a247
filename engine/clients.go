package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/psbridge/psbridge/engine/store"
)

// RefreshClients calls GetClients and makes its output the stored client list of the
// instance, keeping existing tenant mappings. Instances without ISupportsListingClients fail
// with *CapabilityError.
func (e *Engine) RefreshClients(ctx context.Context, id int64) ([]store.Client, error) {
	_, res, _, err := e.call(ctx, id, "GetClients", callOpts{})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var clients []store.Client
	for _, raw := range res.Output {
		var c struct {
			ClientID   any    `json:"clientId"`
			ClientName string `json:"clientName"`
		}
		if json.Unmarshal(raw, &c) != nil {
			continue
		}
		cid := idString(c.ClientID)
		if cid == "" || seen[cid] {
			continue
		}
		seen[cid] = true
		clients = append(clients, store.Client{ExternalClientID: cid, ExternalClientName: c.ClientName})
	}
	if err := e.st.ReplaceClients(id, clients); err != nil {
		return nil, wrapNotFound("integration "+strconv.FormatInt(id, 10), err)
	}
	e.mu.Lock()
	e.clientsFetched[id] = true
	e.mu.Unlock()
	return e.st.Clients(id)
}

// Clients returns the cached client list of an instance. The first request after start-up
// with an empty cache fetches it (GetClients); RefreshClients fetches it again.
func (e *Engine) Clients(ctx context.Context, id int64) ([]store.Client, error) {
	cs, err := e.st.Clients(id)
	if err != nil {
		return nil, wrapNotFound("integration "+strconv.FormatInt(id, 10), err)
	}
	e.mu.Lock()
	fetched := e.clientsFetched[id]
	e.mu.Unlock()
	if len(cs) > 0 || fetched {
		return cs, nil
	}
	l, err := e.load(id)
	if err != nil {
		return nil, err
	}
	if !l.desc.Supports("GetClients") || l.inst.Disabled {
		return cs, nil
	}
	return e.RefreshClients(ctx, id)
}

// MapClient links a client of an instance to a tenant (tenantID 0 unlinks it). A tenant maps
// to at most one client per instance (ErrConflict).
func (e *Engine) MapClient(id int64, clientID string, tenantID int64) (store.Client, error) {
	if err := e.st.LinkClient(id, clientID, tenantID); err != nil {
		return store.Client{}, wrapNotFound(fmt.Sprintf("integration %d, client %q or tenant %d", id, clientID, tenantID), err)
	}
	cs, err := e.st.Clients(id)
	if err != nil {
		return store.Client{}, err
	}
	for _, c := range cs {
		if c.ExternalClientID == clientID {
			return c, nil
		}
	}
	return store.Client{}, fmt.Errorf("client %q: %w", clientID, ErrNotFound)
}

// Mappings returns the clients of an instance that are linked to a tenant.
func (e *Engine) Mappings(id int64) ([]store.Client, error) {
	cs, err := e.st.Clients(id)
	if err != nil {
		return nil, wrapNotFound("integration "+strconv.FormatInt(id, 10), err)
	}
	out := []store.Client{}
	for _, c := range cs {
		if c.LinkedTenantID != 0 {
			out = append(out, c)
		}
	}
	return out, nil
}

// ---- tenants -----------------------------------------------------------------------------

// TenantInput is what a client submits to create or rename a tenant.
type TenantInput struct {
	Name string `json:"name"`
	Slug string `json:"slug"`
}

func (in TenantInput) check() FieldErrors {
	var errs FieldErrors
	if strings.TrimSpace(in.Name) == "" {
		errs = append(errs, FieldError{Field: "name", Message: "is required"})
	} else if len(in.Name) > 200 {
		errs = append(errs, FieldError{Field: "name", Message: "must be at most 200 characters"})
	}
	for _, r := range in.Slug {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			errs = append(errs, FieldError{Field: "slug", Message: "may only hold lower-case letters, digits and '-'"})
			break
		}
	}
	return errs
}

// CreateTenant stores a new tenant (names and slugs are unique: ErrConflict).
func (e *Engine) CreateTenant(in TenantInput) (store.Tenant, error) {
	if errs := in.check(); len(errs) > 0 {
		return store.Tenant{}, errs
	}
	t := store.Tenant{Name: in.Name, Slug: in.Slug}
	if err := e.st.CreateTenant(&t); err != nil {
		return store.Tenant{}, err
	}
	return t, nil
}

// UpdateTenant renames a tenant.
func (e *Engine) UpdateTenant(id int64, in TenantInput) (store.Tenant, error) {
	if errs := in.check(); len(errs) > 0 {
		return store.Tenant{}, errs
	}
	t := store.Tenant{ID: id, Name: in.Name, Slug: in.Slug}
	if err := e.st.UpdateTenant(&t); err != nil {
		return store.Tenant{}, wrapNotFound("tenant "+strconv.FormatInt(id, 10), err)
	}
	return t, nil
}

// DeleteTenant removes a tenant, its client mappings and the deployments that target it; it
// fails with ErrConflict while computers belong to it.
func (e *Engine) DeleteTenant(id int64) error {
	return wrapNotFound("tenant "+strconv.FormatInt(id, 10), e.st.DeleteTenant(id))
}

// Tenant returns one tenant.
func (e *Engine) Tenant(id int64) (store.Tenant, error) {
	t, err := e.st.Tenant(id)
	return t, wrapNotFound("tenant "+strconv.FormatInt(id, 10), err)
}

// Tenants returns every tenant ordered by id.
func (e *Engine) Tenants() ([]store.Tenant, error) { return e.st.Tenants() }

// idString turns a JSON id (string or number) into its text.
func idString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}
