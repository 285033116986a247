// Package mask is psbridge's one implementation of secret masking. It exists because the
// product holds vendor API keys and every sink that shows or stores text a script produced
// (errors, stream records, the call log, service logs, method results, webhook responses and
// the debugging console) must hide them in every form a script can encode them in, the same
// way everywhere. The C# worker host (psmodule/src/HostMask.cs) implements the same variants
// and both sides pass the shared vectors in testdata/mask/vectors.json.
//
// The rule: every registered secret of at least MinSecretLen bytes is replaced by Mask in its
// raw form and in each form Variants lists; a run of masked bytes becomes a single Mask.
// Anything the masker cannot process safely is replaced, never passed through.
package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Mask replaces every secret (in any of its encoded forms).
const Mask = "********"

// MinSecretLen is the shortest secret (in bytes) that is registered: shorter values would
// mask ordinary text ("true", "42") everywhere without protecting anything. Encoded forms
// shorter than this are not matched either.
const MinSecretLen = 4

// Set is a concurrency-safe set of secret values. Every method that masks reads the set as it
// is at that moment; values added later apply to text masked later (and to bytes a Filter
// still holds back). The nil *Set masks nothing.
type Set struct {
	mu     sync.Mutex
	values map[string]struct{}
	m      atomic.Pointer[matcher]
}

// NewSet returns a set holding values (those shorter than MinSecretLen are ignored).
func NewSet(values ...string) *Set {
	s := &Set{values: make(map[string]struct{})}
	s.m.Store(buildMatcher(nil))
	s.Add(values...)
	return s
}

// Add registers values; values shorter than MinSecretLen bytes, and values already known, are
// ignored.
func (s *Set) Add(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, v := range values {
		if len(v) < MinSecretLen {
			continue
		}
		if _, ok := s.values[v]; ok {
			continue
		}
		s.values[v] = struct{}{}
		changed = true
	}
	if !changed {
		return
	}
	var patterns []string
	for v := range s.values {
		patterns = append(patterns, Variants(v)...)
	}
	s.m.Store(buildMatcher(patterns))
}

// AddLeaves registers every string inside a decoded JSON value (maps, slices, strings). A
// typed value as workers save it ({"$psbridgeType": "uri", "value": …}) contributes its
// value, not its tag: masking the word "uri" everywhere would only garble output.
func (s *Set) AddLeaves(v any) {
	s.Add(StringLeaves(v, nil)...)
}

// AddJSON registers every string leaf of a JSON document (an $IntegrationContext, say). An
// empty document adds nothing; one that does not parse is an error and adds nothing.
func (s *Set) AddJSON(doc []byte) error {
	doc = bytes.TrimSpace(doc)
	if len(doc) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return fmt.Errorf("mask: secrets document: %w", err)
	}
	s.AddLeaves(v)
	return nil
}

// AddContext registers the string leaves of an $IntegrationContext document that are secret
// under psbridge's rule: every string except those equal to a public value. Public values are
// what the integration's form holds outside [Password()] fields (a vendor URL, a tenant
// name): the form and the API show them anyway, so masking them would only hide useful
// output. Everything else a script put in its context (session tokens, auth headers, values
// derived from a password) stays masked. A document that does not parse is an error and adds
// nothing.
func (s *Set) AddContext(doc []byte, public []string) error {
	doc = bytes.TrimSpace(doc)
	if len(doc) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return fmt.Errorf("mask: context document: %w", err)
	}
	skip := make(map[string]bool, len(public))
	for _, p := range public {
		skip[p] = true
	}
	for _, leaf := range StringLeaves(v, nil) {
		if !skip[leaf] {
			s.Add(leaf)
		}
	}
	return nil
}

// StringLeaves appends every non-empty string inside a decoded JSON value to out, skipping
// the type tags of typed values ({"$psbridgeType": tag, "value": v} contributes v only).
func StringLeaves(v any, out []string) []string {
	switch x := v.(type) {
	case string:
		if x != "" {
			out = append(out, x)
		}
	case map[string]any:
		if tag, ok := x["$psbridgeType"].(string); ok && tag != "" && len(x) == 2 {
			return StringLeaves(x["value"], out)
		}
		for _, e := range x {
			out = StringLeaves(e, out)
		}
	case []any:
		for _, e := range x {
			out = StringLeaves(e, out)
		}
	}
	return out
}

// Len reports how many secrets are registered.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.values)
}

func (s *Set) matcher() *matcher {
	if s == nil {
		return emptyMatcher
	}
	return s.m.Load()
}

// String returns text with every form of every secret replaced by Mask (one Mask per run of
// masked bytes). It is the one-shot counterpart of Filter, without Filter's terminal escape
// sequence handling: bytes are matched exactly as they are.
func (s *Set) String(text string) (out string) {
	m := s.matcher()
	if m.empty() {
		return text
	}
	defer func() {
		if recover() != nil {
			out = Mask // fail closed
		}
	}()
	marks, any := m.scan([]byte(text))
	if !any {
		return text
	}
	return string(collapse([]byte(text), marks, false, nil))
}

// Bytes is String for a byte slice; it returns b itself when nothing is masked.
func (s *Set) Bytes(b []byte) (out []byte) {
	m := s.matcher()
	if m.empty() {
		return b
	}
	defer func() {
		if recover() != nil {
			out = []byte(Mask)
		}
	}()
	marks, any := m.scan(b)
	if !any {
		return b
	}
	return collapse(b, marks, false, nil)
}

// Records masks texts as one stream (their concatenation), so a secret split across
// consecutive records is masked in both parts, and returns each record's masked text. A record
// that starts inside a masked run starts with Mask.
func (s *Set) Records(texts []string) (out []string) {
	out = make([]string, len(texts))
	copy(out, texts)
	m := s.matcher()
	if m.empty() || len(texts) == 0 {
		return out
	}
	defer func() {
		if recover() != nil {
			for i := range out {
				out[i] = Mask
			}
		}
	}()
	all := []byte(strings.Join(texts, ""))
	marks, any := m.scan(all)
	if !any {
		return out
	}
	off := 0
	for i, t := range texts {
		if len(t) == 0 {
			continue
		}
		out[i] = string(collapse(all[off:off+len(t)], marks[off:off+len(t)], false, nil))
		off += len(t)
	}
	return out
}

// Header masks the names and values of h in place.
func (s *Set) Header(h http.Header) {
	if s.matcher().empty() {
		return
	}
	for k, vs := range h {
		mk := s.String(k)
		for i, v := range vs {
			vs[i] = s.String(v)
		}
		if mk != k {
			delete(h, k)
			h[mk] = append(h[mk], vs...)
		}
	}
}

// failJSON replaces a JSON document the masker cannot read.
var failJSON = []byte(`"` + Mask + `"`)

// JSON masks every string (object keys included) inside a JSON document without breaking it:
// each string is decoded, masked with String and encoded again, and a number whose text holds
// a secret becomes the string Mask. A document with nothing to mask is returned unchanged
// (same bytes); one that is not valid JSON is replaced by the JSON string "********".
func (s *Set) JSON(doc []byte) (out []byte) {
	if !json.Valid(doc) {
		return failJSON
	}
	if s.matcher().empty() {
		return doc
	}
	defer func() {
		if recover() != nil {
			out = failJSON
		}
	}()
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	type frame struct {
		obj bool
		n   int
	}
	var stack []frame
	var b bytes.Buffer
	changed := false
	sep := func() {
		if len(stack) == 0 {
			return
		}
		f := &stack[len(stack)-1]
		switch {
		case f.obj && f.n%2 == 1:
			b.WriteByte(':')
		case f.n > 0:
			b.WriteByte(',')
		}
		f.n++
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() == "EOF" {
				break
			}
			return failJSON
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				sep()
				stack = append(stack, frame{obj: t == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
			b.WriteByte(byte(t))
		case string:
			sep()
			ms := s.String(t)
			if ms != t {
				changed = true
			}
			e, err := json.Marshal(ms)
			if err != nil {
				return failJSON
			}
			b.Write(e)
		case json.Number:
			sep()
			if s.String(t.String()) != t.String() {
				changed = true
				b.WriteString(`"` + Mask + `"`)
			} else {
				b.WriteString(t.String())
			}
		case bool:
			sep()
			if t {
				b.WriteString("true")
			} else {
				b.WriteString("false")
			}
		case nil:
			sep()
			b.WriteString("null")
		default:
			return failJSON
		}
	}
	if !changed {
		return doc
	}
	return b.Bytes()
}

// Variants returns the forms of secret that are masked, without duplicates:
//
//   - raw bytes;
//   - JSON string escaping: the minimal style (Newtonsoft, ConvertTo-Json: only " \ and
//     control characters) and the full styles (System.Text.Json, Go encoding/json: also
//     < > & ' + ` and non-ASCII as \uXXXX, " as \u0022), every combination, in lower- and
//     upper-case hex;
//   - URL encoding: path style (space as %20) and query/form style (space as +) with the
//     RFC 3986 unreserved set, the encodeURIComponent set and Go's path set left as is, in
//     upper- and lower-case percent hex;
//   - base64 in the standard and URL alphabets, for the secret starting at byte offset 0, 1
//     and 2 mod 3 inside a longer encoded value: the characters made of the secret's bits
//     alone, and those through the end of the encoding when the secret ends the value (the
//     '=' padding stays visible, so padded and unpadded encodings are both covered);
//   - HTML entities: & < > as &amp; &lt; &gt;, " as &quot; &#34; or itself, ' as &#39;
//     &#x27; or itself;
//   - hex in lower and upper case.
//
// Forms shorter than MinSecretLen are left out, and so is every secret shorter than that.
func Variants(secret string) []string {
	if len(secret) < MinSecretLen {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	add := func(v string) {
		if len(v) >= MinSecretLen && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	add(secret)
	for flags := 0; flags < 1<<jsonFlagCount; flags++ {
		add(jsonEscape(secret, flags))
	}
	for _, safe := range []string{urlUnreserved, urlComponent, urlGoPath} {
		for _, plus := range []bool{false, true} {
			if plus && strings.Contains(safe, "+") {
				continue
			}
			for _, upper := range []bool{true, false} {
				add(urlEscape(secret, safe, plus, upper))
			}
		}
	}
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		for off := 0; off < 3; off++ {
			core, end := base64Forms(enc, secret, off)
			add(end)
			add(core)
		}
	}
	for _, q := range []string{"&quot;", "&#34;", `"`} {
		for _, a := range []string{"&#39;", "&#x27;", "'"} {
			add(htmlEscape(secret, q, a))
		}
	}
	h := hex.EncodeToString([]byte(secret))
	add(h)
	add(strings.ToUpper(h))
	return out
}

// base64Forms returns, for secret starting at byte offset off (mod 3) inside a longer value,
// the characters of the value's base64 encoding made of the secret's bits alone (core: the
// characters mixing its bits with its neighbours' differ with the neighbours) and the same
// run through the end of the encoding when the secret ends the value (end: the last character
// then holds only the secret's bits and zero padding; the '=' padding is not included).
func base64Forms(enc *base64.Encoding, secret string, off int) (core, end string) {
	buf := append(make([]byte, off), secret...)
	e := enc.EncodeToString(buf)
	head := (off*8 + 5) / 6
	tail := len(e)
	if (len(buf)*8)%6 != 0 {
		tail--
	}
	if tail > head {
		core = e[head:tail]
	}
	return core, e[head:]
}

// base64Core is the core form of base64Forms.
func base64Core(enc *base64.Encoding, secret string, off int) string {
	core, _ := base64Forms(enc, secret, off)
	return core
}

// JSON escaping flags; Variants generates every combination.
const (
	jsonQuoteU    = 1 << iota // " as \u0022 (System.Text.Json) instead of \"
	jsonHTML                  // < > & as \u00XX
	jsonExtra                 // ' + ` as \u00XX
	jsonNonASCII              // every rune from U+007F as \uXXXX (surrogate pairs above U+FFFF)
	jsonLineSep               // U+2028 and U+2029 as \u2028 \u2029 (Go always)
	jsonUpper                 // upper-case hex digits
	jsonFlagCount = 6
)

func jsonEscape(s string, flags int) string {
	var b strings.Builder
	u := func(r rune) {
		if flags&jsonUpper != 0 {
			fmt.Fprintf(&b, `\u%04X`, r)
		} else {
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	for i, r := range s {
		switch {
		case r == '"':
			if flags&jsonQuoteU != 0 {
				u(r)
			} else {
				b.WriteString(`\"`)
			}
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20:
			u(r)
		case (r == '<' || r == '>' || r == '&') && flags&jsonHTML != 0:
			u(r)
		case (r == '\'' || r == '+' || r == '`') && flags&jsonExtra != 0:
			u(r)
		case (r == 0x2028 || r == 0x2029) && flags&(jsonLineSep|jsonNonASCII) != 0:
			u(r)
		case r >= 0x7f && flags&jsonNonASCII != 0:
			if r > 0xFFFF {
				r -= 0x10000
				u(0xD800 + (r >> 10))
				u(0xDC00 + (r & 0x3FF))
			} else {
				u(r)
			}
		default:
			if _, size := utf8.DecodeRuneInString(s[i:]); r == utf8.RuneError && size == 1 {
				u(r) // encoders write an invalid byte as \ufffd
			} else {
				b.WriteString(s[i : i+size])
			}
		}
	}
	return b.String()
}

// Characters URL encoders leave as they are, besides ASCII letters and digits.
const (
	urlUnreserved = "-._~"       // RFC 3986, Go QueryEscape, .NET Uri.EscapeDataString
	urlComponent  = "-._~!'()*"  // JavaScript encodeURIComponent
	urlGoPath     = "-._~$&+:=@" // Go url.PathEscape
)

func urlEscape(s, safe string, plus, upper bool) string {
	digits := "0123456789abcdef"
	if upper {
		digits = "0123456789ABCDEF"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte(safe, c) >= 0:
			b.WriteByte(c)
		case c == ' ' && plus:
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(digits[c>>4])
			b.WriteByte(digits[c&15])
		}
	}
	return b.String()
}

func htmlEscape(s, quot, apos string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString(quot)
		case '\'':
			b.WriteString(apos)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
