package mask

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"sync"
	"unicode"
)

// WriteAddMask writes a GitHub Actions "::add-mask::" command to w for every
// form of every secret (see FormsOf), so the runner masks them in the job's
// log. The runner masks line by line, so a multi-line form is registered one
// line at a time, trimmed, leaving out the lines that carry nothing (see
// ciLines: PEM armour, lines shorter than MinLen or without a letter or
// digit) and a wrapped base64 or hex form's lines shorter than minFragmentLen;
// values shorter than MinLen are left out too, and their names are
// returned for a warning. Call it before the child starts, on ward's stdout
// (the stream the runner reads).
func WriteAddMask(w io.Writer, secrets []Secret) (skipped []string, err error) {
	bw := bufio.NewWriter(w)
	seen := map[string]bool{}
	register := func(line []byte) {
		if seen[string(line)] {
			return
		}
		seen[string(line)] = true
		bw.WriteString("::add-mask::")
		bw.WriteString(escapeCommandData(string(line)))
		bw.WriteString("\n")
	}
	for _, s := range secrets {
		if len(s.Value) < MinLen {
			skipped = append(skipped, s.Name)
			continue
		}
		for _, form := range FormsOf(s.Value) {
			if bytes.IndexByte(form.Bytes, '\n') < 0 {
				register(form.Bytes)
				if bytes.IndexByte(bytes.TrimRight(form.Bytes, "\r"), '\r') < 0 {
					continue
				}
				// A lone "\r" inside ends a line for the runner too:
				// the pieces as well (see runnerLines).
			}
			for _, line := range ciLines(form.Bytes) {
				// The last line of wrapped base64 or hex may be a
				// few characters ("Zg==", "37"), which the runner
				// would mask all over the log.
				if (form.Encoding != Base64 && form.Encoding != Hex) || len(line) >= minFragmentLen {
					register(line)
				}
			}
		}
	}
	return skipped, bw.Flush()
}

// escapeCommandData escapes a workflow command's data as the runner
// unescapes it; unescaped, a value holding "%0A" would register another
// string than itself.
func escapeCommandData(s string) string {
	return commandData.Replace(s)
}

var commandData = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")

// Commands follows, in the output ward passes on to a GitHub Actions
// runner, the one workflow command that changes how the runner reads the
// rest: after ::stop-commands::TOKEN (or ##[stop-commands]TOKEN) the
// runner processes no command, ::add-mask:: included, until a line
// ::TOKEN::, and prints each as it is. A value registered meanwhile would
// be printed in clear (actions/runner, ActionCommandManager.
// TryProcessCommand), so ward registers none while Paused. The lines are
// read as the runner reads them (ActionCommand.TryParseV2, TryParse):
// leading white space trimmed, "::NAME ...::DATA", or "##[NAME ...]DATA"
// anywhere in the line, names in any case, a line ended by "\n" or "\r".
// Where ward cannot tell (a line longer than it keeps), it takes the line
// for a pause that nothing resumes: it may hold back a registration the
// runner would have taken, never let through one it prints.
type Commands struct {
	mu     sync.Mutex
	paused bool
	token  string // what resumes; "" resumes nothing
	// OnPause and OnResume, when set, are called after the state changes.
	OnPause, OnResume func()

	// wmu is held by a write through a Writer, and by Insert; lines is
	// the line each stream has open, by the key its Writers were made
	// with.
	wmu   sync.Mutex
	lines map[any]*openLine
}

// Insert runs write, which writes ward's own lines to a stream the runner
// reads, between two writes of the child's output through the Writers,
// unless the runner is paused. Ward's lines begin with a line break, so a
// line the child had left open ends there for the runner: if it pauses
// commands, Insert pauses too (with no token: nothing resumes it) and
// writes nothing. The line's rest may then be read by the runner as a
// line of its own; it is read both ways: a pause if either reading
// pauses, never a resume. It reports whether write ran.
func (c *Commands) Insert(write func() error) (bool, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for _, l := range c.lines {
		if len(l.line) == 0 && !l.long {
			continue
		}
		if pause, _, _ := c.read(l); pause {
			c.pause("")
		}
		l.split = true
	}
	if c.Paused() {
		return false, nil
	}
	return true, write()
}

// Paused reports whether the runner takes no commands now.
func (c *Commands) Paused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused
}

// Writer returns w, with the commands in what is written through it
// followed. A pause takes effect before the line that asks for it is
// passed on, a resume after it: ward never writes a registration the
// runner could read while paused. stream names the stream w writes to
// (its *os.File): the Writers of one stream, say those of a child that
// restarted and of the one before, share the line it has open.
func (c *Commands) Writer(stream any, w io.Writer) io.Writer {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.lines == nil {
		c.lines = map[any]*openLine{}
	}
	if c.lines[stream] == nil {
		c.lines[stream] = &openLine{}
	}
	return &commandWriter{c: c, w: w, l: c.lines[stream]}
}

// maxCommandLine is how much of a line Commands keeps to read it.
const maxCommandLine = 64 << 10

type commandWriter struct {
	c *Commands
	w io.Writer
	l *openLine
}

// openLine is what a stream's line holds so far.
type openLine struct {
	line []byte // up to maxCommandLine bytes
	long bool   // the line is longer than that
	// v1 is set once "##[" was seen anywhere in the line; tail holds the
	// line's last tailLen (at most two) bytes, to see it across writes.
	v1      bool
	tail    [2]byte
	tailLen int
	// split: ward's own lines went out in the middle of this line (see
	// Commands.Insert).
	split bool
}

var v1Start = []byte("##[")

func (cw *commandWriter) Write(b []byte) (int, error) {
	cw.c.wmu.Lock()
	defer cw.c.wmu.Unlock()
	written := 0
	for len(b) > 0 {
		end := bytes.IndexAny(b, "\r\n")
		if end < 0 {
			cw.l.add(b)
			n, err := cw.w.Write(b)
			return written + n, err
		}
		cw.l.add(b[:end])
		pause, token, resume := cw.c.read(cw.l)
		*cw.l = openLine{line: cw.l.line[:0]}
		if pause {
			cw.c.pause(token)
		}
		n, err := cw.w.Write(b[:end+1])
		written += n
		if err != nil {
			return written, err
		}
		if resume {
			cw.c.resume()
		}
		b = b[end+1:]
	}
	return written, nil
}

// add appends a piece of the line.
func (l *openLine) add(b []byte) {
	if len(b) == 0 {
		return
	}
	if !l.v1 {
		// "##[" in b, or begun in the line's last two bytes.
		edge := append(l.tail[:l.tailLen:l.tailLen], b[:min(len(b), 2)]...)
		l.v1 = bytes.Contains(edge, v1Start) || bytes.Contains(b, v1Start)
	}
	if len(b) >= 2 {
		l.tail, l.tailLen = [2]byte{b[len(b)-2], b[len(b)-1]}, 2
	} else if l.tailLen == 2 {
		l.tail = [2]byte{l.tail[1], b[0]}
	} else {
		l.tail[l.tailLen] = b[0]
		l.tailLen++
	}
	if room := maxCommandLine - len(l.line); len(b) > room {
		l.line = append(l.line, b[:room]...)
		l.long = true
		return
	}
	l.line = append(l.line, b...)
}

// read reads a whole line: whether it pauses the runner's commands, with
// the token that resumes them, or resumes them.
func (c *Commands) read(l *openLine) (pause bool, token string, resume bool) {
	c.mu.Lock()
	paused, current := c.paused, c.token
	c.mu.Unlock()
	line, long, v1 := l.line, l.long, l.v1
	if l.split {
		// The runner may have read it as two lines: never a resume, and
		// a pause if either reading pauses.
		if paused {
			return false, "", false
		}
		whole := *l
		whole.split = false
		if p, t, _ := c.read(&whole); p {
			return true, t, false
		}
		return bytes.Contains(bytes.ToLower(line), []byte("::stop-commands")), "", false
	}
	name, data, isV2 := commandV2(line)
	if paused {
		// The runner reads ##[NAME] only when the line is no ::NAME::
		// of a command it knows; ward, not knowing which it knows, takes
		// ##[TOKEN] only on a line that is no ::NAME:: at all.
		if !isV2 {
			name, _, _ = commandV1(line)
		}
		return false, "", current != "" && !long && strings.EqualFold(name, current)
	}
	if long {
		// Only the line's start was kept: a pause whose token ward has
		// not seen whole is one it cannot tell the end of.
		switch {
		case isV2 && !strings.EqualFold(name, "stop-commands") && !v1:
			return false, "", false
		case isV2 || v1 || bytes.HasPrefix(bytes.TrimLeftFunc(line, unicode.IsSpace), []byte("::")):
			return true, "", false
		}
		return false, "", false
	}
	if isV2 && strings.EqualFold(name, "stop-commands") {
		return true, unescapeCommand(data, commandDataEscapes), false
	}
	if name, data, ok := commandV1(line); ok && strings.EqualFold(name, "stop-commands") {
		return true, unescapeCommand(data, commandEscapes), false
	}
	return false, "", false
}

func (c *Commands) pause(token string) {
	c.mu.Lock()
	changed := !c.paused
	if changed {
		c.paused, c.token = true, token
	}
	c.mu.Unlock()
	if changed && c.OnPause != nil {
		c.OnPause()
	}
}

func (c *Commands) resume() {
	c.mu.Lock()
	changed := c.paused
	c.paused, c.token = false, ""
	c.mu.Unlock()
	if changed && c.OnResume != nil {
		c.OnResume()
	}
}

// commandV2 reads "::NAME[ PROPERTIES]::DATA" after leading white space.
func commandV2(line []byte) (name string, data []byte, ok bool) {
	rest, found := bytes.CutPrefix(bytes.TrimLeftFunc(line, unicode.IsSpace), []byte("::"))
	if !found {
		return "", nil, false
	}
	info, data, found := bytes.Cut(rest, []byte("::"))
	if !found {
		return "", nil, false
	}
	name, _, _ = strings.Cut(string(info), " ")
	return name, data, true
}

// commandV1 reads "##[NAME[ PROPERTIES]]DATA" anywhere in the line.
func commandV1(line []byte) (name string, data []byte, ok bool) {
	i := bytes.Index(line, []byte("##["))
	if i < 0 {
		return "", nil, false
	}
	info, data, found := bytes.Cut(line[i+3:], []byte("]"))
	if !found {
		return "", nil, false
	}
	name, _, _ = strings.Cut(string(info), " ")
	return name, data, true
}

// The runner's unescaping of a command's data, one mapping after the
// other, as it does it: ::NAME::DATA, and ##[NAME]DATA.
var (
	commandDataEscapes = []string{"%0D", "\r", "%0A", "\n", "%25", "%"}
	commandEscapes     = []string{"%3B", ";", "%0D", "\r", "%0A", "\n", "%5D", "]", "%25", "%"}
)

func unescapeCommand(data []byte, escapes []string) string {
	s := string(data)
	for i := 0; i < len(escapes); i += 2 {
		s = strings.ReplaceAll(s, escapes[i], escapes[i+1])
	}
	return s
}
