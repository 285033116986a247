# psbridge console start-up. This text is fixed (embedded in psbridge); it never contains user
# data. pwsh runs it with -NoExit -File, which runs it in the global scope, so all the work
# happens inside a script block and only the functions defined on purpose stay at the prompt.
#
# With -DataFile, it hosts one integration instance: the file (0600, deleted as soon as it is
# read) names the PSBridge module, the integration script (a real file, so Set-PSBreakpoint on
# its lines works; with psbridge console --local, the user's own file, which reload re-reads)
# and holds the form values and $IntegrationContext. The context lives in a
# dynamic module the prompt has no name for; $global:IntegrationContext exists only while a
# method runs. Every string a method leaves in the context is sent to psbridge over the control
# socket (and acknowledged) before the method's output is printed, so the terminal filter
# masks it.
param([string]$DataFile)

& {
    param([string]$DataFile)
    Set-StrictMode -Off
    if (Get-Command -Name Set-PSReadLineOption -ErrorAction Ignore) {
        Set-PSReadLineOption -HistorySaveStyle SaveNothing
    }
    if (-not $DataFile) { return }

    $rawData = Get-Content -LiteralPath $DataFile -Raw
    $data = $rawData | ConvertFrom-Json -AsHashtable
    Remove-Item -LiteralPath $DataFile -Force -ErrorAction Ignore
    $env:PSModulePath = $data.modulesDir + [System.IO.Path]::PathSeparator + $env:PSModulePath
    # Module files used in place (console --local --module NAME=FILE): a manifest named NAME
    # whose RootModule is the user's file, so Import-Module NAME loads that very file and
    # breakpoints on it hit.
    if ($data.moduleFiles) {
        foreach ($name in @($data.moduleFiles.Keys)) {
            $manifest = Join-Path (Join-Path $data.modulesDir $name) "$name.psd1"
            New-ModuleManifest -Path $manifest -RootModule $data.moduleFiles[$name] -ModuleVersion '0.0.0' `
                -FunctionsToExport '*' -CmdletsToExport '*' -VariablesToExport '*' -AliasesToExport '*'
        }
    }
    try {
        Import-Module -Name $data.manifest -Global -DisableNameChecking -ErrorAction Stop
    } catch {
        Write-Host -ForegroundColor Red "psbridge console: cannot import the PSBridge module: $_"
        return
    }
    # The engine stores $IntegrationContext as typed JSON ([Uri], [DateTime], … are tagged);
    # restore those types the way a worker does, so module code sees a [Uri], not a hashtable.
    $typed = [PSBridge.Host.HostJson]::FromTypedNode([System.Text.Json.Nodes.JsonNode]::Parse($rawData)['context'])
    if ($typed -is [System.Collections.IDictionary]) { $data.context = $typed }
    Remove-Variable -Name rawData

    # Runs a method block in the global session state: arguments become variables of the
    # block's parent scope (blocks without param() read $clientId), as in a psbridge worker.
    $wrapper = {
        param($__psbBlock, $__psbBind, $__psbVars)
        foreach ($__psbName in @($__psbVars.Keys)) { Set-Variable -Name $__psbName -Value $__psbVars[$__psbName] }
        Remove-Variable -Name __psbName, __psbVars -ErrorAction Ignore
        & $__psbBlock @__psbBind
    }
    $load = {
        param($__psbPath)
        $__psbOut = @(. $__psbPath)
        $__psbFound = @($__psbOut | Where-Object { $_ -is [PSBridge.DynamicIntegration] })
        if ($__psbFound.Count -gt 0) { $__psbFound[-1] }
        elseif ((Test-Path -LiteralPath variable:Integration) -and ($Integration -is [PSBridge.DynamicIntegration])) { $Integration }
    }
    try {
        $integration = & $load $data.script
    } catch {
        Write-Host -ForegroundColor Red "psbridge console: loading $($data.scriptName) failed: $_"
        return
    }
    if ($null -eq $integration) {
        Write-Host -ForegroundColor Red "psbridge console: $($data.scriptName) did not produce an integration: create it with New-DynamicIntegration and either return it, emit it, or assign it to `$Integration"
        return
    }

    $null = New-Module -Name PSBridgeConsole -ArgumentList $integration, $data, $wrapper, $load -ScriptBlock {
        param($Integration, $Data, $Wrapper, $Load)
        Set-StrictMode -Off
        $ScriptPath = $Data.script
        $ScriptName = $Data.scriptName
        $Context = [hashtable]::new([System.StringComparer]::OrdinalIgnoreCase)
        if ($Data.context -is [System.Collections.IDictionary]) {
            foreach ($k in $Data.context.Keys) { $Context[$k] = $Data.context[$k] }
        }
        $FormData = [hashtable]::new([System.StringComparer]::OrdinalIgnoreCase)
        if ($Data.formData -is [System.Collections.IDictionary]) {
            foreach ($k in $Data.formData.Keys) { $FormData[$k] = $Data.formData[$k] }
        }
        $Control = $null
        try {
            $socket = [System.Net.Sockets.Socket]::new([System.Net.Sockets.AddressFamily]::Unix, [System.Net.Sockets.SocketType]::Stream, [System.Net.Sockets.ProtocolType]::Unspecified)
            $socket.Connect([System.Net.Sockets.UnixDomainSocketEndPoint]::new($Data.control))
            $stream = [System.Net.Sockets.NetworkStream]::new($socket, $true)
            $Control = @{ Stream = $stream; Reader = [System.IO.StreamReader]::new($stream) }
        } catch {
            Write-Host -ForegroundColor Yellow "psbridge console: no control connection to psbridge ($_); values a method adds to `$IntegrationContext are not masked"
        }
        $Data = $null

        function Get-PsbStringLeaf {
            param($Value, [System.Collections.Generic.List[string]]$Into, [int]$Depth = 0)
            if ($null -eq $Value -or $Depth -gt 32) { return }
            if ($Value -is [psobject]) { $Value = $Value.psobject.BaseObject }
            if ($Value -is [string]) { $Into.Add($Value); return }
            if ($Value -is [uri] -or $Value -is [securestring]) { return }
            if ($Value -is [System.Collections.IDictionary]) {
                foreach ($v in @($Value.Values)) { Get-PsbStringLeaf $v $Into ($Depth + 1) }
                return
            }
            if ($Value -is [System.Collections.IEnumerable]) {
                foreach ($v in $Value) { Get-PsbStringLeaf $v $Into ($Depth + 1) }
                return
            }
            if ($Value -is [System.Management.Automation.PSCustomObject]) {
                foreach ($p in $Value.psobject.Properties) { Get-PsbStringLeaf $p.Value $Into ($Depth + 1) }
            }
        }

        function Send-PsbSecret {
            param([System.Collections.Generic.List[string]]$Values)
            if ($null -eq $Control -or $null -eq $Values -or $Values.Count -eq 0) { return }
            $line = ConvertTo-Json -Compress -InputObject @{ secrets = [string[]]@($Values | Select-Object -Unique) }
            $bytes = [System.Text.Encoding]::UTF8.GetBytes($line + "`n")
            $Control.Stream.Write($bytes, 0, $bytes.Length)
            $Control.Stream.Flush()
            $null = $Control.Reader.ReadLine()
        }

        function Get-PsbMethodName {
            $names = [System.Collections.Generic.List[string]]::new()
            if ($null -ne $Integration.Init) { $names.Add('Init') }
            if ($null -ne $Integration.HealthCheck) { $names.Add('HealthCheck') }
            foreach ($c in $Integration.Capabilities) { foreach ($k in $c.Members.Keys) { $names.Add($k) } }
            $names
        }

        function ConvertFrom-PsbRemaining {
            # -Name value pairs left over by the binder; "-Name:" and a bare -Switch too.
            param([object[]]$Tokens)
            $result = [hashtable]::new([System.StringComparer]::OrdinalIgnoreCase)
            $i = 0
            while ($null -ne $Tokens -and $i -lt $Tokens.Count) {
                $t = $Tokens[$i]
                if (-not ($t -is [string] -and $t -match '^-([A-Za-z_]\w*):?$')) {
                    throw "Unexpected argument '$t': pass method arguments as -Name value or -Arguments @{ Name = value }."
                }
                $name = $Matches[1]
                $hasValue = ($i + 1) -lt $Tokens.Count -and -not ($Tokens[$i + 1] -is [string] -and $Tokens[$i + 1] -match '^-[A-Za-z_]\w*:?$')
                if ($t.EndsWith(':') -or $hasValue) { $result[$name] = $Tokens[$i + 1]; $i += 2 }
                else { $result[$name] = $true; $i += 1 }
            }
            $result
        }

        function global:Get-IntegrationMethod {
            <#
            .SYNOPSIS
            Lists the methods of the integration loaded in this psbridge console, with their parameters.
            #>
            foreach ($n in Get-PsbMethodName) {
                $iface = $null
                $block = $Integration.FindMethod($n, [ref]$iface)
                $params = @()
                if ($null -ne $block.Ast.ParamBlock) { $params = @($block.Ast.ParamBlock.Parameters | ForEach-Object { $_.Name.VariablePath.UserPath }) }
                [pscustomobject]@{ Name = $n; Interface = $iface; Parameters = $params -join ', ' }
            }
        }

        function global:Invoke-IntegrationMethod {
            <#
            .SYNOPSIS
            Runs a method (Init, HealthCheck, GetClients, …) of the integration loaded in this psbridge console.
            .DESCRIPTION
            The method runs with the instance's $IntegrationContext, which is visible only while
            it runs. Init binds the saved form values to its param() block. Breakpoints set with
            Set-PSBreakpoint on the integration script stop inside the method.
            .EXAMPLE
            Invoke-IntegrationMethod GetClients
            .EXAMPLE
            Invoke-IntegrationMethod GetAgents -Arguments @{ clientIds = @('42') }
            .EXAMPLE
            GetAgents -clientIds 42
            #>
            [CmdletBinding()]
            param(
                [Parameter(Mandatory, Position = 0)]
                [ArgumentCompleter({ param($c, $p, $w) (Get-IntegrationMethod).Name | Where-Object { $_ -like "$w*" } })]
                [string]$Name,
                [hashtable]$Arguments,
                [Parameter(ValueFromRemainingArguments)][object[]]$MethodArguments
            )
            $iface = $null
            $block = $Integration.FindMethod($Name, [ref]$iface)
            if ($null -eq $block) {
                throw "The integration does not implement '$Name'. Its methods: $((Get-PsbMethodName) -join ', ')"
            }
            $canonical = $Name
            foreach ($n in Get-PsbMethodName) { if ($n -eq $Name) { $canonical = $n } }
            $given = [hashtable]::new([System.StringComparer]::OrdinalIgnoreCase)
            if ($Arguments) { foreach ($k in $Arguments.Keys) { $given[$k] = $Arguments[$k] } }
            $rest = ConvertFrom-PsbRemaining $MethodArguments
            foreach ($k in $rest.Keys) { $given[$k] = $rest[$k] }

            $declared = [hashtable]::new([System.StringComparer]::OrdinalIgnoreCase)
            if ($null -ne $block.Ast.ParamBlock) {
                foreach ($p in $block.Ast.ParamBlock.Parameters) { $declared[$p.Name.VariablePath.UserPath] = $p }
            }
            $bind = [hashtable]::new([System.StringComparer]::OrdinalIgnoreCase)
            $vars = [hashtable]::new([System.StringComparer]::OrdinalIgnoreCase)
            $secrets = [System.Collections.Generic.List[string]]::new()
            if ($canonical -eq 'Init') {
                foreach ($k in $FormData.Keys) {
                    $p = $declared[$k]
                    if ($null -eq $p) { continue }
                    if (@($p.Attributes | Where-Object { $_.TypeName.Name -match '(^|\.)Password(Attribute)?$' }).Count -gt 0) {
                        Get-PsbStringLeaf $FormData[$k] $secrets
                    }
                    $bind[$p.Name.VariablePath.UserPath] = $FormData[$k]
                }
                $vars['providerTypeFormData'] = $FormData
            }
            foreach ($k in $given.Keys) {
                $vars[$k] = $given[$k]
                $p = $declared[$k]
                if ($null -ne $p) { $bind[$p.Name.VariablePath.UserPath] = $given[$k] }
            }
            Get-PsbStringLeaf $Context $secrets
            Send-PsbSecret $secrets

            $global:IntegrationContext = $Context
            try {
                $out = & $Wrapper $block $bind $vars
            } finally {
                $after = Get-Variable -Name IntegrationContext -Scope Global -ValueOnly -ErrorAction Ignore
                if ($after -is [psobject]) { $after = $after.psobject.BaseObject }
                if ($after -is [System.Collections.IDictionary]) { $script:Context = $after }
                Remove-Variable -Name IntegrationContext -Scope Global -Force -ErrorAction Ignore
                $leaves = [System.Collections.Generic.List[string]]::new()
                Get-PsbStringLeaf $script:Context $leaves
                Send-PsbSecret $leaves
            }
            $out
        }

        # One function per method: GetClients, GetAgents -clientIds 42, …
        $Reserved = @('Invoke-IntegrationMethod', 'Get-IntegrationMethod', 'Update-PSBridgeIntegration', 'reload')
        function Register-PsbMethodFunction {
            foreach ($n in Get-PsbMethodName) {
                if ($Reserved -contains $n) { continue }
                $fn = & { param($MethodName) { Invoke-IntegrationMethod -Name $MethodName @args }.GetNewClosure() } $n
                Set-Item -LiteralPath "function:global:$n" -Value $fn
            }
        }
        Register-PsbMethodFunction

        function global:Update-PSBridgeIntegration {
            <#
            .SYNOPSIS
            Re-reads the integration script of this psbridge console from its file and runs Init again.
            .DESCRIPTION
            Edit the script, then type reload (or Update-PSBridgeIntegration): the file is run
            again, the method commands follow its capabilities, and Init runs with the same form
            values and the current $IntegrationContext. Breakpoints set on the file stay set.
            When the script fails to load, the previous version stays loaded.
            .PARAMETER SkipInit
            Do not run Init after loading.
            .EXAMPLE
            reload
            .EXAMPLE
            Update-PSBridgeIntegration -SkipInit
            #>
            [CmdletBinding()]
            param([switch]$SkipInit)
            try {
                $fresh = & $Load $ScriptPath
            } catch {
                throw "Reloading $ScriptName failed; the previous version stays loaded: $_"
            }
            if ($null -eq $fresh) {
                throw "$ScriptName did not produce an integration; the previous version stays loaded. Create it with New-DynamicIntegration and either return it, emit it, or assign it to `$Integration."
            }
            foreach ($n in Get-PsbMethodName) {
                if ($Reserved -notcontains $n) { Remove-Item -LiteralPath "function:global:$n" -ErrorAction Ignore }
            }
            $script:Integration = $fresh
            Register-PsbMethodFunction
            Write-Host "psbridge console: $ScriptName reloaded. Methods: $((Get-PsbMethodName) -join ', ')"
            if (-not $SkipInit) {
                $null = Invoke-IntegrationMethod -Name Init
                Write-Host "Init done."
            }
        }
        Set-Alias -Name reload -Value Update-PSBridgeIntegration -Scope Global
        Export-ModuleMember -Function @()
    }

    $methods = (Get-IntegrationMethod).Name -join ', '
    Write-Host "psbridge console: $($data.scriptName) loaded (instance $($data.instanceId))."
    Write-Host "Methods: $methods"
    Write-Host "Run one with: Invoke-IntegrationMethod <Name> [-Arguments @{...}]   or just: <Name> [-Param value]"
    Write-Host "Debug with:   Set-PSBreakpoint -Script '$($data.script)' -Line <n>"
    if ($data.inPlace) { Write-Host "After an edit: reload   (re-reads the script and runs Init again)" }
    if ($data.runInit) {
        Write-Host "Running Init with the saved configuration..."
        try {
            $null = Invoke-IntegrationMethod -Name Init
            Write-Host "Init done."
        } catch {
            Write-Host -ForegroundColor Red "Init failed: $_"
        }
    }
} $DataFile
Remove-Variable -Name DataFile -ErrorAction Ignore
