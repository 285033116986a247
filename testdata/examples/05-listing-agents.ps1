# psbridge test fixture: ImmyBot docs "Build Your Own Integrations", section "Adding `ISupportsListingAgents`".
# Original: immense/immybot-documentation, build-your-own-integration.md, 2024 revision
# (the one the seed page /work/shared/seed/000_5117d95e5681b6ee.txt was rendered from;
# reference §0 lists it as 4cc87348, 2024-09-11; search-index file id 6407778613).
#
# The doc's snippet assigns $Integration but never emits it (kept that way).
# As in the original, Init contains only the comment '# ... *same as above* ...'
# (no param block, no [OpResult]::Ok()).
#
# Restored lines: every line below marked L<n> was missing from the seed page text (the
# text extraction dropped param blocks, attributes, closing braces and some one-word
# statements). Each is copied verbatim from the original markdown; no other line differs
# from the seed apart from indentation/blank lines.
#   L32       New-HealthyResult
#   L33   }
#   L35       [CmdletBinding()]
#   L36       [OutputType([Immybot.Backend.Domain.Providers.IProviderClientDetails[]])]
#   L37       param()
#   L42       }
#   L43   }
#   L46       [CmdletBinding()]
#   L47       [OutputType([Immybot.Backend.Domain.Providers.IProviderAgentDetails[]])]
#   L48       param(
#   L49           [Parameter()]
#   L51       )
#   L56       }
#   L57   }
# ---- end of header; the doc's code starts on the next line ----
$Integration = New-DynamicIntegration -Init {
    # ... *same as above* ...
} -HealthCheck {
    New-HealthyResult
}
$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingClients -GetClients {
    [CmdletBinding()]
    [OutputType([Immybot.Backend.Domain.Providers.IProviderClientDetails[]])]
    param()
    # Implement logic to get clients directly in this script
    # Mockup code for example purposes
    @("Client1", "Client2") | ForEach-Object {
        New-IntegrationClient -ClientId $_ -ClientName $_
    }
}

$Integration | Add-DynamicIntegrationCapability -Interface ISupportsListingAgents -GetAgents {
    [CmdletBinding()]
    [OutputType([Immybot.Backend.Domain.Providers.IProviderAgentDetails[]])]
    param(
        [Parameter()]
        [string[]]$ClientIds = $null
    )
    # Implement logic to get agents directly in this script
    # Mockup code for example purposes
    @("Agent1", "Agent2") | ForEach-Object {
        New-IntegrationAgent -AgentId $_ -Name $_
    }
}
