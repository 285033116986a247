package main

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/psbridge/psbridge/internal/fakes1"
)

// tutorialCommands returns the psbridge command lines of docs/tutorial.md's sh blocks, in order.
func tutorialCommands(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(repoPath("docs", "tutorial.md"))
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	inSh := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "```sh"):
			inSh = true
		case strings.HasPrefix(line, "```"):
			inSh = false
		case inSh && strings.Contains(line, "psbridge "):
			cmds = append(cmds, strings.TrimSpace(line))
		}
	}
	return cmds
}

// TestTutorialCommands runs docs/tutorial.md's non-interactive steps (new, then run against the
// fake vendor) exactly as written, and checks that every psbridge command it shows exists and
// takes the flags it is given.
func TestTutorialCommands(t *testing.T) {
	cmds := tutorialCommands(t)
	if len(cmds) < 5 {
		t.Fatalf("found only %d psbridge commands in docs/tutorial.md: %q", len(cmds), cmds)
	}
	srv := httptest.NewServer(fakes1.New(fakes1.Config{}))
	defer srv.Close()
	fakeHost := strings.TrimPrefix(srv.URL, "http://")
	t.Chdir(t.TempDir())

	ran := map[string]int{}
	for _, line := range cmds {
		// "TOKEN=$(psbridge token create …)" and "psbridge serve … &": the command inside.
		cmdline := line[strings.Index(line, "psbridge "):]
		cmdline = strings.TrimSuffix(strings.TrimSuffix(cmdline, "&"), ")")
		args := strings.Fields(cmdline)[1:]
		switch args[0] {
		case "new", "run":
			for i, a := range args {
				args[i] = strings.ReplaceAll(a, "127.0.0.1:8081", fakeHost)
			}
			out, errOut, code := cli(t, args...)
			if code != exitOK {
				t.Fatalf("%s: exit %d\n%s%s", line, code, out, errOut)
			}
			if args[0] == "run" && !strings.Contains(line, "--call") {
				var res struct{ Health struct{ Status string } }
				if json.Unmarshal([]byte(out), &res) != nil || res.Health.Status != "Healthy" {
					t.Errorf("%s: not healthy:\n%s", line, out)
				}
			}
			ran[args[0]]++
		default:
			// Long-running or server-side: check the command and its flags parse by asking
			// for help with the same flags (flag parsing stops at -h after them).
			out, errOut, code := cli(t, append(args, "-h")...)
			if code != exitOK {
				t.Errorf("%s: %q -h exits %d\n%s%s", line, args, code, out, errOut)
			}
		}
	}
	if ran["new"] == 0 || ran["run"] == 0 {
		t.Errorf("the tutorial has no runnable new/run commands (%v)", ran)
	}
}
