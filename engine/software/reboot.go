package software

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/computers"
	"github.com/psbridge/psbridge/engine/store"
)

// RebootPreference is ImmyBot's RebootPreference of run-immy-service: what a session does
// about a reboot its actions leave pending. JSON takes the number or the name.
type RebootPreference int

// Reboot preferences (ImmyBot's values).
const (
	RebootNormal   RebootPreference = 0  // reboot when a reboot is pending
	RebootSuppress RebootPreference = 1  // never reboot
	RebootPrompt   RebootPreference = 2  // ask the user; psbridge cannot, so promptTimeoutAction decides
	RebootForce    RebootPreference = -1 // reboot even when none is pending
)

// PromptTimeoutAction is ImmyBot's PromptTimeoutAction: what happens when nobody answers a
// reboot prompt (for psbridge, always: it has no prompt). JSON takes the number or the name.
type PromptTimeoutAction int

// Prompt timeout actions (ImmyBot's values).
const (
	PromptReboot      PromptTimeoutAction = 0
	PromptSuppress    PromptTimeoutAction = 1
	PromptFailSession PromptTimeoutAction = 2
)

// badEnum marks a value that is neither a known number nor a known name; Run refuses it with
// a field error (decoding does not fail, so the error names the field the psbridge way).
const badEnum = math.MinInt32

var (
	rebootNames = map[int]string{int(RebootNormal): "Normal", int(RebootSuppress): "Suppress", int(RebootPrompt): "Prompt", int(RebootForce): "Force"}
	promptNames = map[int]string{int(PromptReboot): "Reboot", int(PromptSuppress): "Suppress", int(PromptFailSession): "FailSession"}
)

// parseEnum reads a JSON number or name of names (null is the zero value).
func parseEnum(b []byte, names map[int]string) int {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return 0
	}
	var name string
	if json.Unmarshal(b, &name) == nil {
		for v, n := range names {
			if strings.EqualFold(n, strings.TrimSpace(name)) {
				return v
			}
		}
		if v, err := strconv.Atoi(strings.TrimSpace(name)); err == nil {
			if _, ok := names[v]; ok {
				return v
			}
		}
		return badEnum
	}
	v, err := strconv.Atoi(string(b))
	if _, ok := names[v]; err != nil || !ok {
		return badEnum
	}
	return v
}

// UnmarshalJSON takes 0, 1, 2, -1 or "Normal", "Suppress", "Prompt", "Force".
func (p *RebootPreference) UnmarshalJSON(b []byte) error {
	*p = RebootPreference(parseEnum(b, rebootNames))
	return nil
}

// String is the preference's name.
func (p RebootPreference) String() string {
	if n, ok := rebootNames[int(p)]; ok {
		return n
	}
	return strconv.Itoa(int(p))
}

// UnmarshalJSON takes 0, 1, 2 or "Reboot", "Suppress", "FailSession".
func (a *PromptTimeoutAction) UnmarshalJSON(b []byte) error {
	*a = PromptTimeoutAction(parseEnum(b, promptNames))
	return nil
}

// String is the action's name.
func (a PromptTimeoutAction) String() string {
	if n, ok := promptNames[int(a)]; ok {
		return n
	}
	return strconv.Itoa(int(a))
}

// checkReboot adds the field errors of the reboot fields of a request.
func checkReboot(in RunInput) engine.FieldErrors {
	var fe engine.FieldErrors
	if _, ok := rebootNames[int(in.RebootPreference)]; !ok {
		fe = append(fe, engine.FieldError{Field: "rebootPreference", Message: "must be 0 (Normal), 1 (Suppress), 2 (Prompt) or -1 (Force), or one of those names"})
	}
	if _, ok := promptNames[int(in.PromptTimeoutAction)]; !ok {
		fe = append(fe, engine.FieldError{Field: "promptTimeoutAction", Message: "must be 0 (Reboot), 1 (Suppress) or 2 (FailSession), or one of those names"})
	}
	if in.PromptTimeoutMinutes < 0 {
		fe = append(fe, engine.FieldError{Field: "promptTimeoutMinutes", Message: "must not be negative"})
	}
	return fe
}

// rebootNeed is what a session's action stage learnt about reboots.
type rebootNeed struct {
	actionRan bool   // an install, upgrade or uninstall script ran to its end
	exitCode  string // an action script returned 3010 or 1641 ("" when none did)
}

// rebootExitCodes are the installer exit codes that mean "done, reboot required" (msiexec's
// ERROR_SUCCESS_REBOOT_REQUIRED and ERROR_SUCCESS_REBOOT_INITIATED).
var rebootExitCodes = map[string]bool{"3010": true, "1641": true}

// noteExitCode records a reboot when the action script's last output is 3010 or 1641.
func (rb *rebootNeed) noteExitCode(output []json.RawMessage) {
	if len(output) == 0 {
		return
	}
	var n json.Number
	d := json.NewDecoder(bytes.NewReader(output[len(output)-1]))
	d.UseNumber()
	if d.Decode(&n) == nil && rebootExitCodes[n.String()] {
		rb.exitCode = n.String()
	}
}

// sessionVars are the variables ImmyBot gives a session's scripts about reboots.
func sessionVars(in RunInput, args map[string]any) map[string]any {
	out := map[string]any{"RebootPreference": in.RebootPreference.String(), "AutoConsentToReboots": in.AutoConsentToReboots}
	for k, v := range args {
		out[k] = v
	}
	return out
}

// Reboot actions a session records per computer.
const (
	RebootActionRebooted   = "rebooted"
	RebootActionSuppressed = "suppressed"
	RebootActionRefused    = "refused"
	RebootActionNone       = "none"
)

// rebootStage asks the agent whether a reboot is pending and applies the request's
// preference. It records m.RebootPending and m.RebootAction and returns the state the session
// ends in because of it ("" when the reboot stage changes nothing) and the message.
func (s *Service) rebootStage(ctx context.Context, m *store.MaintenanceSession, in RunInput, rb rebootNeed,
	logf func(string, string, ...any)) (state, msg string) {
	hub := s.eng.Hub()
	m.RebootAction = RebootActionNone
	st, err := hub.RebootPending(ctx, m.ComputerID)
	switch {
	case errors.Is(err, computers.ErrAgentTooOld):
		logf("warning", "agent too old for reboot handling: it cannot say whether a reboot is pending; no reboot (rebootPreference %s)", in.RebootPreference)
		return "", ""
	case err != nil:
		return StateCompletedWithErrors, "reboot check: " + err.Error()
	case st.Error != "":
		logf("warning", "reboot check on the computer: %s", st.Error)
	}
	pending := st.Pending
	if pending {
		logf("info", "reboot pending: %s", strings.Join(st.Reasons, ", "))
	}
	if rb.exitCode != "" {
		logf("info", "reboot pending: an action script returned exit code %s", rb.exitCode)
		pending = true
	}
	if !pending {
		logf("info", "no reboot pending")
	}
	m.RebootPending = pending

	reboot := false
	switch in.RebootPreference {
	case RebootNormal:
		reboot = pending
	case RebootSuppress:
		if pending {
			logf("info", "reboot pending, suppressed by rebootPreference Suppress")
			m.RebootAction = RebootActionSuppressed
		}
	case RebootForce:
		reboot = true
		if !pending {
			logf("info", "no reboot pending, rebooting anyway: rebootPreference Force")
		}
	case RebootPrompt:
		if !pending {
			break
		}
		logf("info", "rebootPreference Prompt: psbridge cannot prompt the user, so promptTimeoutAction %s applies", in.PromptTimeoutAction)
		switch in.PromptTimeoutAction {
		case PromptReboot:
			reboot = true
		case PromptSuppress:
			logf("info", "reboot pending, suppressed by promptTimeoutAction Suppress")
			m.RebootAction = RebootActionSuppressed
		case PromptFailSession:
			m.RebootAction = RebootActionSuppressed
			return "failed", "a reboot is pending and rebootPreference Prompt could not ask the user: promptTimeoutAction FailSession fails the session"
		}
	}
	if !reboot {
		return "", ""
	}
	r, err := hub.Reboot(ctx, m.ComputerID)
	switch {
	case errors.Is(err, computers.ErrAgentTooOld):
		logf("warning", "agent too old for reboot handling: the computer is not rebooted")
		return "", ""
	case err != nil:
		return StateCompletedWithErrors, "reboot: " + err.Error()
	case r.Refused != "":
		m.RebootAction = RebootActionRefused
		return StateCompletedWithErrors, "the agent refused the reboot: " + r.Refused
	case r.Error != "":
		return StateCompletedWithErrors, "reboot: " + r.Error
	}
	m.RebootAction = RebootActionRebooted
	logf("info", "the computer's agent ran its reboot command: the computer reboots")
	return "", ""
}
