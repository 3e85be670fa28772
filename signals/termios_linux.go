package signals

import "golang.org/x/sys/unix"

// getTermios is the ioctl that reads a terminal's modes; setTermios sets
// them, and setTermiosFlush after discarding the unread input.
const (
	getTermios      = unix.TCGETS
	setTermiosFlush = unix.TCSETSF
	setTermios      = unix.TCSETS
)

// keyInputFlags are the input flags a user sets for a terminal and its
// keyboard (stty iutf8, -ixon), which a pseudo-terminal standing in for it
// takes (see Keys).
const keyInputFlags = unix.IXON | unix.IXOFF | unix.IXANY | unix.IMAXBEL | unix.IUTF8
