package mask

import "bytes"

// A program on a terminal colours its output, and some colour inside a
// value: grep --color marks its match ("sk_live_\e[01;31m\e[K4eC39\e[m\e[K
// HqLy..."), a highlighter marks part of a URL. The terminal shows the
// value whole, so the Writer matches values in the text without these
// styles (SGR, "\e[...m", erase in line, "\e[...K", and "\e(B", the
// ASCII character set, which terminfo's sgr0 puts before "\e[m" and tmux
// and ncurses programs write; and the shift bytes SI and SO after one of
// those, as sgr0 is "\e[m\x0f" for TERM=screen, tmux and linux: none
// draws a character), and puts the styles from inside a value after its
// <ward:NAME>, so the colours after it are as the program set them. When
// a value has a shift byte in it (a binary value's), shifts are left out
// of the text wherever they are, and the value is matched without its
// own too: taken into the style run before it, the SI a value started
// with went by in clear, after any colour code.

const (
	esc      = 0x1b
	shiftIn  = 0x0f
	shiftOut = 0x0e
	// maxStyle bounds one style sequence and maxStyleRun the styles
	// between two characters of a value: longer ones count as text, so
	// a tail held back as the start of a value stays short. One SGR that
	// sets bold, a 24-bit foreground and a 24-bit background is 34 to 47
	// bytes (delta, rich, nu-ansi-term write them; "\e[01;03;04;38;2;
	// 255;255;255;48;2;255;255;255m" is 47; with strike, italic and an
	// underline colour, 65 and more): at 32, and then 64, such a colour
	// inside a value counted as text, and the value went by unmasked.
	maxStyle    = 128
	maxStyleRun = 256
)

// styleLen returns the length of the style sequence b starts with, 0 if
// it starts with none; complete is unset when b ends inside one.
func styleLen(b []byte) (n int, complete bool) {
	if len(b) == 0 || b[0] != esc {
		return 0, false
	}
	if len(b) == 1 {
		return 1, false
	}
	if b[1] == '(' {
		switch {
		case len(b) == 2:
			return 2, false
		case b[2] == 'B':
			return 3, true
		}
		return 0, false
	}
	if b[1] != '[' {
		return 0, false
	}
	for i := 2; i < len(b) && i < maxStyle; i++ {
		switch c := b[i]; {
		case c >= '0' && c <= '9', c == ';', c == ':':
		case c == 'm', c == 'K':
			return i + 1, true
		default:
			return 0, false
		}
	}
	if len(b) < maxStyle {
		return len(b), false
	}
	return 0, false
}

// styleRun returns the length of the run of complete style sequences b
// starts with, 0 if there is none or it is longer than maxStyleRun;
// partial is set when b ends inside the run (more input may complete a
// sequence or lengthen the run), with n the length of the complete
// sequences before the unfinished one: at the end of output, or of a
// value, they are styles, and what is left is text (they were all text
// then, and a value that ends "\e[13m\e" was matched neither as it is
// nor without its styles).
func styleRun(b []byte) (n int, partial bool) {
	for n < len(b) {
		if n > 0 && isShift(b[n]) {
			if n++; n > maxStyleRun {
				return 0, false
			}
			continue
		}
		l, complete := styleLen(b[n:])
		if l == 0 {
			break
		}
		if !complete {
			return n, true
		}
		n += l
		if n > maxStyleRun {
			return 0, false
		}
	}
	return n, false
}

// isShift reports whether c is SI or SO, which switch a terminal's
// character set and draw nothing.
func isShift(c byte) bool { return c == shiftIn || c == shiftOut }

// shiftRun returns the number of shift bytes b starts with.
func shiftRun(b []byte) int {
	n := 0
	for n < len(b) && isShift(b[n]) {
		n++
	}
	return n
}

// unstyle returns the text of buf without its style runs (nor its shift
// bytes, with shifts set), and where each of its bytes is in buf. With
// more set, a style run that buf ends in is undecided: cut is where it
// starts (len(buf) if there is none), and the text ends there; without
// it, its complete sequences are styles.
func (mw *Writer) unstyle(buf []byte, more bool) (text []byte, at []int, cut int) {
	text, at = mw.text[:0], mw.at[:0]
	cut = len(buf)
	for i := 0; i < len(buf); {
		if mw.shifts && isShift(buf[i]) {
			// A run of them, as long as a run of styles may be; a
			// longer one is text, as a longer run of styles is (held
			// after a value's first bytes, a run of megabytes was held
			// back whole, and looked at again at each write).
			n := shiftRun(buf[i:])
			if n <= maxStyleRun {
				i += n
				continue
			}
			for end := i + n; i < end; i++ {
				text = append(text, buf[i])
				at = append(at, i)
			}
			continue
		}
		if buf[i] == esc {
			n, partial := styleRun(buf[i:])
			if partial && more {
				cut = i
				break
			}
			if n > 0 {
				i += n
				continue
			}
		}
		text = append(text, buf[i])
		at = append(at, i)
		i++
	}
	mw.text, mw.at = text, at
	return text, at, cut
}

// styled reports whether b holds a byte that may be a style's (or a
// shift, with shifts set): its values are then matched in its text (see
// emitStyled). Output is looked at for shifts only when a value holds
// one: two more looks at every write cost plain output a fifth of its
// speed.
func (mw *Writer) styled(b []byte) bool {
	return bytes.IndexByte(b, esc) >= 0 || mw.shifts && hasShift(b)
}

// hasShift reports whether b holds SI or SO.
func hasShift(b []byte) bool {
	return bytes.IndexByte(b, shiftIn) >= 0 || bytes.IndexByte(b, shiftOut) >= 0
}

// emitStyled is emit for output with escape sequences or shifts in it:
// values are matched in its text without styles.
func (mw *Writer) emitStyled(buf []byte, more bool) error {
	text, at, cut := mw.unstyle(buf, more)
	inBuf := func(i int) int {
		if i < len(text) {
			return at[i]
		}
		return cut
	}
	hold := len(text)
	if more {
		hold = mw.p.Hold(text, 0)
	}
	out := mw.out[:0]
	pos, tpos := 0, 0
	for {
		m, ok := mw.p.Find(text, tpos)
		if !ok || m.Start >= hold {
			break
		}
		run, end, undecided := mw.p.cover(text, m, more, mw.links)
		mw.links = run
		if undecided == 0 {
			hold = m.Start
			break
		}
		out = append(out, buf[pos:at[m.Start]]...)
		// Each value's <ward:NAME>, then the styles inside the text it
		// adds to the run, up to where the next starts.
		for i, l := range run {
			if i == undecided {
				// Held from the value that input to come may continue.
				pos, hold = at[l.start], l.start
				break
			}
			out = append(out, mw.repl[l.pattern]...)
			upTo := end - 1 // the styles after the last are the text's after it
			if i+1 < len(run) {
				upTo = run[i+1].start
			}
			for k := l.start; k < upTo; k++ {
				out = append(out, buf[at[k]+1:at[k+1]]...)
			}
		}
		if undecided > 0 {
			break
		}
		pos, tpos = at[end-1]+1, end
		if tpos > hold {
			hold = mw.p.Hold(text, tpos)
		}
	}
	end := max(pos, inBuf(hold))
	out = append(out, buf[pos:end]...)
	mw.out = out
	if len(out) > 0 {
		if _, err := mw.w.Write(out); err != nil {
			mw.err = err
			return err
		}
	}
	mw.held = append(mw.held[:0], buf[end:]...)
	return nil
}
