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
# The compiled cmdlets (New-IntegrationClient, New-IntegrationAgent) as a nested module, so this
# module exports them (Export-ModuleMember -Cmdlet below); Get-Help reads PSBridge.dll-Help.xml.
Microsoft.PowerShell.Core\Import-Module -Assembly ([PSBridge.NewIntegrationAgentCommand].Assembly) -Verbose:$false

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

function Stop-Command {
    # Ends the script, like throw, with an error that points at the caller's line in the
    # integration script (Invocation: the public function's $MyInvocation) instead of a line
    # of this module, so psbridge reports the user's line and column.
    param(
        [System.Management.Automation.InvocationInfo]$Invocation,
        [object]$Exception,
        [string]$ErrorId = 'PSBridgeCommandFailed',
        [System.Management.Automation.ErrorCategory]$Category = [System.Management.Automation.ErrorCategory]::InvalidOperation,
        [object]$Target
    )
    if ($Exception -isnot [System.Exception]) { $Exception = [System.InvalidOperationException]::new([string]$Exception) }
    $record = [System.Management.Automation.ErrorRecord]::new($Exception, $ErrorId, $Category, $Target)
    $set = [System.Management.Automation.ErrorRecord].GetMethod('SetInvocationInfo', [System.Reflection.BindingFlags]'NonPublic, Instance')
    if ($null -ne $set -and $null -ne $Invocation) {
        try { $null = $set.Invoke($record, @($Invocation)) } catch { }
    }
    throw $record
}

function Get-HostValue {
    # Calls the psbridge host (Go) and returns its answer ("value" of a token answer). Failures
    # end the script with the host's message, positioned at the caller's line (Invocation).
    param([string]$Method, [hashtable]$Parameters, [System.Management.Automation.InvocationInfo]$Invocation)
    if (-not [PSBridge.HostBridge]::IsAttached) {
        Stop-Command -Invocation $Invocation -Exception "An integration is not linked to this script: it is not running inside a psbridge worker, so there is no host to ask." -ErrorId 'PSBridgeNoHost'
    }
    try {
        $answer = [PSBridge.HostBridge]::Call($Method, $Parameters)
    } catch {
        # The host's message rather than .NET's "Exception calling Call with 2 arguments".
        $inner = $_.Exception
        while ($inner -is [System.Management.Automation.MethodInvocationException] -and $null -ne $inner.InnerException) { $inner = $inner.InnerException }
        if ($inner -is [System.Management.Automation.PipelineStoppedException]) { throw $inner }
        Stop-Command -Invocation $Invocation -Exception ([System.InvalidOperationException]::new($inner.Message)) -ErrorId 'PSBridgeHostCallFailed'
    }
    if ($Method -eq 'host.token' -and $answer -is [System.Collections.IDictionary] -and $answer.Contains('value')) { return $answer['value'] }
    return $answer
}

function ConvertTo-PSLiteral {
    # A PowerShell expression that recreates $Value: a literal for strings, whole numbers,
    # booleans and $null, CliXml (what PowerShell remoting uses) for everything else.
    param([AllowNull()][object]$Value)
    if ($null -eq $Value) { return '$null' }
    $quote = { param($text) "'" + ($text -replace "['\u2018\u2019\u201A\u201B]", '$0$0') + "'" }
    if ($Value -is [string]) { return (& $quote $Value) }
    if ($Value -is [bool]) { return $(if ($Value) { '$true' } else { '$false' }) }
    if ($Value -is [int]) { return $Value.ToString([cultureinfo]::InvariantCulture) }
    if ($Value -is [long]) { return '[long]' + $Value.ToString([cultureinfo]::InvariantCulture) }
    $xml = [System.Management.Automation.PSSerializer]::Serialize($Value, 16)
    return '[System.Management.Automation.PSSerializer]::Deserialize(' + (& $quote $xml) + ')'
}

function ConvertTo-SelfContainedScript {
    # The text of $ScriptBlock with each $using:name replaced by a variable that the script sets
    # first from $Values (name -> value), so it runs on the computer without the caller's session.
    # PrologueLines receives how many lines precede the block's first line in the result.
    param([scriptblock]$ScriptBlock, [System.Collections.IDictionary]$Values, [ref]$PrologueLines)
    if ($null -ne $PrologueLines) { $PrologueLines.Value = 0 }
    $ast = $ScriptBlock.Ast
    $usings = @($ast.FindAll({ param($a) $a -is [System.Management.Automation.Language.UsingExpressionAst] }, $true))
    if ($usings.Count -eq 0) { return $ScriptBlock.ToString() }
    $text = $ast.Extent.Text
    $base = $ast.Extent.StartOffset
    $slots = [ordered]@{}
    $edits = foreach ($u in $usings) {
        $var = [System.Management.Automation.Language.UsingExpressionAst]::ExtractUsingVariable($u)
        $name = $var.VariablePath.UserPath
        $key = $name.ToLowerInvariant()
        if (-not $slots.Contains($key)) { $slots[$key] = [pscustomobject]@{ Variable = '__psbUsing' + $slots.Count; Name = $name } }
        [pscustomobject]@{ Start = $var.Extent.StartOffset - $base; Length = $var.Extent.EndOffset - $var.Extent.StartOffset; Variable = $slots[$key].Variable }
    }
    foreach ($e in @($edits | Sort-Object Start -Descending)) {
        $text = $text.Substring(0, $e.Start) + '${' + $e.Variable + '}' + $text.Substring($e.Start + $e.Length)
    }
    if ($ast.Parent -is [System.Management.Automation.Language.ScriptBlockExpressionAst]) { $text = $text.Substring(1, $text.Length - 2) }
    $prologue = foreach ($slot in $slots.Values) {
        $value = $null
        foreach ($k in $Values.Keys) { if ([string]$k -eq $slot.Name) { $value = $Values[$k] } }
        '${' + $slot.Variable + '} = ' + (ConvertTo-PSLiteral $value)
    }
    # Statements may not precede param(), begin/process/end or using/#requires: wrap then.
    $plain = $null -eq $ast.ParamBlock -and $null -eq $ast.BeginBlock -and $null -eq $ast.ProcessBlock -and
        $null -eq $ast.DynamicParamBlock -and $ast.UsingStatements.Count -eq 0 -and $null -eq $ast.ScriptRequirements -and
        ($null -eq $ast.EndBlock -or $ast.EndBlock.Unnamed)
    $nl = [Environment]::NewLine
    if ($null -ne $PrologueLines) { $PrologueLines.Value = ((($prologue -join $nl) + $nl) -split "`n").Count - 1 }
    if ($plain) { return ($prologue -join $nl) + $nl + $text }
    return ($prologue -join $nl) + $nl + '& {' + $text + $nl + '} @args'
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
    Each member of the chosen interface is a parameter named after it, taking a script block
    (docs/interfaces.md lists every member's parameters and return type):
    - ISupportsListingClients: -GetClients (returns New-IntegrationClient objects)
    - ISupportsListingAgents: -GetAgents (param([string[]]$ClientIds); New-IntegrationAgent objects)
    - ISupportsInventoryIdentification: -GetInventoryScript (returns the computer's agent id)
    - ISupportsTenantInstallToken: -GetTenantInstallToken (param([string]$clientId))
    - ISupportsTenantUninstallToken: -GetTenantUninstallToken (param([string]$clientId))
    - ISupportsAgentUninstallToken: -GetAgentUninstallToken (param([string]$agentId))
    - ISupportsDeletingOfflineAgent: -DeleteAgent (param([IProviderAgentDetails]$agent))
    - ISupportsDynamicVersions: -GetDynamicVersions (param([string]$externalClientId); New-DynamicVersion objects)
    - ISupportsAuthenticatedDownload: -GetAuthHeader (returns a hashtable of HTTP headers)
    - IRunScriptProvider: -RunScript (param($agent, $scriptCode, [ScriptLanguage]$scriptLanguage, [int]$timeout, $scriptPath)) and -get_DefaultTimeout (returns seconds)
    - ISupportsExternalProviderAgentUrl: -GetExternalProviderAgentUrl (param([IProviderAgentDetails]$device))
    - ISupportsSupportTicketDetailOverride: -CreateTicket (returns [SupportTicketCreationResult]) and -NewSupportFormBranding (returns New-SupportFormBranding)
    - ISupportsHttpRequest: -HandleHttpRequest (param([HttpContext]$httpContext, $body, $route); returns an [IActionResult])

    Interfaces whose members are not documented publicly (ISupportsMaintenanceMode,
    ISupportsClientGrouping, …) accept any -MemberName { … } pairs, under exactly those names.
    The integration comes from the pipeline and is changed in place; nothing is returned.
    An unknown interface (with the closest names when it looks mistyped: "did you mean
    ISupportsListingClients?"), or a member that does not belong to the interface, stops the
    script with an error naming both.
    .PARAMETER Integration
    The object from New-DynamicIntegration (pipeline input).
    .PARAMETER Interface
    The capability interface, e.g. ISupportsListingClients. Tab completion lists them all.
    .PARAMETER OtherMembers
    Members of interfaces without a fixed member list, as -MemberName { ... } pairs.
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
        [Parameter(ValueFromRemainingArguments)][object[]]$OtherMembers
    )
    dynamicparam {
        # Only the chosen interface's members are parameters. With every known member as a
        # static parameter, PowerShell's prefix matching turned a member such as -Delete of
        # ISupportsMaintenanceMode into -DeleteAgent, and -GetAgent into an ambiguity error.
        $canonical = $null
        if ($PSBoundParameters.ContainsKey('Interface')) { $canonical = [PSBridge.CapabilityCatalog]::Canonical([string]$PSBoundParameters['Interface']) }
        if ($null -eq $canonical) { return }
        $known = [PSBridge.CapabilityCatalog]::Interfaces[$canonical]
        if ($null -eq $known) { return }
        $dictionary = [System.Management.Automation.RuntimeDefinedParameterDictionary]::new()
        foreach ($member in $known) {
            $attributes = [System.Collections.ObjectModel.Collection[System.Attribute]]::new()
            $attributes.Add([System.Management.Automation.ParameterAttribute]::new())
            $dictionary.Add($member, [System.Management.Automation.RuntimeDefinedParameter]::new($member, [scriptblock], $attributes))
        }
        $dictionary
    }
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

# New-IntegrationClient and New-IntegrationAgent are compiled cmdlets (src/CompatCmdlets.cs,
# help in PSBridge.dll-Help.xml): a GetAgents block calls New-IntegrationAgent once per agent,
# and a cmdlet binds its parameters in a fraction of an advanced function's time. They are
# imported above and exported below.

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
    The installer's file name (default: the URL's last path segment when it has an extension).
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
    if (-not $FileName -and $null -ne $Uri -and $Uri.IsAbsoluteUri) {
        # The file name defaults to the URL's last path segment, as ImmyBot's does.
        $leaf = [Uri]::UnescapeDataString($Uri.AbsolutePath.TrimEnd('/').Split('/')[-1])
        if ($leaf -match '\.[A-Za-z0-9]{2,5}$') { $FileName = $leaf }
    }
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
        # Scalars (strings, numbers, dates, [uri], [version], ...) print as their text, not as
        # a property list; several scalars as a comma-separated list.
        $isScalar = { param($v) $null -ne $v -and ($v -is [string] -or $v -is [ValueType] -or $v -is [uri] -or $v -is [version] -or $v -is [semver]) }
        $text = if ($null -eq $value) { '$null' }
        elseif (& $isScalar $value) { [string]$value }
        elseif ($items.Count -gt 1 -and @($items | Where-Object { -not (& $isScalar $_) }).Count -eq 0) { ($items | ForEach-Object { [string]$_ }) -join ', ' }
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
    process {
        # Piped items arrive one by one; -InputObject @(a, b) holds them all.
        if ($MyInvocation.ExpectingInput) { if ($null -ne $InputObject) { $items.Add($InputObject) } }
        else { foreach ($v in @($InputObject)) { if ($null -ne $v) { $items.Add($v) } } }
    }
    end {
        if ($items.Count -eq 0) {
            Stop-Command -Invocation $MyInvocation -Exception "Expected exactly one $Description, found none." -ErrorId 'ShouldHaveOneFoundNone' -Category ObjectNotFound
        }
        if ($items.Count -gt 1) {
            if (-not $TakeFirst) {
                Stop-Command -Invocation $MyInvocation -Exception "Expected exactly one $Description, found $($items.Count)." -ErrorId 'ShouldHaveOneFoundSeveral' -Category InvalidResult
            }
            Write-Warning "Expected exactly one $Description, found $($items.Count); taking the first."
        }
        $PSCmdlet.WriteObject($items[0], $false)
    }
}

function Add-UriQueryParameter {
    <#
    .SYNOPSIS
    Returns a [Uri] with query parameters appended.
    .DESCRIPTION
    Values are form-encoded (spaces become '+'). Array values repeat the parameter; a $null
    value adds nothing (so a first-page cursor of $null is simply left out). Without
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
        # Keep a default port implicit, or .OriginalString would gain ':443'.
        if ($Uri.IsAbsoluteUri -and $Uri.IsDefaultPort) { $builder.Port = -1 }
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

# --- dynamic versions -------------------------------------------------------------------------

function ConvertTo-DynamicVersionValue {
    # A version text as [Version]: trailing dots and SemVer labels dropped, two to four parts.
    param([AllowNull()][object]$Text)
    if ($null -eq $Text) { return $null }
    if ($Text -is [Version]) { return $Text }
    $s = ([string]$Text).Trim().TrimStart('vV').Trim('.')
    if ($s -match '^(\d+(?:\.\d+){0,3})') { $s = $Matches[1] } else { return $null }
    if ($s -notmatch '\.') { $s += '.0' }
    $v = $null
    if ([Version]::TryParse($s, [ref]$v)) { return $v }
    $null
}

function Get-DynamicVersionsFromGitHubUrl {
    <#
    .SYNOPSIS
    Lists a GitHub repository's releases as dynamic versions, one per matching asset.
    .DESCRIPTION
    Reads the releases of the repository named by -GitHubReleasesUrl through GitHub's REST API
    (https://api.github.com for github.com, /api/v3 on a GitHub Enterprise host) and matches
    -VersionsPattern against each asset's download URL (or -VersionsField). The pattern's named
    groups give the version (Version, required), the download URL (Uri; the asset's URL when
    absent), the file name (FileName; the asset's name when absent) and Architecture. Drafts are
    skipped; prereleases too unless -IncludePrerelease. Returns an object whose Versions holds
    the DynamicVersion objects, newest first.
    .PARAMETER GitHubReleasesUrl
    The repository's releases page, e.g. https://github.com/owner/repo/releases.
    .PARAMETER VersionsPattern
    A regular expression with named groups Version and optionally Uri, FileName, Architecture.
    .PARAMETER VersionsField
    The asset field the pattern is matched against (default browser_download_url).
    .PARAMETER DynamicVersionFilter
    A script block run for each version ($_); versions for which it returns false are dropped.
    .PARAMETER LatestRelease
    Only look at the latest release.
    .PARAMETER IncludePrerelease
    Also return versions from prereleases.
    .PARAMETER PerPage
    Releases per API page (default 30; one page is read).
    .PARAMETER Headers
    Extra request headers, e.g. an Authorization header for private repositories.
    .EXAMPLE
    Get-DynamicVersionsFromGitHubUrl -GitHubReleasesUrl 'https://github.com/Zettlr/Zettlr/releases' -VersionsPattern 'Zettlr-(?<Version>[\d\.]+)-x64.exe'
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, Position = 0)][string]$GitHubReleasesUrl,
        [Parameter(Mandatory, Position = 1)][string]$VersionsPattern,
        [string]$VersionsField = 'browser_download_url',
        [scriptblock]$DynamicVersionFilter,
        [switch]$LatestRelease,
        [switch]$IncludePrerelease,
        [ValidateRange(1, 100)][int]$PerPage = 30,
        [System.Collections.IDictionary]$Headers
    )
    $page = [Uri]$GitHubReleasesUrl
    $segments = @($page.AbsolutePath.Trim('/').Split('/') | Where-Object { $_ })
    if ($segments.Count -lt 2) {
        Stop-Command -Invocation $MyInvocation -Exception "Get-DynamicVersionsFromGitHubUrl: '$GitHubReleasesUrl' does not name a repository (https://github.com/OWNER/REPO/releases)" -ErrorId 'GitHubUrlInvalid' -Category InvalidArgument
    }
    $owner, $repo = $segments[0], $segments[1]
    $api = if ($page.Host -in @('github.com', 'www.github.com')) { 'https://api.github.com' } else { $page.GetLeftPart([UriPartial]::Authority) + '/api/v3' }
    $url = if ($LatestRelease) { "$api/repos/$owner/$repo/releases/latest" } else { "$api/repos/$owner/$repo/releases?per_page=$PerPage" }
    $h = @{ Accept = 'application/vnd.github+json'; 'X-GitHub-Api-Version' = '2022-11-28' }
    if ($Headers) { foreach ($k in $Headers.Keys) { $h[[string]$k] = $Headers[$k] } }
    # Invoke-RestMethod writes a JSON array as one object; @() of the variable is the array.
    $response = Invoke-RestMethod -Uri $url -Headers $h -ErrorAction Stop
    $releases = @($response)
    $regex = [regex]::new($VersionsPattern, 'IgnoreCase')
    $seen = [System.Collections.Generic.HashSet[string]]::new([StringComparer]::OrdinalIgnoreCase)
    $versions = [System.Collections.Generic.List[object]]::new()
    foreach ($release in $releases) {
        if ($release.PSObject.Properties['draft'] -and $release.draft) { continue }
        if (-not $IncludePrerelease -and $release.PSObject.Properties['prerelease'] -and $release.prerelease) { continue }
        if (-not $release.PSObject.Properties['assets']) { continue }
        foreach ($asset in @($release.assets)) {
            $field = if ($asset.PSObject.Properties[$VersionsField]) { [string]$asset.$VersionsField } else { '' }
            $m = $regex.Match($field)
            if (-not $m.Success -or -not $m.Groups['Version'].Success) { continue }
            $version = ConvertTo-DynamicVersionValue $m.Groups['Version'].Value
            if ($null -eq $version) { continue }
            $uri = if ($m.Groups['Uri'].Success) { $m.Groups['Uri'].Value } else { [string]$asset.browser_download_url }
            $fileName = if ($m.Groups['FileName'].Success) { $m.Groups['FileName'].Value } else { [string]$asset.name }
            $dv = New-DynamicVersion -Uri $uri -Version $version -FileName $fileName
            if ($m.Groups['Architecture'].Success) {
                $arch = $m.Groups['Architecture'].Value
                $dv.Architecture = switch -Regex ($arch) { '^(x64|amd64|64)$' { 'X64' } '^(x86|i386|32)$' { 'X86' } '^arm64$' { 'ARM64' } default { $arch } }
            }
            if ($DynamicVersionFilter -and -not (@($dv | Where-Object -FilterScript $DynamicVersionFilter).Count)) { continue }
            if ($seen.Add("$($dv.Version)|$($dv.Architecture)|$uri")) { $versions.Add($dv) }
        }
    }
    [pscustomobject]@{ Versions = @($versions | Sort-Object -Property Version -Descending) }
}

function Get-DynamicVersionFromInstallerURL {
    <#
    .SYNOPSIS
    Downloads an installer and returns its version as a dynamic version.
    .DESCRIPTION
    Downloads -URL (following redirects) to a temporary file and reads the version from the
    file itself (the version resource of a Windows .exe), else from the file name (the
    Content-Disposition header's, then the URL's), else -VersionIfNull. The file name comes from
    Content-Disposition, the final URL or -FileNameIfNull. With -ResolveRedirect the returned
    URL is the final one after redirects. Returns an object whose Versions holds one
    DynamicVersion (PackageType MSI, Executable or Zip from the file's extension).
    .PARAMETER URL
    The installer's download URL.
    .PARAMETER VersionIfNull
    The version to use when none can be read.
    .PARAMETER FileNameIfNull
    The file name to use when none can be found.
    .PARAMETER ResolveRedirect
    Return the URL the download was redirected to instead of -URL.
    .PARAMETER Force
    Accepted for compatibility (downloads are never cached).
    .PARAMETER Headers
    Extra request headers.
    .EXAMPLE
    Get-DynamicVersionFromInstallerURL 'https://updates.example.com/agent/latest.exe'
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, Position = 0)][Alias('Uri')][string]$URL,
        [object]$VersionIfNull,
        [string]$FileNameIfNull,
        [switch]$ResolveRedirect,
        [switch]$Force,
        [System.Collections.IDictionary]$Headers
    )
    $tmp = Join-Path ([IO.Path]::GetTempPath()) ('psbridge-installer-' + [Guid]::NewGuid().ToString('N'))
    try {
        $params = @{ Uri = $URL; OutFile = $tmp; PassThru = $true; ErrorAction = 'Stop' }
        if ($Headers) { $params.Headers = $Headers }
        $response = Invoke-WebRequest @params
        $final = $URL
        try { $final = [string]$response.BaseResponse.RequestMessage.RequestUri } catch { }
        $disposition = $null
        if ($response.Headers -and $response.Headers.ContainsKey('Content-Disposition')) { $disposition = @($response.Headers['Content-Disposition'])[0] }
        $fileName = [PSBridge.InstallerInfo]::ContentDispositionFileName($disposition)
        if (-not $fileName) {
            $leaf = [Uri]::UnescapeDataString(([Uri]$final).AbsolutePath.TrimEnd('/').Split('/')[-1])
            if ($leaf -match '\.[A-Za-z0-9]{2,5}$') { $fileName = $leaf }
        }
        if (-not $fileName) { $fileName = $FileNameIfNull }
        $version = [PSBridge.InstallerInfo]::PEFileVersion($tmp)
        if ($null -eq $version) { $version = [PSBridge.InstallerInfo]::FromName($fileName) }
        if ($null -eq $version) { $version = [PSBridge.InstallerInfo]::FromName(([Uri]$final).AbsolutePath) }
        if ($null -eq $version) { $version = ConvertTo-DynamicVersionValue $VersionIfNull }
        if ($null -eq $version) {
            Stop-Command -Invocation $MyInvocation -Exception "Get-DynamicVersionFromInstallerURL: no version could be read from $URL (give -VersionIfNull)" -ErrorId 'InstallerVersionNotFound' -Category InvalidData
        }
        $packageType = switch -Regex ("$fileName") { '\.msi$' { 'MSI' } '\.zip$' { 'Zip' } default { 'Executable' } }
        $uri = if ($ResolveRedirect) { $final } else { $URL }
        [pscustomobject]@{ Versions = @(New-DynamicVersion -Uri $uri -Version $version -FileName $fileName -PackageType $packageType) }
    } finally {
        Remove-Item -LiteralPath $tmp -Force -ErrorAction Ignore
    }
}

# --- dynamic parameters (Init and task forms) --------------------------------------------------

function New-Parameter {
    <#
    .SYNOPSIS
    Creates a form field in a dynamicparam block.
    .DESCRIPTION
    Returns a RuntimeDefinedParameter; collect several with New-ParameterCollection. psbridge
    shows each one as a field of the integration's form, like a param() parameter.
    .PARAMETER Name
    The parameter's name.
    .PARAMETER Type
    Its type (default [string]).
    .PARAMETER Mandatory
    The field must be filled in.
    .PARAMETER HelpMessage
    Help shown with the field.
    .PARAMETER Position
    Its position.
    .PARAMETER DefaultValue
    The value used when none is given.
    .PARAMETER ValidValues
    The allowed values (a drop-down).
    .PARAMETER ValidateScript
    A script that validates the value ($_), throwing or returning false when it is invalid.
    .PARAMETER DisplayName
    The field's label.
    .PARAMETER Password
    Make it a secret field (like [Password()]).
    .EXAMPLE
    New-ParameterCollection @( New-Parameter -Name FirstName -Mandatory )
    #>
    [CmdletBinding()]
    [OutputType([System.Management.Automation.RuntimeDefinedParameter])]
    param(
        [Parameter(Mandatory, Position = 0)][string]$Name,
        [type]$Type = [string],
        [switch]$Mandatory,
        [string]$HelpMessage,
        [int]$Position = [int]::MinValue,
        [object]$DefaultValue,
        [string[]]$ValidValues,
        [scriptblock]$ValidateScript,
        [string]$DisplayName,
        [switch]$Password
    )
    $attributes = [System.Collections.ObjectModel.Collection[Attribute]]::new()
    $p = [System.Management.Automation.ParameterAttribute]::new()
    $p.Mandatory = [bool]$Mandatory
    if ($HelpMessage) { $p.HelpMessage = $HelpMessage }
    if ($Position -ne [int]::MinValue) { $p.Position = $Position }
    $attributes.Add($p)
    if ($ValidValues) { $attributes.Add([System.Management.Automation.ValidateSetAttribute]::new([string[]]$ValidValues)) }
    if ($ValidateScript) { $attributes.Add([System.Management.Automation.ValidateScriptAttribute]::new($ValidateScript)) }
    if ($DisplayName) { $attributes.Add([DisplayNameAttribute]::new($DisplayName)) }
    if ($Password) { $attributes.Add([PasswordAttribute]::new()) }
    $rdp = [System.Management.Automation.RuntimeDefinedParameter]::new($Name, $Type, $attributes)
    if ($PSBoundParameters.ContainsKey('DefaultValue')) { $rdp.Value = $DefaultValue }
    $rdp
}

function New-DateTimeParameter {
    <#
    .SYNOPSIS
    Creates a date-and-time form field in a dynamicparam block.
    .PARAMETER Name
    The parameter's name.
    .PARAMETER Mandatory
    The field must be filled in.
    .PARAMETER HelpMessage
    Help shown with the field.
    .PARAMETER Position
    Its position.
    .PARAMETER DefaultValue
    The value used when none is given.
    .PARAMETER ValidateScript
    A script that validates the value ($_).
    .EXAMPLE
    New-DateTimeParameter -Name StartDate -Mandatory
    #>
    [CmdletBinding()]
    [OutputType([System.Management.Automation.RuntimeDefinedParameter])]
    param(
        [Parameter(Mandatory, Position = 0)][string]$Name,
        [switch]$Mandatory,
        [string]$HelpMessage,
        [int]$Position = [int]::MinValue,
        [object]$DefaultValue,
        [scriptblock]$ValidateScript
    )
    $PSBoundParameters['Type'] = [datetime]
    New-Parameter @PSBoundParameters
}

function New-HelpText {
    <#
    .SYNOPSIS
    Adds a paragraph of text to a form (dynamicparam block), not a field.
    .DESCRIPTION
    Returns a RuntimeDefinedParameter marked [PSBridge.HelpText]: the form shows its help
    message as text and sends no value for it.
    .PARAMETER Name
    A name for the text (unique in the form).
    .PARAMETER HelpMessage
    The text.
    .EXAMPLE
    New-HelpText -Name Hint -HelpMessage 'Create an API client in the vendor portal first.'
    #>
    [CmdletBinding()]
    [OutputType([System.Management.Automation.RuntimeDefinedParameter])]
    param(
        [Parameter(Mandatory, Position = 0)][string]$Name,
        [Parameter(Position = 1)][string]$HelpMessage
    )
    $attributes = [System.Collections.ObjectModel.Collection[Attribute]]::new()
    $p = [System.Management.Automation.ParameterAttribute]::new()
    if ($HelpMessage) { $p.HelpMessage = $HelpMessage }
    $attributes.Add($p)
    $attributes.Add([PSBridge.HelpTextAttribute]::new($HelpMessage))
    [System.Management.Automation.RuntimeDefinedParameter]::new($Name, [object], $attributes)
}

function New-OAuthConsentParameter {
    <#
    .SYNOPSIS
    Adds an OAuth consent button to a form (dynamicparam block).
    .DESCRIPTION
    The button runs the OAuth 2.0 authorization-code flow with the vendor: psbridge's pages send
    the user to -AuthorizationEndpoint, receive the code, exchange it at -TokenEndpoint (with
    -ClientId and -ClientSecret) and store the result as a secret. The parameter then binds to a
    [PSBridge.OAuthConsentResult] with Code, AccessToken, RefreshToken, TokenType, Scope and
    AccessTokenExpiresAtUtc.
    .PARAMETER Name
    The parameter's name.
    .PARAMETER AuthorizationEndpoint
    The vendor's authorization URL.
    .PARAMETER TokenEndpoint
    The vendor's token URL.
    .PARAMETER ClientId
    The OAuth client id.
    .PARAMETER ClientSecret
    The OAuth client secret (never sent to the browser).
    .PARAMETER Scope
    Space-separated scopes.
    .PARAMETER ResponseType
    The response type (code).
    .PARAMETER Resource
    The resource (Azure AD v1 style endpoints).
    .PARAMETER ExtraQueryParameters
    More query parameters for the authorization request.
    .PARAMETER UsePKCE
    Send a PKCE (S256) challenge.
    .PARAMETER Mandatory
    Consent is required before the form can be saved.
    .PARAMETER HelpMessage
    Help shown with the button.
    .EXAMPLE
    New-OAuthConsentParameter -Name RefreshToken -AuthorizationEndpoint 'https://vendor.example/oauth/authorize' -TokenEndpoint 'https://vendor.example/oauth/token' -ClientId $ClientId -ClientSecret $ClientSecret -Scope 'offline_access' -Mandatory
    #>
    [CmdletBinding()]
    [OutputType([System.Management.Automation.RuntimeDefinedParameter])]
    param(
        [Parameter(Mandatory, Position = 0)][string]$Name,
        [Parameter(Mandatory)][string]$AuthorizationEndpoint,
        [Parameter(Mandatory)][string]$TokenEndpoint,
        [string]$ClientId,
        [object]$ClientSecret,
        [string]$Scope,
        [string]$ResponseType = 'code',
        [string]$Resource,
        [System.Collections.IDictionary]$ExtraQueryParameters,
        [switch]$UsePKCE,
        [switch]$Mandatory,
        [string]$HelpMessage
    )
    $attributes = [System.Collections.ObjectModel.Collection[Attribute]]::new()
    $p = [System.Management.Automation.ParameterAttribute]::new()
    $p.Mandatory = [bool]$Mandatory
    if ($HelpMessage) { $p.HelpMessage = $HelpMessage }
    $attributes.Add($p)
    $o = [OAuthConsentAttribute]::new()
    $o.AuthorizationEndpoint = $AuthorizationEndpoint
    $o.TokenEndpoint = $TokenEndpoint
    $o.ClientId = $ClientId
    $o.ClientSecret = if ($null -ne $ClientSecret) { "$ClientSecret" } else { $null }
    $o.Scope = $Scope
    $o.ResponseType = $ResponseType
    $o.Resource = $Resource
    $o.ExtraQueryParameters = $ExtraQueryParameters
    $o.UsePkce = [bool]$UsePKCE
    $attributes.Add($o)
    [System.Management.Automation.RuntimeDefinedParameter]::new($Name, [PSBridge.OAuthConsentResult], $attributes)
}

function Update-OAuthConsentToken {
    <#
    .SYNOPSIS
    Refreshes the tokens of an OAuth consent field of the running integration.
    .DESCRIPTION
    psbridge sends the refresh token stored for the field (New-OAuthConsentParameter -Name) to
    the field's token endpoint with the client id and secret, stores the answer sealed in place
    of the old tokens (keeping the refresh token when the vendor sends no new one) and returns
    it as a [PSBridge.OAuthConsentResult]. The new tokens are masked in the call's output and
    records. It works only in a method of the integration that owns the field.
    .PARAMETER Name
    The OAuth consent field's name.
    .EXAMPLE
    $IntegrationContext.AccessToken = (Update-OAuthConsentToken -Name Consent).AccessToken
    #>
    [CmdletBinding()]
    [OutputType([PSBridge.OAuthConsentResult])]
    param([Parameter(Mandatory, Position = 0)][string]$Name)
    $tokens = Get-HostValue -Method 'host.token' -Parameters @{ kind = "oauthRefresh:$Name" } -Invocation $MyInvocation
    [PSBridge.OAuthConsentResult]$tokens
}

function New-ParameterCollection {
    <#
    .SYNOPSIS
    Collects dynamic parameters into the dictionary a dynamicparam block returns.
    .DESCRIPTION
    Takes the output of New-Parameter, New-HelpText, New-OAuthConsentParameter (or other
    RuntimeDefinedParameters and dictionaries) and returns one RuntimeDefinedParameterDictionary.
    Anything else in the input is ignored; a later parameter of the same name replaces an earlier.
    .PARAMETER Parameters
    The parameters.
    .EXAMPLE
    dynamicparam { New-ParameterCollection @( New-Parameter -Name FirstName -Mandatory; New-HelpText Hint 'Text' ) }
    #>
    [CmdletBinding()]
    [OutputType([System.Management.Automation.RuntimeDefinedParameterDictionary])]
    param([Parameter(Position = 0, ValueFromPipeline)][AllowNull()][AllowEmptyCollection()][object[]]$Parameters)
    begin { $dict = [System.Management.Automation.RuntimeDefinedParameterDictionary]::new() }
    process {
        foreach ($item in @($Parameters)) {
            $v = if ($item -is [psobject]) { $item.psobject.BaseObject } else { $item }
            if ($v -is [System.Management.Automation.RuntimeDefinedParameter]) { $dict[$v.Name] = $v }
            elseif ($v -is [System.Management.Automation.RuntimeDefinedParameterDictionary]) { foreach ($k in $v.Keys) { $dict[$k] = $v[$k] } }
        }
    }
    end { , $dict }
}

# --- error and registry helpers ---------------------------------------------------------------

function Clear-Error {
    <#
    .SYNOPSIS
    Empties $Error, so errors that were handled do not show as the script's errors.
    .EXAMPLE
    try { Get-Item 'C:\missing' -ErrorAction Stop } catch { }; Clear-Error
    #>
    [CmdletBinding()]
    param()
    $global:Error.Clear()
}

function Get-WindowsRegistryValue {
    <#
    .SYNOPSIS
    Reads a registry value on the computer in context (or locally without one).
    .DESCRIPTION
    Returns an object with Path, Name, Value, Type and Exists, which RegistryShould-Be style
    helpers take from the pipeline; a missing key or value gives Exists $false and Value $null,
    not an error. In a metascript bound to a computer it runs there through Invoke-ImmyCommand.
    For an HKCU: path it reads every loaded user profile (HKEY_USERS\SID) and returns one object
    per profile (-IncludeDefaultProfile adds the Default profile when it is loaded). On a
    computer without a registry (Linux and macOS test machines), a drive mapped onto a directory
    (psbridge agent --drive HKLM=DIR) stands in for it: keys are directories and a value is a
    file holding its data.
    .PARAMETER Path
    The key, e.g. HKLM:\SOFTWARE\Vendor\Agent.
    .PARAMETER Name
    The value's name.
    .PARAMETER IncludeDefaultProfile
    For HKCU: paths, also read the Default user profile.
    .PARAMETER AllowedType
    The registry types the value may have (String, DWord, QWord, ExpandString, MultiString, Binary).
    .EXAMPLE
    (Get-WindowsRegistryValue -Path 'HKLM:\SOFTWARE\WOW6432Node\NinjaRMM LLC\NinjaRMMAgent\Agent' -Name NodeId).Value
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, Position = 0)][string]$Path,
        [Parameter(Mandatory, Position = 1)][string]$Name,
        [switch]$IncludeDefaultProfile,
        [string[]]$AllowedType
    )
    $reader = {
        param($Path, $Name, $IncludeDefaultProfile, $AllowedType)
        function Read-One($KeyPath, $ProfileName) {
            $o = [ordered]@{ Path = $KeyPath; Name = $Name; Value = $null; Type = $null; Exists = $false; Profile = $ProfileName; AllowedType = $AllowedType }
            $key = Get-Item -LiteralPath $KeyPath -ErrorAction SilentlyContinue
            if ($null -ne $key -and $key.PSObject.Methods['GetValueKind']) {
                if (@($key.GetValueNames()) -contains $Name) {
                    $o.Value = $key.GetValue($Name)
                    $o.Type = [string]$key.GetValueKind($Name)
                    $o.Exists = $true
                }
            } elseif ($null -ne $key -and $key.PSIsContainer) {
                $file = Join-Path $key.FullName $Name
                if (Test-Path -LiteralPath $file -PathType Leaf) {
                    $o.Value = (Get-Content -LiteralPath $file -Raw).TrimEnd("`r", "`n")
                    $o.Type = 'String'
                    $o.Exists = $true
                }
            }
            $r = [pscustomobject]$o
            $r.pstypenames.Insert(0, 'PSBridge.RegistryValue')
            $r
        }
        if ($Path -match '^(HKCU|HKEY_CURRENT_USER):?\\(.*)$' -and (Test-Path -LiteralPath 'Registry::HKEY_USERS')) {
            $sub = $Matches[2]
            $sids = @(Get-ChildItem -LiteralPath 'Registry::HKEY_USERS' -ErrorAction SilentlyContinue | ForEach-Object PSChildName | Where-Object { $_ -match '^S-1-5-21-[\d-]+$' })
            foreach ($sid in $sids) { Read-One "Registry::HKEY_USERS\$sid\$sub" $sid }
            if ($IncludeDefaultProfile -and (Test-Path -LiteralPath 'Registry::HKEY_USERS\.DEFAULT')) { Read-One "Registry::HKEY_USERS\.DEFAULT\$sub" 'Default' }
        } else {
            Read-One $Path $null
        }
    }
    $computer = $PSCmdlet.SessionState.PSVariable.GetValue('Computer')
    $arguments = @($Path, $Name, [bool]$IncludeDefaultProfile, $AllowedType)
    if ($null -ne $computer) {
        Invoke-ImmyCommand -ScriptBlock $reader -ArgumentList $arguments
    } else {
        & $reader @arguments
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
    Get-HostValue -Method 'host.token' -Parameters @{ kind = 'agentInstall' } -Invocation $MyInvocation
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
    Get-HostValue -Method 'host.token' -Parameters @{ kind = 'tenantUninstall' } -Invocation $MyInvocation
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
    Get-HostValue -Method 'host.token' -Parameters @{ kind = 'agentUninstall' } -Invocation $MyInvocation
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
    $headers = Get-HostValue -Method 'host.token' -Parameters @{ kind = 'authHeader' } -Invocation $MyInvocation
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
    System (default) or User. With User and nobody logged on to the computer the block does
    not run: the command returns nothing and writes a warning, as ImmyBot skips it.
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
    .PARAMETER AgentConnectionWaitTimeout
    How long to wait for the agent to connect (accepted for compatibility).
    .PARAMETER CircuitBreakerPolicy
    Unrestricted or BypassEphemeral (accepted for compatibility).
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
        # $using: values are read here, in the caller's scope, and travel inside the script:
        # the host receives one self-contained script plus the -ArgumentList values.
        $values = @{}
        foreach ($u in $ScriptBlock.Ast.FindAll({ param($a) $a -is [System.Management.Automation.Language.UsingExpressionAst] }, $true)) {
            $name = [System.Management.Automation.Language.UsingExpressionAst]::ExtractUsingVariable($u).VariablePath.UserPath
            if (-not $values.ContainsKey($name)) { $values[$name] = $PSCmdlet.SessionState.PSVariable.GetValue($name) }
        }
        $prologueLines = 0
        $request = @{
            script  = ConvertTo-SelfContainedScript -ScriptBlock $ScriptBlock -Values $values -PrologueLines ([ref]$prologueLines)
            context = $Context
            timeout = $Timeout
        }
        # Where the block sits in the calling script: line L of the shipped text is line
        # L + lineOffset there, so the host can name the caller's line in errors and records.
        $request.lineOffset = $ScriptBlock.Ast.Extent.StartLineNumber - 1 - $prologueLines
        $file = $ScriptBlock.File
        if (-not $file) { $file = $MyInvocation.ScriptName }
        if ($file) { $request.file = [string]$file }
        # No -ArgumentList means no arguments (@($null) would be one $null argument).
        if ($PSBoundParameters.ContainsKey('ArgumentList')) {
            $request.args = @($ArgumentList)
            # CliXml (PowerShell remoting's format) keeps the arguments' types.
            $request.argsXml = [System.Management.Automation.PSSerializer]::Serialize(@($ArgumentList), 16)
        }
        if ($ConnectTimeout -gt 0) { $request.connectTimeout = $ConnectTimeout }
        if ($ScriptName) { $request.scriptName = $ScriptName }
        if ($targets.Count -gt 0) {
            $request.computers = @($targets | ForEach-Object { if ($_ -is [System.Collections.IDictionary]) { $_['Id'] } elseif ($_.psobject.Properties['Id']) { $_.Id } else { [string]$_ } })
        }
        if (-not [PSBridge.HostBridge]::IsAttached) {
            Stop-Command -Invocation $MyInvocation -Exception 'Invoke-ImmyCommand: no computer is attached: this script is not running inside a psbridge worker.' -ErrorId 'PSBridgeNoHost'
        }
        $answer = Get-HostValue -Method 'host.computerCommand' -Parameters $request -Invocation $MyInvocation
        if ($answer -is [System.Collections.IDictionary] -and $answer.Contains('output')) {
            foreach ($o in @($answer['output'])) {
                if ($o -is [System.Collections.IDictionary] -and $o.Contains('$psbridgeType') -and $o['$psbridgeType'] -eq 'clixml') {
                    # The block's output as the agent serialised it: objects keep their types.
                    foreach ($item in [System.Management.Automation.PSSerializer]::Deserialize([string]$o['value'])) {
                        $PSCmdlet.WriteObject($item, $false)
                    }
                } elseif ($o -is [System.Collections.IDictionary] -and $o.Contains('$psbridgeType') -and $o['$psbridgeType'] -eq 'warning') {
                    # The host skipped the block (-Context User with nobody logged on): no
                    # output, a warning in this script's warning stream.
                    $PSCmdlet.WriteWarning([string]$o['value'])
                } else {
                    $o
                }
            }
        }
    }
}

function Get-ImmyComputer {
    <#
    .SYNOPSIS
    Returns the computer the metascript runs for.
    .DESCRIPTION
    psbridge binds a metascript to one computer ($Computer): its id, name, tenant, operating
    system, serial number, primary person and whether its agent is online. The filter
    parameters of ImmyBot's cmdlet are accepted; the computer in context is returned.
    .PARAMETER TargetGroupFilter
    Accepted for compatibility.
    .PARAMETER InventoryKeys
    Accepted for compatibility.
    .PARAMETER DeviceId
    Accepted for compatibility.
    .PARAMETER UseParentTenant
    Accepted for compatibility.
    .PARAMETER IncludeOffline
    Accepted for compatibility.
    .PARAMETER OnboardingOnly
    Accepted for compatibility.
    .PARAMETER IncludeTags
    Accepted for compatibility.
    .EXAMPLE
    Get-ImmyComputer | Invoke-ImmyCommand { hostname }
    #>
    [CmdletBinding()]
    param(
        [object]$TargetGroupFilter,
        [string[]]$InventoryKeys,
        [switch]$DeviceId,
        [switch]$UseParentTenant,
        [switch]$IncludeOffline,
        [switch]$OnboardingOnly,
        [switch]$IncludeTags
    )
    $c = $PSCmdlet.SessionState.PSVariable.GetValue('Computer')
    if ($null -eq $c) {
        Stop-Command -Invocation $MyInvocation -Exception 'Get-ImmyComputer: no computer is attached to this script; psbridge binds metascripts to a computer (POST /api/v1/computers/{id}/scripts)' -ErrorId 'PSBridgeNoComputer'
    }
    if ($c -is [System.Collections.IDictionary]) {
        $o = [ordered]@{}
        foreach ($k in @('Id', 'Name', 'TenantId', 'TenantName', 'DeviceId', 'IsOnline', 'OperatingSystemName', 'SerialNumber', 'Manufacturer', 'Model', 'Domain', 'PrimaryPersonName', 'PrimaryPersonEmail', 'LoggedOnUser')) {
            if ($c.Contains($k)) { $o[$k] = $c[$k] }
        }
        $out = [pscustomobject]$o
        $out.pstypenames.Insert(0, 'PSComputer')
        return $out
    }
    $c
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
    .PARAMETER ModuleInfo
    Module objects to import (passed to PowerShell's Import-Module).
    .PARAMETER Assembly
    Assemblies to import as binary modules (passed to PowerShell's Import-Module).
    .PARAMETER Global
    Import into the global session state.
    .PARAMETER Prefix
    A prefix for the nouns of imported commands.
    .PARAMETER Function
    Only import these functions.
    .PARAMETER Cmdlet
    Only import these cmdlets.
    .PARAMETER Variable
    Only import these variables.
    .PARAMETER Alias
    Only import these aliases.
    .PARAMETER Force
    Re-import a module that is already imported.
    .PARAMETER PassThru
    Return the imported module.
    .PARAMETER AsCustomObject
    Return the module as a custom object.
    .PARAMETER MinimumVersion
    The lowest acceptable module version.
    .PARAMETER MaximumVersion
    The highest acceptable module version.
    .PARAMETER RequiredVersion
    The exact module version.
    .PARAMETER ArgumentList
    Arguments for the module's param() block.
    .PARAMETER DisableNameChecking
    Do not warn about unapproved verbs.
    .PARAMETER NoClobber
    Do not replace commands that already exist.
    .PARAMETER Scope
    Local or Global.
    .PARAMETER SkipEditionCheck
    Skip the CompatiblePSEditions check.
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
        # Called from inside this module, PowerShell's Import-Module would import into the
        # module's own session state, where the calling script never sees the commands.
        # Import into the global state instead, as a script calling Import-Module itself does.
        if (-not $forward.ContainsKey('Global') -and -not $forward.ContainsKey('Scope')) { $forward['Global'] = $true }
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
            # The inner Import-Module stops at its first error, which is then written (or
            # thrown, under -ErrorAction Stop) as this command's: at the script's line, not
            # this module's. Errors raised by the imported module's own code keep their place.
            try {
                if ($path) {
                    $hosted = @{} + $forward
                    $hosted.Remove('Scope')
                    $hosted.Remove('Global')
                    $hosted['ErrorAction'] = 'Stop'
                    Microsoft.PowerShell.Core\Import-Module -Name $path -Global -DisableNameChecking @hosted
                } else {
                    $inner = @{} + $forward
                    $inner['ErrorAction'] = 'Stop'
                    Microsoft.PowerShell.Core\Import-Module -Name $item @inner
                }
            } catch {
                $record = $_
                if ($record.InvocationInfo -and $record.InvocationInfo.ScriptName -eq $PSCommandPath) {
                    $record = [System.Management.Automation.ErrorRecord]::new($record.Exception, $record.FullyQualifiedErrorId, $record.CategoryInfo.Category, $record.TargetObject)
                    $set = [System.Management.Automation.ErrorRecord].GetMethod('SetInvocationInfo', [System.Reflection.BindingFlags]'NonPublic, Instance')
                    if ($null -ne $set) { try { $null = $set.Invoke($record, @($MyInvocation)) } catch { } }
                }
                $PSCmdlet.WriteError($record)
            }
        }
    }
}

Export-ModuleMember -Function @(
    'New-DynamicIntegration', 'Add-DynamicIntegrationCapability',
    'New-HealthyResult', 'New-UnhealthyResult', 'New-DegradedResult',
    'New-DynamicVersion', 'New-SupportFormBranding',
    'Write-Variable', 'Should-HaveOne', 'Add-UriQueryParameter',
    'Get-IntegrationAgentInstallToken', 'Get-IntegrationTenantUninstallToken',
    'Get-IntegrationAgentUninstallToken', 'Get-IntegrationAuthenticatedDownload',
    'Invoke-ImmyCommand', 'Get-ImmyComputer', 'Import-Module',
    'Get-DynamicVersionsFromGitHubUrl', 'Get-DynamicVersionFromInstallerURL',
    'New-Parameter', 'New-DateTimeParameter', 'New-HelpText', 'New-OAuthConsentParameter',
    'New-ParameterCollection', 'Update-OAuthConsentToken', 'Clear-Error', 'Get-WindowsRegistryValue'
) -Cmdlet @('New-IntegrationClient', 'New-IntegrationAgent') -Alias @(
    'ShouldHave-One',
    'Get-IntegrationAgentInstallTokenCmdlet', 'Get-IntegrationTenantUninstallTokenCmdlet',
    'Get-IntegrationAgentUninstallTokenCmdlet', 'Get-IntegrationAuthenticatedDownloadCmdlet'
)
