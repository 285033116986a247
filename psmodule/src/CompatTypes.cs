// Compatibility types, part 2: results, client/agent records, ImmyBot domain types and the
// attributes integration scripts put on their parameters.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Management.Automation;

namespace PSBridge
{
    /// <summary>Health states (same values as ImmyBot's API enum HealthStatus).</summary>
    public enum HealthStatus
    {
        Unhealthy = 0,
        Degraded = 1,
        Healthy = 2,
    }

    /// <summary>What a HealthCheck block returns (New-HealthyResult, New-UnhealthyResult, New-DegradedResult).</summary>
    public sealed class HealthCheckResult
    {
        public HealthCheckResult() { Status = HealthStatus.Healthy; }

        public HealthCheckResult(HealthStatus status, string message)
        {
            Status = status;
            Message = message;
        }

        public HealthStatus Status { get; set; }
        public string Message { get; set; }

        public static HealthCheckResult Healthy() { return new HealthCheckResult(HealthStatus.Healthy, null); }
        public static HealthCheckResult Healthy(string message) { return new HealthCheckResult(HealthStatus.Healthy, message); }
        public static HealthCheckResult Degraded(string message) { return new HealthCheckResult(HealthStatus.Degraded, message); }
        public static HealthCheckResult Unhealthy(string message) { return new HealthCheckResult(HealthStatus.Unhealthy, message); }

        public override string ToString()
        {
            return string.IsNullOrEmpty(Message) ? Status.ToString() : Status + ": " + Message;
        }
    }

    /// <summary>ImmyBot's operation result; Init returns [OpResult]::Ok().</summary>
    public class OpResult
    {
        public OpResult() { IsSuccess = true; DateCreatedUtc = DateTime.UtcNow; }

        public OpResult(bool isSuccess, string reason, object value)
        {
            IsSuccess = isSuccess;
            Reason = reason;
            Value = value;
            DateCreatedUtc = DateTime.UtcNow;
        }

        public bool IsSuccess { get; set; }
        public string Reason { get; set; }
        public object Value { get; set; }
        public DateTime DateCreatedUtc { get; set; }

        public static OpResult Ok() { return new OpResult(true, null, null); }
        public static OpResult Ok(object value) { return new OpResult(true, null, value); }
        public static OpResult Fail(string reason) { return new OpResult(false, reason, null); }
        public static OpResult Fail(Exception exception) { return new OpResult(false, exception?.Message, null); }

        public override string ToString()
        {
            return IsSuccess ? "Ok" : "Fail: " + Reason;
        }
    }

    /// <summary>A client (customer) of the remote system, made by New-IntegrationClient.</summary>
    public sealed class IntegrationClient : Immybot.Backend.Domain.Providers.IProviderClientDetails
    {
        public string ClientId { get; set; }
        public string ClientName { get; set; }
        public string Status { get; set; }
        public string[] Types { get; set; }
        public object InternalData { get; set; }

        /// <summary>Named parameters New-IntegrationClient did not know.</summary>
        public Hashtable Extra { get; set; } = new Hashtable(StringComparer.OrdinalIgnoreCase);

        [Hidden] public string ExternalClientId { get => ClientId; set => ClientId = value; }
        [Hidden] public string ExternalClientName { get => ClientName; set => ClientName = value; }

        public static IntegrationClient FromDictionary(IDictionary d)
        {
            var c = new IntegrationClient();
            if (d == null) return c;
            foreach (DictionaryEntry e in d)
            {
                string key = Convert.ToString(e.Key, CultureInfo.InvariantCulture) ?? "";
                switch (key.ToLowerInvariant())
                {
                    case "clientid": case "externalclientid": case "id": c.ClientId = Compat.Str(e.Value); break;
                    case "clientname": case "externalclientname": case "name": c.ClientName = Compat.Str(e.Value); break;
                    case "status": c.Status = Compat.Str(e.Value); break;
                    case "types": c.Types = Compat.StrArray(e.Value); break;
                    case "internaldata": c.InternalData = e.Value; break;
                    case "extra": if (e.Value is IDictionary x) foreach (DictionaryEntry xe in x) c.Extra[xe.Key] = xe.Value; break;
                    default: c.Extra[key] = e.Value; break;
                }
            }
            return c;
        }

        public override string ToString() { return ClientName + " (" + ClientId + ")"; }
    }

    /// <summary>An agent of the remote system, made by New-IntegrationAgent.</summary>
    public sealed class IntegrationAgent : Immybot.Backend.Domain.Providers.IProviderAgentDetails
    {
        public string AgentId { get; set; }
        public string Name { get; set; }
        public string ClientId { get; set; }
        public string SerialNumber { get; set; }
        public string OSName { get; set; }
        public string Manufacturer { get; set; }
        public bool IsOnline { get; set; }
        public Version AgentVersion { get; set; }
        public bool SupportsRunningScripts { get; set; }
        public bool SupportsOnlineStatus { get; set; }
        public object InternalData { get; set; }

        /// <summary>Named parameters New-IntegrationAgent did not know, and unknown keys of
        /// agents the host passes in.</summary>
        public Hashtable Extra { get; set; } = new Hashtable(StringComparer.OrdinalIgnoreCase);

        /// <summary>ImmyBot's name for <see cref="AgentId"/>.</summary>
        [Hidden] public string ExternalAgentId { get => AgentId; set => AgentId = value; }

        /// <summary>ImmyBot's name for <see cref="ClientId"/>.</summary>
        [Hidden] public string ExternalClientId { get => ClientId; set => ClientId = value; }

        /// <summary>The device fields in ImmyBot's DeviceDetails shape.</summary>
        [Hidden]
        public Immybot.Backend.Domain.Providers.DeviceDetails DeviceDetails
        {
            get
            {
                var dd = new Immybot.Backend.Domain.Providers.DeviceDetails
                {
                    DeviceName = Name,
                    SerialNumber = SerialNumber,
                    OperatingSystemName = OSName,
                    Manufacturer = Manufacturer,
                };
                if (Extra["deviceDetails"] is IDictionary more) dd.Fill(more, false);
                return dd;
            }
        }

        /// <summary>Builds an agent from a JSON-decoded object (camelCase keys such as
        /// externalAgentId/agentId, name/deviceName, deviceDetails{…}).</summary>
        public static IntegrationAgent FromDictionary(IDictionary d)
        {
            var a = new IntegrationAgent();
            if (d == null) return a;
            string plainId = null;
            foreach (DictionaryEntry e in d)
            {
                string key = Convert.ToString(e.Key, CultureInfo.InvariantCulture) ?? "";
                object v = e.Value;
                switch (key.ToLowerInvariant())
                {
                    case "agentid": case "externalagentid": a.AgentId = Compat.Str(v); break;
                    case "id": plainId = Compat.Str(v); break;
                    case "name": case "devicename": case "computername": a.Name = Compat.Str(v); break;
                    case "clientid": case "externalclientid": a.ClientId = Compat.Str(v); break;
                    case "serialnumber": case "serial": a.SerialNumber = Compat.Str(v); break;
                    case "osname": case "operatingsystemname": a.OSName = Compat.Str(v); break;
                    case "manufacturer": a.Manufacturer = Compat.Str(v); break;
                    case "isonline": a.IsOnline = Compat.Bool(v); break;
                    case "agentversion": a.AgentVersion = Compat.VersionOrNull(v); break;
                    case "supportsrunningscripts": a.SupportsRunningScripts = Compat.Bool(v); break;
                    case "supportsonlinestatus": a.SupportsOnlineStatus = Compat.Bool(v); break;
                    case "internaldata": a.InternalData = v; break;
                    case "extra": if (v is IDictionary x) foreach (DictionaryEntry xe in x) a.Extra[xe.Key] = xe.Value; break;
                    case "devicedetails":
                        if (v is IDictionary dd)
                        {
                            var rest = new Hashtable(StringComparer.OrdinalIgnoreCase);
                            foreach (DictionaryEntry de in dd)
                            {
                                string dk = (Convert.ToString(de.Key, CultureInfo.InvariantCulture) ?? "").ToLowerInvariant();
                                switch (dk)
                                {
                                    case "devicename": if (a.Name == null) a.Name = Compat.Str(de.Value); break;
                                    case "serialnumber": if (a.SerialNumber == null) a.SerialNumber = Compat.Str(de.Value); break;
                                    case "operatingsystemname": if (a.OSName == null) a.OSName = Compat.Str(de.Value); break;
                                    case "manufacturer": if (a.Manufacturer == null) a.Manufacturer = Compat.Str(de.Value); break;
                                    default: rest[de.Key] = de.Value; break;
                                }
                            }
                            if (rest.Count > 0) a.Extra["deviceDetails"] = rest;
                        }
                        break;
                    default: a.Extra[key] = v; break;
                }
            }
            if (a.AgentId == null && plainId != null) a.AgentId = plainId;
            else if (plainId != null) a.Extra["id"] = plainId;
            return a;
        }

        public override string ToString() { return (Name ?? AgentId) + (Name != null && AgentId != null ? " (" + AgentId + ")" : ""); }
    }

    /// <summary>Conversion helpers shared by the compatibility types.</summary>
    public static class Compat
    {
        internal static object Unwrap(object v)
        {
            return v is PSObject p ? p.BaseObject : v;
        }

        /// <summary>A value as a string (invariant culture); null stays null.</summary>
        public static string Str(object v)
        {
            v = Unwrap(v);
            if (v == null) return null;
            if (v is string s) return s;
            if (v is IFormattable f) return f.ToString(null, CultureInfo.InvariantCulture);
            return v.ToString();
        }

        internal static string[] StrArray(object v)
        {
            v = Unwrap(v);
            if (v == null) return null;
            if (v is string s) return new[] { s };
            if (v is IEnumerable seq)
            {
                var list = new List<string>();
                foreach (object o in seq) list.Add(Str(o));
                return list.ToArray();
            }
            return new[] { Str(v) };
        }

        internal static bool Bool(object v)
        {
            v = Unwrap(v);
            switch (v)
            {
                case null: return false;
                case bool b: return b;
                case string s:
                    s = s.Trim();
                    return s.Equals("true", StringComparison.OrdinalIgnoreCase) || s == "1" || s.Equals("yes", StringComparison.OrdinalIgnoreCase);
                case SwitchParameter sw: return sw.IsPresent;
                default:
                    try { return Convert.ToDouble(v, CultureInfo.InvariantCulture) != 0; } catch { return true; }
            }
        }

        internal static int? Int(object v)
        {
            v = Unwrap(v);
            if (v == null) return null;
            try { return Convert.ToInt32(v, CultureInfo.InvariantCulture); } catch { return null; }
        }

        internal static Version VersionOrNull(object v)
        {
            try { return ParseVersion(v); } catch { return null; }
        }

        // Matches v?N(.N){0,3} followed by an optional -label and/or +metadata; returns the numeric part.
        private static string NumericVersionPart(string s)
        {
            s = s.Trim();
            if (s.StartsWith("v", StringComparison.OrdinalIgnoreCase)) s = s.Substring(1);
            int i = 0, parts = 0;
            while (true)
            {
                int start = i;
                while (i < s.Length && s[i] >= '0' && s[i] <= '9') i++;
                if (i == start) return null;
                parts++;
                if (i < s.Length && s[i] == '.' && parts < 4) { i++; continue; }
                break;
            }
            string numeric = s.Substring(0, i);
            string rest = s.Substring(i);
            if (rest.Length == 0) return numeric;
            if (rest[0] != '-' && rest[0] != '+') return null;
            for (int j = 1; j < rest.Length; j++)
            {
                char c = rest[j];
                if (!(char.IsAsciiLetterOrDigit(c) || c == '.' || c == '-' || c == '+')) return null;
            }
            return rest.Length > 1 ? numeric : null;
        }

        /// <summary>Parses an agent or package version the way ImmyBot accepts it: 1 to 4 numeric
        /// parts with an optional SemVer label (dropped). Anything else throws
        /// "'&lt;value&gt;' is not a valid version string."</summary>
        public static Version ParseVersion(object v)
        {
            v = Unwrap(v);
            switch (v)
            {
                case null: return null;
                case Version ver: return ver;
                case SemanticVersion sv: return new Version(sv.Major, sv.Minor, sv.Patch);
                case IDictionary d:
                    int? major = null, minor = null, patch = null, rev = null;
                    foreach (DictionaryEntry e in d)
                    {
                        switch ((Convert.ToString(e.Key, CultureInfo.InvariantCulture) ?? "").ToLowerInvariant())
                        {
                            case "major": major = Int(e.Value); break;
                            case "minor": minor = Int(e.Value); break;
                            case "patch": case "build": patch = Int(e.Value); break;
                            case "revision": rev = Int(e.Value); break;
                        }
                    }
                    if (major == null) throw new ArgumentException("'" + Str(v) + "' is not a valid version string.");
                    if (rev != null && rev >= 0) return new Version(major.Value, minor ?? 0, patch ?? 0, rev.Value);
                    return new Version(major.Value, minor ?? 0, patch ?? 0);
            }
            string s = Str(v);
            if (string.IsNullOrWhiteSpace(s)) return null;
            string n = NumericVersionPart(s);
            if (n == null) throw new ArgumentException("'" + s + "' is not a valid version string.");
            if (!n.Contains('.')) n += ".0";
            try { return Version.Parse(n); }
            catch (Exception) { throw new ArgumentException("'" + s + "' is not a valid version string."); }
        }
    }

    /// <summary>Parameter transformation for version parameters (New-IntegrationAgent -AgentVersion,
    /// New-DynamicVersion -Version): accepts [version], SemVer strings and 1–4 part numbers, and
    /// fails like ImmyBot on anything else ("'Unknown' is not a valid version string.").</summary>
    [AttributeUsage(AttributeTargets.Field | AttributeTargets.Property)]
    public sealed class VersionTransformationAttribute : ArgumentTransformationAttribute
    {
        public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
        {
            try { return Compat.ParseVersion(inputData); }
            catch (ArgumentException e) { throw new ArgumentTransformationMetadataException(e.Message, e); }
        }
    }

    /// <summary>Parameter transformation that turns any scalar (int, Guid, …) into a string.</summary>
    [AttributeUsage(AttributeTargets.Field | AttributeTargets.Property)]
    public sealed class StringTransformationAttribute : ArgumentTransformationAttribute
    {
        public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
        {
            object v = Compat.Unwrap(inputData);
            if (v == null || v is string) return v;
            if (v is IEnumerable && !(v is IDictionary)) return inputData;
            return Compat.Str(v);
        }
    }
}

namespace Immybot.Backend.Domain.Providers
{
    /// <summary>A client of an integration (ImmyBot's IProviderClientDetails).</summary>
    public interface IProviderClientDetails
    {
        string ExternalClientId { get; }
        string ExternalClientName { get; }
        string Status { get; }
        string[] Types { get; }
        object InternalData { get; }
    }

    /// <summary>An agent of an integration (ImmyBot's IProviderAgentDetails).</summary>
    public interface IProviderAgentDetails
    {
        string ExternalAgentId { get; }
        string ExternalClientId { get; }
        bool IsOnline { get; }
        bool SupportsRunningScripts { get; }
        bool SupportsOnlineStatus { get; }
        Version AgentVersion { get; }
        DeviceDetails DeviceDetails { get; }
        object InternalData { get; }
    }

    /// <summary>Device fields of an agent (ImmyBot's DeviceDetails).</summary>
    public sealed class DeviceDetails
    {
        public string DeviceName { get; set; }
        public string SerialNumber { get; set; }
        public string OperatingSystemName { get; set; }
        public string Manufacturer { get; set; }
        public Guid? DeviceId { get; set; }
        public DateTime? OSInstallDateUTC { get; set; }
        public string MachineId { get; set; }
        public string Domain { get; set; }
        public bool? IsSandbox { get; set; }
        public string AzureTenantId { get; set; }
        public int[] ChassisTypes { get; set; }

        internal void Fill(IDictionary d, bool overwrite)
        {
            foreach (DictionaryEntry e in d)
            {
                object v = e.Value is PSObject p ? p.BaseObject : e.Value;
                switch ((Convert.ToString(e.Key, CultureInfo.InvariantCulture) ?? "").ToLowerInvariant())
                {
                    case "devicename": if (overwrite || DeviceName == null) DeviceName = PSBridge.Compat.Str(v); break;
                    case "serialnumber": if (overwrite || SerialNumber == null) SerialNumber = PSBridge.Compat.Str(v); break;
                    case "operatingsystemname": if (overwrite || OperatingSystemName == null) OperatingSystemName = PSBridge.Compat.Str(v); break;
                    case "manufacturer": if (overwrite || Manufacturer == null) Manufacturer = PSBridge.Compat.Str(v); break;
                    case "deviceid": if (Guid.TryParse(PSBridge.Compat.Str(v), out Guid g)) DeviceId = g; break;
                    case "osinstalldateutc":
                        if (v is DateTime dt) OSInstallDateUTC = dt;
                        else if (DateTime.TryParse(PSBridge.Compat.Str(v), CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out DateTime pd)) OSInstallDateUTC = pd;
                        break;
                    case "machineid": MachineId = PSBridge.Compat.Str(v); break;
                    case "domain": Domain = PSBridge.Compat.Str(v); break;
                    case "issandbox": IsSandbox = v == null ? (bool?)null : PSBridge.Compat.Bool(v); break;
                    case "azuretenantid": AzureTenantId = PSBridge.Compat.Str(v); break;
                    case "chassistypes":
                        if (v is IEnumerable seq && !(v is string))
                        {
                            var list = new List<int>();
                            foreach (object o in seq) { int? i = PSBridge.Compat.Int(o); if (i != null) list.Add(i.Value); }
                            ChassisTypes = list.ToArray();
                        }
                        break;
                }
            }
        }
    }
}

namespace Immybot.Backend.Domain.Models
{
    /// <summary>The script language RunScript receives.</summary>
    public enum ScriptLanguage
    {
        CommandLine = 1,
        PowerShell = 2,
    }

    /// <summary>One downloadable version returned by a dynamic versions block (New-DynamicVersion).</summary>
    public sealed class DynamicVersion
    {
        public DynamicVersion() { }

        public DynamicVersion(Uri url, Version version, string fileName)
        {
            Url = url;
            Version = version;
            FileName = fileName;
        }

        public Uri Url { get; set; }
        public Version Version { get; set; }
        public string FileName { get; set; }
        public string Architecture { get; set; }
        public string PackageType { get; set; }
        public string PackageHash { get; set; }
        public Version DependsOnVersion { get; set; }
        public string RelativeCacheSourcePath { get; set; }

        [Hidden] public Uri Uri { get => Url; set => Url = value; }

        public override string ToString() { return Version + (Url == null ? "" : " " + Url); }
    }

    /// <summary>An ImmyBot user (CreateTicket's $user).</summary>
    public sealed class User
    {
        public int Id { get; set; }
        public int? PersonId { get; set; }
        public int? TenantId { get; set; }
        public string FirstName { get; set; }
        public string LastName { get; set; }
        public string Email { get; set; }
        public string DisplayName { get; set; }
        public string AzurePrincipalId { get; set; }
        public bool IsAdmin { get; set; }

        [Hidden] public string EmailAddress { get => Email; set => Email = value; }

        /// <summary>Builds a user from a JSON-decoded object (id, firstName, lastName, email or emailAddress, …).</summary>
        public static User FromDictionary(IDictionary d)
        {
            var u = new User();
            if (d == null) return u;
            foreach (DictionaryEntry e in d)
            {
                object v = e.Value is PSObject p ? p.BaseObject : e.Value;
                switch ((Convert.ToString(e.Key, CultureInfo.InvariantCulture) ?? "").ToLowerInvariant())
                {
                    case "id": case "userid": u.Id = PSBridge.Compat.Int(v) ?? 0; break;
                    case "personid": u.PersonId = PSBridge.Compat.Int(v); break;
                    case "tenantid": u.TenantId = PSBridge.Compat.Int(v); break;
                    case "firstname": u.FirstName = PSBridge.Compat.Str(v); break;
                    case "lastname": u.LastName = PSBridge.Compat.Str(v); break;
                    case "email": case "emailaddress": u.Email = PSBridge.Compat.Str(v); break;
                    case "displayname": u.DisplayName = PSBridge.Compat.Str(v); break;
                    case "azureprincipalid": u.AzurePrincipalId = PSBridge.Compat.Str(v); break;
                    case "isadmin": u.IsAdmin = PSBridge.Compat.Bool(v); break;
                }
            }
            if (u.DisplayName == null && (u.FirstName != null || u.LastName != null))
                u.DisplayName = ((u.FirstName ?? "") + " " + (u.LastName ?? "")).Trim();
            return u;
        }

        public override string ToString() { return DisplayName ?? Email ?? Id.ToString(CultureInfo.InvariantCulture); }
    }
}

namespace Immybot.Backend.Providers.Interfaces
{
    /// <summary>Texts of the support form an ISupportsSupportTicketDetailOverride integration brands.</summary>
    public sealed class ProviderSupportFormBranding
    {
        public string SupportSidebarTitle { get; set; }
        public string HeaderAlertMessage { get; set; }
        public string DescriptionPlaceholderText { get; set; }
        public string DescriptionAlertMessage { get; set; }
        public bool ShowConfirmationCheckbox { get; set; }
        public string FooterMessage { get; set; }
        public string SessionSupportButtonTitle { get; set; }
        public bool ShowSessionSupportConfirmCheckbox { get; set; }
    }

    /// <summary>What CreateTicket returns.</summary>
    public sealed class SupportTicketCreationResult
    {
        public SupportTicketCreationResult() { }

        public SupportTicketCreationResult(bool success, string message)
        {
            Success = success;
            Message = message;
        }

        public bool Success { get; set; }
        public string Message { get; set; }

        public override string ToString() { return (Success ? "Success" : "Failure") + (string.IsNullOrEmpty(Message) ? "" : ": " + Message); }
    }
}

namespace DotNext
{
    /// <summary>Minimal DotNext.Optional&lt;T&gt;: a value that may be absent.</summary>
    public readonly struct Optional<T>
    {
        private readonly T _value;

        public Optional(T value)
        {
            _value = value;
            HasValue = value != null;
        }

        public static Optional<T> None => default;

        public bool HasValue { get; }
        public bool IsUndefined => !HasValue;
        public bool IsNull => !HasValue;

        public T Value => HasValue ? _value : throw new InvalidOperationException("Optional has no value");

        public T ValueOrDefault => _value;

        public T Or(T defaultValue) { return HasValue ? _value : defaultValue; }

        public bool TryGet(out T value) { value = _value; return HasValue; }

        public static implicit operator Optional<T>(T value) { return new Optional<T>(value); }

        public override string ToString() { return HasValue ? Convert.ToString(_value, CultureInfo.InvariantCulture) : "<None>"; }
    }
}

// Attributes that integration scripts put on Init parameters and method blocks. They live in the
// global namespace so PowerShell resolves [Password(...)] to PasswordAttribute without a using.

/// <summary>Marks an Init parameter as a secret. StripValue: the stored value is not sent back
/// to clients with the form data.</summary>
[AttributeUsage(AttributeTargets.All, AllowMultiple = false)]
public sealed class PasswordAttribute : Attribute
{
    public PasswordAttribute() { }
    public PasswordAttribute(bool stripValue) { StripValue = stripValue; }
    public bool StripValue { get; set; }
}

/// <summary>Label of an Init parameter on the configuration form.</summary>
[AttributeUsage(AttributeTargets.All, AllowMultiple = false)]
public sealed class DisplayNameAttribute : Attribute
{
    public DisplayNameAttribute() { }
    public DisplayNameAttribute(string displayName) { DisplayName = displayName; }
    public string DisplayName { get; set; }
}

/// <summary>Raises a method block's timeout (default 60 s).</summary>
[AttributeUsage(AttributeTargets.All, AllowMultiple = false)]
public sealed class ScriptTimeoutAttribute : Attribute
{
    public ScriptTimeoutAttribute() { }
    public ScriptTimeoutAttribute(int timeoutSeconds) { TimeoutSeconds = timeoutSeconds; }
    public int TimeoutSeconds { get; set; }
}

/// <summary>Changes how often a periodic method (GetAgents) runs.</summary>
[AttributeUsage(AttributeTargets.All, AllowMultiple = false)]
public sealed class JobSettingsAttribute : Attribute
{
    public JobSettingsAttribute() { }
    public JobSettingsAttribute(int periodMinutes) { PeriodMinutes = periodMinutes; }
    public int PeriodMinutes { get; set; }
}

/// <summary>Makes a form parameter a drop-down; the script block returns the options.</summary>
[AttributeUsage(AttributeTargets.All, AllowMultiple = false)]
public sealed class DropdownAttribute : Attribute
{
    public DropdownAttribute() { }
    public DropdownAttribute(ScriptBlock options) { Options = options; }
    public DropdownAttribute(params string[] values) { Values = values; }
    public ScriptBlock Options { get; set; }
    public string[] Values { get; set; }
    public bool MultiSelect { get; set; }
}

/// <summary>Makes a form parameter an OAuth consent button.</summary>
[AttributeUsage(AttributeTargets.All, AllowMultiple = false)]
public sealed class OAuthConsentAttribute : Attribute
{
    public string AuthorizationEndpoint { get; set; }
    public string TokenEndpoint { get; set; }
    public string ResponseType { get; set; }
    public string Resource { get; set; }
    public string Scope { get; set; }
    public string ClientId { get; set; }
    public object ExtraQueryParameters { get; set; }
    /// <summary>The client secret for the token request (New-OAuthConsentParameter -ClientSecret);
    /// psbridge never sends it to a browser.</summary>
    public object ClientSecret { get; set; }
    /// <summary>Use PKCE (S256) in the authorization request.</summary>
    public bool UsePkce { get; set; }
}
