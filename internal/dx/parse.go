package dx

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxInput bounds a filter or sort parameter.
const maxInput = 64 << 10

// parseValue parses JSON extended with single-quoted strings: arrays, objects (for sort),
// strings, numbers, true, false and null.
func parseValue(s, param string) (any, error) {
	if len(s) > maxInput {
		return nil, &Error{Param: param, Message: fmt.Sprintf("is longer than %d bytes", maxInput)}
	}
	p := &parser{s: s, param: param}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.s) {
		return nil, p.fail("unexpected text after the end")
	}
	return v, nil
}

type parser struct {
	s     string
	i     int
	param string
}

func (p *parser) fail(msg string) error {
	return &Error{Param: p.param, Message: fmt.Sprintf("%s at offset %d", msg, p.i)}
}

func (p *parser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *parser) value(depth int) (any, error) {
	if depth > maxDepth*2+2 {
		return nil, p.fail(fmt.Sprintf("nests deeper than %d", maxDepth))
	}
	p.space()
	if p.i >= len(p.s) {
		return nil, p.fail("unexpected end")
	}
	switch c := p.s[p.i]; {
	case c == '[':
		p.i++
		out := []any{}
		p.space()
		if p.i < len(p.s) && p.s[p.i] == ']' {
			p.i++
			return out, nil
		}
		for {
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			p.space()
			if p.i >= len(p.s) {
				return nil, p.fail("unclosed [")
			}
			if p.s[p.i] == ',' {
				p.i++
				continue
			}
			if p.s[p.i] == ']' {
				p.i++
				return out, nil
			}
			return nil, p.fail("expected , or ]")
		}
	case c == '{':
		p.i++
		out := map[string]any{}
		p.space()
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			return out, nil
		}
		for {
			p.space()
			if p.i >= len(p.s) || (p.s[p.i] != '"' && p.s[p.i] != '\'') {
				return nil, p.fail("expected a quoted key")
			}
			k, err := p.str()
			if err != nil {
				return nil, err
			}
			p.space()
			if p.i >= len(p.s) || p.s[p.i] != ':' {
				return nil, p.fail("expected :")
			}
			p.i++
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out[k] = v
			p.space()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
				continue
			}
			if p.i < len(p.s) && p.s[p.i] == '}' {
				p.i++
				return out, nil
			}
			return nil, p.fail("expected , or }")
		}
	case c == '"' || c == '\'':
		return p.str()
	case c == '-' || (c >= '0' && c <= '9'):
		j := p.i
		for j < len(p.s) && strings.IndexByte("+-.eE0123456789", p.s[j]) >= 0 {
			j++
		}
		f, err := strconv.ParseFloat(p.s[p.i:j], 64)
		if err != nil {
			return nil, p.fail("bad number " + strconv.Quote(p.s[p.i:j]))
		}
		p.i = j
		return f, nil
	}
	for _, lit := range []struct {
		w string
		v any
	}{{"true", true}, {"false", false}, {"null", nil}} {
		if strings.HasPrefix(p.s[p.i:], lit.w) {
			p.i += len(lit.w)
			return lit.v, nil
		}
	}
	return nil, p.fail("unexpected " + strconv.QuoteRune(rune(p.s[p.i])))
}

// str reads a string quoted with ' or " and JSON escapes.
func (p *parser) str() (string, error) {
	q := p.s[p.i]
	start := p.i
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == q:
			p.i++
			return b.String(), nil
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return "", p.fail("unfinished escape")
			}
			e := p.s[p.i+1]
			p.i += 2
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'u':
				if p.i+4 > len(p.s) {
					return "", p.fail("short \\u escape")
				}
				n, err := strconv.ParseUint(p.s[p.i:p.i+4], 16, 32)
				if err != nil {
					return "", p.fail("bad \\u escape")
				}
				b.WriteRune(rune(n))
				p.i += 4
			case '"', '\'', '\\', '/':
				b.WriteByte(e)
			default:
				return "", p.fail("unknown escape \\" + string(e))
			}
		default:
			r, n := utf8.DecodeRuneInString(p.s[p.i:])
			b.WriteRune(r)
			p.i += n
		}
	}
	p.i = start
	return "", p.fail("unclosed string")
}
