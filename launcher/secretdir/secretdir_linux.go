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
	return st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC
}

// noTmpfsFallback: on Linux there is none; secret files need tmpfs.
func noTmpfsFallback() (string, bool) { return "", false }

func ownedByMe(st fs.FileInfo) bool {
	s, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(s.Uid) == os.Geteuid()
}
