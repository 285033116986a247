package mask

import (
	"github.com/psbridge/psbridge/internal/mask/masktest"
	"strings"
	"testing"
)

// escapes are interleaved inside secrets by FuzzRedact: the terminal shows the same text.
var escapes = []string{
	"\x1b[31m",
	"\x1b[0m",
	"\x1b[?25l",
	"\x1b[1;38;5;208m",
	"\x1b]0;window title\x07",
	"\x1b]8;;https://example.com/\x1b\\",
	"\x1b(B",
	"\x1b7",
	"\x1bP+q\x1b\\",
}

func containsAny(hay string, needles []string) bool {
	for _, n := range needles {
		if strings.Contains(hay, n) {
			return true
		}
	}
	return false
}

// FuzzRedact checks, for a secret interleaved with an escape sequence at every position and
// the stream split into two reads at every byte boundary, that neither the text the terminal
// shows nor any escape-sequence string contains the secret, and that a stream holding no form
// of the secret passes through unchanged.
func FuzzRedact(f *testing.F) {
	f.Add("hunter2-Secret", "PS> ", "\r\n", uint8(0), uint8(3))
	f.Add("abcd", "ab", "cd", uint8(4), uint8(1))
	f.Add("p@ss w/rd", "\x1b]0;", "\x07x", uint8(5), uint8(2))
	f.Add("aaaa", "aaa", "aaa", uint8(1), uint8(0))
	f.Add("tok-123", "\x1b[", "m", uint8(8), uint8(5))
	f.Fuzz(func(t *testing.T, secret, before, after string, escIdx, at uint8) {
		if len(secret) < MinSecretLen || len(secret) > 64 || len(before)+len(after) > 256 {
			t.Skip()
		}
		for i := 0; i < len(secret); i++ {
			if secret[i] < 0x20 || secret[i] == 0x7f || secret[i] == '*' {
				t.Skip() // secrets are printable; a '*' could read as part of the mask
			}
		}
		s := NewSet(secret)
		variants := Variants(secret)
		e := escapes[int(escIdx)%len(escapes)]
		for cut := 0; cut <= len(secret); cut++ {
			wrapped := secret[:cut] + e + secret[cut:]
			if int(at)%2 == 1 {
				wrapped = e + wrapped + "\x1b[0m"
			}
			stream := before + wrapped + after
			for split := 0; split <= len(stream); split++ {
				got := filterAll(s, stream[:split], stream[split:])
				vis, pays := masktest.TerminalView([]byte(got))
				if strings.Contains(vis, secret) {
					t.Fatalf("secret visible: cut %d split %d\nin  %q\nout %q", cut, split, stream, got)
				}
				for _, p := range pays {
					if strings.Contains(p, secret) {
						t.Fatalf("secret in escape string: cut %d split %d\nin  %q\nout %q", cut, split, stream, got)
					}
				}
			}
		}
		// A stream without any form of the secret is not changed.
		plain := before + e + after
		vis, pays := masktest.TerminalView([]byte(plain))
		if !containsAny(vis, variants) && !containsAny(strings.Join(pays, "\x00"), variants) {
			for split := 0; split <= len(plain); split++ {
				if got := filterAll(s, plain[:split], plain[split:]); got != plain {
					t.Fatalf("changed a stream without secrets: split %d\nin  %q\nout %q", split, plain, got)
				}
			}
		}
	})
}
