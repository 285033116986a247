package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/config"
	"github.com/psbridge/psbridge/web/api"
)

const userLong = `Manages the users an external OIDC issuer's tokens map to (auth.oidc.issuer; docs/inbound.md).
ID is the object id the tokens carry: Entra's oid claim (for an ImmyBot-style inbound app, the
object id of its enterprise application, ImmyBot's "AD External ID"), else the sub claim.
ROLE is admin, operator (the default) or read-only; --admin is ImmyBot's Admin box. 'delete'
makes the issuer's tokens for ID be refused from the next request on. Works with the server
stopped (the database) or running (its admin socket), like 'psbridge token'.`

func newUserCmd() *cobra.Command {
	const synopsisCreate = "psbridge user create --external-id ID [--name NAME] [--role ROLE | --admin] [--config FILE] [--data-dir DIR]"
	const synopsisList = "psbridge user list [--config FILE] [--data-dir DIR]"
	const synopsisDelete = "psbridge user delete ID [--config FILE] [--data-dir DIR]"
	var o userOptions
	create := &cobra.Command{
		Use:         "create",
		Short:       "map an external issuer's object id to a psbridge user",
		Long:        userLong,
		Annotations: synopsis(synopsisCreate),
		Example: `  psbridge user create --external-id 6f1c2f0e-6a55-4a39-9f0e-2b8a1d1c7e42 --name inbound --admin
  psbridge user create --external-id 0a1b2c3d-0000-4000-8000-000000000001 --role read-only`,
		Args: noArgs,
	}
	create.Flags().StringVar(&o.id, "external-id", "", "the object id (oid, else sub) of the issuer's user or service principal (required)")
	create.Flags().StringVar(&o.name, "name", "", "a name to recognise the user by (default: the id)")
	create.Flags().StringVar(&o.role, "role", "", "admin, operator or read-only (default operator, admin with --admin)")
	create.Flags().BoolVar(&o.admin, "admin", false, "give the user the admin role")
	list := &cobra.Command{
		Use:         "list",
		Short:       "list the users of the external issuer",
		Long:        userLong,
		Annotations: synopsis(synopsisList),
		Example:     "  psbridge user list --data-dir /var/lib/psbridge",
		Args:        noArgs,
	}
	del := &cobra.Command{
		Use:         "delete ID",
		Short:       "delete a user: the issuer's tokens for ID are refused from the next request on",
		Long:        userLong,
		Annotations: synopsis(synopsisDelete),
		Example:     "  psbridge user delete 6f1c2f0e-6a55-4a39-9f0e-2b8a1d1c7e42  # an id from 'psbridge user list'",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr("user delete needs exactly one external ID (see 'psbridge user list'), got %d", len(args))
			}
			return nil
		},
	}
	for _, c := range []*cobra.Command{create, list, del} {
		settings := config.AddFlags(c.Flags(), storeSettings...)
		c.RunE = func(cmd *cobra.Command, args []string) error {
			cfg, err := settings.Load(os.Environ())
			if err != nil {
				return configErr(err)
			}
			return runUser(cfg, cmd.Name(), o, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		}
	}
	u := parentCmd("user", "create, list or delete users of an external OIDC issuer (also while serve runs)", "'create', 'list' or 'delete'", create, list, del)
	u.Long = userLong
	u.Annotations = synopsis(synopsisCreate, synopsisList, synopsisDelete)
	return u
}

// userOptions are user create's flags.
type userOptions struct {
	id, name, role string
	admin          bool
}

// runUser runs the user subcommand sub with the parsed flags; rest holds delete's ID.
func runUser(cfg config.Config, sub string, o userOptions, rest []string, stdout, stderr io.Writer) (err error) {
	if sub == "create" && o.id == "" {
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
		in := api.UserInput{ExternalID: o.id, Name: o.name, Role: o.role}
		if o.admin {
			in.IsAdmin = &o.admin
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
