//go:build !linux

package secretdir

import (
	"io/fs"
	"os"
	"syscall"
)

// onTmpfs: macOS has no tmpfs; the per-user temporary directory is the
// nearest private place.
func onTmpfs(dir string) bool { return false }

func noTmpfsFallback() (string, bool) { return os.TempDir(), true }

func ownedByMe(st fs.FileInfo) bool {
	s, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(s.Uid) == os.Geteuid()
}
