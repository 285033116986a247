package engine

import (
	"errors"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/psbridge/psbridge/internal/fakes1"
)

// TestConsoleInstance checks what a console gets for an instance: the script, the modules,
// the whole form with the [Password] value, that value as a secret, and the context; and errors for ids that name no instance.
func TestConsoleInstance(t *testing.T) {
	ctx := testCtx(t)
	e, _ := newEngine(t, Config{})
	srv := httptest.NewServer(fakes1.New(fakes1.Config{}))
	defer srv.Close()
	inst := sentinelOne(t, ctx, e, srv.URL+"/")

	d, err := e.ConsoleInstance(ctx, "tester", strconv.FormatInt(inst.ID, 10))
	if err != nil {
		t.Fatal(err)
	}
	if d.ScriptName != "SentinelOne.ps1" || !strings.Contains(d.ScriptText, "New-DynamicIntegration") || d.Modules["SentinelOne"] == "" {
		t.Fatalf("script %q, modules %v", d.ScriptName, len(d.Modules))
	}
	if d.FormData["S1ApiKey"] != fakes1.DefaultAPIToken || d.FormData["S1Uri"] != srv.URL+"/" {
		t.Fatalf("form data %v", d.FormData)
	}
	if !slices.Contains(d.Secrets, fakes1.DefaultAPIToken) {
		t.Errorf("the API key is missing from the %d secrets", len(d.Secrets))
	}
	if !strings.Contains(string(d.Context), "AuthHeader") {
		t.Fatalf("context %s", d.Context)
	}

	for _, id := range []string{"", "x", "0", "-1", "999"} {
		if _, err := e.ConsoleInstance(ctx, "tester", id); !errors.Is(err, ErrNotFound) {
			t.Errorf("id %q: %v, want ErrNotFound", id, err)
		}
	}
}
