package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/psbridge/psbridge/internal/testpwsh"
)

// watchBuffer is an output buffer a test can wait on: every Write wakes waitFor.
type watchBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func newWatchBuffer() *watchBuffer { return &watchBuffer{wrote: make(chan struct{}, 1)} }

func (w *watchBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	n, err := w.buf.Write(p)
	w.mu.Unlock()
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return n, err
}

func (w *watchBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitFor blocks until want appears in the output at or after offset from, and returns the
// offset just past it. It waits on writes, not on a clock; ctx bounds the wait.
func (w *watchBuffer) waitFor(t *testing.T, ctx context.Context, from int, want string, other *watchBuffer) int {
	t.Helper()
	for {
		s := w.String()
		if i := strings.Index(s[from:], want); i >= 0 {
			return from + i + len(want)
		}
		select {
		case <-w.wrote:
		case <-ctx.Done():
			t.Fatalf("no %q in dev's output:\n%s\nstderr:\n%s", want, s, other.String())
		}
	}
}

const devScriptV1 = `$Integration = New-DynamicIntegration -Init {
    param([Parameter(Mandatory)][string]$Name)
    $IntegrationContext.Name = $Name
    [OpResult]::Ok()
} -HealthCheck { New-HealthyResult "version one for $($IntegrationContext.Name)" }
$Integration
`

func TestDevRerunsOnSaveAndShowsTheChange(t *testing.T) {
	t.Setenv("PSBRIDGE_PWSH", testpwsh.Pwsh(t))
	t.Setenv("PSBRIDGE_CACHE_DIR", testpwsh.CacheDir())
	script := writeScript(t, devScriptV1)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	stdout, stderr := newWatchBuffer(), newWatchBuffer()
	done := make(chan error, 1)
	go func() { done <- dispatch(runCtx, []string{"dev", script, "--param", "Name=Contoso"}, stdout, stderr) }()

	at := stdout.waitFor(t, ctx, 0, "── run 1 at", stderr)
	at = stdout.waitFor(t, ctx, at, `"message": "version one for Contoso"`, stderr)
	at = stdout.waitFor(t, ctx, at, "watching ", stderr)

	// Save the script as an editor would; dev runs it again in the same worker.
	v2 := strings.Replace(devScriptV1, "version one", "version two", 1)
	if err := os.WriteFile(script, []byte(v2), 0o644); err != nil {
		t.Fatal(err)
	}
	at = stdout.waitFor(t, ctx, at, "── run 2 at", stderr)
	at = stdout.waitFor(t, ctx, at, "integration.ps1 changed", stderr)
	at = stdout.waitFor(t, ctx, at, `"message": "version two for Contoso"`, stderr)
	at = stdout.waitFor(t, ctx, at, "── changed since run 1 ──\n", stderr)
	at = stdout.waitFor(t, ctx, at, `-     "message": "version one for Contoso"`, stderr)
	stdout.waitFor(t, ctx, at, `+     "message": "version two for Contoso"`, stderr)

	// Ctrl-C (the context's cancellation) ends dev with exit 0.
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dev returned %v after Ctrl-C, want nil (exit 0)", err)
		}
	case <-ctx.Done():
		t.Fatal("dev did not return after its context was cancelled")
	}
	if strings.Contains(stdout.String(), "── run 3") {
		t.Errorf("one save ran more than once:\n%s", stdout.String())
	}
}

func TestDevHelpAndBadArguments(t *testing.T) {
	out, errOut, code := cli(t, "dev", "-h")
	if code != exitOK || !strings.Contains(errOut+out, "The edit loop") || !strings.Contains(errOut+out, "--debounce") {
		t.Errorf("dev -h: code %d, output:\n%s%s", code, out, errOut)
	}
	_, errOut, code = cli(t, "dev")
	if code != exitUsage || !strings.Contains(errOut, "dev needs exactly one SCRIPT") {
		t.Errorf("dev without SCRIPT: code %d, stderr:\n%s", code, errOut)
	}
	_, errOut, code = cli(t, "dev", "x.ps1", "--param", "novalue")
	if code != exitUsage || !strings.Contains(errOut, "want NAME=VALUE") {
		t.Errorf("dev --param novalue: code %d, stderr:\n%s", code, errOut)
	}
}

func TestLineDiff(t *testing.T) {
	cases := []struct{ a, b, want string }{
		{"a\nb\n", "a\nb\n", ""},
		{"a\nb\nc\n", "a\nB\nc\n", "- b\n+ B\n"},
		{"a\n", "a\nb\n", "+ b\n"},
		{"a\nb\n", "b\n", "- a\n"},
		{"", "x\n", "- \n+ x\n"},
	}
	for _, c := range cases {
		if got := lineDiff(c.a, c.b, 40); got != c.want {
			t.Errorf("lineDiff(%q, %q) = %q, want %q", c.a, c.b, got, c.want)
		}
	}
	var a, b strings.Builder
	for i := 0; i < 100; i++ {
		a.WriteString("x\n")
		b.WriteString("y\n")
	}
	if got := lineDiff(a.String(), b.String(), 10); !strings.HasSuffix(got, "… 190 more changed lines\n") {
		t.Errorf("long diff not cut: %q", got)
	}
}
