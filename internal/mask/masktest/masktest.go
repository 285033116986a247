// Package masktest holds what tests of terminal-output masking share: an independent reading
// of the escape-sequence grammar mask.Filter parses, so a test can ask what a terminal would
// show (and what titles or hyperlinks would carry) after the filter ran.
package masktest

import "bytes"

// TerminalView splits a stream the way mask.Filter's parser does: the visible text, and the string
// payload of every OSC/DCS/APC/PM/SOS sequence. It is a separate, straightforward reading of
// the same grammar: tests of the filter and of the console compare what a terminal would show
// against it.
func TerminalView(s []byte) (visible string, payloads []string) {
	var vis bytes.Buffer
	var pay *bytes.Buffer
	endPayload := func() {
		if pay != nil {
			payloads = append(payloads, pay.String())
			pay = nil
		}
	}
	const (
		ground = iota
		esc
		inter
		csi
		str
		strEsc
	)
	st := ground
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch st {
		case ground:
			if b == 0x1b {
				st = esc
			} else {
				vis.WriteByte(b)
			}
		case esc:
			switch {
			case b == '[':
				st = csi
			case b == ']' || b == 'P' || b == 'X' || b == '^' || b == '_':
				st = str
				pay = &bytes.Buffer{}
			case b >= 0x20 && b <= 0x2f:
				st = inter
			case b == 0x1b:
			default:
				st = ground
			}
		case inter:
			switch {
			case b == 0x1b:
				st = esc
			case b < 0x20 || b > 0x2f:
				st = ground
			}
		case csi:
			switch {
			case b == 0x1b:
				st = esc
			case (b >= 0x40 && b <= 0x7e) || b == 0x18 || b == 0x1a:
				st = ground
			}
		case str:
			switch b {
			case 0x07:
				endPayload()
				st = ground
			case 0x1b:
				endPayload()
				st = strEsc
			default:
				pay.WriteByte(b)
			}
		case strEsc:
			if b == '\\' {
				st = ground
			} else {
				st = esc
				i-- // reread b as the byte after ESC
			}
		}
	}
	endPayload()
	return vis.String(), payloads
}
