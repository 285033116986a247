package console

import (
	"net/url"
	"testing"
)

func TestWebsocketURL(t *testing.T) {
	q := url.Values{"instance": {"i 1"}}
	tests := []struct {
		base, want string
		err        bool
	}{
		{"http://127.0.0.1:8080", "ws://127.0.0.1:8080/api/v1/console/ws?instance=i+1", false},
		{"https://psbridge.example/", "wss://psbridge.example/api/v1/console/ws?instance=i+1", false},
		{"https://psbridge.example/api/v1", "wss://psbridge.example/api/v1/console/ws?instance=i+1", false},
		{"ws://h/prefix/api/v1/console/ws", "ws://h/prefix/api/v1/console/ws?instance=i+1", false},
		{"ftp://h", "", true},
		{"http://", "", true},
	}
	for _, tt := range tests {
		got, err := WebsocketURL(tt.base, q)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("WebsocketURL(%q) = %q, %v; want %q (error %v)", tt.base, got, err, tt.want, tt.err)
		}
	}
}
