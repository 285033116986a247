package web

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/psbridge/psbridge/web/plugin"
)

const hookScript = `$Integration = New-DynamicIntegration -Init { [OpResult]::Ok() } -HealthCheck { New-HealthyResult }
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsHttpRequest -HandleHttpRequest {
    param([Parameter(Mandatory)][Microsoft.AspNetCore.Http.HttpContext]$httpContext, $body, [Parameter(Mandatory)]$route)
    [ObjectResult]::new(@{ route = $route })
}
$Integration
`

// hookInstances creates n integrations running hookScript and returns their ids.
func hookInstances(s *server, n int) []int64 {
	s.t.Helper()
	var typ struct{ ID string }
	s.must(201, "POST", "/api/v1/integration-types", map[string]any{"name": "Hook", "script": hookScript}, &typ)
	var ids []int64
	for i := range n {
		var inst struct{ ID int64 }
		s.must(201, "POST", "/api/v1/integrations", map[string]any{"name": fmt.Sprintf("h%d", i), "typeId": typ.ID}, &inst)
		ids = append(ids, inst.ID)
	}
	return ids
}

// hook sends an unauthenticated plugin request with extra headers.
func (s *server) hook(id int64, body string, hdr ...string) response {
	s.t.Helper()
	return s.do("POST", fmt.Sprintf("/plugins/api/v1/%d/r", id), body, append([]string{"Authorization", ""}, hdr...)...)
}

// calls is how many calls the pool has run and how many the call log holds for id.
func (s *server) calls(id int64) (int64, int) {
	s.t.Helper()
	log, err := s.st.Calls(id, 100000, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.pool.Stats().Calls, len(log)
}

func TestWebhookRateLimit(t *testing.T) {
	t.Run("onset and Retry-After", func(t *testing.T) {
		// One request per 100 s after a burst of 3: the 4th request is refused whatever the
		// machine's speed.
		s := newServerWith(t, nil, Options{Webhook: plugin.Options{Rate: 0.01, Burst: 3}})
		ids := hookInstances(s, 2)
		for i := range 3 {
			if r := s.hook(ids[0], `{}`); r.status != 200 {
				t.Fatalf("request %d: status %d: %s", i+1, r.status, r.body)
			}
		}
		poolBefore, logBefore := s.calls(ids[0])
		r := s.hook(ids[0], `{}`)
		if r.status != http.StatusTooManyRequests {
			t.Fatalf("4th request: status %d: %s", r.status, r.body)
		}
		ra, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 100 {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
		p := r.problem(t)
		if p["type"] != "urn:psbridge:problem:rate-limited" || p["status"] != 429.0 {
			t.Fatalf("problem %v", p)
		}
		if pool, log := s.calls(ids[0]); pool != poolBefore || log != logBefore {
			t.Fatalf("a refused request ran the script: pool calls %d→%d, call log %d→%d", poolBefore, pool, logBefore, log)
		}
		// The budget is per integration.
		if r := s.hook(ids[1], `{}`); r.status != 200 {
			t.Fatalf("other integration: status %d: %s", r.status, r.body)
		}
	})
	t.Run("defaults under a burst", func(t *testing.T) {
		// 100 requests at once with the defaults (10/s, burst 20): about the first 20 run,
		// the rest get 429 at once.
		s := newServer(t, nil)
		id := hookInstances(s, 1)[0]
		const n = 100
		var wg sync.WaitGroup
		var mu sync.Mutex
		counts := map[int]int{}
		start := make(chan struct{})
		for range n {
			wg.Go(func() {
				<-start
				r := s.hook(id, `{}`)
				mu.Lock()
				counts[r.status]++
				mu.Unlock()
			})
		}
		close(start)
		wg.Wait()
		t.Logf("%d concurrent webhook requests with the defaults (rate %d/s, burst %d): %d ran (200), %d refused (429)",
			n, plugin.DefaultRate, plugin.DefaultBurst, counts[200], counts[429])
		if counts[200]+counts[429] != n || counts[200] < plugin.DefaultBurst || counts[429] == 0 {
			t.Fatalf("statuses %v", counts)
		}
	})
}

// TestWebhookUnsignedRunsNothing: with a webhook secret set, unsigned and wrongly signed
// requests get 401 and never reach pwsh, nor spend the integration's rate budget.
func TestWebhookUnsignedRunsNothing(t *testing.T) {
	s := newServer(t, nil)
	id := hookInstances(s, 1)[0]
	const secret = "a-webhook-secret-of-some-length"
	s.must(200, "PUT", fmt.Sprintf("/api/v1/integrations/%d/webhook-secret", id), map[string]any{"secret": secret}, nil)
	sign := func(key, body string) string {
		m := hmac.New(sha256.New, []byte(key))
		m.Write([]byte(body))
		return "sha256=" + hex.EncodeToString(m.Sum(nil))
	}
	poolBefore, logBefore := s.calls(id)
	bad := [][]string{
		nil,
		{plugin.SecretHeader, "wrong-secret"},
		{plugin.SecretHeader, secret + "x"},
		{plugin.SignatureHeader, sign("wrong key", `{"n":1}`)},
		{plugin.SignatureHeader, sign(secret, `{"n":2}`)}, // signature of another body
		{plugin.SignatureHeader, "sha256=zz"},
		{plugin.SignatureHeader, strings.TrimPrefix(sign(secret, `{"n":1}`), "sha256=")},
	}
	const rounds = 40 // 280 requests, far above the burst of 20
	for i := range rounds {
		for _, h := range bad {
			if r := s.hook(id, `{"n":1}`, h...); r.status != http.StatusUnauthorized {
				t.Fatalf("round %d, headers %v: status %d: %s", i, h, r.status, r.body)
			}
		}
	}
	if pool, log := s.calls(id); pool != poolBefore || log != logBefore {
		t.Fatalf("unauthenticated requests ran script work: pool calls %d→%d, call log %d→%d", poolBefore, pool, logBefore, log)
	}
	for _, h := range [][]string{{plugin.SecretHeader, secret}, {plugin.SignatureHeader, sign(secret, `{"n":1}`)}} {
		if r := s.hook(id, `{"n":1}`, h...); r.status != 200 {
			t.Fatalf("authentic request %v: status %d: %s", h, r.status, r.body)
		}
	}
	if pool, _ := s.calls(id); pool != poolBefore+2 {
		t.Fatalf("pool calls %d→%d, want 2 more", poolBefore, pool)
	}
}

// TestWebhookSlowBodyCut: a body that stops arriving is cut at the body deadline with 408,
// and nothing runs.
func TestWebhookSlowBodyCut(t *testing.T) {
	s := newServerWith(t, nil, Options{Webhook: plugin.Options{BodyTimeout: 300 * time.Millisecond}})
	id := hookInstances(s, 1)[0]
	poolBefore, logBefore := s.calls(id)
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute)) // bounds the test only
	fmt.Fprintf(conn, "POST /plugins/api/v1/%d/slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"a\":", id)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the test's own deadline: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "urn:psbridge:problem:body-timeout") {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if pool, log := s.calls(id); pool != poolBefore || log != logBefore {
		t.Fatalf("a cut request ran the script: pool calls %d→%d, call log %d→%d", poolBefore, pool, logBefore, log)
	}
	// A body that arrives in time still works.
	if r := s.hook(id, `{"a":1}`); r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
}
