//go:build darwin

package agent

import (
	"os"
	"os/exec"
	"regexp"
	"strings"

	"github.com/psbridge/psbridge/agent/wire"
)

var ioregValue = regexp.MustCompile(`"(IOPlatformUUID|IOPlatformSerialNumber|manufacturer|model)" = <?"?([^">]*)"?>?`)

// collectOS asks sw_vers, ioreg and the console owner.
func collectOS() wire.Inventory {
	var inv wire.Inventory
	inv.ComputerName, _ = os.Hostname()
	if out, err := exec.Command("scutil", "--get", "ComputerName").Output(); err == nil && len(strings.TrimSpace(string(out))) > 0 {
		inv.ComputerName = strings.TrimSpace(string(out))
	}
	inv.OSName = "macOS"
	if out, err := exec.Command("sw_vers", "-productVersion").Output(); err == nil {
		inv.OSVersion = strings.TrimSpace(string(out))
	}
	inv.Manufacturer = "Apple Inc."
	if out, err := exec.Command("ioreg", "-rd1", "-c", "IOPlatformExpertDevice").Output(); err == nil {
		for _, m := range ioregValue.FindAllStringSubmatch(string(out), -1) {
			switch m[1] {
			case "IOPlatformUUID":
				inv.DeviceID = deviceIDFrom(m[2])
			case "IOPlatformSerialNumber":
				inv.Serial = m[2]
			case "model":
				inv.Model = m[2]
			}
		}
	}
	if out, err := exec.Command("stat", "-f", "%Su", "/dev/console").Output(); err == nil {
		if u := strings.TrimSpace(string(out)); u != "" && u != "root" {
			inv.LoggedOnUser = u
		}
	}
	return inv
}
