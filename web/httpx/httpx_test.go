package httpx

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestDecodeBytes(t *testing.T) {
	type body struct {
		Name  string         `json:"name"`
		Count int            `json:"count"`
		Tags  []string       `json:"tags"`
		Meta  map[string]any `json:"meta"`
	}
	cases := []struct {
		in     string
		status int
		field  string
		detail string
	}{
		{`{"name":"x","count":2}`, 0, "", ""},
		{``, 400, "", "empty"},
		{`{"name":`, 400, "", "ends before"},
		{"{\n  \"name\": x}", 400, "", "line 2, column 11"},
		{`{"name":"x"} []`, 400, "", "more than one"},
		{`{"nope":1}`, 400, "nope", "nope"},
		{`{"count":"2"}`, 422, "count", "must be an integer, not string"},
		{`{"count":2.5}`, 422, "count", "must be an integer"},
		{`{"tags":"a"}`, 422, "tags", "must be an array"},
		{`{"meta":[]}`, 422, "meta", "must be an object"},
		{`[]`, 422, "(body)", "must be an object"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			var b body
			err := DecodeBytes([]byte(tc.in), &b)
			if tc.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var re *RequestError
			if !errors.As(err, &re) || re.Details.Status != tc.status || !strings.Contains(re.Error(), tc.detail) {
				t.Fatalf("err = %v (%+v)", err, re)
			}
			if tc.field != "" && (len(re.Details.Errors) != 1 || re.Details.Errors[0].Field != tc.field) {
				t.Fatalf("errors %+v, want field %q", re.Details.Errors, tc.field)
			}
		})
	}
}

func TestPaginate(t *testing.T) {
	items := []int{1, 2, 3, 10, 11, 20}
	key := func(i int) string { return fmt.Sprint(i) }
	var got []int
	cursor := ""
	pages := 0
	for {
		p, err := Paginate(items, key, LessNumeric, 4, cursor)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Items...)
		pages++
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	if fmt.Sprint(got) != fmt.Sprint(items) || pages != 2 {
		t.Fatalf("got %v in %d pages", got, pages)
	}
	// A cursor whose item was deleted still continues after it.
	p, _ := Paginate([]int{1, 2, 11, 20}, key, LessNumeric, 10, EncodeCursor("10"))
	if fmt.Sprint(p.Items) != "[11 20]" {
		t.Fatalf("after a deleted item: %v", p.Items)
	}
	if _, err := Paginate(items, key, LessNumeric, 4, "%%%"); err == nil {
		t.Fatal("a bad cursor was accepted")
	}
}

func TestMiddlewareRequestIDsAndPanics(t *testing.T) {
	h := Middleware(nopLogger(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		JSON(w, 200, map[string]string{"id": RequestID(r.Context())})
	}))
	cases := []struct {
		path, sent string
		status     int
		keep       bool
	}{
		{"/", "client-id-1", 200, true},
		{"/", "bad id with spaces", 200, false},
		{"/panic", "", 500, false},
	}
	for _, tc := range cases {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", tc.path, nil)
		if tc.sent != "" {
			req.Header.Set(RequestIDHeader, tc.sent)
		}
		h.ServeHTTP(rec, req)
		id := rec.Header().Get(RequestIDHeader)
		if rec.Code != tc.status || id == "" || (id == tc.sent) != tc.keep || !strings.Contains(rec.Body.String(), id) {
			t.Errorf("%s %q: %d id %q body %s", tc.path, tc.sent, rec.Code, id, rec.Body)
		}
	}
}

func nopLogger() zerolog.Logger { return zerolog.Nop() }
