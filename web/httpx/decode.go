package httpx

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxBody is the request body limit when none is configured (1 MiB).
const DefaultMaxBody = 1 << 20

// RequestError is a request the server refuses before doing anything: it carries the
// problem details to answer with.
type RequestError struct {
	Details Details
}

func (e *RequestError) Error() string {
	if e.Details.Detail != "" {
		return e.Details.Detail
	}
	return e.Details.Title
}

func badRequest(typ, title, detail string, fields ...FieldError) *RequestError {
	return &RequestError{Details: Details{Type: typ, Status: http.StatusBadRequest, Title: title, Detail: detail, Errors: fields}}
}

// IsJSON reports whether a Content-Type names JSON (application/json or any +json type).
func IsJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// ReadBody reads at most max bytes of the request body (max <= 0: DefaultMaxBody); a larger
// body is a 413 RequestError.
func ReadBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	return ReadBodyWithin(w, r, max, 0)
}

// ReadBodyWithin is ReadBody that also bounds the time the body may take to arrive (timeout
// <= 0: no bound beyond the server's own): a body still arriving after timeout is a 408
// RequestError, and the connection is not reused. It sets the connection's read deadline
// through http.ResponseController, so w must be (or unwrap to) the server's ResponseWriter.
func ReadBodyWithin(w http.ResponseWriter, r *http.Request, max int64, timeout time.Duration) ([]byte, error) {
	timedOut := false
	if timeout > 0 {
		rc := http.NewResponseController(w)
		if rc.SetReadDeadline(time.Now().Add(timeout)) == nil {
			defer func() {
				// After a timeout the deadline stays passed: the server must not wait for
				// the rest of the body before it answers and closes the connection.
				if !timedOut {
					_ = rc.SetReadDeadline(time.Time{})
				}
			}()
		}
	}
	if max <= 0 {
		max = DefaultMaxBody
	}
	tooLarge := &RequestError{Details: Details{Type: TypeTooLarge, Status: http.StatusRequestEntityTooLarge,
		Title: "Request body too large", Detail: fmt.Sprintf("the request body must be at most %d bytes", max)}}
	if r.ContentLength > max {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			timedOut = true
			w.Header().Set("Connection", "close")
			return nil, &RequestError{Details: Details{Type: TypeBodyTimeout, Status: http.StatusRequestTimeout,
				Title: "Request body too slow", Detail: fmt.Sprintf("the request body did not arrive within %s", timeout)}}
		}
		return nil, badRequest(TypeMalformed, "Unreadable request body", "the request body could not be read")
	}
	return body, nil
}

// Decode reads a JSON request body into v strictly: Content-Type must be JSON, the body at most
// max bytes (413), exactly one well-formed JSON value (400), no field v does not declare (400)
// and every value of the declared type (422, naming the field). Errors are *RequestError.
func Decode(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	if ct := r.Header.Get("Content-Type"); !IsJSON(ct) {
		return &RequestError{Details: Details{Type: TypeMediaType, Status: http.StatusUnsupportedMediaType,
			Title: "Unsupported media type", Detail: fmt.Sprintf("the request body must be application/json, not %q", ct)}}
	}
	body, err := ReadBody(w, r, max)
	if err != nil {
		return err
	}
	return DecodeBytes(body, v)
}

// DecodeBytes is Decode for a body already read.
func DecodeBytes(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest(TypeMalformed, "Empty request body", "the request body is empty; it must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber() // numbers in free-form values (form data, method args) keep every digit
	if err := dec.Decode(v); err != nil {
		return decodeError(err, body)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest(TypeMalformed, "Malformed JSON", "the request body holds more than one JSON value")
	}
	return nil
}

func decodeError(err error, body []byte) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := position(body, se.Offset-1) // Offset counts the bad byte
		return badRequest(TypeMalformed, "Malformed JSON", fmt.Sprintf("invalid JSON at line %d, column %d: %s", line, col, se.Error()))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest(TypeMalformed, "Malformed JSON", "the JSON body ends before the value is complete")
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(body)"
		}
		return &RequestError{Details: Details{Type: TypeValidation, Status: http.StatusUnprocessableEntity,
			Title: "Invalid request", Detail: fmt.Sprintf("%s: must be %s, not %s", field, jsonKind(te.Type), te.Value),
			Errors: []FieldError{{Field: field, Message: fmt.Sprintf("must be %s, not %s", jsonKind(te.Type), te.Value)}}}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return badRequest(TypeMalformed, "Unknown field", fmt.Sprintf("the request has a field %q this endpoint does not accept", name),
			FieldError{Field: name, Message: "unknown field"})
	}
	return badRequest(TypeMalformed, "Malformed JSON", err.Error())
}

// position turns a byte offset into a 1-based line and column.
func position(body []byte, off int64) (int, int) {
	if off < 0 {
		off = 0
	}
	if off > int64(len(body)) {
		off = int64(len(body))
	}
	before := body[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// jsonKind names the JSON kind a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "a " + t.String()
}

// ---- pagination ------------------------------------------------------------------------------

// Page limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Page is one page of a list.
type Page[T any] struct {
	Items []T `json:"items"`
	// NextCursor, when set, is passed as ?cursor= to get the next page.
	NextCursor string `json:"nextCursor,omitempty"`
}

// PageParams reads ?limit= (1..MaxLimit, default DefaultLimit) and ?cursor= (opaque) from r.
func PageParams(r *http.Request) (limit int, cursor string, err error) {
	limit = DefaultLimit
	if s := r.URL.Query().Get("limit"); s != "" {
		n, perr := strconv.Atoi(s)
		if perr != nil || n < 1 || n > MaxLimit {
			return 0, "", badRequest(TypeMalformed, "Invalid query parameter", fmt.Sprintf("limit must be a whole number from 1 to %d", MaxLimit),
				FieldError{Field: "limit", Message: fmt.Sprintf("must be a whole number from 1 to %d", MaxLimit)})
		}
		limit = n
	}
	cursor = r.URL.Query().Get("cursor")
	return limit, cursor, nil
}

// EncodeCursor makes an opaque cursor from a key.
func EncodeCursor(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

// DecodeCursor reverses EncodeCursor; a cursor the server did not make is a 400 RequestError.
func DecodeCursor(cursor string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(b) == 0 {
		return "", badRequest(TypeMalformed, "Invalid query parameter", "cursor is not a cursor this server returned",
			FieldError{Field: "cursor", Message: "is not a cursor this server returned"})
	}
	return string(b), nil
}

// Paginate returns the page of items (sorted ascending by key) after the key in cursor.
func Paginate[T any](items []T, key func(T) string, less func(a, b string) bool, limit int, cursor string) (Page[T], error) {
	start := 0
	if cursor != "" {
		after, err := DecodeCursor(cursor)
		if err != nil {
			return Page[T]{}, err
		}
		start = sort.Search(len(items), func(i int) bool { return less(after, key(items[i])) })
	}
	end := min(start+limit, len(items))
	p := Page[T]{Items: items[start:end]}
	if p.Items == nil {
		p.Items = []T{}
	}
	if end < len(items) && end > start {
		p.NextCursor = EncodeCursor(key(items[end-1]))
	}
	return p, nil
}

// LessNumeric orders decimal integer keys numerically (shorter first, then by text).
func LessNumeric(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// LessText orders keys by text.
func LessText(a, b string) bool { return a < b }
