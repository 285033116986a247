#!/usr/bin/env python3
"""Writes vectors.json: the masking test vectors shared by the Go side (internal/mask) and the
C# worker host (psmodule/src/HostMask.cs). The encodings are computed here with Python's own
standard library, independently of either implementation; run it again after editing a case.
"""
import base64, html, json, re, urllib.parse

M = "********"
S = "hunter2-Secret"
cases = []


def case(name, secrets, input, want):
    cases.append({"name": name, "secrets": secrets, "input": input, "want": want})


def records(name, secrets, recs, want):
    cases.append({"name": name, "secrets": secrets, "records": recs, "wantRecords": want})


def b64_masked(prefix: bytes, secret: bytes, suffix: bytes, urlsafe=False, pad=True):
    """Encodes prefix+secret+suffix and masks the characters made of the secret's bits alone."""
    p = prefix + secret + suffix
    e = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(p).decode()
    if not pad:
        e = e.rstrip("=")
    lo, hi = 8 * len(prefix), 8 * (len(prefix) + len(secret))
    # A character is the secret's alone when its 6 bits lie inside the secret, or when the
    # secret ends the value and the bits past it are the encoder's zero padding.
    n = (8 * len(p) + 5) // 6
    inside = [k for k in range(n) if 6 * k >= lo and (6 * k + 6 <= hi or (not suffix and 6 * k < hi))]
    return e, e[: inside[0]] + M + e[inside[-1] + 1 :]


def json_min(s):  # Newtonsoft / ConvertTo-Json: only " \ and control characters
    return json.dumps(s, ensure_ascii=False)[1:-1]


# --- raw -----------------------------------------------------------------------------------
case("no secrets", [], "hello world", "hello world")
case("empty input", [S], "", "")
case("raw", [S], "key=" + S + ";", "key=" + M + ";")
case("raw twice", [S], S + " and " + S, M + " and " + M)
case("raw adjacent copies merge", [S], S + S, M)
case("raw inside a word", [S], "xx" + S + "xx", "xx" + M + "xx")
case("raw at start and end", [S], S + " mid " + S, M + " mid " + M)
case("overlapping secrets merge", ["abcdef", "defghi"], "xxabcdefghixx", "xx" + M + "xx")
case("longer secret wins over its prefix", ["abcd", "abcdefgh"], "abcdefgh!", M + "!")
case("several secrets", [S, "tok-9876543"], "a=" + S + " b=tok-9876543", "a=" + M + " b=" + M)
# --- must not be masked ----------------------------------------------------------------------
case("not masked: short secret", ["abc"], "abc abc", "abc abc")
case("not masked: prefix only", [S], "hunter2-Secre", "hunter2-Secre")
case("not masked: other case", [S], "HUNTER2-SECRET hunter2_secret", "HUNTER2-SECRET hunter2_secret")
case("not masked: base64 of other text", [S], base64.b64encode(b"nothing to see here").decode(),
     base64.b64encode(b"nothing to see here").decode())
case("not masked: near-miss with one byte changed", [S], "hunter2-Secrex hunter3-Secret", "hunter2-Secrex hunter3-Secret")
# --- JSON ---------------------------------------------------------------------------------------
q = 'pa"ss\\wo rd'
case("JSON minimal style (ConvertTo-Json)", [q], '{"k":"' + json_min(q) + '"}', '{"k":"' + M + '"}')
ctl = "line1\nline2\tend"
case("JSON control characters", [ctl], '{"k":"' + json_min(ctl) + '"}', '{"k":"' + M + '"}')
sp = "<a&b>'+c`d"
go_style = sp.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
case("JSON full style lower (Go encoding/json)", [sp], '{"k":"' + go_style + '"}', '{"k":"' + M + '"}')
stj = "".join("\\u%04X" % ord(c) if c in "<>&'+`\"" else c for c in 'say"' + sp)
case("JSON full style upper (System.Text.Json)", ['say"' + sp], '["' + stj + '"]', '["' + M + '"]')
na = "pässwörd-ключ"
case("JSON non-ASCII lower", [na], json.dumps({"k": na}), '{"k": "' + M + '"}')
case("JSON non-ASCII upper", [na], re.sub(r"\\u[0-9a-f]{4}", lambda m: "\\u" + m.group(0)[2:].upper(), json.dumps({"k": na})),
     '{"k": "' + M + '"}')
emoji = "key\U0001F511long"
case("JSON surrogate pair", [emoji], json.dumps([emoji]), '["' + M + '"]')
# --- URL -----------------------------------------------------------------------------------------
u = "a b&c/d"
case("URL path style %20", [u], "/x?k=" + urllib.parse.quote(u, safe="") + "&y=1", "/x?k=" + M + "&y=1")
case("URL form style +", [u], "k=" + urllib.parse.quote_plus(u) + "&y=1", "k=" + M + "&y=1")
case("URL lower-case hex", [u], "k=" + urllib.parse.quote(u, safe="").lower().replace("a%20b", "a%20b"), "k=" + M)
case("URL form lower-case hex", [u], "k=" + urllib.parse.quote_plus(u).replace("%2F", "%2f"), "k=" + M)
fm = "p@ss w&rd!"
case("form-encoded body", [fm], "user=bob&password=" + urllib.parse.quote_plus(fm) + "&x=1", "user=bob&password=" + M + "&x=1")
case("encodeURIComponent style", [fm], "password=" + urllib.parse.quote(fm, safe="!'()*-._~"), "password=" + M)
case("URL non-ASCII", [na], "k=" + urllib.parse.quote(na), "k=" + M)
# --- base64 --------------------------------------------------------------------------------------
sb = S.encode()
e, w = b64_masked(b"", sb, b"")
case("base64 standalone padded", [S], "Basic " + e, "Basic " + w)
e, w = b64_masked(b"user:", sb, b"")
case("base64 Basic auth user:password", [S], "Authorization: Basic " + e, "Authorization: Basic " + w)
for pre, suf in [(b"ab", b"!"), (b"abc", b"~x"), (b"abcd", b"")]:
    e, w = b64_masked(pre, sb, suf)
    case("base64 std offset %d mod 3" % (len(pre) % 3), [S], e, w)
odd = "??>>~~??>>"  # encodes to + and / in the standard alphabet
for pre, suf in [(b"", b""), (b"x", b"yz"), (b"xy", b"z")]:
    e, w = b64_masked(pre, odd.encode(), suf, urlsafe=True, pad=False)
    case("base64url unpadded offset %d mod 3" % (len(pre) % 3), [odd], "t=" + e, "t=" + w)
    e, w = b64_masked(pre, odd.encode(), suf, urlsafe=False, pad=True)
    case("base64 std padded offset %d mod 3 with + and /" % (len(pre) % 3), [odd], e, w)
e, w = b64_masked(b'{"pw":"', sb, b'"}', urlsafe=True, pad=False)
case("base64url JSON claim (JWT-like)", [S], "eyJ.x." + e, "eyJ.x." + w)
e, w = b64_masked(b"", na.encode(), b"")
case("base64 non-ASCII secret", [na], e, w)
# --- HTML ------------------------------------------------------------------------------------
h = "a<b>&\"c'd"
case("HTML .NET style (&quot; &#39;)", [h], "<td>" + h.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;").replace("'", "&#39;") + "</td>", "<td>" + M + "</td>")
case("HTML Python style (&quot; &#x27;)", [h], "<td>" + html.escape(h) + "</td>", "<td>" + M + "</td>")
case("HTML Go style (&#34; &#39;)", [h], "<p>" + h.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;").replace("'", "&#39;") + "</p>", "<p>" + M + "</p>")
case("HTML quotes left as is", [h], "<p>" + html.escape(h, quote=False) + "</p>", "<p>" + M + "</p>")
# --- hex ------------------------------------------------------------------------------------
case("hex lower", [S], "0x" + sb.hex(), "0x" + M)
case("hex upper", [S], "0x" + sb.hex().upper(), "0x" + M)
case("hex non-ASCII", [na], na.encode().hex(), M)
# --- special characters ------------------------------------------------------------------------
rx = "a.b*c+d?(e)[f]{g}|h^$\\"
case("regex-special secret raw", [rx], "x" + rx + "y", "x" + M + "y")
case("regex-special secret JSON", [rx], json.dumps({"v": rx}), '{"v": "' + M + '"}')
case("non-ASCII secret raw", [na], "pw: " + na + ".", "pw: " + M + ".")
# --- records -----------------------------------------------------------------------------------
records("split across two records (Write-Host -NoNewline)", [S], ["token: hunt", "er2-Secret done"], ["token: " + M, M + " done"])
records("split across three records", [S], ["a hun", "ter2-Se", "cret b"], ["a " + M, M, M + " b"])
records("records without secrets unchanged", [S], ["one", "two hunter", "three"], ["one", "two hunter", "three"])
records("whole secret in one record", [S], ["x", S + "!", "y"], ["x", M + "!", "y"])
records("base64 split across records", [S], [base64.b64encode(sb).decode()[:7], base64.b64encode(sb).decode()[7:]], [M, M + "="])

doc = {
    "comment": "Secret masking vectors shared by internal/mask (Go) and psmodule/src/HostMask.cs (C#). "
    "Generated by gen_vectors.py. A case masks 'input' to 'want', or the 'records' as one stream to 'wantRecords'.",
    "mask": M,
    "minSecretLen": 4,
    "cases": cases,
}
with open("vectors.json", "w", encoding="utf-8") as f:
    json.dump(doc, f, ensure_ascii=False, indent=1)
    f.write("\n")
print(len(cases), "cases")
