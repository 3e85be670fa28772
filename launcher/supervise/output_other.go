//go:build !linux

package supervise

import "os"

// growPipe does nothing where pipes cannot be resized.
func growPipe(f *os.File) {}

// fionread asks how many bytes a pipe or pty holds unread: FIONREAD,
// _IOR('f', 127, int) on the BSDs and macOS.
const fionread = 0x4004667f
