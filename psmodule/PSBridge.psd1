@{
    RootModule           = 'PSBridge.psm1'
    ModuleVersion        = '0.1.0'
    GUID                 = '6f1d7c0e-5a4b-4c1e-9d8e-2b7f3a9c4e51'
    Author               = 'psbridge'
    CompanyName          = 'psbridge'
    Copyright            = '(c) psbridge contributors'
    Description          = 'The cmdlets, types and attributes ImmyBot-style dynamic integration scripts use (New-DynamicIntegration, Add-DynamicIntegrationCapability, New-IntegrationAgent, [OpResult], [ObjectResult], [Password(StripValue)], ...) so they run unchanged in psbridge.'
    PowerShellVersion    = '7.2'
    CompatiblePSEditions = @('Core')
    FunctionsToExport    = @(
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
    )
    CmdletsToExport      = @('New-IntegrationClient', 'New-IntegrationAgent')
    VariablesToExport    = @()
    AliasesToExport      = @(
        'ShouldHave-One',
        'Get-IntegrationAgentInstallTokenCmdlet', 'Get-IntegrationTenantUninstallTokenCmdlet',
        'Get-IntegrationAgentUninstallTokenCmdlet', 'Get-IntegrationAuthenticatedDownloadCmdlet'
    )
    PrivateData          = @{ PSData = @{ Tags = @('ImmyBot', 'Integration', 'MSP') } }
}
