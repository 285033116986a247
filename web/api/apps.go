package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/web/httpx"
)

// AppInput is the body of POST /applications.
type AppInput struct {
	Name  string `json:"name"`
	Admin bool   `json:"admin"`
}

// NewApp is an application with its client secret (shown once) and the directory id its
// tokens come from.
type NewApp struct {
	store.Application
	ClientSecret string `json:"clientSecret"`
	TenantID     string `json:"tenantId"`
}

// CreateApp registers an application (shared by the API and the CLI).
func CreateApp(st *store.Store, in AppInput) (NewApp, error) {
	if strings.TrimSpace(in.Name) == "" {
		return NewApp{}, engine.FieldErrors{{Field: "name", Message: "is required"}}
	}
	dir, err := st.DirectoryID()
	if err != nil {
		return NewApp{}, err
	}
	secret, app, err := st.CreateApplication(in.Name, in.Admin)
	if err != nil {
		return NewApp{}, err
	}
	return NewApp{Application: app, ClientSecret: secret, TenantID: dir}, nil
}

func (a *API) listApps(w http.ResponseWriter, r *http.Request) {
	apps, err := a.eng.Store().Applications()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"items": apps})
}

func (a *API) createApp(w http.ResponseWriter, r *http.Request) {
	var in AppInput
	if !a.decode(w, r, &in) {
		return
	}
	out, err := CreateApp(a.eng.Store(), in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/applications/"+out.ClientID)
	w.Header().Set("Cache-Control", "no-store")
	httpx.JSON(w, http.StatusCreated, out)
}

func (a *API) deleteApp(w http.ResponseWriter, r *http.Request) {
	err := a.eng.Store().DeleteApplication(r.PathValue("clientId"))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = &httpx.RequestError{Details: httpx.Details{Type: httpx.TypeNotFound, Status: http.StatusNotFound,
				Detail: "no application has the client id " + r.PathValue("clientId")}}
		}
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
