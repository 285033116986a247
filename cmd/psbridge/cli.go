package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Command groups of the top-level help.
const (
	groupDevelop = "develop"
	groupService = "service"
	groupAgent   = "agent"
	groupSetup   = "setup"
)

// helpTemplate is every command's --help: the one-line summary, the usage lines, what the
// command does, its subcommands, its flags (only its own: settings a command does not use are
// hidden) and examples.
const helpTemplate = `{{.Short}}

Usage:
{{with index .Annotations "synopsis"}}{{.}}{{else}}  {{.UseLine}}{{end}}
{{with .Long}}
{{. | trimTrailingWhitespaces}}
{{end}}{{if .HasAvailableSubCommands}}{{$cmds := .Commands}}{{range $group := .Groups}}
{{.Title}}{{range $cmds}}{{if (and (eq .GroupID $group.ID) (or .IsAvailableCommand (eq .Name "help")))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}
{{end}}{{if not .AllChildCommandsHaveGroup}}
Commands:{{range $cmds}}{{if (and (eq .GroupID "") (or .IsAvailableCommand (eq .Name "help")))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}
{{end}}{{end}}{{if .HasAvailableLocalFlags}}
Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}
{{end}}{{if .HasExample}}
Examples:
{{.Example}}
{{end}}{{if .HasAvailableSubCommands}}
Run '{{.CommandPath}} COMMAND --help' for a command's flags and examples.
{{end}}`

// synopsis is the Annotations entry that replaces the generated usage line with hand-written
// ones (commands with several forms, or whose flags are best shown in place).
func synopsis(lines ...string) map[string]string {
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return map[string]string{"synopsis": strings.Join(lines, "\n")}
}

// newRootCmd builds the psbridge command tree writing to stdout and stderr.
func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	var showVersion bool
	root := &cobra.Command{
		Use:         "psbridge",
		Short:       "psbridge runs PowerShell integration scripts (ImmyBot dynamic integrations) unchanged.",
		Annotations: synopsis("psbridge COMMAND [flags]"),
		Example: `  psbridge demo
  psbridge serve --listen 127.0.0.1:8080 --data-dir /var/lib/psbridge
  psbridge run testdata/examples/07-sentinelone.ps1 --module testdata/modules/SentinelOne.psm1 \
      --param S1Uri=http://127.0.0.1:8081/ --param S1ApiKey=demo-token --call GetClients`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
				return nil
			case strings.HasPrefix(args[0], "-"):
				return usageErr("unknown flag: %s (see 'psbridge --help')", args[0])
			}
			msg := fmt.Sprintf("unknown command %q", args[0])
			if s := closest(cmd, args[0]); len(s) > 0 {
				msg += "; did you mean " + orList(s) + "?"
			}
			return usageErr("%s (see 'psbridge --help')", msg)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if showVersion {
				return runVersion(cmd.Context(), cmd.OutOrStdout())
			}
			cmd.SetOut(cmd.ErrOrStderr())
			_ = cmd.Help()
			return &exitError{code: exitUsage, err: errSilent}
		},
		SilenceErrors: true,
		SilenceUsage:  true,
		// A mistyped command followed by its flags is reported as the mistyped command.
		FParseErrWhitelist:         cobra.FParseErrWhitelist{UnknownFlagsHandling: pflag.PassUnknownFlagToArgs},
		SuggestionsMinimumDistance: 2,
	}
	// Before the completion command is made: it keeps the writer it finds.
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.Flags().BoolVar(&showVersion, "version", false, "print versions (as 'psbridge version' does)")
	root.SetHelpTemplate(helpTemplate)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageErr("%v (see '%s --help')", err, cmd.CommandPath())
	})
	root.AddGroup(
		&cobra.Group{ID: groupDevelop, Title: "Try and develop integrations:"},
		&cobra.Group{ID: groupService, Title: "Run and administer the service:"},
		&cobra.Group{ID: groupAgent, Title: "Managed computers:"},
		&cobra.Group{ID: groupSetup, Title: "Set up:"},
	)
	add := func(group string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	add(groupDevelop, newDemoCmd(), newRunCmd(), newDevCmd(), newNewCmd(), newConsoleCmd(), newFakeS1Cmd(), newModuleCmd())
	add(groupService, newServeCmd(), newConfigCmd(), newHealthcheckCmd(), newTokenCmd(), newAppCmd(), newUserCmd(), newEnrollmentKeyCmd(),
		newBackupCmd(), newKeyCmd())
	add(groupAgent, newAgentCmd())
	add(groupSetup, newInstallPwshCmd(), newPrecompilePwshCmd(), newVersionCmd())
	root.SetHelpCommandGroupID(groupSetup)
	root.SetCompletionCommandGroupID(groupSetup)
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			c.Short = "show the help of a command ('psbridge help run' is 'psbridge run --help')"
		case "completion":
			c.Short = "print a shell completion script (bash, zsh, fish or powershell)"
			c.Args = cobra.ArbitraryArgs
			c.SuggestionsMinimumDistance = 1 // shell names are short: "tcsh" is not "zsh"
			c.RunE = needSubcommand("'bash', 'zsh', 'fish' or 'powershell'")
			for _, shell := range c.Commands() {
				shell.Args = noArgs
			}
		}
	}
	// pflag writes every bool flag as --name[=true|false]; the help shows --name (aligned).
	help := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		var buf bytes.Buffer
		out := c.OutOrStdout()
		c.SetOut(&buf)
		help(c, args)
		c.SetOut(out)
		text := strings.ReplaceAll(buf.String(), "[=true|false]", strings.Repeat(" ", len("[=true|false]")))
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		_, _ = io.WriteString(out, text)
	})
	return root
}

// dispatch runs the command line args (without the program name) and returns its error, an
// *exitError for anything but exit 1.
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(goStyleLongFlags(root, args))
	return root.ExecuteContext(ctx)
}

// goStyleLongFlags rewrites single-dash long flags (-config FILE, -data-dir=DIR), which the
// Go flag package psbridge used before cobra accepted, to the double-dash form, so that
// command lines written for earlier releases keep working. Only names that are long flags of
// the command args select are rewritten, and the value of a flag that takes one is skipped.
func goStyleLongFlags(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil {
		cmd = root
	}
	cmd.InitDefaultHelpFlag()
	flags := cmd.Flags()
	out := slices.Clone(args)
	for i := 0; i < len(out); i++ {
		a := out[i]
		if a == "--" {
			break
		}
		if len(a) < 2 || a[0] != '-' {
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		var fl *pflag.Flag
		switch {
		case strings.HasPrefix(a, "--"):
			fl = flags.Lookup(name)
		case len(name) > 1:
			if fl = flags.Lookup(name); fl != nil {
				out[i] = "-" + a
			}
		}
		if fl != nil && !hasValue && fl.NoOptDefVal == "" {
			i++ // the flag's value, whatever it looks like
		}
	}
	return out
}

// noArgs refuses positional arguments, naming the first stray one.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErr("unexpected argument %q: '%s' takes no arguments (see '%s --help')", args[0], cmd.CommandPath(), cmd.CommandPath())
	}
	return nil
}

// exactlyOne wants one positional argument, described by what (SCRIPT, FILE, NAME).
func exactlyOne(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch len(args) {
		case 1:
			return nil
		case 0:
			return usageErr("%s needs exactly one %s, got 0 (see '%s --help')", cmd.Name(), what, cmd.CommandPath())
		}
		return usageErr("%s needs exactly one %s, got %d: unexpected argument %q (see '%s --help')", cmd.Name(), what, len(args), args[1], cmd.CommandPath())
	}
}

// parentCmd is a command that only groups subcommands (token, key, app, enrollment-key,
// module): without one, or with an unknown one, it fails naming what it wants.
func parentCmd(name, short, need string, subs ...*cobra.Command) *cobra.Command {
	// need names the subcommands for the error without one, e.g. "'create', 'list' or 'revoke'".
	c := &cobra.Command{
		Use:   name + " COMMAND",
		Short: short,
		Args:  cobra.ArbitraryArgs,
		// Flags belong to the subcommands; a mistyped subcommand followed by its flags
		// is reported as the mistyped subcommand.
		FParseErrWhitelist:         cobra.FParseErrWhitelist{UnknownFlagsHandling: pflag.PassUnknownFlagToArgs},
		SuggestionsMinimumDistance: 2,
		RunE:                       needSubcommand(need),
	}
	c.AddCommand(subs...)
	var examples []string
	for _, sub := range subs {
		if sub.Example != "" {
			examples = append(examples, sub.Example)
		}
	}
	c.Example = strings.Join(examples, "\n")
	return c
}

// needSubcommand is the RunE of a command that only groups subcommands: it fails naming the
// subcommands it wants (need), or the unknown one it got with the closest names.
func needSubcommand(need string) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			return usageErr("%s needs the subcommand %s (see '%s --help')", cmd.Name(), need, cmd.CommandPath())
		case strings.HasPrefix(args[0], "-"):
			return usageErr("%s needs the subcommand %s before its flags, got %s (see '%s --help')", cmd.Name(), need, args[0], cmd.CommandPath())
		}
		if s := closest(cmd, args[0]); len(s) > 0 {
			return usageErr("unknown command %q for '%s'; did you mean %s?", args[0], cmd.CommandPath(), orList(s))
		}
		return usageErr("unknown command %q for '%s': %s needs the subcommand %s", args[0], cmd.CommandPath(), cmd.Name(), need)
	}
}

// closest returns cobra's suggestions for typed that are nearest to it: those it starts with
// or is a prefix of, else those at the smallest edit distance ("serv" suggests 'serve', not
// also 'dev' and 'user').
func closest(cmd *cobra.Command, typed string) []string {
	all := cmd.SuggestionsFor(typed)
	var prefixed, best []string
	bestDist := -1
	for _, s := range all {
		if strings.HasPrefix(s, typed) || strings.HasPrefix(typed, s) {
			prefixed = append(prefixed, s)
			continue
		}
		switch d := editDistance(strings.ToLower(typed), strings.ToLower(s)); {
		case bestDist < 0 || d < bestDist:
			best, bestDist = []string{s}, d
		case d == bestDist:
			best = append(best, s)
		}
	}
	if len(prefixed) > 0 {
		return prefixed
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// orList quotes names and joins them with commas and a final "or".
func orList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// splitAssignment splits NAME=VALUE.
func splitAssignment(flagName, s string) (string, string, error) {
	name, value, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(name) == "" {
		return "", "", usageErr("--%s %q: want NAME=VALUE", flagName, s)
	}
	return strings.TrimSpace(name), value, nil
}

// configErr maps a config error to a usage error (exit 2).
func configErr(err error) error {
	if errors.Is(err, errSilent) {
		return err
	}
	return &exitError{code: exitUsage, err: err}
}
