// Compatibility types, part 4: what the form helpers of dynamicparam blocks build
// (New-HelpText, New-OAuthConsentParameter) and the installer reader behind
// Get-DynamicVersionFromInstallerURL.
using System;
using System.IO;
using System.Text.RegularExpressions;

namespace PSBridge
{
    /// <summary>Marks a dynamic parameter as text shown on the form, not a field (New-HelpText).</summary>
    [AttributeUsage(AttributeTargets.All, AllowMultiple = false)]
    public sealed class HelpTextAttribute : Attribute
    {
        public HelpTextAttribute() { }
        public HelpTextAttribute(string text) { Text = text; }
        public string Text { get; set; }
    }

    /// <summary>What an OAuth consent field binds to once the authorization-code flow finished:
    /// the code and the tokens the vendor's token endpoint answered.</summary>
    public sealed class OAuthConsentResult
    {
        public string Code { get; set; }
        public string AccessToken { get; set; }
        public string RefreshToken { get; set; }
        public string IdToken { get; set; }
        public string TokenType { get; set; }
        public string Scope { get; set; }
        public DateTime? AccessTokenExpiresAtUtc { get; set; }

        public override string ToString() { return RefreshToken ?? AccessToken ?? Code ?? ""; }
    }

    /// <summary>Reads versions out of installer files without running them.</summary>
    public static class InstallerInfo
    {
        /// <summary>The file version of a Windows PE file (.exe, .dll) from its VS_FIXEDFILEINFO
        /// resource, or null when the file is not a PE file or has no version resource.</summary>
        public static Version PEFileVersion(string path)
        {
            byte[] data = File.ReadAllBytes(path);
            if (data.Length < 64 || data[0] != (byte)'M' || data[1] != (byte)'Z') return null;
            // VS_FIXEDFILEINFO: dwSignature 0xFEEF04BD, dwStrucVersion, dwFileVersionMS, dwFileVersionLS,
            // dwProductVersionMS, dwProductVersionLS, … (little-endian).
            for (int i = 0; i + 24 <= data.Length; i += 4)
            {
                if (data[i] != 0xBD || data[i + 1] != 0x04 || data[i + 2] != 0xEF || data[i + 3] != 0xFE) continue;
                uint ms = BitConverter.ToUInt32(data, i + 8), ls = BitConverter.ToUInt32(data, i + 12);
                if (ms == 0 && ls == 0)
                {
                    ms = BitConverter.ToUInt32(data, i + 16);
                    ls = BitConverter.ToUInt32(data, i + 20);
                }
                if (ms == 0 && ls == 0) return null;
                return new Version((int)(ms >> 16), (int)(ms & 0xFFFF), (int)(ls >> 16), (int)(ls & 0xFFFF));
            }
            return null;
        }

        private static readonly Regex VersionInName = new Regex(@"(?<!\d)(\d+(?:[._]\d+){1,3})(?!\d)", RegexOptions.CultureInvariant);

        /// <summary>The last dotted version in a file name or URL path ("agent-1.2.3-x64.msi" → 1.2.3), or null.</summary>
        public static Version FromName(string name)
        {
            if (string.IsNullOrEmpty(name)) return null;
            Version found = null;
            foreach (Match m in VersionInName.Matches(name))
            {
                if (Version.TryParse(m.Groups[1].Value.Replace('_', '.'), out Version v)) found = v;
            }
            return found;
        }

        /// <summary>The file name of a Content-Disposition header (filename* preferred), or null.</summary>
        public static string ContentDispositionFileName(string header)
        {
            if (string.IsNullOrWhiteSpace(header)) return null;
            try
            {
                var cd = System.Net.Http.Headers.ContentDispositionHeaderValue.Parse(header);
                string name = cd.FileNameStar ?? cd.FileName;
                if (string.IsNullOrEmpty(name)) return null;
                name = name.Trim('"');
                return Path.GetFileName(name.Replace('\\', '/'));
            }
            catch (FormatException)
            {
                return null;
            }
        }
    }
}

namespace PSBridge
{
    /// <summary>Removes a folder when the process exits (PSBridge.Testing's module-script folder).
    /// PowerShell's own PowerShell.Exiting event does not fire for `pwsh -File … ; exit`, so the
    /// removal hangs on the runtime's ProcessExit instead.</summary>
    public static class ExitCleanup
    {
        private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> Folders = new();
        private static int _hooked;

        /// <summary>Removes <paramref name="path"/> and what it holds (links, not their targets)
        /// when the process exits normally. Registering the same folder twice is harmless.</summary>
        public static void RemoveFolderOnExit(string path)
        {
            Folders[Path.GetFullPath(path)] = true;
            if (System.Threading.Interlocked.Exchange(ref _hooked, 1) == 0)
            {
                AppDomain.CurrentDomain.ProcessExit += (_, _) =>
                {
                    foreach (var dir in Folders.Keys)
                    {
                        try { if (Directory.Exists(dir)) Directory.Delete(dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
                    }
                };
            }
        }
    }
}
