package web

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/psbridge/psbridge/engine/store"
)

// BenchmarkOAuthToken measures client-credentials token issuance over HTTP (secret check,
// ES256 signature, JSON): one request per iteration.
func BenchmarkOAuthToken(b *testing.B) {
	s := newServerWith(b, lazyPool(b), Options{})
	var a app
	s.must(201, "POST", "/api/v1/applications", map[string]any{"name": "bench", "admin": true}, &a)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {a.ClientID}, "client_secret": {a.ClientSecret},
		"scope": {s.http.URL + "/.default"}}.Encode()
	endpoint := s.http.URL + "/" + a.TenantID + "/oauth2/v2.0/token"
	c := s.http.Client()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := c.Post(endpoint, "application/x-www-form-urlencoded", strings.NewReader(form))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkComputersDx10000 measures GET /computers/dx over 10,000 computers with a JWT, for
// the example's e-mail filter and for a contains filter with sort and paging; it reports p50
// and p99 latency of each.
func BenchmarkComputersDx10000(b *testing.B) {
	s := newServerWith(b, lazyPool(b), Options{})
	for i := 0; i < 10000; i++ {
		c := store.Computer{Name: fmt.Sprintf("PC-%05d", i), DeviceID: fmt.Sprintf("dev-%d", i), Inventory: &store.Inventory{
			ComputerName: fmt.Sprintf("PC-%05d", i), PrimaryEmail: fmt.Sprintf("user%d@contoso.example", i),
			Serial: fmt.Sprintf("SER%d", i), OSName: "Windows 11 Pro", OSVersion: "10.0.22631"}}
		if err := s.st.CreateComputer(&c); err != nil {
			b.Fatal(err)
		}
	}
	var a app
	s.must(201, "POST", "/api/v1/applications", map[string]any{"name": "bench"}, &a)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {a.ClientID}, "client_secret": {a.ClientSecret}, "scope": {s.http.URL + "/.default"}}
	resp, err := http.PostForm(s.http.URL+"/"+a.TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		b.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	response{body: body}.decode(b, &tok)
	bc := s.withBearer(tok.AccessToken)
	queries := map[string]string{
		"email": "/api/v1/computers/dx?filter=" + url.QueryEscape("['primaryUserEmail','=','user4242@contoso.example']"),
		"contains-sort-page": "/api/v1/computers/dx?filter=" + url.QueryEscape(`[["computerName","contains","-0"],"and",["!",["serial","endswith","7"]]]`) +
			"&sort=" + url.QueryEscape(`[{"selector":"computerName","desc":true}]`) + "&skip=100&take=50&requireTotalCount=true",
	}
	lat := map[string][]time.Duration{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for name, q := range queries {
			t0 := time.Now()
			r := bc.do("GET", q, nil)
			lat[name] = append(lat[name], time.Since(t0))
			if r.status != 200 {
				b.Fatalf("%s: %d %s", name, r.status, r.body)
			}
		}
	}
	b.StopTimer()
	for name, l := range lat {
		slices.Sort(l)
		b.ReportMetric(float64(l[len(l)/2].Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(l[min(len(l)-1, len(l)*99/100)].Microseconds())/1000, name+"-p99-ms")
	}
	s.mu.Lock()
	s.bodies = nil // 10,000 computers per answer: do not keep them
	s.mu.Unlock()
}
