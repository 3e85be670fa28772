//go:build !linux

package signals

import "syscall"

// BecomeSubreaper has no equivalent outside Linux: orphans go to launchd.
func BecomeSubreaper() error { return nil }

// Harden sets nothing outside Linux: macOS has no PR_SET_DUMPABLE, and a
// core limit there would be inherited by the child.
func Harden() error { return nil }

func platformAttr(attr *syscall.SysProcAttr) {}

func afterStart(pid int) {}
