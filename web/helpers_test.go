package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/psbridge/psbridge"
	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

// server is a real psbridge server: real pool, real bbolt file, real HTTP on 127.0.0.1.
type server struct {
	t      testing.TB
	dbPath string
	pool   *bridge.Pool
	st     *store.Store
	eng    *engine.Engine
	http   *httptest.Server
	token  string
	opts   Options // what start passes to New

	mu     sync.Mutex
	bodies []string // every response body seen, to check for leaked secrets
}

func newServer(t testing.TB, pool *bridge.Pool) *server {
	t.Helper()
	return newServerWith(t, pool, Options{})
}

// newServerWith is newServer with Options for New.
func newServerWith(t testing.TB, pool *bridge.Pool, opts Options) *server {
	t.Helper()
	if pool == nil {
		pool = testpwsh.Pool(t, bridge.Config{MinWorkers: 2, MaxWorkers: 2})
	}
	s := &server{t: t, dbPath: filepath.Join(t.TempDir(), "psbridge.db"), pool: pool, opts: opts}
	s.start()
	tok, _, err := s.st.CreateToken("test")
	if err != nil {
		t.Fatal(err)
	}
	s.token = tok
	t.Cleanup(s.stop)
	return s
}

// start opens the store, builds an engine and serves it.
func (s *server) start() {
	s.t.Helper()
	st, err := store.Open(s.dbPath, store.Options{})
	if err != nil {
		s.t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Store: st, Pool: s.pool, HealthInterval: -1, AgentSyncTick: -1})
	if err != nil {
		s.t.Fatal(err)
	}
	s.st, s.eng = st, eng
	s.http = httptest.NewServer(New(eng, s.opts))
}

// stop closes the server, the engine and the store (not the pool).
func (s *server) stop() {
	if s.http == nil {
		return
	}
	s.http.Close()
	s.eng.Close()
	_ = s.st.Close()
	s.http = nil
}

// restart closes everything and reopens the same database file with a new engine.
func (s *server) restart() {
	s.stop()
	s.start()
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// problem decodes a problem+json body.
func (r response) problem(t testing.TB) map[string]any {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; body %s", ct, r.body)
	}
	var m map[string]any
	r.decode(t, &m)
	return m
}

// do sends a request with the bearer token; body may be nil, a string (sent raw) or a value
// (sent as JSON).
func (s *server) do(method, path string, body any, hdr ...string) response {
	s.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "application/json"
	case []byte:
		rd, ct = bytes.NewReader(b), "application/json"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd, ct = bytes.NewReader(j), "application/json"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.http.URL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := s.http.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.bodies = append(s.bodies, string(b))
	s.mu.Unlock()
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// must sends a request and fails the test unless the status is want.
func (s *server) must(want int, method, path string, body any, out any) response {
	s.t.Helper()
	r := s.do(method, path, body)
	if r.status != want {
		s.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.body)
	}
	if out != nil {
		r.decode(s.t, out)
	}
	return r
}

// all follows nextCursor and returns every item of a list.
func (s *server) all(path string, limit int) []map[string]any {
	s.t.Helper()
	var items []map[string]any
	cursor := ""
	for {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		url := path + sep + "limit=" + itoa(limit)
		if cursor != "" {
			url += "&cursor=" + cursor
		}
		var p struct {
			Items      []map[string]any `json:"items"`
			NextCursor string           `json:"nextCursor"`
		}
		s.must(200, "GET", url, nil, &p)
		if len(p.Items) > limit {
			s.t.Fatalf("%s: page of %d items, limit %d", url, len(p.Items), limit)
		}
		items = append(items, p.Items...)
		if p.NextCursor == "" {
			return items
		}
		cursor = p.NextCursor
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func example(t testing.TB, path string) string {
	t.Helper()
	b, err := psbridge.Examples.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
