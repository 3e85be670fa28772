// Package logfmt makes ward's log handler, and carries its format and
// level to the processes ward runs of itself (the guard, the pty
// session's leader, socket activation's trampoline), so that what they
// write to ward's stderr reads as ward's own log: JSON records under
// --log-format json, where a collector (journald, a container's log
// driver into Loki or CloudWatch) reads one record a line, text records
// otherwise, and nothing below --log-level. They wrote plain
// "ward: warning: ..." lines, which a JSON pipeline takes for a record
// it cannot parse. Under systemd, each line begins with its syslog
// priority (see Journal).
package logfmt

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unicode"
	"unicode/utf8"
)

// Handler is ward's log handler on w: JSON records or text ones, at
// level, each with app=ward.
func Handler(w io.Writer, json bool, level slog.Leveler) slog.Handler {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: bounded}
	attrs := []slog.Attr{slog.String("app", "ward")}
	if json {
		return slog.NewJSONHandler(w, opts).WithAttrs(attrs)
	}
	opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr { return shortTime(groups, bounded(groups, a)) }
	return slog.NewTextHandler(w, opts).WithAttrs(attrs)
}

// maxValue bounds a string of a record (its message twice that): a
// record then fits one line of docker's and Kubernetes' logs (16 KiB),
// which split a longer line into pieces that reach a collector (Loki,
// CloudWatch) as lines none of which is JSON. The names a rotation
// changed, with the version each came from, made records of 60 KiB and
// more for a few hundred variables.
const maxValue = 2 << 10

// bounded is a with a string longer than maxValue cut: a list (names
// joined by ",") after its last whole name, with how many more there
// are; other text with how many bytes more.
func bounded(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindString {
		return a
	}
	s, limit := a.Value.String(), maxValue
	if a.Key == slog.MessageKey {
		limit *= 2
	}
	if len(s) <= limit {
		return a
	}
	// A comma is never part of a character of several bytes: the last
	// one before limit is the last before shortened's cut.
	if i := strings.LastIndexByte(s[:limit], ','); i > 0 && !strings.Contains(s, ", ") {
		return slog.String(a.Key, fmt.Sprintf("%s and %d more", s[:i], strings.Count(s[i:], ",")))
	}
	return slog.String(a.Key, shortened(s, limit))
}

// shortened is s cut at limit bytes (at a character's start), with how
// many bytes more there were.
func shortened(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes more)", s[:cut], len(s)-cut)
}

// JournalHandler is Handler for a w that is the systemd journal's stream
// (Journal): each record begins with its level's syslog priority, which
// journald takes off the line and keeps as its PRIORITY, so that
// `journalctl -p warning` shows ward's warnings and errors; without it
// every line of a service's stderr is info (6).
func JournalHandler(w io.Writer, json bool, level slog.Leveler) slog.Handler {
	out := &prioritized{w: w}
	return journalHandler{Handler(out, json, level), out}
}

type journalHandler struct {
	slog.Handler
	out *prioritized
}

func (h journalHandler) Handle(ctx context.Context, r slog.Record) error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	h.out.prefix = Priority(r.Level)
	return h.Handler.Handle(ctx, r)
}

func (h journalHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return journalHandler{h.Handler.WithAttrs(attrs), h.out}
}

func (h journalHandler) WithGroup(name string) slog.Handler {
	return journalHandler{h.Handler.WithGroup(name), h.out}
}

// prioritized writes each record (one line: the handlers quote or escape
// a line feed in a value) after the prefix its handler set for it.
type prioritized struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
}

func (p *prioritized) Write(b []byte) (int, error) {
	if _, err := p.w.Write(append([]byte(p.prefix), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Priority is the sd-daemon(3) prefix of a line at level l: <3> for an
// error, <4> for a warning, <6> for info, <7> for debug.
func Priority(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "<3>"
	case l >= slog.LevelWarn:
		return "<4>"
	case l >= slog.LevelInfo:
		return "<6>"
	}
	return "<7>"
}

// Journal reports whether f is the stream systemd connected to the
// journal: for a service whose stdout or stderr goes there, systemd sets
// JOURNAL_STREAM to that stream's device and inode (systemd.exec(5)). A
// program started by the service with its stderr elsewhere (a file, a
// pipe) inherits the variable, and f is then not that stream.
func Journal(f *os.File) bool {
	dev, ino, ok := strings.Cut(os.Getenv("JOURNAL_STREAM"), ":")
	if !ok {
		return false
	}
	d, err1 := strconv.ParseUint(dev, 10, 64)
	i, err2 := strconv.ParseUint(ino, 10, 64)
	var st syscall.Stat_t
	if err1 != nil || err2 != nil || syscall.Fstat(int(f.Fd()), &st) != nil {
		return false
	}
	return uint64(st.Dev) == d && uint64(st.Ino) == i
}

// shortTime writes a text record's time as the time of day to the
// millisecond: the date is the terminal's, the zone the user's.
func shortTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
		return slog.String(slog.TimeKey, a.Value.Time().Format("15:04:05.000"))
	}
	return a
}

// levels are the levels an argument names, lowest first.
var levels = []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}

// Arg is the argument that gives a process ward runs of itself the
// format and level of log, made by Handler or JournalHandler: "json:WARN",
// "text:INFO", "json:INFO:journal". (The guard starts with no
// environment, so it cannot look at JOURNAL_STREAM itself.)
func Arg(log *slog.Logger) string {
	format := "text"
	if IsJSON(log) {
		format = "json"
	}
	level := slog.LevelError + 4
	for _, l := range levels {
		if log.Enabled(context.Background(), l) {
			level = l
			break
		}
	}
	arg := format + ":" + level.String()
	if _, ok := log.Handler().(journalHandler); ok {
		arg += ":journal"
	}
	return arg
}

// FromArg is the logger on w that Arg's argument describes; ok is false
// for an argument Arg does not make.
func FromArg(w io.Writer, arg string) (log *slog.Logger, ok bool) {
	format, name, _ := strings.Cut(arg, ":")
	name, suffix, journal := strings.Cut(name, ":")
	var level slog.Level
	if (format != "json" && format != "text") || level.UnmarshalText([]byte(name)) != nil || (journal && suffix != "journal") {
		return nil, false
	}
	if journal {
		return slog.New(JournalHandler(w, format == "json", level)), true
	}
	return slog.New(Handler(w, format == "json", level)), true
}

// Error writes err, which ends the process, as ward reports its own
// error: an error record in JSON, else ward's "ward: error: " lines, one
// per line of err, each Printable and each with the journal's priority.
func Error(log *slog.Logger, w io.Writer, err error) {
	if IsJSON(log) {
		log.Error(err.Error())
		return
	}
	prefix := ""
	if _, ok := log.Handler().(journalHandler); ok {
		prefix = Priority(slog.LevelError)
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(w, "%sward: error: %s\n", prefix, Printable(line))
	}
}

// Printable is line with each control character (a carriage return, an
// escape, C1's CSI; a tab aside) written as a Go escape (\r, \x1b,
// \u009b): ward's text lines name what a manifest or the environment
// holds, and such a character there is the reader's to act on. GitHub's
// runner ends a line at "\r" and runs a line that starts with "::" as a
// workflow command (::add-mask::, ::stop-commands::); a terminal runs an
// escape sequence (its title, the clipboard). A byte that is not UTF-8
// becomes U+FFFD.
//
// A line is cut at twice maxValue, as a JSON record's message is: what
// a manifest holds is quoted in errors (an unknown option, a template's
// undeclared name, an invalid duration), and a 400 KB token made an
// error line of 800 KB, which docker and Kubernetes split at 16 KiB
// into pieces with no "ward: error:" before them.
func Printable(line string) string {
	if utf8.ValidString(line) && !strings.ContainsFunc(line, control) {
		return shortened(line, 2*maxValue)
	}
	var b strings.Builder
	for _, r := range line {
		if control(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return shortened(b.String(), 2*maxValue)
}

func control(r rune) bool { return r != '\t' && unicode.IsControl(r) }

// IsJSON reports whether log, made by Handler or JournalHandler, writes
// JSON records.
func IsJSON(log *slog.Logger) bool {
	h := log.Handler()
	if j, ok := h.(journalHandler); ok {
		h = j.Handler
	}
	_, ok := h.(*slog.JSONHandler)
	return ok
}

// queueLimit bounds what a Queue holds for a reader that has stopped:
// thousands of ward's records, and a bound on its memory should the
// reader never come back.
const queueLimit = 1 << 20

// Queue is ward's log on its way to w: a write takes the record and
// returns, and a goroutine of the queue's own writes it. ward's stderr
// is often a pipe to a log shipper (docker's log driver, journald, a
// `| less` the user paused); once the reader stops, a write there waits
// until it reads again, and ward, which writes its log from the loop
// that forwards signals, reaps and rotates, stopped with it: a rotation
// never restarted the child, and a SIGTERM was never passed on. Each
// record is one write of its handler, held whole; past queueLimit a
// record is dropped, and where the records resume a note says how many
// were.
type Queue struct {
	mu      sync.Mutex
	changed *sync.Cond
	w       io.Writer
	pending [][]byte
	size    int
	dropped int
	// dropNote is the record that says n records were dropped
	// (SetDropNote).
	dropNote func(n int) []byte
}

// NewQueue is a Queue writing to w.
func NewQueue(w io.Writer) *Queue {
	q := &Queue{w: w}
	q.changed = sync.NewCond(&q.mu)
	go q.run()
	return q
}

// SetDropNote sets the record, in the log's format, that says n records
// were dropped; it must not write to the queue.
func (q *Queue) SetDropNote(note func(n int) []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dropNote = note
}

// Write queues b, and never waits for the reader.
func (q *Queue) Write(b []byte) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.size+len(b) > queueLimit && len(q.pending) > 0 {
		q.dropped++
		return len(b), nil
	}
	if q.dropped > 0 && q.dropNote != nil {
		if note := q.dropNote(q.dropped); len(note) > 0 {
			q.pending = append(q.pending, note)
			q.size += len(note)
		}
	}
	q.dropped = 0
	q.pending = append(q.pending, bytes.Clone(b))
	q.size += len(b)
	q.changed.Broadcast()
	return len(b), nil
}

// Flush waits until every record queued so far is written (or its write
// failed): before ward exits, or replaces itself with the program.
func (q *Queue) Flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dropped > 0 && q.dropNote != nil {
		note := q.dropNote(q.dropped)
		q.pending = append(q.pending, note)
		q.size += len(note)
		q.dropped = 0
		q.changed.Broadcast()
	}
	for len(q.pending) > 0 {
		q.changed.Wait()
	}
}

func (q *Queue) run() {
	q.mu.Lock()
	for {
		for len(q.pending) == 0 {
			q.changed.Wait()
		}
		b := q.pending[0]
		q.mu.Unlock()
		// A failed write (a reader gone) loses that record only.
		q.w.Write(b)
		q.mu.Lock()
		q.pending = q.pending[1:]
		q.size -= len(b)
		q.changed.Broadcast()
	}
}
