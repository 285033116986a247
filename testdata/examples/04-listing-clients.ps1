# psbridge test fixture: ImmyBot docs "Build Your Own Integrations", section "Adding `ISupportsListingClients`".
# Original: immense/immybot-documentation, build-your-own-integration.md, 2024 revision
# (the one the seed page /work/shared/seed/000_5117d95e5681b6ee.txt was rendered from;
# reference §0 lists it as 4cc87348, 2024-09-11; search-index file id 6407778613).
#
# The doc's snippet assigns $Integration but never emits it (kept that way).
# As in the original, this Init has no [OpResult]::Ok() line (Init returns nothing).
#
# Restored lines: every line below marked L<n> was missing from the seed page text (the
# text extraction dropped param blocks, attributes, closing braces and some one-word
# statements). Each is copied verbatim from the original markdown; no other line differs
# from the seed apart from indentation/blank lines.
#   L28       param(
#   L29           [Parameter(Mandatory)]
#   L30           [Uri]$S1Uri,
#   L31           [Parameter(Mandatory)]
#   L33           $S1ApiKey
#   L34       )
#   L36       New-HealthyResult
#   L37   }
#   L40       [CmdletBinding()]
#   L41       [OutputType([Immybot.Backend.Domain.Providers.IProviderClientDetails[]])]
#   L42       param()
#   L47       }
#   L48   }
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
    [CmdletBinding()]
    [OutputType([Immybot.Backend.Domain.Providers.IProviderClientDetails[]])]
    param()
    # Implement logic to get clients directly in this script
    # Mockup code for example purposes
    @("Client1", "Client2") | ForEach-Object {
        New-IntegrationClient -ClientId $_ -ClientName $_
    }
}
