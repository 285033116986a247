//go:build windows

package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/windows/svc"
)

// StartService speaks the Windows service control protocol when the service control manager
// started this process (sc.exe create … binPath= "psbridge.exe agent --state-dir DIR"): it
// reports the service running, cancels the returned context on Stop or Shutdown, logs to
// DIR\agent.log and reports the agent's end through Stopped. Started from a console it
// changes nothing.
func StartService(ctx context.Context, stateDir string) (*Service, error) {
	isService, err := svc.IsWindowsService()
	if err != nil {
		return nil, fmt.Errorf("agent: detect the Windows service control manager: %w", err)
	}
	if !isService {
		return &Service{Context: ctx, Stopped: func(error) {}}, nil
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: state dir: %w", err)
	}
	logFile, err := os.OpenFile(filepath.Join(stateDir, "agent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("agent: service log: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	h := &serviceHandler{cancel: cancel, done: make(chan error, 1), running: make(chan struct{})}
	ran := make(chan error, 1)
	go func() { ran <- svc.Run(ServiceName, h) }()
	select {
	case <-h.running:
	case err := <-ran:
		cancel()
		logFile.Close()
		return nil, fmt.Errorf("agent: run as a Windows service: %w", err)
	}
	var once sync.Once
	stopped := func(err error) {
		once.Do(func() {
			h.done <- err
			<-ran // the manager has been told the service stopped
			cancel()
			logFile.Close()
		})
	}
	return &Service{Context: sctx, Log: logFile, Stopped: stopped}, nil
}

// serviceHandler answers the service control manager for the running agent.
type serviceHandler struct {
	cancel  context.CancelFunc
	done    chan error    // the agent's end
	running chan struct{} // closed once the manager was told the service runs
}

// Execute implements svc.Handler.
func (h *serviceHandler) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	const accepts = svc.AcceptStop | svc.AcceptShutdown
	status <- svc.Status{State: svc.StartPending}
	status <- svc.Status{State: svc.Running, Accepts: accepts}
	close(h.running)
	for {
		select {
		case err := <-h.done: // the agent stopped by itself (a rejected credential)
			return exitCode(err)
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending}
				h.cancel()
				return exitCode(<-h.done)
			}
		}
	}
}

// exitCode is the service-specific exit code Windows records for the agent's end.
func exitCode(err error) (bool, uint32) {
	if err != nil {
		return true, 1
	}
	return false, 0
}
