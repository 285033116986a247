// Package fakes1 is a small, deterministic fake of the SentinelOne management API
// (base path /web/api/v2.1/), covering the endpoints that the SentinelOne module from
// ImmyBot's "Build Your Own Integrations" page uses (testdata/modules/SentinelOne.psm1):
//
//	GET system/info   -> {"data":{"latestAgentVersion":…}}
//	GET sites         -> {"data":{"allSites":{…},"sites":[…]},"pagination":{…}}
//	GET sites/{id}    -> {"data":site}
//	GET agents        -> {"data":[agent…],"pagination":{…}}
//
// Every request must carry "Authorization: APIToken <token>"; anything else gets HTTP 401
// with an S1-style error body. List endpoints honour limit (default 10, 1..1000) and page
// with an opaque cursor returned in pagination.nextCursor (null on the last page).
//
// The data set is generated from the Config alone (no randomness), so two servers built
// from the same Config serve byte-identical responses. Server implements http.Handler;
// callers mount it with httptest.NewServer or an http.Server.
package fakes1

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// BasePath is the URL path prefix of every API endpoint served by the fake.
const BasePath = "/web/api/v2.1/"

// Defaults applied by New to zero-valued Config fields.
const (
	// DefaultAPIToken is the API token accepted when Config.APIToken is empty.
	DefaultAPIToken = "psbridge-fake-s1-token"
	// DefaultSites is the number of sites generated when Config.Sites is 0.
	DefaultSites = 3
	// DefaultTotalAgents is the number of agents generated when neither
	// Config.AgentsPerSite nor Config.TotalAgents is set.
	DefaultTotalAgents = 250
	// DefaultLimit is the page size used when a list request has no limit parameter
	// (SentinelOne's own default).
	DefaultLimit = 10
	// MaxLimit is the largest limit SentinelOne accepts; larger values get HTTP 400.
	MaxLimit = 1000
	// DefaultLatestAgentVersion is system/info's latestAgentVersion when
	// Config.LatestAgentVersion is empty.
	DefaultLatestAgentVersion = "23.4.2.14"
	// DefaultAccountName is the account every generated site and agent belongs to.
	DefaultAccountName = "psbridge Test Account"
	// DefaultConsoleURL is the management console URL embedded in site registration tokens.
	DefaultConsoleURL = "https://usea1-psbridge.sentinelone.net"
)

// Endpoint names used as keys by RequestCount and RequestCounts.
const (
	// EndpointSystemInfo counts GET system/info.
	EndpointSystemInfo = "system/info"
	// EndpointSites counts GET sites.
	EndpointSites = "sites"
	// EndpointSite counts GET sites/{id}.
	EndpointSite = "sites/{id}"
	// EndpointAgents counts GET agents.
	EndpointAgents = "agents"
	// EndpointUnknown counts requests to any other path.
	EndpointUnknown = "unknown"
)

// Error codes and titles used in S1-style error bodies.
const (
	codeAuthFailed = 4010010
	codeValidation = 4000010
	codeNotFound   = 4040010
	codeMethod     = 4050010
)

// Config describes the fake's data set and behaviour. The zero value is valid and gives
// the default data set: 3 sites, 250 agents spread round-robin over them.
type Config struct {
	// APIToken is the only token accepted in "Authorization: APIToken <token>".
	// Empty means DefaultAPIToken.
	APIToken string
	// Sites is the number of sites. 0 means DefaultSites (or len(SiteNames) when
	// SiteNames is set); a negative value means no sites (and therefore no agents).
	Sites int
	// SiteNames, when set, names the sites in order; sites beyond the list get
	// generated names. Useful to test name matching (e.g. names with whitespace).
	SiteNames []string
	// AgentsPerSite, when > 0, gives every site exactly this many agents and
	// overrides TotalAgents.
	AgentsPerSite int
	// TotalAgents is the total number of agents, assigned to sites round-robin
	// (agent i belongs to site i mod Sites). 0 means DefaultTotalAgents; a negative
	// value means no agents.
	TotalAgents int
	// PageSizeCap, when > 0 and smaller than MaxLimit, silently clamps the page size:
	// a request with limit above the cap gets at most PageSizeCap items per page.
	// Limits outside 1..MaxLimit are still rejected with HTTP 400.
	PageSizeCap int
	// Latency is an artificial delay added before every response (cut short if the
	// request's context is cancelled).
	Latency time.Duration
	// LatestAgentVersion is system/info's latestAgentVersion.
	// Empty means DefaultLatestAgentVersion.
	LatestAgentVersion string
	// AccountName is the account name on sites and agents. Empty means DefaultAccountName.
	AccountName string
	// ConsoleURL is the console URL embedded in registration tokens.
	// Empty means DefaultConsoleURL.
	ConsoleURL string
}

// Site is one SentinelOne site as returned by GET sites and GET sites/{id}.
type Site struct {
	// ID: numeric string id, e.g. "1000000000000000001".
	ID string `json:"id"`
	// Name: site name.
	Name string `json:"name"`
	// AccountID: id of the owning account.
	AccountID string `json:"accountId"`
	// AccountName: name of the owning account.
	AccountName string `json:"accountName"`
	// IsDefault: true for the first site only.
	IsDefault bool `json:"isDefault"`
	// State: always "active".
	State string `json:"state"`
	// SiteType: always "Paid".
	SiteType string `json:"siteType"`
	// SKU: always "Complete".
	SKU string `json:"sku"`
	// Suite: always "Complete".
	Suite string `json:"suite"`
	// RegistrationToken: base64 of {"url":…,"site_key":…}, deterministic per site id.
	RegistrationToken string `json:"registrationToken"`
	// ActiveLicenses: number of agents in the site.
	ActiveLicenses int `json:"activeLicenses"`
	// TotalLicenses: 0 (licences are unlimited).
	TotalLicenses int `json:"totalLicenses"`
	// UnlimitedLicenses: always true.
	UnlimitedLicenses bool `json:"unlimitedLicenses"`
	// UnlimitedExpiration: always true.
	UnlimitedExpiration bool `json:"unlimitedExpiration"`
	// Expiration: always null.
	Expiration *string `json:"expiration"`
	// HealthStatus: always true.
	HealthStatus bool `json:"healthStatus"`
	// Description: always null.
	Description *string `json:"description"`
	// ExternalID: always null.
	ExternalID *string `json:"externalId"`
	// Creator: creator user name.
	Creator string `json:"creator"`
	// CreatorID: creator user id.
	CreatorID string `json:"creatorId"`
	// CreatedAt: creation timestamp (fixed, S1 format).
	CreatedAt string `json:"createdAt"`
	// UpdatedAt: last update timestamp.
	UpdatedAt string `json:"updatedAt"`
}

// Agent is one SentinelOne agent as returned by GET agents. The fields that the docs'
// SentinelOne example reads are UUID, ComputerName, SerialNumber, OSName, ModelName,
// SiteID and AgentVersion (always a valid .NET version string).
type Agent struct {
	// ID: numeric string id, e.g. "2000000000000000001".
	ID string `json:"id"`
	// UUID: 32 lowercase hex digits; the agent id ImmyBot maps.
	UUID string `json:"uuid"`
	// ComputerName: host name, e.g. "S01-LT-0001".
	ComputerName string `json:"computerName"`
	// SerialNumber: hardware serial number.
	SerialNumber string `json:"serialNumber"`
	// OSName: e.g. "Windows 11 Pro".
	OSName string `json:"osName"`
	// OSType: always "windows".
	OSType string `json:"osType"`
	// OSRevision: OS build number.
	OSRevision string `json:"osRevision"`
	// ModelName: "<manufacturer> - <model>".
	ModelName string `json:"modelName"`
	// MachineType: "laptop", "desktop" or "server".
	MachineType string `json:"machineType"`
	// SiteID: id of the agent's site.
	SiteID string `json:"siteId"`
	// SiteName: name of the agent's site.
	SiteName string `json:"siteName"`
	// AccountID: id of the owning account.
	AccountID string `json:"accountId"`
	// AccountName: name of the owning account.
	AccountName string `json:"accountName"`
	// GroupID: id of the site's default group.
	GroupID string `json:"groupId"`
	// GroupName: always "Default Group".
	GroupName string `json:"groupName"`
	// AgentVersion: valid .NET version string, e.g. "23.4.2.14".
	AgentVersion string `json:"agentVersion"`
	// IsActive: false for every agent whose index i has i%7 == 3.
	IsActive bool `json:"isActive"`
	// IsDecommissioned: always false.
	IsDecommissioned bool `json:"isDecommissioned"`
	// IsUninstalled: always false.
	IsUninstalled bool `json:"isUninstalled"`
	// Infected: always false.
	Infected bool `json:"infected"`
	// NetworkStatus: "connected" when active, else "disconnected".
	NetworkStatus string `json:"networkStatus"`
	// Domain: always "WORKGROUP".
	Domain string `json:"domain"`
	// ExternalIP: documentation-range IPv4 address.
	ExternalIP string `json:"externalIp"`
	// LastLoggedInUserName: last user name.
	LastLoggedInUserName string `json:"lastLoggedInUserName"`
	// LastActiveDate: last activity timestamp (fixed, S1 format).
	LastActiveDate string `json:"lastActiveDate"`
	// RegisteredAt: registration timestamp.
	RegisteredAt string `json:"registeredAt"`
	// CreatedAt: creation timestamp.
	CreatedAt string `json:"createdAt"`
	// UpdatedAt: last update timestamp.
	UpdatedAt string `json:"updatedAt"`
}

// Server is the fake SentinelOne API. It is safe for concurrent use; the data set is
// fixed at construction.
type Server struct {
	cfg       Config
	sites     []Site
	siteByID  map[string]int
	agents    []Agent
	mu        sync.Mutex
	counts    map[string]int
	unauthCnt int
}

// baseTime anchors every generated timestamp, so output does not depend on the clock.
var baseTime = time.Date(2024, 9, 11, 12, 0, 0, 0, time.UTC)

const (
	accountID     = "900000000000000001"
	siteIDBase    = 1000000000000000000
	agentIDBase   = 2000000000000000000
	groupIDBase   = 3000000000000000000
	creatorID     = "800000000000000001"
	timeFormatS1  = "2006-01-02T15:04:05.000000Z"
	cursorVersion = 1
)

var (
	defaultSiteNames = []string{
		"Default site", "Contoso", "Fabrikam", "Northwind Traders", "Adventure Works",
		"Tailspin Toys", "Wide World Importers", "Litware", "Proseware", "Woodgrove Bank",
	}
	osNames = []struct{ name, typ, rev, machine string }{
		{"Windows 11 Pro", "windows", "22631", "laptop"},
		{"Windows 10 Pro", "windows", "19045", "desktop"},
		{"Windows 11 Enterprise", "windows", "22621", "laptop"},
		{"Windows Server 2022 Standard", "windows", "20348", "server"},
	}
	models = []string{
		"Dell Inc. - Latitude 5440", "LENOVO - 21HD003AUS", "HP - HP EliteBook 840 G9",
		"Dell Inc. - OptiPlex 7010", "Microsoft Corporation - Surface Laptop 5",
	}
	agentVersions = []string{"23.4.2.14", "23.3.3.264", "22.3.4.612", "23.4.2.14", "23.2.3.358"}
	users         = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace"}
)

// New builds a fake server from cfg, filling zero-valued fields with the defaults
// documented on Config.
func New(cfg Config) *Server {
	if cfg.APIToken == "" {
		cfg.APIToken = DefaultAPIToken
	}
	if cfg.Sites == 0 {
		cfg.Sites = DefaultSites
		if len(cfg.SiteNames) > 0 {
			cfg.Sites = len(cfg.SiteNames)
		}
	}
	if cfg.Sites < 0 {
		cfg.Sites = 0
	}
	if cfg.AgentsPerSite > 0 {
		cfg.TotalAgents = cfg.AgentsPerSite * cfg.Sites
	} else if cfg.TotalAgents == 0 {
		cfg.TotalAgents = DefaultTotalAgents
	}
	if cfg.TotalAgents < 0 || cfg.Sites == 0 {
		cfg.TotalAgents = 0
	}
	if cfg.LatestAgentVersion == "" {
		cfg.LatestAgentVersion = DefaultLatestAgentVersion
	}
	if cfg.AccountName == "" {
		cfg.AccountName = DefaultAccountName
	}
	if cfg.ConsoleURL == "" {
		cfg.ConsoleURL = DefaultConsoleURL
	}
	cfg.SiteNames = append([]string(nil), cfg.SiteNames...)

	s := &Server{cfg: cfg, siteByID: map[string]int{}, counts: map[string]int{}}
	s.generate()
	return s
}

func (s *Server) generate() {
	cfg := s.cfg
	for i := 0; i < cfg.Sites; i++ {
		id := strconv.FormatInt(siteIDBase+int64(i)+1, 10)
		name := ""
		switch {
		case i < len(cfg.SiteNames):
			name = cfg.SiteNames[i]
		case len(cfg.SiteNames) == 0 && i < len(defaultSiteNames):
			name = defaultSiteNames[i]
		default:
			name = fmt.Sprintf("Site %03d", i+1)
		}
		created := baseTime.AddDate(0, 0, -400+i).Format(timeFormatS1)
		s.sites = append(s.sites, Site{
			ID:                  id,
			Name:                name,
			AccountID:           accountID,
			AccountName:         cfg.AccountName,
			IsDefault:           i == 0,
			State:               "active",
			SiteType:            "Paid",
			SKU:                 "Complete",
			Suite:               "Complete",
			RegistrationToken:   registrationToken(cfg.ConsoleURL, id),
			UnlimitedLicenses:   true,
			UnlimitedExpiration: true,
			HealthStatus:        true,
			Creator:             "psbridge fake",
			CreatorID:           creatorID,
			CreatedAt:           created,
			UpdatedAt:           created,
		})
		s.siteByID[id] = i
	}
	for i := 0; i < cfg.TotalAgents; i++ {
		site := &s.sites[i%cfg.Sites]
		site.ActiveLicenses++
		seq := i/cfg.Sites + 1
		o := osNames[i%len(osNames)]
		sum := sha256.Sum256([]byte("agent:" + strconv.Itoa(i)))
		h := hex.EncodeToString(sum[:])
		active := i%7 != 3
		status := "connected"
		if !active {
			status = "disconnected"
		}
		lastActive := baseTime.Add(-time.Duration(i) * time.Minute)
		if !active {
			lastActive = lastActive.AddDate(0, 0, -10)
		}
		registered := baseTime.AddDate(0, 0, -300).Add(time.Duration(i) * time.Hour)
		s.agents = append(s.agents, Agent{
			ID:                   strconv.FormatInt(agentIDBase+int64(i)+1, 10),
			UUID:                 h[:32],
			ComputerName:         fmt.Sprintf("S%02d-%s-%04d", i%cfg.Sites+1, machinePrefix(o.machine), seq),
			SerialNumber:         strings.ToUpper(h[32:42]),
			OSName:               o.name,
			OSType:               o.typ,
			OSRevision:           o.rev,
			ModelName:            models[i%len(models)],
			MachineType:          o.machine,
			SiteID:               site.ID,
			SiteName:             site.Name,
			AccountID:            accountID,
			AccountName:          cfg.AccountName,
			GroupID:              strconv.FormatInt(groupIDBase+int64(i%cfg.Sites)+1, 10),
			GroupName:            "Default Group",
			AgentVersion:         agentVersions[i%len(agentVersions)],
			IsActive:             active,
			NetworkStatus:        status,
			Domain:               "WORKGROUP",
			ExternalIP:           fmt.Sprintf("203.0.113.%d", i%250+1),
			LastLoggedInUserName: users[i%len(users)],
			LastActiveDate:       lastActive.Format(timeFormatS1),
			RegisteredAt:         registered.Format(timeFormatS1),
			CreatedAt:            registered.Format(timeFormatS1),
			UpdatedAt:            lastActive.Format(timeFormatS1),
		})
	}
}

func machinePrefix(machine string) string {
	switch machine {
	case "laptop":
		return "LT"
	case "server":
		return "SRV"
	}
	return "DT"
}

// registrationToken mimics S1's site token: base64 of a small JSON document holding the
// console URL and a site key.
func registrationToken(consoleURL, siteID string) string {
	sum := sha256.Sum256([]byte("site-key:" + siteID))
	doc, _ := json.Marshal(struct {
		URL     string `json:"url"`
		SiteKey string `json:"site_key"`
	}{consoleURL, hex.EncodeToString(sum[:8])})
	return base64.StdEncoding.EncodeToString(doc)
}

// Config returns the effective configuration (with defaults filled in).
func (s *Server) Config() Config {
	c := s.cfg
	c.SiteNames = append([]string(nil), c.SiteNames...)
	return c
}

// APIToken returns the token the server accepts.
func (s *Server) APIToken() string { return s.cfg.APIToken }

// AuthHeader returns the value of the Authorization header the server accepts,
// "APIToken <token>".
func (s *Server) AuthHeader() string { return "APIToken " + s.cfg.APIToken }

// Sites returns a copy of every generated site, ordered by id.
func (s *Server) Sites() []Site { return append([]Site(nil), s.sites...) }

// Site returns the site with the given id.
func (s *Server) Site(id string) (Site, bool) {
	i, ok := s.siteByID[id]
	if !ok {
		return Site{}, false
	}
	return s.sites[i], true
}

// Agents returns a copy of every generated agent, ordered by id.
func (s *Server) Agents() []Agent { return append([]Agent(nil), s.agents...) }

// AgentsForSite returns a copy of the agents that belong to the site with the given id,
// ordered by agent id.
func (s *Server) AgentsForSite(siteID string) []Agent {
	var out []Agent
	for _, a := range s.agents {
		if a.SiteID == siteID {
			out = append(out, a)
		}
	}
	return out
}

// RequestCount returns how many requests reached the given endpoint (one of the
// Endpoint* constants), including requests that failed authentication or validation.
func (s *Server) RequestCount(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[endpoint]
}

// RequestCounts returns a snapshot of the per-endpoint request counters.
func (s *Server) RequestCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// UnauthorizedCount returns how many requests were rejected with HTTP 401.
func (s *Server) UnauthorizedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unauthCnt
}

// ResetRequestCounts sets every request counter (including UnauthorizedCount) to zero.
func (s *Server) ResetRequestCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts = map[string]int{}
	s.unauthCnt = 0
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	endpoint, siteID := route(r.URL.Path)
	s.mu.Lock()
	s.counts[endpoint]++
	s.mu.Unlock()

	if s.cfg.Latency > 0 {
		if !sleep(r.Context(), s.cfg.Latency) {
			return
		}
	}
	if !s.authorized(r) {
		s.mu.Lock()
		s.unauthCnt++
		s.mu.Unlock()
		writeError(w, http.StatusUnauthorized, codeAuthFailed, "Authentication Failed",
			"Missing or invalid API token. Send the header 'Authorization: APIToken <token>'.")
		return
	}
	if endpoint == EndpointUnknown {
		writeError(w, http.StatusNotFound, codeNotFound, "Resource not found",
			fmt.Sprintf("No API endpoint matches %s", r.URL.Path))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, codeMethod, "Method Not Allowed",
			fmt.Sprintf("Method %s is not allowed on %s", r.Method, endpoint))
		return
	}
	switch endpoint {
	case EndpointSystemInfo:
		s.systemInfo(w)
	case EndpointSite:
		s.getSite(w, siteID)
	case EndpointSites:
		s.listSites(w, r)
	case EndpointAgents:
		s.listAgents(w, r)
	}
}

func route(path string) (endpoint, siteID string) {
	if !strings.HasPrefix(path, BasePath) {
		return EndpointUnknown, ""
	}
	rest := strings.TrimSuffix(strings.TrimPrefix(path, BasePath), "/")
	switch {
	case rest == "system/info":
		return EndpointSystemInfo, ""
	case rest == "sites":
		return EndpointSites, ""
	case rest == "agents":
		return EndpointAgents, ""
	case strings.HasPrefix(rest, "sites/") && !strings.Contains(rest[len("sites/"):], "/"):
		return EndpointSite, rest[len("sites/"):]
	}
	return EndpointUnknown, ""
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Server) authorized(r *http.Request) bool {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, token, ok := strings.Cut(h, " ")
	return ok && strings.EqualFold(scheme, "APIToken") && strings.TrimSpace(token) == s.cfg.APIToken
}

type errorItem struct {
	Code   int    `json:"code"`
	Detail string `json:"detail"`
	Title  string `json:"title"`
}

func writeError(w http.ResponseWriter, status, code int, title, detail string) {
	writeJSON(w, status, struct {
		Errors []errorItem `json:"errors"`
	}{[]errorItem{{Code: code, Detail: detail, Title: title}}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Pagination is the pagination object of list responses.
type Pagination struct {
	// NextCursor is the opaque cursor for the next page, or nil on the last page.
	NextCursor *string `json:"nextCursor"`
	// TotalItems is the number of items matching the request's filters (all pages).
	TotalItems int `json:"totalItems"`
}

// SitesData is the data object of a GET sites response.
type SitesData struct {
	// AllSites summarises licences over every site matching the filters.
	AllSites AllSites `json:"allSites"`
	// Sites is the current page of sites.
	Sites []Site `json:"sites"`
}

// AllSites is the allSites summary of a GET sites response.
type AllSites struct {
	// ActiveLicenses is the number of agents in the matching sites.
	ActiveLicenses int `json:"activeLicenses"`
	// TotalLicenses is 0 because every generated site has unlimited licences.
	TotalLicenses int `json:"totalLicenses"`
}

// SitesResponse is the body of GET sites.
type SitesResponse struct {
	// Data holds the page of sites.
	Data SitesData `json:"data"`
	// Pagination holds the next cursor and the total count.
	Pagination Pagination `json:"pagination"`
}

// AgentsResponse is the body of GET agents.
type AgentsResponse struct {
	// Data is the current page of agents.
	Data []Agent `json:"data"`
	// Pagination holds the next cursor and the total count.
	Pagination Pagination `json:"pagination"`
}

// SystemInfo is the data object of GET system/info.
type SystemInfo struct {
	// LatestAgentVersion is the configured latest agent version (e.g. "23.4.2.14").
	LatestAgentVersion string `json:"latestAgentVersion"`
	// Build, Patch, Release and Version describe the (fake) console build.
	Build   string `json:"build"`
	Patch   string `json:"patch"`
	Release string `json:"release"`
	Version string `json:"version"`
}

func (s *Server) systemInfo(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, struct {
		Data SystemInfo `json:"data"`
	}{SystemInfo{
		LatestAgentVersion: s.cfg.LatestAgentVersion,
		Build:              "psbridge-fake",
		Patch:              "0",
		Release:            "Z SP1",
		Version:            "Z SP1",
	}})
}

func (s *Server) getSite(w http.ResponseWriter, id string) {
	site, ok := s.Site(id)
	if !ok {
		writeError(w, http.StatusNotFound, codeNotFound, "Resource not found",
			fmt.Sprintf("Site %s not found", id))
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Data Site `json:"data"`
	}{site})
}

// pageParams parses limit and cursor. kind names the id column embedded in cursors, so a
// cursor from one endpoint is rejected by another.
func (s *Server) pageParams(w http.ResponseWriter, r *http.Request, kind string) (limit int, after int64, ok bool) {
	q := r.URL.Query()
	limit = DefaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			writeError(w, http.StatusBadRequest, codeValidation, "Validation Error",
				fmt.Sprintf("limit: Must be between 1 and %d.", MaxLimit))
			return 0, 0, false
		}
		limit = n
	}
	if c := s.cfg.PageSizeCap; c > 0 && limit > c {
		limit = c
	}
	after = -1
	if v := q.Get("cursor"); v != "" {
		id, err := decodeCursor(v, kind)
		if err != nil {
			writeError(w, http.StatusBadRequest, codeValidation, "Validation Error",
				"cursor: Invalid cursor.")
			return 0, 0, false
		}
		after = id
	}
	return limit, after, true
}

type cursorDoc struct {
	V        int    `json:"v"`
	IDColumn string `json:"id_column"`
	IDValue  string `json:"id_value"`
	SortBy   string `json:"sort_by_column"`
	Order    string `json:"sort_order"`
}

func encodeCursor(kind, lastID string) string {
	b, _ := json.Marshal(cursorDoc{V: cursorVersion, IDColumn: kind, IDValue: lastID, SortBy: "id", Order: "asc"})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(c, kind string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(c, "="))
	if err != nil {
		return 0, err
	}
	var d cursorDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return 0, err
	}
	if d.V != cursorVersion || d.IDColumn != kind {
		return 0, fmt.Errorf("cursor for %q, want %q", d.IDColumn, kind)
	}
	return strconv.ParseInt(d.IDValue, 10, 64)
}

// paginate returns the indexes of the page of ids (sorted ascending) after `after`, and
// the next cursor if more items follow.
func paginate(ids []string, limit int, after int64, kind string) (lo, hi int, next *string) {
	lo = sort.Search(len(ids), func(i int) bool {
		n, _ := strconv.ParseInt(ids[i], 10, 64)
		return n > after
	})
	hi = min(lo+limit, len(ids))
	if hi < len(ids) {
		c := encodeCursor(kind, ids[hi-1])
		next = &c
	}
	return lo, hi, next
}

func splitList(v string) map[string]bool {
	if v == "" {
		return nil
	}
	out := map[string]bool{}
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out[p] = true
		}
	}
	return out
}

func (s *Server) listSites(w http.ResponseWriter, r *http.Request) {
	limit, after, ok := s.pageParams(w, r, "SiteView.id")
	if !ok {
		return
	}
	q := r.URL.Query()
	name, hasName := q.Get("name"), q.Has("name")
	state := q.Get("state")
	ids := splitList(q.Get("siteIds"))
	var match []Site
	for _, st := range s.sites {
		if hasName && !strings.EqualFold(st.Name, name) {
			continue
		}
		if state != "" && !strings.EqualFold(st.State, state) {
			continue
		}
		if ids != nil && !ids[st.ID] {
			continue
		}
		match = append(match, st)
	}
	keys := make([]string, len(match))
	active := 0
	for i, st := range match {
		keys[i] = st.ID
		active += st.ActiveLicenses
	}
	lo, hi, next := paginate(keys, limit, after, "SiteView.id")
	page := append([]Site{}, match[lo:hi]...)
	writeJSON(w, http.StatusOK, SitesResponse{
		Data:       SitesData{AllSites: AllSites{ActiveLicenses: active}, Sites: page},
		Pagination: Pagination{NextCursor: next, TotalItems: len(match)},
	})
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request) {
	limit, after, ok := s.pageParams(w, r, "AgentView.id")
	if !ok {
		return
	}
	q := r.URL.Query()
	siteIDs := splitList(q.Get("siteIds"))
	uuids := splitList(q.Get("uuids"))
	name, hasName := q.Get("computerName"), q.Has("computerName")
	if !hasName {
		// The docs' module filters agents with "name"; treat it as computerName.
		name, hasName = q.Get("name"), q.Has("name")
	}
	isActive := q.Get("isActive")
	// Collect the matching agents' ids only (not copies of every matching agent), so a page
	// costs the fake little more than its own page: a sync of 10,000 agents in pages of 100
	// used to copy all 10,000 on each of the 100 requests (4 MB a page).
	var keys []string
	var match []int
	for i := range s.agents {
		a := &s.agents[i]
		if siteIDs != nil && !siteIDs[a.SiteID] {
			continue
		}
		if uuids != nil && !uuids[a.UUID] {
			continue
		}
		if hasName && !strings.EqualFold(a.ComputerName, name) {
			continue
		}
		if isActive != "" && strconv.FormatBool(a.IsActive) != strings.ToLower(isActive) {
			continue
		}
		keys = append(keys, a.ID)
		match = append(match, i)
	}
	lo, hi, next := paginate(keys, limit, after, "AgentView.id")
	page := make([]Agent, 0, hi-lo)
	for _, i := range match[lo:hi] {
		page = append(page, s.agents[i])
	}
	writeJSON(w, http.StatusOK, AgentsResponse{
		Data:       page,
		Pagination: Pagination{NextCursor: next, TotalItems: len(match)},
	})
}
