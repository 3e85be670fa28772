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

// Reap collects every exited child with a wait4(-1, WNOHANG) loop, so no
// zombie outlives a SIGCHLD: as PID 1 or a subreaper, orphans of the whole
// tree land here. It reports the status of main when main was among them.
// It waits while a command started with Run is running.
func Reap(main int) (status syscall.WaitStatus, mainExited bool) {
	reapLock.Lock()
	defer reapLock.Unlock()
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			// Interrupted by another signal: try again.
			continue
		}
		if err != nil || pid <= 0 {
			// ECHILD: no children left; 0: the rest are still running.
			return status, mainExited
		}
		if pid == main && (ws.Exited() || ws.Signaled()) {
			status, mainExited = ws, true
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
