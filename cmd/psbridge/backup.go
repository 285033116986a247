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

	"github.com/psbridge/psbridge/internal/config"
)

const backupUsage = `Usage: psbridge backup FILE [--config FILE] [--data-dir DIR] [--key-file FILE]
       psbridge backup FILE --url http://HOST:PORT --token TOKEN

Writes a consistent copy of the database to FILE (atomically, mode 0600). Without --url it
opens the database directly (the server must be stopped), found with the same settings as
'psbridge serve' (config file, PSBRIDGE_* environment, flags); with --url it downloads
/api/v1/admin/backup from a running server. Sealed values stay sealed: keep the key file
(DATA-DIR/psbridge.db.key) in a separate, safe place; the backup is useless without it.
`

func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backup", stderr, backupUsage)
	url := fs.String("url", "", "base URL of a running psbridge server")
	token := fs.String("token", os.Getenv("PSBRIDGE_TOKEN"), "API token for --url (env PSBRIDGE_TOKEN)")
	cfg, positional, err := config.Load(fs, args, os.Environ())
	if err != nil {
		return configErr(err)
	}
	if len(positional) != 1 {
		fs.Usage()
		return usageErr("backup needs exactly one FILE, got %d", len(positional))
	}
	out := positional[0]
	if *url != "" {
		n, err := downloadBackup(ctx, strings.TrimRight(*url, "/")+"/api/v1/admin/backup", *token, out)
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
