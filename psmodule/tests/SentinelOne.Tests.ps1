# The SentinelOne example of docs/testing.md: the vendor's example integration
# (testdata/examples/07-sentinelone.ps1) against the fake SentinelOne API that TestPester starts
# ($env:PSBRIDGE_FAKE_S1_URL; `psbridge fake-s1` serves the same API on 127.0.0.1:8081).
BeforeAll {
    Import-Module -Name (Join-Path $env:PSBRIDGE_TEST_MODULE_DIR 'PSBridge.Testing/PSBridge.Testing.psd1') -Force
    $script:Script = Join-Path $env:PSBRIDGE_REPO 'testdata/examples/07-sentinelone.ps1'
    $script:Module = Join-Path $env:PSBRIDGE_REPO 'testdata/modules/SentinelOne.psm1'
    $script:Form = @{ S1Uri = $env:PSBRIDGE_FAKE_S1_URL; S1ApiKey = $env:PSBRIDGE_FAKE_S1_TOKEN }
    $script:S1 = New-PSBridgeTestIntegration -Path $script:Script -ModulePath $script:Module -FormData $script:Form
}

Describe 'SentinelOne integration' {
    It 'keeps the API URL and the auth header in $IntegrationContext' {
        $script:S1.Context.S1Uri | Should -Be $env:PSBRIDGE_FAKE_S1_URL
        $script:S1.Context.AuthHeader.Authorization | Should -Be "APIToken $env:PSBRIDGE_FAKE_S1_TOKEN"
    }

    It 'lists the sites as clients' {
        $clients = @(Invoke-PSBridgeTestMethod -Integration $script:S1 -Capability ISupportsListingClients -Method GetClients)
        $clients.ClientName | Sort-Object | Should -Be @('Contoso', 'Default site', 'Fabrikam')
        $clients[0].ClientId | Should -Match '^\d+$'
    }

    It 'lists the agents of a client' {
        $site = @(Invoke-PSBridgeTestMethod $script:S1 GetClients)[1]
        $agents = @(Invoke-PSBridgeTestMethod $script:S1 GetAgents -Arguments @{ ClientIds = @($site.ClientId) })
        $agents.Count | Should -BeGreaterThan 0
        $agents | ForEach-Object { $_.ClientId | Should -Be $site.ClientId }
    }

    It 'returns the site token as the tenant install token' {
        $site = @(Invoke-PSBridgeTestMethod $script:S1 GetClients)[0]
        Invoke-PSBridgeTestMethod $script:S1 GetTenantInstallToken -Arguments @{ clientId = $site.ClientId } | Should -Not -BeNullOrEmpty
    }

    It 'uses a mocked module command' {
        Mock Get-S1Site { [pscustomobject]@{ id = '1'; name = 'Mocked'; registrationToken = 'mocked-token' } }
        Invoke-PSBridgeTestMethod $script:S1 GetTenantInstallToken -Arguments @{ clientId = '1' } | Should -Be 'mocked-token'
        Should -Invoke Get-S1Site -Times 1 -Exactly -ParameterFilter { $Id -eq '1' }
    }

    It 'fails Init with a wrong API key' {
        $form = @{ S1Uri = $env:PSBRIDGE_FAKE_S1_URL; S1ApiKey = 'wrong-key' }
        { New-PSBridgeTestIntegration -Path $script:Script -ModulePath $script:Module -FormData $form } |
            Should -Throw -ExpectedMessage '*Init of 07-sentinelone.ps1 failed*'
    }
}
