//go:build windows

package agent

import "os/exec"

// rebootKeys are the registry keys whose presence means a reboot is pending.
var rebootKeys = []string{
	`HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending`,
	`HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired`,
}

// systemRebootReasons lists the Windows signals of a pending reboot: the CBS and Windows
// Update keys, and Session Manager's PendingFileRenameOperations value.
func systemRebootReasons() []string {
	var out []string
	for _, k := range rebootKeys {
		if exec.Command("reg", "query", k).Run() == nil {
			out = append(out, k)
		}
	}
	const sm = `HKLM\SYSTEM\CurrentControlSet\Control\Session Manager`
	if regValue(sm, "PendingFileRenameOperations") != "" {
		out = append(out, sm+`\PendingFileRenameOperations`)
	}
	return out
}
