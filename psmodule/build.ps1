<#
.SYNOPSIS
Compiles the PSBridge worker host and compatibility types into one assembly.
.DESCRIPTION
Run once per module version by psbridge (psmodule.Install); workers then load the compiled
assembly instead of compiling C# at every start.
.PARAMETER SourceDir
Directory holding the *.cs files.
.PARAMETER OutFile
Path of the assembly to write.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string]$SourceDir,
    [Parameter(Mandatory)][string]$OutFile
)
Set-StrictMode -Version 3.0
$PSStyle.OutputRendering = 'PlainText'
$ErrorActionPreference = 'Stop'
$sources = @(Get-ChildItem -LiteralPath $SourceDir -Filter '*.cs' | Sort-Object Name | ForEach-Object FullName)
if ($sources.Count -eq 0) { throw "no C# sources in $SourceDir" }
try {
Add-Type -Path $sources -OutputAssembly $OutFile -OutputType Library -ReferencedAssemblies @(
    'System.Management.Automation', 'System.Collections', 'System.Text.Json', 'System.Runtime',
    'System.Linq', 'System.Collections.Concurrent', 'System.Threading', 'System.Memory',
    'System.Text.Encodings.Web', 'System.Private.Uri', 'System.Web.HttpUtility', 'System.Collections.Specialized',
    'System.ComponentModel.Primitives', 'System.Threading.Thread', 'System.Console', 'System.Runtime.InteropServices',
    'System.Net.Primitives', 'System.Diagnostics.Process', 'System.Linq.Expressions', 'System.ObjectModel', 'System.Runtime.Numerics', 'System.Security.Cryptography', 'System.Text.Encoding.Extensions',
    'System.Text.RegularExpressions', 'System.Net.Http')
} catch {
    Remove-Item -LiteralPath $OutFile -Force -ErrorAction Ignore
    throw
}
