package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/internal/fakes1"
	"github.com/psbridge/psbridge/internal/testpwsh"
)

// TestNewSkeletonEveryCapability writes a skeleton per capability and runs each with run's
// logic (runOnce) in one warm worker against the fake vendor: it loads, declares exactly the
// capability asked for, and its HealthCheck is healthy.
func TestNewSkeletonEveryCapability(t *testing.T) {
	t.Setenv("PSBRIDGE_PWSH", testpwsh.Pwsh(t))
	t.Setenv("PSBRIDGE_CACHE_DIR", testpwsh.CacheDir())
	srv := httptest.NewServer(fakes1.New(fakes1.Config{}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	pool, err := startPool(ctx, testpwsh.Pwsh(t), bridge.Config{MinWorkers: 1, MaxWorkers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer closePool(pool)

	for _, c := range skeletonCapabilities {
		short := capabilityShortName(c.Interface)
		t.Run(short, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "Skel")
			out, errOut, code := cli(t, "new", "Skel", "--dir", dir, "--capability", short)
			if code != exitOK {
				t.Fatalf("new: code %d\n%s%s", code, out, errOut)
			}
			spec := &runSpec{scriptPath: filepath.Join(dir, "Skel.ps1"),
				form:       map[string]any{"ApiUrl": srv.URL + "/", "ApiKey": fakes1.DefaultAPIToken},
				methodArgs: map[string]any{}}
			var stdout, stderr bytes.Buffer
			if err := runOnce(ctx, pool, spec, &stdout, &stderr); err != nil {
				t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
			}
			var res struct {
				Health       struct{ Status, Message string }
				Capabilities []struct {
					Interface string
					Members   []string
				}
			}
			if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
				t.Fatalf("%v: %s", err, stdout.String())
			}
			if res.Health.Status != "Healthy" || len(res.Capabilities) != 1 || res.Capabilities[0].Interface != c.Interface ||
				len(res.Capabilities[0].Members) != len(c.Members) {
				t.Errorf("result: %+v", res)
			}
		})
	}
}

// TestNewSkeletonListsTheFakeVendor runs a two-capability skeleton through the run command:
// GetClients lists the fake's sites and GetAgents the agents of one.
func TestNewSkeletonListsTheFakeVendor(t *testing.T) {
	srv := httptest.NewServer(fakes1.New(fakes1.Config{}))
	defer srv.Close()
	dir := filepath.Join(t.TempDir(), "Contoso")
	if _, errOut, code := cli(t, "new", "Contoso", "--dir", dir, "--capability", "ListingClients, ISupportsListingAgents"); code != exitOK {
		t.Fatalf("new: %d %s", code, errOut)
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil || !strings.Contains(string(readme), "psbridge dev "+filepath.ToSlash(filepath.Join(dir, "Contoso.ps1"))) {
		t.Errorf("README.md lacks the dev command (%v):\n%s", err, readme)
	}
	script := filepath.Join(dir, "Contoso.ps1")
	base := []string{"run", script, "--param", "ApiUrl=" + srv.URL, "--param", "ApiKey=" + fakes1.DefaultAPIToken}
	out, errOut, code := cli(t, append(base, "--call", "GetClients")...)
	var clients []struct{ ClientID, ClientName string }
	if code != exitOK || json.Unmarshal([]byte(out), &clients) != nil || len(clients) != 3 {
		t.Fatalf("GetClients: code %d, %d clients\n%s%s", code, len(clients), out, errOut)
	}
	out, errOut, code = cli(t, append(base, "--call", "GetAgents", "--arg", `ClientIds=["`+clients[0].ClientID+`"]`)...)
	var agents []struct{ AgentID, ClientID string }
	if code != exitOK || json.Unmarshal([]byte(out), &agents) != nil || len(agents) == 0 || agents[0].ClientID != clients[0].ClientID {
		t.Fatalf("GetAgents: code %d, %d agents\n%s%s", code, len(agents), out, errOut)
	}
	// The [Password()] key never reaches the output.
	if strings.Contains(out+errOut, fakes1.DefaultAPIToken) {
		t.Errorf("the API key shows in run's output")
	}
}

func TestNewRefusesWhatItCannotWrite(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"new", "X", "--dir", filepath.Join(dir, "a"), "--capability", "ListingAgnts"}, `unknown capability "ListingAgnts"; did you mean ListingAgents?`},
		{[]string{"new", "X", "--dir", filepath.Join(dir, "b"), "--capability", "ISupportsTenantInstalToken"}, "did you mean TenantInstallToken?"},
		{[]string{"new", "X", "--dir", filepath.Join(dir, "c"), "--capability", "Frobnicate"}, `unknown capability "Frobnicate" (psbridge new -h lists them)`},
		{[]string{"new", "1bad", "--dir", filepath.Join(dir, "d")}, "NAME \"1bad\""},
		{[]string{"new"}, "new needs exactly one NAME"},
		{[]string{"new", "X", "--dir", "."}, "already exists and is not empty"},
	}
	for _, c := range cases {
		_, errOut, code := cli(t, c.args...)
		if code != exitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: code %d, stderr:\n%s\nwant %q", c.args, code, errOut, c.want)
		}
	}
	out, errOut, code := cli(t, "new", "-h")
	for _, want := range []string{"ListingClients", "GetClients", "get_DefaultTimeout", "psbridge fake-s1"} {
		if code != exitOK || !strings.Contains(out+errOut, want) {
			t.Errorf("new -h lacks %q (code %d)", want, code)
		}
	}
}
