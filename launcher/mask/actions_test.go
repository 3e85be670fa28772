package mask

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// TestCommandsPause: the lines a GitHub Actions runner reads as a pause of
// its workflow commands, and as their resume, read as the runner reads
// them (actions/runner's ActionCommand.TryParseV2 and TryParse).
func TestCommandsPause(t *testing.T) {
	for _, tt := range []struct {
		name   string
		writes []string
		paused bool
	}{
		{"no command", []string{"hello\n", "::debug::x\n"}, false},
		{"pause", []string{"::stop-commands::tok\n"}, true},
		{"pause then resume", []string{"::stop-commands::tok\n", "::tok::\n"}, false},
		{"any case, leading space", []string{"  \t::STOP-Commands::tok\n", "::TOK::\n"}, false},
		{"properties", []string{"::stop-commands a=b::tok\n", "::tok x=y::more\n"}, false},
		{"legacy form anywhere in the line", []string{"text ##[stop-commands]tok\n"}, true},
		{"legacy resume", []string{"##[stop-commands]tok\n", "say ##[tok]\n"}, false},
		{"another token does not resume", []string{"::stop-commands::tok\n", "::other::\n", "::stop-commands::other\n", "::other::\n"}, true},
		{"the token is escaped data", []string{"::stop-commands::a%25b\n", "::a%b::\n"}, false},
		{"split across writes", []string{"::stop-", "commands::t", "ok\n::to", "k::", "\n"}, false},
		{"split, paused", []string{"::stop-", "commands::t", "ok\n"}, true},
		{"a carriage return ends a line", []string{"::stop-commands::tok\r", "::tok::\r"}, false},
		{"no line end yet", []string{"::stop-commands::tok"}, false},
		{"an empty token resumes nothing", []string{"::stop-commands::\n", "::::\n"}, true},
		{"not at the start", []string{"x ::stop-commands::tok\n"}, false},
		{"no closing ::", []string{"::stop-commands\n"}, false},
		// A ::NAME:: line is read as such, not for its ##[...].
		{"legacy resume only outside a ::NAME:: line", []string{"::stop-commands::tok\n", "::debug::##[tok]\n"}, true},
		// Too long to read whole: a pause that nothing resumes.
		{"long pause", []string{"::stop-commands::" + strings.Repeat("t", maxCommandLine) + "\n", "::" + strings.Repeat("t", maxCommandLine) + "::\n"}, true},
		{"long legacy pause", []string{strings.Repeat("x", maxCommandLine) + "##[stop-commands]tok\n"}, true},
		{"long legacy pause split at ##[", []string{strings.Repeat("x", maxCommandLine) + "#", "#", "[stop-commands]tok\n"}, true},
		{"long legacy pause split after #", []string{strings.Repeat("x", maxCommandLine) + "##", "[stop-commands]tok\n"}, true},
		{"long line without a command", []string{strings.Repeat("x", 2*maxCommandLine) + "\n"}, false},
		{"long other command", []string{"::debug::" + strings.Repeat("x", maxCommandLine) + "\n"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var c Commands
			var out bytes.Buffer
			w := c.Writer("stdout", &out)
			var want strings.Builder
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
				want.WriteString(s)
			}
			if c.Paused() != tt.paused {
				t.Errorf("Paused() = %v, want %v", c.Paused(), tt.paused)
			}
			if out.String() != want.String() {
				t.Errorf("the output changed")
			}
		})
	}
}

// TestCommandsOrder: the pause is in force before the line that asks for
// it goes on, and the resume only after its line went on, so that no
// registration can reach the runner while it is paused.
func TestCommandsOrder(t *testing.T) {
	var c Commands
	var seen []string
	w := c.Writer("stdout", writerFunc(func(b []byte) (int, error) {
		seen = append(seen, strings.TrimSpace(string(b))+map[bool]string{true: " (paused)", false: ""}[c.Paused()])
		return len(b), nil
	}))
	var events []string
	c.OnPause = func() { events = append(events, "pause") }
	c.OnResume = func() { events = append(events, "resume") }
	w.Write([]byte("a\n::stop-commands::tok\nb\n::tok::\nc\n"))
	want := []string{"a", "::stop-commands::tok (paused)", "b (paused)", "::tok:: (paused)", "c"}
	if strings.Join(seen, "|") != strings.Join(want, "|") {
		t.Errorf("written %q, want %q", seen, want)
	}
	if strings.Join(events, ",") != "pause,resume" {
		t.Errorf("events %q, want pause then resume", events)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// TestCommandsInsert: ward's own lines (::add-mask::), written between
// two writes of the child's output, begin with a line break, which ends a
// line the child left open: the runner may read it, and the rest of it, as
// lines of their own.
func TestCommandsInsert(t *testing.T) {
	type step struct {
		write  string // through the stream's Writer; "" inserts
		stream string
	}
	for _, tt := range []struct {
		name        string
		steps       []step
		wantWritten []bool // each insert's
		paused      bool
	}{
		{"between lines", []step{{"a\n", "out"}, {}, {"b\n", "out"}}, []bool{true}, false},
		// The break ends "::stop-commands::tok" for the runner: a pause
		// before ward's own lines, so they must not go out.
		{"a pause the break completes", []step{{"::stop-commands::tok", "out"}, {}, {"\n", "out"}}, []bool{false}, true},
		// The rest of the line begins a line of its own for the runner.
		{"a pause after the break", []step{{"progress: ", "out"}, {}, {"::stop-commands::tok\n", "out"}}, []bool{true}, true},
		{"a resume after the break is not one", []step{{"::stop-commands::tok\n", "out"}, {"x ", "out"}, {}, {"::tok::\n", "out"}}, []bool{false}, true},
		{"a resume on a line of its own", []step{{"::stop-commands::tok\n", "out"}, {"x ", "out"}, {}, {"::tok::\n", "out"}, {"::tok::\n", "out"}}, []bool{false}, false},
		// Two relays of one stream (an old child's and a new one's)
		// share the line it has open.
		{"one stream, two writers", []step{{"::stop-comm", "out"}, {"ands::tok\n", "out"}}, nil, true},
		{"two streams", []step{{"::stop-comm", "out"}, {"ands::tok\n", "err"}}, nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var c Commands
			var got []bool
			for _, s := range tt.steps {
				if s.write == "" {
					written, err := c.Insert(func() error { return nil })
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, written)
					continue
				}
				// A Writer per write: the line is the stream's.
				c.Writer(s.stream, &bytes.Buffer{}).Write([]byte(s.write))
			}
			if c.Paused() != tt.paused {
				t.Errorf("Paused() = %v, want %v", c.Paused(), tt.paused)
			}
			if !slices.Equal(got, tt.wantWritten) {
				t.Errorf("inserts written %v, want %v", got, tt.wantWritten)
			}
		})
	}
}

// TestCILineSecrets: the lines of a multi-line value searched for on
// their own in the files a runner passes on are those it is given (no
// armour, no line without a letter or digit), but the short ones, found
// inside other words (`main` in `mainline`).
func TestCILineSecrets(t *testing.T) {
	v := "main\ntrue\n-----BEGIN KEY-----\nlast-line-of-it\n----\n"
	var got []string
	for _, s := range CILineSecrets([]Secret{{Name: "ML", Value: []byte(v)}, {Name: "ONE", Value: []byte("single-line-value")}}) {
		if s.Name != "ML" {
			t.Errorf("a line of %s, a value of one line", s.Name)
		}
		got = append(got, string(s.Value))
	}
	if strings.Join(got, "|") != "last-line-of-it" {
		t.Errorf("got lines %q, want only last-line-of-it", got)
	}
}
