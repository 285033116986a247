// Secret masking for everything that leaves a worker.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using System.Text.Json;

namespace PSBridge.Host
{
    /// <summary>Replaces registered secrets (raw, URL-encoded and JSON-escaped forms) with a mask.</summary>
    public sealed class Masker
    {
        /// <summary>The text that replaces a secret.</summary>
        public const string Mask = "********";

        /// <summary>Secrets shorter than this are not registered: masking every "ab" would destroy
        /// all output while protecting nothing.</summary>
        public const int MinLength = 4;

        private readonly HashSet<string> _set = new HashSet<string>(StringComparer.Ordinal);
        private List<string> _ordered = new List<string>();

        /// <summary>Registers a secret and its encoded forms.</summary>
        public void Add(string secret)
        {
            if (string.IsNullOrEmpty(secret) || secret.Length < MinLength) return;
            bool changed = _set.Add(secret);
            string url = Uri.EscapeDataString(secret);
            if (url != secret) changed |= _set.Add(url);
            string json = JsonEncodedText.Encode(secret).ToString();
            if (json != secret) changed |= _set.Add(json);
            if (changed)
            {
                _ordered = new List<string>(_set);
                _ordered.Sort((a, b) => b.Length.CompareTo(a.Length));
            }
        }

        /// <summary>Registers every string found in a value (hashtables, arrays, objects), to depth 8.</summary>
        public void AddLeaves(object value)
        {
            AddLeaves(value, 0);
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
                case string s: Add(s); return;
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

        /// <summary>Returns text with every registered secret replaced by <see cref="Mask"/>.</summary>
        public string Apply(string text)
        {
            if (string.IsNullOrEmpty(text)) return text;
            foreach (string s in _ordered)
            {
                if (text.IndexOf(s, StringComparison.Ordinal) >= 0)
                    text = text.Replace(s, Mask, StringComparison.Ordinal);
            }
            return text;
        }

        /// <summary>Registered secrets, longest first.</summary>
        public IReadOnlyList<string> Secrets => _ordered;
    }
}
