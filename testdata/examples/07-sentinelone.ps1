# psbridge test fixture: ImmyBot docs "Build Your Own Integrations", section "Example: SentinelOne".
# Original: immense/immybot-documentation, build-your-own-integration.md, 2024 revision
# (the one the seed page /work/shared/seed/000_5117d95e5681b6ee.txt was rendered from;
# reference §0 lists it as 4cc87348, 2024-09-11; search-index file id 6407778613).
#
# Needs testdata/modules/SentinelOne.psm1 saved as Module script 'SentinelOne'.
# Kept exactly as in the original (not fixed here):
#  - '# [DisplayName("API Key")]' is commented out in the original.
#  - GetAgents calls 'Get-S1Agent -SiteId $ClientId', but the docs' module defines
#    Get-S1Agent with only -Name (reference §7.1). The restored module adds -SiteId.
#  - GetAgents' braces are mis-indented in the original (foreach '{' on its own line,
#    then '    }', '}', '}'); they balance, so the block parses.
#  - The stray line 'will response to  "plugins/api/v1/{providerLinkId}"' in
#    HandleHttpRequest IS in the original. PowerShell runs it as a command named
#    'will' -> CommandNotFound (non-terminating unless $ErrorActionPreference=Stop).
#  - GetTenantInstallToken calls Get-S1Site without 'Import-Module SentinelOne' (unlike
#    GetClients/GetAgents); it only works if the module is already loaded in that runspace.
#  - GetInventoryScript: 'Resolve-Path  "..."' has two spaces; '$Integration |  Add-...'
#    (two spaces) before GetTenantInstallToken. Both verbatim.
# Ends with 'return $Integration'.
#
# Restored lines: every line below marked L<n> was missing from the seed page text (the
# text extraction dropped param blocks, attributes, closing braces and some one-word
# statements). Each is copied verbatim from the original markdown; no other line differs
# from the seed apart from indentation/blank lines.
#   L87       param(
#   L88           [Parameter(Mandatory)]
#   L89           [Uri]$S1Uri,
#   L90           [Parameter(Mandatory)]
#   L93           $S1ApiKey
#   L94       )
#   L106      [OpResult]::Ok()
#   L108      [CmdletBinding()]
#   L109      [OutputType([HealthCheckResult])]
#   L110      param(
#   L112      )
#   L115  }
#   L119      [CmdletBinding()]
#   L120      [OutputType([Immybot.Backend.Domain.Providers.IProviderClientDetails[]])]
#   L121      param()
#   L126      }
#   L127  }
#   L132      [CmdletBinding()]
#   L133      [OutputType([Immybot.Backend.Domain.Providers.IProviderAgentDetails[]])]
#   L134      param(
#   L135          [Parameter()]
#   L137      )
#   L143      {
#   L146      }
#   L147  }
#   L148  }
#   L154      [CmdletBinding()]
#   L155      param()
#   L161          if($path)
#   L162          {
#   L164          }
#   L165      }
#   L166  }
#   L171      [CmdletBinding()]
#   L172      [OutputType([System.String])]
#   L173      param(
#   L174          [Parameter(Mandatory=$true)]
#   L175          [string]$clientId
#   L176      )
#   L178  }
#   L183      [CmdletBinding()]
#   L184      [OutputType([System.String])]
#   L185      param(
#   L186          [Parameter(Mandatory=$true)]
#   L187          [System.String]$clientId
#   L188      )
#   L190  }
#   L193      [CmdletBinding()]
#   L194      [OutputType([Microsoft.AspNetCore.Mvc.IActionResult])]
#   L195      param(
#   L196          [Parameter(Mandatory=$True)]
#   L197          [Microsoft.AspNetCore.Http.HttpContext]$httpContext,
#   L198          [Parameter(Mandatory=$false)]
#   L199          $body,
#   L200          [Parameter(Mandatory=$True)]
#   L201          $route
#   L202      )
#   L209  }
# ---- end of header; the doc's code starts on the next line ----
$Integration = New-DynamicIntegration -Init {
    # These parameters generate the form on the New/Edit Integration page
    param(
        [Parameter(Mandatory)]
        [Uri]$S1Uri,
        [Parameter(Mandatory)]
        # [DisplayName("API Key")]
        [Password(StripValue = $true)]
        $S1ApiKey
    )
    $providerTypeFormData | Write-Variable
    # Note: The SentinelOne module is a Module script in Global
    Import-Module SentinelOne
    Get-Command -Module SentinelOne | Out-String | Write-Host
    $S1AuthHeader = Connect-S1API -S1Uri $S1Uri -S1APIToken $S1ApiKey

    # The SentinelOne module in Global will automatically use the following $IntegrationContext values if present
    $IntegrationContext.S1Uri = $S1Uri
    $IntegrationContext.S1ApiKey = $S1ApiKey
    $IntegrationContext.AuthHeader = $S1AuthHeader

    [OpResult]::Ok()
} -HealthCheck {
    [CmdletBinding()]
    [OutputType([HealthCheckResult])]
    param(

    )
    # todo: implement health check
    return New-HealthyResult
}

# ISupportsListingClients will create a Clients tab on the Integration for mapping ImmyBot tenants to the Clients returned by this script
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients {
    [CmdletBinding()]
    [OutputType([Immybot.Backend.Domain.Providers.IProviderClientDetails[]])]
    param()
    # return a list of clients for this integration using the New-IntegrationClient cmdlet
    Import-Module SentinelOne
    Get-S1Site -Verbose | ForEach-Object {
        New-IntegrationClient -ClientId $_.Id -ClientName $_.Name
    }
}

# supports listing agents

$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingAgents -GetAgents {
    [CmdletBinding()]
    [OutputType([Immybot.Backend.Domain.Providers.IProviderAgentDetails[]])]
    param(
        [Parameter()]
        [string[]]$ClientIds = $null
    )
    # ClientIds will contain the clientids you mapped to ImmyBot tenants under the Integration->Clients tab
    # The agents you return here will go into the Computers->Pending Identification area until they are linked to Computers via the AgentId provided by ISupportsInventoryIdentification

    Import-Module SentinelOne
    foreach($ClientId in $ClientIds)
    {
        Get-S1Agent -SiteId $ClientId -Verbose | ForEach-Object {
            New-IntegrationAgent -AgentId $_.uuid -Name $_.computerName -SerialNumber $_.serialNumber -OSName $_.osName -Manufacturer $_.modelName -ClientId $_.siteId -IsOnline $true -AgentVersion $_.agentVersion -SupportsRunningScripts $false
    }
}
}


# supports inventory identification

$Integration | Add-DynamicIntegrationCapability -Interface ISupportsInventoryIdentification -GetInventoryScript {
    [CmdletBinding()]
    param()
    # This ScriptBlock will be run in the Metascript context for every machine during initial identification and daily inventory
    Invoke-ImmyCommand {
        # Return the SentinelOne AgentId
        # We will match it to New-IntegrationAgent -AgentId you returned in ISupportsListingAgents
        $path = Resolve-Path  "C:\Program Files\SentinelOne\Sentinel Agent*\SentinelCtl.exe"
        if($path)
        {
            . $path.Path agent_id
        }
    }
}

# supports retrieving a tenant install token

$Integration |  Add-DynamicIntegrationCapability -Interface ISupportsTenantInstallToken -GetTenantInstallToken {
    [CmdletBinding()]
    [OutputType([System.String])]
    param(
        [Parameter(Mandatory=$true)]
        [string]$clientId
    )
    Get-S1Site -Id $clientId | %{ $_.registrationToken}
}

# supports retrieving a tenant uninstall token

$Integration | Add-DynamicIntegrationCapability -Interface ISupportsTenantUninstallToken -GetTenantUninstallToken {
    [CmdletBinding()]
    [OutputType([System.String])]
    param(
        [Parameter(Mandatory=$true)]
        [System.String]$clientId
    )
    return "implement me"
}

$Integration | Add-DynamicIntegrationCapability -Interface ISupportsHttpRequest -HandleHttpRequest {
    [CmdletBinding()]
    [OutputType([Microsoft.AspNetCore.Mvc.IActionResult])]
    param(
        [Parameter(Mandatory=$True)]
        [Microsoft.AspNetCore.Http.HttpContext]$httpContext,
        [Parameter(Mandatory=$false)]
        $body,
        [Parameter(Mandatory=$True)]
        $route
    )
will response to  "plugins/api/v1/{providerLinkId}"
    # handle a http request sent to this integration
    # return an [ObjectResult] and set the status code
    $res = [ObjectResult]::new('ok')
    $res.StatusCode = 200;
    return $res;
}
return $Integration
