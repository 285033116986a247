@{
    RootModule           = 'PSBridge.Testing.psm1'
    ModuleVersion        = '0.1.0'
    GUID                 = '3b0c9a57-8e2d-4f61-a4c3-7d5e91b0f2a8'
    Author               = 'psbridge'
    CompanyName          = 'psbridge'
    Copyright            = '(c) psbridge contributors'
    Description          = 'Pester helpers for integration scripts: load a script and run Init with form values (New-PSBridgeTestIntegration), then call its methods (Invoke-PSBridgeTestMethod) with $IntegrationContext as psbridge passes it.'
    PowerShellVersion    = '7.2'
    CompatiblePSEditions = @('Core')
    FunctionsToExport    = @('New-PSBridgeTestIntegration', 'Invoke-PSBridgeTestMethod')
    CmdletsToExport      = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{ PSData = @{ Tags = @('ImmyBot', 'Integration', 'Pester', 'Testing') } }
}
