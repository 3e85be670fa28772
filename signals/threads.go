package signals

import (
	"runtime"
	"sync"
)

// spareThreads is how many threads ward makes ahead (see SpareThreads):
// a run with --mask, rotation and an identity endpoint peaks at fewer
// than eight beside the ones the runtime already has, and the writer of
// ward's log (logfmt.Queue) holds one more for as long as a reader that
// stopped leaves its write waiting.
const spareThreads = 9

// SpareThreads makes the Go runtime start threads now, which it keeps
// idle for later: it never ends a thread of its own, and takes an idle
// one before it makes a new one. A thread the runtime cannot make is a
// fatal error, not one ward can handle: a child that takes every process
// the container's pids.max (docker run --pids-limit, a pod's limit,
// systemd's TasksMax=) allows would otherwise end ward with a Go crash
// the next time its runtime wanted one more thread (a signal to forward,
// the child's exit), leaving its secret files on the tmpfs.
//
// Each goroutine locked to a thread of its own and parked holds that
// thread until all are started; unlocked, it ends and leaves the thread
// idle.
func SpareThreads() {
	var started sync.WaitGroup
	release := make(chan struct{})
	for range spareThreads {
		started.Add(1)
		go func() {
			runtime.LockOSThread()
			started.Done()
			<-release
			runtime.UnlockOSThread()
		}()
	}
	started.Wait()
	close(release)
}
