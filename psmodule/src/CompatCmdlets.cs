// Compiled cmdlets of the PSBridge module: New-IntegrationAgent and New-IntegrationClient.
// A GetAgents block calls New-IntegrationAgent once per agent (10,000 times for a large
// tenant); as an advanced function each call cost ~50 µs of parameter binding and scope set-up
// in a warm process and several times that in a new one, as a cmdlet about half of that warm
// (docs/performance.md). Parameters, transformations, defaults, the Extra table and the error
// messages are the ones the functions had; their help is PSBridge.dll-Help.xml.
using System;
using System.Collections;
using System.Management.Automation;
using System.Reflection;
using System.Text.RegularExpressions;

namespace PSBridge
{
    /// <summary>New-IntegrationClient: a client (customer) of the remote system for GetClients.</summary>
    [Cmdlet(VerbsCommon.New, "IntegrationClient")]
    [OutputType(typeof(IntegrationClient))]
    public sealed class NewIntegrationClientCommand : PSCmdlet
    {
        /// <summary>The vendor's id for the client.</summary>
        [Parameter(Mandatory = true, Position = 0)]
        [StringTransformation]
        public string ClientId { get; set; }

        /// <summary>The display name; defaults to ClientId.</summary>
        [Parameter(Position = 1)]
        [StringTransformation]
        public string ClientName { get; set; }

        /// <summary>Optional status text.</summary>
        [Parameter]
        public string Status { get; set; }

        /// <summary>Optional client types.</summary>
        [Parameter]
        public string[] Types { get; set; }

        /// <summary>Anything the integration wants back later.</summary>
        [Parameter]
        public object InternalData { get; set; }

        /// <summary>Any other -Name value pairs, kept in Extra.</summary>
        [Parameter(ValueFromRemainingArguments = true)]
        public object[] ExtraParameters { get; set; }

        /// <summary>Writes the client.</summary>
        protected override void ProcessRecord()
        {
            var bound = MyInvocation.BoundParameters;
            var client = new IntegrationClient
            {
                ClientId = ClientId ?? "",
                ClientName = bound.ContainsKey("ClientName") ? (ClientName ?? "") : (ClientId ?? ""),
            };
            if (bound.ContainsKey("Status")) client.Status = Status ?? "";
            if (bound.ContainsKey("Types")) client.Types = Types;
            if (bound.ContainsKey("InternalData")) client.InternalData = InternalData;
            UnboundArguments.CopyTo(ExtraParameters, "New-IntegrationClient", client.Extra);
            WriteObject(client);
        }
    }

    /// <summary>New-IntegrationAgent: an agent (device) of the remote system for GetAgents.</summary>
    [Cmdlet(VerbsCommon.New, "IntegrationAgent")]
    [OutputType(typeof(IntegrationAgent))]
    public sealed class NewIntegrationAgentCommand : PSCmdlet
    {
        /// <summary>The vendor's id for the agent.</summary>
        [Parameter(Mandatory = true)]
        [StringTransformation]
        public string AgentId { get; set; }

        /// <summary>The device name.</summary>
        [Parameter]
        [StringTransformation]
        public string Name { get; set; }

        /// <summary>The external client id the agent belongs to.</summary>
        [Parameter]
        [StringTransformation]
        public string ClientId { get; set; }

        /// <summary>The device serial number.</summary>
        [Parameter]
        [StringTransformation]
        public string SerialNumber { get; set; }

        /// <summary>Operating system name.</summary>
        [Parameter]
        public string OSName { get; set; }

        /// <summary>Device manufacturer.</summary>
        [Parameter]
        public string Manufacturer { get; set; }

        /// <summary>Whether the agent is online now.</summary>
        [Parameter]
        [ScriptBoolTransformation]
        public bool IsOnline { get; set; }

        /// <summary>The agent's version.</summary>
        [Parameter]
        [VersionTransformation]
        public Version AgentVersion { get; set; }

        /// <summary>Whether the integration can run scripts on this agent.</summary>
        [Parameter]
        [ScriptBoolTransformation]
        public bool SupportsRunningScripts { get; set; }

        /// <summary>Whether IsOnline is meaningful (default $true).</summary>
        [Parameter]
        [ScriptBoolTransformation]
        public bool SupportsOnlineStatus { get; set; } = true;

        /// <summary>Anything the integration wants back later.</summary>
        [Parameter]
        public object InternalData { get; set; }

        /// <summary>Any other -Name value pairs, kept in Extra.</summary>
        [Parameter(ValueFromRemainingArguments = true)]
        public object[] ExtraParameters { get; set; }

        /// <summary>Writes the agent.</summary>
        protected override void ProcessRecord()
        {
            // Unbound [string] parameters of the function were '' (PowerShell's conversion of
            // $null to string), and so are they here.
            var agent = new IntegrationAgent
            {
                AgentId = AgentId ?? "",
                Name = Name ?? "",
                ClientId = ClientId ?? "",
                SerialNumber = SerialNumber ?? "",
                OSName = OSName ?? "",
                Manufacturer = Manufacturer ?? "",
                IsOnline = IsOnline,
                AgentVersion = AgentVersion,
                SupportsRunningScripts = SupportsRunningScripts,
                SupportsOnlineStatus = SupportsOnlineStatus,
            };
            if (MyInvocation.BoundParameters.ContainsKey("InternalData")) agent.InternalData = InternalData;
            UnboundArguments.CopyTo(ExtraParameters, "New-IntegrationAgent", agent.Extra);
            WriteObject(agent);
        }
    }

    /// <summary>Binds a [bool] parameter of a cmdlet the way a function's [bool] parameter binds:
    /// Booleans and numbers only, with the function's message for anything else (a string such
    /// as 'true', or $null).</summary>
    [AttributeUsage(AttributeTargets.Field | AttributeTargets.Property)]
    internal sealed class ScriptBoolTransformationAttribute : ArgumentTransformationAttribute
    {
        public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
        {
            object v = Compat.Unwrap(inputData);
            switch (v)
            {
                case bool b: return b;
                case SwitchParameter sw: return sw.IsPresent;
                case sbyte or byte or short or ushort or int or uint or long or ulong or float or double or decimal or System.Numerics.BigInteger:
                    return LanguagePrimitives.IsTrue(v);
            }
            string shown = v == null ? "" : v.GetType().FullName;
            throw new ArgumentTransformationMetadataException(
                "Cannot convert value \"" + shown + "\" to type \"System.Boolean\". Boolean parameters accept only Boolean values and numbers, such as $True, $False, 1 or 0.");
        }
    }

    /// <summary>The ValueFromRemainingArguments handling the New-Integration* cmdlets share.</summary>
    internal static class UnboundArguments
    {
        private static readonly Regex NameToken = new Regex(@"^-([A-Za-z_][\w]*):?$", RegexOptions.CultureInvariant);

        // CopyTo turns the remaining arguments (-Name value pairs as PowerShell leaves them;
        // -Name:value arrives as one "-Name:" token followed by the value; a bare -Switch
        // becomes $true) into entries of extra. A positional value ends the script, like the
        // functions' throw did, at the caller's line.
        internal static void CopyTo(object[] args, string command, Hashtable extra)
        {
            if (args == null || args.Length == 0) return;
            int i = 0;
            while (i < args.Length)
            {
                object token = args[i];
                string name = null;
                if (Compat.Unwrap(token) is string s)
                {
                    var m = NameToken.Match(s);
                    if (m.Success) name = m.Groups[1].Value;
                }
                if (name == null)
                {
                    Stop(command, new ArgumentException(command + ": unexpected positional argument '" + Compat.Str(token) + "'. Pass values as -Name value."));
                }
                bool hasValue = i + 1 < args.Length && !(Compat.Unwrap(args[i + 1]) is string next && NameToken.IsMatch(next));
                if (((string)Compat.Unwrap(token)).EndsWith(":", StringComparison.Ordinal) || hasValue)
                {
                    extra[name] = i + 1 < args.Length ? args[i + 1] : null;
                    i += 2;
                }
                else
                {
                    extra[name] = true;
                    i += 1;
                }
            }
        }

        private static readonly PropertyInfo ThrownFromThrowStatement =
            typeof(RuntimeException).GetProperty("WasThrownFromThrowStatement", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public);

        // Stop ends the script like the throw statement of a function would (script-terminating,
        // not only the statement), with an error record placed at the caller's line.
        private static void Stop(string command, Exception exception)
        {
            // The fully qualified id the function's error had ("PositionalArgument,<command>").
            var record = new ErrorRecord(exception, "PositionalArgument," + command, ErrorCategory.InvalidArgument, null);
            var rte = new RuntimeException(exception.Message, exception, record);
            try { ThrownFromThrowStatement?.SetValue(rte, true); } catch { }
            throw rte;
        }
    }
}
