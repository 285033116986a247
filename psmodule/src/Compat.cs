// Compatibility types, part 1: the dynamic integration object the module builds and the host
// invokes, the capability catalog, and the type accelerators for ImmyBot's short type names.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Reflection;

namespace PSBridge
{
    /// <summary>One capability (interface) of a dynamic integration and its member blocks.</summary>
    public sealed class Capability
    {
        internal Capability(string interfaceName, Dictionary<string, ScriptBlock> members)
        {
            Interface = interfaceName;
            MembersMap = members;
        }

        internal Dictionary<string, ScriptBlock> MembersMap { get; }

        /// <summary>The interface name as spelled in the catalog, e.g. ISupportsListingClients.</summary>
        public string Interface { get; }

        /// <summary>Member name (canonical spelling) to script block, case-insensitive.</summary>
        public IReadOnlyDictionary<string, ScriptBlock> Members => MembersMap;

        public override string ToString()
        {
            return Interface + " (" + string.Join(", ", MembersMap.Keys) + ")";
        }
    }

    /// <summary>The capability interfaces ImmyBot accepts for Add-DynamicIntegrationCapability -Interface.</summary>
    public static partial class CapabilityCatalog
    {
        private static readonly Dictionary<string, string[]> _interfaces = Build();
        private static readonly string[] _names = _interfaces.Keys.ToArray();

        private static Dictionary<string, string[]> Build()
        {
            // Order and names: the ValidateSet seen in a live error message (reference §2).
            var d = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase);
            d.Add("IProvider", null);
            d.Add("ISupportsListingClients", new[] { "GetClients" });
            d.Add("ISupportsClientGrouping", null);
            d.Add("ISupportsAgentPowerShellInstallScript", null);
            d.Add("ISupportsGetLatestAgentVersion", null);
            d.Add("ISupportsDeletingOfflineAgent", new[] { "DeleteAgent" });
            d.Add("ISupportsHttpRequest", new[] { "HandleHttpRequest" });
            d.Add("ISupportsListingAgents", new[] { "GetAgents" });
            d.Add("ISupportsInventoryIdentification", new[] { "GetInventoryScript" });
            d.Add("ISupportsTenantInstallToken", new[] { "GetTenantInstallToken" });
            d.Add("ISupportsTenantUninstallToken", new[] { "GetTenantUninstallToken" });
            d.Add("ISupportsAgentUninstallToken", new[] { "GetAgentUninstallToken" });
            d.Add("ISupportsMaintenanceMode", null);
            d.Add("ISupportsDynamicVersions", new[] { "GetDynamicVersions" });
            d.Add("ISupportsDownloadAgentInstaller", null);
            d.Add("ISupportsAuthenticatedDownload", new[] { "GetAuthHeader" });
            d.Add("IRunScriptProvider", new[] { "RunScript", "get_DefaultTimeout" });
            d.Add("ISupportsExternalProviderAgentUrl", new[] { "GetExternalProviderAgentUrl" });
            d.Add("ISupportsSupportTicketDetailOverride", new[] { "CreateTicket", "NewSupportFormBranding" });
            return d;
        }

        /// <summary>Interface name to its known member names, or null when the public material does
        /// not show them (members are then accepted as given). Case-insensitive keys.</summary>
        public static IReadOnlyDictionary<string, string[]> Interfaces => _interfaces;

        /// <summary>The interface names in catalog order.</summary>
        public static string[] Names => (string[])_names.Clone();

        /// <summary>Every known member name of every interface (for the cmdlet's parameters).</summary>
        public static string[] KnownMembers =>
            _interfaces.Values.Where(v => v != null).SelectMany(v => v).Distinct(StringComparer.OrdinalIgnoreCase).ToArray();

        /// <summary>The canonical spelling of an interface name, or null when unknown.</summary>
        public static string Canonical(string interfaceName)
        {
            if (interfaceName == null) return null;
            interfaceName = interfaceName.Trim();
            foreach (string n in _names)
            {
                if (string.Equals(n, interfaceName, StringComparison.OrdinalIgnoreCase)) return n;
            }
            return null;
        }

        /// <summary>The error text for an interface name that is not in the catalog. It suggests
        /// the closest names ("did you mean ISupportsListingClients?") when a typo is likely.</summary>
        public static string UnknownInterfaceMessage(string interfaceName)
        {
            string text = "'" + interfaceName + "' is not a dynamic integration interface.";
            string[] close = Suggest(interfaceName);
            if (close.Length > 0) text += " Did you mean " + string.Join(" or ", close) + "?";
            return text + " Valid interfaces: " + string.Join(", ", _names);
        }

        /// <summary>The catalog names closest to a mistyped interface name (case-insensitive edit
        /// distance of at most a third of the name, at most 4), best first; empty when none is close.</summary>
        public static string[] Suggest(string interfaceName)
        {
            if (string.IsNullOrWhiteSpace(interfaceName)) return Array.Empty<string>();
            string given = interfaceName.Trim().ToLowerInvariant();
            int limit = Math.Min(4, Math.Max(1, given.Length / 3));
            var scored = new List<KeyValuePair<int, string>>();
            foreach (string n in _names)
            {
                int d = EditDistance(given, n.ToLowerInvariant());
                if (d <= limit) scored.Add(new KeyValuePair<int, string>(d, n));
            }
            if (scored.Count == 0) return Array.Empty<string>();
            int best = scored.Min(kv => kv.Key);
            return scored.Where(kv => kv.Key == best).Select(kv => kv.Value).ToArray();
        }

        // EditDistance is the Damerau-Levenshtein (optimal string alignment) distance: a swapped
        // pair of letters counts as one edit, as it is one typo.
        private static int EditDistance(string a, string b)
        {
            var d = new int[a.Length + 1, b.Length + 1];
            for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
            for (int j = 0; j <= b.Length; j++) d[0, j] = j;
            for (int i = 1; i <= a.Length; i++)
            {
                for (int j = 1; j <= b.Length; j++)
                {
                    int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                    int v = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                    if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) v = Math.Min(v, d[i - 2, j - 2] + 1);
                    d[i, j] = v;
                }
            }
            return d[a.Length, b.Length];
        }
    }

    /// <summary>A PowerShell-built provider: Init and HealthCheck plus the capabilities added with
    /// Add-DynamicIntegrationCapability.</summary>
    public sealed class DynamicIntegration
    {
        private readonly List<Capability> _capabilities = new List<Capability>();
        private readonly object _lock = new object();

        public DynamicIntegration(ScriptBlock init, ScriptBlock healthCheck)
        {
            Init = init;
            HealthCheck = healthCheck;
        }

        /// <summary>The -Init block; its param() block is the configuration form.</summary>
        public ScriptBlock Init { get; }

        /// <summary>The -HealthCheck block.</summary>
        public ScriptBlock HealthCheck { get; }

        /// <summary>The capabilities in the order they were added.</summary>
        public IReadOnlyList<Capability> Capabilities
        {
            get { lock (_lock) return _capabilities.ToArray(); }
        }

        /// <summary>Adds (or extends) a capability. Throws ArgumentException for an interface that
        /// is not in the catalog or a member that does not belong to the interface.</summary>
        public void AddCapability(string interfaceName, IDictionary<string, ScriptBlock> members)
        {
            string iface = CapabilityCatalog.Canonical(interfaceName);
            if (iface == null) throw new ArgumentException(CapabilityCatalog.UnknownInterfaceMessage(interfaceName), nameof(interfaceName));
            string[] known = CapabilityCatalog.Interfaces[iface];
            var add = new List<KeyValuePair<string, ScriptBlock>>();
            if (members != null)
            {
                foreach (var kv in members)
                {
                    if (string.IsNullOrWhiteSpace(kv.Key)) throw new ArgumentException("A member name of " + iface + " is empty.", nameof(members));
                    string name = kv.Key.Trim().TrimStart('-');
                    if (known != null)
                    {
                        string canonical = known.FirstOrDefault(k => string.Equals(k, name, StringComparison.OrdinalIgnoreCase));
                        if (canonical == null)
                        {
                            throw new ArgumentException("'" + name + "' is not a member of interface " + iface + ". Members of " + iface + ": "
                                + string.Join(", ", known), nameof(members));
                        }
                        name = canonical;
                    }
                    if (kv.Value == null) throw new ArgumentException("The script block for " + iface + "." + name + " is null.", nameof(members));
                    add.Add(new KeyValuePair<string, ScriptBlock>(name, kv.Value));
                }
            }
            lock (_lock)
            {
                Capability existing = _capabilities.FirstOrDefault(c => c.Interface == iface);
                if (existing == null)
                {
                    existing = new Capability(iface, new Dictionary<string, ScriptBlock>(StringComparer.OrdinalIgnoreCase));
                    _capabilities.Add(existing);
                }
                foreach (var kv in add)
                {
                    // Replacing keeps the member's position; the key takes the new spelling.
                    if (existing.MembersMap.ContainsKey(kv.Key))
                    {
                        var copy = existing.MembersMap.ToList();
                        existing.MembersMap.Clear();
                        foreach (var old in copy)
                        {
                            if (string.Equals(old.Key, kv.Key, StringComparison.OrdinalIgnoreCase)) existing.MembersMap[kv.Key] = kv.Value;
                            else existing.MembersMap[old.Key] = old.Value;
                        }
                    }
                    else existing.MembersMap[kv.Key] = kv.Value;
                }
            }
        }

        /// <summary>The block of a method ("Init", "HealthCheck" or a member name), case-insensitive;
        /// null when the integration does not implement it.</summary>
        public ScriptBlock FindMethod(string name, out string interfaceName)
        {
            interfaceName = null;
            if (string.IsNullOrEmpty(name)) return null;
            if (string.Equals(name, "Init", StringComparison.OrdinalIgnoreCase))
            {
                if (Init != null) interfaceName = "IProvider";
                return Init;
            }
            if (string.Equals(name, "HealthCheck", StringComparison.OrdinalIgnoreCase))
            {
                if (HealthCheck != null) interfaceName = "IProvider";
                return HealthCheck;
            }
            lock (_lock)
            {
                foreach (Capability c in _capabilities)
                {
                    if (c.MembersMap.TryGetValue(name, out ScriptBlock block))
                    {
                        interfaceName = c.Interface;
                        return block;
                    }
                }
            }
            return null;
        }

        public override string ToString()
        {
            var caps = Capabilities;
            return "DynamicIntegration" + (caps.Count == 0 ? "" : " (" + string.Join(", ", caps.Select(c => c.Interface)) + ")");
        }
    }

    /// <summary>Registers ImmyBot's short type names as PowerShell type accelerators.</summary>
    public static class TypeNames
    {
        private static readonly object _lock = new object();
        private static bool _registered;

        /// <summary>Short name to type, as registered by <see cref="Register"/>.</summary>
        public static IReadOnlyDictionary<string, Type> Accelerators { get; } = new Dictionary<string, Type>(StringComparer.OrdinalIgnoreCase)
        {
            ["OpResult"] = typeof(OpResult),
            ["HealthCheckResult"] = typeof(HealthCheckResult),
            ["HealthStatus"] = typeof(HealthStatus),
            ["IActionResult"] = typeof(Microsoft.AspNetCore.Mvc.IActionResult),
            ["ActionResult"] = typeof(Microsoft.AspNetCore.Mvc.ActionResult),
            ["ObjectResult"] = typeof(Microsoft.AspNetCore.Mvc.ObjectResult),
            ["OkObjectResult"] = typeof(Microsoft.AspNetCore.Mvc.OkObjectResult),
            ["BadRequestObjectResult"] = typeof(Microsoft.AspNetCore.Mvc.BadRequestObjectResult),
            ["NotFoundObjectResult"] = typeof(Microsoft.AspNetCore.Mvc.NotFoundObjectResult),
            ["UnauthorizedObjectResult"] = typeof(Microsoft.AspNetCore.Mvc.UnauthorizedObjectResult),
            ["StatusCodeResult"] = typeof(Microsoft.AspNetCore.Mvc.StatusCodeResult),
            ["OkResult"] = typeof(Microsoft.AspNetCore.Mvc.OkResult),
            ["NoContentResult"] = typeof(Microsoft.AspNetCore.Mvc.NoContentResult),
            ["NotFoundResult"] = typeof(Microsoft.AspNetCore.Mvc.NotFoundResult),
            ["BadRequestResult"] = typeof(Microsoft.AspNetCore.Mvc.BadRequestResult),
            ["UnauthorizedResult"] = typeof(Microsoft.AspNetCore.Mvc.UnauthorizedResult),
            ["ContentResult"] = typeof(Microsoft.AspNetCore.Mvc.ContentResult),
            ["JsonResult"] = typeof(Microsoft.AspNetCore.Mvc.JsonResult),
            ["HttpContext"] = typeof(Microsoft.AspNetCore.Http.HttpContext),
            ["HttpRequest"] = typeof(Microsoft.AspNetCore.Http.HttpRequest),
            ["HttpResponse"] = typeof(Microsoft.AspNetCore.Http.HttpResponse),
            ["IProviderClientDetails"] = typeof(Immybot.Backend.Domain.Providers.IProviderClientDetails),
            ["IProviderAgentDetails"] = typeof(Immybot.Backend.Domain.Providers.IProviderAgentDetails),
            ["DeviceDetails"] = typeof(Immybot.Backend.Domain.Providers.DeviceDetails),
            ["DynamicVersion"] = typeof(Immybot.Backend.Domain.Models.DynamicVersion),
            ["ProviderSupportFormBranding"] = typeof(Immybot.Backend.Providers.Interfaces.ProviderSupportFormBranding),
            ["SupportTicketCreationResult"] = typeof(Immybot.Backend.Providers.Interfaces.SupportTicketCreationResult),
            ["ScriptLanguage"] = typeof(Immybot.Backend.Domain.Models.ScriptLanguage),
            ["IntegrationClient"] = typeof(IntegrationClient),
            ["IntegrationAgent"] = typeof(IntegrationAgent),
            ["DynamicIntegration"] = typeof(DynamicIntegration),
        };

        /// <summary>True once <see cref="Register"/> ran in this process.</summary>
        public static bool IsRegistered
        {
            get { lock (_lock) return _registered; }
        }

        /// <summary>Adds the accelerators (process-wide, idempotent). A name PowerShell already
        /// maps to another type is left alone.</summary>
        public static void Register()
        {
            lock (_lock)
            {
                if (_registered) return;
                Type accel = typeof(PSObject).Assembly.GetType("System.Management.Automation.TypeAccelerators");
                if (accel == null) throw new InvalidOperationException("PowerShell's TypeAccelerators type was not found");
                MethodInfo add = accel.GetMethod("Add", BindingFlags.Public | BindingFlags.Static, null, new[] { typeof(string), typeof(Type) }, null);
                PropertyInfo get = accel.GetProperty("Get", BindingFlags.Public | BindingFlags.Static);
                if (add == null) throw new InvalidOperationException("TypeAccelerators.Add was not found");
                var existing = get?.GetValue(null) as IDictionary<string, Type>;
                foreach (var kv in Accelerators)
                {
                    if (existing != null && existing.TryGetValue(kv.Key, out Type current) && current != null
                        && current.Assembly != typeof(TypeNames).Assembly && current != kv.Value)
                        continue;
                    add.Invoke(null, new object[] { kv.Key, kv.Value });
                }
                _registered = true;
            }
        }
    }
}
