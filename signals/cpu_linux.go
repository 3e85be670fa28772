//go:build linux

package signals

import (
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// onOneCPU runs f with every thread of ward on one CPU, then gives each
// thread the affinity it had back.
//
// It is for signal.Notify: the Go runtime enables each signal with a round
// trip to a goroutine locked to its own thread, which updates that
// thread's signal mask. When the two threads sleep and wake on different
// CPUs, each round trip is two cross-CPU wake-ups: about 30 µs on a 2-core
// VM, 2 ms for the 64 signals ward catches, half of a whole
// `ward run -- true`. On one CPU a round trip is two context switches and
// the 64 take about 0.4 ms (testdata/bench measures both).
//
// A process forked while the threads are on one CPU would keep that
// affinity for good, so no process starts meanwhile: f runs holding
// syscall.ForkLock for reading, which every fork (os/exec's, ward's own)
// takes for writing. A thread the runtime makes during f starts on the one
// CPU too, which is why giving back repeats until a pass over the threads
// finds every one restored.
//
// Under a seccomp filter (a unit's SystemCallFilter=, Docker's profile)
// it does not move the threads: `SystemCallFilter=~@resources`, which
// `systemd-analyze security` suggests, leaves sched_setaffinity out, and
// a filter's default action kills the process with SIGSYS: ward died
// before it started anything, with no word. A filter cannot be asked
// what it would do to a call.
func onOneCPU(f func()) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	var all unix.CPUSet
	if filtered() || unix.SchedGetaffinity(0, &all) != nil || all.Count() < 2 {
		f()
		return
	}
	var cpu uint32
	if _, _, errno := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0); errno != 0 {
		f()
		return
	}
	var one unix.CPUSet
	one.Set(int(cpu))
	for _, tid := range threads() {
		// A thread that has exited is no matter; one left where it was
		// costs speed, not correctness.
		_ = unix.SchedSetaffinity(tid, &one)
	}
	defer restoreAffinity(&all)
	f()
}

// restoreAffinity sets every thread's affinity to all, and checks again
// until one pass finds nothing to restore (at most a few passes: the
// runtime makes a handful of threads in all).
func restoreAffinity(all *unix.CPUSet) {
	for pass := 0; pass < 10; pass++ {
		changed := false
		for _, tid := range threads() {
			var cur unix.CPUSet
			if unix.SchedGetaffinity(tid, &cur) != nil || cur == *all {
				continue
			}
			if unix.SchedSetaffinity(tid, all) == nil {
				changed = true
			}
		}
		if !changed {
			return
		}
	}
}

// filtered reports whether ward runs under a seccomp filter (or is not
// allowed to ask, which says as much).
func filtered() bool {
	mode, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0)
	return err != nil || mode != 0
}

// threads lists the ids of ward's threads.
func threads() []int {
	f, err := os.Open("/proc/self/task")
	if err != nil {
		return nil
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	tids := make([]int, 0, len(names))
	for _, n := range names {
		if tid, err := strconv.Atoi(n); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids
}
