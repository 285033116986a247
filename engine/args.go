package engine

import "github.com/psbridge/psbridge/bridge"

// ArgNameError is a method argument whose name is not a plain identifier (the pool's check,
// made early so the API can answer 400 before any work).
type ArgNameError = bridge.ArgNameError

// ValidArgName reports whether name may name a method argument.
func ValidArgName(name string) bool { return bridge.ValidArgName(name) }

// CheckArgNames returns an *ArgNameError for the first (in sorted order) argument of args
// whose name is not a plain identifier, nil when every name is.
func CheckArgNames(args map[string]any) error { return bridge.CheckArgNames(args) }
