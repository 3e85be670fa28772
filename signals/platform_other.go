//go:build !linux

package signals

import (
	"os"
	"syscall"
)

// BecomeSubreaper has no equivalent outside Linux: orphans go to launchd.
func BecomeSubreaper() error { return nil }

// Harden sets nothing outside Linux: macOS has no PR_SET_DUMPABLE, and a
// core limit there would be inherited by the child.
func Harden() error { return nil }

// StopWithParent does nothing outside Linux, which has no parent-death
// signal.
func StopWithParent(sig syscall.Signal) bool { return true }

func platformAttr(attr *syscall.SysProcAttr) {}

func childStart(start func() error) error { return start() }

// watchStart watches nothing outside Linux (see platform_linux.go).
func watchStart() (after func() syscall.Signal) {
	return func() syscall.Signal { return 0 }
}

// childCPULimit does nothing outside Linux, whose kernel alone raises
// the soft CPU limit as it sends SIGXCPU.
func childCPULimit(pid int) {}

// defaultAction cannot hand a caught signal back to the kernel outside
// Linux; raise stops with SIGSTOP instead, which needs no handler.
func defaultAction(sig syscall.Signal) (restore func()) { return func() {} }

// raise stops the process with SIGSTOP, once others (if any) is called:
// outside Linux the job-control signal ward catches cannot be given its
// default action here, and there is no tgkill.
func raise(sig syscall.Signal, others func()) {
	if others != nil {
		others()
	}
	syscall.Kill(os.Getpid(), syscall.SIGSTOP)
}

// onOneCPU runs f: outside Linux ward does not move its threads.
func onOneCPU(f func()) { f() }

// backgroundWrite writes b to f (on Linux with SIGTTOU blocked: see
// Writer).
func backgroundWrite(f *os.File, b []byte) (int, error) { return f.Write(b) }

// ignoreUncatchable does nothing outside Linux, where Go catches every
// signal a program may.
func ignoreUncatchable() {}

// EndBy returns: outside Linux ward cannot give a caught signal its
// default action back, and exits with 128+N.
func EndBy(sig syscall.Signal, group bool) {}

// noexecMount is Linux's: elsewhere "".
func noexecMount(p string) string { return "" }

// SecureExec is Linux's: elsewhere "".
func SecureExec(path string) string { return "" }

// Self returns the file to execute to run ward's own program again, and
// the path to name it by: both its path (there is no /proc/self/exe).
func Self() (exe, name string, err error) {
	name, err = os.Executable()
	return name, name, err
}

// HasExited has no look without reaping outside Linux: false, and the
// reaper tells.
func HasExited(pid int) bool { return false }
