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

// IoctlInt returns the C int an ioctl writes through its argument: the
// foreground process group of TIOCGPGRP, the unread bytes of FIONREAD.
// unix.IoctlGetInt reads it into a Go int, 8 bytes on a 64-bit platform,
// of which the kernel writes the first 4: on a big-endian one (s390x,
// ppc64) those are its high half, and process group 4242 read as
// 4242<<32. A foreground group so read is no group at all (kill(2)
// takes the low 32 bits: 0, ward's own group), and a count so read never
// comes (ward's relay of the child's output waited for the quiet end).
func IoctlInt(fd int, req uint) (int, error) {
	v, err := unix.IoctlGetUint32(fd, req)
	return int(int32(v)), err
}
