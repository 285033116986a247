// Conversion between PowerShell values and JSON for the worker protocol (docs/protocol.md).
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Management.Automation;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PSBridge.Host
{
    /// <summary>Converts PowerShell values to JSON nodes and back.</summary>
    public static class HostJson
    {
        /// <summary>Deepest nesting written; deeper values are written as their string form.</summary>
        public const int MaxDepth = 64;

        /// <summary>Options used to write every protocol message.</summary>
        public static readonly JsonSerializerOptions WriteOptions = new JsonSerializerOptions { MaxDepth = 512 };

        /// <summary>Options used to read every protocol message.</summary>
        public static readonly JsonNodeOptions NodeOptions = new JsonNodeOptions { PropertyNameCaseInsensitive = false };

        /// <summary>Options used to parse every protocol message.</summary>
        public static readonly JsonDocumentOptions DocumentOptions = new JsonDocumentOptions { MaxDepth = 512 };

        /// <summary>Converts a value produced by a script into a JSON node.</summary>
        public static JsonNode ToNode(object value)
        {
            return ToNode(value, 0, new HashSet<object>(ReferenceEqualityComparer.Instance), false);
        }

        /// <summary>The property that marks a typed value in <see cref="ToTypedNode"/> output.</summary>
        public const string TypeTag = "$psbridgeType";

        /// <summary>Like <see cref="ToNode(object)"/>, but keeps the .NET type of values that plain
        /// JSON would turn into strings ([uri], [version], [datetime], [guid], [timespan]) as
        /// {"$psbridgeType": "uri", "value": "…"}, so $IntegrationContext survives a round trip
        /// through Go with its types.</summary>
        public static JsonNode ToTypedNode(object value)
        {
            return ToNode(value, 0, new HashSet<object>(ReferenceEqualityComparer.Instance), true);
        }

        private static JsonNode Tagged(string type, string value)
        {
            return new JsonObject { [TypeTag] = type, ["value"] = value };
        }

        private static bool IsCompatType(Type t)
        {
            string ns = t.Namespace ?? "";
            return t.Assembly == typeof(HostJson).Assembly
                || ns.StartsWith("Immybot", StringComparison.Ordinal)
                || ns.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal)
                || ns.StartsWith("DotNext", StringComparison.Ordinal);
        }

        private static string CamelCase(string name)
        {
            if (string.IsNullOrEmpty(name) || char.IsLower(name[0])) return name;
            // "OSName" -> "osName", "ClientId" -> "clientId"
            int upper = 0;
            while (upper < name.Length && char.IsUpper(name[upper])) upper++;
            if (upper == 1) return char.ToLowerInvariant(name[0]) + name.Substring(1);
            if (upper >= name.Length) return name.ToLowerInvariant();
            return name.Substring(0, upper - 1).ToLowerInvariant() + name.Substring(upper - 1);
        }

        private static JsonNode ToNode(object value, int depth, HashSet<object> path, bool typed)
        {
            if (value == null) return null;
            if (value is PSObject pso)
            {
                object baseObject = pso.BaseObject;
                if (baseObject is PSCustomObject)
                {
                    if (depth >= MaxDepth) return JsonValue.Create(pso.ToString());
                    if (!path.Add(pso)) return JsonValue.Create("[circular reference]");
                    try
                    {
                        var obj = new JsonObject();
                        foreach (PSPropertyInfo prop in pso.Properties)
                        {
                            object v;
                            try { v = prop.Value; } catch { continue; }
                            obj[prop.Name] = ToNode(v, depth + 1, path, typed);
                        }
                        return obj;
                    }
                    finally { path.Remove(pso); }
                }
                value = baseObject;
            }
            if (value == System.Management.Automation.Internal.AutomationNull.Value) return null;
            if (typed)
            {
                switch (value)
                {
                    case Uri tu: return Tagged("uri", tu.ToString());
                    case Version tv: return Tagged("version", tv.ToString());
                    case DateTime tdt: return Tagged("datetime", tdt.ToString("o", CultureInfo.InvariantCulture));
                    case DateTimeOffset tdo: return Tagged("datetimeoffset", tdo.ToString("o", CultureInfo.InvariantCulture));
                    case Guid tg: return Tagged("guid", tg.ToString());
                    case TimeSpan tts: return Tagged("timespan", tts.ToString("c", CultureInfo.InvariantCulture));
                }
            }
            switch (value)
            {
                case string s: return JsonValue.Create(s);
                case char c: return JsonValue.Create(c.ToString());
                case bool b: return JsonValue.Create(b);
                case int i: return JsonValue.Create(i);
                case long l: return JsonValue.Create(l);
                case short sh: return JsonValue.Create((long)sh);
                case byte by: return JsonValue.Create((long)by);
                case sbyte sb: return JsonValue.Create((long)sb);
                case ushort us: return JsonValue.Create((long)us);
                case uint ui: return JsonValue.Create((long)ui);
                case ulong ul: return JsonValue.Create(ul);
                case float f: return float.IsFinite(f) ? JsonValue.Create((double)f) : JsonValue.Create(f.ToString(CultureInfo.InvariantCulture));
                case double d: return double.IsFinite(d) ? JsonValue.Create(d) : JsonValue.Create(d.ToString(CultureInfo.InvariantCulture));
                case decimal m: return JsonValue.Create(m);
                case System.Numerics.BigInteger bi: return JsonValue.Create(bi.ToString(CultureInfo.InvariantCulture));
                case DateTime dt: return JsonValue.Create(dt.ToString("o", CultureInfo.InvariantCulture));
                case DateTimeOffset dto: return JsonValue.Create(dto.ToString("o", CultureInfo.InvariantCulture));
                case TimeSpan ts: return JsonValue.Create(ts.ToString("c", CultureInfo.InvariantCulture));
                case Guid g: return JsonValue.Create(g.ToString());
                case Uri u: return JsonValue.Create(u.ToString());
                case Version ver: return JsonValue.Create(ver.ToString());
                case SemanticVersion sv: return JsonValue.Create(sv.ToString());
                case Enum e: return JsonValue.Create(e.ToString());
                case ScriptBlock block: return JsonValue.Create(block.ToString());
                case System.Security.SecureString _: return JsonValue.Create("********");
                case byte[] bytes: return JsonValue.Create(Convert.ToBase64String(bytes));
                case Type t: return JsonValue.Create(t.FullName);
                case System.IO.Stream _: return JsonValue.Create("[stream]");
            }
            if (depth >= MaxDepth) return JsonValue.Create(value.ToString());
            if (!path.Add(value)) return JsonValue.Create("[circular reference]");
            try
            {
                if (value is IDictionary dict)
                {
                    var obj = new JsonObject();
                    foreach (DictionaryEntry entry in dict)
                    {
                        string key = Convert.ToString(entry.Key, CultureInfo.InvariantCulture) ?? "";
                        obj[key] = ToNode(entry.Value, depth + 1, path, typed);
                    }
                    return obj;
                }
                Type type = value.GetType();
                if (value is IEnumerable seq && !IsCompatType(type))
                {
                    var arr = new JsonArray();
                    foreach (object item in seq) arr.Add(ToNode(item, depth + 1, path, typed));
                    return arr;
                }
                return PropertiesToNode(value, type, depth, path, IsCompatType(type), typed);
            }
            finally { path.Remove(value); }
        }

        /// <summary>A readable, public, non-indexed, non-[Hidden] property of a type and the name
        /// it is written under.</summary>
        private sealed class WrittenProperty
        {
            internal PropertyInfo Info;
            internal string Name;
        }

        /// <summary>The properties PropertiesToNode writes, per type and naming (camelCase or not).
        /// Looking them up with reflection for every object cost more than writing them: a
        /// GetAgents returning 10,000 agents reflected over the same type 10,000 times. Types are
        /// never unloaded in a worker, so the cache only grows with the number of types written.</summary>
        private static readonly System.Collections.Concurrent.ConcurrentDictionary<(Type, bool), WrittenProperty[]> WrittenProperties =
            new System.Collections.Concurrent.ConcurrentDictionary<(Type, bool), WrittenProperty[]>();

        private static WrittenProperty[] PropertiesOf(Type type, bool camel)
        {
            return WrittenProperties.GetOrAdd((type, camel), key =>
            {
                var list = new List<WrittenProperty>();
                foreach (PropertyInfo prop in key.Item1.GetProperties(BindingFlags.Public | BindingFlags.Instance))
                {
                    if (prop.GetIndexParameters().Length > 0 || !prop.CanRead) continue;
                    if (prop.GetCustomAttribute<HiddenAttribute>() != null) continue;
                    list.Add(new WrittenProperty { Info = prop, Name = key.Item2 ? CamelCase(prop.Name) : prop.Name });
                }
                return list.ToArray();
            });
        }

        private static JsonNode PropertiesToNode(object value, Type type, int depth, HashSet<object> path, bool camel, bool typed)
        {
            var obj = new JsonObject();
            foreach (WrittenProperty prop in PropertiesOf(type, camel))
            {
                object v;
                try { v = prop.Info.GetValue(value); } catch { continue; }
                if (obj.ContainsKey(prop.Name)) continue;
                obj[prop.Name] = ToNode(v, depth + 1, path, typed);
            }
            return obj;
        }

        /// <summary>Converts a JSON node into a PowerShell value: objects become case-insensitive
        /// hashtables, arrays object[], numbers long or double.</summary>
        public static object FromNode(JsonNode node)
        {
            return FromNode(node, false);
        }

        /// <summary>Reads output of <see cref="ToTypedNode"/> back, restoring tagged types.</summary>
        public static object FromTypedNode(JsonNode node)
        {
            return FromNode(node, true);
        }

        private static object Untag(JsonObject obj)
        {
            if (obj.Count != 2 || !(obj[TypeTag] is JsonValue t) || !(obj["value"] is JsonValue v)) return null;
            string s = v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;
            if (s == null) return null;
            var inv = CultureInfo.InvariantCulture;
            switch (t.GetValueKind() == JsonValueKind.String ? t.GetValue<string>() : "")
            {
                case "uri": return Uri.TryCreate(s, UriKind.RelativeOrAbsolute, out var u) ? u : null;
                case "version": return Version.TryParse(s, out var ver) ? ver : null;
                case "datetime": return DateTime.TryParse(s, inv, DateTimeStyles.RoundtripKind, out var dt) ? dt : (object)null;
                case "datetimeoffset": return DateTimeOffset.TryParse(s, inv, DateTimeStyles.RoundtripKind, out var dto) ? dto : (object)null;
                case "guid": return Guid.TryParse(s, out var g) ? g : (object)null;
                case "timespan": return TimeSpan.TryParse(s, inv, out var ts) ? ts : (object)null;
            }
            return null;
        }

        private static object FromNode(JsonNode node, bool typed)
        {
            switch (node)
            {
                case null: return null;
                case JsonObject obj:
                    if (typed && obj.ContainsKey(TypeTag))
                    {
                        object restored = Untag(obj);
                        if (restored != null) return restored;
                    }
                    var table = new Hashtable(StringComparer.OrdinalIgnoreCase);
                    foreach (var kv in obj) table[kv.Key] = FromNode(kv.Value, typed);
                    return table;
                case JsonArray arr:
                    var list = new object[arr.Count];
                    for (int i = 0; i < arr.Count; i++) list[i] = FromNode(arr[i], typed);
                    return list;
                case JsonValue v:
                    switch (v.GetValueKind())
                    {
                        case JsonValueKind.String: return v.GetValue<string>();
                        case JsonValueKind.True: return true;
                        case JsonValueKind.False: return false;
                        case JsonValueKind.Null: return null;
                        case JsonValueKind.Number:
                            if (v.TryGetValue<long>(out long l)) return l;
                            if (v.TryGetValue<int>(out int i32)) return (long)i32;
                            if (v.TryGetValue<double>(out double d))
                            {
                                if (Math.Floor(d) == d && Math.Abs(d) < 9e15) return (long)d;
                                return d;
                            }
                            return v.ToJsonString();
                    }
                    return v.ToJsonString();
            }
            return null;
        }

        /// <summary>Reads a JSON object into a case-insensitive hashtable (null stays null).</summary>
        public static Hashtable ToHashtable(JsonNode node)
        {
            return FromNode(node) as Hashtable;
        }
    }
}
