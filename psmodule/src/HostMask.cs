// Secret masking for everything that leaves a worker. This is the C# twin of Go's
// internal/mask: the same variants, the same rule, and the same test vectors
// (testdata/mask/vectors.json, run in real pwsh by psmodule/mask_test.go).
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Management.Automation;
using System.Text;

namespace PSBridge.Host
{
    /// <summary>Replaces registered secrets, in every encoded form <see cref="Variants"/> lists,
    /// with a mask. A run of masked characters becomes one mask. It fails closed: text it cannot
    /// process is replaced by the mask. Safe for concurrent use.</summary>
    public sealed class Masker
    {
        /// <summary>The text that replaces a secret.</summary>
        public const string Mask = "********";

        /// <summary>Secrets (and encoded forms) shorter than this many UTF-8 bytes are not
        /// registered: masking every "ab" would destroy all output while protecting nothing.</summary>
        public const int MinLength = 4;

        private readonly object _lock = new object();
        private readonly HashSet<string> _set = new HashSet<string>(StringComparer.Ordinal);
        private volatile string[] _patterns = Array.Empty<string>();

        /// <summary>Registers a secret and its encoded forms.</summary>
        public void Add(string secret)
        {
            if (string.IsNullOrEmpty(secret) || Encoding.UTF8.GetByteCount(secret) < MinLength) return;
            lock (_lock)
            {
                if (!_set.Add(secret)) return;
                var all = new HashSet<string>(_patterns, StringComparer.Ordinal);
                foreach (string v in Variants(secret)) all.Add(v);
                var list = new List<string>(all);
                list.Sort((a, b) => b.Length.CompareTo(a.Length));
                _patterns = list.ToArray();
            }
        }

        /// <summary>Registers every string found in a value (hashtables, arrays, objects), to depth 8.</summary>
        public void AddLeaves(object value)
        {
            AddLeaves(value, 0);
        }

        /// <summary>Values that are not secret although they sit in $IntegrationContext: the
        /// integration's plain (not [Password()]) form values, which the form shows anyway.</summary>
        public readonly HashSet<string> Public = new HashSet<string>(StringComparer.Ordinal);

        private bool _context;

        /// <summary>Registers the string leaves of $IntegrationContext except <see cref="Public"/>
        /// values: everything else a script keeps there (tokens, headers) is secret.</summary>
        public void AddContextLeaves(object value)
        {
            _context = true;
            try { AddLeaves(value, 0); } finally { _context = false; }
        }

        private void AddLeaves(object value, int depth)
        {
            if (value == null || depth > 8) return;
            if (value is PSObject pso)
            {
                if (pso.BaseObject is PSCustomObject)
                {
                    foreach (PSPropertyInfo p in pso.Properties)
                    {
                        object v;
                        try { v = p.Value; } catch { continue; }
                        AddLeaves(v, depth + 1);
                    }
                    return;
                }
                value = pso.BaseObject;
            }
            switch (value)
            {
                case string s:
                    if (!(_context && Public.Contains(s))) Add(s);
                    return;
                case System.Security.SecureString ss:
                    Add(new System.Net.NetworkCredential("", ss).Password);
                    return;
                case IDictionary d:
                    foreach (DictionaryEntry e in d) AddLeaves(e.Value, depth + 1);
                    return;
                case IEnumerable seq:
                    foreach (object o in seq) AddLeaves(o, depth + 1);
                    return;
            }
        }

        /// <summary>Returns text with every form of every registered secret replaced by <see cref="Mask"/>.</summary>
        public string Apply(string text)
        {
            if (string.IsNullOrEmpty(text)) return text;
            try
            {
                string[] patterns = _patterns;
                bool[] marks = Scan(text, patterns);
                return marks == null ? text : Collapse(text, 0, text.Length, marks);
            }
            catch
            {
                return Mask; // fail closed
            }
        }

        /// <summary>Masks texts as one stream (their concatenation), so a secret split across
        /// consecutive records is masked in both parts, and returns each record's masked text.</summary>
        public string[] ApplyRecords(IList<string> texts)
        {
            var result = new string[texts.Count];
            for (int i = 0; i < texts.Count; i++) result[i] = texts[i] ?? "";
            try
            {
                string all = string.Concat(result);
                bool[] marks = Scan(all, _patterns);
                if (marks == null) return result;
                int off = 0;
                for (int i = 0; i < result.Length; i++)
                {
                    int n = result[i].Length;
                    if (n > 0) result[i] = Collapse(all, off, n, marks);
                    off += n;
                }
                return result;
            }
            catch
            {
                for (int i = 0; i < result.Length; i++) result[i] = Mask;
                return result;
            }
        }

        /// <summary>Registered secrets' forms, longest first.</summary>
        public IReadOnlyList<string> Secrets => _patterns;

        private static bool[] Scan(string text, string[] patterns)
        {
            bool[] marks = null;
            foreach (string p in patterns)
            {
                int at = text.IndexOf(p, StringComparison.Ordinal);
                while (at >= 0)
                {
                    marks ??= new bool[text.Length];
                    for (int j = at; j < at + p.Length; j++) marks[j] = true;
                    if (at + 1 >= text.Length) break;
                    at = text.IndexOf(p, at + 1, StringComparison.Ordinal);
                }
            }
            return marks;
        }

        private static string Collapse(string text, int start, int count, bool[] marks)
        {
            var sb = new StringBuilder(count);
            bool open = false;
            for (int i = start; i < start + count; i++)
            {
                if (marks[i])
                {
                    if (!open) { sb.Append(Mask); open = true; }
                    continue;
                }
                open = false;
                sb.Append(text[i]);
            }
            return sb.ToString();
        }

        // ---- variants (keep in step with internal/mask/mask.go) ----------------------------

        private const int JsonQuoteU = 1, JsonHtml = 2, JsonExtra = 4, JsonNonAscii = 8, JsonLineSep = 16, JsonUpper = 32, JsonFlagCount = 6;
        private const string UrlUnreserved = "-._~", UrlComponent = "-._~!'()*", UrlGoPath = "-._~$&+:=@";

        /// <summary>The forms of a secret that are masked: raw; JSON-escaped in the minimal style
        /// (Newtonsoft, ConvertTo-Json) and the full styles (System.Text.Json, Go), every
        /// combination, lower- and upper-case hex; URL path and form encoding with three safe
        /// sets, upper- and lower-case hex; base64 and base64url at the three alignments (the
        /// characters made of the secret's bits alone, and through the end when it ends the
        /// value); HTML entities; hex in both cases. Forms under MinLength bytes are left out.</summary>
        public static List<string> Variants(string secret)
        {
            var outList = new List<string>();
            if (string.IsNullOrEmpty(secret) || Encoding.UTF8.GetByteCount(secret) < MinLength) return outList;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            void add(string v)
            {
                if (!string.IsNullOrEmpty(v) && Encoding.UTF8.GetByteCount(v) >= MinLength && seen.Add(v)) outList.Add(v);
            }
            add(secret);
            for (int flags = 0; flags < 1 << JsonFlagCount; flags++) add(JsonEscape(secret, flags));
            byte[] bytes = Encoding.UTF8.GetBytes(secret);
            foreach (string safe in new[] { UrlUnreserved, UrlComponent, UrlGoPath })
            {
                foreach (bool plus in new[] { false, true })
                {
                    if (plus && safe.IndexOf('+') >= 0) continue;
                    foreach (bool upper in new[] { true, false }) add(UrlEscape(bytes, safe, plus, upper));
                }
            }
            foreach (bool url in new[] { false, true })
            {
                for (int off = 0; off < 3; off++)
                {
                    var buf = new byte[off + bytes.Length];
                    Array.Copy(bytes, 0, buf, off, bytes.Length);
                    string e = Convert.ToBase64String(buf).TrimEnd('=');
                    if (url) e = e.Replace('+', '-').Replace('/', '_');
                    int head = (off * 8 + 5) / 6;
                    int tail = e.Length;
                    if ((buf.Length * 8) % 6 != 0) tail--;
                    if (head < e.Length) add(e.Substring(head));
                    if (tail > head) add(e.Substring(head, tail - head));
                }
            }
            foreach (string q in new[] { "&quot;", "&#34;", "\"" })
                foreach (string a in new[] { "&#39;", "&#x27;", "'" })
                    add(HtmlEscape(secret, q, a));
            string hex = Convert.ToHexString(bytes);
            add(hex.ToLowerInvariant());
            add(hex);
            return outList;
        }

        private static string JsonEscape(string s, int flags)
        {
            var b = new StringBuilder(s.Length + 8);
            void u(int r) { b.Append("\\u").Append(r.ToString((flags & JsonUpper) != 0 ? "X4" : "x4", CultureInfo.InvariantCulture)); }
            for (int i = 0; i < s.Length; i++)
            {
                char c = s[i];
                int r = c;
                bool pair = false;
                if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                {
                    r = char.ConvertToUtf32(c, s[i + 1]);
                    pair = true;
                }
                else if (char.IsSurrogate(c))
                {
                    u(0xFFFD); // a lone surrogate is not a character; encoders write U+FFFD
                    continue;
                }
                switch (r)
                {
                    case '"': if ((flags & JsonQuoteU) != 0) u(r); else b.Append("\\\""); break;
                    case '\\': b.Append("\\\\"); break;
                    case '\b': b.Append("\\b"); break;
                    case '\f': b.Append("\\f"); break;
                    case '\n': b.Append("\\n"); break;
                    case '\r': b.Append("\\r"); break;
                    case '\t': b.Append("\\t"); break;
                    default:
                        if (r < 0x20) u(r);
                        else if ((r == '<' || r == '>' || r == '&') && (flags & JsonHtml) != 0) u(r);
                        else if ((r == '\'' || r == '+' || r == '`') && (flags & JsonExtra) != 0) u(r);
                        else if ((r == 0x2028 || r == 0x2029) && (flags & (JsonLineSep | JsonNonAscii)) != 0) u(r);
                        else if (r >= 0x7f && (flags & JsonNonAscii) != 0)
                        {
                            if (r > 0xFFFF)
                            {
                                int v = r - 0x10000;
                                u(0xD800 + (v >> 10));
                                u(0xDC00 + (v & 0x3FF));
                            }
                            else u(r);
                        }
                        else
                        {
                            b.Append(c);
                            if (pair) b.Append(s[i + 1]);
                        }
                        break;
                }
                if (pair) i++;
            }
            return b.ToString();
        }

        private static string UrlEscape(byte[] s, string safe, bool plus, bool upper)
        {
            string digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
            var b = new StringBuilder(s.Length * 3);
            foreach (byte c in s)
            {
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c < 0x80 && safe.IndexOf((char)c) >= 0))
                    b.Append((char)c);
                else if (c == ' ' && plus)
                    b.Append('+');
                else
                    b.Append('%').Append(digits[c >> 4]).Append(digits[c & 15]);
            }
            return b.ToString();
        }

        private static string HtmlEscape(string s, string quot, string apos)
        {
            var b = new StringBuilder(s.Length + 16);
            foreach (char c in s)
            {
                switch (c)
                {
                    case '&': b.Append("&amp;"); break;
                    case '<': b.Append("&lt;"); break;
                    case '>': b.Append("&gt;"); break;
                    case '"': b.Append(quot); break;
                    case '\'': b.Append(apos); break;
                    default: b.Append(c); break;
                }
            }
            return b.ToString();
        }
    }
}
