// Compatibility types, the capability catalog's documentation: what each interface is for, and
// each member's parameters and return type, as ImmyBot calls them (reference §2). docs/interfaces.md
// is generated from this table (psmodule.GenerateInterfacesDoc), and so is nothing else: psbridge
// binds arguments by the names a script's own param() block declares.
using System;
using System.Collections.Generic;
using System.Linq;

namespace PSBridge
{
    /// <summary>One parameter ImmyBot passes to a capability member's script block.</summary>
    public sealed class CapabilityParameterInfo
    {
        internal CapabilityParameterInfo(string name, string type, bool mandatory, string description)
        {
            Name = name;
            Type = type;
            Mandatory = mandatory;
            Description = description;
        }

        /// <summary>The parameter name scripts declare (matched case-insensitively).</summary>
        public string Name { get; }

        /// <summary>The type scripts declare, as written in a param() block.</summary>
        public string Type { get; }

        /// <summary>Whether psbridge always passes a value.</summary>
        public bool Mandatory { get; }

        /// <summary>What the value is.</summary>
        public string Description { get; }
    }

    /// <summary>One member (script block) of a capability interface.</summary>
    public sealed class CapabilityMemberInfo
    {
        internal CapabilityMemberInfo(string name, string returns, string description, params CapabilityParameterInfo[] parameters)
        {
            Name = name;
            Returns = returns;
            Description = description;
            Parameters = parameters ?? Array.Empty<CapabilityParameterInfo>();
        }

        /// <summary>The member name, which is also the Add-DynamicIntegrationCapability parameter.</summary>
        public string Name { get; }

        /// <summary>What the block returns.</summary>
        public string Returns { get; }

        /// <summary>When it runs and what it does.</summary>
        public string Description { get; }

        /// <summary>The parameters psbridge passes, in order.</summary>
        public IReadOnlyList<CapabilityParameterInfo> Parameters { get; }
    }

    /// <summary>Documentation of one capability interface.</summary>
    public sealed class CapabilityInfo
    {
        internal CapabilityInfo(string name, string summary, params CapabilityMemberInfo[] members)
        {
            Name = name;
            Summary = summary;
            Members = members != null && members.Length > 0 ? members : null;
        }

        /// <summary>The interface name, e.g. ISupportsListingClients.</summary>
        public string Name { get; }

        /// <summary>What the interface gives an integration.</summary>
        public string Summary { get; }

        /// <summary>The members, or null when the public material does not show them (any
        /// -MemberName { … } pair is then accepted).</summary>
        public IReadOnlyList<CapabilityMemberInfo> Members { get; }
    }

    public static partial class CapabilityCatalog
    {
        private static CapabilityParameterInfo P(string name, string type, bool mandatory, string description) =>
            new CapabilityParameterInfo(name, type, mandatory, description);

        private static CapabilityMemberInfo M(string name, string returns, string description, params CapabilityParameterInfo[] parameters) =>
            new CapabilityMemberInfo(name, returns, description, parameters);

        private static readonly Dictionary<string, CapabilityInfo> _docs = BuildDocs();

        private static Dictionary<string, CapabilityInfo> BuildDocs()
        {
            const string unknown = "ImmyBot's public material does not show this interface's members: psbridge accepts any -MemberName { … } pairs and calls them by those names.";
            var list = new[]
            {
                new CapabilityInfo("IProvider", "The base interface every integration implements: Init and HealthCheck, given to New-DynamicIntegration. It is accepted by -Interface, with no members."),
                new CapabilityInfo("ISupportsListingClients", "Lists the vendor's clients (customers, sites), which are mapped to tenants.",
                    M("GetClients", "IntegrationClient objects from New-IntegrationClient (nothing is allowed)", "Runs when the client list is refreshed (psbridge: POST /api/v1/integrations/{id}/clients/refresh).")),
                new CapabilityInfo("ISupportsClientGrouping", "Groups clients (for example PSA agreement types). " + unknown),
                new CapabilityInfo("ISupportsAgentPowerShellInstallScript", "Provides a PowerShell script that installs the vendor's agent. " + unknown),
                new CapabilityInfo("ISupportsGetLatestAgentVersion", "Reports the vendor's latest agent version. " + unknown),
                new CapabilityInfo("ISupportsDeletingOfflineAgent", "Deletes an offline agent from the vendor's system.",
                    M("DeleteAgent", "nothing", "Runs when an offline agent is deleted.",
                        P("agent", "IProviderAgentDetails", true, "The agent; its ExternalAgentId is the vendor's id."))),
                new CapabilityInfo("ISupportsHttpRequest", "Receives webhooks from the vendor at /plugins/api/v1/{integration id}.",
                    M("HandleHttpRequest", "an IActionResult such as [ObjectResult]::new('ok') with .StatusCode set", "Runs for every request to the integration's webhook URL.",
                        P("httpContext", "Microsoft.AspNetCore.Http.HttpContext", true, "The request: .Request.Method, .Request.Path, .Request.Headers, .Request.Query."),
                        P("body", "object", false, "The parsed request payload (JSON as objects, form fields as a hashtable), or $null."),
                        P("route", "string", true, "The path after the integration's webhook URL."))),
                new CapabilityInfo("ISupportsListingAgents", "Lists the vendor's agents (devices), which are matched to computers.",
                    M("GetAgents", "IntegrationAgent objects from New-IntegrationAgent", "Runs when agents are synced (psbridge: POST /api/v1/integrations/{id}/agents/sync).",
                        P("clientIds", "string[]", false, "The external client ids mapped to tenants (never an empty array)."))),
                new CapabilityInfo("ISupportsInventoryIdentification", "Identifies a computer's agent from the computer itself.",
                    M("GetInventoryScript", "string: the computer's agent id (usually the output of Invoke-ImmyCommand { … })", "Runs as a metascript for each computer during identification and inventory; the id is matched to New-IntegrationAgent -AgentId.")),
                new CapabilityInfo("ISupportsTenantInstallToken", "Provides the token that installs the agent for a tenant.",
                    M("GetTenantInstallToken", "string", "Read by Get-IntegrationAgentInstallToken in an install script.",
                        P("clientId", "string", true, "The external client id mapped to the computer's tenant."))),
                new CapabilityInfo("ISupportsTenantUninstallToken", "Provides the token that uninstalls the agent for a tenant.",
                    M("GetTenantUninstallToken", "string", "Read by Get-IntegrationTenantUninstallToken in an uninstall script.",
                        P("clientId", "string", true, "The external client id mapped to the computer's tenant."))),
                new CapabilityInfo("ISupportsAgentUninstallToken", "Provides the token that uninstalls one agent.",
                    M("GetAgentUninstallToken", "string", "Read by Get-IntegrationAgentUninstallToken in an uninstall script.",
                        P("agentId", "string", true, "The external agent id."))),
                new CapabilityInfo("ISupportsMaintenanceMode", "Turns the vendor's maintenance (learning) mode on for a maintenance session and off after it. " + unknown),
                new CapabilityInfo("ISupportsDynamicVersions", "Lists the downloadable versions of the vendor's agent for a client.",
                    M("GetDynamicVersions", "DynamicVersion objects from New-DynamicVersion (or the .Versions of Get-DynamicVersionsFromGitHubUrl)", "Runs when the software's versions are refreshed.",
                        P("externalClientId", "string", true, "The external client id of the tenant the versions are for."))),
                new CapabilityInfo("ISupportsDownloadAgentInstaller", "Lets the integration download the agent installer itself. " + unknown),
                new CapabilityInfo("ISupportsAuthenticatedDownload", "Provides HTTP headers for downloading the agent installer.",
                    M("GetAuthHeader", "hashtable of HTTP headers", "Read by Get-IntegrationAuthenticatedDownload in a download script.")),
                new CapabilityInfo("IRunScriptProvider", "Runs scripts on computers through the vendor's agent.",
                    M("RunScript", "string: the script's output (or the vendor's task id)", "Runs a script on one agent.",
                        P("agent", "IProviderAgentDetails", true, "The agent to run on."),
                        P("scriptCode", "string", true, "The script text."),
                        P("scriptLanguage", "ScriptLanguage", true, "PowerShell or CommandLine."),
                        P("timeout", "int", true, "Seconds the script may run."),
                        P("scriptPath", "string", true, "Where the script is saved on the computer.")),
                    M("get_DefaultTimeout", "int: seconds", "The default script timeout.")),
                new CapabilityInfo("ISupportsExternalProviderAgentUrl", "Links an agent to its page in the vendor's console.",
                    M("GetExternalProviderAgentUrl", "string URL, or $null", "Runs when an agent's page is shown.",
                        P("device", "IProviderAgentDetails", true, "The agent."))),
                new CapabilityInfo("ISupportsSupportTicketDetailOverride", "Creates support tickets in the vendor's PSA instead of ImmyBot's own form (one enabled integration at a time).",
                    M("CreateTicket", "SupportTicketCreationResult with .Success and .Message set", "Runs when a user submits the support form.",
                        P("requesterEmail", "string", true, "The requester's e-mail address."),
                        P("subject", "string", true, "The ticket subject."),
                        P("notes", "string", true, "The ticket text."),
                        P("blobUrls", "string[]", false, "Download URLs of the attachments."),
                        P("sessionUrl", "string", false, "A link to the maintenance session, if any."),
                        P("user", "Immybot.Backend.Domain.Models.User", true, "The user: .Id, .FirstName, .LastName.")),
                    M("NewSupportFormBranding", "the output of New-SupportFormBranding", "Optional: branding of the support form.")),
            };
            var d = new Dictionary<string, CapabilityInfo>(StringComparer.OrdinalIgnoreCase);
            foreach (var c in list) d.Add(c.Name, c);
            return d;
        }

        /// <summary>The documentation of an interface (any spelling case), or null when the
        /// catalog has no such interface.</summary>
        public static CapabilityInfo Describe(string interfaceName)
        {
            string name = Canonical(interfaceName);
            if (name == null) return null;
            _docs.TryGetValue(name, out CapabilityInfo info);
            return info;
        }

        /// <summary>Differences between the catalog and its documentation (an interface without
        /// documentation, documented members that differ from the catalog's); empty when they agree.</summary>
        public static string[] DocumentationProblems()
        {
            var problems = new List<string>();
            foreach (string n in _names)
            {
                if (!_docs.TryGetValue(n, out CapabilityInfo info)) { problems.Add(n + " has no documentation"); continue; }
                string[] known = _interfaces[n] ?? Array.Empty<string>();
                string[] documented = info.Members == null ? Array.Empty<string>() : info.Members.Select(m => m.Name).ToArray();
                if (!known.SequenceEqual(documented, StringComparer.Ordinal))
                    problems.Add(n + ": the catalog's members (" + string.Join(", ", known) + ") differ from the documented ones (" + string.Join(", ", documented) + ")");
            }
            foreach (string n in _docs.Keys) if (Canonical(n) == null) problems.Add(n + " is documented but not in the catalog");
            return problems.ToArray();
        }
    }
}
