// Package signals owns the process side of ward: starting the child in its
// own process group (foreground on the terminal), forwarding signals to
// it, reaping zombies, and mapping a wait status to an exit code.
package signals

import (
	"errors"
	"math"
	"os"
	"os/signal"
	"syscall"

	"github.com/wardsecrets/ward/internal/earlystop"
)

// Exit codes ward uses for its own outcomes; the child's status passes
// through unchanged.
const (
	// ExitWardFailure: ward itself failed (bad manifest, store error).
	ExitWardFailure = 125
	// ExitNotExecutable: the program exists but cannot be executed.
	ExitNotExecutable = 126
	// ExitNotFound: the program was not found.
	ExitNotFound = 127
	// ExitSignalBase: a child killed by signal N gives ExitSignalBase+N.
	ExitSignalBase = 128
)

// Notify catches every catchable signal on a channel, except those ignored
// when ward started (see CatchAll). Catching (not ignoring) SIGTTIN and
// SIGTTOU keeps ward from being stopped by terminal job control while the
// child still starts with their default dispositions.
func Notify() <-chan os.Signal {
	ch := earlystop.Signals
	if ch == nil {
		ch = make(chan os.Signal, 128)
	}
	onOneCPU(func() { CatchAll(ch) })
	notified = ch
	ignoreUncatchable()
	return ch
}

// CatchAll catches every signal on ch but those the process was started
// with ignored, which stay ignored: for it and, since an ignored signal
// stays ignored across exec, for the program it starts. That is nohup's
// SIGHUP and the SIGINT a shell without job control ignores for `cmd &`:
// caught and forwarded, they would kill the program as if ward were not
// asked to be immune. (Go reports an inherited SIG_IGN for SIGHUP and
// SIGINT; it takes the others over before main runs.)
func CatchAll(ch chan<- os.Signal) {
	var keep, stops []os.Signal
	for sig := syscall.Signal(1); sig <= 64; sig++ {
		if signal.Ignored(sig) {
			keep = append(keep, sig)
		}
	}
	// The stop signals first: until the runtime has enabled a signal its
	// own handler takes it, and for these that ends the process (as PID
	// 1, which the kernel does not let die of them, with exit 2 and no
	// word), while enabling all 64 takes milliseconds.
	for _, sig := range earlystop.Stops {
		if !signal.Ignored(sig) {
			stops = append(stops, sig)
		}
	}
	if len(stops) > 0 {
		// Not Notify with no signals: that is every signal.
		signal.Notify(ch, stops...)
	}
	signal.Notify(ch)
	if len(keep) > 0 {
		// Not Ignore with no arguments: that would ignore everything.
		signal.Ignore(keep...)
	}
}

// notified is Notify's channel, for the signals ward stops catching for a
// moment (StopSelf, SetForeground).
var notified chan os.Signal

// Forwardable reports whether ward passes sig on to the child: every
// signal except SIGCHLD (about ward's own children), SIGURG (the Go
// runtime's preemption signal: ward cannot tell one sent to it from the
// runtime's own), SIGPIPE (raised by ward's own write to a closed pipe,
// its log reader gone: never the child's business) and the terminal
// job-control signals SIGTTIN and SIGTTOU (the kernel sends those to the
// child's group itself; one sent with kill goes to the child alone: see
// JobControlRequest). Nor SIGXFSZ and SIGXCPU when they are the kernel's
// for ward's own act (see OwnLimit).
func Forwardable(sig os.Signal) bool {
	switch sig {
	case syscall.SIGCHLD, syscall.SIGURG, syscall.SIGPIPE, syscall.SIGTTIN, syscall.SIGTTOU:
		return false
	case syscall.SIGXFSZ, syscall.SIGXCPU:
		return !OwnLimit(sig.(syscall.Signal))
	}
	_, ok := sig.(syscall.Signal)
	return ok
}

// OwnLimit reports whether sig, SIGXFSZ or SIGXCPU, is one the kernel
// sends for ward's own act rather than one sent with kill: SIGXFSZ for a
// write of ward's past RLIMIT_FSIZE (its log to a file at a unit's
// LimitFSIZE= or a shell's `ulimit -f`), SIGXCPU for ward's own CPU time
// past RLIMIT_CPU's soft limit (LimitCPU=, `ulimit -t`), sent each second
// from then on. Forwarded, either would kill the child (their default
// action is a core dump), which has limits and a CPU count of its own.
// The kernel sends neither without a finite limit, nor SIGXCPU without
// raising the soft limit by a second as it sends it (for the next, a
// second later; at the hard limit it sends SIGKILL): those are a
// person's or a batch system's (SGE's and LSF's soft CPU limit), and are
// forwarded.
func OwnLimit(sig syscall.Signal) bool {
	var l syscall.Rlimit
	switch sig {
	case syscall.SIGXFSZ:
		return syscall.Getrlimit(syscall.RLIMIT_FSIZE, &l) == nil && finite(l.Cur)
	case syscall.SIGXCPU:
		return syscall.Getrlimit(syscall.RLIMIT_CPU, &l) == nil && finite(l.Cur) && l.Cur > startCPU
	}
	return false
}

// startCPU is the soft RLIMIT_CPU ward started with (see OwnLimit).
var startCPU = func() uint64 {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_CPU, &l) != nil {
		return math.MaxUint64
	}
	return l.Cur
}()

// finite reports whether a limit is not RLIM_INFINITY (every bit set on
// Linux, all but the top one on macOS).
func finite(cur uint64) bool { return cur < math.MaxInt64 }

// Send delivers sig to the child's whole process group, or to the child
// alone when groupless is set (for servers such as uWSGI that want signals
// at the main process only).
func Send(pid int, sig syscall.Signal, groupless bool) error {
	target := -pid
	if groupless {
		target = pid
	}
	err := syscall.Kill(target, sig)
	if errors.Is(err, syscall.ESRCH) {
		// The group is already gone: nothing left to signal.
		return nil
	}
	return err
}

// GroupAlive reports whether any process is left in process group pgid.
func GroupAlive(pgid int) bool {
	return syscall.Kill(-pgid, 0) != syscall.ESRCH
}

// ExitCode maps a wait status to the exit code ward exits with: the
// child's own code, or 128+N when signal N killed it.
func ExitCode(ws syscall.WaitStatus) int {
	// Signaled before ExitStatus: ExitStatus is -1 for a signal death.
	if ws.Signaled() {
		return ExitSignalBase + int(ws.Signal())
	}
	return ws.ExitStatus()
}
