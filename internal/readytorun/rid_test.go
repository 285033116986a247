package readytorun

import "testing"

func TestHostRID(t *testing.T) {
	tests := []struct {
		goos, goarch string
		musl         bool
		want         string
		wantErr      bool
	}{
		{"linux", "amd64", false, "linux-x64", false},
		{"linux", "arm64", false, "linux-arm64", false},
		{"linux", "amd64", true, "linux-musl-x64", false},
		{"windows", "amd64", false, "win-x64", false},
		{"windows", "arm64", false, "win-arm64", false},
		{"darwin", "arm64", false, "osx-arm64", false},
		{"linux", "386", false, "", true},
		{"freebsd", "amd64", false, "", true},
	}
	for _, tt := range tests {
		got, err := hostRID(tt.goos, tt.goarch, tt.musl)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("hostRID(%s, %s, musl=%v) = %q, %v; want %q, error %v", tt.goos, tt.goarch, tt.musl, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestCrossgenTarget(t *testing.T) {
	tests := []struct{ goos, goarch, os, arch string }{
		{"linux", "amd64", "linux", "x64"},
		{"darwin", "arm64", "osx", "arm64"},
		{"windows", "amd64", "windows", "x64"},
	}
	for _, tt := range tests {
		if os, arch := crossgenTarget(tt.goos, tt.goarch); os != tt.os || arch != tt.arch {
			t.Errorf("crossgenTarget(%s, %s) = %s, %s; want %s, %s", tt.goos, tt.goarch, os, arch, tt.os, tt.arch)
		}
	}
}

func TestVersionPattern(t *testing.T) {
	for v, want := range map[string]bool{"10.0.12": true, "11.0.0-preview.3.25171.5": true, `10.0.12" />`: false, "10.0": false, "": false, "../10.0.12": false} {
		if got := versionPattern.MatchString(v); got != want {
			t.Errorf("versionPattern(%q) = %v, want %v", v, got, want)
		}
	}
}
