//go:build !unix

package bridge

import "github.com/psbridge/psbridge/bridge/sandbox"

// lookupUser returns nil: switching the workers' account (Config.User) needs root on a Unix
// system; elsewhere workers run as this process's account.
func lookupUser(name string) (*sandbox.Account, error) { return nil, nil }
