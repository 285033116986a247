package psmodule_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/psbridge/psbridge/internal/fakes1"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

// The Pester the module's tests run with: NuGet's package, checked against its SHA-512.
const (
	pesterVersion = "5.7.1"
	pesterSHA512  = "0419649aaea0b783b24ed06e97d6be7ab0401018d7d4f928e75507427578493ba0927d46b3faae89127e58804008a774732a32f4ccc9bf9fade61c59a9564bd4"
	pesterURL     = "https://api.nuget.org/v3-flatcontainer/pester/" + pesterVersion + "/pester." + pesterVersion + ".nupkg"
)

// errOffline marks a download that failed because the network is unreachable.
var errOffline = errors.New("network unreachable")

// pesterManifest returns Pester.psd1 below the test cache directory, downloading the package
// from NuGet when it is not there yet. It skips the test only when NuGet cannot be reached.
func pesterManifest(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(testpwsh.CacheDir(), "pester", pesterVersion)
	manifest := filepath.Join(dir, "Pester.psd1")
	if _, err := os.Stat(manifest); err == nil {
		return manifest
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pkg, err := download(ctx, pesterURL)
	if errors.Is(err, errOffline) {
		t.Skipf("Pester %s is not in %s and NuGet is unreachable (%v); run once online to cache it", pesterVersion, dir, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	sum := sha512.Sum512(pkg)
	if got := hex.EncodeToString(sum[:]); got != pesterSHA512 {
		t.Fatalf("%s: SHA-512 %s, want %s", pesterURL, got, pesterSHA512)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".pester-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if err := unzipTools(pkg, tmp); err != nil {
		t.Fatalf("unpack %s: %v", pesterURL, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(manifest); statErr != nil { // another test process won the race
			t.Fatal(err)
		}
	}
	return manifest
}

// download fetches url; a failure to connect at all is errOffline.
func download(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ne net.Error
		var oe *net.OpError
		var de *net.DNSError
		if errors.As(err, &oe) || errors.As(err, &de) || (errors.As(err, &ne) && ne.Timeout()) {
			return nil, fmt.Errorf("%w: %v", errOffline, err)
		}
		return nil, fmt.Errorf("download %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("download %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", url, err)
	}
	return b, nil
}

// unzipTools writes the package's tools/ folder (the module) into dst.
func unzipTools(pkg []byte, dst string) error {
	zr, err := zip.NewReader(bytes.NewReader(pkg), int64(len(pkg)))
	if err != nil {
		return err
	}
	n := 0
	for _, f := range zr.File {
		name, ok := strings.CutPrefix(f.Name, "tools/")
		if !ok || name == "" || strings.HasSuffix(f.Name, "/") {
			continue
		}
		target := filepath.Join(dst, filepath.FromSlash(name))
		if !strings.HasPrefix(target, filepath.Clean(dst)+string(os.PathSeparator)) {
			return fmt.Errorf("entry %q leaves the folder", f.Name)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		r, err := f.Open()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return err
		}
		if err := os.WriteFile(target, b, 0o644); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return errors.New("no tools/ folder in the package")
	}
	return nil
}

// TestPester runs the module's own Pester tests (psmodule/tests/*.Tests.ps1) with the real
// pwsh and Pester, including the SentinelOne example of docs/testing.md against the fake
// SentinelOne API, and fails when any Pester test fails.
func TestPester(t *testing.T) {
	manifest := pesterManifest(t)
	mod := testpwsh.Module(t)
	fake := httptest.NewServer(fakes1.New(fakes1.Config{}))
	defer fake.Close()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testpwsh.Pwsh(t), "-NoLogo", "-NoProfile", "-NonInteractive", "-File",
		filepath.Join("tests", "Invoke-Tests.ps1"), "-PesterManifest", manifest, "-TestPath", "tests")
	tmp := t.TempDir()
	cmd.Env = append(os.Environ(),
		"TMPDIR="+tmp, // PSBridge.Testing's module-script folder goes here and must be gone after
		"PSBRIDGE_TEST_MODULE_DIR="+mod.Dir,
		"PSBRIDGE_REPO="+root,
		"PSBRIDGE_FAKE_S1_URL="+fake.URL+"/",
		"PSBRIDGE_FAKE_S1_TOKEN="+fakes1.DefaultAPIToken,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("pester output:\n%s", out)
	if err != nil {
		t.Fatalf("pester failed: %v", err)
	}
	if !bytes.Contains(out, []byte(" 0 failed")) {
		t.Fatal("pester did not report its summary")
	}
	left, err := filepath.Glob(filepath.Join(tmp, "psbridge-testing-*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("PSBridge.Testing left %v in the temp folder", left)
	}
}
