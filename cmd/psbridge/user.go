package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"text/tabwriter"

	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/config"
	"github.com/psbridge/psbridge/web/api"
)

const userUsage = `Usage: psbridge user create --external-id ID [--name NAME] [--role ROLE | --admin] [--config FILE] [--data-dir DIR]
       psbridge user list [--config FILE] [--data-dir DIR]
       psbridge user delete ID [--config FILE] [--data-dir DIR]

Manages the users an external OIDC issuer's tokens map to (auth.oidc.issuer; docs/inbound.md).
ID is the object id the tokens carry: Entra's oid claim (for an ImmyBot-style inbound app, the
object id of its enterprise application, ImmyBot's "AD External ID"), else the sub claim.
ROLE is admin, operator (the default) or read-only; --admin is ImmyBot's Admin box. 'delete'
makes the issuer's tokens for ID be refused from the next request on. Works with the server
stopped (the database) or running (its admin socket), like 'psbridge token'.
`

func runUser(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "list" && args[0] != "delete") {
		fmt.Fprint(stderr, userUsage)
		return usageErr("user needs the subcommand 'create', 'list' or 'delete'")
	}
	sub := args[0]
	fs := newFlagSet("user "+sub, stderr, userUsage)
	var id, name, role *string
	var admin *bool
	if sub == "create" {
		id = fs.String("external-id", "", "the object id (oid, else sub) of the issuer's user or service principal (required)")
		name = fs.String("name", "", "a name to recognise the user by (default: the id)")
		role = fs.String("role", "", "admin, operator or read-only (default operator, admin with --admin)")
		admin = fs.Bool("admin", false, "give the user the admin role")
	}
	cfg, rest, err := config.Load(fs, args[1:], os.Environ())
	if err != nil {
		return configErr(err)
	}
	switch {
	case sub == "delete" && len(rest) != 1:
		return usageErr("user delete needs exactly one external ID (see 'psbridge user list'), got %d", len(rest))
	case sub != "delete" && len(rest) > 0:
		return usageErr("user %s takes no arguments, got %q", sub, rest)
	case sub == "create" && *id == "":
		return usageErr("user create needs --external-id ID")
	}
	c, viaSocket := dialAdmin(cfg.DataDir)
	var st *store.Store
	if !viaSocket {
		if st, err = openStore(cfg); err != nil {
			return fmt.Errorf("%w (no server answers on %s either)", err, cfg.DataDir+"/"+adminSocketName)
		}
		defer st.Close()
	}
	switch sub {
	case "create":
		in := api.UserInput{ExternalID: *id, Name: *name, Role: *role}
		if *admin {
			in.IsAdmin = admin
		}
		var u store.User
		if viaSocket {
			err = c.do(http.MethodPost, "/api/v1/users", in, &u)
		} else {
			u, err = api.CreateUser(st, in)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "created %s user %q for the external id %s\n", u.Role, u.Name, u.ExternalID)
	case "list":
		var out struct{ Items []store.User }
		if viaSocket {
			err = c.do(http.MethodGet, "/api/v1/users", nil, &out)
		} else {
			out.Items, err = st.Users()
		}
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "EXTERNAL ID\tNAME\tROLE\tCREATED")
		for _, u := range out.Items {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.ExternalID, u.Name, u.Role, when(u.CreatedAt))
		}
		return tw.Flush()
	case "delete":
		if viaSocket {
			err = c.do(http.MethodDelete, "/api/v1/users/"+url.PathEscape(rest[0]), nil, nil)
		} else {
			err = st.DeleteUser(rest[0])
		}
		if errors.Is(err, store.ErrNotFound) {
			return &exitError{code: exitFailure, err: fmt.Errorf("no user has the external id %q (see 'psbridge user list')", rest[0])}
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "deleted the user with the external id %s\n", rest[0])
	}
	return nil
}
