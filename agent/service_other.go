//go:build !windows

package agent

import "context"

// StartService returns ctx unchanged: only Windows has a service control manager to speak
// to; on Linux and macOS systemd and launchd run the agent as an ordinary process.
func StartService(ctx context.Context, stateDir string) (*Service, error) {
	return &Service{Context: ctx, Stopped: func(error) {}}, nil
}
