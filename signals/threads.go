package signals

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// spareThreads is how many threads ward makes ahead (see SpareThreads):
// a run with --mask, rotation and an identity endpoint peaks at fewer
// than eight beside the ones the runtime already has, and the writer of
// ward's log (logfmt.Queue) holds one more for as long as a reader that
// stopped leaves its write waiting.
const spareThreads = 9

// SpareThreads makes the Go runtime start n threads now, which it keeps
// idle for later: it never ends a thread of its own, and takes an idle
// one before it makes a new one. A thread the runtime cannot make is a
// fatal error, not one ward can handle: a child that takes every process
// the container's pids.max (docker run --pids-limit, a pod's limit,
// systemd's TasksMax=) allows would otherwise end ward with a Go crash
// the next time its runtime wanted one more thread (a signal to forward,
// the child's exit), leaving its secret files on the tmpfs. n <= 0 is
// ward's own number.
//
// Each goroutine locked to a thread of its own and parked holds that
// thread until all are started; unlocked, it ends and leaves the thread
// idle. It returns once every such goroutine has ended and the threads
// the runtime asked for on the way exist (see settle).
func SpareThreads(n int) {
	if n <= 0 {
		n = spareThreads
	}
	var started, ended sync.WaitGroup
	release := make(chan struct{})
	for range n {
		started.Add(1)
		ended.Add(1)
		go func() {
			defer ended.Done()
			runtime.LockOSThread()
			started.Done()
			<-release
			runtime.UnlockOSThread()
		}()
	}
	started.Wait()
	close(release)
	// Until its goroutine has ended, a thread is not idle: waking them
	// could make the runtime ask for one more, and settle could see the
	// count before that request.
	ended.Wait()
	settle(time.Second)
}

// settle waits, at most limit, until every thread the Go runtime has
// asked for is one the kernel runs. A thread asked for on a locked
// thread (the goroutines above park on theirs) is made by the runtime's
// template thread, after the request returns: the last of them could
// still be on its way once every goroutine has started, and would then
// be made after the limit was reached, the crash SpareThreads is there
// to prevent (in about one run of ten when the child took every process
// a moment after ward had said its threads were made).
func settle(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for {
		// The runtime's threads, made or still to be made (its list of
		// them, which the thread-creation profile counts; not
		// runtime/metrics, whose initialiser would cost every start).
		asked, _ := runtime.ThreadCreateProfile(nil)
		have, ok := kernelThreads()
		if !ok || have >= asked || time.Now().After(deadline) {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// kernelThreads is the number of threads the kernel runs for ward
// ("Threads:" in /proc/self/status).
func kernelThreads() (int, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	_, rest, ok := bytes.Cut(b, []byte("\nThreads:"))
	if !ok {
		return 0, false
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	n, err := strconv.Atoi(string(bytes.TrimSpace(line)))
	return n, err == nil
}
