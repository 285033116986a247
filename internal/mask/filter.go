package mask

import (
	"fmt"
	"sync"
	"time"
)

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

// Filter masks secrets in a stream of terminal output (the debugging console) or of any text. Bytes are matched as the terminal shows
// them: escape sequences (CSI such as colours, OSC such as titles) interleaved inside a secret
// do not hide it, and the string payloads of OSC/DCS sequences are matched on their own. A
// Filter holds back only the bytes that could still be the start of a secret, and sends them
// anyway after a short quiet delay so that interactive echo stays responsive.
type Filter struct {
	secrets *Set
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
func NewFilter(s *Set, out func([]byte), flushDelay time.Duration) *Filter {
	return newFilter(s, out, flushDelay)
}

func newFilter(s *Set, out func([]byte), flushDelay time.Duration) *Filter {
	return &Filter{secrets: s, out: out, delay: flushDelay, m: s.matcher()}
}

// Write filters p. It never fails; the error is for io.Writer.
func (f *Filter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, fmt.Errorf("mask filter: write after close")
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
