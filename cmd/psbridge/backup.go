package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/psbridge/psbridge/internal/config"
)

const backupLong = `Writes a consistent copy of the database to FILE (atomically, mode 0600). Without --url it
opens the database directly (the server must be stopped), found with the same settings as
'psbridge serve' (config file, PSBRIDGE_* environment, flags); with --url it downloads
/api/v1/admin/backup from a running server. Sealed values stay sealed: keep the key file
(DATA-DIR/psbridge.db.key) in a separate, safe place; the backup is useless without it.`

func newBackupCmd() *cobra.Command {
	var url, token string
	var settings *config.Flags
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "write a consistent copy of the database",
		Long:  backupLong,
		Annotations: synopsis("psbridge backup FILE [--config FILE] [--data-dir DIR] [--key-file FILE]",
			"psbridge backup FILE --url http://HOST:PORT --token TOKEN"),
		Example: `  psbridge backup /backups/psbridge.db --data-dir /var/lib/psbridge     # server stopped
  psbridge backup /backups/psbridge-$(date +%F).db --url http://127.0.0.1:8080 --token "$PSBRIDGE_TOKEN"`,
		Args: exactlyOne("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := settings.Load(os.Environ())
			if err != nil {
				return configErr(err)
			}
			if token == "" {
				token = os.Getenv("PSBRIDGE_TOKEN")
			}
			return runBackup(cmd.Context(), cfg, url, token, args[0], cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "base URL of a running psbridge server")
	// The default is read when the command runs, so that --help never prints the token.
	cmd.Flags().StringVar(&token, "token", "", "API `TOKEN` for --url (default $PSBRIDGE_TOKEN)")
	settings = config.AddFlags(cmd.Flags(), storeSettings...)
	return cmd
}

func runBackup(ctx context.Context, cfg config.Config, url, token, out string, stdout io.Writer) error {
	if url != "" {
		n, err := downloadBackup(ctx, strings.TrimRight(url, "/")+"/api/v1/admin/backup", token, out)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "backup of %d bytes written to %s\n", n, out)
		return nil
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.BackupToFile(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup of %d bytes written to %s (key file: %s)\n", n, out, st.KeyFile())
	return nil
}

// downloadBackup fetches a backup over HTTP into a temporary file and renames it into place.
func downloadBackup(ctx context.Context, url, token, out string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, usageErr("--url: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("download backup: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("download backup: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	n, err := io.Copy(f, resp.Body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("download backup: %w", err)
	}
	if err := os.Rename(f.Name(), out); err != nil {
		return 0, err
	}
	return n, nil
}
