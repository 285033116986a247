# psbridge test fixture: ImmyBot docs "Build Your Own Integrations", section "Example - Respond to webhook with ISupportsHttpRequest".
# Original: immense/immybot-documentation, build-your-own-integration.md, 2024 revision
# (the one the seed page /work/shared/seed/000_5117d95e5681b6ee.txt was rendered from;
# reference §0 lists it as 4cc87348, 2024-09-11; search-index file id 6407778613).
#
# Ends with a bare '$Integration' (emitted). No stray 'will response to' line here.
#
# Restored lines: every line below marked L<n> was missing from the seed page text (the
# text extraction dropped param blocks, attributes, closing braces and some one-word
# statements). Each is copied verbatim from the original markdown; no other line differs
# from the seed apart from indentation/blank lines.
#   L30       param()
#   L31       [OpResult]::Ok()
#   L33       New-HealthyResult
#   L34   }
#   L36       [CmdletBinding()]
#   L37       [OutputType([Microsoft.AspNetCore.Mvc.IActionResult])]
#   L38       param(
#   L39           [Parameter(Mandatory=$True)]
#   L40           [Microsoft.AspNetCore.Http.HttpContext]$httpContext,
#   L41           [Parameter(Mandatory=$false)]
#   L42           $body,
#   L43           [Parameter(Mandatory=$True)]
#   L44           $route
#   L45       )
#   L51   }
#   L53   $Integration
# ---- end of header; the doc's code starts on the next line ----
$Integration = New-DynamicIntegration -Init {
    param()
    [OpResult]::Ok()
} -HealthCheck {
    New-HealthyResult
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
    # handle a http request sent to this integration
    # return an [ObjectResult] and set the status code
    $res = [ObjectResult]::new('ok')
    $res.StatusCode = 200;
    return $res;
}

$Integration
