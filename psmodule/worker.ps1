<#
.SYNOPSIS
Entry point of a psbridge worker process.
.DESCRIPTION
Started by the psbridge supervisor as `pwsh -NoLogo -NoProfile -NonInteractive -File worker.ps1`
with the JSON-RPC pipes on file descriptors 3 and 4 (on Windows: the inherited handles named in
$env:PSBRIDGE_PROTOCOL_HANDLES; docs/protocol.md). Loads the compiled
worker host and serves requests until the supervisor closes the pipe or asks it to shut down.
#>
Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'
# .NET calls rather than Add-Type and Join-Path: those cmdlets would make this runspace import
# the Microsoft.PowerShell.Utility and .Management modules first, and every cold start wait
# for that (docs/performance.md). The worker never uses this runspace for anything else.
$null = [System.Reflection.Assembly]::LoadFrom([System.IO.Path]::Combine($PSScriptRoot, 'PSBridge.dll'))
exit [PSBridge.Host.Worker]::Run([System.IO.Path]::Combine($PSScriptRoot, 'PSBridge.psd1'))
