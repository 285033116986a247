# psbridge test fixture: the SentinelOne module from ImmyBot docs "Build Your Own Integrations",
# section "SentinelOne Module" (to be saved as a Module script named 'SentinelOne', which
# testdata/examples/06-module.ps1 and 07-sentinelone.ps1 load with 'Import-Module SentinelOne').
# Original: immense/immybot-documentation, build-your-own-integration.md, 2024 revision
# (the one the seed page /work/shared/seed/000_5117d95e5681b6ee.txt was rendered from;
# reference §0 lists it as 4cc87348, 2024-09-11; search-index file id 6407778613).
# Cross-checked against joshphillipssr/immybot SentinelOne/SentinelOne.psm1 (a copy of
# ImmyBot's global SentinelOne module, commit 91f4b8b9): its Connect-S1API,
# Invoke-S1RestMethod and Get-S1Site param blocks and its Export-ModuleMember list are
# identical to the docs' module. Nothing else was taken from that copy; in particular NOT
# its "$QueryParameters['state'] = 'active'", its '-eq' instead of '-like', its extra
# Write-Error lines, or the removal of Should-HaveOne in Get-S1Site.
#
# This is the docs' module, not a different one. Behaviour kept on purpose:
# $IntegrationContext.AuthHeader ?? $script:S1AuthHeader (pwsh 7 '??'), Add-UriQueryParameter
# plus .Replace("+", "%20"), cursor pagination through $Results.pagination.nextcursor,
# 'Select-Object -Expand data', the "Unauthorized" catch branch, Should-HaveOne -TakeFirst,
# and Connect-S1API emitting $script:S1AuthHeader (the example stores it in
# $IntegrationContext.AuthHeader).
# Known bugs of the docs' module kept as they are (only reached with -Name):
#  - Get-S1Agent -Name: filters '$Agent' (never assigned) instead of '$Agents', falls back to
#    Get-S1Site, and logs site fields; the name branch therefore returns nothing / throws in
#    Should-HaveOne (0 items). Get-S1Site -Name works: API filter, then '$_.name.Trim() -like $Name'.
#
# CHANGE (psbridge, not in the docs): Get-S1Agent gets a -SiteId parameter.
# Why: the docs' example (07-sentinelone.ps1) calls 'Get-S1Agent -SiteId $ClientId', but the
# docs' module defines Get-S1Agent with only -Name, so GetAgents fails with "A parameter cannot
# be found that matches parameter name 'SiteId'" (reference §7.1). ImmyBot's real global
# module (joshphillipssr copy) declares '[string[]]$SiteId' and stores it as
# "$QueryParameters['siteid'] = $SiteId"; however its no-name branch sends only
# $LimitParameter, so there the filter never reaches the API and every site gets all agents.
# Here -SiteId is sent as S1's documented agents filter 'siteIds' (comma-separated), and the
# no-name branch sends $CombinedParameters (identical to $LimitParameter when neither -Name
# nor -SiteId is given, so Get-S1Agent without parameters behaves exactly as in the docs).
# Lines marked 'psbridge' below are the only ones that are not the docs' text.
#
# Restored lines: every line marked L<n> 'restored' was missing from the seed page text (the
# extraction dropped param blocks, attributes, closing braces and one-word statements); each
# is copied verbatim from the original markdown. 'fixed' lines were mangled in the seed
# (the page rendered "$_.name.Trim()"/"$QueryParameters.name" as "$") and are restored from
# the original. 'psbridge' lines are the -SiteId change described above (this includes the
# restored line '[string]$Name' which gained a trailing comma).
#   L109  restored     [CmdletBinding()]
#   L110  restored     param(
#   L111  restored         [Parameter(Mandatory)]
#   L112  restored         [Uri]$S1Uri,
#   L113  restored         [Parameter(Mandatory)]
#   L114  restored         [string]$S1APIToken
#   L115  restored     )
#   L122  restored     }
#   L132  restored             $script:S1AuthHeader
#   L136  restored         }
#   L140  restored         throw
#   L141  restored     }
#   L142  restored }
#   L145  restored     [CmdletBinding()]
#   L146  restored     param(
#   L147  restored         [Parameter(Mandatory)]
#   L148  restored         [string]$Endpoint,
#   L149  restored         [string]$Method,
#   L150  restored         [string]$Body,
#   L152  restored     )
#   L160  restored     }
#   L165  restored     }
#   L177  restored             }
#   L185  restored             }
#   L193  restored         }
#   L194  restored     }
#   L195  restored }
#   L198  restored     [CmdletBinding()]
#   L199  restored     param(
#   L200  restored         [string]$Name,
#   L201  restored         [string]$Id
#   L202  restored     )
#   L209  restored         return
#   L210  restored     }
#   L217  restored     }
#   L230  restored         }
#   L232  fixed            $Site = $Sites | Where-Object { $_.name.Trim() -like $Name } # Potential edge case where the `name` property includes whitespace
#   L234  restored         $Site
#   L235  restored     }
#   L236  restored }
#   L239  restored     [CmdletBinding()]
#   L240  restored     param(
#   L241  psbridge         [string]$Name,
#   L242  psbridge         # psbridge: -SiteId added (not in the docs' module); see the header comment.
#   L243  psbridge         [string[]]$SiteId
#   L244  restored     )
#   L253  restored     }
#   L254  psbridge     # psbridge: send -SiteId as S1's comma-separated siteIds filter.
#   L255  psbridge     if ($SiteId) {
#   L256  psbridge         $QueryParameters['siteIds'] = $SiteId -join ','
#   L257  psbridge     }
#   L262  psbridge         # psbridge: was "-QueryParameters $LimitParameter", which would drop the siteIds filter.
#   L263  psbridge         Invoke-S1RestMethod -Endpoint $Endpoint -QueryParameters $CombinedParameters | Sort-Object computerName
#   L265  fixed            $QueryParameters.name = $Name
#   L272  restored         }
#   L274  fixed            $Agent = $Agent | Where-Object { $_.name.Trim() -like $Name } # Potential edge case where the `name` property includes whitespace
#   L276  restored         $Agent
#   L277  restored     }
#   L278  restored }
#   L281  restored     'Connect-S1API',
#   L282  restored     'Invoke-S1RestMethod',
#   L283  restored     'Get-S1Site',
#   L284  restored     'Get-S1Agent'
#   L285  restored )
# ---- end of header; the module code starts on the next line ----
function Connect-S1API {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [Uri]$S1Uri,
        [Parameter(Mandatory)]
        [string]$S1APIToken
    )

    $S1AuthHeader = @{ 'Authorization' = "APIToken $S1ApiToken" }

    # if we have an integration context, then store it
    if ($null -ne $IntegrationContext) {
        $IntegrationContext.AuthHeader = $S1AuthHeader
    }

    $script:S1AuthHeader = $S1AuthHeader
    $script:S1Uri = $S1Uri
    [Uri]$script:S1Uri = $S1Uri

    try {
        $SystemInfo = Invoke-S1RestMethod -Endpoint 'system/info'
        if ($SystemInfo.latestAgentVersion -like "*.*") {
            Write-Progress "Authenticated to SentinelOne API and retrieved system/info. LatestAgentVersion: $($SystemInfo.LatestAgentVersion)"
            $script:S1AuthHeader
        } else {
            $script:S1AuthHeader = $null
            throw "Invalid response from system/info API"
        }
        Write-Verbose "SystemInfo:`r`n$($SystemInfo | Format-List * | Out-String)"
    } catch {
        $script:S1AuthHeader = $null
        throw
    }
}

function Invoke-S1RestMethod {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [string]$Endpoint,
        [string]$Method,
        [string]$Body,
        [HashTable]$QueryParameters = @{}
    )

    $Endpoint = $Endpoint.TrimStart('/')
    $params = @{}
    $params.ContentType = 'application/json'

    if ($Method) {
        $params.method = $Method
    }

    if ($Body) {
        $params.body = $body
        Write-Verbose "ThisBody:`r`n$($params.Body)"
    }

    $AuthHeader = $IntegrationContext.AuthHeader ?? $script:S1AuthHeader
    $BaseUri = $IntegrationContext.S1Uri ?? $script:S1Uri
    $Uri = "$($BaseUri)web/api/v2.1/$($Endpoint)"

    try {
        do {
            if ($QueryParameters) {
                Write-Verbose "QueryParameters: $($QueryParameters | Out-String)"
                $UriWithQuery = Add-UriQueryParameter -Uri $Uri -Parameter $QueryParameters
                $UriWithQuery = $UriWithQuery.ToString().Replace("+", "%20")
            }
            Write-Verbose $UriWithQuery
            $Results = $null
            Invoke-RestMethod -Uri $UriWithQuery -Headers $AuthHeader @params -ErrorAction Stop | Tee-Object -Variable Results | Select-Object -Expand data
            $Results | Format-List * | Out-String | Write-Verbose

            if ($Results.pagination -and $Results.pagination.nextcursor) {
                $QueryParameters.cursor = $Results.pagination.nextcursor
            }
        } while ($Results.pagination -and $Results.pagination.nextcursor)
    } catch {
        if ($_.Exception.Response.StatusCode -eq "Unauthorized") {
            Write-Error "Unauthorized when accessing $Endpoint, please ensure the user associated with the API Key can access this endpoint."
            Write-Error -Exception $_.Exception -ErrorAction Stop
        } else {
            throw $_ #.Exception.Response
        }
    }
}

function Get-S1Site {
    [CmdletBinding()]
    param(
        [string]$Name,
        [string]$Id
    )

    $Endpoint = "sites"

    if ($Id) {
        $Endpoint += "/$id"
        Invoke-S1RestMethod -Endpoint $Endpoint
        return
    }

    $QueryParameters = @{}
    $LimitParameter = @{ limit = 100 }

    if ($Name) {
        $QueryParameters['name'] = $Name
    }

    $CombinedParameters = $QueryParameters + $LimitParameter

    if (-not $Name) {
        Invoke-S1RestMethod -Endpoint $Endpoint -QueryParameters $LimitParameter | Select-Object -Expand sites | Sort-Object name
    } else {
        $Sites = Invoke-S1RestMethod -Endpoint $Endpoint -QueryParameters $CombinedParameters | Select-Object -Expand sites
        if (-not $Sites) {
            Write-Progress "No sites matched name: $Name using API filter. Fetching all sites..."
            $Sites = Invoke-S1RestMethod -Endpoint $Endpoint -QueryParameters $LimitParameter | Select-Object -Expand sites | Sort-Object name
            $SiteCount = $Sites | Measure-Object | Select-Object -expand Count
            Write-Progress "Found $SiteCount site(s)"
        }
        $Sites | Select-Object id, name, isDefault, registrationToken | Out-String | Write-Verbose
        $Site = $Sites | Where-Object { $_.name.Trim() -like $Name } # Potential edge case where the `name` property includes whitespace
        $Site = $Site | Should-HaveOne "SentinelOne Site matching $Name" -TakeFirst
        $Site
    }
}

function Get-S1Agent {
    [CmdletBinding()]
    param(
        [string]$Name,
        # psbridge: -SiteId added (not in the docs' module); see the header comment.
        [string[]]$SiteId
    )

    $Endpoint = "agents"

    $QueryParameters = @{}
    $LimitParameter = @{ limit = 100 }

    if ($Name) {
        $QueryParameters['name'] = $Name
    }
    # psbridge: send -SiteId as S1's comma-separated siteIds filter.
    if ($SiteId) {
        $QueryParameters['siteIds'] = $SiteId -join ','
    }

    $CombinedParameters = $QueryParameters + $LimitParameter

    if (-not $Name) {
        # psbridge: was "-QueryParameters $LimitParameter", which would drop the siteIds filter.
        Invoke-S1RestMethod -Endpoint $Endpoint -QueryParameters $CombinedParameters | Sort-Object computerName
    } else {
        $QueryParameters.name = $Name
        $Agents = Invoke-S1RestMethod -Endpoint $Endpoint -QueryParameters $CombinedParameters
        if (-not $Agents) {
            Write-Progress "No Agents matched name: $Name using API filter. Fetching all Agents..."
            $Agents = Get-S1Site
            $AgentCount = $Agents | Measure-Object | Select-Object -expand Count
            Write-Progress "Found $AgentCount agent(s)"
        }
        $Agents | Select-Object id, name, isDefault, registrationToken | Out-String | Write-Verbose
        $Agent = $Agent | Where-Object { $_.name.Trim() -like $Name } # Potential edge case where the `name` property includes whitespace
        $Agent = $Agent | Should-HaveOne "SentinelOne Agent matching $Name" -TakeFirst
        $Agent
    }
}

Export-ModuleMember -Function @(
    'Connect-S1API',
    'Invoke-S1RestMethod',
    'Get-S1Site',
    'Get-S1Agent'
)
