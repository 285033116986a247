package main

import (
	"context"
	"fmt"
	"io"
)

const tokenUsage = `Usage: psbridge token create [--name NAME] [--data-dir DIR] [--key-file FILE]

Creates an API token for the REST API and prints it once (only its SHA-256 is stored). Send it
as 'Authorization: Bearer <token>'. The server must be stopped: it holds the database lock.
`

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, tokenUsage)
		return usageErr("token needs the subcommand 'create'")
	}
	fs := newFlagSet("token create", stderr, tokenUsage)
	var data dataFlags
	data.register(fs)
	name := fs.String("name", "cli", "a name to recognise the token by")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	st, err := data.open()
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
