package engine

import (
	"fmt"
	"regexp"
	"sort"
)

// argName is what a method argument may be called: a plain PowerShell variable name. Anything
// else (a scope such as "global:IntegrationContext", a drive such as "env:PATH", braces) would
// let a caller write variables outside the method's own parameters.
var argName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ArgNameError is a method argument whose name is not a plain identifier. The API answers it
// with 400.
type ArgNameError struct {
	Name string
}

func (e *ArgNameError) Error() string {
	return fmt.Sprintf("argument %q: names must be plain identifiers (letters, digits and '_', not starting with a digit)", e.Name)
}

// ValidArgName reports whether name may name a method argument.
func ValidArgName(name string) bool { return argName.MatchString(name) }

// CheckArgNames returns an *ArgNameError for the first (in sorted order) argument of args
// whose name is not a plain identifier, nil when every name is.
func CheckArgNames(args map[string]any) error {
	var bad []string
	for k := range args {
		if !argName.MatchString(k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return &ArgNameError{Name: bad[0]}
}
