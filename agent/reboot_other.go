//go:build !windows

package agent

// systemRebootReasons is empty off Windows: Linux says so with a file (--reboot-pending-file)
// and macOS has no known signal.
func systemRebootReasons() []string { return nil }
