//go:build !linux

package bridge_test

import (
	"fmt"
	"os"
)

// spawningServer is the helper of TestAttackServerKilledHard, a Linux-only test.
func spawningServer() {
	fmt.Fprintln(os.Stderr, "helper: spawning-server runs on Linux only")
	os.Exit(2)
}
