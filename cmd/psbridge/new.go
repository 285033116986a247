package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/psbridge/psbridge/internal/fakes1"
)

const newLong = `Writes a working integration skeleton to DIR (default ./NAME):

  NAME.ps1   New-DynamicIntegration with an Init form (ApiUrl, and ApiKey as a [Password()]),
             a HealthCheck that calls the vendor, and one Add-DynamicIntegrationCapability
             per --capability with every member stubbed under its exact name
  README.md  the commands to develop it: a fake vendor (psbridge fake-s1), the edit loop
             (psbridge dev) and what to fill in

The skeleton talks to the fake SentinelOne API that 'psbridge fake-s1' serves, so it runs
before you have written anything: HealthCheck is healthy, GetClients lists the fake's sites
and GetAgents their agents. Replace the URLs and fields with your vendor's.

Capabilities are the interface names with or without their ISupports/I prefix, comma-separated
or repeated (ListingClients and ISupportsListingClients are the same):
%s
docs/tutorial.md walks from here to a running, mapped, webhook-enabled integration.`

const newExample = `  psbridge new Contoso --capability ListingClients,ListingAgents
  psbridge new Contoso --capability ListingClients --capability TenantInstallToken --dir src/contoso`

// skeletonCapability is one capability psbridge new can write: the interface (as spelled in
// the module's CapabilityCatalog) and a stub per member, under the member's exact name.
type skeletonCapability struct {
	Interface string
	Members   []skeletonMember
}

type skeletonMember struct {
	Name string
	Body string // the script block's body, indented by four spaces
}

// skeletonCapabilities mirrors the interfaces in psmodule/src/Compat.cs whose members are
// known (TestNewSkeletonEveryCapability loads each; a wrong member name fails there).
var skeletonCapabilities = []skeletonCapability{
	{"ISupportsListingClients", []skeletonMember{{"GetClients", `    [CmdletBinding()]
    param()
    # One New-IntegrationClient per customer (tenant) at the vendor. Mapped clients sync agents.
    $response = Invoke-RestMethod -Uri "$($IntegrationContext.ApiUrl)web/api/v2.1/sites?limit=1000" -Headers $IntegrationContext.Headers
    foreach ($site in $response.data.sites) {
        New-IntegrationClient -ClientId $site.id -ClientName $site.name
    }`}}},
	{"ISupportsDeletingOfflineAgent", []skeletonMember{{"DeleteAgent", `    [CmdletBinding()]
    param([IProviderAgentDetails]$agent)
    # TODO: delete $agent.AgentId at the vendor.
    Write-Warning "DeleteAgent is not implemented yet (agent $($agent.AgentId))"`}}},
	{"ISupportsHttpRequest", []skeletonMember{{"HandleHttpRequest", `    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][Microsoft.AspNetCore.Http.HttpContext]$httpContext,
        [Parameter()]$body,
        [Parameter(Mandatory)]$route
    )
    # A webhook from the vendor: POST /plugins/api/v1/{integration id}/... lands here.
    Write-Host "webhook on route '$route'"
    $result = [ObjectResult]::new('ok')
    $result.StatusCode = 200
    $result`}}},
	{"ISupportsListingAgents", []skeletonMember{{"GetAgents", `    [CmdletBinding()]
    param([string[]]$ClientIds)
    # One New-IntegrationAgent per computer of the mapped clients.
    foreach ($clientId in $ClientIds) {
        $cursor = $null
        do {
            $uri = "$($IntegrationContext.ApiUrl)web/api/v2.1/agents?limit=1000&siteIds=$([Uri]::EscapeDataString($clientId))"
            if ($cursor) { $uri += "&cursor=$([Uri]::EscapeDataString($cursor))" }
            $page = Invoke-RestMethod -Uri $uri -Headers $IntegrationContext.Headers
            foreach ($a in $page.data) {
                New-IntegrationAgent -AgentId $a.uuid -Name $a.computerName -ClientId $a.siteId -SerialNumber $a.serialNumber -OSName $a.osName -IsOnline $true -AgentVersion $a.agentVersion -SupportsRunningScripts $false
            }
            $cursor = $page.pagination.nextCursor
        } while ($cursor)
    }`}}},
	{"ISupportsInventoryIdentification", []skeletonMember{{"GetInventoryScript", `    [CmdletBinding()]
    param()
    # Runs on each computer; returns the vendor's agent id so the computer matches its agent.
    Invoke-ImmyCommand {
        # TODO: read the agent id from the vendor's agent (registry, a file, its CLI).
        $null
    }`}}},
	{"ISupportsTenantInstallToken", []skeletonMember{{"GetTenantInstallToken", `    [CmdletBinding()]
    param([string]$clientId)
    # TODO: the token that installs the vendor's agent into client $clientId.
    "install-token-for-$clientId"`}}},
	{"ISupportsTenantUninstallToken", []skeletonMember{{"GetTenantUninstallToken", `    [CmdletBinding()]
    param([string]$clientId)
    # TODO: the token that uninstalls the vendor's agent from client $clientId.
    "uninstall-token-for-$clientId"`}}},
	{"ISupportsAgentUninstallToken", []skeletonMember{{"GetAgentUninstallToken", `    [CmdletBinding()]
    param([string]$agentId)
    # TODO: the token that uninstalls agent $agentId.
    "uninstall-token-for-$agentId"`}}},
	{"ISupportsDynamicVersions", []skeletonMember{{"GetDynamicVersions", `    [CmdletBinding()]
    param([string]$externalClientId)
    # TODO: the agent versions the vendor offers, with their download URLs.
    New-DynamicVersion -Version '1.0.0' -Uri "$($IntegrationContext.ApiUrl)downloads/agent-1.0.0.msi" -FileName 'agent-1.0.0.msi'`}}},
	{"ISupportsAuthenticatedDownload", []skeletonMember{{"GetAuthHeader", `    [CmdletBinding()]
    param()
    # The HTTP headers that downloading the vendor's installer needs.
    $IntegrationContext.Headers`}}},
	{"IRunScriptProvider", []skeletonMember{
		{"RunScript", `    [CmdletBinding()]
    param($agent, $scriptCode, [ScriptLanguage]$scriptLanguage, [int]$timeout, $scriptPath)
    # TODO: run $scriptCode on the vendor's agent and return its output.
    Write-Warning "RunScript is not implemented yet (agent $($agent.AgentId))"`},
		{"get_DefaultTimeout", `    # seconds
    300`},
	}},
	{"ISupportsExternalProviderAgentUrl", []skeletonMember{{"GetExternalProviderAgentUrl", `    [CmdletBinding()]
    param([IProviderAgentDetails]$device)
    # The vendor's page for this agent.
    "$($IntegrationContext.ApiUrl)agents/$($device.AgentId)"`}}},
	{"ISupportsSupportTicketDetailOverride", []skeletonMember{
		{"CreateTicket", `    # TODO: create the ticket at the vendor ($args holds the ticket details).
    [SupportTicketCreationResult]::new($false, 'CreateTicket is not implemented yet')`},
		{"NewSupportFormBranding", `    New-SupportFormBranding -SupportSidebarTitle 'Support' -FooterMessage 'TODO: your branding'`},
	}},
}

// capabilityShortName is the interface name without its ISupports or I prefix.
func capabilityShortName(iface string) string {
	if s, ok := strings.CutPrefix(iface, "ISupports"); ok {
		return s
	}
	return strings.TrimPrefix(iface, "I")
}

// findCapability resolves a user's capability name (short or full, any case).
func findCapability(name string) (skeletonCapability, bool) {
	n := strings.ToLower(strings.TrimSpace(name))
	for _, c := range skeletonCapabilities {
		if n == strings.ToLower(c.Interface) || n == strings.ToLower(capabilityShortName(c.Interface)) {
			return c, true
		}
	}
	return skeletonCapability{}, false
}

// suggestCapability returns the closest known short name, or "" when nothing is close.
func suggestCapability(name string) string {
	n := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(name), "ISupports"), "isupports"))
	best, bestDist := "", 1<<30
	for _, c := range skeletonCapabilities {
		short := capabilityShortName(c.Interface)
		d := levenshtein(n, strings.ToLower(short))
		if strings.Contains(strings.ToLower(short), n) && len(n) >= 4 {
			d = min(d, 1)
		}
		if d < bestDist {
			best, bestDist = short, d
		}
	}
	if bestDist <= max(2, len(n)/3) {
		return best
	}
	return ""
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func capabilityList() string {
	var sb strings.Builder
	for _, c := range skeletonCapabilities {
		var members []string
		for _, m := range c.Members {
			members = append(members, m.Name)
		}
		fmt.Fprintf(&sb, "  %-30s %s\n", capabilityShortName(c.Interface), strings.Join(members, ", "))
	}
	return sb.String()
}

func newNewCmd() *cobra.Command {
	var caps []string
	var dir string
	cmd := &cobra.Command{
		Use:         "new NAME",
		Short:       "write a skeleton integration for the capabilities you name (docs/tutorial.md)",
		Long:        fmt.Sprintf(newLong, capabilityList()),
		Example:     newExample,
		Annotations: synopsis("psbridge new NAME [--capability CAP[,CAP]...] [--dir DIR]"),
		Args:        exactlyOne("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runNew(args[0], caps, dir, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringArrayVar(&caps, "capability", nil, "capabilities to add, `CAP[,CAP]` (repeatable), e.g. ListingClients,ListingAgents")
	cmd.Flags().StringVar(&dir, "dir", "", "directory to write (default ./NAME); must not exist or be empty")
	return cmd
}

func runNew(name string, caps []string, dir string, stdout io.Writer) error {
	if !validSkeletonName(name) {
		return usageErr("NAME %q: use letters, digits, '-' and '_', starting with a letter (it names the script file)", name)
	}
	var chosen []skeletonCapability
	seen := map[string]bool{}
	for _, list := range caps {
		for _, c := range strings.Split(list, ",") {
			if strings.TrimSpace(c) == "" {
				continue
			}
			sc, ok := findCapability(c)
			if !ok {
				msg := fmt.Sprintf("unknown capability %q", strings.TrimSpace(c))
				if s := suggestCapability(c); s != "" {
					msg += fmt.Sprintf("; did you mean %s?", s)
				}
				return usageErr("%s (psbridge new -h lists them)", msg)
			}
			if !seen[sc.Interface] {
				seen[sc.Interface] = true
				chosen = append(chosen, sc)
			}
		}
	}
	if dir == "" {
		dir = name
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return usageErr("%s already exists and is not empty; choose another NAME or --dir", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	script := filepath.Join(dir, name+".ps1")
	if err := os.WriteFile(script, []byte(skeletonScript(name, chosen)), 0o644); err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte(skeletonReadme(name, script, chosen)), 0o644); err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	fmt.Fprintf(stdout, "wrote %s and %s\n\nTry it against the fake vendor:\n  psbridge fake-s1 &\n  %s\n",
		script, filepath.Join(dir, "README.md"), devCommand(script))
	return nil
}

func validSkeletonName(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// fakeVendorParams are the Init values that point a skeleton at 'psbridge fake-s1'.
const fakeVendorParams = "--param ApiUrl=http://127.0.0.1:8081/ --param ApiKey=" + fakes1.DefaultAPIToken

func devCommand(script string) string {
	return "psbridge dev " + filepath.ToSlash(script) + " " + fakeVendorParams
}

func skeletonScript(name string, caps []skeletonCapability) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, `# %s: a psbridge / ImmyBot dynamic integration written by 'psbridge new'.
# It starts out talking to the fake SentinelOne API of 'psbridge fake-s1'; see README.md.

$Integration = New-DynamicIntegration -Init {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [Uri]$ApiUrl,
        [Parameter(Mandatory)]
        [Password()]
        [string]$ApiKey
    )
    # Runs when the integration starts or its settings change. Keep what the methods need in
    # $IntegrationContext; values from a [Password()] parameter are masked in every log.
    $IntegrationContext.ApiUrl = $ApiUrl.AbsoluteUri.TrimEnd('/') + '/'
    $IntegrationContext.Headers = @{ Authorization = "APIToken $ApiKey" }
    [OpResult]::Ok()
} -HealthCheck {
    [CmdletBinding()]
    [OutputType([HealthCheckResult])]
    param()
    try {
        $info = Invoke-RestMethod -Uri "$($IntegrationContext.ApiUrl)web/api/v2.1/system/info" -Headers $IntegrationContext.Headers
        New-HealthyResult "connected; latest agent $($info.data.latestAgentVersion)"
    } catch {
        New-UnhealthyResult "cannot reach $($IntegrationContext.ApiUrl): $($_.Exception.Message)"
    }
}
`, name)
	for _, c := range caps {
		fmt.Fprintf(&sb, "\n$Integration | Add-DynamicIntegrationCapability -Interface %s", c.Interface)
		for _, m := range c.Members {
			fmt.Fprintf(&sb, " -%s {\n%s\n}", m.Name, m.Body)
		}
		sb.WriteString("\n")
	}
	sb.WriteString("\n$Integration\n")
	return sb.String()
}

func skeletonReadme(name, script string, caps []skeletonCapability) string {
	s := filepath.ToSlash(script)
	var methods []string
	for _, c := range caps {
		for _, m := range c.Members {
			methods = append(methods, fmt.Sprintf("- `%s` (%s)", m.Name, c.Interface))
		}
	}
	if len(methods) == 0 {
		methods = append(methods, "- none yet: `psbridge new -h` lists the capabilities")
	}
	firstCall := ""
	for _, c := range caps {
		if c.Interface == "ISupportsListingClients" {
			firstCall = fmt.Sprintf("\nRun one method instead of HealthCheck with `--call`:\n\n    psbridge dev %s %s --call GetClients\n", s, fakeVendorParams)
		}
	}
	return fmt.Sprintf(`# %[1]s

A dynamic integration skeleton written by `+"`psbridge new`"+`. It talks to a fake vendor
(the fake SentinelOne API built into psbridge) until you point it at yours.

## Develop against the fake vendor

In one terminal, start the fake vendor (3 sites, 250 agents; it accepts the token below):

    psbridge fake-s1

In another, start the edit loop. It runs Init and HealthCheck, prints the result, and runs
again each time you save %[2]s, showing what changed:

    psbridge dev %[2]s %[3]s
%[4]s
Once, without watching (exit code 0 when healthy):

    psbridge run %[2]s %[3]s

## Methods to fill in

%[5]s

Replace the URLs under `+"`web/api/v2.1/`"+` and the fields they read with your vendor's API.
docs/tutorial.md in the psbridge repository continues with serving, uploading, mapping a
client and webhooks.
`, name, s, fakeVendorParams, firstCall, strings.Join(methods, "\n"))
}
