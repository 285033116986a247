package main

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/psbridge/psbridge/internal/testpwsh"
	"github.com/psbridge/psbridge/psmodule"
)

// TestStrayArgumentsAreRefused: every command refuses a positional argument it does not take,
// with exit 2 and an error naming the argument, before it does anything else.
func TestStrayArgumentsAreRefused(t *testing.T) {
	data := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"demo", "stray"}, `unexpected argument "stray": 'psbridge demo' takes no arguments`},
		{[]string{"fake-s1", "--listen", "127.0.0.1:0", "stray"}, `unexpected argument "stray"`},
		{[]string{"install-pwsh", "--if-missing", "stray"}, `unexpected argument "stray"`},
		{[]string{"precompile-pwsh", "stray"}, `unexpected argument "stray"`},
		{[]string{"healthcheck", "stray"}, `unexpected argument "stray"`},
		{[]string{"serve", "stray", "--data-dir", data}, `unexpected argument "stray"`},
		{[]string{"config", "stray"}, `unexpected argument "stray"`},
		{[]string{"version", "stray"}, `unexpected argument "stray"`},
		{[]string{"agent", "--state-dir", data, "stray"}, `unexpected argument "stray"`},
		{[]string{"token", "create", "stray", "--data-dir", data}, `unexpected argument "stray"`},
		{[]string{"token", "list", "stray", "--data-dir", data}, `unexpected argument "stray"`},
		{[]string{"key", "rotate", "stray", "--data-dir", data}, `unexpected argument "stray"`},
		{[]string{"app", "create", "--name", "x", "stray", "--data-dir", data}, `unexpected argument "stray"`},
		{[]string{"enrollment-key", "create", "--tenant", "1", "stray", "--data-dir", data}, `unexpected argument "stray"`},
		{[]string{"module", "install", "stray", "--path", data}, `unexpected argument "stray"`},
		{[]string{"completion", "bash", "stray"}, `unexpected argument "stray"`},
		{[]string{"run", "a.ps1", "stray"}, `run needs exactly one SCRIPT, got 2: unexpected argument "stray"`},
		{[]string{"dev", "a.ps1", "stray"}, `dev needs exactly one SCRIPT, got 2: unexpected argument "stray"`},
		{[]string{"new", "Contoso", "stray"}, `new needs exactly one NAME, got 2: unexpected argument "stray"`},
		{[]string{"backup", "out.db", "stray", "--data-dir", data}, `backup needs exactly one FILE, got 2: unexpected argument "stray"`},
		{[]string{"token", "revoke", "id1", "stray", "--data-dir", data}, "token revoke needs exactly one token ID"},
		{[]string{"console", "1", "stray"}, `console takes at most one argument, the instance ID, got ["1" "stray"]`},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, stderr, code := cli(t, tc.args...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 and %q", code, stderr, tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
	if entries, _ := os.ReadDir(data); len(entries) != 0 {
		t.Errorf("a refused command wrote to the data directory: %v", entries)
	}
}

// TestEveryCommandChecksItsArguments: a command added later without an Args check would take
// stray arguments silently again.
func TestEveryCommandChecksItsArguments(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Args == nil && c.Name() != "help" {
			t.Errorf("'%s' has no Args check", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(io.Discard, io.Discard))
}

func TestMistypedCommandsSuggestTheRightOne(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"serv"}, `unknown command "serv"; did you mean 'serve'?`},
		{[]string{"completion", "bsh"}, "did you mean 'bash' or 'zsh'?"},
		{[]string{"tokn", "list"}, `unknown command "tokn"; did you mean 'token'?`},
		{[]string{"enrolment-key", "create"}, "did you mean 'enrollment-key'?"},
		{[]string{"healtcheck", "--url", "http://127.0.0.1:1/"}, "did you mean 'healthcheck'?"},
		{[]string{"token", "creat", "--name", "x"}, `unknown command "creat" for 'psbridge token'; did you mean 'create'?`},
		{[]string{"key", "rotat"}, "did you mean 'rotate'?"},
		{[]string{"module", "instal"}, "did you mean 'install'?"},
		{[]string{"frobnicate"}, `unknown command "frobnicate" (see 'psbridge --help')`},
		{[]string{"key", "frobnicate"}, `unknown command "frobnicate" for 'psbridge key': key needs the subcommand 'rotate'`},
		{[]string{"run", "x.ps1", "--cal", "GetClients"}, "unknown flag: --cal (see 'psbridge run --help')"},
		{[]string{"--listen", ":80"}, "unknown flag: --listen (see 'psbridge --help')"},
		{[]string{"token", "--data-dir", "x"}, "token needs the subcommand 'create', 'list' or 'revoke' before its flags, got --data-dir"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, stderr, code := cli(t, tc.args...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 and %q", code, stderr, tc.want)
			}
		})
	}
}

// TestHelpShowsOnlyTheCommandsSettings: the commands that open the database or ask a server
// list the settings they use, not every serve setting; serve and config list them all.
func TestHelpShowsOnlyTheCommandsSettings(t *testing.T) {
	serveOnly := []string{"--workers.max", "--log.level", "--webhook.rate", "--health.interval"}
	cases := []struct {
		args      []string
		want, not []string
	}{
		{[]string{"token", "create", "--help"}, []string{"--data-dir", "--key-file", "--config", "--name", "--role"}, serveOnly},
		{[]string{"token", "list", "-h"}, []string{"--data-dir"}, serveOnly},
		{[]string{"backup", "--help"}, []string{"--data-dir", "--url", "--token"}, serveOnly},
		{[]string{"key", "rotate", "--help"}, []string{"--data-dir", "--key-file", "--key "}, serveOnly},
		{[]string{"healthcheck", "--help"}, []string{"--listen", "--url", "--timeout"}, append([]string{"--data-dir"}, serveOnly...)},
		{[]string{"app", "create", "--help"}, []string{"--name", "--admin", "--data-dir"}, serveOnly},
		{[]string{"enrollment-key", "create", "--help"}, []string{"--tenant", "--expires", "--data-dir"}, serveOnly},
		{[]string{"serve", "--help"}, append([]string{"--data-dir", "--listen"}, serveOnly...), nil},
		{[]string{"config", "--help"}, append([]string{"--reference"}, serveOnly...), nil},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, stderr, code := cli(t, tc.args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("help lacks %s:\n%s", w, stdout)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(stdout, n) {
					t.Errorf("help lists %s:\n%s", n, stdout)
				}
			}
		})
	}
	// Hidden is not refused: a command line that set a serve setting still works.
	data := t.TempDir()
	if _, stderr, code := cli(t, "token", "list", "--data-dir", data, "--workers.max", "3"); code != exitOK {
		t.Errorf("token list with a hidden setting: exit %d: %s", code, stderr)
	}
}

// TestEveryCommandHelpTeaches: each command's help starts with a one-line summary and has its
// usage, its flags and examples.
func TestEveryCommandHelpTeaches(t *testing.T) {
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		if c.Name() == "help" || c.Name() == "completion" {
			return
		}
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	walk(newRootCmd(io.Discard, io.Discard), nil)
	if len(paths) < 20 {
		t.Fatalf("only %d commands: %v", len(paths), paths)
	}
	for _, p := range paths {
		t.Run("psbridge "+strings.Join(p, " "), func(t *testing.T) {
			stdout, stderr, code := cli(t, append(p, "--help")...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			first, _, _ := strings.Cut(stdout, "\n")
			if len(first) < 10 || strings.HasPrefix(first, "Usage") {
				t.Errorf("first line %q is not a summary", first)
			}
			for _, w := range []string{"\nUsage:\n  psbridge " + strings.Join(p, " "), "\nFlags:\n", "\nExamples:\n"} {
				if !strings.Contains(stdout, w) {
					t.Errorf("help lacks %q:\n%s", w, stdout)
				}
			}
			if _, examples, _ := strings.Cut(stdout, "\nExamples:\n"); !strings.Contains(examples, strings.Join(append([]string{"psbridge"}, p...), " ")) {
				t.Errorf("the examples do not show the command:\n%s", stdout)
			}
			if strings.Contains(stdout, "[=true|false]") {
				t.Errorf("help shows pflag's bool syntax:\n%s", stdout)
			}
		})
	}
}

func TestCompletionScripts(t *testing.T) {
	cases := []struct{ shell, want string }{
		{"bash", "complete -o default -F __start_psbridge psbridge"},
		{"zsh", "#compdef psbridge"},
		{"fish", "complete -c psbridge"},
		{"powershell", "Register-ArgumentCompleter"},
	}
	for _, tc := range cases {
		t.Run(tc.shell, func(t *testing.T) {
			stdout, stderr, code := cli(t, "completion", tc.shell)
			if code != exitOK || !strings.Contains(stdout, tc.want) {
				t.Fatalf("exit %d, %d bytes without %q; stderr %s", code, len(stdout), tc.want, stderr)
			}
		})
	}
	if _, stderr, code := cli(t, "completion", "tcsh"); code != exitUsage || !strings.Contains(stderr, "completion needs the subcommand 'bash', 'zsh', 'fish' or 'powershell'") {
		t.Errorf("completion tcsh: exit %d, %s", code, stderr)
	}
}

// TestGoStyleFlagsStillWork: the Go flag package accepted -flag and -flag=value; command lines
// written that way keep working, and a value that looks like a flag stays a value.
func TestGoStyleFlagsStillWork(t *testing.T) {
	data := t.TempDir()
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"config", "-data-dir", data, "-workers.max=3", "-log.level", "debug"}, []string{"data-dir: " + data, "workers.max: 3", "log.level: debug"}},
		{[]string{"config", "--data-dir", data, "-listen", "127.0.0.1:9999"}, []string{"listen: \"127.0.0.1:9999\""}},
		{[]string{"config", "--data-dir", data, "--pwsh", "-listen"}, []string{"pwsh: -listen\n", `listen: "127.0.0.1:8080"`}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, stderr, code := cli(t, tc.args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("lacks %q:\n%s", w, stdout)
				}
			}
		})
	}
	if out, stderr, code := cli(t, "-help"); code != exitOK || !strings.Contains(out, "Usage:") {
		t.Errorf("-help: exit %d %s", code, stderr)
	}
}

func TestBrowseURL(t *testing.T) {
	cases := []struct{ listen, want string }{
		{"127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"0.0.0.0:8080", "http://127.0.0.1:8080"},
		{"[::]:9000", "http://127.0.0.1:9000"},
		{"[::1]:9000", "http://[::1]:9000"},
		{"192.0.2.7:80", "http://192.0.2.7:80"},
	}
	for _, tc := range cases {
		addr, err := net.ResolveTCPAddr("tcp", tc.listen)
		if err != nil {
			t.Fatal(err)
		}
		if got := browseURL(addr); got != tc.want {
			t.Errorf("browseURL(%s) = %s, want %s", tc.listen, got, tc.want)
		}
	}
}

// TestModuleInstall installs the module into a modules folder and loads it with a real pwsh
// the way an editor does: found on PSModulePath, with help and completion.
func TestModuleInstall(t *testing.T) {
	root := t.TempDir()
	xdg := t.TempDir()
	t.Setenv("XDG_DATA_HOME", xdg)
	dst := filepath.Join(root, "PSBridge", psmodule.Version)
	cases := []struct {
		name   string
		before func(t *testing.T)
		args   []string
		code   int
		want   string
	}{
		{"fresh", nil, []string{"--path", root}, exitOK, "installed the PSBridge module " + psmodule.Version + " in " + dst},
		{"again", nil, []string{"--path", root}, exitOK, "in " + dst + " is up to date"},
		{"changed copy", func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dst, "PSBridge.psm1"), []byte("# edited\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"--path", root}, exitOK, "installed the PSBridge module"},
		{"default scope", nil, nil, exitOK, "in " + filepath.Join(xdg, "powershell", "Modules", "PSBridge", psmodule.Version)},
		{"bad scope", nil, []string{"--scope", "Machine"}, exitUsage, `--scope must be CurrentUser or AllUsers, not "Machine"`},
		{"scope and path", nil, []string{"--scope", "AllUsers", "--path", root}, exitUsage, "give --scope or --path, not both"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before(t)
			}
			stdout, stderr, code := cli(t, append([]string{"module", "install"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
				t.Fatalf("exit %d, want %d and %q:\n%s%s", code, tc.code, tc.want, stdout, stderr)
			}
		})
	}
	for _, f := range []string{"PSBridge.psd1", "PSBridge.psm1", "PSBridge.dll", filepath.Join("PSBridge.Testing", "PSBridge.Testing.psd1")} {
		if _, err := os.Stat(filepath.Join(dst, f)); err != nil {
			t.Errorf("module file: %v", err)
		}
	}
	for _, f := range []string{"worker.ps1", "build.ps1", "src"} {
		if _, err := os.Stat(filepath.Join(dst, f)); err == nil {
			t.Errorf("%s, a worker's file, was installed", f)
		}
	}

	// A pwsh with the folder on PSModulePath finds the module by name: completion of its
	// commands without importing it (what editors offer), then Import-Module and Get-Help.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	script := `$ErrorActionPreference = 'Stop'
$c = TabExpansion2 -inputScript 'New-DynamicInteg' -cursorColumn 16
'completes: ' + (($c.CompletionMatches | ForEach-Object CompletionText) -join ',')
Import-Module PSBridge
'base: ' + (Get-Module PSBridge).ModuleBase
'synopsis: ' + (Get-Help New-DynamicIntegration).Synopsis
'type: ' + [OpResult].FullName
Import-Module (Join-Path (Get-Module PSBridge).ModuleBase 'PSBridge.Testing')
'testing: ' + (Get-Command New-PSBridgeTestIntegration).Source`
	cmd := exec.CommandContext(ctx, testpwsh.Pwsh(t), "-NoLogo", "-NoProfile", "-NonInteractive", "-Command", script)
	// Its own user folder is empty: the copy found must be the one in root.
	cmd.Env = append(os.Environ(), "PSModulePath="+root, "XDG_DATA_HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pwsh: %v\n%s", err, out)
	}
	for _, w := range []string{"completes: New-DynamicIntegration", "base: " + dst, "synopsis: Creates a dynamic integration", "type: ", "testing: PSBridge.Testing"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("pwsh output lacks %q:\n%s", w, out)
		}
	}
}
