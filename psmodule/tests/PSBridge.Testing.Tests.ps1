# Tests of the PSBridge.Testing helpers, run by TestPester (psmodule/pester_test.go) with the
# installed module ($env:PSBRIDGE_TEST_MODULE_DIR).
BeforeAll {
    Import-Module -Name (Join-Path $env:PSBRIDGE_TEST_MODULE_DIR 'PSBridge.Testing/PSBridge.Testing.psd1') -Force

    # An integration whose vendor calls go through Get-VendorThing, which the tests Mock.
    $script:IntegrationPath = Join-Path $TestDrive 'Vendor.ps1'
    Set-Content -LiteralPath $script:IntegrationPath -Value @'
function Get-VendorThing { param([string]$Kind, [string]$Url) throw "the real vendor API must not be called in a test ($Kind at $Url)" }
$Integration = New-DynamicIntegration -Init {
    param([Parameter(Mandatory)][Uri]$ApiUrl, [Password(StripValue = $true)][string]$ApiKey, [int]$Limit = 2)
    if ($ApiKey -eq 'bad') { throw 'the vendor refused the key' }
    $IntegrationContext.ApiUrl = $ApiUrl
    $IntegrationContext.Token = "token-$ApiKey"
    $IntegrationContext.Limit = $Limit
    $IntegrationContext.FormKeys = @($providerTypeFormData.Keys | Sort-Object) -join ','
    [OpResult]::Ok()
} -HealthCheck {
    if ($IntegrationContext.Token) { New-HealthyResult } else { New-UnhealthyResult -Message 'no token' }
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients {
    Get-VendorThing -Kind clients -Url $IntegrationContext.ApiUrl | Select-Object -First $IntegrationContext.Limit | ForEach-Object {
        New-IntegrationClient -ClientId $_.id -ClientName $_.name
    }
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingAgents -GetAgents {
    param([string[]]$ClientIds)
    $IntegrationContext.Calls = 1 + [int]$IntegrationContext.Calls
    foreach ($c in $ClientIds) { New-IntegrationAgent -AgentId "a-$c" -Name "pc-$c" -ClientId $c }
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsTenantInstallToken -GetTenantInstallToken {
    "install-$clientId-$($IntegrationContext.Token)"
}
'@
}

Describe 'New-PSBridgeTestIntegration' {
    It 'runs Init with the form values bound to its parameters' {
        $i = New-PSBridgeTestIntegration -Path $script:IntegrationPath -FormData @{ ApiUrl = 'http://vendor.test/'; ApiKey = 'k1' }
        $i.InitResult.IsSuccess | Should -BeTrue
        $i.Context.Token | Should -Be 'token-k1'
        $i.Context.ApiUrl | Should -BeOfType [uri]
        $i.Context.Limit | Should -Be 2
        $i.Context.FormKeys | Should -Be 'ApiKey,ApiUrl'
        $i.Name | Should -Be 'Vendor.ps1'
    }

    It 'keeps $IntegrationContext out of the caller once Init is done' {
        $null = New-PSBridgeTestIntegration -Path $script:IntegrationPath -FormData @{ ApiUrl = 'http://vendor.test/'; ApiKey = 'k1' }
        Get-Variable -Name IntegrationContext -Scope Global -ErrorAction Ignore | Should -BeNullOrEmpty
    }

    It 'starts from a given context and can skip Init' {
        $i = New-PSBridgeTestIntegration -Path $script:IntegrationPath -Context @{ Token = 'saved' } -SkipInit
        $i.InitResult | Should -BeNullOrEmpty
        (Invoke-PSBridgeTestMethod $i GetTenantInstallToken -Arguments @{ clientId = '7' }) | Should -Be 'install-7-saved'
    }

    It 'names the script when Init throws' {
        { New-PSBridgeTestIntegration -Path $script:IntegrationPath -FormData @{ ApiUrl = 'http://vendor.test/'; ApiKey = 'bad' } } |
            Should -Throw -ExpectedMessage '*Init of Vendor.ps1 failed*the vendor refused the key*'
    }

    It 'says when a script makes no integration' {
        $empty = Join-Path $TestDrive 'Empty.ps1'
        Set-Content -LiteralPath $empty -Value '$x = 1'
        { New-PSBridgeTestIntegration -Path $empty } | Should -Throw -ExpectedMessage '*Empty.ps1 did not produce an integration*'
    }

    It 'fails for a missing script' {
        { New-PSBridgeTestIntegration -Path (Join-Path $TestDrive 'nope.ps1') } | Should -Throw
    }
}

Describe 'Invoke-PSBridgeTestMethod' {
    BeforeEach {
        $script:i = New-PSBridgeTestIntegration -Path $script:IntegrationPath -FormData @{ ApiUrl = 'http://vendor.test/'; ApiKey = 'k2'; Limit = 1 }
    }

    It 'calls a method with a mocked vendor call' {
        Mock Get-VendorThing { @{ id = 1; name = 'Contoso' }, @{ id = 2; name = 'Fabrikam' } }
        $clients = @(Invoke-PSBridgeTestMethod -Integration $script:i -Capability ISupportsListingClients -Method GetClients)
        $clients.Count | Should -Be 1
        $clients[0].ClientId | Should -Be '1'
        $clients[0].ClientName | Should -Be 'Contoso'
        Should -Invoke Get-VendorThing -Times 1 -Exactly -ParameterFilter { $Kind -eq 'clients' -and $Url -eq 'http://vendor.test/' }
    }

    It 'binds arguments by name and keeps context changes between calls' {
        $agents = @(Invoke-PSBridgeTestMethod $script:i GetAgents -Arguments @{ clientIds = @('5', '6') })
        $agents.AgentId | Should -Be @('a-5', 'a-6')
        $null = Invoke-PSBridgeTestMethod $script:i GetAgents -Arguments @{ clientIds = @() }
        $script:i.Context.Calls | Should -Be 2
    }

    It 'passes undeclared arguments as variables' {
        Invoke-PSBridgeTestMethod $script:i GetTenantInstallToken -Arguments @{ clientId = '9' } | Should -Be 'install-9-token-k2'
    }

    It 'runs HealthCheck' {
        (Invoke-PSBridgeTestMethod $script:i HealthCheck).Status | Should -Be 'Healthy'
    }

    It 'refuses a method of another capability' {
        { Invoke-PSBridgeTestMethod $script:i GetClients -Capability ISupportsListingAgents } |
            Should -Throw -ExpectedMessage "*'GetClients' of Vendor.ps1 belongs to ISupportsListingClients, not ISupportsListingAgents*"
    }

    It 'suggests the interface for a mistyped capability' {
        { Invoke-PSBridgeTestMethod $script:i GetClients -Capability ISupportsListingClient } |
            Should -Throw -ExpectedMessage '*Did you mean ISupportsListingClients?*'
    }

    It 'lists the methods when the integration lacks one' {
        { Invoke-PSBridgeTestMethod $script:i DeleteAgent } |
            Should -Throw -ExpectedMessage "*does not implement 'DeleteAgent'. Its methods: Init, HealthCheck, GetClients, GetAgents, GetTenantInstallToken*"
    }
}
