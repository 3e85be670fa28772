package signals

import (
	"os"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// ReplaceDeadPipes puts /dev/null in place of each descriptor past stderr
// that ward was started with (not close-on-exec: Go opens ward's own
// files close-on-exec) and that is the writing end of a pipe whose reader
// is gone, and returns their numbers. Call it before a restarted child
// starts: s6's readiness pipe (notification-fd) is such a one, which
// s6-supervise closes once the first child wrote its line; a restarted
// child that announces itself again died of SIGPIPE there, and took ward
// and the service with it. Without ward in between, the supervisor would
// have given the new process a pipe of its own; /dev/null takes the line
// as that one would.
func ReplaceDeadPipes() []int {
	entries, err := os.ReadDir("/dev/fd")
	if err != nil {
		return nil
	}
	var dead []int
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 || !deadPipe(fd) {
			continue
		}
		null, err := unix.Open(os.DevNull, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		// dup2 leaves the new descriptor without close-on-exec, so every
		// later child gets it at the same number.
		if unix.Dup2(null, fd) == nil {
			dead = append(dead, fd)
		}
		unix.Close(null)
	}
	return dead
}

// deadPipe reports whether fd is an inherited pipe's writing end with no
// reader left. A read end (EOF at most) and a pipe opened for both are
// left as they are.
func deadPipe(fd int) bool {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC != 0 {
		// Gone meanwhile (the directory's own descriptor), or ward's own.
		return false
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return false
	}
	mode, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil || mode&unix.O_ACCMODE != unix.O_WRONLY {
		return false
	}
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	// Linux answers POLLERR for a pipe without a reader, the BSDs POLLHUP.
	n, err := unix.Poll(p, 0)
	return err == nil && n == 1 && p[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0
}

// CloseInherited closes every descriptor past stderr that the process was
// started with (not close-on-exec: Go opens its own files close-on-exec),
// but those in keep. ward's store helpers and its guard call it first:
// they got whatever ward was started with (a step shell's pipe, a file
// of the user's `7<file`), which is the child's, and held it for ward's
// whole life.
func CloseInherited(keep ...int) {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 || slices.Contains(keep, fd) {
			continue
		}
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
			unix.Close(fd)
		}
	}
}
