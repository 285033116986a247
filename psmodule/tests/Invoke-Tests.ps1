<#
.SYNOPSIS
Runs the Pester tests of psmodule/tests with a given Pester and the installed PSBridge modules.
.DESCRIPTION
Started by TestPester (psmodule/pester_test.go). The tests find the installed module through
$env:PSBRIDGE_TEST_MODULE_DIR. Exits 0 when every test passed, 1 otherwise.
.PARAMETER PesterManifest
Path of Pester.psd1.
.PARAMETER TestPath
The folder (or file) with the *.Tests.ps1 files.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string]$PesterManifest,
    [Parameter(Mandatory)][string]$TestPath
)
Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
Import-Module -Name $PesterManifest -Force
$config = New-PesterConfiguration
$config.Run.Path = $TestPath
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Detailed'
$config.Output.RenderMode = 'Plaintext'
$result = Invoke-Pester -Configuration $config
Write-Host "pester: $($result.PassedCount) passed, $($result.FailedCount) failed, $($result.SkippedCount) skipped, result $($result.Result)"
if ($result.Result -ne 'Passed' -or $result.FailedCount -gt 0 -or $result.PassedCount -eq 0) { exit 1 }
exit 0
