package httpx

import (
	"errors"
	"testing"
)

// FuzzDecodeBytes: any request body decodes or fails with a *RequestError (never a panic or
// another error type), into a struct shaped like the API's inputs.
func FuzzDecodeBytes(f *testing.F) {
	for _, s := range []string{`{"name":"x","args":{"a":1}}`, `{"name": "x",}`, `{"n":1} {}`, ``, `{"tags":["a"],"n":1e400}`, `[`, `{"args":{"x":{"y":[1,2,{"z":null}]}}}`, "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v struct {
			Name  string         `json:"name"`
			N     int64          `json:"n"`
			On    *bool          `json:"on"`
			Tags  []string       `json:"tags"`
			Args  map[string]any `json:"args"`
			Inner struct {
				F float64 `json:"f"`
			} `json:"inner"`
		}
		err := DecodeBytes(body, &v)
		var re *RequestError
		if err != nil && !errors.As(err, &re) {
			t.Fatalf("error %T %v is not a *RequestError", err, err)
		}
		if err != nil && (re.Details.Status < 400 || re.Details.Status > 499) {
			t.Fatalf("status %d for a bad body", re.Details.Status)
		}
	})
}
