//go:build !linux

package signals

import "golang.org/x/sys/unix"

// getTermios is the ioctl that reads a terminal's modes; setTermios sets
// them, and setTermiosFlush after discarding the unread input.
const (
	getTermios      = unix.TIOCGETA
	setTermiosFlush = unix.TIOCSETAF
	setTermios      = unix.TIOCSETA
)

// keyInputFlags are the input flags a user sets for a terminal and its
// keyboard (stty -ixon), which a pseudo-terminal standing in for it takes
// (see Keys).
const keyInputFlags = unix.IXON | unix.IXOFF | unix.IXANY | unix.IMAXBEL
