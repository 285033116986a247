package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
	"unicode"

	"github.com/psbridge/psbridge/agent/wire"
)

// rebootCommandTimeout bounds the reboot command: it must schedule the reboot and exit (the
// agent answers the server only after it exited).
const rebootCommandTimeout = 60 * time.Second

// DefaultRebootCommand is the --reboot-command of an operating system (GOOS): a reboot a
// minute later, so the agent can answer the server first.
func DefaultRebootCommand(goos string) string {
	switch goos {
	case "windows":
		return `shutdown.exe /r /t 60 /c "psbridge maintenance session"`
	case "darwin":
		return "shutdown -r +1"
	}
	return `shutdown -r +1 "psbridge maintenance session"`
}

// DefaultRebootPendingFile is the --reboot-pending-file of an operating system (GOOS): the
// file Debian and Ubuntu create when an update needs a reboot; none elsewhere.
func DefaultRebootPendingFile(goos string) string {
	if goos == "linux" {
		return "/var/run/reboot-required"
	}
	return ""
}

// ParseRebootCommand splits a --reboot-command value into argv, without a shell: words are
// separated by white space, and single or double quotes group a word with spaces (they have
// no escapes, so Windows paths keep their backslashes). "none" (any case) returns nil: the
// agent refuses reboots.
func ParseRebootCommand(s string) ([]string, error) {
	if strings.EqualFold(strings.TrimSpace(s), "none") {
		return nil, nil
	}
	var (
		argv  []string
		cur   strings.Builder
		quote rune
		word  bool
	)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, word = r, true
		case unicode.IsSpace(r):
			if word {
				argv = append(argv, cur.String())
				cur.Reset()
				word = false
			}
		default:
			cur.WriteRune(r)
			word = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("reboot command %q: unterminated %c quote", s, quote)
	}
	if word {
		argv = append(argv, cur.String())
	}
	if len(argv) == 0 {
		return nil, errors.New(`reboot command is empty (use "none" to refuse reboots)`)
	}
	return argv, nil
}

// rebootPending asks the operating system whether a reboot is pending: the configured file,
// and with Config.SystemRebootChecks the platform's own signals (Windows registry keys).
func (a *Agent) rebootPending() wire.Reboot {
	var out wire.Reboot
	if f := a.cfg.RebootPendingFile; f != "" {
		switch _, err := os.Stat(f); {
		case err == nil:
			out.Reasons = append(out.Reasons, f)
		case !errors.Is(err, os.ErrNotExist):
			out.Error = fmt.Sprintf("check %s: %v", f, err)
		}
	}
	if a.cfg.SystemRebootChecks {
		out.Reasons = append(out.Reasons, systemRebootReasons()...)
	}
	out.Pending = len(out.Reasons) > 0
	return out
}

// reboot runs the reboot command as argv (no shell) and answers once it exited.
func (a *Agent) reboot(ctx context.Context) wire.Reboot {
	argv := a.cfg.RebootCommand
	if len(argv) == 0 {
		return wire.Reboot{Refused: "the agent runs with --reboot-command none: it does not reboot this computer"}
	}
	ctx, cancel := context.WithTimeout(ctx, rebootCommandTimeout)
	defer cancel()
	a.log.Warn().Strs("command", argv).Msg("rebooting the computer for a maintenance session")
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		if msg != "" {
			msg = ": " + msg
		}
		a.log.Error().Err(err).Str("output", msg).Msg("the reboot command failed")
		return wire.Reboot{Error: fmt.Sprintf("the reboot command %s failed: %v%s", argv[0], err, msg)}
	}
	return wire.Reboot{Rebooting: true}
}
