package pages

// This file turns Init's param() schema into form fields and a submitted form back into the
// formData the engine validates. The engine stays the one judge of values: the page only
// decides which input each parameter gets and reports the engine's field errors beside them.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/engine"
)

// field is one input of an integration form.
type field struct {
	Name     string // the parameter name, also the input's name ("f." + Name)
	Label    string
	Help     string
	Required bool
	// Kind is the input: text, url, number, checkbox, datetime, select, list or password;
	// helptext (a paragraph, no input) or oauth (a Connect button, see web/consent).
	Kind    string
	Options []string // select choices
	Value   string   // current value (never for password)
	Checked bool     // checkbox state
	Stored  bool     // password: a value is stored and kept when the input stays empty
	Error   string
	// Connected: an OAuth consent field ("oauth") holds the vendor's tokens.
	Connected bool
	// ConnectAction is where an OAuth consent field's Connect button posts ("" on a form of an
	// integration not saved yet).
	ConnectAction string
}

// InputName is the form input name of the parameter.
func (f field) InputName() string { return "f." + f.Name }

// ID is the HTML id of the input.
func (f field) ID() string { return "f-" + f.Name }

func isPassword(p bridge.ParamSchema) bool {
	return p.Password || p.Type == "securestring" || p.Type == "password"
}

// buildFields makes one field per parameter, filled from values (saved or submitted) and
// marked with errs. Password values are never copied into a field.
func buildFields(schema []bridge.ParamSchema, values map[string]any, stored []string, errs map[string]string) []field {
	storedSet := map[string]bool{}
	for _, n := range stored {
		storedSet[strings.ToLower(n)] = true
	}
	out := make([]field, 0, len(schema))
	for _, p := range schema {
		f := field{Name: p.Name, Label: p.DisplayName, Help: p.HelpMessage, Required: p.Mandatory, Error: errs[strings.ToLower(p.Name)]}
		if f.Label == "" {
			f.Label = p.Name
		}
		v, has := lookup(values, p.Name)
		switch {
		case p.Type == "helptext":
			f.Kind, f.Required = "helptext", false
		case p.Type == "oauthconsent":
			f.Kind = "oauth"
			f.Connected = storedSet[strings.ToLower(p.Name)]
		case isPassword(p):
			f.Kind = "password"
			f.Stored = storedSet[strings.ToLower(p.Name)]
		case len(p.ValidateSet) > 0:
			f.Kind, f.Options = "select", p.ValidateSet
		case p.Type == "bool" || p.Type == "switch":
			f.Kind = "checkbox"
			f.Checked = has && truthy(v)
		case p.Type == "string[]" || p.Type == "int[]":
			f.Kind = "list"
		case p.Type == "int" || p.Type == "number":
			f.Kind = "number"
		case p.Type == "uri":
			f.Kind = "url"
		case p.Type == "datetime":
			f.Kind = "datetime"
		default:
			f.Kind = "text"
		}
		if f.Kind == "helptext" || f.Kind == "oauth" {
			// Text, and tokens that only the consent flow writes: never a value.
		} else if has && f.Kind != "password" && f.Kind != "checkbox" {
			f.Value = display(v, f.Kind == "list")
		} else if !has && f.Kind != "password" && len(p.Default) > 0 {
			var d any
			if json.Unmarshal(p.Default, &d) == nil && d != nil {
				if f.Kind == "checkbox" {
					f.Checked = truthy(d)
				} else {
					f.Value = display(d, f.Kind == "list")
				}
			}
		}
		out = append(out, f)
	}
	return out
}

func lookup(values map[string]any, name string) (any, bool) {
	if v, ok := values[name]; ok {
		return v, true
	}
	for k, v := range values {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		switch strings.ToLower(x) {
		case "true", "on", "1", "yes", "$true":
			return true
		}
	}
	return false
}

// display renders a value for an input; lists go one item per line.
func display(v any, list bool) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = display(e, false)
		}
		if list {
			return strings.Join(parts, "\n")
		}
		return strings.Join(parts, ", ")
	case []string:
		return strings.Join(x, "\n")
	case float64:
		return fmt.Sprint(x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
}

// formData reads the submitted inputs of schema. Empty inputs are left out (the engine then
// reports a missing mandatory value, applies the default, or keeps a stored password); a
// checkbox is false when absent; a list takes one item per line.
func formData(schema []bridge.ParamSchema, form url.Values) map[string]any {
	out := map[string]any{}
	for _, p := range schema {
		name := "f." + p.Name
		raw, present := form[name]
		switch {
		case p.Type == "helptext" || p.Type == "oauthconsent":
			// No input: OAuth tokens come only from the consent flow (web/consent).
		case !isPassword(p) && len(p.ValidateSet) == 0 && (p.Type == "bool" || p.Type == "switch"):
			out[p.Name] = present && truthy(firstOf(raw))
		case p.Type == "string[]" || p.Type == "int[]":
			var items []any
			for _, line := range strings.Split(strings.ReplaceAll(firstOf(raw), "\r\n", "\n"), "\n") {
				if line = strings.TrimSpace(line); line != "" {
					items = append(items, line)
				}
			}
			if len(items) > 0 {
				out[p.Name] = items
			}
		default:
			v := firstOf(raw)
			if !isPassword(p) {
				v = strings.TrimSpace(v)
			}
			if v != "" {
				out[p.Name] = v
			}
		}
	}
	return out
}

func firstOf(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// fieldErrors indexes engine field errors by lower-case parameter name ("name" for the
// integration's name, "form" for anything else).
func fieldErrors(errs engine.FieldErrors) map[string]string {
	out := map[string]string{}
	for _, fe := range errs {
		key := strings.ToLower(strings.TrimPrefix(fe.Field, "formData."))
		if !strings.HasPrefix(fe.Field, "formData.") && fe.Field != "name" {
			key = "form"
		}
		if prev := out[key]; prev != "" {
			out[key] = prev + "; " + fe.Message
		} else {
			out[key] = fe.Message
		}
	}
	return out
}
