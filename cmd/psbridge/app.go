package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/psbridge/psbridge/internal/config"
	"github.com/psbridge/psbridge/web/api"
)

const appUsage = `Usage: psbridge app create --name NAME [--admin] [--config FILE] [--data-dir DIR]

Registers an OAuth application (a machine client such as an ImmyBot-style inbound script) and
prints {"clientId", "clientSecret", "tenantId"} as JSON. The secret is shown only now (its
SHA-256 is kept). The application gets access tokens with the client-credentials grant at
BASE/TENANTID/oauth2/v2.0/token (scope BASE/.default) and uses them as bearer tokens on the
API: with the admin role when --admin is given, the operator role otherwise. Revoke it with
DELETE /api/v1/applications/{clientId}. Works with the server stopped (the database) or
running (its admin socket), like 'psbridge token'.
`

func runApp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, appUsage)
		return usageErr("app needs the subcommand 'create'")
	}
	fs := newFlagSet("app create", stderr, appUsage)
	name := fs.String("name", "", "a name to recognise the application by (required)")
	admin := fs.Bool("admin", false, "give the application the admin role (default: operator)")
	cfg, rest, err := config.Load(fs, args[1:], os.Environ())
	if err != nil {
		return configErr(err)
	}
	if len(rest) != 0 || *name == "" {
		return usageErr("app create needs --name NAME and no arguments")
	}
	in := api.AppInput{Name: *name, Admin: *admin}
	var out api.NewApp
	if c, ok := dialAdmin(cfg.DataDir); ok {
		if err := c.do(http.MethodPost, "/api/v1/applications", in, &out); err != nil {
			return err
		}
	} else {
		st, err := openStore(cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		if out, err = api.CreateApp(st, in); err != nil {
			return err
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"clientId": out.ClientID, "clientSecret": out.ClientSecret, "tenantId": out.TenantID,
		"name": out.Name, "admin": out.Admin}); err != nil {
		return err
	}
	fmt.Fprintln(stderr, "the client secret is shown only now")
	return nil
}
