//go:build unix

package console

import (
	"bytes"
	"context"
	"errors"
	"github.com/psbridge/psbridge/internal/mask/masktest"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/psbridge/psbridge/internal/testpwsh"
)

// syncBuffer is a goroutine-safe bytes.Buffer standing in for a terminal: it answers the
// cursor position queries PSReadLine sends (pwsh waits for them) on answer.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	answer io.Writer
	amu    sync.Mutex
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	before := strings.Count(s.b.String(), "\x1b[6n")
	s.b.Write(p)
	if q := strings.Count(s.b.String(), "\x1b[6n") - before; q > 0 && s.answer != nil {
		go func() {
			s.amu.Lock()
			defer s.amu.Unlock()
			for i := 0; i < q; i++ {
				io.WriteString(s.answer, "\x1b[1;1R")
			}
		}()
	}
	return len(p), nil
}

func (s *syncBuffer) visible() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, _ := masktest.TerminalView(s.b.Bytes())
	return v
}

func waitBuffer(t *testing.T, b *syncBuffer, re string) {
	t.Helper()
	rx := regexp.MustCompile(re)
	end := time.Now().Add(deadline)
	for !rx.MatchString(b.visible()) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %q; screen:\n%s", re, tail(b.visible(), 2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDialAndRun drives a server session through the CLI's client: type, resize, exit code.
func TestDialAndRun(t *testing.T) {
	t.Parallel()
	s := newServer(t, Config{})
	base := "http" + strings.TrimPrefix(strings.Split(s.url, "/api/")[0], "ws")
	ctx, cancel := context.WithTimeout(context.Background(), 2*deadline)
	defer cancel()

	if _, err := Dial(ctx, mustURL(t, base, nil), nil); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("dial without a token: %v", err)
	}
	u := mustURL(t, base, url.Values{"cols": {"100"}, "rows": {"40"}})
	c, err := Dial(ctx, u, http.Header{"Authorization": {"Bearer alice"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.SessionID() == "" {
		t.Fatal("no session id")
	}
	inR, inW := io.Pipe()
	defer inW.Close()
	out := &syncBuffer{answer: inW}
	resize := make(chan [2]int, 1)
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := Run(ctx, c, inR, out, resize)
		done <- result{code, err}
	}()
	waitBuffer(t, out, `PS [^\n]*>`)
	io.WriteString(inW, `"w=" + ($Host.UI.RawUI.WindowSize.Width + 1000)`+"\r")
	waitBuffer(t, out, `w=1100`)
	resize <- [2]int{77, 20}
	// The resize and the next keystrokes travel separately: ask until the new size shows.
	rx := regexp.MustCompile(`v=1077`)
	for end := time.Now().Add(deadline); !rx.MatchString(out.visible()); {
		if time.Now().After(end) {
			t.Fatalf("the resize never reached pwsh; screen:\n%s", tail(out.visible(), 2000))
		}
		answers := regexp.MustCompile(`v=1\d\d\d`)
		before := len(answers.FindAllString(out.visible(), -1))
		io.WriteString(inW, `"v=" + ($Host.UI.RawUI.WindowSize.Width + 1000)`+"\r")
		for wait := time.Now().Add(5 * time.Second); len(answers.FindAllString(out.visible(), -1)) == before && time.Now().Before(wait); {
			time.Sleep(20 * time.Millisecond)
		}
	}
	io.WriteString(inW, "exit 5\r")
	select {
	case r := <-done:
		if r.err != nil || r.code != 5 {
			t.Fatalf("Run = %d, %v; want 5, nil", r.code, r.err)
		}
	case <-time.After(deadline):
		t.Fatal("Run did not return after exit")
	}
}

func mustURL(t *testing.T, base string, q url.Values) string {
	t.Helper()
	u, err := WebsocketURL(base, q)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestLocalDetachAndReattach is 'psbridge console --local' without the terminal: Ctrl-]
// detaches, the session goes on, a new attachment gets the scrollback.
func TestLocalDetachAndReattach(t *testing.T) {
	t.Parallel()
	m, err := NewManager(Config{Pwsh: testpwsh.Pwsh(t), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*deadline)
	defer cancel()
	s, err := m.Open(ctx, OpenOptions{User: "me"})
	if err != nil {
		t.Fatal(err)
	}
	lc, err := Local(s)
	if err != nil {
		t.Fatal(err)
	}
	inR, inW := io.Pipe()
	out := &syncBuffer{answer: inW}
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, lc, inR, out, nil)
		done <- err
	}()
	waitBuffer(t, out, `PS [^\n]*>`)
	io.WriteString(inW, `"mark-" + 'one'`+"\r")
	waitBuffer(t, out, `mark-one`)
	io.WriteString(inW, "\x1d")
	if err := <-done; !errors.Is(err, ErrDetached) {
		t.Fatalf("Run after Ctrl-]: %v", err)
	}
	inW.Close()

	lc2, err := Local(s)
	if err != nil {
		t.Fatal(err)
	}
	inR2, inW2 := io.Pipe()
	out2 := &syncBuffer{answer: inW2}
	defer inW2.Close()
	go func() {
		code, err := Run(ctx, lc2, inR2, out2, nil)
		if err == nil && code != 0 {
			err = errors.New("exit code " + string(rune('0'+code)))
		}
		done <- err
	}()
	waitBuffer(t, out2, `mark-one`) // replayed
	io.WriteString(inW2, "exit\r")
	if err := <-done; err != nil {
		t.Fatalf("Run after exit: %v", err)
	}
}
