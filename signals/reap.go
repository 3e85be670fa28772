package signals

import (
	"errors"
	"os/exec"
	"sync"
	"syscall"
)

// reapLock keeps the reaper from stealing an exit status that other code
// in ward waits for, the way hashicorp/go-reap does: Reap holds it to
// write while it collects with wait4(-1); Run holds it to read from the
// start of a command to the end of its wait. Without it, a wait4(-1) can
// collect a command's status first and os/exec's Wait fails with
// "no child processes".
var reapLock sync.RWMutex

// ChildState is what Reap learned about the main child.
type ChildState int

const (
	// Running: nothing happened to the main child.
	Running ChildState = iota
	// Exited: the main child exited or was killed; the status says how.
	Exited
	// Stopped: the main child was stopped (Ctrl-Z, SIGTTIN, SIGTTOU,
	// SIGSTOP); the status says by which signal.
	Stopped
)

// Reap collects every exited child with a wait4(-1, WNOHANG|WUNTRACED)
// loop, so no zombie outlives a SIGCHLD: as PID 1 or a subreaper, orphans
// of the whole tree land here. It reports what happened to main, when it
// was among them: an exit wins over a stop. It waits while a command
// started with Run is running.
func Reap(main int) (status syscall.WaitStatus, state ChildState) {
	reapLock.Lock()
	defer reapLock.Unlock()
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG|syscall.WUNTRACED, nil)
		if errors.Is(err, syscall.EINTR) {
			// Interrupted by another signal: try again.
			continue
		}
		if err != nil || pid <= 0 {
			// ECHILD: no children left; 0: the rest are still running.
			return status, state
		}
		if pid != main || state == Exited {
			// An orphan's stop is not ward's to act on; it stays stopped
			// until someone continues it.
			continue
		}
		switch {
		case ws.Exited() || ws.Signaled():
			status, state = ws, Exited
		case ws.Stopped():
			status, state = ws, Stopped
		}
	}
}

// Run runs cmd to completion without the reaper taking its exit status.
// ward's own commands (git, and any other it waits for) go through it.
func Run(cmd *exec.Cmd) error {
	reapLock.RLock()
	defer reapLock.RUnlock()
	return cmd.Run()
}
