package engine

// This file validates the values submitted for an Init param() block before anything runs, so
// every problem is reported at once and each names its field.

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/psbridge/psbridge/bridge"
)

// FieldError is one problem with one submitted value. Messages never contain the value of a
// password field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// FieldErrors is every problem found in one submission.
type FieldErrors []FieldError

func (es FieldErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// ValidateForm checks values (strings from a command line, or JSON values from an API) against
// the Init parameter schema and returns them converted to the parameters' types. Names match
// case-insensitively and are returned as the script spells them.
func ValidateForm(schema []bridge.ParamSchema, values map[string]any) (map[string]any, FieldErrors) {
	out := make(map[string]any, len(values))
	var errs FieldErrors
	byName := make(map[string]bridge.ParamSchema, len(schema))
	var names []string
	for _, p := range schema {
		byName[strings.ToLower(p.Name)] = p
		names = append(names, p.Name)
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p, ok := byName[strings.ToLower(k)]
		if !ok {
			msg := "unknown parameter"
			if len(names) > 0 {
				msg += " (Init accepts: " + strings.Join(names, ", ") + ")"
			} else {
				msg += " (Init declares no parameters)"
			}
			errs = append(errs, FieldError{Field: k, Message: msg})
			continue
		}
		if p.Type == "helptext" {
			errs = append(errs, FieldError{Field: p.Name, Message: "is text shown on the form, not a field: send no value for it"})
			continue
		}
		v, err := convertValue(p, values[k])
		if err != nil {
			errs = append(errs, FieldError{Field: p.Name, Message: err.Error()})
			continue
		}
		out[p.Name] = v
	}
	for _, p := range schema {
		if _, ok := out[p.Name]; ok || !p.Mandatory {
			continue
		}
		if _, given := valueFor(values, p.Name); given {
			continue // already reported as invalid
		}
		msg := "is required (mandatory parameter of Init)"
		if p.Type == "oauthconsent" {
			msg = "is required: connect to the vendor with the field's Connect button (OAuth consent)"
		}
		errs = append(errs, FieldError{Field: p.Name, Message: msg})
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
	return out, errs
}

func valueFor(values map[string]any, name string) (any, bool) {
	for k, v := range values {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

func convertValue(p bridge.ParamSchema, v any) (any, error) {
	if s, ok := v.(string); ok && s == "" && p.Mandatory && p.Type != "string" {
		return nil, fmt.Errorf("is required (mandatory parameter of Init)")
	}
	var out any
	var err error
	switch p.Type {
	case "int":
		out, err = toInt(v)
	case "number":
		out, err = toFloat(v)
	case "bool", "switch":
		out, err = toBool(v)
	case "uri":
		s, e := toString(v)
		if e != nil {
			return nil, e
		}
		u, e := url.Parse(s)
		if e != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("must be an absolute URL such as https://example.com/")
		}
		out = s
	case "datetime":
		s, e := toString(v)
		if e != nil {
			return nil, e
		}
		if _, e := time.Parse(time.RFC3339, s); e != nil {
			if _, e2 := time.Parse("2006-01-02", s); e2 != nil {
				return nil, fmt.Errorf("must be a date such as 2026-01-31 or 2026-01-31T12:00:00Z")
			}
		}
		out = s
	case "string[]", "int[]":
		out, err = toList(v, p.Type == "int[]")
	case "string", "password", "securestring":
		out, err = toString(v)
	case "oauthconsent":
		out, err = toConsent(v)
	default:
		out = v // untyped or a type PowerShell itself converts
	}
	if err != nil {
		return nil, err
	}
	if err := checkValidation(p, out); err != nil {
		return nil, err
	}
	return out, nil
}

func toString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("must be a string")
}

func toInt(v any) (int64, error) {
	switch x := v.(type) {
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, fmt.Errorf("must be a whole number")
		}
		return int64(x), nil
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case json.Number:
		n, err := x.Int64()
		if err != nil {
			return 0, fmt.Errorf("must be a whole number")
		}
		return n, nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("must be a whole number")
		}
		return n, nil
	}
	return 0, fmt.Errorf("must be a whole number")
}

func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return 0, fmt.Errorf("must be a number")
		}
		return f, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, fmt.Errorf("must be a number")
		}
		return f, nil
	}
	return 0, fmt.Errorf("must be a number")
}

func toBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "$true", "1", "yes", "on":
			return true, nil
		case "false", "$false", "0", "no", "off":
			return false, nil
		}
	case float64:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	case json.Number:
		switch x.String() {
		case "0", "1":
			return x == "1", nil
		}
	}
	return false, fmt.Errorf("must be true or false")
}

func toList(v any, ints bool) ([]any, error) {
	var items []any
	switch x := v.(type) {
	case []any:
		items = x
	case string:
		if strings.HasPrefix(strings.TrimSpace(x), "[") {
			if err := json.Unmarshal([]byte(x), &items); err != nil {
				return nil, fmt.Errorf("must be a JSON array or a comma-separated list")
			}
		} else if x != "" {
			for _, part := range strings.Split(x, ",") {
				items = append(items, strings.TrimSpace(part))
			}
		}
	default:
		items = []any{v}
	}
	out := make([]any, 0, len(items))
	for i, it := range items {
		if ints {
			n, err := toInt(it)
			if err != nil {
				return nil, fmt.Errorf("item %d %v", i+1, err)
			}
			out = append(out, n)
			continue
		}
		s, err := toString(it)
		if err != nil {
			return nil, fmt.Errorf("item %d %v", i+1, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func checkValidation(p bridge.ParamSchema, v any) error {
	s, isString := v.(string)
	if len(p.ValidateSet) > 0 && isString {
		found := false
		for _, allowed := range p.ValidateSet {
			if strings.EqualFold(allowed, s) {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("must be one of: %s", strings.Join(p.ValidateSet, ", "))
		}
	}
	if p.NotEmpty && isString && s == "" {
		return fmt.Errorf("must not be empty")
	}
	if len(p.ValidateLength) == 2 && isString {
		if n := len([]rune(s)); n < p.ValidateLength[0] || n > p.ValidateLength[1] {
			return fmt.Errorf("must be %d to %d characters long", p.ValidateLength[0], p.ValidateLength[1])
		}
	}
	if p.ValidatePattern != "" && isString {
		// .NET and Go regular expressions agree on common patterns; PowerShell re-checks the rest.
		if re, err := regexp.Compile("(?i)" + p.ValidatePattern); err == nil && !re.MatchString(s) {
			if p.Password {
				return fmt.Errorf("does not match the required pattern")
			}
			return fmt.Errorf("does not match the pattern %s", p.ValidatePattern)
		}
	}
	if len(p.ValidateRange) == 2 {
		lo, errLo := toFloat(p.ValidateRange[0])
		hi, errHi := toFloat(p.ValidateRange[1])
		var f float64
		switch x := v.(type) {
		case int64:
			f = float64(x)
		case float64:
			f = x
		default:
			return nil
		}
		if errLo == nil && errHi == nil && (f < lo || f > hi) {
			return fmt.Errorf("must be between %v and %v", p.ValidateRange[0], p.ValidateRange[1])
		}
	}
	return nil
}

// toConsent accepts the tokens of an OAuth consent field as a JSON object (or its text) and
// returns the text, which is stored sealed like a [Password] value.
func toConsent(v any) (string, error) {
	var m map[string]any
	switch x := v.(type) {
	case map[string]any:
		m = x
	case string:
		if err := json.Unmarshal([]byte(x), &m); err != nil || m == nil {
			return "", fmt.Errorf("must be the OAuth consent's tokens as a JSON object (use the Connect button)")
		}
	default:
		return "", fmt.Errorf("must be the OAuth consent's tokens as a JSON object (use the Connect button)")
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("OAuth consent tokens: %w", err)
	}
	return string(b), nil
}

// isSecret reports whether a parameter's value is stored sealed and never shown: [Password]
// and SecureString parameters, and OAuth consent fields (their tokens).
func isSecret(p bridge.ParamSchema) bool {
	return p.Password || p.Type == "securestring" || p.Type == "oauthconsent"
}

// Secrets returns the values of password parameters, to be masked wherever they could appear.
func Secrets(schema []bridge.ParamSchema, values map[string]any) []string {
	var out []string
	for _, p := range schema {
		if !isSecret(p) {
			continue
		}
		if v, ok := valueFor(values, p.Name); ok {
			if s, err := toString(v); err == nil && s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
