package main

import (
	"strings"
	"testing"
)

// TestAgentRebootCommandFlag: a --reboot-command that does not split into a command is
// refused with exit 2 naming the flag, before the agent enrolls or connects; --help documents
// the flag with an example.
func TestAgentRebootCommandFlag(t *testing.T) {
	for _, tc := range []struct {
		value, want string
	}{
		{`shutdown "unterminated`, `--reboot-command: reboot command "shutdown \"unterminated": unterminated " quote`},
		{"  ", "--reboot-command: reboot command is empty"},
	} {
		t.Run(tc.value, func(t *testing.T) {
			stdout, stderr, code := cli(t, "agent", "--state-dir", t.TempDir(), "--reboot-command", tc.value)
			if code != exitUsage || !strings.Contains(stderr, tc.want) || stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and %q", code, stdout, stderr, tc.want)
			}
		})
	}
	stdout, _, code := cli(t, "agent", "--help")
	for _, want := range []string{"--reboot-command", "--reboot-pending-file", "--reboot-command none", "/var/run/reboot-required"} {
		if code != 0 || !strings.Contains(stdout, want) {
			t.Fatalf("agent --help (exit %d) lacks %q:\n%s", code, want, stdout)
		}
	}
}
