package signals

import (
	"testing"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// TestRestoreModeIf: the guard puts a killed ward's terminal back as it
// was only while its modes are still the raw ones ward set; a terminal
// the shell's line editor has taken since keeps the editor's modes.
func TestRestoreModeIf(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("no pty: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	fd := int(tty.Fd())
	mode := func() unix.Termios {
		t.Helper()
		m, err := unix.IoctlGetTermios(fd, getTermios)
		if err != nil {
			t.Fatal(err)
		}
		return *m
	}
	set := func(change func(*unix.Termios)) string {
		t.Helper()
		m := mode()
		change(&m)
		if err := unix.IoctlSetTermios(fd, setTermios, &m); err != nil {
			t.Fatal(err)
		}
		s, ok := TerminalMode(tty)
		if !ok {
			t.Fatal("TerminalMode: cannot read the pty's modes")
		}
		return s
	}
	cooked := mode()
	saved, ok := TerminalMode(tty)
	if !ok {
		t.Fatal("TerminalMode: cannot read the pty's modes")
	}
	makeRaw := func(m *unix.Termios) { m.Lflag &^= unix.ICANON | unix.ECHO | unix.ISIG }
	raw := set(makeRaw)
	if !RestoreModeIf(tty.Name(), saved, raw) {
		t.Fatal("a terminal still raw as ward left it: not restored")
	}
	if got := mode(); got != cooked {
		t.Errorf("restored to %+v, want %+v", got, cooked)
	}

	raw = set(makeRaw)
	// A line editor's modes: no canonical mode, no echo, but its signals.
	editor := set(func(m *unix.Termios) { m.Lflag |= unix.ISIG })
	if RestoreModeIf(tty.Name(), saved, raw) {
		t.Error("a terminal whose modes changed since ward made it raw: restored")
	}
	if got, _ := TerminalMode(tty); got != editor {
		t.Error("a terminal whose modes changed since ward made it raw: its modes changed")
	}
	raw = set(makeRaw)
	for _, bad := range [][2]string{{"zz", raw}, {saved, raw[:len(raw)-2]}, {saved[:len(saved)-2], raw}, {"", ""}} {
		if RestoreModeIf(tty.Name(), bad[0], bad[1]) {
			t.Errorf("RestoreModeIf(%q, %q) took modes it cannot read", bad[0], bad[1])
		}
	}
}
