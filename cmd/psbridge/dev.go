package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/spf13/cobra"

	"github.com/psbridge/psbridge/bridge"
)

const devLong = `The edit loop for writing an integration. dev keeps one pwsh worker warm, runs Init and
HealthCheck (or the --call method) like 'psbridge run', prints the result, and then watches
SCRIPT and every --module file. Each time you save one of them it runs again in the warm
worker (no cold pwsh start) and prints the new result followed by what changed since the
previous run:

  ── run 2 at 14:03:07 (integration.ps1 changed) ──
  { ...the result as JSON... }
  ── changed since run 1 ──
  -     "message": "not yet"
  +     "message": "connected"

A run that fails (a script error, a bad parameter, an unhealthy HealthCheck) prints the error
and keeps watching: fix the file and save again. Init or a method that wrote non-terminating
errors prints "psbridge: METHOD completed with errors"; a module the script imports that
psbridge lacks is named in a warning. Saves that come in a burst (editors often
write a file two or three times) start one run, --debounce after the last of them.
Ctrl-C stops dev and exits 0.

The flags are run's flags ('psbridge run -h' explains --param, --arg and --module values).`

const devExample = `  # against the fake SentinelOne API (in another terminal: psbridge fake-s1 --token demo-token)
  psbridge dev testdata/examples/07-sentinelone.ps1 --module testdata/modules/SentinelOne.psm1 \
      --param S1Uri=http://127.0.0.1:8081/ --param S1ApiKey=demo-token --call GetClients
  # a skeleton from 'psbridge new'
  psbridge dev Contoso/Contoso.ps1 --param ApiUrl=http://127.0.0.1:8081/ --param ApiKey=psbridge-fake-s1-token`

func newDevCmd() *cobra.Command {
	rf := &runFlags{}
	var debounce time.Duration
	cmd := &cobra.Command{
		Use:         "dev SCRIPT",
		Short:       "run a script like run, then again each time it or a module is saved (edit loop)",
		Long:        devLong,
		Example:     devExample,
		Annotations: synopsis("psbridge dev " + runSynopsis),
		Args:        exactlyOne("SCRIPT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := rf.spec(args[0])
			if err != nil {
				return err
			}
			return runDev(cmd.Context(), rf.pwsh, spec, debounce, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	rf.register(cmd.Flags())
	cmd.Flags().DurationVar(&debounce, "debounce", 150*time.Millisecond, "quiet time after the last save before running again")
	return cmd
}

func runDev(ctx context.Context, pwshFlag string, spec *runSpec, debounce time.Duration, stdout, stderr io.Writer) error {

	// The files to watch: the script and each module file. Their directories are watched, not
	// the files, because many editors save by writing a new file and renaming it over the old.
	watched := map[string]bool{}
	files := []string{spec.scriptPath}
	for _, m := range spec.modules {
		_, file := bridge.ModuleSpec(m)
		files = append(files, file)
	}
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return &exitError{code: exitEnv, err: fmt.Errorf("watch files: %w", err)}
	}
	defer watcher.Close()
	dirs := map[string]bool{}
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			return usageErr("%s: %v", f, err)
		}
		watched[filepath.Clean(abs)] = true
		dir := filepath.Dir(abs)
		if dirs[dir] {
			continue
		}
		dirs[dir] = true
		if err := watcher.Add(dir); err != nil {
			return usageErr("watch %s: %v", dir, err)
		}
	}

	pwsh, err := findPwsh(ctx, pwshFlag, false, stderr)
	if err != nil {
		return err
	}
	pool, err := startPool(ctx, pwsh, bridge.Config{MinWorkers: 1, MaxWorkers: 1})
	if err != nil {
		return err
	}
	defer closePool(pool)

	var prev string
	n := 0
	run := func(reason string) {
		n++
		fmt.Fprintf(stdout, "── run %d at %s%s ──\n", n, time.Now().Format("15:04:05"), reason)
		var out bytes.Buffer
		err := runOnce(ctx, pool, spec, &out, stderr)
		if ctx.Err() != nil {
			return
		}
		result := out.String()
		stdout.Write(out.Bytes())
		var ee *exitError
		if err != nil && !errors.Is(err, errSilent) && !(errors.As(err, &ee) && ee.code == exitErrors) {
			// (runOnce printed "completed with errors" already; dev has no exit code to set.)
			fmt.Fprintln(stderr, "psbridge:", err)
		}
		if n > 1 {
			if diff := lineDiff(prev, result, 40); diff == "" {
				fmt.Fprintf(stdout, "── unchanged since run %d ──\n", n-1)
			} else {
				fmt.Fprintf(stdout, "── changed since run %d ──\n%s", n-1, diff)
			}
		}
		prev = result
		fmt.Fprintf(stdout, "watching %s; save to run again, Ctrl-C stops\n", strings.Join(files, ", "))
	}
	run("")

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var changed []string
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-watcher.Events:
			if !ok {
				return nil
			}
			if !watched[filepath.Clean(ev.Name)] || !ev.Has(fsnotify.Write|fsnotify.Create|fsnotify.Rename) {
				continue
			}
			if name := filepath.Base(ev.Name); !containsString(changed, name) {
				changed = append(changed, name)
			}
			timer.Reset(debounce)
		case err, ok := <-watcher.Errors:
			if !ok {
				return nil
			}
			fmt.Fprintln(stderr, "psbridge: watch:", err)
		case <-timer.C:
			reason := " (" + strings.Join(changed, ", ") + " changed)"
			changed = nil
			run(reason)
		}
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// lineDiff returns the lines removed ("- ") and added ("+ ") going from a to b, in order, at
// most max lines (then a count of the rest), or "" when a and b are equal. It is a
// longest-common-subsequence diff, fine for results of a few thousand lines; larger ones are
// compared line by line at the same positions.
func lineDiff(a, b string, max int) string {
	if a == b {
		return ""
	}
	al := strings.Split(strings.TrimSuffix(a, "\n"), "\n")
	bl := strings.Split(strings.TrimSuffix(b, "\n"), "\n")
	var lines []string
	if len(al)*len(bl) > 4_000_000 {
		for i := 0; i < len(al) || i < len(bl); i++ {
			switch {
			case i >= len(al):
				lines = append(lines, "+ "+bl[i])
			case i >= len(bl):
				lines = append(lines, "- "+al[i])
			case al[i] != bl[i]:
				lines = append(lines, "- "+al[i], "+ "+bl[i])
			}
		}
	} else {
		// lcs[i][j] is the length of the longest common subsequence of al[i:] and bl[j:].
		lcs := make([][]int, len(al)+1)
		for i := range lcs {
			lcs[i] = make([]int, len(bl)+1)
		}
		for i := len(al) - 1; i >= 0; i-- {
			for j := len(bl) - 1; j >= 0; j-- {
				if al[i] == bl[j] {
					lcs[i][j] = lcs[i+1][j+1] + 1
				} else {
					lcs[i][j] = max2(lcs[i+1][j], lcs[i][j+1])
				}
			}
		}
		i, j := 0, 0
		for i < len(al) || j < len(bl) {
			switch {
			case i < len(al) && j < len(bl) && al[i] == bl[j]:
				i++
				j++
			case i < len(al) && (j == len(bl) || lcs[i+1][j] >= lcs[i][j+1]):
				lines = append(lines, "- "+al[i])
				i++
			default:
				lines = append(lines, "+ "+bl[j])
				j++
			}
		}
	}
	if len(lines) == 0 {
		return "" // only a trailing newline differed
	}
	var sb strings.Builder
	for k, l := range lines {
		if k == max {
			fmt.Fprintf(&sb, "… %d more changed lines\n", len(lines)-max)
			break
		}
		sb.WriteString(l + "\n")
	}
	return sb.String()
}

func max2(a, b int) int {
	if a > b {
		return a
	}
	return b
}
