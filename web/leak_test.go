package web

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when they leave goroutines running. Started with
// fakeVendorEnv set, the test binary serves the fake SentinelOne API instead (see
// startVendorProcess), so a benchmark can keep the vendor's allocations out of its own.
func TestMain(m *testing.M) {
	if n := os.Getenv(fakeVendorEnv); n != "" {
		os.Exit(serveFakeVendor(n))
	}
	goleak.VerifyTestMain(m)
}
