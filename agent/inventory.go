package agent

import (
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/psbridge/psbridge/agent/wire"
)

// InventoryKeys are the names Overrides accept (the JSON names of wire.Inventory).
var InventoryKeys = []string{"computerName", "osName", "osVersion", "serialNumber", "manufacturer", "model",
	"domain", "loggedOnUser", "primaryUser", "primaryUserEmail", "deviceId"}

// EnvPrefix starts the environment variables that override inventory fields:
// PSBRIDGE_AGENT_INVENTORY_<KEY> with KEY upper-cased (PSBRIDGE_AGENT_INVENTORY_DEVICEID).
const EnvPrefix = "PSBRIDGE_AGENT_INVENTORY_"

func isWindows() bool { return runtime.GOOS == "windows" }

// deviceIDFrom derives a stable device id from the operating system's machine id without
// revealing it.
func deviceIDFrom(machineID string) string {
	sum := sha256.Sum256([]byte("psbridge-device\x00" + strings.TrimSpace(strings.ToLower(machineID))))
	b := sum[:16]
	b[6] = (b[6] & 0x0f) | 0x50 // a name-based UUID
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Collect reports this computer's inventory, then applies overrides (flags) and
// PSBRIDGE_AGENT_INVENTORY_* variables; overrides win over the environment.
func Collect(overrides map[string]string) (wire.Inventory, error) {
	inv := collectOS()
	if inv.ComputerName == "" {
		inv.ComputerName, _ = os.Hostname()
	}
	if i := strings.IndexByte(inv.ComputerName, '.'); i > 0 {
		if inv.Domain == "" {
			inv.Domain = inv.ComputerName[i+1:]
		}
		inv.ComputerName = inv.ComputerName[:i]
	}
	if inv.PrimaryUser == "" {
		inv.PrimaryUser = inv.LoggedOnUser
	}
	inv.Platform = runtime.GOOS + "/" + runtime.GOARCH
	set := map[string]string{}
	for _, k := range InventoryKeys {
		if v, ok := os.LookupEnv(EnvPrefix + strings.ToUpper(k)); ok {
			set[k] = v
		}
	}
	for k, v := range overrides {
		set[k] = v
	}
	for k, v := range set {
		if err := setField(&inv, k, v); err != nil {
			return inv, err
		}
	}
	return inv, nil
}

func setField(inv *wire.Inventory, key, v string) error {
	switch strings.ToLower(key) {
	case "computername":
		inv.ComputerName = v
	case "osname":
		inv.OSName = v
	case "osversion":
		inv.OSVersion = v
	case "serialnumber", "serial":
		inv.Serial = v
	case "manufacturer":
		inv.Manufacturer = v
	case "model":
		inv.Model = v
	case "domain":
		inv.Domain = v
	case "loggedonuser":
		inv.LoggedOnUser = v
	case "primaryuser":
		inv.PrimaryUser = v
	case "primaryuseremail", "email":
		inv.PrimaryEmail = v
	case "deviceid":
		inv.DeviceID = v
	default:
		return fmt.Errorf("agent: unknown inventory field %q (known: %s)", key, strings.Join(InventoryKeys, ", "))
	}
	return nil
}

// readTrim returns a file's trimmed content, "" when it cannot be read.
func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
