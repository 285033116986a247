//go:build windows

package agent

import (
	"os"
	"os/exec"
	"strings"

	"github.com/psbridge/psbridge/agent/wire"
)

// regValue reads one registry value with reg.exe ("" when missing).
func regValue(key, name string) string {
	out, err := exec.Command("reg", "query", key, "/v", name).Output()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && strings.EqualFold(f[0], name) && strings.HasPrefix(f[1], "REG_") {
			return strings.Join(f[2:], " ")
		}
	}
	return ""
}

// collectOS reads the registry: product name and build, BIOS vendor and model, the machine
// GUID, the domain and the last logged-on user.
func collectOS() wire.Inventory {
	var inv wire.Inventory
	inv.ComputerName = os.Getenv("COMPUTERNAME")
	const cv = `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion`
	inv.OSName = regValue(cv, "ProductName")
	if inv.OSName == "" {
		inv.OSName = "Windows"
	}
	inv.OSVersion = strings.TrimSpace(regValue(cv, "DisplayVersion") + " " + regValue(cv, "CurrentBuild"))
	const bios = `HKLM\HARDWARE\DESCRIPTION\System\BIOS`
	inv.Manufacturer = regValue(bios, "SystemManufacturer")
	inv.Model = regValue(bios, "SystemProductName")
	if g := regValue(`HKLM\SOFTWARE\Microsoft\Cryptography`, "MachineGuid"); g != "" {
		inv.DeviceID = deviceIDFrom(g)
	}
	inv.Domain = os.Getenv("USERDNSDOMAIN")
	if inv.Domain == "" {
		inv.Domain = regValue(`HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters`, "Domain")
	}
	inv.LoggedOnUser = regValue(`HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Authentication\LogonUI`, "LastLoggedOnUser")
	return inv
}
