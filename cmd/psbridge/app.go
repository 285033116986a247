package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/spf13/cobra"

	"github.com/psbridge/psbridge/internal/config"
	"github.com/psbridge/psbridge/web/api"
)

const appLong = `Registers an OAuth application (a machine client such as an ImmyBot-style inbound script) and
prints {"clientId", "clientSecret", "tenantId"} as JSON. The secret is shown only now (its
SHA-256 is kept). The application gets access tokens with the client-credentials grant at
BASE/TENANTID/oauth2/v2.0/token (scope BASE/.default) and uses them as bearer tokens on the
API: with the admin role when --admin is given, the operator role otherwise. Revoke it with
DELETE /api/v1/applications/{clientId}. Works with the server stopped (the database) or
running (its admin socket), like 'psbridge token'.`

func newAppCmd() *cobra.Command {
	const syn = "psbridge app create --name NAME [--admin] [--config FILE] [--data-dir DIR]"
	var name string
	var admin bool
	var settings *config.Flags
	create := &cobra.Command{
		Use:         "create",
		Short:       "register an OAuth application for the client-credentials grant",
		Long:        appLong,
		Annotations: synopsis(syn),
		Example: `  psbridge app create --name "inbound" --admin
  psbridge app create --name reporting --data-dir /var/lib/psbridge`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := settings.Load(os.Environ())
			if err != nil {
				return configErr(err)
			}
			if name == "" {
				return usageErr("app create needs --name NAME and no arguments")
			}
			return runAppCreate(cfg, name, admin, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	create.Flags().StringVar(&name, "name", "", "a name to recognise the application by (required)")
	create.Flags().BoolVar(&admin, "admin", false, "give the application the admin role (default: operator)")
	settings = config.AddFlags(create.Flags(), storeSettings...)
	app := parentCmd("app", "register an OAuth application (also while serve runs)", "'create'", create)
	app.Long = appLong
	app.Annotations = synopsis(syn)
	return app
}

func runAppCreate(cfg config.Config, name string, admin bool, stdout, stderr io.Writer) error {
	in := api.AppInput{Name: name, Admin: admin}
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
