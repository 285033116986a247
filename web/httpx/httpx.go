// Package httpx holds the HTTP conventions every psbridge endpoint shares: RFC 9457 problem
// details, request ids, strict JSON request bodies and cursor pagination. It exists so the
// REST API and the plugin endpoint answer errors the same way.
package httpx

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/psbridge/psbridge/internal/logging"
)

// RequestIDHeader carries the request id in requests (optional) and every response.
const RequestIDHeader = "X-Request-Id"

type ctxKey int

const requestIDKey ctxKey = 1

// validRequestID accepts ids a client may choose: short and without odd characters.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// RequestID returns the request id stored in ctx by WithRequestID ("" when none).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// StatusWriter wraps a ResponseWriter and remembers the status code written (200 when the
// handler only wrote a body, 101 after a hijack, 0 before anything). It passes flushing and
// hijacking (the console's websocket upgrade) through; the request log and the metrics share it.
type StatusWriter struct {
	http.ResponseWriter
	status int
}

// NewStatusWriter wraps w.
func NewStatusWriter(w http.ResponseWriter) *StatusWriter { return &StatusWriter{ResponseWriter: w} }

// Status is the status code written so far (0: none yet).
func (w *StatusWriter) Status() int { return w.status }

// WriteHeader records code and writes it.
func (w *StatusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 and writes b.
func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (flushing, deadlines).
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush flushes the underlying writer when it can.
func (w *StatusWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// Hijack hands the connection over (websocket upgrades), recording 101.
func (w *StatusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return c, rw, err
}

// Middleware gives every request an id (the client's X-Request-Id when it is well formed, a new
// UUID otherwise), echoes it in the response, turns panics into 500 problems and logs one line
// per request (method, route pattern, status, duration; never bodies or query values).
func Middleware(log zerolog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID.MatchString(id) {
			id = uuid.NewString()
		}
		w.Header().Set(RequestIDHeader, id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		sw := NewStatusWriter(w)
		start := time.Now()
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error().Str("request_id", id).Interface("panic", v).Bytes("stack", debug.Stack()).Msg("handler panicked")
				if sw.status == 0 {
					Problem(sw, r, Details{Status: http.StatusInternalServerError, Title: "Internal server error", Detail: "the server failed while handling this request"})
				}
			}
			log.Debug().Str(logging.FieldRequestID, id).Str("http_method", r.Method).Str(logging.FieldRoute, r.Pattern).
				Int(logging.FieldStatus, sw.status).Float64(logging.FieldDurationMS, logging.Millis(time.Since(start))).Msg("request")
		}()
		next.ServeHTTP(sw, r)
	})
}

// FieldError is one problem with one field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Details is an RFC 9457 problem details object with psbridge's extension members.
type Details struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// RequestID is the X-Request-Id of the request, to find it in the logs.
	RequestID string `json:"requestId,omitempty"`
	// Errors lists field-level problems (validation).
	Errors []FieldError `json:"errors,omitempty"`
	// Extra members specific to a problem type (script positions, interface names, …).
	Extra map[string]any `json:"-"`
}

// MarshalJSON merges Extra into the object.
func (d Details) MarshalJSON() ([]byte, error) {
	type plain Details
	b, err := json.Marshal(plain(d))
	if err != nil || len(d.Extra) == 0 {
		return b, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range d.Extra {
		if _, taken := m[k]; !taken {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

// Problem type URIs. They identify the kind of problem; clients switch on them.
const (
	TypeBlank       = "about:blank"
	TypeValidation  = "urn:psbridge:problem:validation"
	TypeMalformed   = "urn:psbridge:problem:malformed-request"
	TypeTooLarge    = "urn:psbridge:problem:body-too-large"
	TypeBodyTimeout = "urn:psbridge:problem:body-timeout"
	TypeRateLimited = "urn:psbridge:problem:rate-limited"
	TypeMediaType   = "urn:psbridge:problem:unsupported-media-type"
	TypeNotFound    = "urn:psbridge:problem:not-found"
	TypeConflict    = "urn:psbridge:problem:conflict"
	TypeCapability  = "urn:psbridge:problem:capability-missing"
	TypeNotLinked   = "urn:psbridge:problem:not-linked"
	TypeParse       = "urn:psbridge:problem:script-does-not-parse"
	TypeLoad        = "urn:psbridge:problem:script-load-failed"
	TypeInit        = "urn:psbridge:problem:init-failed"
	TypeScript      = "urn:psbridge:problem:script-failed"
	TypeBusy        = "urn:psbridge:problem:busy"
	TypeTimeout     = "urn:psbridge:problem:timeout"
	TypeOffline     = "urn:psbridge:problem:computer-offline"
	TypeUnauthorize = "urn:psbridge:problem:unauthorized"
	TypeForbidden   = "urn:psbridge:problem:forbidden"
	TypeInternal    = "urn:psbridge:problem:internal"
)

// Problem writes d as application/problem+json, filling in type, instance and request id.
func Problem(w http.ResponseWriter, r *http.Request, d Details) {
	if d.Type == "" {
		d.Type = TypeBlank
	}
	if d.Title == "" {
		d.Title = http.StatusText(d.Status)
	}
	if d.Instance == "" {
		d.Instance = r.URL.Path
	}
	d.RequestID = RequestID(r.Context())
	body, err := json.Marshal(d)
	if err != nil {
		body = []byte(`{"type":"about:blank","title":"Internal server error","status":500}`)
		d.Status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(d.Status)
	_, _ = w.Write(append(body, '\n'))
}

// JSON writes v as application/json with status.
func JSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
