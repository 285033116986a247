package plugin

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
)

// FuzzRequestShaping: whatever request a webhook sender makes, the $httpContext dictionary and
// $body value are built without panicking, marshal to JSON for the worker, and never carry
// the webhook secret header.
func FuzzRequestShaping(f *testing.F) {
	f.Add("POST /plugins/api/v1/1/r?q=1&q=2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Psbridge-Secret: s\r\n\r\n", []byte(`{"n":12345678901234567890}`))
	f.Add("GET /plugins/api/v1/1 HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", []byte("\xff\xfe"))
	f.Add("PUT /plugins/api/v1/1/a%2Fb HTTP/1.0\r\nContent-Type: text/plain; charset=\"x\r\n\r\n", []byte("plain"))
	f.Add("POST /plugins/api/v1/1/r HTTP/1.1\r\nHost: x\r\nContent-Type: application/problem+json\r\n\r\n", []byte(`[1,2] 3`))
	f.Fuzz(func(t *testing.T, head string, body []byte) {
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader([]byte(head))))
		if err != nil {
			return
		}
		r.RemoteAddr = "192.0.2.1:1234"
		hc := HTTPContext(r, body)
		b := Body(r, body)
		out, err := json.Marshal(map[string]any{"httpContext": hc, "body": b})
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if hdrs, _ := hc["headers"].(map[string]any); hdrs != nil {
			for k := range hdrs {
				if http.CanonicalHeaderKey(k) == SecretHeader {
					t.Fatalf("secret header passed on: %s", out)
				}
			}
		}
	})
}
