package logfmt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestShortTime(t *testing.T) {
	var b bytes.Buffer
	slog.New(Handler(&b, false, slog.LevelInfo)).Info("hello")
	if !regexp.MustCompile(`^time=\d\d:\d\d:\d\d\.\d\d\d level=INFO msg=hello app=ward\n$`).Match(b.Bytes()) {
		t.Errorf("got %q, want time=HH:MM:SS.mmm first", b.String())
	}
}

// TestArgRoundTrip: the logger FromArg makes of Arg's argument writes in
// the format and at the level of the one Arg was given.
func TestArgRoundTrip(t *testing.T) {
	for _, journal := range []bool{false, true} {
		handler := Handler
		if journal {
			handler = JournalHandler
		}
		for _, asJSON := range []bool{false, true} {
			for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
				arg := Arg(slog.New(handler(&bytes.Buffer{}, asJSON, level)))
				var b bytes.Buffer
				log, ok := FromArg(&b, arg)
				if !ok {
					t.Fatalf("FromArg(%q) refused Arg's argument", arg)
				}
				for _, l := range levels {
					if got, want := log.Enabled(context.Background(), l), l >= level; got != want {
						t.Errorf("%s: %s enabled %v, want %v", arg, l, got, want)
					}
				}
				if IsJSON(log) != asJSON {
					t.Errorf("%s: IsJSON is %v", arg, !asJSON)
				}
				log.Error("gone", "pgid", 42)
				out := b.Bytes()
				if journal {
					var ok bool
					if out, ok = bytes.CutPrefix(out, []byte("<3>")); !ok {
						t.Errorf("%s: wrote %q, want the error's priority first", arg, b.String())
					}
				}
				if got := isJSONRecord(out); got != asJSON {
					t.Errorf("%s: wrote %q: a JSON record is %v, want %v", arg, b.String(), got, asJSON)
				}
			}
		}
	}
}

// TestJournalHandler: each record begins with its level's priority,
// through loggers made With attributes and groups, and concurrently.
func TestJournalHandler(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(JournalHandler(&b, true, slog.LevelDebug))
	log.Debug("d")
	log.With("k", "v").Info("i")
	log.WithGroup("g").Warn("w", "k", "v")
	log.Error("e")
	log.Log(context.Background(), slog.LevelWarn+2, "between warn and error")
	log.Log(context.Background(), slog.LevelError+4, "past error")
	want := []string{"<7>", "<6>", "<4>", "<3>", "<4>", "<3>"}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), b.String())
	}
	for i, line := range lines {
		if !strings.HasPrefix(line, want[i]+"{") {
			t.Errorf("line %d: %q, want it to begin %s{", i, line, want[i])
		}
	}
	b.Reset()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				log.Debug("even")
			} else {
				log.Error("odd")
			}
		}()
	}
	wg.Wait()
	for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if !(strings.HasPrefix(line, "<7>") && strings.Contains(line, `"even"`)) && !(strings.HasPrefix(line, "<3>") && strings.Contains(line, `"odd"`)) {
			t.Errorf("a record with another's priority: %q", line)
		}
	}
}

// TestJournal: JOURNAL_STREAM names the stream by device and inode.
func TestJournal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := os.Create(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string]bool{
		fmt.Sprintf("%d:%d", st.Dev, st.Ino):   true,
		fmt.Sprintf("%d:%d", st.Dev, st.Ino+1): false,
		fmt.Sprintf("%d:%d", st.Dev+1, st.Ino): false,
		fmt.Sprintf("%d:%d:", st.Dev, st.Ino):  false,
		fmt.Sprintf(" %d:%d", st.Dev, st.Ino):  false,
		fmt.Sprintf("%d", st.Ino):              false,
		"":                                     false,
	} {
		t.Setenv("JOURNAL_STREAM", v)
		if got := Journal(f); got != want {
			t.Errorf("JOURNAL_STREAM=%q: Journal is %v, want %v", v, got, want)
		}
	}
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	if Journal(g) {
		t.Error("another file is taken for the journal's stream")
	}
}

// isJSONRecord reports whether b is one JSON record of ward's log.
func isJSONRecord(b []byte) bool {
	var r map[string]any
	return json.Unmarshal(b, &r) == nil && r["level"] == "ERROR" && r["msg"] == "gone" && r["app"] == "ward" && r["pgid"] == 42.0
}

func TestFromArgRefuses(t *testing.T) {
	for _, arg := range []string{"", "json", "xml:WARN", "json:LOUD", "text:", "json:WARN:", "json:WARN:syslog", "json:journal"} {
		if _, ok := FromArg(&bytes.Buffer{}, arg); ok {
			t.Errorf("FromArg(%q) accepted it", arg)
		}
	}
}

// blockedWriter is a reader that has stopped until unblocked.
type blockedWriter struct {
	open chan struct{}
	mu   sync.Mutex
	buf  bytes.Buffer
}

func (w *blockedWriter) Write(b []byte) (int, error) {
	<-w.open
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}

func TestQueueNeverWaitsForTheReader(t *testing.T) {
	w := &blockedWriter{open: make(chan struct{})}
	q := NewQueue(w)
	q.SetDropNote(func(n int) []byte { return []byte(fmt.Sprintf("dropped %d\n", n)) })
	done := make(chan struct{})
	line := bytes.Repeat([]byte("x"), 1023)
	line = append(line, '\n')
	go func() {
		// Twice what the queue holds.
		for range 2 * queueLimit / len(line) {
			q.Write(line)
		}
		q.Write([]byte("last\n"))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a write to the queue waited for the reader")
	}
	close(w.open)
	q.Flush()
	q.Write([]byte("after\n"))
	q.Flush()
	got := w.buf.String()
	kept := queueLimit / len(line)
	if n := strings.Count(got, string(line)); n != kept || !strings.HasSuffix(got, fmt.Sprintf("\ndropped %d\nafter\n", kept+1)) {
		t.Errorf("got %d whole records, then %q; want %d, then the note of %d dropped, then the next record", n, got[max(0, len(got)-40):], kept, kept+1)
	}
}

func TestErrorLinesUnderTheJournal(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(JournalHandler(&b, false, slog.LevelInfo))
	Error(log, &b, fmt.Errorf("first\nsecond \r::add-mask::x\x1b[2J"))
	want := "<3>ward: error: first\n<3>ward: error: second \\r::add-mask::x\\x1b[2J\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestPrintable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain\ttab é", "plain\ttab é"},
		{"a\rb", `a\rb`},
		{"\x1b]52;c;eA==\x07", `\x1b]52;c;eA==\a`},
		{"csi\u009b31m", `csi\u009b31m`},
		{"bad\xff", "bad\ufffd"},
	}
	for _, tc := range tests {
		if got := Printable(tc.in); got != tc.want {
			t.Errorf("Printable(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLongValuesBounded(t *testing.T) {
	var names []string
	for i := range 1000 {
		names = append(names, fmt.Sprintf("NAME_%04d", i))
	}
	var b bytes.Buffer
	slog.New(Handler(&b, true, slog.LevelInfo)).Info(strings.Repeat("é", 5000), "changed", strings.Join(names, ","), "error", strings.Repeat("x, y", 1000))
	var rec map[string]string
	if err := json.Unmarshal(b.Bytes(), &rec); err != nil || b.Len() > 16<<10 {
		t.Fatalf("got a record of %d bytes (%v), want valid JSON under 16 KiB", b.Len(), err)
	}
	if !strings.HasPrefix(rec["changed"], "NAME_0000,NAME_0001,") || !strings.HasSuffix(rec["changed"], fmt.Sprintf("NAME_%04d and %d more", 203, 796)) {
		t.Errorf("got changed=...%q", rec["changed"][len(rec["changed"])-40:])
	}
	if !strings.HasSuffix(rec["error"], "... (1952 bytes more)") || !strings.HasSuffix(rec["msg"], "é... (5904 bytes more)") {
		t.Errorf("got error=...%q, msg=...%q", rec["error"][len(rec["error"])-30:], rec["msg"][len(rec["msg"])-30:])
	}
}
