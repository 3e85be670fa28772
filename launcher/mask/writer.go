// Package mask rewrites a child's output so that no secret value, nor its
// base64, hex, percent-encoded or JSON-escaped form, nor a line of a multi-line
// value that holds key material, reaches the terminal or a log: each
// occurrence becomes <ward:NAME> (see FormsOf). It also holds what the CLI
// needs to keep the child on a pseudo-terminal while masking (see OpenPTY)
// and to register values with a CI runner (see WriteAddMask).
package mask

import (
	"errors"
	"io"
	"syscall"
)

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("mask: write after close")

// Writer replaces every form of every secret in what is written to it with
// <ward:NAME> and passes the result on. It holds back only the longest tail
// of its input that could still be the start of a value, and writes
// everything before it at once: output with no value in it comes out
// byte-identical, and a prompt comes out as soon as it is written unless it
// ends with the start of a value.
//
// A Writer is used by one goroutine; give stdout and stderr one each.
type Writer struct {
	w      io.Writer
	p      *Patterns
	src    *Source  // where p comes from, when it may change (NewSourceWriter)
	repl   [][]byte // <ward:NAME> for each pattern
	held   []byte   // the undecided tail
	buf    []byte   // held followed by the latest write
	out    []byte   // rewritten output, when a write had a match
	err    error
	closed bool
	links  []link // scratch space for Patterns.cover

	// styles: values are matched in the text without its colour codes
	// (see emitStyled); text and at are its scratch space.
	styles bool
	// shifts: a value holds a shift byte, and shifts are left out of
	// the text wherever they are (see unstyle).
	shifts bool
	text   []byte
	at     []int
}

// New returns a Writer to w that masks secrets. It returns the names of the
// secrets skipped because their values are shorter than MinLen, so the
// caller can warn naming the variable (never the value).
func New(w io.Writer, secrets []Secret) (*Writer, []string) {
	p, skipped := Compile(secrets)
	return NewWriter(w, p), skipped
}

// NewWriter returns a Writer to w that masks the compiled patterns p, which
// several Writers may share.
func NewWriter(w io.Writer, p *Patterns) *Writer {
	mw := &Writer{w: w}
	mw.use(p)
	return mw
}

// use makes p the patterns masked from now on.
func (mw *Writer) use(p *Patterns) {
	mw.p = p
	// A value with style sequences in its bytes (a keystore's, by
	// chance) is matched without them too (see matchForms): one turned
	// the look through styles off for every value, and grep --color
	// printed every other token whole. Only a value that is little but
	// styles turns it off.
	mw.styles = !p.unstyled
	mw.shifts = p.shifts
	mw.repl = make([][]byte, p.Len())
	for i := range mw.repl {
		mw.repl[i] = []byte("<ward:" + p.Owners(i)[0].Name + ">")
	}
}

// sync takes up the patterns the Writer's Source holds now.
func (mw *Writer) sync() {
	if mw.src == nil {
		return
	}
	if p := mw.src.p.Load(); p != mw.p {
		mw.use(p)
	}
}

// Write masks b and writes all of it to the underlying writer except a
// tail that could be the start of a value. It returns len(b) unless the
// underlying writer failed; after a failure every Write returns that error.
func (mw *Writer) Write(b []byte) (int, error) {
	if mw.closed {
		return 0, ErrClosed
	}
	if mw.err != nil {
		return 0, mw.err
	}
	mw.sync()
	n := len(b)
	switch {
	case mw.styles && (mw.styled(b) || mw.styled(mw.held)):
		mw.buf = append(append(mw.buf[:0], mw.held...), b...)
		if err := mw.emitStyled(mw.buf, true); err != nil {
			return 0, err
		}
		return n, nil
	case len(mw.held) == 0:
		// The common case: b is masked where it lies, not copied.
	case len(b) <= mw.p.MaxLen():
		mw.buf = append(append(mw.buf[:0], mw.held...), b...)
		b = mw.buf
	default:
		rest, joined, err := mw.joinHeld(b)
		if err != nil {
			return 0, err
		}
		if !joined {
			// A run of overlapping values from the tail reaches past
			// what joinHeld looks at: the whole write, copied.
			mw.buf = append(append(mw.buf[:0], mw.held...), b...)
			rest = mw.buf
		}
		b = rest
	}
	if err := mw.emit(b, true); err != nil {
		return 0, err
	}
	return n, nil
}

// joinHeld decides the matches that start in the held tail, on the tail
// followed by the first MaxLen bytes of b (enough to hold any such match),
// writes the tail and returns the part of b left to mask, so that a long
// write after a held tail is not copied. joined is unset, and nothing
// written, when a run of overlapping values (see Patterns.cover) from
// the tail may go on past those bytes.
func (mw *Writer) joinHeld(b []byte) (rest []byte, joined bool, err error) {
	n := len(mw.held)
	j := append(append(mw.buf[:0], mw.held...), b[:mw.p.MaxLen()]...)
	mw.buf = j
	out := mw.out[:0]
	pos := 0
	for {
		m, ok := mw.p.Find(j, pos)
		if !ok || m.Start >= n {
			break
		}
		run, end, undecided := mw.p.cover(j, m, true, mw.links)
		mw.links = run
		if undecided >= 0 {
			return nil, false, nil
		}
		out = append(out, j[pos:m.Start]...)
		out = mw.appendRun(out, run)
		pos = end
	}
	if pos < n {
		out = append(out, j[pos:n]...)
	}
	mw.out = out
	mw.held = mw.held[:0]
	if _, err := mw.w.Write(out); err != nil {
		mw.err = err
		return nil, true, err
	}
	return b[max(0, pos-n):], true, nil
}

// appendRun appends the <ward:NAME> of each value of a run to out.
func (mw *Writer) appendRun(out []byte, run []link) []byte {
	for _, l := range run {
		out = append(out, mw.repl[l.pattern]...)
	}
	return out
}

// Flush writes the held-back tail, masking any value in it: use it when the
// stream ends. A value split across a Flush is not recognised, so Copy
// flushes only at the end of its input.
func (mw *Writer) Flush() error {
	if mw.err != nil {
		return mw.err
	}
	mw.sync()
	if len(mw.held) == 0 {
		return nil
	}
	buf := append(mw.buf[:0], mw.held...)
	mw.buf = buf
	if mw.styles && mw.styled(buf) {
		return mw.emitStyled(buf, false)
	}
	return mw.emit(buf, false)
}

// Close flushes the held-back tail; later Writes fail with ErrClosed. It
// does not close the underlying writer.
func (mw *Writer) Close() error {
	if mw.closed {
		return mw.err
	}
	err := mw.Flush()
	mw.closed = true
	return err
}

// emit rewrites buf, writes what is decided and keeps the rest in held.
// With more unset, all of buf is decided.
func (mw *Writer) emit(buf []byte, more bool) error {
	out := mw.out[:0]
	rewritten := false
	pos := 0
	hold := len(buf)
	if more {
		hold = mw.p.Hold(buf, 0)
	}
	for {
		m, ok := mw.p.Find(buf, pos)
		if !ok || m.Start >= hold {
			break
		}
		run, end, undecided := mw.p.cover(buf, m, more, mw.links)
		mw.links = run
		if undecided >= 0 {
			// Held from the value that input to come may continue;
			// the values before it are decided.
			if undecided > 0 {
				out = append(out, buf[pos:m.Start]...)
				out = mw.appendRun(out, run[:undecided])
				pos = run[undecided].start
				rewritten = true
			}
			hold = run[undecided].start
			break
		}
		out = append(out, buf[pos:m.Start]...)
		out = mw.appendRun(out, run)
		pos = end
		rewritten = true
		if pos > hold {
			// The match ran past the old tail: look for one after it.
			hold = mw.p.Hold(buf, pos)
		}
	}
	if rewritten {
		out = append(out, buf[pos:hold]...)
		mw.out = out
	} else {
		// The common case: nothing to replace, write the input as it is.
		out = buf[:hold]
	}
	if len(out) > 0 {
		if _, err := mw.w.Write(out); err != nil {
			mw.err = err
			return err
		}
	}
	mw.held = append(mw.held[:0], buf[hold:]...)
	return nil
}

// Copy relays src to dst until src ends, then flushes dst. Each read is
// masked and written as soon as it returns, so nothing is held but a
// possible start of a value. EIO, which a pseudo-terminal's master returns
// once the child side is closed, counts as the end. Copy returns the first
// error from reading or writing; on a write error the caller should close
// src, so the child's next write fails as it would have without ward.
func Copy(dst *Writer, src io.Reader) error {
	b := make([]byte, 256*1024)
	for {
		n, err := src.Read(b)
		if n > 0 {
			if _, werr := dst.Write(b[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF || errors.Is(err, syscall.EIO) {
			return dst.Flush()
		}
		if err != nil {
			// Still show what was held: the stream has ended either way.
			if ferr := dst.Flush(); ferr != nil {
				return ferr
			}
			return err
		}
	}
}
