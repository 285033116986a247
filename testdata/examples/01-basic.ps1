# psbridge test fixture: ImmyBot docs "Build Your Own Integrations", section "Basic Implementation".
# Original: immense/immybot-documentation, build-your-own-integration.md, 2024 revision
# (the one the seed page /work/shared/seed/000_5117d95e5681b6ee.txt was rendered from;
# reference §0 lists it as 4cc87348, 2024-09-11; search-index file id 6407778613).
#
# Emits the integration object directly: the doc's snippet never assigns $Integration
# (kept that way on purpose).
#
# Restored lines: every line below marked L<n> was missing from the seed page text (the
# text extraction dropped param blocks, attributes, closing braces and some one-word
# statements). Each is copied verbatim from the original markdown; no other line differs
# from the seed apart from indentation/blank lines.
#   L18       [OpResult]::Ok()
#   L20       New-HealthyResult
#   L21   }
# ---- end of header; the doc's code starts on the next line ----
New-DynamicIntegration -Init {
    [OpResult]::Ok()
} -HealthCheck {
    New-HealthyResult
}
