//go:build !linux && !darwin && !windows

package agent

import (
	"os"
	"runtime"

	"github.com/psbridge/psbridge/agent/wire"
)

func collectOS() wire.Inventory {
	var inv wire.Inventory
	inv.ComputerName, _ = os.Hostname()
	inv.OSName = runtime.GOOS
	return inv
}
