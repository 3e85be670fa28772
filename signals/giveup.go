package signals

import (
	"errors"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Once the child has exited, ward's last waits are for readers: the
// child's output on its way through --mask, ward's log on its way to its
// stderr. A reader that stopped reading (docker's blocking log driver, a
// stalled journald, a paused pager) held them for good, and ward, which
// still catches every signal, heard neither `docker stop` nor `systemctl
// stop` nor Ctrl-C: the SIGKILL after the stop's grace ended it, 137
// instead of the child's status, with the run's secret files, its
// helpers and the leases revoke_on_exit gives back left behind. A stop
// signal now ends those waits: what the reader did not take is dropped.

var (
	gaveUp     = make(chan struct{})
	giveUpOnce sync.Once
	watchOnce  sync.Once
	// stoppedBy is the signal that made ward give up (GiveUp).
	stoppedBy atomic.Int32
)

// AsksToStop reports whether sig asks ward to stop (before the child
// starts, or while ward waits for a reader after its end): SIGTERM,
// SIGINT, SIGQUIT, and SIGHUP where ward has a terminal (without one it
// is a reload: see HasTerminal).
func AsksToStop(sig os.Signal, terminal bool) bool {
	switch sig {
	case syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT:
		return true
	case syscall.SIGHUP:
		return terminal
	}
	return false
}

// GiveUp ends, now and from now on, the waits of WaitUnlessStopped: ward
// was told to stop, by sig, while it waited for a reader.
func GiveUp(sig syscall.Signal) {
	giveUpOnce.Do(func() {
		stoppedBy.Store(int32(sig))
		close(gaveUp)
	})
}

// StoppedBy is the signal that made ward give up waiting for a reader
// (GiveUp), or 0.
func StoppedBy() syscall.Signal {
	return syscall.Signal(stoppedBy.Load())
}

// lastWords is how long a wait for a reader still waits, once ward was
// told to stop, after the reader last took something ward wrote (or
// after the stop, when it takes nothing): a reader that reads gets all
// of ward's last words and the child's last output, however many; one
// that stopped is given up on in that time, not a SIGKILL's grace.
const lastWords = 500 * time.Millisecond

// taken counts the writes through PatientWriter that returned with
// something written: a reader took it.
var taken atomic.Uint64

// Stopping is closed once ward was told to stop (GiveUp).
func Stopping() <-chan struct{} {
	return gaveUp
}

// AfterStop waits for done once ward was told to stop: while its readers
// take what ward writes, and until lastWords passed with nothing taken.
// It reports whether done came.
func AfterStop(done <-chan struct{}) bool {
	last := taken.Load()
	t := time.NewTimer(lastWords)
	defer t.Stop()
	for {
		select {
		case <-done:
			return true
		case <-t.C:
			n := taken.Load()
			if n == last {
				return false
			}
			last = n
			t.Reset(lastWords)
		}
	}
}

// WaitUnlessStopped runs f, a wait for a reader, in a goroutine of its
// own and waits for it to return, unless ward is told to stop (a stop
// signal on Notify's channel, or GiveUp, now or before): then it waits
// as AfterStop does, and returns, leaving f to the process's exit. It
// reports whether f returned. From its first call on it reads Notify's
// channel: only once nothing else does (the child's supervision is
// over).
func WaitUnlessStopped(f func()) bool {
	done := make(chan struct{})
	go func() {
		f()
		close(done)
	}()
	watch()
	return untilStopped(done)
}

// syncs asks the watch (see watch) to read every signal waiting on
// Notify's channel, and to close the channel it is sent once it has.
var syncs = make(chan chan struct{})

// watch starts, once, the goroutine that reads Notify's channel for a
// stop (GiveUp) while ward waits for a reader: only once nothing else
// reads it (the child's supervision is over, or there is none).
func watch() {
	watchOnce.Do(func() {
		if notified == nil {
			return
		}
		terminal := HasTerminal()
		take := func(sig os.Signal) bool {
			if AsksToStop(sig, terminal) {
				GiveUp(sig.(syscall.Signal))
				return true
			}
			return false
		}
		go func() {
			for {
				select {
				case sig := <-notified:
					if take(sig) {
						return
					}
				case done := <-syncs:
					stopped := false
					for waiting := true; waiting && !stopped; {
						select {
						case sig := <-notified:
							stopped = take(sig)
						default:
							waiting = false
						}
					}
					close(done)
					if stopped {
						return
					}
				}
			}
		}()
	})
}

// StopWaiting reads the signals waiting on Notify's channel (through the
// watch, which reads it from then on) and reports whether one of them,
// or one before, told ward to stop (StoppedBy says which). Without
// Notify (the trampoline of socket activation) nothing is caught, and
// nothing waits.
func StopWaiting() bool {
	if notified == nil {
		return false
	}
	watch()
	done := make(chan struct{})
	select {
	case syncs <- done:
		<-done
	case <-gaveUp:
	}
	return StoppedBy() != 0
}

// untilStopped waits for done, unless ward is told to stop (GiveUp, now
// or before): then as AfterStop does. It reports whether done came.
func untilStopped(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	case <-gaveUp:
	}
	return AfterStop(done)
}

// ErrGaveUp is the error of a write through UnlessStopped that ward gave
// up on, told to stop.
var ErrGaveUp = errors.New("told to stop while the reader took nothing")

// UnlessStopped returns a writer that writes through w, a stream a
// reader may have stopped reading (ward's stderr, where the values are
// registered with a CI runner), and gives the write up once ward is
// told to stop (GiveUp), as AfterStop does: the rest is dropped. A
// registration written to a full pipe held ward deaf, before the child
// started, until the SIGKILL after `docker stop`.
func UnlessStopped(w io.Writer) io.Writer {
	return unlessStopped{w}
}

type unlessStopped struct{ w io.Writer }

func (u unlessStopped) Write(b []byte) (int, error) {
	var n int
	var err error
	done := make(chan struct{})
	go func() {
		n, err = u.w.Write(b)
		close(done)
	}()
	if untilStopped(done) {
		return n, err
	}
	return 0, ErrGaveUp
}

// stopsByDefault gives the stop signals ward catches their default
// action, and returns what puts ward's handler back. Those ignored since
// ward's start stay ignored (see CatchAll); SIGHUP without a terminal is
// a reload, not a stop.
func stopsByDefault() (restore func()) {
	sigs := []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT}
	if HasTerminal() {
		sigs = append(sigs, syscall.SIGHUP)
	}
	var restores []func()
	for _, sig := range sigs {
		if !signal.Ignored(sig) {
			restores = append(restores, defaultAction(sig))
		}
	}
	return func() {
		for _, r := range restores {
			r()
		}
	}
}
