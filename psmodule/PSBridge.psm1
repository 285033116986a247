# PSBridge: the cmdlets ImmyBot-style integration scripts call, so those scripts run unchanged
# in a psbridge worker (or any pwsh session for local experiments). The types behind them
# (PSBridge.DynamicIntegration, OpResult, ObjectResult, the attributes, …) live in PSBridge.dll,
# compiled from src/*.cs; see ../docs and ../../shared/reference/immybot-surface.md for the
# surface each function reproduces.
Set-StrictMode -Version 3.0

if (-not ('PSBridge.DynamicIntegration' -as [type])) {
    $assembly = Join-Path $PSScriptRoot 'PSBridge.dll'
    if (-not (Test-Path -LiteralPath $assembly)) {
        throw "PSBridge.dll is missing next to PSBridge.psm1 ($assembly). Build it with build.ps1, or let psbridge install the module."
    }
    Add-Type -LiteralPath $assembly
}
[PSBridge.TypeNames]::Register()

# --- private helpers --------------------------------------------------------------------------

function ConvertFrom-UnboundArgument {
    # Turns the ValueFromRemainingArguments list of an advanced function (-Name value pairs as
    # PowerShell leaves them) into an ordered dictionary. -Name:value arrives as one "-Name:"
    # token followed by the value; a bare -Switch becomes $true.
    param([object[]]$Arguments, [string]$Command)
    $result = [ordered]@{}
    if ($null -eq $Arguments) { return $result }
    $i = 0
    while ($i -lt $Arguments.Count) {
        $token = $Arguments[$i]
        $name = $null
        if ($token -is [string] -and $token -match '^-([A-Za-z_][\w]*):?$') {
            $name = $Matches[1]
        }
        if ($null -eq $name) {
            throw [System.ArgumentException]::new("${Command}: unexpected positional argument '$token'. Pass values as -Name value.")
        }
        $hasValue = ($i + 1) -lt $Arguments.Count -and -not ($Arguments[$i + 1] -is [string] -and $Arguments[$i + 1] -match '^-[A-Za-z_][\w]*:?$')
        if ($token.EndsWith(':') -or $hasValue) {
            $result[$name] = $Arguments[$i + 1]
            $i += 2
        } else {
            $result[$name] = $true
            $i += 1
        }
    }
    return $result
}

function Get-HostValue {
    # Calls the psbridge host (Go) and returns the "value" field of the answer.
    param([string]$Method, [hashtable]$Parameters)
    if (-not [PSBridge.HostBridge]::IsAttached) {
        throw [System.InvalidOperationException]::new("An integration is not linked to this script: it is not running inside a psbridge worker, so there is no host to ask.")
    }
    try {
        $answer = [PSBridge.HostBridge]::Call($Method, $Parameters)
    } catch {
        # A failed host call ends the script (like a failed cmdlet with -ErrorAction Stop), with
        # the host's message rather than .NET's "Exception calling Call with 2 arguments".
        $inner = $_.Exception
        while ($inner -is [System.Management.Automation.MethodInvocationException] -and $null -ne $inner.InnerException) { $inner = $inner.InnerException }
        throw $inner.Message
    }
    if ($Method -eq 'host.token' -and $answer -is [System.Collections.IDictionary] -and $answer.Contains('value')) { return $answer['value'] }
    return $answer
}

# --- integration object -----------------------------------------------------------------------

function New-DynamicIntegration {
    <#
    .SYNOPSIS
    Creates a dynamic integration from an Init and a HealthCheck script block.
    .DESCRIPTION
    The Init block's param() block is the integration's configuration form; psbridge binds the
    saved form values to it by name each time Init runs. Init keeps state (tokens, base URLs) in
    $IntegrationContext, which every block of the same instance sees. HealthCheck takes no
    parameters and returns New-HealthyResult or New-UnhealthyResult.
    Add capabilities by piping the result to Add-DynamicIntegrationCapability, then return it,
    emit it, or leave it in $Integration.
    .PARAMETER Init
    Runs when the instance starts or its configuration changes. Returns [OpResult]::Ok() or throws.
    .PARAMETER HealthCheck
    Runs periodically (default every 60 s). Returns a [HealthCheckResult].
    .EXAMPLE
    $Integration = New-DynamicIntegration -Init { param([Uri]$ApiUrl) $IntegrationContext.ApiUrl = $ApiUrl; [OpResult]::Ok() } -HealthCheck { New-HealthyResult }
    .OUTPUTS
    PSBridge.DynamicIntegration
    #>
    [CmdletBinding()]
    [OutputType([PSBridge.DynamicIntegration])]
    param(
        [Parameter(Mandatory, Position = 0)][scriptblock]$Init,
        [Parameter(Mandatory, Position = 1)][scriptblock]$HealthCheck
    )
    [PSBridge.DynamicIntegration]::new($Init, $HealthCheck)
}

function Add-DynamicIntegrationCapability {
    <#
    .SYNOPSIS
    Adds a capability (an ISupports… interface) with its member script blocks to an integration.
    .DESCRIPTION
    Each interface member is a parameter named after it, taking a script block: -GetClients,
    -GetAgents, -GetTenantInstallToken, -HandleHttpRequest, -RunScript, -get_DefaultTimeout, …
    Interfaces whose members are not documented publicly (ISupportsMaintenanceMode,
    ISupportsClientGrouping, …) accept any -MemberName { … } pairs.
    The integration comes from the pipeline and is changed in place; nothing is returned.
    An unknown interface, or a member that does not belong to the interface, stops the script
    with an error naming both.
    .PARAMETER Integration
    The object from New-DynamicIntegration (pipeline input).
    .PARAMETER Interface
    The capability interface, e.g. ISupportsListingClients. Tab completion lists them all.
    .EXAMPLE
    $Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients { New-IntegrationClient -ClientId 1 -ClientName 'Contoso' }
    .EXAMPLE
    $Integration | Add-DynamicIntegrationCapability -Interface ISupportsMaintenanceMode -EnableMaintenanceMode { param($agent) } -DisableMaintenanceMode { param($agent) }
    #>
    [CmdletBinding(PositionalBinding = $false)]
    [OutputType([void])]
    param(
        [Parameter(Mandatory, ValueFromPipeline)][PSBridge.DynamicIntegration]$Integration,
        [Parameter(Mandatory)]
        [ArgumentCompleter({
                param($commandName, $parameterName, $wordToComplete)
                [PSBridge.CapabilityCatalog]::Names | Where-Object { $_ -like "$wordToComplete*" } |
                    ForEach-Object { [System.Management.Automation.CompletionResult]::new($_) }
            })]
        [string]$Interface,
        [scriptblock]$GetClients,
        [scriptblock]$GetAgents,
        [scriptblock]$GetInventoryScript,
        [scriptblock]$GetTenantInstallToken,
        [scriptblock]$GetTenantUninstallToken,
        [scriptblock]$GetAgentUninstallToken,
        [scriptblock]$DeleteAgent,
        [scriptblock]$GetDynamicVersions,
        [scriptblock]$GetAuthHeader,
        [scriptblock]$RunScript,
        [scriptblock]$get_DefaultTimeout,
        [scriptblock]$GetExternalProviderAgentUrl,
        [scriptblock]$CreateTicket,
        [scriptblock]$NewSupportFormBranding,
        [scriptblock]$HandleHttpRequest,
        [Parameter(ValueFromRemainingArguments)][object[]]$OtherMembers
    )
    process {
        $canonical = [PSBridge.CapabilityCatalog]::Canonical($Interface)
        if ($null -eq $canonical) {
            $PSCmdlet.ThrowTerminatingError([System.Management.Automation.ErrorRecord]::new(
                    [System.ArgumentException]::new([PSBridge.CapabilityCatalog]::UnknownInterfaceMessage($Interface)),
                    'UnknownInterface', [System.Management.Automation.ErrorCategory]::InvalidArgument, $Interface))
        }
        $members = [System.Collections.Generic.Dictionary[string, scriptblock]]::new([System.StringComparer]::OrdinalIgnoreCase)
        foreach ($name in [PSBridge.CapabilityCatalog]::KnownMembers) {
            if ($PSBoundParameters.ContainsKey($name)) { $members[$name] = $PSBoundParameters[$name] }
        }
        try {
            $other = ConvertFrom-UnboundArgument -Arguments $OtherMembers -Command 'Add-DynamicIntegrationCapability'
            foreach ($name in $other.Keys) {
                $block = $other[$name]
                if ($block -is [psobject]) { $block = $block.psobject.BaseObject }
                if ($block -isnot [scriptblock]) {
                    throw [System.ArgumentException]::new("-$name of $canonical must be a script block { … }, not $(if ($null -eq $block) { 'null' } else { $block.GetType().Name }).")
                }
                $members[$name] = $block
            }
            if ($members.Count -eq 0 -and $canonical -ne 'IProvider') {
                $known = [PSBridge.CapabilityCatalog]::Interfaces[$canonical]
                $hint = if ($null -ne $known) { 'Members of ' + $canonical + ': ' + ($known -join ', ') } else { 'Pass its members as -MemberName { … }' }
                throw [System.ArgumentException]::new("$canonical was added without any member script block. $hint")
            }
            $Integration.AddCapability($canonical, $members)
        } catch {
            $inner = $_.Exception
            while ($inner -is [System.Management.Automation.MethodInvocationException] -and $null -ne $inner.InnerException) { $inner = $inner.InnerException }
            $PSCmdlet.ThrowTerminatingError([System.Management.Automation.ErrorRecord]::new(
                    [System.ArgumentException]::new($inner.Message, $inner), 'InvalidCapability',
                    [System.Management.Automation.ErrorCategory]::InvalidArgument, $Interface))
        }
    }
}

# --- results ----------------------------------------------------------------------------------

function New-IntegrationClient {
    <#
    .SYNOPSIS
    Creates a client (customer) of the remote system for a GetClients block.
    .DESCRIPTION
    Ids of any type (int, Guid, string) become strings. Named parameters the command does not
    know are kept in the client's Extra table instead of failing the script.
    .PARAMETER ClientId
    The vendor's id for the client. Becomes the external client id that tenants map to.
    .PARAMETER ClientName
    The display name.
    .PARAMETER Status
    Optional status text (e.g. Active).
    .PARAMETER Types
    Optional client types.
    .PARAMETER InternalData
    Anything the integration wants back later.
    .EXAMPLE
    Get-S1Site | ForEach-Object { New-IntegrationClient -ClientId $_.id -ClientName $_.name }
    .OUTPUTS
    PSBridge.IntegrationClient
    #>
    [CmdletBinding(PositionalBinding = $false)]
    [OutputType([PSBridge.IntegrationClient])]
    param(
        [Parameter(Mandatory, Position = 0)][PSBridge.StringTransformation()][string]$ClientId,
        [Parameter(Position = 1)][PSBridge.StringTransformation()][string]$ClientName,
        [string]$Status,
        [string[]]$Types,
        [object]$InternalData,
        [Parameter(ValueFromRemainingArguments)][object[]]$ExtraParameters
    )
    $client = [PSBridge.IntegrationClient]::new()
    $client.ClientId = $ClientId
    $client.ClientName = if ($PSBoundParameters.ContainsKey('ClientName')) { $ClientName } else { $ClientId }
    if ($PSBoundParameters.ContainsKey('Status')) { $client.Status = $Status }
    if ($PSBoundParameters.ContainsKey('Types')) { $client.Types = $Types }
    if ($PSBoundParameters.ContainsKey('InternalData')) { $client.InternalData = $InternalData }
    $extra = ConvertFrom-UnboundArgument -Arguments $ExtraParameters -Command 'New-IntegrationClient'
    foreach ($k in $extra.Keys) { $client.Extra[$k] = $extra[$k] }
    $client
}

function New-IntegrationAgent {
    <#
    .SYNOPSIS
    Creates an agent (device) of the remote system for a GetAgents block.
    .DESCRIPTION
    Agents are matched to computers by AgentId: the GetInventoryScript block returns the same id
    from the machine itself. -AgentVersion is a version: vendor strings such as 23.1.2.400 and
    SemVer labels are accepted, anything else (e.g. 'Unknown') fails like it does in ImmyBot.
    Named parameters the command does not know are kept in Extra instead of failing the script.
    .PARAMETER AgentId
    The vendor's id for the agent (any type; becomes a string).
    .PARAMETER Name
    The device name.
    .PARAMETER ClientId
    The external client id the agent belongs to (one of the $ClientIds GetAgents received).
    .PARAMETER SerialNumber
    The device serial number, used to match computers.
    .PARAMETER OSName
    Operating system name.
    .PARAMETER Manufacturer
    Device manufacturer.
    .PARAMETER IsOnline
    Whether the agent is online now ([bool]: -IsOnline $true or -IsOnline:$x).
    .PARAMETER AgentVersion
    The agent's version.
    .PARAMETER SupportsRunningScripts
    $true when the integration can run scripts on this agent (IRunScriptProvider).
    .PARAMETER SupportsOnlineStatus
    $true when IsOnline is meaningful.
    .PARAMETER InternalData
    Anything the integration wants back later.
    .EXAMPLE
    New-IntegrationAgent -AgentId $a.uuid -Name $a.computerName -ClientId $a.siteId -IsOnline ($a.networkStatus -eq 'connected') -AgentVersion $a.agentVersion -SupportsRunningScripts $false
    .OUTPUTS
    PSBridge.IntegrationAgent
    #>
    [CmdletBinding(PositionalBinding = $false)]
    [OutputType([PSBridge.IntegrationAgent])]
    param(
        [Parameter(Mandatory)][PSBridge.StringTransformation()][string]$AgentId,
        [PSBridge.StringTransformation()][string]$Name,
        [PSBridge.StringTransformation()][string]$ClientId,
        [PSBridge.StringTransformation()][string]$SerialNumber,
        [string]$OSName,
        [string]$Manufacturer,
        [bool]$IsOnline,
        [PSBridge.VersionTransformation()][Version]$AgentVersion,
        [bool]$SupportsRunningScripts,
        [bool]$SupportsOnlineStatus = $true,
        [object]$InternalData,
        [Parameter(ValueFromRemainingArguments)][object[]]$ExtraParameters
    )
    $agent = [PSBridge.IntegrationAgent]::new()
    $agent.AgentId = $AgentId
    $agent.Name = $Name
    $agent.ClientId = $ClientId
    $agent.SerialNumber = $SerialNumber
    $agent.OSName = $OSName
    $agent.Manufacturer = $Manufacturer
    $agent.IsOnline = $IsOnline
    $agent.AgentVersion = $AgentVersion
    $agent.SupportsRunningScripts = $SupportsRunningScripts
    $agent.SupportsOnlineStatus = $SupportsOnlineStatus
    if ($PSBoundParameters.ContainsKey('InternalData')) { $agent.InternalData = $InternalData }
    $extra = ConvertFrom-UnboundArgument -Arguments $ExtraParameters -Command 'New-IntegrationAgent'
    foreach ($k in $extra.Keys) { $agent.Extra[$k] = $extra[$k] }
    $agent
}

function New-HealthyResult {
    <#
    .SYNOPSIS
    Returns a healthy [HealthCheckResult] from a HealthCheck block.
    .PARAMETER Message
    Optional note shown with the status.
    .EXAMPLE
    New-HealthyResult
    #>
    [CmdletBinding()]
    [OutputType([PSBridge.HealthCheckResult])]
    param([Parameter(Position = 0)][string]$Message)
    if ($Message) { [PSBridge.HealthCheckResult]::Healthy($Message) } else { [PSBridge.HealthCheckResult]::Healthy() }
}

function New-UnhealthyResult {
    <#
    .SYNOPSIS
    Returns an unhealthy [HealthCheckResult]: the integration cannot work until fixed.
    .PARAMETER Message
    What is wrong, shown on the integration page.
    .EXAMPLE
    New-UnhealthyResult -Message 'API token expired'
    #>
    [CmdletBinding()]
    [OutputType([PSBridge.HealthCheckResult])]
    param([Parameter(Mandatory, Position = 0)][string]$Message)
    [PSBridge.HealthCheckResult]::Unhealthy($Message)
}

function New-DegradedResult {
    <#
    .SYNOPSIS
    Returns a degraded [HealthCheckResult]: working, with problems.
    .DESCRIPTION
    Not seen in public ImmyBot scripts; provided as the mirror of New-UnhealthyResult.
    .PARAMETER Message
    What is degraded.
    .EXAMPLE
    New-DegradedResult -Message 'Rate limited; retrying'
    #>
    [CmdletBinding()]
    [OutputType([PSBridge.HealthCheckResult])]
    param([Parameter(Mandatory, Position = 0)][string]$Message)
    [PSBridge.HealthCheckResult]::Degraded($Message)
}

function New-DynamicVersion {
    <#
    .SYNOPSIS
    Creates one downloadable version for a GetDynamicVersions block.
    .PARAMETER Uri
    Download URL (alias URL).
    .PARAMETER Version
    The version (mandatory); SemVer labels are dropped.
    .PARAMETER FileName
    The installer's file name.
    .PARAMETER Architecture
    X86, X64, AMD64, ARM64 or i386.
    .PARAMETER PackageType
    Executable, Zip or MSI.
    .PARAMETER PackageHash
    Hash of the installer (alias FileHash).
    .PARAMETER DependsOnVersion
    A version this one needs installed first.
    .PARAMETER RelativeCacheSourcePath
    Path inside the package to cache.
    .EXAMPLE
    New-DynamicVersion -Uri 'https://example.com/agent-1.2.3.msi' -Version 1.2.3 -FileName agent.msi
    #>
    [CmdletBinding()]
    [OutputType([Immybot.Backend.Domain.Models.DynamicVersion])]
    param(
        [Alias('URL')][Uri]$Uri,
        [Parameter(Mandatory)][PSBridge.VersionTransformation()][Version]$Version,
        [string]$FileName,
        [ValidateSet('X86', 'X64', 'AMD64', 'ARM64', 'i386')][string]$Architecture,
        [string]$PackageType,
        [Alias('FileHash')][string]$PackageHash,
        [PSBridge.VersionTransformation()][Version]$DependsOnVersion,
        [string]$RelativeCacheSourcePath
    )
    $v = [Immybot.Backend.Domain.Models.DynamicVersion]::new()
    $v.Url = $Uri
    $v.Version = $Version
    $v.FileName = $FileName
    $v.Architecture = $Architecture
    $v.PackageType = $PackageType
    $v.PackageHash = $PackageHash
    $v.DependsOnVersion = $DependsOnVersion
    $v.RelativeCacheSourcePath = $RelativeCacheSourcePath
    $v
}

function New-SupportFormBranding {
    <#
    .SYNOPSIS
    Creates the support-form texts a NewSupportFormBranding block returns.
    .PARAMETER SupportSidebarTitle
    Title of the support sidebar.
    .PARAMETER HeaderAlertMessage
    Alert at the top of the form.
    .PARAMETER DescriptionPlaceholderText
    Placeholder of the description box.
    .PARAMETER DescriptionAlertMessage
    Alert above the description box.
    .PARAMETER ShowConfirmationCheckbox
    Whether the form asks for confirmation.
    .PARAMETER FooterMessage
    Footer text.
    .PARAMETER SessionSupportButtonTitle
    Caption of the session support button.
    .PARAMETER ShowSessionSupportConfirmCheckbox
    Whether session support asks for confirmation.
    .EXAMPLE
    New-SupportFormBranding -SupportSidebarTitle 'Contoso help desk' -ShowConfirmationCheckbox $true
    #>
    [CmdletBinding()]
    [OutputType([DotNext.Optional[Immybot.Backend.Providers.Interfaces.ProviderSupportFormBranding]])]
    param(
        [string]$SupportSidebarTitle,
        [string]$HeaderAlertMessage,
        [string]$DescriptionPlaceholderText,
        [string]$DescriptionAlertMessage,
        [bool]$ShowConfirmationCheckbox,
        [string]$FooterMessage,
        [string]$SessionSupportButtonTitle,
        [bool]$ShowSessionSupportConfirmCheckbox
    )
    $b = [Immybot.Backend.Providers.Interfaces.ProviderSupportFormBranding]::new()
    foreach ($name in $PSBoundParameters.Keys) {
        if ($b.psobject.Properties[$name]) { $b.$name = $PSBoundParameters[$name] }
    }
    $b
}

# --- helpers scripts call ---------------------------------------------------------------------

function Write-Variable {
    <#
    .SYNOPSIS
    Logs a variable's name and value (information stream), e.g. $Uri | Write-Variable.
    .DESCRIPTION
    The name is taken from the pipeline expression ($providerTypeFormData | Write-Variable) or
    from -Name. Secrets are masked by psbridge like any other output.
    .PARAMETER InputObject
    The value (pipeline input).
    .PARAMETER Name
    The name to print; defaults to the piped variable's name.
    .EXAMPLE
    $providerTypeFormData | Write-Variable
    #>
    [CmdletBinding()]
    param(
        [Parameter(ValueFromPipeline, Position = 0)][AllowNull()][object]$InputObject,
        [string]$Name
    )
    begin {
        $items = [System.Collections.Generic.List[object]]::new()
        if (-not $Name) {
            $line = $MyInvocation.Line
            if ($line -and $line -match '\$(?:\{([^}]+)\}|([\w:]+))\s*\|\s*Write-Variable') {
                $Name = if ($Matches[1]) { $Matches[1] } else { $Matches[2] }
            } elseif ($line -and $line -match 'Write-Variable\s+\$([\w:]+)') {
                $Name = $Matches[1]
            } else {
                $Name = 'value'
            }
        }
    }
    process { $items.Add($InputObject) }
    end {
        $value = if ($items.Count -eq 1) { $items[0] } else { $items.ToArray() }
        $text = if ($null -eq $value) { '$null' }
        elseif ($value -is [System.Collections.IDictionary]) {
            (($value.Keys | ForEach-Object { "  $_ = $($value[$_])" }) -join [Environment]::NewLine)
        } else { ($value | Out-String).TrimEnd() }
        if ($value -is [System.Collections.IDictionary]) { $text = [Environment]::NewLine + $text }
        Write-Information -MessageData "`$$Name`: $text" -Tags 'Write-Variable' -InformationAction Continue
    }
}

function Should-HaveOne {
    <#
    .SYNOPSIS
    Passes on the single piped item; throws when there are none or several.
    .DESCRIPTION
    With -TakeFirst, several items give a warning and the first one is returned.
    .PARAMETER Description
    What the items are, used in the message ("Expected exactly one site …").
    .PARAMETER InputObject
    The items (pipeline input).
    .PARAMETER TakeFirst
    Return the first of several items instead of failing.
    .EXAMPLE
    Get-S1Site -Name $name | Should-HaveOne "site named $name"
    #>
    [CmdletBinding()]
    [Alias('ShouldHave-One')]
    param(
        [Parameter(Position = 0)][string]$Description = 'item',
        [Parameter(ValueFromPipeline)][AllowNull()][object]$InputObject,
        [switch]$TakeFirst
    )
    begin { $items = [System.Collections.Generic.List[object]]::new() }
    process { if ($null -ne $InputObject) { $items.Add($InputObject) } }
    end {
        if ($items.Count -eq 0) {
            throw "Expected exactly one $Description, found none."
        }
        if ($items.Count -gt 1) {
            if (-not $TakeFirst) {
                throw "Expected exactly one $Description, found $($items.Count)."
            }
            Write-Warning "Expected exactly one $Description, found $($items.Count); taking the first."
        }
        $items[0]
    }
}

function Add-UriQueryParameter {
    <#
    .SYNOPSIS
    Returns a [Uri] with query parameters appended.
    .DESCRIPTION
    Values are form-encoded (spaces become '+'). Array values repeat the parameter. Without
    -OverwriteParameters a name already in the query gets an additional value; with it, the new
    value replaces the old ones.
    .PARAMETER Uri
    The base URI (string or [Uri]).
    .PARAMETER Parameter
    The parameters to add, as a hashtable.
    .PARAMETER OverwriteParameters
    Replace parameters that are already present instead of adding values.
    .EXAMPLE
    Add-UriQueryParameter -Uri 'https://api.example.com/agents' -Parameter @{ limit = 100; cursor = $next }
    #>
    [CmdletBinding()]
    [OutputType([Uri])]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipeline)][Uri]$Uri,
        [Parameter(Mandatory, Position = 1)][System.Collections.IDictionary]$Parameter,
        [switch]$OverwriteParameters
    )
    process {
        $pairs = [System.Collections.Generic.List[object]]::new()
        $builder = [UriBuilder]::new($Uri)
        $query = $builder.Query.TrimStart('?')
        if ($query) {
            foreach ($part in $query.Split('&')) {
                if ($part -eq '') { continue }
                $kv = $part.Split('=', 2)
                $pairs.Add([pscustomobject]@{
                        Name  = [System.Net.WebUtility]::UrlDecode($kv[0])
                        Value = if ($kv.Count -gt 1) { [System.Net.WebUtility]::UrlDecode($kv[1]) } else { $null }
                    })
            }
        }
        foreach ($name in $Parameter.Keys) {
            $key = [string]$name
            if ($OverwriteParameters) {
                $keep = [System.Collections.Generic.List[object]]::new()
                foreach ($p in $pairs) { if ($p.Name -ne $key) { $keep.Add($p) } }
                $pairs = $keep
            }
            $value = $Parameter[$name]
            $values = if ($value -is [System.Collections.IEnumerable] -and $value -isnot [string]) { @($value) } else { @(, $value) }
            foreach ($v in $values) {
                $pairs.Add([pscustomobject]@{ Name = $key; Value = if ($null -eq $v) { '' } elseif ($v -is [bool]) { "$v".ToLowerInvariant() } else { [string]$v } })
            }
        }
        $parts = foreach ($p in $pairs) {
            if ($null -eq $p.Value) { [System.Net.WebUtility]::UrlEncode($p.Name) }
            else { [System.Net.WebUtility]::UrlEncode($p.Name) + '=' + [System.Net.WebUtility]::UrlEncode($p.Value) }
        }
        $builder.Query = ($parts -join '&')
        $builder.Uri
    }
}

# --- token cmdlets (software/task scripts; the host resolves the linked integration) ----------

function Get-IntegrationAgentInstallToken {
    <#
    .SYNOPSIS
    Returns the agent install token of the current tenant from the linked integration.
    .DESCRIPTION
    psbridge finds the integration linked to the running script, maps the computer's tenant to
    that integration's client id and calls its GetTenantInstallToken block.
    .EXAMPLE
    $token = Get-IntegrationAgentInstallToken -ErrorAction Stop
    #>
    [CmdletBinding()]
    [Alias('Get-IntegrationAgentInstallTokenCmdlet')]
    [OutputType([string])]
    param()
    Get-HostValue -Method 'host.token' -Parameters @{ kind = 'agentInstall' }
}

function Get-IntegrationTenantUninstallToken {
    <#
    .SYNOPSIS
    Returns the tenant uninstall token from the linked integration (GetTenantUninstallToken).
    .EXAMPLE
    $token = Get-IntegrationTenantUninstallToken
    #>
    [CmdletBinding()]
    [Alias('Get-IntegrationTenantUninstallTokenCmdlet')]
    [OutputType([string])]
    param()
    Get-HostValue -Method 'host.token' -Parameters @{ kind = 'tenantUninstall' }
}

function Get-IntegrationAgentUninstallToken {
    <#
    .SYNOPSIS
    Returns the uninstall token of the computer's agent from the linked integration (GetAgentUninstallToken).
    .EXAMPLE
    $token = Get-IntegrationAgentUninstallToken
    #>
    [CmdletBinding()]
    [Alias('Get-IntegrationAgentUninstallTokenCmdlet')]
    [OutputType([string])]
    param()
    Get-HostValue -Method 'host.token' -Parameters @{ kind = 'agentUninstall' }
}

function Get-IntegrationAuthenticatedDownload {
    <#
    .SYNOPSIS
    Returns the HTTP headers for an authenticated installer download (GetAuthHeader of the linked integration).
    .EXAMPLE
    Invoke-WebRequest $Url -Headers (Get-IntegrationAuthenticatedDownload) -OutFile $InstallerFile
    #>
    [CmdletBinding()]
    [Alias('Get-IntegrationAuthenticatedDownloadCmdlet')]
    [OutputType([hashtable])]
    param()
    $headers = Get-HostValue -Method 'host.token' -Parameters @{ kind = 'authHeader' }
    if ($null -eq $headers) { return @{} }
    $headers
}

function Invoke-ImmyCommand {
    <#
    .SYNOPSIS
    Runs a script block on the computer in context (or -Computer) and returns its output.
    .DESCRIPTION
    psbridge sends the block to the host, which runs it through the computer's agent. $using:
    variables are evaluated here and sent along. Without a computer attached (for example when
    an integration method runs outside a computer's context) the command fails with a clear error.
    .PARAMETER ScriptBlock
    The code to run on the computer.
    .PARAMETER ArgumentList
    Arguments for the block's param().
    .PARAMETER Computer
    The target computer(s); defaults to the computer in context.
    .PARAMETER Context
    System (default) or User.
    .PARAMETER Timeout
    Seconds the block may run (default 120).
    .PARAMETER ConnectTimeout
    Seconds to wait for the computer to connect.
    .PARAMETER Parallel
    Run on several computers at once.
    .PARAMETER DisableConnectTimeoutWarnings
    Do not warn when connecting takes long.
    .PARAMETER IncludeLocals
    Send every local variable, not only $using: ones.
    .PARAMETER ScriptType
    PowerShell (default) or CommandLine.
    .PARAMETER ScriptName
    A name for logs.
    .EXAMPLE
    Invoke-ImmyCommand { Get-ItemPropertyValue 'HKLM:\SOFTWARE\Vendor' -Name AgentId }
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, Position = 0)][scriptblock]$ScriptBlock,
        [object[]]$ArgumentList,
        [Parameter(ValueFromPipeline)][object[]]$Computer,
        [Alias('ContextString')][ValidateSet('System', 'User')][string]$Context = 'System',
        [int]$Timeout = 120,
        [int]$ConnectTimeout,
        [switch]$Parallel,
        [switch]$DisableConnectTimeoutWarnings,
        [switch]$IncludeLocals,
        [ValidateSet('PowerShell', 'CommandLine')][string]$ScriptType = 'PowerShell',
        [string]$ScriptName,
        [object]$AgentConnectionWaitTimeout,
        [string]$CircuitBreakerPolicy
    )
    begin { $targets = [System.Collections.Generic.List[object]]::new() }
    process { if ($Computer) { foreach ($c in $Computer) { $targets.Add($c) } } }
    end {
        $using = @{}
        $usings = $ScriptBlock.Ast.FindAll({ param($a) $a -is [System.Management.Automation.Language.UsingExpressionAst] }, $true)
        foreach ($u in $usings) {
            $var = [System.Management.Automation.Language.UsingExpressionAst]::ExtractUsingVariable($u)
            $name = $var.VariablePath.UserPath
            $using[$name] = $PSCmdlet.SessionState.PSVariable.GetValue($name)
        }
        $request = @{
            script  = $ScriptBlock.ToString()
            args    = @($ArgumentList)
            using   = $using
            context = $Context
            timeout = $Timeout
        }
        if ($ScriptName) { $request.scriptName = $ScriptName }
        if ($targets.Count -gt 0) {
            $request.computers = @($targets | ForEach-Object { if ($_ -is [System.Collections.IDictionary]) { $_['Id'] } elseif ($_.psobject.Properties['Id']) { $_.Id } else { [string]$_ } })
        }
        if (-not [PSBridge.HostBridge]::IsAttached) {
            throw [System.InvalidOperationException]::new('Invoke-ImmyCommand: no computer is attached: this script is not running inside a psbridge worker.')
        }
        $answer = Get-HostValue -Method 'host.computerCommand' -Parameters $request
        if ($answer -is [System.Collections.IDictionary] -and $answer.Contains('output')) {
            foreach ($o in @($answer['output'])) { $o }
        }
    }
}

function Import-Module {
    <#
    .SYNOPSIS
    Imports a module, looking first for a module script saved in psbridge by that name.
    .DESCRIPTION
    Integration blocks call Import-Module <ModuleScriptName> to reach helper modules saved in the
    integration host (as ImmyBot's Module scripts). When psbridge has a module script of that
    name it is imported globally from there; otherwise this is PowerShell's own Import-Module
    with the same parameters.
    .PARAMETER Name
    Module names or paths.
    .EXAMPLE
    Import-Module SentinelOne
    #>
    [CmdletBinding(DefaultParameterSetName = 'Name')]
    param(
        [Parameter(ParameterSetName = 'Name', Mandatory, Position = 0, ValueFromPipeline)][object[]]$Name,
        [Parameter(ParameterSetName = 'ModuleInfo', Mandatory, ValueFromPipeline)][psmoduleinfo[]]$ModuleInfo,
        [Parameter(ParameterSetName = 'Assembly', Mandatory)][System.Reflection.Assembly[]]$Assembly,
        [switch]$Global,
        [string]$Prefix,
        [string[]]$Function,
        [string[]]$Cmdlet,
        [string[]]$Variable,
        [string[]]$Alias,
        [switch]$Force,
        [switch]$PassThru,
        [switch]$AsCustomObject,
        [Alias('Version')][version]$MinimumVersion,
        [string]$MaximumVersion,
        [version]$RequiredVersion,
        [object[]]$ArgumentList,
        [switch]$DisableNameChecking,
        [switch]$NoClobber,
        [ValidateSet('Local', 'Global')][string]$Scope,
        [switch]$SkipEditionCheck
    )
    process {
        $forward = @{} + $PSBoundParameters
        if ($PSCmdlet.ParameterSetName -ne 'Name') {
            Microsoft.PowerShell.Core\Import-Module @forward
            return
        }
        $forward.Remove('Name')
        foreach ($item in $Name) {
            if ($item -is [psobject]) { $item = $item.psobject.BaseObject }
            $path = $null
            if ($item -is [string] -and $item -notmatch '[\\/]' -and -not $item.EndsWith('.psd1') -and -not $item.EndsWith('.psm1') -and -not $item.EndsWith('.dll')) {
                $path = [PSBridge.HostBridge]::FindModule($item)
            }
            if ($path) {
                $hosted = @{} + $forward
                $hosted.Remove('Scope')
                $hosted.Remove('Global')
                Microsoft.PowerShell.Core\Import-Module -Name $path -Global -DisableNameChecking @hosted
            } else {
                Microsoft.PowerShell.Core\Import-Module -Name $item @forward
            }
        }
    }
}

Export-ModuleMember -Function @(
    'New-DynamicIntegration', 'Add-DynamicIntegrationCapability',
    'New-IntegrationClient', 'New-IntegrationAgent',
    'New-HealthyResult', 'New-UnhealthyResult', 'New-DegradedResult',
    'New-DynamicVersion', 'New-SupportFormBranding',
    'Write-Variable', 'Should-HaveOne', 'Add-UriQueryParameter',
    'Get-IntegrationAgentInstallToken', 'Get-IntegrationTenantUninstallToken',
    'Get-IntegrationAgentUninstallToken', 'Get-IntegrationAuthenticatedDownload',
    'Invoke-ImmyCommand', 'Import-Module'
) -Alias @(
    'ShouldHave-One',
    'Get-IntegrationAgentInstallTokenCmdlet', 'Get-IntegrationTenantUninstallTokenCmdlet',
    'Get-IntegrationAgentUninstallTokenCmdlet', 'Get-IntegrationAuthenticatedDownloadCmdlet'
)
