package fakes1

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// get performs a GET against srv with the given auth header value ("" = none) and
// returns status and body.
func get(t *testing.T, srv *httptest.Server, path, auth string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

type errBody struct {
	Errors []struct {
		Code   int    `json:"code"`
		Detail string `json:"detail"`
		Title  string `json:"title"`
	} `json:"errors"`
}

func newTest(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	s := New(cfg)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

func TestDefaults(t *testing.T) {
	s := New(Config{})
	if got := len(s.Sites()); got != DefaultSites {
		t.Errorf("sites = %d, want %d", got, DefaultSites)
	}
	if got := len(s.Agents()); got != DefaultTotalAgents {
		t.Errorf("agents = %d, want %d", got, DefaultTotalAgents)
	}
	if s.APIToken() != DefaultAPIToken || s.AuthHeader() != "APIToken "+DefaultAPIToken {
		t.Errorf("token = %q, header = %q", s.APIToken(), s.AuthHeader())
	}
	perSite := map[string]int{}
	for _, a := range s.Agents() {
		perSite[a.SiteID]++
	}
	total := 0
	for _, site := range s.Sites() {
		if site.ActiveLicenses != perSite[site.ID] || len(s.AgentsForSite(site.ID)) != perSite[site.ID] {
			t.Errorf("site %s: activeLicenses %d, AgentsForSite %d, counted %d",
				site.ID, site.ActiveLicenses, len(s.AgentsForSite(site.ID)), perSite[site.ID])
		}
		total += perSite[site.ID]
	}
	if total != DefaultTotalAgents {
		t.Errorf("agents over sites = %d", total)
	}
}

func TestConfigSizes(t *testing.T) {
	tests := []struct {
		name              string
		cfg               Config
		wantSites, wantAg int
	}{
		{"zero", Config{}, 3, 250},
		{"agents per site", Config{Sites: 4, AgentsPerSite: 5}, 4, 20},
		{"total agents", Config{Sites: 2, TotalAgents: 7}, 2, 7},
		{"no agents", Config{TotalAgents: -1}, 3, 0},
		{"no sites", Config{Sites: -1}, 0, 0},
		{"site names", Config{SiteNames: []string{"A", " B "}}, 2, 250},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(tc.cfg)
			if len(s.Sites()) != tc.wantSites || len(s.Agents()) != tc.wantAg {
				t.Errorf("sites %d agents %d, want %d %d", len(s.Sites()), len(s.Agents()), tc.wantSites, tc.wantAg)
			}
		})
	}
	s := New(Config{SiteNames: []string{"A", " B "}, Sites: 3})
	names := []string{s.Sites()[0].Name, s.Sites()[1].Name, s.Sites()[2].Name}
	if names[0] != "A" || names[1] != " B " || names[2] != "Site 003" {
		t.Errorf("names = %q", names)
	}
}

func TestDataShape(t *testing.T) {
	s := New(Config{})
	idRe := regexp.MustCompile(`^[0-9]{19}$`)
	uuidRe := regexp.MustCompile(`^[0-9a-f]{32}$`)
	verRe := regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$`)
	for i, site := range s.Sites() {
		if !idRe.MatchString(site.ID) || site.Name == "" || site.State != "active" || site.IsDefault != (i == 0) {
			t.Errorf("bad site %+v", site)
		}
		raw, err := base64.StdEncoding.DecodeString(site.RegistrationToken)
		if err != nil {
			t.Fatalf("token %q: %v", site.RegistrationToken, err)
		}
		tok := decode[map[string]string](t, raw)
		if tok["url"] != DefaultConsoleURL || len(tok["site_key"]) != 16 {
			t.Errorf("token doc = %v", tok)
		}
	}
	uuids := map[string]bool{}
	for _, a := range s.Agents() {
		if !idRe.MatchString(a.ID) || !uuidRe.MatchString(a.UUID) || !verRe.MatchString(a.AgentVersion) ||
			a.ComputerName == "" || a.SerialNumber == "" || a.OSName == "" || a.ModelName == "" || a.LastActiveDate == "" {
			t.Errorf("bad agent %+v", a)
		}
		if _, ok := s.Site(a.SiteID); !ok {
			t.Errorf("agent %s has unknown site %s", a.ID, a.SiteID)
		}
		if uuids[a.UUID] {
			t.Errorf("duplicate uuid %s", a.UUID)
		}
		uuids[a.UUID] = true
	}
}

func TestAuthFailure(t *testing.T) {
	_, srv := newTest(t, Config{APIToken: "secret"})
	tests := []struct {
		name, path, auth string
	}{
		{"missing header", "/web/api/v2.1/system/info", ""},
		{"wrong token", "/web/api/v2.1/system/info", "APIToken nope"},
		{"wrong scheme", "/web/api/v2.1/sites", "Bearer secret"},
		{"bare token", "/web/api/v2.1/agents", "secret"},
		{"site by id", "/web/api/v2.1/sites/1000000000000000001", "APIToken secre"},
		{"unknown path", "/web/api/v2.1/nope", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(t, srv, tc.path, tc.auth)
			if status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401; body %s", status, body)
			}
			e := decode[errBody](t, body)
			if len(e.Errors) != 1 || e.Errors[0].Code != 4010010 || e.Errors[0].Title != "Authentication Failed" || e.Errors[0].Detail == "" {
				t.Errorf("body = %s", body)
			}
		})
	}
	if status, _ := get(t, srv, "/web/api/v2.1/system/info", "apitoken secret"); status != http.StatusOK {
		t.Errorf("scheme should be case-insensitive, got %d", status)
	}
}

func TestSystemInfo(t *testing.T) {
	s, srv := newTest(t, Config{})
	status, body := get(t, srv, "/web/api/v2.1/system/info", s.AuthHeader())
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	v := decode[struct{ Data SystemInfo }](t, body)
	if v.Data.LatestAgentVersion != "23.4.2.14" {
		t.Errorf("latestAgentVersion = %q", v.Data.LatestAgentVersion)
	}
}

// walk follows nextCursor from the first page of path (which already has a query string
// or none) and returns every page's raw body.
func walk(t *testing.T, srv *httptest.Server, auth, path string, query url.Values) [][]byte {
	t.Helper()
	var pages [][]byte
	for i := 0; ; i++ {
		if i > 2000 {
			t.Fatal("pagination does not terminate")
		}
		status, body := get(t, srv, path+"?"+query.Encode(), auth)
		if status != http.StatusOK {
			t.Fatalf("GET %s?%s: %d %s", path, query.Encode(), status, body)
		}
		pages = append(pages, body)
		p := decode[struct{ Pagination Pagination }](t, body).Pagination
		if p.NextCursor == nil {
			return pages
		}
		query.Set("cursor", *p.NextCursor)
	}
}

func TestAgentPagination(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		limit     string
		wantPages int
		wantSize  int // size of every page but the last
	}{
		{"module limit 100", Config{}, "100", 3, 100},
		{"default limit", Config{}, "", 25, 10},
		{"limit 1", Config{TotalAgents: 5}, "1", 5, 1},
		{"max limit", Config{}, "1000", 1, 250},
		{"exact multiple", Config{TotalAgents: 200}, "100", 2, 100},
		{"page size cap", Config{PageSizeCap: 40}, "100", 7, 40},
		{"empty", Config{TotalAgents: -1}, "100", 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, srv := newTest(t, tc.cfg)
			q := url.Values{}
			if tc.limit != "" {
				q.Set("limit", tc.limit)
			}
			pages := walk(t, srv, s.AuthHeader(), "/web/api/v2.1/agents", q)
			if len(pages) != tc.wantPages {
				t.Errorf("pages = %d, want %d", len(pages), tc.wantPages)
			}
			seen := map[string]int{}
			var order []string
			for i, body := range pages {
				r := decode[AgentsResponse](t, body)
				if r.Pagination.TotalItems != len(s.Agents()) {
					t.Errorf("totalItems = %d", r.Pagination.TotalItems)
				}
				if i < len(pages)-1 && len(r.Data) != tc.wantSize {
					t.Errorf("page %d has %d agents, want %d", i, len(r.Data), tc.wantSize)
				}
				for _, a := range r.Data {
					seen[a.UUID]++
					order = append(order, a.ID)
				}
			}
			for _, a := range s.Agents() {
				if seen[a.UUID] != 1 {
					t.Errorf("agent %s seen %d times", a.UUID, seen[a.UUID])
				}
			}
			if len(order) != len(s.Agents()) {
				t.Errorf("got %d agents, want %d", len(order), len(s.Agents()))
			}
			for i := 1; i < len(order); i++ {
				if order[i] <= order[i-1] {
					t.Errorf("not ordered by id at %d", i)
				}
			}
		})
	}
}

func TestSiteIDsFilter(t *testing.T) {
	s, srv := newTest(t, Config{})
	sites := s.Sites()
	tests := []struct {
		name    string
		siteIDs string
		want    []string
	}{
		{"one site", sites[1].ID, []string{sites[1].ID}},
		{"two sites", sites[0].ID + "," + sites[2].ID, []string{sites[0].ID, sites[2].ID}},
		{"spaces", " " + sites[2].ID + " , ", []string{sites[2].ID}},
		{"unknown", "42", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"limit": {"30"}, "siteIds": {tc.siteIDs}}
			want := map[string]bool{}
			var wantAgents []Agent
			for _, id := range tc.want {
				want[id] = true
				wantAgents = append(wantAgents, s.AgentsForSite(id)...)
			}
			got := map[string]bool{}
			n := 0
			for _, body := range walk(t, srv, s.AuthHeader(), "/web/api/v2.1/agents", q) {
				r := decode[AgentsResponse](t, body)
				if r.Pagination.TotalItems != len(wantAgents) {
					t.Errorf("totalItems = %d, want %d", r.Pagination.TotalItems, len(wantAgents))
				}
				for _, a := range r.Data {
					if !want[a.SiteID] {
						t.Errorf("agent %s from site %s leaked through filter", a.ID, a.SiteID)
					}
					if got[a.ID] {
						t.Errorf("agent %s twice", a.ID)
					}
					got[a.ID] = true
					n++
				}
			}
			if n != len(wantAgents) {
				t.Errorf("got %d agents, want %d", n, len(wantAgents))
			}
		})
	}
}

func TestAgentNameFilter(t *testing.T) {
	s, srv := newTest(t, Config{})
	a := s.Agents()[17]
	for _, param := range []string{"computerName", "name"} {
		status, body := get(t, srv, "/web/api/v2.1/agents?"+param+"="+url.QueryEscape(strings.ToLower(a.ComputerName)), s.AuthHeader())
		if status != http.StatusOK {
			t.Fatalf("%s: %d %s", param, status, body)
		}
		r := decode[AgentsResponse](t, body)
		if len(r.Data) != 1 || r.Data[0].UUID != a.UUID {
			t.Errorf("%s filter returned %d agents", param, len(r.Data))
		}
	}
}

func TestSites(t *testing.T) {
	s, srv := newTest(t, Config{Sites: 5, SiteNames: []string{"Default site", "Contoso  "}})
	// Pagination over sites, one per page.
	var got []Site
	for _, body := range walk(t, srv, s.AuthHeader(), "/web/api/v2.1/sites", url.Values{"limit": {"2"}}) {
		r := decode[SitesResponse](t, body)
		if r.Pagination.TotalItems != 5 || r.Data.AllSites.ActiveLicenses != 250 {
			t.Errorf("pagination %+v allSites %+v", r.Pagination, r.Data.AllSites)
		}
		got = append(got, r.Data.Sites...)
	}
	if len(got) != 5 {
		t.Fatalf("got %d sites", len(got))
	}
	for i, site := range s.Sites() {
		if got[i] != site {
			t.Errorf("site %d = %+v, want %+v", i, got[i], site)
		}
	}
	// name filter: exact, case-insensitive, whitespace significant.
	tests := []struct {
		name string
		want int
	}{{"contoso  ", 1}, {"Contoso", 0}, {"Site 003", 1}, {"nope", 0}}
	for _, tc := range tests {
		status, body := get(t, srv, "/web/api/v2.1/sites?limit=100&name="+url.QueryEscape(tc.name), s.AuthHeader())
		if status != http.StatusOK {
			t.Fatalf("%d %s", status, body)
		}
		if n := len(decode[SitesResponse](t, body).Data.Sites); n != tc.want {
			t.Errorf("name=%q: %d sites, want %d", tc.name, n, tc.want)
		}
	}
}

func TestSiteByID(t *testing.T) {
	s, srv := newTest(t, Config{})
	tests := []struct {
		name, id   string
		wantStatus int
	}{
		{"first", s.Sites()[0].ID, 200},
		{"last", s.Sites()[2].ID, 200},
		{"unknown", "1000000000000000999", 404},
		{"not numeric", "abc", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(t, srv, "/web/api/v2.1/sites/"+tc.id, s.AuthHeader())
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tc.wantStatus, body)
			}
			if status == 200 {
				want, _ := s.Site(tc.id)
				if got := decode[struct{ Data Site }](t, body).Data; got != want {
					t.Errorf("got %+v, want %+v", got, want)
				}
				return
			}
			e := decode[errBody](t, body)
			if len(e.Errors) != 1 || e.Errors[0].Code != 4040010 || !strings.Contains(e.Errors[0].Detail, tc.id) {
				t.Errorf("body = %s", body)
			}
		})
	}
}

func TestLimitAndCursorValidation(t *testing.T) {
	s, srv := newTest(t, Config{})
	agentsPage := decode[AgentsResponse](t, func() []byte {
		_, b := get(t, srv, "/web/api/v2.1/agents?limit=5", s.AuthHeader())
		return b
	}())
	agentCursor := *agentsPage.Pagination.NextCursor
	tests := []struct {
		name, path string
		wantStatus int
		wantLen    int
	}{
		{"no limit", "/web/api/v2.1/agents", 200, 10},
		{"limit 7", "/web/api/v2.1/agents?limit=7", 200, 7},
		{"limit 1000", "/web/api/v2.1/agents?limit=1000", 200, 250},
		{"limit 0", "/web/api/v2.1/agents?limit=0", 400, 0},
		{"limit -1", "/web/api/v2.1/sites?limit=-1", 400, 0},
		{"limit 1001", "/web/api/v2.1/agents?limit=1001", 400, 0},
		{"limit text", "/web/api/v2.1/agents?limit=ten", 400, 0},
		{"bad cursor", "/web/api/v2.1/agents?cursor=%21%21", 400, 0},
		{"agents cursor on sites", "/web/api/v2.1/sites?cursor=" + agentCursor, 400, 0},
		{"agents cursor", "/web/api/v2.1/agents?limit=5&cursor=" + agentCursor, 200, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(t, srv, tc.path, s.AuthHeader())
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tc.wantStatus, body)
			}
			if status == 400 {
				if e := decode[errBody](t, body); len(e.Errors) != 1 || e.Errors[0].Title != "Validation Error" {
					t.Errorf("body = %s", body)
				}
				return
			}
			if n := len(decode[AgentsResponse](t, body).Data); n != tc.wantLen {
				t.Errorf("len = %d, want %d", n, tc.wantLen)
			}
		})
	}
	// The page after the cursor continues where the first page stopped.
	_, body := get(t, srv, "/web/api/v2.1/agents?limit=5&cursor="+agentCursor, s.AuthHeader())
	if got := decode[AgentsResponse](t, body).Data[0].ID; got != s.Agents()[5].ID {
		t.Errorf("second page starts at %s, want %s", got, s.Agents()[5].ID)
	}
}

func TestNotFoundAndMethod(t *testing.T) {
	s, srv := newTest(t, Config{})
	if status, _ := get(t, srv, "/web/api/v2.1/accounts", s.AuthHeader()); status != 404 {
		t.Errorf("unknown endpoint status %d", status)
	}
	if status, _ := get(t, srv, "/api/sites", s.AuthHeader()); status != 404 {
		t.Errorf("outside base path status %d", status)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/web/api/v2.1/sites", strings.NewReader("{}"))
	req.Header.Set("Authorization", s.AuthHeader())
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST status %d", resp.StatusCode)
	}
}

func TestRequestCounts(t *testing.T) {
	s, srv := newTest(t, Config{})
	get(t, srv, "/web/api/v2.1/system/info", s.AuthHeader())
	get(t, srv, "/web/api/v2.1/system/info", "")
	walk(t, srv, s.AuthHeader(), "/web/api/v2.1/agents", url.Values{"limit": {"100"}})
	get(t, srv, "/web/api/v2.1/sites", s.AuthHeader())
	get(t, srv, "/web/api/v2.1/sites/"+s.Sites()[0].ID, s.AuthHeader())
	get(t, srv, "/web/api/v2.1/x", s.AuthHeader())
	want := map[string]int{EndpointSystemInfo: 2, EndpointAgents: 3, EndpointSites: 1, EndpointSite: 1, EndpointUnknown: 1}
	for k, v := range want {
		if got := s.RequestCount(k); got != v {
			t.Errorf("RequestCount(%q) = %d, want %d", k, got, v)
		}
	}
	if got := s.RequestCounts(); len(got) != len(want) {
		t.Errorf("RequestCounts = %v", got)
	}
	if s.UnauthorizedCount() != 1 {
		t.Errorf("UnauthorizedCount = %d", s.UnauthorizedCount())
	}
	s.ResetRequestCounts()
	if len(s.RequestCounts()) != 0 || s.UnauthorizedCount() != 0 {
		t.Error("reset did not clear counters")
	}
}

func TestDeterministic(t *testing.T) {
	cfg := Config{Sites: 4, TotalAgents: 33}
	s1, srv1 := newTest(t, cfg)
	_, srv2 := newTest(t, cfg)
	for _, p := range []string{"/web/api/v2.1/sites?limit=3", "/web/api/v2.1/agents?limit=1000", "/web/api/v2.1/agents?limit=4&siteIds=" + s1.Sites()[1].ID} {
		_, b1 := get(t, srv1, p, s1.AuthHeader())
		_, b2 := get(t, srv2, p, s1.AuthHeader())
		if !bytes.Equal(b1, b2) {
			t.Errorf("%s differs between identical servers", p)
		}
	}
}

func TestLatency(t *testing.T) {
	s, srv := newTest(t, Config{Latency: 30 * time.Millisecond})
	start := time.Now()
	if status, _ := get(t, srv, "/web/api/v2.1/system/info", s.AuthHeader()); status != 200 {
		t.Fatalf("status %d", status)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("response after %v, want >= 30ms", d)
	}
}
