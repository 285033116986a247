package agent

import (
	"reflect"
	"strings"
	"testing"
)

// TestParseRebootCommand: the --reboot-command value becomes argv without a shell; quotes
// group words and keep backslashes; "none" refuses reboots; a broken value is an error.
func TestParseRebootCommand(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: `shutdown -r +1 "psbridge maintenance session"`, want: []string{"shutdown", "-r", "+1", "psbridge maintenance session"}},
		{in: `shutdown.exe /r /t 60 /c "psbridge maintenance session"`, want: []string{"shutdown.exe", "/r", "/t", "60", "/c", "psbridge maintenance session"}},
		{in: `"C:\Program Files\Tools\reboot.exe" --now`, want: []string{`C:\Program Files\Tools\reboot.exe`, "--now"}},
		{in: `sh -c 'echo $HOME; reboot'`, want: []string{"sh", "-c", "echo $HOME; reboot"}},
		{in: `reboot ""`, want: []string{"reboot", ""}},
		{in: "  systemctl\treboot  ", want: []string{"systemctl", "reboot"}},
		{in: "none", want: nil},
		{in: " NONE ", want: nil},
		{in: `shutdown "unterminated`, wantErr: "unterminated"},
		{in: "   ", wantErr: "empty"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRebootCommand(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("%q, %v; want %q", got, err, tc.want)
			}
		})
	}
	for _, goos := range []string{"linux", "darwin", "windows"} {
		if argv, err := ParseRebootCommand(DefaultRebootCommand(goos)); err != nil || len(argv) < 2 {
			t.Errorf("the %s default %q does not parse: %q, %v", goos, DefaultRebootCommand(goos), argv, err)
		}
	}
}
