package engine

import (
	"reflect"
	"strings"
	"testing"

	"github.com/psbridge/psbridge/bridge"
)

func TestValidateForm(t *testing.T) {
	pos := 0
	schema := []bridge.ParamSchema{
		{Name: "ApiUrl", Type: "uri", Mandatory: true, Position: &pos},
		{Name: "ApiKey", Type: "", Mandatory: true, Password: true, StripValue: true, ValidatePattern: "^[a-z0-9-]+$"},
		{Name: "PageSize", Type: "int", ValidateRange: []any{1.0, 500.0}},
		{Name: "Verbose", Type: "switch"},
		{Name: "Region", Type: "string", ValidateSet: []string{"eu", "us"}},
		{Name: "Tags", Type: "string[]"},
		{Name: "Code", Type: "string", ValidateLength: []int{2, 4}},
		{Name: "Since", Type: "datetime"},
	}
	cases := []struct {
		name   string
		values map[string]any
		want   map[string]any
		errs   []string
	}{
		{
			name:   "strings from a command line are converted",
			values: map[string]any{"apiurl": "https://x.example/", "ApiKey": "k-1", "PageSize": "20", "Verbose": "true", "Region": "EU", "Tags": "a, b", "Since": "2026-01-31"},
			want:   map[string]any{"ApiUrl": "https://x.example/", "ApiKey": "k-1", "PageSize": int64(20), "Verbose": true, "Region": "EU", "Tags": []any{"a", "b"}, "Since": "2026-01-31"},
		},
		{
			name:   "JSON values from an API",
			values: map[string]any{"ApiUrl": "https://x.example/", "ApiKey": "k-1", "PageSize": 20.0, "Verbose": false, "Tags": []any{"x"}},
			want:   map[string]any{"ApiUrl": "https://x.example/", "ApiKey": "k-1", "PageSize": int64(20), "Verbose": false, "Tags": []any{"x"}},
		},
		{
			name:   "every problem at once, each naming its field",
			values: map[string]any{"PageSize": 2.5, "Region": "mars", "Code": "x", "Nope": 1, "Since": "yesterday", "Verbose": "maybe"},
			errs: []string{
				"ApiKey: is required (mandatory parameter of Init)",
				"ApiUrl: is required (mandatory parameter of Init)",
				"Code: must be 2 to 4 characters long",
				"Nope: unknown parameter (Init accepts: ApiUrl, ApiKey, PageSize, Verbose, Region, Tags, Code, Since)",
				"PageSize: must be a whole number",
				"Region: must be one of: eu, us",
				"Since: must be a date such as 2026-01-31 or 2026-01-31T12:00:00Z",
				"Verbose: must be true or false",
			},
		},
		{
			name:   "range and pattern",
			values: map[string]any{"ApiUrl": "ftp:/nohost", "ApiKey": "NOT VALID!", "PageSize": "0"},
			errs: []string{
				"ApiKey: does not match the required pattern",
				"ApiUrl: must be an absolute URL such as https://example.com/",
				"PageSize: must be between 1 and 500",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, errs := ValidateForm(schema, tc.values)
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Error())
			}
			if !reflect.DeepEqual(msgs, tc.errs) {
				t.Fatalf("errors:\n got %q\nwant %q", msgs, tc.errs)
			}
			if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("values:\n got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestPasswordValuesNeverAppearInErrors(t *testing.T) {
	schema := []bridge.ParamSchema{{Name: "Key", Password: true, Type: "string", ValidatePattern: "^x$", ValidateLength: []int{1, 3}}}
	_, errs := ValidateForm(schema, map[string]any{"Key": "super-secret-value"})
	if len(errs) != 1 || strings.Contains(errs.Error(), "super-secret-value") {
		t.Fatalf("errs = %v", errs)
	}
}

func TestSecrets(t *testing.T) {
	schema := []bridge.ParamSchema{{Name: "Key", Password: true}, {Name: "Url", Type: "uri"}, {Name: "Pass", Type: "securestring"}}
	got := Secrets(schema, map[string]any{"key": "k1", "Url": "https://x/", "Pass": "p1"})
	if !reflect.DeepEqual(got, []string{"k1", "p1"}) {
		t.Fatalf("Secrets = %v", got)
	}
}
