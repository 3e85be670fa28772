package signals

import (
	"encoding/binary"
	"encoding/hex"
	"os"

	"golang.org/x/sys/unix"
)

// TerminalMode returns the modes of terminal f as one word, for a line of
// the guard's pipe (see supervise.GuardArg); false when f's cannot be
// read.
func TerminalMode(f *os.File) (string, bool) {
	t, err := unix.IoctlGetTermios(int(f.Fd()), getTermios)
	if err != nil {
		return "", false
	}
	b, err := binary.Append(nil, binary.NativeEndian, t)
	if err != nil {
		return "", false
	}
	return hex.EncodeToString(b), true
}

// decodeMode is the modes TerminalMode encoded.
func decodeMode(s string) (*unix.Termios, bool) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, false
	}
	var t unix.Termios
	if n, err := binary.Decode(b, binary.NativeEndian, &t); err != nil || n != len(b) {
		return nil, false
	}
	return &t, true
}

// RestoreModeIf sets the modes of the terminal at path to saved if they
// are raw now, as TerminalMode read them once ward had made them so, and
// reports whether it did: ward, killed under --mask, left its terminal
// raw (no echo, no line editing, Ctrl-C a plain byte) to a shell that
// does not put a job's modes back itself (sh, dash; bash and zsh do). A
// terminal whose modes are anything else now is someone else's (the
// shell's line editor has it again) and is left alone. The caller
// ignores SIGTTOU: it changes the modes from outside the terminal's
// foreground.
func RestoreModeIf(path, saved, raw string) bool {
	want, ok1 := decodeMode(saved)
	was, ok2 := decodeMode(raw)
	if !ok1 || !ok2 {
		return false
	}
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	fd := int(f.Fd())
	now, err := unix.IoctlGetTermios(fd, getTermios)
	if err != nil || *now != *was {
		return false
	}
	return unix.IoctlSetTermios(fd, setTermios, want) == nil
}
