// Describes script blocks from PowerShell's own AST: parameters (the Init form), timeouts and periods.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using System.Text.Json.Nodes;

namespace PSBridge.Host
{
    /// <summary>Extracts parameter schemas and method settings from script block ASTs.</summary>
    public static class HostSchema
    {
        // Import-Module's parameters that take no value; every other named parameter takes the
        // element after it (unless written -Name:value).
        private static readonly HashSet<string> ImportSwitches = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
        {
            "Force", "Global", "PassThru", "AsCustomObject", "DisableNameChecking", "NoClobber", "SkipEditionCheck",
            "UseWindowsPowerShell", "Verbose", "Debug", "WhatIf", "Confirm",
        };

        /// <summary>
        /// Lists the modules a script imports by a constant name: <c>Import-Module NAME</c> (or
        /// <c>ipmo</c>, <c>-Name</c>, a list of names) anywhere in it, and <c>#Requires -Modules</c>.
        /// Each entry has the name, the line, how it is imported and whether pwsh has it (built in,
        /// or on PSModulePath). Names that are paths or variables are left out. (A missing
        /// <c>using module</c> fails to parse already, naming the module.)
        /// </summary>
        public static JsonArray DescribeImports(ScriptBlockAst ast)
        {
            var list = new JsonArray();
            if (ast == null) return list;
            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            void Add(string name, int line, string how)
            {
                if (string.IsNullOrWhiteSpace(name) || name.IndexOfAny(new[] { '/', '\\', '$' }) >= 0 || name.EndsWith(".psm1", StringComparison.OrdinalIgnoreCase)
                    || name.EndsWith(".psd1", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)
                    || name.EndsWith(".ps1", StringComparison.OrdinalIgnoreCase) || !seen.Add(name)) return;
                list.Add(new JsonObject { ["name"] = name, ["line"] = line, ["how"] = how, ["available"] = ModuleAvailable(name) });
            }
            if (ast.ScriptRequirements != null)
            {
                foreach (var m in ast.ScriptRequirements.RequiredModules) Add(m.Name, 1, "#Requires -Modules");
            }
            foreach (var u in ast.UsingStatements)
            {
                if (u.UsingStatementKind == UsingStatementKind.Module && u.Name != null) Add(u.Name.Value, u.Extent.StartLineNumber, "using module");
            }
            foreach (CommandAst cmd in ast.FindAll(a => a is CommandAst, true))
            {
                string verb = cmd.GetCommandName();
                if (!string.Equals(verb, "Import-Module", StringComparison.OrdinalIgnoreCase) && !string.Equals(verb, "ipmo", StringComparison.OrdinalIgnoreCase)) continue;
                var elements = cmd.CommandElements;
                for (int i = 1; i < elements.Count; i++)
                {
                    if (elements[i] is CommandParameterAst param)
                    {
                        bool isName = "Name".StartsWith(param.ParameterName, StringComparison.OrdinalIgnoreCase) && param.ParameterName.Length > 0;
                        if (param.Argument != null)
                        {
                            if (isName) foreach (string n in ConstantNames(param.Argument)) Add(n, cmd.Extent.StartLineNumber, "Import-Module");
                            continue;
                        }
                        if (ImportSwitches.Contains(param.ParameterName)) continue;
                        if (isName && i + 1 < elements.Count)
                        {
                            foreach (string n in ConstantNames(elements[i + 1])) Add(n, cmd.Extent.StartLineNumber, "Import-Module");
                        }
                        i++; // the parameter's value
                        continue;
                    }
                    // The first positional argument is -Name.
                    foreach (string n in ConstantNames(elements[i])) Add(n, cmd.Extent.StartLineNumber, "Import-Module");
                    break;
                }
            }
            return list;
        }

        // ConstantNames returns the constant strings of a name argument: 'A' or 'A','B'.
        private static IEnumerable<string> ConstantNames(Ast arg)
        {
            switch (arg)
            {
                case StringConstantExpressionAst s:
                    yield return s.Value;
                    break;
                case ArrayLiteralAst a:
                    foreach (var e in a.Elements) if (e is StringConstantExpressionAst es) yield return es.Value;
                    break;
            }
        }

        // ModuleAvailable reports whether pwsh has a module without psbridge's help: the PSBridge
        // module itself, or a module folder or file on PSModulePath.
        private static bool ModuleAvailable(string name)
        {
            if (string.Equals(name, "PSBridge", StringComparison.OrdinalIgnoreCase)) return true;
            string path = Environment.GetEnvironmentVariable("PSModulePath") ?? "";
            foreach (string dir in path.Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            {
                try
                {
                    if (System.IO.Directory.Exists(System.IO.Path.Combine(dir, name))) return true;
                    if (System.IO.Directory.Exists(dir) && System.IO.Directory.EnumerateDirectories(dir)
                        .Any(d => string.Equals(System.IO.Path.GetFileName(d), name, StringComparison.OrdinalIgnoreCase))) return true;
                }
                catch (Exception) { }
            }
            return false;
        }

        /// <summary>Describes one method block: parameters, [ScriptTimeout] and [JobSettings].</summary>
        public static JsonObject DescribeBlock(ScriptBlock block, string interfaceName)
        {
            var result = new JsonObject();
            if (interfaceName != null) result["interface"] = interfaceName;
            var ast = block.Ast as ScriptBlockAst;
            var parameters = new JsonArray();
            if (ast?.ParamBlock != null)
            {
                CommentHelpInfo help = null;
                try { help = ast.GetHelpContent(); } catch { }
                foreach (ParameterAst p in ast.ParamBlock.Parameters) parameters.Add(DescribeParameter(p, help));
                foreach (AttributeAst a in ast.ParamBlock.Attributes)
                {
                    string n = AttributeName(a);
                    if (n == "scripttimeout") result["timeoutSeconds"] = NamedInt(a, "TimeoutSeconds") ?? PositionalInt(a);
                    if (n == "jobsettings") result["periodMinutes"] = NamedInt(a, "PeriodMinutes") ?? PositionalInt(a);
                }
            }
            result["parameters"] = parameters;
            return result;
        }

        /// <summary>Names of the parameters a block declares (case-insensitive set).</summary>
        public static Dictionary<string, ParameterAst> DeclaredParameters(ScriptBlock block)
        {
            var map = new Dictionary<string, ParameterAst>(StringComparer.OrdinalIgnoreCase);
            if (block.Ast is ScriptBlockAst ast && ast.ParamBlock != null)
            {
                foreach (ParameterAst p in ast.ParamBlock.Parameters) map[p.Name.VariablePath.UserPath] = p;
            }
            return map;
        }

        /// <summary>True when the parameter carries [Password(...)].</summary>
        public static bool IsPassword(ParameterAst p)
        {
            return p.Attributes.OfType<AttributeAst>().Any(a => AttributeName(a) == "password");
        }

        /// <summary>The normalised lower-case type name of a parameter ("" when untyped).</summary>
        public static string TypeName(ParameterAst p)
        {
            var tc = p.Attributes.OfType<TypeConstraintAst>().LastOrDefault();
            return tc == null ? "" : tc.TypeName.FullName.ToLowerInvariant();
        }

        private static string AttributeName(AttributeBaseAst a)
        {
            string n = a.TypeName.Name.ToLowerInvariant();
            int dot = n.LastIndexOf('.');
            if (dot >= 0) n = n.Substring(dot + 1);
            if (n.EndsWith("attribute", StringComparison.Ordinal) && n.Length > 9) n = n.Substring(0, n.Length - 9);
            return n;
        }

        private static object Value(ExpressionAst e)
        {
            if (e == null) return null;
            if (e is VariableExpressionAst v)
            {
                string name = v.VariablePath.UserPath.ToLowerInvariant();
                if (name == "true") return true;
                if (name == "false") return false;
                if (name == "null") return null;
            }
            try { return e.SafeGetValue(); } catch { return e.Extent.Text; }
        }

        private static object Named(AttributeAst a, string name, out bool found)
        {
            foreach (NamedAttributeArgumentAst n in a.NamedArguments)
            {
                if (string.Equals(n.ArgumentName, name, StringComparison.OrdinalIgnoreCase))
                {
                    found = true;
                    return n.ExpressionOmitted ? true : Value(n.Argument);
                }
            }
            found = false;
            return null;
        }

        private static int? NamedInt(AttributeAst a, string name)
        {
            object v = Named(a, name, out bool found);
            if (!found) return null;
            try { return Convert.ToInt32(v, System.Globalization.CultureInfo.InvariantCulture); } catch { return null; }
        }

        private static int? PositionalInt(AttributeAst a)
        {
            if (a.PositionalArguments.Count == 0) return null;
            try { return Convert.ToInt32(Value(a.PositionalArguments[0]), System.Globalization.CultureInfo.InvariantCulture); } catch { return null; }
        }

        private static bool Truthy(object v)
        {
            if (v is bool b) return b;
            try { return LanguagePrimitives.IsTrue(v); } catch { return false; }
        }

        private static string NormaliseType(string psType)
        {
            switch (psType)
            {
                case "": return "";
                case "string": case "system.string": return "string";
                case "int": case "int32": case "system.int32": case "long": case "int64": case "system.int64": return "int";
                case "bool": case "boolean": case "system.boolean": return "bool";
                case "switch": case "switchparameter": case "system.management.automation.switchparameter": return "switch";
                case "uri": case "system.uri": return "uri";
                case "datetime": case "system.datetime": return "datetime";
                case "string[]": case "system.string[]": return "string[]";
                case "int[]": case "system.int32[]": return "int[]";
                case "securestring": case "system.security.securestring": return "securestring";
                case "double": case "decimal": case "float": case "single": return "number";
                case "guid": case "system.guid": return "guid";
                default: return psType;
            }
        }

        /// <summary>The prefix and suffix of the marker that stands for a static parameter's value while
        /// the dynamicparam block is described (no values are bound then): an OAuth consent
        /// field's endpoints and client id/secret keep the marker, and psbridge substitutes the
        /// instance's value when it runs the consent flow. Letters, digits and dashes only, so the
        /// marker survives string interpolation and URLs.</summary>
        public const string MarkerPrefix = "x-psbparam-", MarkerSuffix = "-x";

        /// <summary>A script block made of the statements of block's dynamicparam block (null when
        /// it has none), to run on its own with static parameters set as variables.</summary>
        public static ScriptBlock DynamicParamBlock(ScriptBlock block)
        {
            if (!(block?.Ast is ScriptBlockAst ast) || ast.DynamicParamBlock == null) return null;
            NamedBlockAst dp = ast.DynamicParamBlock;
            var statements = new StatementBlockAst(dp.Extent,
                dp.Statements.Select(s => (StatementAst)s.Copy()),
                dp.Traps?.Select(t => (TrapStatementAst)t.Copy()));
            var end = new NamedBlockAst(dp.Extent, TokenKind.End, statements, false);
            return new ScriptBlockAst(dp.Extent, null, null, null, end, null).GetScriptBlock();
        }

        /// <summary>Describes what a dynamicparam block returned (RuntimeDefinedParameters, or a
        /// dictionary of them) as form parameters marked "dynamic". New-HelpText entries become
        /// type "helptext", New-OAuthConsentParameter entries type "oauthconsent" with their
        /// settings under "oauthConsent".</summary>
        public static JsonArray DescribeDynamic(IEnumerable<object> output)
        {
            var list = new List<RuntimeDefinedParameter>();
            foreach (object o in output)
            {
                object v = o is PSObject pso ? pso.BaseObject : o;
                if (v is RuntimeDefinedParameter rdp) list.Add(rdp);
                else if (v is RuntimeDefinedParameterDictionary dict) list.AddRange(dict.Values);
            }
            var result = new JsonArray();
            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (RuntimeDefinedParameter p in list)
            {
                if (p == null || string.IsNullOrEmpty(p.Name) || !seen.Add(p.Name)) continue;
                result.Add(DescribeRuntimeParameter(p));
            }
            return result;
        }

        private static JsonObject DescribeRuntimeParameter(RuntimeDefinedParameter p)
        {
            var o = new JsonObject { ["name"] = p.Name };
            string psType = p.ParameterType == null ? "" : (p.ParameterType.FullName ?? p.ParameterType.Name).ToLowerInvariant();
            if (psType == "system.object") psType = "";
            string type = NormaliseType(psType);
            bool mandatory = false;
            foreach (Attribute a in p.Attributes)
            {
                switch (a)
                {
                    case ParameterAttribute pa:
                        mandatory |= pa.Mandatory;
                        if (!string.IsNullOrEmpty(pa.HelpMessage)) o["helpMessage"] = pa.HelpMessage;
                        if (pa.Position != int.MinValue) o["position"] = pa.Position;
                        break;
                    case PasswordAttribute pw:
                        o["password"] = true;
                        o["stripValue"] = pw.StripValue;
                        break;
                    case DisplayNameAttribute dn:
                        if (!string.IsNullOrEmpty(dn.DisplayName)) o["displayName"] = dn.DisplayName;
                        break;
                    case ValidateSetAttribute vs:
                        var set = new JsonArray();
                        foreach (string s in vs.ValidValues) set.Add(s);
                        o["validateSet"] = set;
                        break;
                    case ValidateNotNullOrEmptyAttribute _:
                        o["notEmpty"] = true;
                        break;
                    case PSBridge.HelpTextAttribute ht:
                        type = "helptext";
                        if (!string.IsNullOrEmpty(ht.Text)) o["helpMessage"] = ht.Text;
                        break;
                    case OAuthConsentAttribute oc:
                        type = "oauthconsent";
                        var c = new JsonObject();
                        void Put(string key, object val) { string sv = val == null ? null : Convert.ToString(val, System.Globalization.CultureInfo.InvariantCulture); if (!string.IsNullOrEmpty(sv)) c[key] = sv; }
                        Put("authorizationEndpoint", oc.AuthorizationEndpoint);
                        Put("tokenEndpoint", oc.TokenEndpoint);
                        Put("responseType", oc.ResponseType);
                        Put("resource", oc.Resource);
                        Put("scope", oc.Scope);
                        Put("clientId", oc.ClientId);
                        // Only a reference to a parameter (its marker) or a literal from the script
                        // text: never a value of an instance, since none is bound here.
                        Put("clientSecret", oc.ClientSecret);
                        if (oc.UsePkce) c["usePkce"] = true;
                        if (oc.ExtraQueryParameters is System.Collections.IDictionary extra)
                        {
                            var q = new JsonObject();
                            foreach (System.Collections.DictionaryEntry e in extra) q[Convert.ToString(e.Key)] = Convert.ToString(e.Value, System.Globalization.CultureInfo.InvariantCulture);
                            c["extraQueryParameters"] = q;
                        }
                        o["oauthConsent"] = c;
                        break;
                }
            }
            if (type == "helptext") mandatory = false;
            o["type"] = type;
            if (psType != "" && psType != type && type != "oauthconsent" && type != "helptext") o["psType"] = psType;
            o["mandatory"] = mandatory;
            o["dynamic"] = true;
            if (p.Value != null && type != "oauthconsent") o["default"] = HostJson.ToNode(p.Value is PSObject pv ? pv.BaseObject : p.Value);
            return o;
        }

        private static JsonObject DescribeParameter(ParameterAst p, CommentHelpInfo help)
        {
            string name = p.Name.VariablePath.UserPath;
            var o = new JsonObject { ["name"] = name };
            string psType = TypeName(p);
            string type = NormaliseType(psType);
            o["type"] = type;
            if (psType != "" && psType != type) o["psType"] = psType;
            bool mandatory = false;
            foreach (AttributeAst a in p.Attributes.OfType<AttributeAst>())
            {
                switch (AttributeName(a))
                {
                    case "parameter":
                        object m = Named(a, "Mandatory", out bool hasMandatory);
                        if (hasMandatory) mandatory = Truthy(m);
                        object pos = Named(a, "Position", out bool hasPos);
                        if (hasPos && pos != null) o["position"] = JsonValue.Create(Convert.ToInt32(pos, System.Globalization.CultureInfo.InvariantCulture));
                        object hm = Named(a, "HelpMessage", out bool hasHelp);
                        if (hasHelp && hm != null) o["helpMessage"] = hm.ToString();
                        break;
                    case "password":
                        o["password"] = true;
                        object strip = Named(a, "StripValue", out bool hasStrip);
                        o["stripValue"] = hasStrip && Truthy(strip);
                        break;
                    case "displayname":
                        if (a.PositionalArguments.Count > 0) o["displayName"] = Convert.ToString(Value(a.PositionalArguments[0]));
                        else
                        {
                            object dn = Named(a, "DisplayName", out bool hasDn);
                            if (hasDn) o["displayName"] = Convert.ToString(dn);
                        }
                        break;
                    case "validateset":
                        var set = new JsonArray();
                        foreach (ExpressionAst e in a.PositionalArguments) set.Add(Convert.ToString(Value(e)));
                        o["validateSet"] = set;
                        break;
                    case "validaterange":
                        if (a.PositionalArguments.Count == 2)
                            o["validateRange"] = new JsonArray(HostJson.ToNode(Value(a.PositionalArguments[0])), HostJson.ToNode(Value(a.PositionalArguments[1])));
                        break;
                    case "validatepattern":
                        if (a.PositionalArguments.Count > 0) o["validatePattern"] = Convert.ToString(Value(a.PositionalArguments[0]));
                        break;
                    case "validatelength":
                        if (a.PositionalArguments.Count == 2)
                            o["validateLength"] = new JsonArray(HostJson.ToNode(Value(a.PositionalArguments[0])), HostJson.ToNode(Value(a.PositionalArguments[1])));
                        break;
                    case "validatenotnullorempty":
                        o["notEmpty"] = true;
                        break;
                }
            }
            o["mandatory"] = mandatory;
            if (p.DefaultValue != null)
            {
                object dv = Value(p.DefaultValue);
                if (dv is string s && s == p.DefaultValue.Extent.Text && !(p.DefaultValue is StringConstantExpressionAst))
                    o["defaultExpression"] = s;
                else
                    o["default"] = HostJson.ToNode(dv);
            }
            if (!o.ContainsKey("helpMessage") && help?.Parameters != null)
            {
                if (help.Parameters.TryGetValue(name.ToUpperInvariant(), out string text) && !string.IsNullOrWhiteSpace(text))
                    o["helpMessage"] = text.Trim();
            }
            return o;
        }
    }
}
