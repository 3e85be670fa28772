//go:build linux

package supervise

import (
	"os"

	"golang.org/x/sys/unix"
)

// growPipe enlarges a pipe's buffer to 1 MiB, so the relay moves big
// chunks; best effort (the limit is /proc/sys/fs/pipe-max-size).
func growPipe(f *os.File) {
	unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, 1<<20)
}

// fionread asks how many bytes a pipe or pty holds unread.
const fionread = unix.TIOCINQ
