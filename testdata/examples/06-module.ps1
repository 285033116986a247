# psbridge test fixture: ImmyBot docs "Build Your Own Integrations", section "Move duplicate code to a Module".
# Original: immense/immybot-documentation, build-your-own-integration.md, 2024 revision
# (the one the seed page /work/shared/seed/000_5117d95e5681b6ee.txt was rendered from;
# reference §0 lists it as 4cc87348, 2024-09-11; search-index file id 6407778613).
#
# The doc's snippet assigns $Integration but never emits it (kept that way).
# As in the original: Init has no [OpResult]::Ok(); GetClients/GetAgents have no
# param blocks; GetAgents calls Get-S1Agent with no parameters and reads $_.Id/$_.Name
# (real S1 agents have 'id' but no 'name' field, so -Name is empty; that is the doc's code).
# Needs testdata/modules/SentinelOne.psm1 saved as Module script 'SentinelOne'.
#
# Restored lines: every line below marked L<n> was missing from the seed page text (the
# text extraction dropped param blocks, attributes, closing braces and some one-word
# statements). Each is copied verbatim from the original markdown; no other line differs
# from the seed apart from indentation/blank lines.
#   L30       param(
#   L31           [Parameter(Mandatory)]
#   L32           [Uri]$S1Uri,
#   L33           [Parameter(Mandatory)]
#   L35           $S1ApiKey
#   L36       )
#   L38       New-HealthyResult
#   L39   }
#   L45       }
#   L46   }
#   L52       }
#   L53   }
# ---- end of header; the doc's code starts on the next line ----
$Integration = New-DynamicIntegration -Init {
    param(
        [Parameter(Mandatory)]
        [Uri]$S1Uri,
        [Parameter(Mandatory)]
        [Password(StripValue = $true)]
        $S1ApiKey
    )
} -HealthCheck {
    New-HealthyResult
}

$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients {
    Import-Module SentinelOne
    Get-S1Site | ForEach-Object {
        New-IntegrationClient -ClientId $_.Id -ClientName $_.Name
    }
}

$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingAgents -GetAgents {
    Import-Module SentinelOne
    Get-S1Agent | ForEach-Object {
        New-IntegrationAgent -AgentId $_.Id -Name $_.Name
    }
}
