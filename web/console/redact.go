package console

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Mask replaces every secret (in any of its encoded forms) in console output.
const Mask = "********"

// MinSecretLen is the shortest secret that is registered: shorter values would mask ordinary
// text ("true", "42") all over the terminal without protecting anything.
const MinSecretLen = 4

// Secrets is a concurrency-safe set of secret values. Every Filter reading from it masks
// each value's raw, JSON-escaped, URL-encoded and base64 forms; values added later apply to
// output that has not been sent yet.
type Secrets struct {
	mu     sync.Mutex
	values map[string]struct{}
	m      atomic.Pointer[matcher]
}

// NewSecrets returns a set holding values (those shorter than MinSecretLen are ignored).
func NewSecrets(values ...string) *Secrets {
	s := &Secrets{values: make(map[string]struct{})}
	s.m.Store(buildMatcher(nil))
	s.Add(values...)
	return s
}

// Add registers values; values shorter than MinSecretLen bytes, and values already known, are
// ignored.
func (s *Secrets) Add(values ...string) {
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

// Len reports how many secrets are registered.
func (s *Secrets) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.values)
}

// RedactString returns text with every registered form of every secret replaced by Mask; it
// is the one-shot counterpart of Filter for messages such as errors.
func (s *Secrets) RedactString(text string) string {
	var out bytes.Buffer
	f := newFilter(s, func(b []byte) { out.Write(b) }, 0)
	f.Write([]byte(text))
	f.Close()
	return out.String()
}

func (s *Secrets) matcher() *matcher { return s.m.Load() }

// Variants returns the forms of secret that are masked: the raw bytes, JSON string escaping
// (with and without HTML escaping, and with non-ASCII as \u escapes), URL encoding (query form
// with '+' for spaces, '%20' form and path form) and base64 in the standard and URL alphabets,
// standalone and at the two other alignments it takes inside a longer encoded value. Forms
// shorter than MinSecretLen are left out, and so is every secret shorter than that.
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
	for _, html := range []bool{false, true} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if err := enc.Encode(secret); err == nil {
			j := strings.TrimSuffix(b.String(), "\n")
			add(j[1 : len(j)-1])
		}
	}
	add(jsonASCII(secret))
	q := url.QueryEscape(secret)
	add(q)
	add(strings.ReplaceAll(q, "+", "%20"))
	add(url.PathEscape(secret))
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		add(enc.EncodeToString([]byte(secret)))
		for off := 0; off < 3; off++ {
			// Inside a longer value the characters that mix the secret's bits with its
			// neighbours' differ; keep only those made of the secret's bits alone.
			buf := append(make([]byte, off), secret...)
			e := enc.EncodeToString(buf)
			head := (off*8 + 5) / 6
			tail := len(e)
			if (len(buf)*8)%6 != 0 {
				tail--
			}
			if tail > head {
				add(e[head:tail])
			}
		}
	}
	return out
}

// jsonASCII escapes s as a JSON string body with every non-ASCII rune as \uXXXX (the form of
// encoders that ensure ASCII output).
func jsonASCII(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == utf8.RuneError:
			fmt.Fprintf(&b, `\u%04x`, r)
		case r < 0x80:
			b.WriteRune(r)
		case r > 0xFFFF:
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

// matcher is an Aho-Corasick automaton over every pattern.
type matcher struct {
	nodes []acNode
}

type acNode struct {
	next  map[byte]int32
	fail  int32
	depth int32
	// out is the length of the longest pattern that ends in this state (through fail links
	// too); 0 when none does.
	out int32
}

func buildMatcher(patterns []string) *matcher {
	m := &matcher{nodes: []acNode{{}}}
	for _, p := range patterns {
		s := int32(0)
		for i := 0; i < len(p); i++ {
			n := &m.nodes[s]
			nx, ok := n.next[p[i]]
			if !ok {
				if n.next == nil {
					n.next = map[byte]int32{}
				}
				nx = int32(len(m.nodes))
				n.next[p[i]] = nx
				m.nodes = append(m.nodes, acNode{depth: int32(i + 1)})
			}
			s = nx
		}
		if int32(len(p)) > m.nodes[s].out {
			m.nodes[s].out = int32(len(p))
		}
	}
	// Breadth-first: fail links and inherited outputs.
	queue := []int32{}
	for _, c := range m.nodes[0].next {
		queue = append(queue, c)
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for b, c := range m.nodes[s].next {
			f := m.nodes[s].fail
			for {
				if nx, ok := m.nodes[f].next[b]; ok && nx != c {
					m.nodes[c].fail = nx
					break
				}
				if f == 0 {
					m.nodes[c].fail = 0
					break
				}
				f = m.nodes[f].fail
			}
			if o := m.nodes[m.nodes[c].fail].out; o > m.nodes[c].out {
				m.nodes[c].out = o
			}
			queue = append(queue, c)
		}
	}
	return m
}

func (m *matcher) step(s int32, b byte) int32 {
	for {
		if nx, ok := m.nodes[s].next[b]; ok {
			return nx
		}
		if s == 0 {
			return 0
		}
		s = m.nodes[s].fail
	}
}

// Byte classes of the terminal stream.
const (
	kindVisible = iota // text the terminal shows (including C0 controls other than ESC)
	kindControl        // escape sequence introducers, parameters and terminators
	kindPayload        // the string of an OSC, DCS, APC, PM or SOS sequence (titles, links)
)

// Escape-sequence parser states.
const (
	escGround = iota
	escEsc
	escInter
	escCSI
	escString
	escStringEsc
)

type pendingByte struct {
	b      byte
	kind   uint8
	masked bool
	idx    int64 // position in its channel's byte sequence
}

// channel tracks one byte sequence that secrets are matched in: the visible text, or the
// string payloads of escape sequences.
type channel struct {
	state    int32
	count    int64 // bytes seen
	maskOpen bool  // the last byte sent was masked (a run of masked bytes gets one Mask)
}

// Filter masks secrets in a stream of terminal output. Bytes are matched as the terminal shows
// them: escape sequences (CSI such as colours, OSC such as titles) interleaved inside a secret
// do not hide it, and the string payloads of OSC/DCS sequences are matched on their own. A
// Filter holds back only the bytes that could still be the start of a secret, and sends them
// anyway after a short quiet delay so that interactive echo stays responsive.
type Filter struct {
	secrets *Secrets
	out     func([]byte)
	delay   time.Duration

	mu      sync.Mutex
	m       *matcher
	buf     []pendingByte
	esc     int
	vis     channel
	pay     channel
	timer   *time.Timer
	closed  bool
	scratch []byte
}

// NewFilter returns a Filter that masks the secrets of s and passes the result to out. out is
// called with the filter's lock held, in stream order, and must not retain the slice. Bytes
// held back as a possible secret prefix are sent after flushDelay without further input (0
// holds them until the next Write, Flush or Close).
func NewFilter(s *Secrets, out func([]byte), flushDelay time.Duration) *Filter {
	return newFilter(s, out, flushDelay)
}

func newFilter(s *Secrets, out func([]byte), flushDelay time.Duration) *Filter {
	return &Filter{secrets: s, out: out, delay: flushDelay, m: s.matcher()}
}

// Write filters p. It never fails; the error is for io.Writer.
func (f *Filter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, fmt.Errorf("console filter: write after close")
	}
	if m := f.secrets.matcher(); m != f.m {
		f.rescan(m)
	}
	for _, b := range p {
		f.feed(b)
	}
	f.emit(false)
	if len(f.buf) > 0 && f.delay > 0 && f.timer == nil {
		f.timer = time.AfterFunc(f.delay, f.timerFlush)
	}
	return len(p), nil
}

// Flush sends every held-back byte except the tail of an unfinished escape-sequence string
// (which the terminal does not show before its terminator either).
func (f *Filter) Flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.emit(true)
}

// Close flushes everything, including an unfinished escape-sequence string, and stops the
// timer. Later writes fail.
func (f *Filter) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	f.pay.state = 0
	f.emit(true)
}

func (f *Filter) timerFlush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.timer = nil
	if f.closed {
		return
	}
	f.emit(true)
	if len(f.buf) > 0 && f.delay > 0 {
		// An unfinished OSC string is still held; look again later.
		f.timer = time.AfterFunc(f.delay, f.timerFlush)
	}
}

// classify advances the escape-sequence parser over b and returns b's kind.
func (f *Filter) classify(b byte) uint8 {
	switch f.esc {
	case escGround:
		if b == 0x1b {
			f.esc = escEsc
			return kindControl
		}
		return kindVisible
	case escEsc:
		switch {
		case b == '[':
			f.esc = escCSI
		case b == ']' || b == 'P' || b == 'X' || b == '^' || b == '_':
			f.esc = escString
			f.pay.state = 0
		case b >= 0x20 && b <= 0x2f:
			f.esc = escInter
		case b == 0x1b:
			f.esc = escEsc
		default:
			f.esc = escGround
		}
		return kindControl
	case escInter:
		if b < 0x20 || b > 0x2f {
			f.esc = escGround
		}
		if b == 0x1b {
			f.esc = escEsc
		}
		return kindControl
	case escCSI:
		switch {
		case b == 0x1b:
			f.esc = escEsc
		case b >= 0x40 && b <= 0x7e, b == 0x18, b == 0x1a:
			f.esc = escGround
		}
		return kindControl
	case escString:
		switch b {
		case 0x07:
			f.esc = escGround
			f.pay.state = 0
			return kindControl
		case 0x1b:
			f.esc = escStringEsc
			f.pay.state = 0
			return kindControl
		}
		return kindPayload
	case escStringEsc:
		if b == '\\' {
			f.esc = escGround
			return kindControl
		}
		f.esc = escEsc
		return f.classify(b)
	}
	f.esc = escGround
	return kindVisible
}

func (f *Filter) feed(b byte) {
	kind := f.classify(b)
	var ch *channel
	switch kind {
	case kindVisible:
		ch = &f.vis
	case kindPayload:
		ch = &f.pay
	default:
		f.buf = append(f.buf, pendingByte{b: b, kind: kind})
		return
	}
	f.buf = append(f.buf, pendingByte{b: b, kind: kind, idx: ch.count})
	ch.count++
	ch.state = f.m.step(ch.state, b)
	if n := f.m.nodes[ch.state].out; n > 0 {
		f.mark(kind, ch.count-int64(n))
	}
}

// mark masks the buffered bytes of kind whose index is at least from.
func (f *Filter) mark(kind uint8, from int64) {
	for i := len(f.buf) - 1; i >= 0; i-- {
		p := &f.buf[i]
		if p.kind != kind {
			continue
		}
		if p.idx < from {
			return
		}
		p.masked = true
	}
}

// rescan switches to a new matcher and runs it over the bytes still held back.
func (f *Filter) rescan(m *matcher) {
	f.m = m
	f.vis.state, f.pay.state = 0, 0
	for i := range f.buf {
		p := f.buf[i]
		ch := &f.vis
		switch p.kind {
		case kindControl:
			f.pay.state = 0
			continue
		case kindPayload:
			ch = &f.pay
		}
		ch.state = m.step(ch.state, p.b)
		if n := m.nodes[ch.state].out; n > 0 {
			f.mark(p.kind, p.idx+1-int64(n))
		}
	}
}

// emit sends the bytes that can no longer be part of a secret; force sends every visible byte
// too (stopping only at a possible secret prefix inside an unfinished escape string).
func (f *Filter) emit(force bool) {
	visLimit := f.vis.count - int64(f.m.nodes[f.vis.state].depth)
	payLimit := f.pay.count - int64(f.m.nodes[f.pay.state].depth)
	if force {
		visLimit = f.vis.count
	}
	out := f.scratch[:0]
	n := 0
	for ; n < len(f.buf); n++ {
		p := f.buf[n]
		switch p.kind {
		case kindVisible:
			if p.idx >= visLimit {
				goto done
			}
			if p.masked {
				if !f.vis.maskOpen {
					out = append(out, Mask...)
					f.vis.maskOpen = true
				}
				continue
			}
			f.vis.maskOpen = false
		case kindPayload:
			if p.idx >= payLimit {
				goto done
			}
			if p.masked {
				if !f.pay.maskOpen {
					out = append(out, Mask...)
					f.pay.maskOpen = true
				}
				continue
			}
			f.pay.maskOpen = false
		default:
			f.pay.maskOpen = false
		}
		out = append(out, p.b)
	}
done:
	if n > 0 {
		rest := copy(f.buf, f.buf[n:])
		f.buf = f.buf[:rest]
	}
	if len(out) > 0 {
		f.out(out)
	}
	if cap(out) <= 64<<10 {
		f.scratch = out[:0]
	} else {
		f.scratch = nil
	}
}
