// Package filekind names what a path is when ward wanted a regular file
// there, for errors that say so: the manifest ward found, a dotenv file
// to import, the local store and its identity.
package filekind

import (
	"io/fs"
)

// Of says what a file of mode st is, as "a named pipe (FIFO)" or "a
// directory"; "a special file" for anything else that is not regular.
func Of(st fs.FileInfo) string {
	switch m := st.Mode(); {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device (a terminal, /dev/null...)"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "a special file"
}
