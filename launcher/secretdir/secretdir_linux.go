//go:build linux

package secretdir

import (
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func onTmpfs(dir string) bool {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return false
	}
	return isTmpfsMagic(st.Type)
}

// isTmpfsMagic says whether a statfs f_type is tmpfs's or ramfs's. The
// field's Go type is the kernel's word (int64 on amd64 and arm64, int32 on
// 386 and arm, uint32 on s390x): the magic numbers are 32-bit, and ramfs's
// has its top bit set, a negative int32, so the comparison is made on the
// low 32 bits.
func isTmpfsMagic[T int32 | uint32 | int64](fsType T) bool {
	m := uint32(fsType)
	return m == unix.TMPFS_MAGIC || m == unix.RAMFS_MAGIC
}

// noTmpfsFallback: on Linux there is none; secret files need tmpfs.
func noTmpfsFallback() (string, bool) { return "", false }

func ownedByMe(st fs.FileInfo) bool {
	s, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(s.Uid) == os.Geteuid()
}
