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

// IoctlInt returns the C int an ioctl writes through its argument (see
// termios_linux.go). The platforms other than Linux ward builds for
// (macOS on amd64 and arm64) are little-endian, where the kernel's 4
// bytes are the low half of a Go int.
func IoctlInt(fd int, req uint) (int, error) {
	return unix.IoctlGetInt(fd, req)
}

// ForegroundStarted is ForegroundStarted of termios_linux.go, true where
// it cannot be told.
func ForegroundStarted(fd int) bool { return true }
