package resolve

import (
	"io/fs"
	"syscall"
)

// changeTime is a file's ctime, 0 where the system does not say.
func changeTime(st fs.FileInfo) int64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ctimespec.Nano()
	}
	return 0
}
