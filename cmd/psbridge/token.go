package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/config"
)

const tokenLong = `Manages API tokens for the REST API and the pages. 'create' prints a new token once (only its
SHA-256 is stored); send it as 'Authorization: Bearer <token>'. ROLE is admin (the default:
everything), operator (everything but token management and the console) or read-only (GET
requests and the pages, no changes). 'list' shows every token's id, name, role and use, never
the token itself; 'revoke' deletes one at once (its page sessions end too).

They work whether or not the server runs: with the server stopped they open the database
directly; while 'psbridge serve' holds it they go through the server's admin socket
(DATA-DIR/admin.sock, authenticated by DATA-DIR/admin.secret, both readable only by the user
running the server). The data directory is found with the same settings as 'psbridge serve'
(config file, PSBRIDGE_* environment, flags), so PSBRIDGE_DATA_DIR or --data-dir points both
at the same data.`

// storeSettings are the settings of commands that open the database (token, backup, key
// rotate, app create, enrollment-key create); their help lists only these.
var storeSettings = []string{"data-dir", "key-file", "key"}

// tokenStore is what the token commands need: the database or a running server's socket.
type tokenStore interface {
	tokens() ([]store.APIToken, error)
	createToken(name, role string) (string, store.APIToken, error)
	deleteToken(id string) error
}

// directStore adapts an open database.
type directStore struct{ st *store.Store }

func (d directStore) tokens() ([]store.APIToken, error) { return d.st.Tokens() }
func (d directStore) createToken(name, role string) (string, store.APIToken, error) {
	return d.st.CreateTokenWithRole(name, role)
}
func (d directStore) deleteToken(id string) error { return d.st.DeleteToken(id) }

// openTokens uses a running server's admin socket when one answers, the database otherwise.
func openTokens(cfg config.Config) (tokenStore, func(), error) {
	if c, ok := dialAdmin(cfg.DataDir); ok {
		return c, func() {}, nil
	}
	st, err := openStore(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (no server answers on %s either)", err, cfg.DataDir+"/"+adminSocketName)
	}
	return directStore{st}, func() { st.Close() }, nil
}

func newTokenCmd() *cobra.Command {
	const synopsisCreate = "psbridge token create [--name NAME] [--role ROLE] [--config FILE] [--data-dir DIR] [--key-file FILE]"
	const synopsisList = "psbridge token list [--config FILE] [--data-dir DIR]"
	const synopsisRevoke = "psbridge token revoke ID [--config FILE] [--data-dir DIR]"
	var name, role string
	create := &cobra.Command{
		Use:         "create",
		Short:       "create an API token and print it once",
		Long:        tokenLong,
		Annotations: synopsis(synopsisCreate),
		Example: `  psbridge token create --name ci --role operator
  TOKEN=$(psbridge token create --name admin --data-dir /var/lib/psbridge)`,
		Args: noArgs,
	}
	create.Flags().StringVar(&name, "name", "cli", "a name to recognise the token by")
	create.Flags().StringVar(&role, "role", store.RoleAdmin, "admin, operator or read-only")
	list := &cobra.Command{
		Use:         "list",
		Short:       "list every API token (never the token itself)",
		Long:        tokenLong,
		Annotations: synopsis(synopsisList),
		Example:     "  psbridge token list --data-dir /var/lib/psbridge",
		Args:        noArgs,
	}
	revoke := &cobra.Command{
		Use:         "revoke ID",
		Short:       "delete an API token at once (its page sessions end too)",
		Long:        tokenLong,
		Annotations: synopsis(synopsisRevoke),
		Example:     "  psbridge token revoke 3f2a9c  # an ID from 'psbridge token list'",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr("token revoke needs exactly one token ID (see 'psbridge token list'), got %d", len(args))
			}
			return nil
		},
	}
	for _, c := range []*cobra.Command{create, list, revoke} {
		settings := config.AddFlags(c.Flags(), storeSettings...)
		c.RunE = func(cmd *cobra.Command, args []string) error {
			cfg, err := settings.Load(os.Environ())
			if err != nil {
				return configErr(err)
			}
			return runToken(cfg, cmd.Name(), name, role, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		}
	}
	tok := parentCmd("token", "create, list or revoke API tokens (also while serve runs)", "'create', 'list' or 'revoke'", create, list, revoke)
	tok.Long = tokenLong
	tok.Annotations = synopsis(synopsisCreate, synopsisList, synopsisRevoke)
	return tok
}

// runToken runs the token subcommand sub with the parsed flags.
func runToken(cfg config.Config, sub, name, role string, rest []string, stdout, stderr io.Writer) error {
	if sub == "create" && !store.ValidRole(role) {
		return usageErr("--role must be admin, operator or read-only, not %q", role)
	}
	ts, done, err := openTokens(cfg)
	if err != nil {
		return err
	}
	defer done()
	switch sub {
	case "create":
		tok, rec, err := ts.createToken(name, role)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, tok)
		fmt.Fprintf(stderr, "created %s API token %q (id %s); it is shown only now\n", rec.Role, rec.Name, rec.ID)
	case "list":
		toks, err := ts.tokens()
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED\tLAST USED")
		for _, t := range toks {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, when(t.CreatedAt), when(t.LastUsed))
		}
		return tw.Flush()
	case "revoke":
		if err := ts.deleteToken(rest[0]); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return &exitError{code: exitFailure, err: fmt.Errorf("no API token has the id %q (see 'psbridge token list')", rest[0])}
			}
			return err
		}
		fmt.Fprintf(stderr, "revoked API token %s\n", rest[0])
	}
	return nil
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
