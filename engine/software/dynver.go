package software

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
	"github.com/psbridge/psbridge/engine/store"
)

// dynamicVersionsGroup is the trust group whose workers run dynamic versions scripts: on the
// server, with no computer and no integration (never an integration's worker, whose
// $IntegrationContext they must not see).
const dynamicVersionsGroup = "dynamic-versions"

// dynamicVersionsTimeout bounds one run of a dynamic versions script.
const dynamicVersionsTimeout = 120

// VersionsError means a dynamic versions script ran but its output is not a usable list of
// versions (none, or one whose version does not read as a version).
type VersionsError struct {
	SoftwareID int64
	Message    string
}

// Error names the software and what is wrong with the script's output.
func (e *VersionsError) Error() string {
	return fmt.Sprintf("software %d: dynamic versions script: %s", e.SoftwareID, e.Message)
}

// DynamicVersionsResult is what GET and POST …/dynamic-versions answer.
type DynamicVersionsResult struct {
	SoftwareID int64                  `json:"softwareId"`
	Versions   []store.DynamicVersion `json:"versions"`
	FetchedAt  time.Time              `json:"fetchedAt,omitzero"`
}

// Get returns the software of scope ("" for any scope) with the given id.
func (s *Service) Get(scope string, id int64) (store.Software, error) {
	sw, err := s.st.SoftwareByID(id)
	if err == nil && scope != "" && sw.Scope != scope {
		err = fmt.Errorf("get software %d: it is %s software, not %s: %w", id, sw.Scope, scope, store.ErrNotFound)
	}
	return sw, err
}

// CachedDynamicVersions returns the versions the software's dynamic versions script returned
// when it last ran (none, with a zero FetchedAt, when it has not run yet).
func (s *Service) CachedDynamicVersions(scope string, id int64) (DynamicVersionsResult, error) {
	sw, err := s.Get(scope, id)
	if err != nil {
		return DynamicVersionsResult{}, err
	}
	if strings.TrimSpace(sw.DynamicVersionsScript) == "" {
		return DynamicVersionsResult{}, engine.FieldErrors{{Field: "dynamicVersionsScript", Message: fmt.Sprintf("software %d has no dynamic versions script", id)}}
	}
	return DynamicVersionsResult{SoftwareID: id, Versions: nonNilVersions(sw.DynamicVersions), FetchedAt: sw.DynamicVersionsFetchedAt}, nil
}

// RefreshDynamicVersions runs the software's dynamic versions script, stores its versions
// (newest first) with the time they were fetched and returns them.
func (s *Service) RefreshDynamicVersions(ctx context.Context, scope string, id int64) (DynamicVersionsResult, error) {
	sw, err := s.Get(scope, id)
	if err != nil {
		return DynamicVersionsResult{}, err
	}
	if strings.TrimSpace(sw.DynamicVersionsScript) == "" {
		return DynamicVersionsResult{}, engine.FieldErrors{{Field: "dynamicVersionsScript", Message: fmt.Sprintf("software %d has no dynamic versions script", id)}}
	}
	vs, err := s.fetchDynamicVersions(ctx, sw, nil)
	if err != nil {
		return DynamicVersionsResult{}, err
	}
	return DynamicVersionsResult{SoftwareID: id, Versions: vs, FetchedAt: s.lastFetch(id)}, nil
}

func (s *Service) lastFetch(id int64) time.Time {
	sw, err := s.st.SoftwareByID(id)
	if err != nil {
		return time.Time{}
	}
	return sw.DynamicVersionsFetchedAt
}

// fetchDynamicVersions runs sw's dynamic versions script in the pool, checks and sorts its
// versions and caches them on the record. onRecord (may be nil) sees the script's records.
func (s *Service) fetchDynamicVersions(ctx context.Context, sw store.Software, onRecord func(bridge.Record)) ([]store.DynamicVersion, error) {
	const name = "dynamic-versions.ps1"
	res, err := s.eng.RunScript(ctx, engine.RunScriptInput{Script: sw.DynamicVersionsScript, Name: name,
		TimeoutSeconds: dynamicVersionsTimeout, Group: dynamicVersionsGroup})
	if onRecord != nil {
		var records []bridge.Record
		var se *bridge.ScriptError
		switch {
		case res != nil:
			records = res.Records
		case errors.As(err, &se):
			records = se.Records
		}
		for _, r := range records {
			onRecord(r)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("software %d: dynamic versions: %w", sw.ID, err)
	}
	vs, err := parseDynamicVersions(res.Output)
	if err != nil {
		return nil, &VersionsError{SoftwareID: sw.ID, Message: err.Error()}
	}
	SortVersions(vs)
	if _, err := s.st.UpdateSoftware(sw.ID, func(rec *store.Software) error {
		rec.DynamicVersions, rec.DynamicVersionsFetchedAt = vs, time.Now().UTC()
		return nil
	}); err != nil {
		return nil, err
	}
	return vs, nil
}

// SortVersions orders dynamic versions newest first (CompareVersions; ties keep their order).
func SortVersions(vs []store.DynamicVersion) {
	slices.SortStableFunc(vs, func(a, b store.DynamicVersion) int { return CompareVersions(b.Version, a.Version) })
}

// splitLabel splits "v1.2.3-beta+build" into "1.2.3" and "beta".
func splitLabel(v string) (string, string) {
	v = strings.TrimSpace(v)
	if len(v) > 1 && (v[0] == 'v' || v[0] == 'V') && v[1] >= '0' && v[1] <= '9' {
		v = v[1:]
	}
	if i := strings.IndexByte(v, '+'); i >= 0 {
		v = v[:i]
	}
	if i := strings.IndexByte(v, '-'); i >= 0 {
		return v[:i], v[i+1:]
	}
	return v, ""
}

// versionPattern is what a dynamic version's version must look like: dotted numbers (one to
// four parts, an optional leading v) with an optional SemVer pre-release or build label.
var versionPattern = regexp.MustCompile(`^[vV]?\d+(\.\d+){0,3}([-+][0-9A-Za-z.\-+]*)?$`)

// parseDynamicVersions reads a script's output: DynamicVersion objects, arrays of them, or
// objects whose Versions holds them (what Get-DynamicVersionsFromGitHubUrl returns).
func parseDynamicVersions(out []json.RawMessage) ([]store.DynamicVersion, error) {
	var items []map[string]any
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			if inner, ok := field(x, "Versions"); ok {
				walk(inner)
				return
			}
			items = append(items, x)
		}
	}
	for _, raw := range out {
		var v any
		if json.Unmarshal(raw, &v) == nil {
			walk(v)
		}
	}
	if len(items) == 0 {
		return nil, errors.New("it returned no versions (return New-DynamicVersion objects, or @{ Versions = @(…) })")
	}
	vs := make([]store.DynamicVersion, 0, len(items))
	for i, it := range items {
		raw, _ := field(it, "Version")
		ver := versionText(raw)
		if ver == "" {
			return nil, fmt.Errorf("version %d of %d has no Version", i+1, len(items))
		}
		if !versionPattern.MatchString(ver) {
			return nil, fmt.Errorf("version %d of %d: %q is not a version (dotted numbers such as 1.2.3)", i+1, len(items), ver)
		}
		dv := store.DynamicVersion{Version: strings.TrimPrefix(strings.TrimPrefix(ver, "v"), "V")}
		dv.URL = str(it, "Url")
		if dv.URL == "" {
			dv.URL = str(it, "Uri")
		}
		dv.FileName = str(it, "FileName")
		dv.Architecture = str(it, "Architecture")
		dv.PackageType = str(it, "PackageType")
		dv.PackageHash = str(it, "PackageHash")
		if d, ok := field(it, "DependsOnVersion"); ok {
			dv.DependsOnVersion = versionText(d)
		}
		dv.RelativeCacheSourcePath = str(it, "RelativeCacheSourcePath")
		vs = append(vs, dv)
	}
	return vs, nil
}

// field returns m's value for key, matched case-insensitively as PowerShell does.
func field(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

func str(m map[string]any, key string) string {
	v, ok := field(m, key)
	if !ok || v == nil {
		return ""
	}
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case map[string]any: // a [Uri] serialised as an object
		if s, ok := field(x, "AbsoluteUri"); ok {
			return fmt.Sprint(s)
		}
		if s, ok := field(x, "OriginalString"); ok {
			return fmt.Sprint(s)
		}
	}
	return strings.TrimSpace(fmt.Sprint(v))
}

// versionText reads a version written as text, a number or a [System.Version] object
// ({Major, Minor, Build, Revision}; parts below 0 are absent).
func versionText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case map[string]any:
		var parts []string
		for _, k := range []string{"Major", "Minor", "Build", "Revision"} {
			p, ok := field(x, k)
			n, isNum := p.(float64)
			if !ok || !isNum || n < 0 {
				break
			}
			parts = append(parts, strconv.FormatInt(int64(n), 10))
		}
		return strings.Join(parts, ".")
	}
	return strings.TrimSpace(fmt.Sprint(v))
}

func nonNilVersions(vs []store.DynamicVersion) []store.DynamicVersion {
	if vs == nil {
		return []store.DynamicVersion{}
	}
	return vs
}

// chooseDynamic picks the dynamic version a session aims for: for ThisVersion and
// OlderOrEqualVersion with a fixed version, the newest dynamic version not newer than it
// (equal for ThisVersion); otherwise the newest. ok is false when none fits.
func chooseDynamic(desired int, fixed string, vs []store.DynamicVersion) (store.DynamicVersion, bool) {
	for _, v := range vs { // newest first
		switch {
		case fixed == "" || (desired != ThisVersion && desired != OlderOrEqualVersion):
			return v, true
		case desired == ThisVersion && CompareVersions(v.Version, fixed) == 0:
			return v, true
		case desired == OlderOrEqualVersion && CompareVersions(v.Version, fixed) <= 0:
			return v, true
		}
	}
	return store.DynamicVersion{}, false
}

// dynamicVars are the variables an install or upgrade script sees for the chosen dynamic
// version: $DynamicVersion (the whole object), $URL and $InstallerUrl (its download URL),
// $InstallerFileName and $InstallerFile (its file name; psbridge downloads nothing, so this is
// a name, not a path on the computer) and $DisplayVersion (its version).
func dynamicVars(v store.DynamicVersion) map[string]any {
	return map[string]any{
		"DynamicVersion": map[string]any{"Version": v.Version, "Url": v.URL, "FileName": v.FileName, "Architecture": v.Architecture,
			"PackageType": v.PackageType, "PackageHash": v.PackageHash, "DependsOnVersion": v.DependsOnVersion,
			"RelativeCacheSourcePath": v.RelativeCacheSourcePath},
		"URL": v.URL, "InstallerUrl": v.URL, "InstallerFile": v.FileName, "InstallerFileName": v.FileName,
		"DisplayVersion": v.Version,
	}
}

// parseCheck is run in the pool to list the syntax errors of $psbScriptText (passed as an
// argument, never spliced into the text).
const parseCheck = `$__psbTokens = $null; $__psbErrors = $null
$null = [System.Management.Automation.Language.Parser]::ParseInput($psbScriptText, [ref]$__psbTokens, [ref]$__psbErrors)
foreach ($__psbE in @($__psbErrors)) { [pscustomobject]@{ line = $__psbE.Extent.StartLineNumber; column = $__psbE.Extent.StartColumnNumber; message = $__psbE.Message } }
`

// checkParses reports the first syntax error of script as a field error naming field and the
// line, running PowerShell's parser in the pool (the script itself does not run).
func (s *Service) checkParses(ctx context.Context, field, script string) error {
	res, err := s.eng.RunScript(ctx, engine.RunScriptInput{Script: parseCheck, Name: "parse-check.ps1", TimeoutSeconds: 60,
		Group: dynamicVersionsGroup, Args: map[string]any{"psbScriptText": script}})
	if err != nil {
		return fmt.Errorf("check %s parses: %w", field, err)
	}
	var issues []bridge.ParseIssue
	for _, raw := range res.Output {
		var is bridge.ParseIssue
		if json.Unmarshal(raw, &is) == nil && is.Message != "" {
			issues = append(issues, is)
		}
	}
	if len(issues) == 0 {
		return nil
	}
	msg := fmt.Sprintf("does not parse: line %d column %d: %s", issues[0].Line, issues[0].Column, issues[0].Message)
	if len(issues) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(issues)-1)
	}
	return engine.FieldErrors{{Field: field, Message: msg}}
}

// resolveVersion sets the version item it aims for. Software with a dynamic versions script
// and a desired state that installs it gets its dynamic versions fetched now (logged), and
// the chosen one (chooseDynamic) becomes the version to compare with and the one the install
// and upgrade scripts receive. A failed fetch fails the item (it.err).
func (s *Service) resolveVersion(ctx context.Context, it *item, prefix bool, logf func(string, string, ...any)) {
	it.want = it.sw.Version
	if strings.TrimSpace(it.sw.DynamicVersionsScript) == "" || it.desired == NoAction || it.desired == NotPresent {
		return
	}
	say := logf
	if prefix {
		say = func(level, format string, args ...any) {
			logf(level, "%s: %s", it.sw.Name, fmt.Sprintf(format, args...))
		}
	}
	say("info", "fetching dynamic versions")
	vs, err := s.fetchDynamicVersions(ctx, it.sw, func(r bridge.Record) {
		if r.Message != "" {
			say(r.Stream, "%s", r.Message)
		}
	})
	if err != nil {
		it.err = "resolution: " + err.Error()
		return
	}
	texts := make([]string, len(vs))
	for i, v := range vs {
		texts[i] = v.Version
	}
	say("info", "dynamic versions (newest first): %s", strings.Join(texts, ", "))
	v, ok := chooseDynamic(it.desired, it.sw.Version, vs)
	if !ok {
		it.err = fmt.Sprintf("resolution: no dynamic version is %s %s", stateName(it.desired), it.sw.Version)
		return
	}
	it.want, it.dyn = v.Version, &v
	say("info", "chosen dynamic version %s (url %s, file %s)", v.Version, v.URL, v.FileName)
}
