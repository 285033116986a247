package main

// The admin socket lets 'psbridge token' manage tokens while 'psbridge serve' holds the
// database's file lock: serve listens on DATA-DIR/admin.sock (mode 0600) and requires the
// random secret it writes to DATA-DIR/admin.secret (mode 0600) at every start. Only the user
// that runs the server (and root) can read the secret or connect; pwsh workers are to be
// sandboxed out of the data directory.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/web/api"
)

// Files of the admin socket in the data directory.
const (
	adminSocketName = "admin.sock"
	adminSecretName = "admin.secret"
)

// adminSocket is the running admin listener.
type adminSocket struct {
	srv        *http.Server
	sock, secr string
	done       chan struct{}
}

// startAdminSocket writes a new admin secret and serves token management on the socket.
func startAdminSocket(dataDir string, st *store.Store, log *zerolog.Logger) (*adminSocket, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	secret := base64.RawURLEncoding.EncodeToString(b)
	a := &adminSocket{sock: filepath.Join(dataDir, adminSocketName), secr: filepath.Join(dataDir, adminSecretName), done: make(chan struct{})}
	if err := writeSecretFile(a.secr, secret); err != nil {
		return nil, fmt.Errorf("admin secret: %w", err)
	}
	// A socket file left by a server that died is stale: this process holds the database lock,
	// so no other server is using it.
	if err := os.Remove(a.sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	ln, err := net.Listen("unix", a.sock)
	if err != nil {
		_ = os.Remove(a.secr)
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	// Windows keeps no permission bits on a socket (its ACL comes from the data directory);
	// the secret file guards the API there as here.
	if err := os.Chmod(a.sock, 0o600); err != nil && runtime.GOOS != "windows" {
		ln.Close()
		_ = os.Remove(a.secr)
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	a.srv = &http.Server{Handler: api.AdminHandler(st, secret, log), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(a.done)
		_ = a.srv.Serve(ln)
	}()
	return a, nil
}

// Close stops the listener and removes the socket and the secret.
func (a *adminSocket) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.srv.Shutdown(ctx)
	<-a.done
	_ = os.Remove(a.sock)
	_ = os.Remove(a.secr)
}

// writeSecretFile writes value to path with mode 0600 atomically.
func writeSecretFile(path, value string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(value + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// adminClient talks to a running server's admin socket.
type adminClient struct {
	secret string
	http   *http.Client
}

// dialAdmin returns a client of the admin socket in dataDir when a server answers there.
func dialAdmin(dataDir string) (*adminClient, bool) {
	sock := filepath.Join(dataDir, adminSocketName)
	c, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		return nil, false
	}
	c.Close()
	b, err := os.ReadFile(filepath.Join(dataDir, adminSecretName))
	if err != nil {
		return nil, false
	}
	return &adminClient{secret: strings.TrimSpace(string(b)), http: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
	}}, true
}

// do sends a request to the socket and decodes a 2xx JSON answer into out.
func (c *adminClient) do(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, "http://psbridge"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set(api.AdminSecretHeader, c.secret)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var p struct{ Detail, Title string }
		if json.Unmarshal(b, &p) == nil && p.Detail != "" {
			if resp.StatusCode == http.StatusNotFound {
				return fmt.Errorf("%s: %w", p.Detail, store.ErrNotFound)
			}
			return errors.New(p.Detail)
		}
		return fmt.Errorf("admin socket: %s", resp.Status)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (c *adminClient) tokens() ([]store.APIToken, error) {
	var all []store.APIToken
	cursor := ""
	for {
		path := "/api/v1/tokens?limit=1000"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var p struct {
			Items      []store.APIToken `json:"items"`
			NextCursor string           `json:"nextCursor"`
		}
		if err := c.do(http.MethodGet, path, nil, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Items...)
		if p.NextCursor == "" {
			return all, nil
		}
		cursor = p.NextCursor
	}
}

func (c *adminClient) createToken(name, role string) (string, store.APIToken, error) {
	var out api.CreatedToken
	if err := c.do(http.MethodPost, "/api/v1/tokens", api.TokenInput{Name: name, Role: role}, &out); err != nil {
		return "", store.APIToken{}, err
	}
	return out.Token, out.APIToken, nil
}

func (c *adminClient) deleteToken(id string) error {
	return c.do(http.MethodDelete, "/api/v1/tokens/"+id, nil, nil)
}
