# psbridge test fixture: ImmyBot docs "Build Your Own Integrations", section "Initialization with Parameters".
# Original: immense/immybot-documentation, build-your-own-integration.md, 2024 revision
# (the one the seed page /work/shared/seed/000_5117d95e5681b6ee.txt was rendered from;
# reference §0 lists it as 4cc87348, 2024-09-11; search-index file id 6407778613).
#
# The doc's snippet assigns $Integration but never emits it (kept that way).
#
# Restored lines: every line below marked L<n> was missing from the seed page text (the
# text extraction dropped param blocks, attributes, closing braces and some one-word
# statements). Each is copied verbatim from the original markdown; no other line differs
# from the seed apart from indentation/blank lines.
#   L23       param(
#   L24           [Parameter(Mandatory)]
#   L25           [Uri]$S1Uri,
#   L26           [Parameter(Mandatory)]
#   L28           $S1ApiKey
#   L29       )
#   L31       [OpResult]::Ok()
#   L33       New-HealthyResult
#   L34   }
# ---- end of header; the doc's code starts on the next line ----
$Integration = New-DynamicIntegration -Init {
    param(
        [Parameter(Mandatory)]
        [Uri]$S1Uri,
        [Parameter(Mandatory)]
        [Password(StripValue = $true)]
        $S1ApiKey
    )

    [OpResult]::Ok()
} -HealthCheck {
    New-HealthyResult
}
