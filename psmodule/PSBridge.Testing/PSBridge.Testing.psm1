# PSBridge.Testing: helpers for unit-testing integration scripts with Pester. A script is loaded
# in the caller's session state (the test file's), so Pester's Mock of a command the script
# calls applies, and its blocks run the way a psbridge worker runs them: Init with the form
# values bound to its param() block, every method with the instance's $IntegrationContext.
Set-StrictMode -Version 3.0

if (-not (Get-Module -Name PSBridge)) {
    Import-Module -Name (Join-Path (Split-Path -Parent $PSScriptRoot) 'PSBridge.psd1') -Global -DisableNameChecking -ErrorAction Stop
}

# Runs a block in the session state it belongs to: arguments not declared by its param()
# become variables it can read (as in a psbridge worker), and $IntegrationContext is set only
# while it runs.
$script:Runner = {
    param($__psbBlock, $__psbBind, $__psbVars, $__psbContext)
    Set-StrictMode -Off
    foreach ($__psbName in @($__psbVars.Keys)) { Set-Variable -Name $__psbName -Value $__psbVars[$__psbName] }
    Remove-Variable -Name __psbName, __psbVars -ErrorAction Ignore
    $__psbSaved = Get-Variable -Name IntegrationContext -Scope Global -ErrorAction Ignore
    $global:IntegrationContext = $__psbContext
    try { & $__psbBlock @__psbBind }
    finally {
        if ($null -ne $__psbSaved) { $global:IntegrationContext = $__psbSaved.Value }
        else { Remove-Variable -Name IntegrationContext -Scope Global -Force -ErrorAction Ignore }
    }
}

# The folder of this process that makes module scripts importable by name
# (Import-PsbModuleScript). It is removed when the module is removed and when pwsh exits, so
# test runs leave nothing behind in the temp folder.
$script:ModuleScriptRoot = Join-Path ([System.IO.Path]::GetTempPath()) "psbridge-testing-$PID"
[PSBridge.ExitCleanup]::RemoveFolderOnExit($script:ModuleScriptRoot)
$ExecutionContext.SessionState.Module.OnRemove = {
    Remove-Item -LiteralPath $script:ModuleScriptRoot -Recurse -Force -ErrorAction Ignore
}

function Invoke-InSessionState {
    # Invokes $ScriptBlock with $Arguments in a new scope of $SessionState (the test file's), not
    # in this module's: the block's text is recompiled so no session state is bound to it.
    param([System.Management.Automation.SessionState]$SessionState, [scriptblock]$ScriptBlock, [object[]]$Arguments)
    $unbound = [scriptblock]::Create('& {' + $ScriptBlock.ToString() + '} @args')
    $SessionState.InvokeCommand.InvokeScript($SessionState, $unbound, $Arguments)
}

function Import-PsbModuleScript {
    # Makes the module script at $Path importable by its file name (Import-Module SentinelOne,
    # as psbridge's module scripts are): a folder of this process on $env:PSModulePath holds
    # <Name>/<Name>.psm1, a link to the file (a copy where links are not allowed), and the
    # module is imported globally from there.
    param([string]$Path)
    $name = [System.IO.Path]::GetFileNameWithoutExtension($Path)
    $root = $script:ModuleScriptRoot
    $dir = Join-Path $root $name
    $null = New-Item -ItemType Directory -Path $dir -Force
    $link = Join-Path $dir "$name.psm1"
    Remove-Item -LiteralPath $link -Force -ErrorAction Ignore
    try { $null = New-Item -ItemType SymbolicLink -Path $link -Target $Path -ErrorAction Stop }
    catch { Copy-Item -LiteralPath $Path -Destination $link -Force }
    $sep = [System.IO.Path]::PathSeparator
    if (($env:PSModulePath -split [regex]::Escape($sep)) -notcontains $root) { $env:PSModulePath = $root + $sep + $env:PSModulePath }
    Microsoft.PowerShell.Core\Import-Module -Name $link -Global -Force -DisableNameChecking -ErrorAction Stop
}

function New-PSBridgeTestIntegration {
    <#
    .SYNOPSIS
    Loads an integration script for a test and runs its Init with the given form values.
    .DESCRIPTION
    The script runs in the caller's session state (the Pester test file's), so Mock applies to
    the commands its blocks call, and helper modules it imports are global. Init gets -FormData
    bound to its param() block by name (and as $providerTypeFormData) and fills
    $IntegrationContext, which later Invoke-PSBridgeTestMethod calls see. Point the script at a
    fake vendor (a URL form value) or Mock the vendor calls.
    Returns an object with the integration (.Integration), its context (.Context), the form
    values (.FormData), the script path (.Path) and Init's result (.InitResult). An Init that
    throws, or a script that makes no integration, fails with the script's name.
    .PARAMETER Path
    The integration script (.ps1).
    .PARAMETER FormData
    The configuration form values, by Init parameter name.
    .PARAMETER Context
    Initial $IntegrationContext values (as saved by an earlier Init).
    .PARAMETER ModulePath
    Module script files (.psm1 or .ps1) the integration imports by name, named after the file
    (SentinelOne.psm1 answers Import-Module SentinelOne, as psbridge's --module FILE does).
    They are imported globally first; Mock -ModuleName SentinelOne reaches their commands.
    .PARAMETER SkipInit
    Load the script without running Init.
    .EXAMPLE
    $s1 = New-PSBridgeTestIntegration -Path ./SentinelOne.ps1 -ModulePath ./SentinelOne.psm1 -FormData @{ S1Uri = 'http://127.0.0.1:8081/'; S1ApiKey = 'psbridge-fake-s1-token' }
    .OUTPUTS
    PSBridge.TestIntegration
    #>
    [CmdletBinding()]
    [OutputType('PSBridge.TestIntegration')]
    param(
        [Parameter(Mandatory, Position = 0)][string]$Path,
        [hashtable]$FormData = @{},
        [hashtable]$Context = @{},
        [string[]]$ModulePath = @(),
        [switch]$SkipInit
    )
    $resolved = Resolve-Path -LiteralPath $Path -ErrorAction Stop
    $full = $resolved.ProviderPath
    $name = Split-Path -Leaf $full
    foreach ($m in $ModulePath) {
        $mp = (Resolve-Path -LiteralPath $m -ErrorAction Stop).ProviderPath
        Import-PsbModuleScript -Path $mp
    }
    $state = $PSCmdlet.SessionState
    # Dot-sourced into the caller's scope: functions the script defines stay there, so Mock
    # finds them and the script's blocks call them (or their mocks).
    $load = [scriptblock]::Create('. $args[0]')
    $internal = [System.Management.Automation.SessionState].GetProperty('Internal', [System.Reflection.BindingFlags]'NonPublic, Instance').GetValue($state)
    [scriptblock].GetProperty('SessionStateInternal', [System.Reflection.BindingFlags]'NonPublic, Instance').SetValue($load, $internal)
    $output = @(. $load $full)
    $found = @($output | Where-Object { $null -ne $_ -and $_.psobject.BaseObject -is [PSBridge.DynamicIntegration] })
    if ($found.Count -eq 0) {
        $assigned = $state.PSVariable.GetValue('Integration')
        if ($null -ne $assigned -and $assigned.psobject.BaseObject -is [PSBridge.DynamicIntegration]) { $found = @($assigned) }
    }
    if ($found.Count -eq 0) {
        throw "$name did not produce an integration: create it with New-DynamicIntegration and either return it, emit it, or assign it to `$Integration."
    }
    $ctx = [hashtable]::new([System.StringComparer]::OrdinalIgnoreCase)
    foreach ($k in $Context.Keys) { $ctx[$k] = $Context[$k] }
    $form = [hashtable]::new([System.StringComparer]::OrdinalIgnoreCase)
    foreach ($k in $FormData.Keys) { $form[$k] = $FormData[$k] }
    $test = [pscustomobject]@{
        PSTypeName   = 'PSBridge.TestIntegration'
        Path         = $full
        Name         = $name
        Integration  = [PSBridge.DynamicIntegration]$found[-1].psobject.BaseObject
        FormData     = $form
        Context      = $ctx
        InitResult   = $null
        SessionState = $state
    }
    if (-not $SkipInit) {
        try {
            $test.InitResult = Invoke-PSBridgeTestMethod -Integration $test -Method Init
        } catch {
            throw [System.InvalidOperationException]::new("Init of $name failed: $($_.Exception.Message)", $_.Exception)
        }
    }
    $test
}

function Invoke-PSBridgeTestMethod {
    <#
    .SYNOPSIS
    Calls a method (Init, HealthCheck, GetClients, …) of an integration loaded with New-PSBridgeTestIntegration.
    .DESCRIPTION
    The method runs with the integration's $IntegrationContext (changes it makes are kept for
    the next call) in the test file's session state, so Mock applies. -Arguments are bound by
    name to the block's param() block; names it does not declare become variables the block
    can read, as in psbridge. Init binds the form values. With -Capability, the method must
    belong to that interface. A method the integration does not have fails with the list of
    those it has. Returns the method's output.
    .PARAMETER Integration
    The object from New-PSBridgeTestIntegration.
    .PARAMETER Capability
    The interface the method belongs to (e.g. ISupportsListingClients); checked when given.
    .PARAMETER Method
    The method name: Init, HealthCheck or a capability member such as GetClients.
    .PARAMETER Arguments
    The method's arguments by parameter name, e.g. @{ clientIds = @('42') }.
    .EXAMPLE
    $clients = Invoke-PSBridgeTestMethod -Integration $s1 -Capability ISupportsListingClients -Method GetClients
    .EXAMPLE
    Invoke-PSBridgeTestMethod $s1 GetAgents -Arguments @{ ClientIds = @($clients[0].ClientId) }
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, Position = 0)][PSTypeName('PSBridge.TestIntegration')][psobject]$Integration,
        [Parameter(Mandatory, Position = 1)][string]$Method,
        [string]$Capability,
        [hashtable]$Arguments = @{}
    )
    $dyn = $Integration.Integration
    $iface = $null
    $block = $dyn.FindMethod($Method, [ref]$iface)
    if ($null -eq $block) {
        $names = @('Init', 'HealthCheck') + @($dyn.Capabilities | ForEach-Object { $_.Members.Keys })
        throw "$($Integration.Name) does not implement '$Method'. Its methods: $($names -join ', ')"
    }
    if ($Capability) {
        $canonical = [PSBridge.CapabilityCatalog]::Canonical($Capability)
        if ($null -eq $canonical) { throw [PSBridge.CapabilityCatalog]::UnknownInterfaceMessage($Capability) }
        if ($canonical -ne $iface) { throw "'$Method' of $($Integration.Name) belongs to $iface, not $canonical." }
    }
    $declared = [hashtable]::new([System.StringComparer]::OrdinalIgnoreCase)
    if ($null -ne $block.Ast.ParamBlock) {
        foreach ($p in $block.Ast.ParamBlock.Parameters) { $declared[$p.Name.VariablePath.UserPath] = $p.Name.VariablePath.UserPath }
    }
    $bind = [hashtable]::new([System.StringComparer]::OrdinalIgnoreCase)
    $vars = [hashtable]::new([System.StringComparer]::OrdinalIgnoreCase)
    if ($iface -eq 'IProvider' -and $Method -eq 'Init') {
        foreach ($k in $Integration.FormData.Keys) {
            if ($declared.ContainsKey($k)) { $bind[$declared[$k]] = $Integration.FormData[$k] }
        }
        $vars['providerTypeFormData'] = $Integration.FormData
    }
    foreach ($k in $Arguments.Keys) {
        $vars[$k] = $Arguments[$k]
        if ($declared.ContainsKey($k)) { $bind[$declared[$k]] = $Arguments[$k] }
    }
    Invoke-InSessionState -SessionState $Integration.SessionState -ScriptBlock $script:Runner -Arguments @($block, $bind, $vars, $Integration.Context)
}

Export-ModuleMember -Function 'New-PSBridgeTestIntegration', 'Invoke-PSBridgeTestMethod'
