package signals

import (
	"errors"
	"syscall"
)

// Reap collects every exited child with a wait4(-1, WNOHANG) loop, so no
// zombie outlives a SIGCHLD: as PID 1 or a subreaper, orphans of the whole
// tree land here. It reports the status of main when main was among them.
func Reap(main int) (status syscall.WaitStatus, mainExited bool) {
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
