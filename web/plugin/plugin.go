// Package plugin serves ImmyBot's plugin (webhook) endpoint, /plugins/api/v1/{instanceId}/…:
// each request runs the instance's HandleHttpRequest block with $httpContext, $body and
// $route, and the block's [ObjectResult] becomes the HTTP response. It exists apart from the
// REST API because its callers are vendors' webhook senders: no bearer token, but an optional
// per-instance shared secret or HMAC signature, and answers shaped by the script.
package plugin

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/internal/mask"
	"github.com/psbridge/psbridge/web/httpx"
)

// Headers that authenticate a webhook when the instance has a webhook secret.
const (
	// SecretHeader carries the shared secret itself.
	SecretHeader = "X-Psbridge-Secret"
	// SignatureHeader carries "sha256=" + hex(HMAC-SHA256(secret, raw body)).
	SignatureHeader = "X-Psbridge-Signature"
)

// Patterns are the ServeMux patterns the endpoint is registered under (any method).
var Patterns = []string{"/plugins/api/v1/{instanceId}", "/plugins/api/v1/{instanceId}/{route...}"}

// Defaults of Options.
const (
	DefaultRate        = 10               // requests per second per integration
	DefaultBurst       = 20               // requests at once above DefaultRate
	DefaultBodyTimeout = 10 * time.Second // for the body to arrive after the headers
)

// Options configures the endpoint. The zero value is usable.
type Options struct {
	// MaxBody bounds request bodies (default httpx.DefaultMaxBody, 1 MiB).
	MaxBody int64
	// BodyTimeout bounds the time a request body may take to arrive (default
	// DefaultBodyTimeout); a slower one is answered 408 and runs nothing.
	BodyTimeout time.Duration
	// Rate is how many requests per second each integration's endpoint runs, with Burst
	// more at once; above it requests get 429 with Retry-After. Only requests that pass the
	// webhook secret check count. 0: DefaultRate; negative: no limit.
	Rate float64
	// Burst is the token bucket's size (default DefaultBurst).
	Burst int
	// Logger receives service logs. Default: discard.
	Logger *zerolog.Logger
}

// Handler serves the plugin endpoint.
type Handler struct {
	eng  *engine.Engine
	opts Options
	log  zerolog.Logger

	limits *rateLimits // per integration; only ids PluginTarget accepted
}

// minLimitsPrune is the size of the rate limiter set at which full buckets are first dropped.
const minLimitsPrune = 1024

// rateLimits holds the token bucket of each integration's endpoint. A bucket that has refilled
// to its burst carries no state, so full buckets are dropped whenever the set has doubled, and
// a deleted integration's bucket at its next request: the set stays about as large as the
// integrations sending webhooks now, not every integration that ever received one.
type rateLimits struct {
	limit   rate.Limit
	burst   int
	mu      sync.Mutex
	m       map[int64]*rate.Limiter
	pruneAt int
}

func newRateLimits(perSecond float64, burst int) *rateLimits {
	return &rateLimits{limit: rate.Limit(perSecond), burst: burst, m: map[int64]*rate.Limiter{}, pruneAt: minLimitsPrune}
}

// allow takes one request from id's bucket at now; when it is empty it returns how long until
// the next request would be accepted.
func (l *rateLimits) allow(id int64, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	lim := l.m[id]
	if lim == nil {
		if len(l.m) >= l.pruneAt {
			for k, v := range l.m {
				if v.TokensAt(now) >= float64(l.burst) {
					delete(l.m, k)
				}
			}
			l.pruneAt = max(minLimitsPrune, 2*len(l.m))
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.m[id] = lim
	}
	l.mu.Unlock()
	res := lim.ReserveN(now, 1)
	if !res.OK() {
		return false, time.Second
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// forget drops id's bucket (its integration no longer exists).
func (l *rateLimits) forget(id int64) {
	l.mu.Lock()
	delete(l.m, id)
	l.mu.Unlock()
}

// len is how many buckets are kept.
func (l *rateLimits) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// New returns the endpoint for eng.
func New(eng *engine.Engine, opts Options) *Handler {
	if opts.MaxBody <= 0 {
		opts.MaxBody = httpx.DefaultMaxBody
	}
	if opts.BodyTimeout <= 0 {
		opts.BodyTimeout = DefaultBodyTimeout
	}
	if opts.Rate == 0 {
		opts.Rate = DefaultRate
	}
	if opts.Burst <= 0 {
		opts.Burst = DefaultBurst
	}
	log := zerolog.Nop()
	if opts.Logger != nil {
		log = opts.Logger.With().Str("component", "plugin").Logger()
	}
	return &Handler{eng: eng, opts: opts, log: log, limits: newRateLimits(opts.Rate, opts.Burst)}
}

// allow takes one request from the integration's token bucket; when it is empty it returns
// how long until the next request would be accepted.
func (h *Handler) allow(id int64) (bool, time.Duration) {
	if h.opts.Rate < 0 {
		return true, 0
	}
	return h.limits.allow(id, time.Now())
}

// retryAfter is a Retry-After value in whole seconds, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(max(1, int64(math.Ceil(d.Seconds()))), 10)
}

// Register adds the endpoint to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	for _, p := range Patterns {
		mux.Handle(p, h)
	}
}

func notFound(w http.ResponseWriter, r *http.Request) {
	httpx.Problem(w, r, httpx.Details{Type: httpx.TypeNotFound, Status: http.StatusNotFound,
		Detail: "no integration with an HTTP endpoint (ISupportsHttpRequest) at this address"})
}

// ServeHTTP runs HandleHttpRequest. Unknown instances, disabled ones and ones without
// ISupportsHttpRequest are all 404, so the endpoint does not reveal which instances exist.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("instanceId"), 10, 64)
	if err != nil || id <= 0 {
		notFound(w, r)
		return
	}
	secret, hasSecret, err := h.eng.PluginTarget(id)
	var ce *engine.CapabilityError
	switch {
	case errors.Is(err, engine.ErrNotFound):
		h.limits.forget(id) // deleted: its bucket is garbage
		notFound(w, r)
		return
	case errors.Is(err, engine.ErrDisabled), errors.As(err, &ce):
		notFound(w, r)
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	body, err := httpx.ReadBodyWithin(w, r, h.opts.MaxBody, h.opts.BodyTimeout)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// Authentication comes before the rate limit, so unsigned floods cannot spend the
	// integration's budget, and before any script work.
	if hasSecret && !authentic(r, body, secret) {
		httpx.Problem(w, r, httpx.Details{Type: httpx.TypeUnauthorize, Status: http.StatusUnauthorized,
			Detail: "this endpoint requires the integration's webhook secret in " + SecretHeader + " or a body signature in " + SignatureHeader})
		return
	}
	if ok, wait := h.allow(id); !ok {
		w.Header().Set("Retry-After", retryAfter(wait))
		httpx.Problem(w, r, httpx.Details{Type: httpx.TypeRateLimited, Status: http.StatusTooManyRequests, Title: "Too many requests",
			Detail: fmt.Sprintf("this integration accepts %g webhook requests per second (bursts of %d); retry after %s seconds", h.opts.Rate, h.opts.Burst, retryAfter(wait))})
		return
	}
	route := r.PathValue("route")
	// The call's own secrets mask the response: they are what Engine.Secrets would read back
	// from the store afterwards, without reading and decrypting them a second time.
	res, secrets, err := h.eng.HandleHTTP(r.Context(), id, HTTPContext(r, body), Body(r, body), route)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	Respond(w, res, secrets)
}

// authentic checks the shared secret header or the HMAC signature of the body.
func authentic(r *http.Request, body []byte, secret string) bool {
	if got := r.Header.Get(SecretHeader); got != "" {
		return subtle.ConstantTimeCompare([]byte(got), []byte(secret)) == 1
	}
	sig, ok := strings.CutPrefix(r.Header.Get(SignatureHeader), "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(strings.TrimSpace(sig))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// HTTPContext is the dictionary the worker turns into Microsoft.AspNetCore.Http.HttpContext
// (keys of HttpContext.FromDictionary in psmodule/src/CompatAspNet.cs). Path is the whole
// request path and PathBase is empty, as for an ASP.NET app hosted at the site root. The
// webhook secret header is never passed on.
func HTTPContext(r *http.Request, body []byte) map[string]any {
	headers := map[string]any{}
	for k, vs := range r.Header {
		if strings.EqualFold(k, SecretHeader) {
			continue
		}
		headers[k] = vs
	}
	if r.Host != "" {
		headers["Host"] = []string{r.Host}
	}
	query := map[string]any{}
	for k, vs := range r.URL.Query() {
		query[k] = vs
	}
	qs := ""
	if r.URL.RawQuery != "" {
		qs = "?" + r.URL.RawQuery
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	hc := map[string]any{
		"method": r.Method, "path": r.URL.Path, "pathBase": "", "query": query, "queryString": qs,
		"headers": headers, "contentType": r.Header.Get("Content-Type"), "contentLength": len(body),
		"scheme": scheme, "host": r.Host, "protocol": r.Proto, "remoteIpAddress": remoteIP(r),
		"traceIdentifier": httpx.RequestID(r.Context()),
	}
	if utf8.Valid(body) {
		hc["body"] = string(body)
	} else {
		hc["bodyBase64"] = encodeBase64(body)
	}
	return hc
}

// Body is what $body receives: the parsed JSON value for a JSON request whose body parses,
// otherwise the raw text (nil when there is no body).
func Body(r *http.Request, body []byte) any {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if httpx.IsJSON(r.Header.Get("Content-Type")) {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber() // big ids stay exact
		var v any
		if dec.Decode(&v) == nil && !dec.More() {
			return v
		}
	}
	if !utf8.Valid(body) {
		return encodeBase64(body)
	}
	return string(body)
}

// actionResult is the JSON of an IActionResult (ObjectResult, StatusCodeResult, …).
type actionResult struct {
	StatusCode   *int            `json:"statusCode"`
	Value        json.RawMessage `json:"value"`
	ContentTypes []string        `json:"contentTypes"`
}

// Respond turns HandleHttpRequest's output into the response: the last IActionResult gives
// the status (200 when unset) and its value the JSON body; without one, a single output object
// is the JSON body of a 200, several are a JSON array, none is 204. Every form of every
// secret in secrets is masked in the body and the headers.
func Respond(w http.ResponseWriter, res *bridge.Result, secrets *mask.Set) {
	for i := len(res.Output) - 1; i >= 0; i-- {
		if i >= len(res.OutputTypes) || !strings.HasPrefix(res.OutputTypes[i], "Microsoft.AspNetCore.Mvc.") {
			continue
		}
		var ar actionResult
		if err := json.Unmarshal(res.Output[i], &ar); err != nil {
			break
		}
		status := http.StatusOK
		if ar.StatusCode != nil && *ar.StatusCode >= 100 && *ar.StatusCode <= 999 {
			status = *ar.StatusCode
		}
		if len(ar.Value) == 0 || string(ar.Value) == "null" || status == http.StatusNoContent || status == http.StatusNotModified {
			secrets.Header(w.Header())
			w.WriteHeader(status)
			return
		}
		var text string
		if plainText(ar.ContentTypes) && json.Unmarshal(ar.Value, &text) == nil {
			w.Header().Set("Content-Type", ar.ContentTypes[0])
			secrets.Header(w.Header())
			w.WriteHeader(status)
			_, _ = w.Write(secrets.Bytes([]byte(text)))
			return
		}
		writeJSON(w, status, secrets.JSON(ar.Value), secrets)
		return
	}
	switch len(res.Output) {
	case 0:
		secrets.Header(w.Header())
		w.WriteHeader(http.StatusNoContent)
	case 1:
		writeJSON(w, http.StatusOK, secrets.JSON(res.Output[0]), secrets)
	default:
		b, _ := json.Marshal(res.Output)
		writeJSON(w, http.StatusOK, secrets.JSON(b), secrets)
	}
}

func plainText(cts []string) bool {
	return len(cts) > 0 && strings.HasPrefix(strings.ToLower(cts[0]), "text/")
}

func writeJSON(w http.ResponseWriter, status int, body []byte, secrets *mask.Set) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	secrets.Header(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// fail answers errors of the endpoint itself. Script failures are a 500 without details: the
// sender is a third party, and the details are in the call log.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var re *httpx.RequestError
	var se *bridge.ScriptError
	d := httpx.Details{Type: httpx.TypeInternal, Status: http.StatusInternalServerError, Title: "Internal server error",
		Detail: "the integration could not handle this request; see the integration's call log"}
	switch {
	case errors.As(err, &re):
		d = re.Details
	case errors.Is(err, bridge.ErrQueueFull):
		w.Header().Set("Retry-After", "1")
		d = httpx.Details{Type: httpx.TypeBusy, Status: http.StatusServiceUnavailable, Title: "Busy", Detail: "every pwsh worker is busy; retry shortly"}
	case errors.Is(err, bridge.ErrTimeout):
		d = httpx.Details{Type: httpx.TypeTimeout, Status: http.StatusGatewayTimeout, Title: "Timeout", Detail: "HandleHttpRequest did not finish in time"}
	case errors.Is(err, bridge.ErrClosed), errors.Is(err, bridge.ErrCanceled):
		w.Header().Set("Retry-After", "1")
		d = httpx.Details{Type: httpx.TypeBusy, Status: http.StatusServiceUnavailable, Title: "Unavailable", Detail: "the server is shutting down or the request was cancelled"}
	case errors.As(err, &se):
		d.Type = httpx.TypeScript
	default:
		h.log.Error().Str("request_id", httpx.RequestID(r.Context())).Err(err).Msg("plugin request failed")
	}
	httpx.Problem(w, r, d)
}

func remoteIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

func encodeBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
