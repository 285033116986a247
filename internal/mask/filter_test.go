package mask

import (
	"bytes"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"
)

// filterAll runs chunks through a fresh filter (no timer) and returns everything it sent.
func filterAll(s *Set, chunks ...string) string {
	var out bytes.Buffer
	f := NewFilter(s, func(b []byte) { out.Write(b) }, 0)
	for _, c := range chunks {
		f.Write([]byte(c))
	}
	f.Close()
	return out.String()
}

func TestFilterTable(t *testing.T) {
	const secret = "hunter2-Secret"
	b64 := base64.StdEncoding.EncodeToString([]byte(secret))
	tests := []struct {
		name    string
		secrets []string
		chunks  []string
		want    string
	}{
		{"no secrets", nil, []string{"hello ", "world"}, "hello world"},
		{"plain", []string{secret}, []string{"key=" + secret + "\r\n"}, "key=" + Mask + "\r\n"},
		{"twice", []string{secret}, []string{secret + " " + secret}, Mask + " " + Mask},
		{"adjacent", []string{secret}, []string{secret + secret}, Mask},
		{"split in three reads", []string{secret}, []string{"a hun", "ter2-Se", "cret b"}, "a " + Mask + " b"},
		{"prefix only is kept", []string{secret}, []string{"hunter2-Secre", "T"}, "hunter2-SecreT"},
		{"prefix then real", []string{secret}, []string{"hunhunter2-Secret"}, "hun" + Mask},
		{"CSI inside", []string{secret}, []string{"hunt\x1b[31mer2-Secret\x1b[0m"}, Mask + "\x1b[31m\x1b[0m"},
		{"CSI split across reads", []string{secret}, []string{"hunt\x1b[3", "1mer2-Se", "cret"}, Mask + "\x1b[31m"},
		{"OSC inside", []string{secret}, []string{"hunter\x1b]0;title\x07" + "2-Secret"}, Mask + "\x1b]0;title\x07"},
		{"OSC with ST inside", []string{secret}, []string{"hu\x1b]8;;http://x/\x1b\\nter2-Secret"}, Mask + "\x1b]8;;http://x/\x1b\\"},
		{"secret in OSC title", []string{secret}, []string{"\x1b]0;" + secret + "\x07after"}, "\x1b]0;" + Mask + "\x07after"},
		{"secret in OSC title split", []string{secret}, []string{"\x1b]0;hunter", "2-Secret\x1b\\"}, "\x1b]0;" + Mask + "\x1b\\"},
		{"JSON escaped", []string{`pa"ss\word`}, []string{`{"k":"pa\"ss\\word"}`}, `{"k":"` + Mask + `"}`},
		{"URL query form", []string{"a b&c/d"}, []string{"?k=a+b%26c%2Fd&x=1"}, "?k=" + Mask + "&x=1"},
		{"URL %20 form", []string{"a b&c/d"}, []string{"?k=a%20b%26c%2Fd"}, "?k=" + Mask},
		{"base64 std", []string{secret}, []string{"Basic " + b64}, "Basic " + Mask + strings.Repeat("=", strings.Count(b64, "="))},
		{"base64 url", []string{"\xfb\xff\xfe\xfd-key"}, []string{base64.RawURLEncoding.EncodeToString([]byte("\xfb\xff\xfe\xfd-key"))}, Mask},
		{"base64 inside longer value", []string{secret}, []string{base64.StdEncoding.EncodeToString([]byte("user:" + secret))}, ""},
		{"short secret ignored", []string{"abc"}, []string{"abc abc"}, "abc abc"},
		{"overlapping secrets merge", []string{"abcdef", "defghi"}, []string{"xxabcdefghixx"}, "xx" + Mask + "xx"},
		{"longer secret wins over its prefix", []string{"abcd", "abcdefgh"}, []string{"abcdefgh!"}, Mask + "!"},
		{"unicode", []string{"pässwörd"}, []string{"x pässwörd y", ` "p\u00e4ssw\u00f6rd"`}, "x " + Mask + " y" + ` "` + Mask + `"`},
		{"lone ESC at end", []string{secret}, []string{"abc\x1b"}, "abc\x1b"},
		{"unfinished OSC flushed on close", []string{secret}, []string{"\x1b]0;hunt"}, "\x1b]0;hunt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := filterAll(NewSet(tt.secrets...), tt.chunks...)
			if tt.name == "base64 inside longer value" {
				if strings.Contains(got, b64[:8]) || !strings.Contains(got, Mask) {
					t.Fatalf("embedded base64 not masked: %q", got)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestFilterHoldsOnlyPossiblePrefix(t *testing.T) {
	s := NewSet("hunter2-Secret")
	var mu sync.Mutex
	var out bytes.Buffer
	f := NewFilter(s, func(b []byte) { mu.Lock(); out.Write(b); mu.Unlock() }, 0)
	defer f.Close()
	f.Write([]byte("PS> echo hun"))
	mu.Lock()
	got := out.String()
	mu.Unlock()
	if got != "PS> echo " {
		t.Fatalf("sent %q, want everything but the possible prefix", got)
	}
	f.Write([]byte("gry"))
	mu.Lock()
	got = out.String()
	mu.Unlock()
	if got != "PS> echo hungry" {
		t.Fatalf("sent %q after the prefix broke", got)
	}
}

func TestFilterTimerFlush(t *testing.T) {
	s := NewSet("hunter2-Secret")
	got := make(chan string, 4)
	f := NewFilter(s, func(b []byte) { got <- string(b) }, 10*time.Millisecond)
	defer f.Close()
	f.Write([]byte("hun"))
	select {
	case g := <-got:
		if g != "hun" {
			t.Fatalf("flushed %q", g)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("held-back prefix never flushed")
	}
}

func TestSecretsAddedLaterApplyToHeldBytes(t *testing.T) {
	s := NewSet("zzzz-unrelated", "tok-")
	var out bytes.Buffer
	f := NewFilter(s, func(b []byte) { out.Write(b) }, 0)
	f.Write([]byte("x tok-12")) // "tok-" is a secret: masked; "12" is not held
	s.Add("abcd-efgh")
	f.Write([]byte(" abcd-e"))
	f.Write([]byte("fgh."))
	f.Close()
	if want := "x " + Mask + "12 " + Mask + "."; out.String() != want {
		t.Fatalf("got %q want %q", out.String(), want)
	}
}

func TestString(t *testing.T) {
	s := NewSet("s3cr3t-value")
	if got := s.String("error: token s3cr3t-value rejected"); got != "error: token "+Mask+" rejected" {
		t.Fatalf("got %q", got)
	}
}

func TestVariants(t *testing.T) {
	v := Variants("a b/c")
	for _, want := range []string{"a b/c", "a+b%2Fc", "a%20b%2Fc", "a%20b%2Fc", base64.RawStdEncoding.EncodeToString([]byte("a b/c"))} {
		found := false
		for _, x := range v {
			found = found || x == want
		}
		if !found {
			t.Errorf("Variants lacks %q: %q", want, v)
		}
	}
	if Variants("abc") != nil {
		t.Error("a 3-byte secret has variants")
	}
}
