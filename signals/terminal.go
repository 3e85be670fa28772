package signals

import (
	"os"

	"golang.org/x/sys/unix"
)

// OwnsTerminal reports whether f is a terminal whose foreground process
// group is ward's own, so the child may take it over. A ward started in
// the background must not steal the terminal.
func OwnsTerminal(f *os.File) bool {
	fd := int(f.Fd())
	fg, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	if err != nil {
		return false
	}
	return fg == unix.Getpgrp()
}
