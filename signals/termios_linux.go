package signals

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

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

// ForegroundStarted reports whether the terminal fd (a pty, through its
// master) has a foreground group other than its session leader's, whose
// leader has exec'd its program: its command line is the leader's no
// more. A forked child shares it until its exec, and a stop before the
// exec (a Ctrl-Z typed then) stopped it there, its parent waiting on the
// exec for good.
func ForegroundStarted(fd int) bool {
	sid, err := IoctlInt(fd, unix.TIOCGSID)
	if err != nil || sid <= 0 {
		return false
	}
	fg, err := IoctlInt(fd, unix.TIOCGPGRP)
	if err != nil || fg <= 0 || fg == sid {
		return false
	}
	leader, err1 := os.ReadFile("/proc/" + strconv.Itoa(sid) + "/cmdline")
	child, err2 := os.ReadFile("/proc/" + strconv.Itoa(fg) + "/cmdline")
	return err1 == nil && err2 == nil && !bytes.Equal(leader, child)
}
