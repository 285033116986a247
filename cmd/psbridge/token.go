package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/psbridge/psbridge/internal/config"
)

const tokenUsage = `Usage: psbridge token create [--name NAME] [--config FILE] [--data-dir DIR] [--key-file FILE]

Creates an API token for the REST API and prints it once (only its SHA-256 is stored). Send it
as 'Authorization: Bearer <token>'. The server must be stopped: it holds the database lock.
The database is found with the same settings as 'psbridge serve' (config file, PSBRIDGE_*
environment, flags), so PSBRIDGE_DATA_DIR or --data-dir points both at the same data.
`

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, tokenUsage)
		return usageErr("token needs the subcommand 'create'")
	}
	fs := newFlagSet("token create", stderr, tokenUsage)
	name := fs.String("name", "cli", "a name to recognise the token by")
	cfg, rest, err := config.Load(fs, args[1:], os.Environ())
	if err != nil {
		return configErr(err)
	}
	if len(rest) > 0 {
		return usageErr("token create takes no arguments, got %q", rest)
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	tok, rec, err := st.CreateToken(*name)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	fmt.Fprintf(stderr, "created API token %q (id %s); it is shown only now\n", rec.Name, rec.ID)
	return nil
}
