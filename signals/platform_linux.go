//go:build linux

package signals

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// savedCore is ward's RLIMIT_CORE before Harden, restored for children.
var savedCore *unix.Rlimit

// BecomeSubreaper makes orphaned descendants ward's children when ward is
// not PID 1, so the reaper collects them and the main child's grandchildren
// do not escape to init.
func BecomeSubreaper() error {
	if os.Getpid() == 1 {
		// PID 1 already inherits every orphan in its namespace.
		return nil
	}
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// Harden marks ward non-dumpable (no core dump, no ptrace by the same
// user, /proc/<pid>/environ and mem closed) and sets its core size limit to
// 0. The child's core limit is restored after it starts.
func Harden() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return err
	}
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &old); err != nil {
		return err
	}
	savedCore = &old
	return unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: old.Max})
}

func platformAttr(attr *syscall.SysProcAttr) {
	// If ward dies without forwarding (SIGKILL, OOM), the child is told.
	// The signal follows the OS thread that forked, so the run loop keeps
	// its goroutine locked to one thread for its whole life.
	attr.Pdeathsig = syscall.SIGTERM
}

func afterStart(pid int) {
	if savedCore != nil {
		// Give the child back the core limit ward was started with.
		_ = unix.Prlimit(pid, unix.RLIMIT_CORE, savedCore, nil)
	}
}
