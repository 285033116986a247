package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/psbridge/psbridge/internal/config"
)

const keyLong = `Re-encrypts every secret in the database (the [Password()] values and each integration's
saved $IntegrationContext) under a new random key, in one transaction. The server must be
stopped: it holds the database lock.

With a key file (the default, DATA-DIR/psbridge.db.key) the new key replaces the file; a crash
part-way leaves either the old key and old data, or the new key in KEY-FILE.new, which the next
start picks up. With --key / PSBRIDGE_KEY the new key is printed once on stdout: store it where
the old one was before you start the server again, because the old key no longer opens the
database.`

func newKeyCmd() *cobra.Command {
	const syn = "psbridge key rotate [--config FILE] [--data-dir DIR] [--key-file FILE | --key HEX]"
	var settings *config.Flags
	rotate := &cobra.Command{
		Use:         "rotate",
		Short:       "re-encrypt every stored secret under a new key (server stopped)",
		Long:        keyLong,
		Annotations: synopsis(syn),
		Example: `  psbridge key rotate --data-dir /var/lib/psbridge
  PSBRIDGE_KEY=$OLD_KEY psbridge key rotate --data-dir /var/lib/psbridge   # prints the new key`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := settings.Load(os.Environ())
			if err != nil {
				return configErr(err)
			}
			return runKeyRotate(cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	settings = config.AddFlags(rotate.Flags(), storeSettings...)
	key := parentCmd("key", "re-encrypt every stored secret under a new key", "'rotate'", rotate)
	key.Long = keyLong
	key.Annotations = synopsis(syn)
	return key
}

func runKeyRotate(cfg config.Config, stdout, stderr io.Writer) error {
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	newKey := make([]byte, 32)
	if _, err := rand.Read(newKey); err != nil {
		return fmt.Errorf("key rotate: new key: %w", err)
	}
	if err := st.RotateKey(newKey); err != nil {
		return &exitError{code: exitEnv, err: err}
	}
	if cfg.Key != "" {
		fmt.Fprintln(stdout, hex.EncodeToString(newKey))
		fmt.Fprintln(stderr, "rotated: the secrets are sealed under the key printed above; set it as PSBRIDGE_KEY (or key:) before the next start")
		return nil
	}
	fmt.Fprintf(stderr, "rotated: the secrets are sealed under the new key in %s; back that file up again\n", cfg.KeyFilePath())
	return nil
}
