package signals

import "golang.org/x/sys/unix"

// getTermios is the ioctl that reads a terminal's modes; setTermios sets
// them, and setTermiosFlush after discarding the unread input.
const (
	getTermios      = unix.TCGETS
	setTermiosFlush = unix.TCSETSF
	setTermios      = unix.TCSETS
)
