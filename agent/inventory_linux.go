//go:build linux

package agent

import (
	"bufio"
	"os"
	"os/exec"
	"strings"

	"github.com/psbridge/psbridge/agent/wire"
)

// collectOS reads /etc/os-release, DMI (/sys/class/dmi/id) and the machine id; serials are
// readable by root only on most systems.
func collectOS() wire.Inventory {
	var inv wire.Inventory
	inv.ComputerName, _ = os.Hostname()
	rel := map[string]string{}
	if f, err := os.Open("/etc/os-release"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), "=")
			if ok {
				rel[k] = strings.Trim(v, `"'`)
			}
		}
		f.Close()
	}
	inv.OSName = rel["NAME"]
	if inv.OSName == "" {
		inv.OSName = "Linux"
	}
	inv.OSVersion = rel["VERSION_ID"]
	if inv.OSVersion == "" {
		inv.OSVersion = rel["VERSION"]
	}
	inv.Manufacturer = readTrim("/sys/class/dmi/id/sys_vendor")
	inv.Model = readTrim("/sys/class/dmi/id/product_name")
	inv.Serial = readTrim("/sys/class/dmi/id/product_serial")
	if mid := readTrim("/etc/machine-id"); mid != "" {
		inv.DeviceID = deviceIDFrom(mid)
	} else if mid := readTrim("/var/lib/dbus/machine-id"); mid != "" {
		inv.DeviceID = deviceIDFrom(mid)
	}
	if out, err := exec.Command("who").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 0 {
				inv.LoggedOnUser = f[0]
				break
			}
		}
	}
	return inv
}
