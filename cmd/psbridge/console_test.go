package main

import (
	"strings"
	"testing"
)

func TestConsoleArguments(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"console", "1", "2"}, "console takes at most one argument, the instance ID"},
		{[]string{"console", "--local", "3"}, "console takes at most one argument"},
		{[]string{"console", "--instance", "1", "2"}, "console takes at most one argument"},
		{[]string{"console", "--script", "x.ps1"}, "--script, --module and --param need --local"},
	}
	for _, tc := range cases {
		if _, stderr, code := cli(t, tc.args...); code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, stderr)
		}
	}
}
