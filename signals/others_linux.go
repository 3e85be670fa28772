//go:build linux

package signals

import (
	"os"
	"slices"
	"strconv"
	"syscall"
)

// SignalOthers sends sig to every process ward can see except itself and
// spare (its own store helpers), and reports whether any was left. As
// PID 1 every process of the container is ward's to stop when the main
// child is gone: daemons that left the child's session included.
func SignalOthers(sig syscall.Signal, spare []int) (left bool) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	self := os.Getpid()
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == self || slices.Contains(spare, pid) {
			continue
		}
		if syscall.Kill(pid, sig) == nil {
			left = true
		}
	}
	return left
}
