package mask

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
)

func TestNilSetMasksNothing(t *testing.T) {
	var s *Set
	if s.String("hunter2-Secret") != "hunter2-Secret" || s.Len() != 0 {
		t.Fatal("nil set masked")
	}
	if got := s.Records([]string{"a", "b"}); strings.Join(got, ",") != "a,b" {
		t.Fatal(got)
	}
}

func TestRecordsKeepsEmptyAndCount(t *testing.T) {
	s := NewSet("hunter2-Secret")
	got := s.Records([]string{"", "hunter2", "", "-Secret", ""})
	want := []string{"", Mask, "", Mask, ""}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestJSON(t *testing.T) {
	s := NewSet("hunter2-Secret", "12345678")
	b64 := base64.StdEncoding.EncodeToString([]byte("user:hunter2-Secret"))
	tests := []struct{ name, in, want string }{
		{"unchanged keeps bytes", `{ "b": 1, "a": [true, null, "x"] }`, `{ "b": 1, "a": [true, null, "x"] }`},
		{"string leaf", `{"z":1,"token":"Bearer hunter2-Secret","a":[1,2]}`, `{"z":1,"token":"Bearer ********","a":[1,2]}`},
		{"key", `{"hunter2-Secret":1}`, `{"********":1}`},
		{"escaped differently", `["hunter2\u002dSecret"]`, `["********"]`},
		{"number", `{"pin":123456789}`, `{"pin":"********"}`},
		{"base64 leaf", `{"h":"Basic ` + b64 + `"}`, ""},
		{"nested order kept", `{"b":{"y":"hunter2-Secret","x":2},"a":[]}`, `{"b":{"y":"********","x":2},"a":[]}`},
		{"invalid", `{"a":"hunter2-Secret"`, `"********"`},
		{"two documents", `1 2`, `"********"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(s.JSON([]byte(tt.in)))
			if !json.Valid([]byte(got)) {
				t.Fatalf("not JSON: %s", got)
			}
			if tt.want == "" {
				if strings.Contains(got, b64[8:16]) || !strings.Contains(got, Mask) {
					t.Fatalf("base64 not masked: %s", got)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestHeader(t *testing.T) {
	s := NewSet("hunter2-Secret")
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("u:hunter2-Secret")))
	h["X-hunter2-Secret"] = []string{"1"}
	h.Add("X-Token", "a")
	h.Add("X-Token", "hunter2-Secret")
	s.Header(h)
	var all []string
	for k, vs := range h {
		all = append(all, k+": "+strings.Join(vs, ","))
	}
	sort.Strings(all)
	joined := strings.Join(all, "\n")
	if strings.Contains(strings.ToLower(joined), "hunter2") || strings.Contains(joined, "aHVudGVy") {
		t.Fatalf("header leaks:\n%s", joined)
	}
	if h.Get("X-Token") != "a" || h.Values("X-Token")[1] != Mask {
		t.Fatalf("values: %q", h.Values("X-Token"))
	}
}

func TestAddJSONSkipsTypeTags(t *testing.T) {
	s := NewSet()
	if err := s.AddJSON([]byte(`{"Url":{"$psbridgeType":"uri","value":"https://vendor/"},"a":["tok-1234",{"b":"q"}],"n":3}`)); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 {
		t.Fatalf("Len %d, want 2 (the URL and tok-1234)", s.Len())
	}
	if s.String("uri") != "uri" {
		t.Fatal("type tag registered")
	}
	if err := s.AddJSON([]byte(`{`)); err == nil {
		t.Fatal("bad JSON accepted")
	}
}

func TestConcurrentAddAndMask(t *testing.T) {
	s := NewSet()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func(i int) {
			defer wg.Done()
			s.Add(strings.Repeat(string(rune('a'+i)), 8))
		}(i)
		go func() {
			defer wg.Done()
			_ = s.String("aaaaaaaa bbbbbbbb")
		}()
	}
	wg.Wait()
	if got := s.String("aaaaaaaa dddddddd"); got != Mask+" "+Mask {
		t.Fatal(got)
	}
}

func TestVariantsCoverEveryForm(t *testing.T) {
	v := Variants(`a<b> "c"/d+é`)
	has := map[string]bool{}
	for _, x := range v {
		has[x] = true
	}
	for _, want := range []string{
		`a<b> \"c\"/d+é`,                             // minimal JSON
		`a\u003cb\u003e \"c\"/d+é`,                   // Go
		`a\u003Cb\u003E \u0022c\u0022/d\u002B\u00E9`, // System.Text.Json
		`a%3Cb%3E%20%22c%22%2Fd%2B%C3%A9`,            // path style
		`a%3cb%3e+%22c%22%2fd%2b%c3%a9`,              // form style, lower hex
		`a&lt;b&gt; &quot;c&quot;/d+é`,               // HTML
		`a&lt;b&gt; &#34;c&#34;/d+é`,
	} {
		if !has[want] {
			t.Errorf("Variants lacks %q", want)
		}
	}
	if Variants("abc") != nil {
		t.Error("a 3-byte secret has variants")
	}
}

func TestAddContextSkipsPublicValues(t *testing.T) {
	cases := []struct {
		name   string
		doc    string
		public []string
		masked []string
		clear  []string
	}{
		{"public url, secret token", `{"Url":"https://v.example/","Token":"tok-abcdef"}`, []string{"https://v.example/"},
			[]string{"tok-abcdef"}, []string{"https://v.example/"}},
		{"derived from a public value is secret", `{"Url":"https://v.example/api"}`, []string{"https://v.example/"},
			[]string{"https://v.example/api"}, nil},
		{"no public values", `{"a":{"b":["x-secret-1"]}}`, nil, []string{"x-secret-1"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSet()
			if err := s.AddContext([]byte(tc.doc), tc.public); err != nil {
				t.Fatal(err)
			}
			for _, m := range tc.masked {
				if got := s.String("<" + m + ">"); got != "<"+Mask+">" {
					t.Errorf("%q not masked: %q", m, got)
				}
			}
			for _, c := range tc.clear {
				if got := s.String(c); got != c {
					t.Errorf("%q masked: %q", c, got)
				}
			}
		})
	}
	if err := NewSet().AddContext([]byte("{not json"), nil); err == nil {
		t.Fatal("a context that does not parse must be an error")
	}
}
