// Compatibility types, part 3: the slice of ASP.NET Core that HandleHttpRequest blocks see
// (HttpContext and friends) and the IActionResult values they return.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net;
using System.Text;

namespace Microsoft.Extensions.Primitives
{
    /// <summary>Zero or more strings (a header or query value). Converts to a string implicitly
    /// (values joined with ","), compares equal to a string with the same text, and is falsy in
    /// PowerShell when empty.</summary>
    public readonly struct StringValues : IList<string>, IReadOnlyList<string>, IList, IEquatable<StringValues>, IEquatable<string>
    {
        private readonly string[] _values;

        public static readonly StringValues Empty = new StringValues(Array.Empty<string>());

        public StringValues(string value) { _values = value == null ? Array.Empty<string>() : new[] { value }; }

        public StringValues(string[] values) { _values = values ?? Array.Empty<string>(); }

        private string[] Values => _values ?? Array.Empty<string>();

        public int Count => Values.Length;

        public string this[int index] => Values[index];

        string IList<string>.this[int index] { get => Values[index]; set => throw new NotSupportedException(); }

        object IList.this[int index] { get => Values[index]; set => throw new NotSupportedException(); }

        bool ICollection<string>.IsReadOnly => true;
        bool IList.IsReadOnly => true;
        bool IList.IsFixedSize => true;
        bool ICollection.IsSynchronized => false;
        object ICollection.SyncRoot => Values;

        public static bool IsNullOrEmpty(StringValues value) { return value.Count == 0 || (value.Count == 1 && string.IsNullOrEmpty(value[0])); }

        public string[] ToArray() { return (string[])Values.Clone(); }

        public override string ToString() { return Values.Length == 0 ? string.Empty : Values.Length == 1 ? Values[0] ?? "" : string.Join(",", Values); }

        public static implicit operator string(StringValues v) { return v.Count == 0 ? null : v.ToString(); }
        public static implicit operator string[](StringValues v) { return v.ToArray(); }
        public static implicit operator StringValues(string v) { return new StringValues(v); }
        public static implicit operator StringValues(string[] v) { return new StringValues(v); }

        public bool Equals(StringValues other) { return Values.SequenceEqual(other.Values, StringComparer.Ordinal); }
        public bool Equals(string other) { return other == null ? Count == 0 : Count == 1 && string.Equals(Values[0], other, StringComparison.Ordinal); }

        public override bool Equals(object obj)
        {
            switch (obj)
            {
                case null: return Count == 0;
                case string s: return Equals(s);
                case StringValues sv: return Equals(sv);
                case string[] arr: return Equals(new StringValues(arr));
                default: return false;
            }
        }

        public override int GetHashCode() { return ToString().GetHashCode(); }
        public static bool operator ==(StringValues a, StringValues b) { return a.Equals(b); }
        public static bool operator !=(StringValues a, StringValues b) { return !a.Equals(b); }

        public IEnumerator<string> GetEnumerator() { return ((IEnumerable<string>)Values).GetEnumerator(); }
        IEnumerator IEnumerable.GetEnumerator() { return Values.GetEnumerator(); }
        public bool Contains(string item) { return Values.Contains(item); }
        public int IndexOf(string item) { return Array.IndexOf(Values, item); }
        public void CopyTo(string[] array, int arrayIndex) { Values.CopyTo(array, arrayIndex); }
        void ICollection.CopyTo(Array array, int index) { Values.CopyTo(array, index); }
        bool IList.Contains(object value) { return value is string s && Contains(s); }
        int IList.IndexOf(object value) { return value is string s ? IndexOf(s) : -1; }
        void IList<string>.Insert(int index, string item) { throw new NotSupportedException(); }
        void IList<string>.RemoveAt(int index) { throw new NotSupportedException(); }
        void ICollection<string>.Add(string item) { throw new NotSupportedException(); }
        void ICollection<string>.Clear() { throw new NotSupportedException(); }
        bool ICollection<string>.Remove(string item) { throw new NotSupportedException(); }
        int IList.Add(object value) { throw new NotSupportedException(); }
        void IList.Clear() { throw new NotSupportedException(); }
        void IList.Insert(int index, object value) { throw new NotSupportedException(); }
        void IList.Remove(object value) { throw new NotSupportedException(); }
        void IList.RemoveAt(int index) { throw new NotSupportedException(); }

        internal static StringValues From(object v)
        {
            if (v is System.Management.Automation.PSObject p) v = p.BaseObject;
            switch (v)
            {
                case null: return Empty;
                case string s: return new StringValues(s);
                case StringValues sv: return sv;
                case IEnumerable seq:
                    var list = new List<string>();
                    foreach (object o in seq) list.Add(PSBridge.Compat.Str(o) ?? "");
                    return new StringValues(list.ToArray());
                default: return new StringValues(PSBridge.Compat.Str(v));
            }
        }
    }
}

namespace Microsoft.AspNetCore.Http
{
    using Microsoft.Extensions.Primitives;

    /// <summary>A case-insensitive name → StringValues map (request/response headers, query).
    /// A missing name reads as an empty StringValues, never an error.</summary>
    public class StringValuesDictionary : IDictionary<string, StringValues>, IDictionary
    {
        private readonly Dictionary<string, StringValues> _map = new Dictionary<string, StringValues>(StringComparer.OrdinalIgnoreCase);

        public StringValues this[string key]
        {
            get => key != null && _map.TryGetValue(key, out StringValues v) ? v : StringValues.Empty;
            set { if (key == null) throw new ArgumentNullException(nameof(key)); _map[key] = value; }
        }

        object IDictionary.this[object key]
        {
            get => this[PSBridge.Compat.Str(key)];
            set => this[PSBridge.Compat.Str(key)] = StringValues.From(value);
        }

        public ICollection<string> Keys => _map.Keys;
        public ICollection<StringValues> Values => _map.Values;
        ICollection IDictionary.Keys => _map.Keys.ToArray();
        ICollection IDictionary.Values => _map.Values.Select(v => (object)v).ToArray();
        public int Count => _map.Count;
        public bool IsReadOnly => false;
        bool IDictionary.IsFixedSize => false;
        bool ICollection.IsSynchronized => false;
        object ICollection.SyncRoot => _map;

        public void Add(string key, StringValues value) { _map.Add(key, value); }
        public void Add(KeyValuePair<string, StringValues> item) { _map.Add(item.Key, item.Value); }
        void IDictionary.Add(object key, object value) { Add(PSBridge.Compat.Str(key), StringValues.From(value)); }
        public void Append(string key, string value)
        {
            _map[key] = _map.TryGetValue(key, out StringValues old) ? new StringValues(old.ToArray().Concat(new[] { value }).ToArray()) : new StringValues(value);
        }
        public void Clear() { _map.Clear(); }
        public bool Contains(KeyValuePair<string, StringValues> item) { return _map.TryGetValue(item.Key, out StringValues v) && v.Equals(item.Value); }
        bool IDictionary.Contains(object key) { return key != null && ContainsKey(PSBridge.Compat.Str(key)); }
        public bool ContainsKey(string key) { return key != null && _map.ContainsKey(key); }
        public void CopyTo(KeyValuePair<string, StringValues>[] array, int arrayIndex) { ((ICollection<KeyValuePair<string, StringValues>>)_map).CopyTo(array, arrayIndex); }
        void ICollection.CopyTo(Array array, int index) { ((ICollection)_map).CopyTo(array, index); }
        public bool Remove(string key) { return _map.Remove(key); }
        public bool Remove(KeyValuePair<string, StringValues> item) { return Contains(item) && _map.Remove(item.Key); }
        void IDictionary.Remove(object key) { if (key != null) _map.Remove(PSBridge.Compat.Str(key)); }
        public bool TryGetValue(string key, out StringValues value) { return _map.TryGetValue(key, out value); }
        public IEnumerator<KeyValuePair<string, StringValues>> GetEnumerator() { return _map.GetEnumerator(); }
        IEnumerator IEnumerable.GetEnumerator() { return ((IDictionary)_map).GetEnumerator(); }
        IDictionaryEnumerator IDictionary.GetEnumerator() { return ((IDictionary)_map).GetEnumerator(); }

        internal void Load(object source)
        {
            if (source is System.Management.Automation.PSObject p) source = p.BaseObject;
            if (!(source is IDictionary d)) return;
            foreach (DictionaryEntry e in d)
            {
                string k = PSBridge.Compat.Str(e.Key);
                if (!string.IsNullOrEmpty(k)) _map[k] = StringValues.From(e.Value);
            }
        }
    }

    /// <summary>Request or response headers (ASP.NET's IHeaderDictionary).</summary>
    public sealed class HeaderDictionary : StringValuesDictionary
    {
        public long? ContentLength
        {
            get => long.TryParse(this["Content-Length"].ToString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long n) ? n : (long?)null;
            set { if (value == null) Remove("Content-Length"); else this["Content-Length"] = value.Value.ToString(CultureInfo.InvariantCulture); }
        }
    }

    /// <summary>Parsed query string (ASP.NET's IQueryCollection).</summary>
    public sealed class QueryCollection : StringValuesDictionary
    {
        /// <summary>Parses "?a=1&amp;b=x+y" (leading '?' optional).</summary>
        public static QueryCollection Parse(string queryString)
        {
            var q = new QueryCollection();
            if (string.IsNullOrEmpty(queryString)) return q;
            foreach (string part in queryString.TrimStart('?').Split('&'))
            {
                if (part.Length == 0) continue;
                int eq = part.IndexOf('=');
                string name = Decode(eq < 0 ? part : part.Substring(0, eq));
                string value = eq < 0 ? "" : Decode(part.Substring(eq + 1));
                q.Append(name, value);
            }
            return q;
        }

        private static string Decode(string s) { return Uri.UnescapeDataString(s.Replace('+', ' ')); }
    }

    /// <summary>Form fields of an application/x-www-form-urlencoded request.</summary>
    public sealed class FormCollection : StringValuesDictionary
    {
    }

    /// <summary>A request path ("/webhook/x"); .Value is the text, null when absent.</summary>
    public readonly struct PathString : IEquatable<PathString>
    {
        public PathString(string value)
        {
            if (!string.IsNullOrEmpty(value) && value[0] != '/') throw new ArgumentException("The path in 'value' must start with '/'.", nameof(value));
            Value = string.IsNullOrEmpty(value) ? null : value;
        }

        public static readonly PathString Empty = new PathString(null);

        public string Value { get; }
        public bool HasValue => !string.IsNullOrEmpty(Value);

        public override string ToString() { return Value ?? string.Empty; }
        public string ToUriComponent() { return Value ?? string.Empty; }

        public bool StartsWithSegments(PathString other)
        {
            string v = Value ?? "", o = other.Value ?? "";
            if (o.Length == 0) return true;
            return v.StartsWith(o, StringComparison.OrdinalIgnoreCase) && (v.Length == o.Length || v[o.Length] == '/');
        }

        public bool StartsWithSegments(string other) { return StartsWithSegments(new PathString(other)); }

        public PathString Add(PathString other) { return new PathString((Value ?? "") + (other.Value ?? "")); }

        public bool Equals(PathString other) { return string.Equals(Value ?? "", other.Value ?? "", StringComparison.OrdinalIgnoreCase); }

        public override bool Equals(object obj)
        {
            if (obj is System.Management.Automation.PSObject p) obj = p.BaseObject;
            switch (obj)
            {
                case null: return !HasValue;
                case PathString ps: return Equals(ps);
                case string s: return string.Equals(Value ?? "", s, StringComparison.OrdinalIgnoreCase);
                default: return false;
            }
        }

        public override int GetHashCode() { return StringComparer.OrdinalIgnoreCase.GetHashCode(Value ?? ""); }
        public static bool operator ==(PathString a, PathString b) { return a.Equals(b); }
        public static bool operator !=(PathString a, PathString b) { return !a.Equals(b); }
        public static implicit operator PathString(string s) { return string.IsNullOrEmpty(s) ? Empty : new PathString(s.StartsWith("/", StringComparison.Ordinal) ? s : "/" + s); }
        public static implicit operator string(PathString p) { return p.ToString(); }
    }

    /// <summary>The raw query string including its leading '?' (or "" when there is none).</summary>
    public readonly struct QueryString : IEquatable<QueryString>
    {
        public QueryString(string value) { Value = string.IsNullOrEmpty(value) ? null : (value[0] == '?' ? value : "?" + value); }

        public static readonly QueryString Empty = new QueryString(null);

        public string Value { get; }
        public bool HasValue => !string.IsNullOrEmpty(Value);

        public override string ToString() { return Value ?? string.Empty; }
        public string ToUriComponent() { return Value ?? string.Empty; }

        public static QueryString Create(string name, string value) { return new QueryString("?" + Uri.EscapeDataString(name) + "=" + Uri.EscapeDataString(value ?? "")); }

        public bool Equals(QueryString other) { return string.Equals(Value ?? "", other.Value ?? "", StringComparison.Ordinal); }

        public override bool Equals(object obj)
        {
            if (obj is System.Management.Automation.PSObject p) obj = p.BaseObject;
            switch (obj)
            {
                case null: return !HasValue;
                case QueryString q: return Equals(q);
                case string s: return string.Equals(Value ?? "", s, StringComparison.Ordinal);
                default: return false;
            }
        }

        public override int GetHashCode() { return (Value ?? "").GetHashCode(); }
        public static implicit operator string(QueryString q) { return q.ToString(); }
    }

    /// <summary>The Host header: host name and optional port.</summary>
    public readonly struct HostString : IEquatable<HostString>
    {
        public HostString(string value) { Value = string.IsNullOrEmpty(value) ? null : value; }

        public HostString(string host, int port) { Value = host + ":" + port.ToString(CultureInfo.InvariantCulture); }

        public string Value { get; }
        public bool HasValue => !string.IsNullOrEmpty(Value);

        public string Host
        {
            get
            {
                string v = Value ?? "";
                if (v.StartsWith("[", StringComparison.Ordinal)) { int end = v.IndexOf(']'); return end > 0 ? v.Substring(0, end + 1) : v; }
                int colon = v.LastIndexOf(':');
                return colon >= 0 ? v.Substring(0, colon) : v;
            }
        }

        public int? Port
        {
            get
            {
                string v = Value ?? "";
                int colon = v.LastIndexOf(':');
                if (colon < 0 || v.IndexOf(']', colon) >= 0) return null;
                return int.TryParse(v.Substring(colon + 1), NumberStyles.Integer, CultureInfo.InvariantCulture, out int p) ? p : (int?)null;
            }
        }

        public override string ToString() { return Value ?? string.Empty; }
        public string ToUriComponent() { return Value ?? string.Empty; }
        public bool Equals(HostString other) { return string.Equals(Value ?? "", other.Value ?? "", StringComparison.OrdinalIgnoreCase); }

        public override bool Equals(object obj)
        {
            if (obj is System.Management.Automation.PSObject p) obj = p.BaseObject;
            switch (obj)
            {
                case null: return !HasValue;
                case HostString h: return Equals(h);
                case string s: return string.Equals(Value ?? "", s, StringComparison.OrdinalIgnoreCase);
                default: return false;
            }
        }

        public override int GetHashCode() { return StringComparer.OrdinalIgnoreCase.GetHashCode(Value ?? ""); }
        public static implicit operator string(HostString h) { return h.ToString(); }
    }

    /// <summary>The incoming request of a plugin (webhook) call.</summary>
    public sealed class HttpRequest
    {
        private byte[] _bodyBytes = Array.Empty<byte>();
        private FormCollection _form;

        public string Method { get; set; } = "GET";
        public string Scheme { get; set; } = "http";
        public bool IsHttps => string.Equals(Scheme, "https", StringComparison.OrdinalIgnoreCase);
        public HostString Host { get; set; }
        public PathString PathBase { get; set; }
        public PathString Path { get; set; }
        public QueryString QueryString { get; set; }
        public QueryCollection Query { get; set; } = new QueryCollection();
        public HeaderDictionary Headers { get; } = new HeaderDictionary();
        public string Protocol { get; set; } = "HTTP/1.1";
        public string ContentType { get; set; }
        public long? ContentLength { get; set; }

        /// <summary>The request body; readable and seekable, positioned at the start.</summary>
        public Stream Body { get; set; } = new MemoryStream(Array.Empty<byte>(), false);

        public IReadOnlyDictionary<string, string> Cookies
        {
            get
            {
                var d = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (string header in Headers["Cookie"])
                {
                    foreach (string part in (header ?? "").Split(';'))
                    {
                        int eq = part.IndexOf('=');
                        if (eq > 0) d[part.Substring(0, eq).Trim()] = Uri.UnescapeDataString(part.Substring(eq + 1).Trim());
                    }
                }
                return d;
            }
        }

        public bool HasFormContentType =>
            ContentType != null && (ContentType.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase)
                || ContentType.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase));

        /// <summary>Fields of an application/x-www-form-urlencoded body (empty otherwise).</summary>
        public FormCollection Form
        {
            get
            {
                if (_form != null) return _form;
                var f = new FormCollection();
                if (ContentType != null && ContentType.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase))
                {
                    foreach (var kv in QueryCollection.Parse(Encoding.UTF8.GetString(_bodyBytes))) f[kv.Key] = kv.Value;
                }
                return _form = f;
            }
        }

        /// <summary>The body as UTF-8 text (does not move <see cref="Body"/>).</summary>
        public string ReadBodyAsString() { return Encoding.UTF8.GetString(_bodyBytes); }

        internal void SetBody(byte[] bytes)
        {
            _bodyBytes = bytes ?? Array.Empty<byte>();
            _form = null;
            Body = new MemoryStream(_bodyBytes, 0, _bodyBytes.Length, false, true);
        }

        public override string ToString() { return Method + " " + PathBase + Path + QueryString; }
    }

    /// <summary>The response a HandleHttpRequest block may set directly (status, headers, body).</summary>
    public sealed class HttpResponse
    {
        public int StatusCode { get; set; } = 200;
        public HeaderDictionary Headers { get; } = new HeaderDictionary();
        public string ContentType { get; set; }
        public long? ContentLength { get; set; }
        public Stream Body { get; set; } = new MemoryStream();
        public bool HasStarted => false;

        public override string ToString() { return StatusCode.ToString(CultureInfo.InvariantCulture); }
    }

    /// <summary>The connection a request came in on.</summary>
    public sealed class ConnectionInfo
    {
        public string Id { get; set; } = Guid.NewGuid().ToString("N");
        public IPAddress RemoteIpAddress { get; set; }
        public int RemotePort { get; set; }
        public IPAddress LocalIpAddress { get; set; }
        public int LocalPort { get; set; }
    }

    /// <summary>What ImmyBot passes as $httpContext to HandleHttpRequest.</summary>
    public sealed class HttpContext
    {
        public HttpContext()
        {
            Request = new HttpRequest();
            Response = new HttpResponse();
            Connection = new ConnectionInfo();
        }

        public HttpRequest Request { get; }
        public HttpResponse Response { get; }
        public ConnectionInfo Connection { get; }
        public IDictionary<object, object> Items { get; } = new Dictionary<object, object>();
        public string TraceIdentifier { get; set; } = Guid.NewGuid().ToString("N");
        public System.Threading.CancellationToken RequestAborted => System.Threading.CancellationToken.None;

        public void Abort() { }

        /// <summary>Builds a context from the JSON object the psbridge host sends: method, scheme,
        /// host, path, pathBase, queryString, query (name → strings), headers (name → strings),
        /// contentType, body (UTF-8 text) or bodyBase64 (raw bytes), remoteIpAddress.</summary>
        public static HttpContext FromDictionary(IDictionary d)
        {
            var ctx = new HttpContext();
            if (d == null) return ctx;
            var req = ctx.Request;
            object query = null;
            string queryString = null, body = null, bodyBase64 = null;
            bool hasContentLength = false;
            foreach (DictionaryEntry e in d)
            {
                object v = e.Value is System.Management.Automation.PSObject p ? p.BaseObject : e.Value;
                switch ((PSBridge.Compat.Str(e.Key) ?? "").ToLowerInvariant())
                {
                    case "method": req.Method = (PSBridge.Compat.Str(v) ?? "GET").ToUpperInvariant(); break;
                    case "scheme": req.Scheme = PSBridge.Compat.Str(v) ?? "http"; break;
                    case "host": req.Host = new HostString(PSBridge.Compat.Str(v)); break;
                    case "path": req.Path = (PathString)PSBridge.Compat.Str(v); break;
                    case "pathbase": req.PathBase = (PathString)PSBridge.Compat.Str(v); break;
                    case "protocol": req.Protocol = PSBridge.Compat.Str(v) ?? req.Protocol; break;
                    case "querystring": queryString = PSBridge.Compat.Str(v); break;
                    case "query": query = v; break;
                    case "headers": req.Headers.Load(v); break;
                    case "contenttype": req.ContentType = PSBridge.Compat.Str(v); break;
                    case "contentlength":
                        long? n = v == null ? (long?)null : Convert.ToInt64(v, CultureInfo.InvariantCulture);
                        req.ContentLength = n;
                        hasContentLength = n != null;
                        break;
                    case "body": body = v is string s ? s : v == null ? null : PSBridge.Compat.Str(v); break;
                    case "bodybase64": bodyBase64 = PSBridge.Compat.Str(v); break;
                    case "remoteipaddress":
                        if (IPAddress.TryParse(PSBridge.Compat.Str(v) ?? "", out IPAddress ip)) ctx.Connection.RemoteIpAddress = ip;
                        break;
                    case "remoteport": ctx.Connection.RemotePort = PSBridge.Compat.Int(v) ?? 0; break;
                    case "traceidentifier": ctx.TraceIdentifier = PSBridge.Compat.Str(v) ?? ctx.TraceIdentifier; break;
                }
            }
            if (!req.Host.HasValue && req.Headers.ContainsKey("Host")) req.Host = new HostString(req.Headers["Host"].ToString());
            if (req.ContentType == null && req.Headers.ContainsKey("Content-Type")) req.ContentType = req.Headers["Content-Type"].ToString();
            if (req.ContentType != null && !req.Headers.ContainsKey("Content-Type")) req.Headers["Content-Type"] = req.ContentType;

            // Query: the parsed map wins for req.Query; the raw string is rebuilt when absent.
            if (query is IDictionary qd)
            {
                var q = new QueryCollection();
                q.Load(qd);
                req.Query = q;
                if (queryString == null)
                {
                    var sb = new StringBuilder();
                    foreach (var kv in q)
                        foreach (string val in kv.Value)
                            sb.Append(sb.Length == 0 ? '?' : '&').Append(Uri.EscapeDataString(kv.Key)).Append('=').Append(Uri.EscapeDataString(val ?? ""));
                    queryString = sb.ToString();
                }
            }
            else
            {
                req.Query = QueryCollection.Parse(queryString);
            }
            req.QueryString = new QueryString(queryString);

            byte[] bytes = null;
            if (!string.IsNullOrEmpty(bodyBase64))
            {
                try { bytes = Convert.FromBase64String(bodyBase64); } catch (FormatException) { bytes = null; }
            }
            if (bytes == null && body != null) bytes = Encoding.UTF8.GetBytes(body);
            req.SetBody(bytes);
            if (!hasContentLength)
            {
                long? fromHeader = req.Headers.ContentLength;
                req.ContentLength = bytes != null && bytes.Length > 0 ? bytes.Length : fromHeader ?? (bytes != null && body != null ? 0 : (long?)null);
            }
            return ctx;
        }

        public override string ToString() { return Request.ToString(); }
    }
}

namespace Microsoft.AspNetCore.Mvc
{
    /// <summary>What HandleHttpRequest returns.</summary>
    public interface IActionResult
    {
    }

    /// <summary>Base class of the action results.</summary>
    public abstract class ActionResult : IActionResult
    {
    }

    /// <summary>A value written as the response body with an optional status code
    /// (<c>$r = [ObjectResult]::new('ok'); $r.StatusCode = 200</c>).</summary>
    public class ObjectResult : ActionResult
    {
        public ObjectResult(object value) { Value = value; }

        public object Value { get; set; }
        public int? StatusCode { get; set; }
        public List<string> ContentTypes { get; set; } = new List<string>();
        public Type DeclaredType { get; set; }

        public override string ToString() { return (StatusCode?.ToString(CultureInfo.InvariantCulture) ?? "") + " " + Value; }
    }

    public class OkObjectResult : ObjectResult { public OkObjectResult(object value) : base(value) { StatusCode = 200; } }
    public class BadRequestObjectResult : ObjectResult { public BadRequestObjectResult(object error) : base(error) { StatusCode = 400; } }
    public class NotFoundObjectResult : ObjectResult { public NotFoundObjectResult(object value) : base(value) { StatusCode = 404; } }
    public class UnauthorizedObjectResult : ObjectResult { public UnauthorizedObjectResult(object value) : base(value) { StatusCode = 401; } }

    /// <summary>A bare status code.</summary>
    public class StatusCodeResult : ActionResult
    {
        public StatusCodeResult(int statusCode) { StatusCode = statusCode; }
        public int StatusCode { get; }
        public override string ToString() { return StatusCode.ToString(CultureInfo.InvariantCulture); }
    }

    public class OkResult : StatusCodeResult { public OkResult() : base(200) { } }
    public class NoContentResult : StatusCodeResult { public NoContentResult() : base(204) { } }
    public class BadRequestResult : StatusCodeResult { public BadRequestResult() : base(400) { } }
    public class UnauthorizedResult : StatusCodeResult { public UnauthorizedResult() : base(401) { } }
    public class NotFoundResult : StatusCodeResult { public NotFoundResult() : base(404) { } }

    /// <summary>Text content with a content type.</summary>
    public class ContentResult : ActionResult
    {
        public ContentResult() { }
        public string Content { get; set; }
        public string ContentType { get; set; }
        public int? StatusCode { get; set; }
        public override string ToString() { return Content ?? ""; }
    }

    /// <summary>A value serialised as JSON.</summary>
    public class JsonResult : ActionResult
    {
        public JsonResult(object value) { Value = value; }
        public JsonResult(object value, object serializerSettings) { Value = value; SerializerSettings = serializerSettings; }
        public object Value { get; set; }
        public string ContentType { get; set; }
        public int? StatusCode { get; set; }
        public object SerializerSettings { get; set; }
    }
}
