# ImmyBot's documented inbound integration example, "Install Software on a Computer"
# (docs.immy.bot, Build Your Own Integrations -> Inbound Integrations). Restored from the
# seed's copy of that page, which lost braces, the if/else around the computer choice,
# `computerId = $_.id`, the block comment around the DesiredSoftwareState list and the host
# names of the discovery and token URLs (link text in the page). Only the blanks are left for
# the reader (and for cmd/psbridge TestInboundExample, which fills them and points the three
# host names at psbridge).
$AzureDomain = '' # mydomain.com
$ClientID = '' # From the steps above
$Secret = '' # From the steps above
$InstanceSubdomain = '' # myinstance (don't include .immy.bot)

$TokenEndpointUri = [uri](Invoke-RestMethod "https://login.windows.net/$AzureDomain/.well-known/openid-configuration").token_endpoint
$TenantID = ($TokenEndpointUri.Segments | Select-Object -Skip 1 -First 1).Replace("/", "")
$Script:BaseURL = "https://$($InstanceSubdomain).immy.bot"

Function Get-ImmyBotApiAuthToken {
    Param ($TenantId, $ApplicationId, $Secret, $ApiEndpointUri)
    $RequestAccessTokenUri = "https://login.microsoftonline.com/$tenantId/oauth2/v2.0/token"
    $body = "grant_type=client_credentials&client_id=$applicationId&client_secret=$Secret&scope=$($Script:BaseURL)/.default"
    $contentType = 'application/x-www-form-urlencoded'
    try {
        $Token = Invoke-RestMethod -Method Post -Uri $RequestAccessTokenUri -Body $body -ContentType $contentType
        return $Token
    }
    catch { throw }
}
$Token = Get-ImmyBotApiAuthToken -ApplicationId $ClientId -TenantId $TenantID -Secret $Secret -ApiEndpointUri $BaseURL
$Script:ImmyBotApiAuthHeader = @{
    "authorization" = "Bearer $($Token.access_token)"
}

Function Invoke-ImmyBotRestMethod {
    param([string]$Endpoint, [string]$Method, $Body)
    if($body -is [Hashtable])
    {
        $Body = $Body | ConvertTo-Json -Depth 100
    }
    $Endpoint = $Endpoint.TrimStart('/')
    $params = @{}
    if ($Method) {
        $params.method = $Method
    }
    if ($Body) {
        $params.body = $body
    }
    Invoke-RestMethod -Uri "$($Script:BaseURL)/$Endpoint" -Headers $Script:ImmyBotApiAuthHeader -ContentType "application/json" @params
}
$Software = Invoke-ImmyBotRestMethod -Endpoint "/api/v1/software/global"
$SelectedSoftware = $Software | select Id, Name | Out-GridView -OutputMode Single -Title "Select a Software"

# Specify an email to limit the list of computers to computers whose primary user's email matches the email specified.
$email = ''
if($email)
{
    $SelectedComputers = Invoke-ImmyBotRestMethod -Endpoint "/api/v1/computers/dx?filter=['primaryUserEmail','=','$Email']" | % data
}
else
{
    $Computers = Invoke-ImmyBotRestMethod -Endpoint "/api/v1/computers"
    $SelectedComputers = $Computers | Out-GridView -OutputMode Multiple -Title "Select Computer(s) to install $($SelectedSoftware.Name)"
}

# Note: Many of these fields can likely be omitted but are included for completeness
Invoke-ImmyBotRestMethod -Endpoint "/api/v1/run-immy-service" `
-Method "POST" `
-Body @{
    fullMaintenance = $false # When true, the triggered session will have all software/tasks applied to the machine. If false, it will be limited to one. You must provide a maintenanceParams property to specify the one you want
    resolutionOnly = $false # When this is true, we "resolve" the desired state of the software against the deployments. This is is useful for determining if the user/computer should have the software installed. The computer does not need to be online for resolution to run.
    detectionOnly = $false # Detection just detects what version of the software exists on the machine, if any. Both resolution and detection are required to determine what action is necessary to acheive the desired state. The computer must be online for detection to run.
    inventoryOnly = $false # Session will end after the inventory scripts run
    runInventoryInDetection = $false # When this is true, all inventory scripts will be run during detection. When this is false, only the Software Inventory script is run
    cacheOnly = $false # Skips Software Inventory script and uses the most recent software inventory to determine the currently installed version
    useWinningDeployment = $false # When true, the desiredSoftwareState in the maintenanceParams below is ignored
    deploymentId = $null # If useWinningDeployment is false, you can specify a deployment here. When null,use maintenanceParams below, or if maintenanceParams are not specified resolution will determine the "winning" deployment
    deploymentType = $null # The deploymentId is in what database? 0 - Global Database (Recommended deployments), 1 - Local (Typical)
    maintenanceParams = @{
        maintenanceIdentifier = "$($SelectedSoftware.Id)"
        maintenanceType = 0
        repair = $false
        desiredSoftwareState = 5
        <#
            DesiredSoftwareState.NoAction => 0,
            DesiredSoftwareState.NotPresent => 1,
            DesiredSoftwareState.ThisVersion => 2,
            DesiredSoftwareState.OlderOrEqualVersion => 3,
            DesiredSoftwareState.LatestVersion => 4,
            DesiredSoftwareState.NewerOrEqualVersion => 5, # This is the default. It should be called "Newer or Equal to the _expected_ version". Sure you would think LatestVersion would be the default but LatestVersion refers to the latest version in our database (before dynamic versions) and NewerOrEqual was added to prevent the action from being marked as failed if the software self-updates during installation to a version newer than we expected.
            DesiredSoftwareState.AnyVersion => 6,
        #>
        maintenanceTaskMode = 0
    }
    skipBackgroundJob = $true # true bypasses the concurrent session limit. Careful, you can quickly overload your instance if you abuse this
    rebootPreference = 1 # Force = -1, Normal = 0, Suppress = 1
    scheduleExecutionAfterActiveHours = $false
    useComputersTimezoneForExecution = $false
    offlineBehavior = 2 #  Skip = 1, ApplyOnConnect = 2
    suppressRebootsDuringBusinessHours = $false
    sendDetectionEmail = $false
    sendDetectionEmailWhenAllActionsAreCompliant = $false
    sendFollowUpEmail = $false
    sendFollowUpOnlyIfActionNeeded = $false
    showRunNowButton = $false
    showPostponeButton = $false
    showMaintenanceActions = $false
    computers = @($SelectedComputers | %{ @{ computerId = $_.id } })
    tenants = @() # If the specified maintenanceItem is a Cloud Task you would specify this instead of computers
}
