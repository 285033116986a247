package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/web/httpx"
)

// UserInput is the body of POST /api/v1/users: ImmyBot's Person "AD External ID" made a User.
// Role is admin, operator or read-only; when it is empty, isAdmin (ImmyBot's Admin box)
// picks admin and its absence operator.
type UserInput struct {
	ExternalID string `json:"externalId"`
	Name       string `json:"name"`
	Role       string `json:"role"`
	IsAdmin    *bool  `json:"isAdmin"`
}

// CreateUser validates in and adds the user (shared by the API and the admin socket).
func CreateUser(st *store.Store, in UserInput) (store.User, error) {
	var fe engine.FieldErrors
	id := store.NormalizeExternalID(in.ExternalID)
	switch {
	case id == "":
		fe = append(fe, engine.FieldError{Field: "externalId", Message: "is required: the object id (Entra oid, else sub) of the external issuer's user or service principal"})
	case len(id) > 256:
		fe = append(fe, engine.FieldError{Field: "externalId", Message: "must be at most 256 characters"})
	}
	if len(in.Name) > 200 {
		fe = append(fe, engine.FieldError{Field: "name", Message: "must be at most 200 characters"})
	}
	role := in.Role
	switch {
	case role == "" && in.IsAdmin != nil && *in.IsAdmin:
		role = store.RoleAdmin
	case role == "":
		role = store.RoleOperator
	case !store.ValidRole(role):
		fe = append(fe, engine.FieldError{Field: "role", Message: "must be admin, operator or read-only"})
	case in.IsAdmin != nil && *in.IsAdmin != (role == store.RoleAdmin):
		fe = append(fe, engine.FieldError{Field: "isAdmin", Message: "contradicts role " + role + "; send one of them"})
	}
	if len(fe) > 0 {
		return store.User{}, fe
	}
	name := strings.TrimSpace(in.Name)
	if name == "" {
		name = id
	}
	return st.CreateUser(store.User{ExternalID: id, Name: name, Role: role})
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) {
	users, err := a.eng.Store().Users()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"items": users})
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) {
	var in UserInput
	if !a.decode(w, r, &in) {
		return
	}
	u, err := CreateUser(a.eng.Store(), in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/users/"+u.ExternalID)
	httpx.JSON(w, http.StatusCreated, u)
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) {
	deleteUser(a.eng.Store(), w, r, a.fail)
}

func deleteUser(st *store.Store, w http.ResponseWriter, r *http.Request, fail func(http.ResponseWriter, *http.Request, error)) {
	id := r.PathValue("externalId")
	if err := st.DeleteUser(id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = &httpx.RequestError{Details: httpx.Details{Type: httpx.TypeNotFound, Status: http.StatusNotFound,
				Detail: "no user has the external id " + id}}
		}
		fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
