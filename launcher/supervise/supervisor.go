package supervise

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wardsecrets/ward/internal/syshint"
	"github.com/wardsecrets/ward/launcher/failure"
	"github.com/wardsecrets/ward/launcher/logfmt"
	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/launcher/mask"
	"github.com/wardsecrets/ward/launcher/plan"
	"github.com/wardsecrets/ward/launcher/secretdir"
	"github.com/wardsecrets/ward/launcher/systemd"
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/remote"
	"github.com/wardsecrets/ward/signals"
)

// supervisor runs the child and owns everything about it: signals,
// reaping, stopping, restarting.
type supervisor struct {
	opts     Options
	log      *slog.Logger
	sigs     <-chan os.Signal
	path     string
	plan     *plan.Plan
	dir      *secretdir.Dir
	rotation manifest.Rotation
	// input builds the plans of later starts.
	input plan.Input

	// listen are the socket-activation fds passed on as 3, 4, ...
	listen []*os.File
	// relay passes the child's sd_notify messages to systemd (nil when
	// none); it is told when a restart begins and when ward is stopped.
	relay *systemd.Relay
	// rotator proposes the restarts (nil without rotation); a restart
	// asks it for what changed while the old child stopped.
	rotator *rotator
	// vouched stops ward's own WATCHDOG=1 (nil when it sends none): a
	// restart sends them until the new child has started.
	vouched func()

	// masking: the child's output goes through mask writers; out is the
	// current child's, ptyIn relays ward's terminal to its pty.
	masking bool
	out     *maskedIO
	ptyIn   ptyInput
	// oldOut are the earlier children's outputs still on their way to
	// a reader that stopped (see finishOutput); each is closed once
	// passed on. outputLost is the first error that cut a child's output
	// off (see outputCut).
	oldOut     []chan struct{}
	outputLost atomic.Pointer[error]

	child *signals.Child
	// guard stops the child's group should ward be killed (see GuardArg);
	// guarded: it was started, or could not be.
	guard     *guard
	guarded   bool
	guardTime <-chan time.Time
	// stdio is the child's stdin, stdout and stderr when it shares ward's
	// terminal (no pty session of its own).
	stdio []*os.File
	// tty is the terminal the child's group is the foreground of (nil
	// when there is none, or when the child has a pty of ours).
	tty *os.File
	// wantsTerminal is set when the child is to have the foreground of the
	// terminal it shares with ward whenever ward has it: from its start
	// when ward is alone in its job (see aloneInJob), else from the first
	// time it stopped to read or write there.
	wantsTerminal bool
	// terminal is set when ward had a controlling terminal as it started
	// the child: only then can a SIGHUP be its hangup (asked when the
	// SIGHUP comes, a terminal hung up is already gone).
	terminal bool
	// cwd is where every start of the child runs: ward's working
	// directory when it started. ward itself then moves to / so that it
	// keeps no directory busy.
	cwd string
	// exited is the main child's exit code once it exited while the rest
	// of its process group is being stopped; draining is set meanwhile.
	exitCode int
	draining bool
	// drainTermHeld is set once a SIGTERM to ward during the drain was
	// not passed on (what is left had ward's own).
	drainTermHeld bool
	killTime      <-chan time.Time
	// killed is set once the kill timer killed this child's group: what
	// the kill left as zombies is killed again without a second warning.
	killed bool
	// stopBy is when ward, being stopped, kills what is left: one
	// stop_timeout from the stop signal, for the child and for what it
	// left after it exited.
	stopBy time.Time
	// session is set while the child runs in a pty session of ours
	// (--mask on a terminal): its own process group there is not its
	// leader's, so what concerns the child's group concerns the session.
	session bool
	// restarting is the proposal being applied while the old child stops;
	// stopping is set once ward itself is being stopped.
	restarting   *proposal
	restartStart time.Time
	// reloadSent is rotation.signal as ward last sent it to the child for
	// new secrets (on_change: signal), until a copy of that signal from
	// outside is forwarded: a child it ends is started again.
	reloadSent reloadSignal
	stopping   bool
	// expired is why ward stopped the child itself (credentials that
	// expired with their store down, on_expired: stop): ward then exits
	// 125, whatever the child's status, so that a restart policy
	// (Restart=on-failure, a container's on-failure) starts it again.
	expired string
	// outputStops carries the masked output's requests to stop the job
	// (stty tostop, ward in the background); outputStop is set while the
	// stop it asked for is under way.
	outputStops chan struct{}
	outputStop  bool
	// keys are the terminal's interrupt and quit signals ward forwarded;
	// endBy is the one ward ends by, since it killed the child, and
	// groupEnd says it goes to ward's whole group (see noteInterrupt).
	keys     map[syscall.Signal]bool
	endBy    syscall.Signal
	groupEnd bool
	// termed is set once ward forwarded SIGTERM to the child's group:
	// what the child leaves there when it exits has had it.
	termed bool
	// tstpSent is set while a SIGTSTP ward forwarded has not yet stopped
	// the child: that stop is someone's kill, which ward follows.
	tstpSent bool
	// heldStop is a job stop (Ctrl-Z, a kill -TSTP of ward) that stopped
	// the old child of a restart as it ended, kept for the new one (see
	// childStopped); heldStopSent says it was a SIGTSTP ward forwarded.
	heldStop, heldStopSent bool
	// oom is the count of OOM kills in ward's memory cgroup as the
	// current child started: a child killed by SIGKILL while it grew was
	// the kernel's doing.
	oom *signals.OOMMark
	// spared is set once ward has made its spare threads (see
	// signals.SpareThreads).
	spared bool
	// forwarded is when ward last forwarded each signal that ends or
	// reloads the child (see once).
	forwarded map[syscall.Signal]time.Time
	// cpuWarned is set once ward warned that its own CPU time reached its
	// soft RLIMIT_CPU (the kernel's SIGXCPU comes each second from then).
	cpuWarned bool
	// stopBefore is the stop signal that came before the first child
	// started (see stopAsked), chldBefore a SIGCHLD read meanwhile.
	stopBefore syscall.Signal
	chldBefore bool
}

// repeatWindow is how soon after ward forwarded a signal that ends or
// reloads the child the same signal again is one event delivered to ward
// twice, not a second request. A wrapper in front of ward sends it to
// ward and to its own process group, where ward is too: `timeout`
// without --foreground, and `su -c` and sudo (which relay it) under a
// `kill` of their group. The kernel merges the two copies
// for a program run there without ward, which has not taken the first
// yet when the second comes; ward had passed the first on by then, and
// the child got two. A person's second Ctrl-C or `kill` comes later.
const repeatWindow = 100 * time.Millisecond

// ends reports whether sig is one of the signals that end or reload the
// child: the terminal's and a service manager's stops, and the manifest's
// stop signal.
func (s *supervisor) ends(sig os.Signal) bool {
	switch sig {
	case syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, s.rotation.StopSignal:
		return true
	}
	return false
}

// once reports whether sig, a signal that ends or reloads the child, is
// to be forwarded: not the second copy of one event (see repeatWindow).
// A server that reads a second SIGTERM or SIGINT as "stop now" cut its
// drain short.
func (s *supervisor) once(sig syscall.Signal) bool {
	if !s.ends(sig) {
		return true
	}
	now := time.Now()
	if last, ok := s.forwarded[sig]; ok && now.Sub(last) < repeatWindow {
		s.log.Debug("the same signal again at once: one event delivered twice (ward and its process group); not forwarded again", "signal", signals.Name(sig), "after", now.Sub(last).Round(time.Microsecond).String())
		return false
	}
	if s.forwarded == nil {
		s.forwarded = map[syscall.Signal]time.Time{}
	}
	s.forwarded[sig] = now
	return true
}

func (s *supervisor) start() error {
	if s.stopAsked() {
		return errStopAsked
	}
	s.killed = false
	files := []*os.File{s.opts.Stdin, s.opts.Stdout, s.opts.Stderr}
	fg, session := false, false
	ctty := 0
	var patterns *mask.Source
	if s.opts.masker != nil {
		var err error
		if s.hearStops(func() { patterns, err = s.opts.masker.setPlan(s.plan.Masked()) }) {
			return errStopAsked
		}
		if err != nil {
			return err
		}
	}
	if s.masking && !s.guarded && isTerminal(s.opts.Stdout) {
		// --mask on a terminal: newMaskedIO makes ward's terminal raw,
		// and the guard, which puts its modes back should ward be
		// killed, comes first, not guardAfter into the child's run: a
		// ward killed as it started (air's reload of a file saved
		// twice, an IDE's stop clicked twice) left a terminal that
		// echoed nothing. An interactive run pays the fork here.
		s.guarded = true
		s.guardNow(0)
	}
	if s.masking {
		if s.outputStops == nil {
			s.outputStops = make(chan struct{}, 1)
		}
		out, err := newMaskedIO(s.opts.Stdin, s.opts.Stdout, s.opts.Stderr, patterns, s.opts.masker.runnerCommands(), &s.ptyIn, s.outputStops, s.log, &s.outputLost)
		if err != nil {
			return err
		}
		s.out = out
		files, session, ctty = out.files, out.session, out.ctty
	}
	s.tty, s.stdio = nil, nil
	if !session {
		s.stdio = files[:3]
		if i := ownedTerminal(s.stdio); i >= 0 {
			s.wantsTerminal = s.wantsTerminal || aloneInJob(s.opts.Stdin, s.opts.Stdout)
			if s.wantsTerminal {
				fg, ctty, s.tty = true, i, files[i]
			}
		}
	}
	path, argv, env := s.path, s.opts.Argv, s.plan.Env
	var envSent *os.File
	if s.listen != nil || session {
		// The running program, also after an upgrade replaced or
		// removed its file (see signals.Self).
		exe, self, err := signals.Self()
		if err != nil {
			return err
		}
		if s.listen != nil {
			// LISTEN_PID must name the child, known only after the fork:
			// a trampoline (ward itself) sets it to its own pid and execs
			// the program, keeping that pid.
			path, argv = exe, append([]string{self, systemd.ListenExecArg, logfmt.Arg(s.log), path}, argv...)
			files = append(files, s.listen...)
		}
		if session {
			// A leader of the pty's session between ward and the child,
			// so that job control works in it (see SessionArg). It gets
			// the child's environment on a pipe, and its own holds the
			// Go runtime's settings alone.
			r, w, err := os.Pipe()
			if err != nil {
				return err
			}
			defer r.Close()
			envSent = w
			files = append(files, r)
			env = remote.RuntimeSettings(env)
			uncontrolled := os.Getpid() == 1 || signals.GroupOrphaned()
			argv = append(sessionArgs(self, ctty, s.rotation.StopTimeout, s.opts.SignalChildOnly, uncontrolled, s.log, len(files)-1), append([]string{path}, argv...)...)
			path = exe
		}
	}
	s.session = session
	s.oom = signals.MarkOOM()
	var c *signals.Child
	err := whileWritten(s.log, s.opts.Argv[0], s.stopAsked, func() (err error) {
		c, err = signals.Start(signals.StartOptions{Path: path, Argv: argv, Env: env, Files: files, Foreground: fg, Session: session, Ctty: ctty, Dir: s.cwd})
		return err
	})
	if envSent != nil {
		if err == nil {
			sendEnv(envSent, s.plan.Env)
		} else {
			envSent.Close()
		}
	}
	if s.out != nil {
		s.out.started()
	}
	if err != nil {
		return err
	}
	s.child = c
	if !s.guarded {
		// Not at once: the guard's start (a fork and exec of ward, the Go
		// runtime's) would cost a short command's run a third of its
		// time, and it is the long-running child, a server reloaded by a
		// watcher, that a kill of ward leaves behind.
		s.guarded = true
		s.guardTime = time.After(guardAfter)
	}
	s.guard.started(c.Pid)
	if !s.spared {
		// Threads in reserve for when the child has taken every process
		// the limit allows (see signals.SpareThreads). Not before the
		// child starts: making them costs a run a quarter of a
		// millisecond (their hand-offs between CPUs, their end at exit),
		// a command of a second does not leak its way to the limit, and
		// a service that does lives longer.
		s.spared = true
		time.AfterFunc(spareAfter, func() {
			signals.SpareThreads(0)
			s.log.Debug("spare threads made")
		})
	}
	if s.cwd == "" {
		// The child has the working directory; ward needs none, and
		// holding one keeps a mount busy (dumb-init does the same).
		if wd, err := os.Getwd(); err == nil && os.Chdir("/") == nil {
			s.cwd = wd
		}
	}
	s.log.Debug("child started", "pid", c.Pid, "program", s.opts.Argv[0], "foreground", fg, "pty", session)
	return nil
}

// whileWritten is signals.WhileWrittenUnless, its warning in ward's log.
func whileWritten(log *slog.Logger, program string, stopped func() bool, start func() error) error {
	return signals.WhileWrittenUnless(signals.SayWritten(log, program), stopped, start)
}

// hearStops runs f, a start's wait for a reader of ward's (the values'
// registration with a CI runner, written to a stderr whose reader may
// have stopped: a job container's log driver), reading ward's signals
// meanwhile (takeBeforeStart; the running child's SIGCHLD is left to
// the run loop). A stop gives up the waits for readers (signals.GiveUp),
// which ends f. It reports whether ward was told to stop. Deaf while f waited, ward heard no `docker stop` before the
// child started: the SIGKILL after it ended ward, 137, with the run's
// files left behind.
func (s *supervisor) hearStops(f func()) bool {
	done := make(chan struct{})
	go func() {
		f()
		close(done)
	}()
	stopped, chld := false, false
	for {
		select {
		case <-done:
			if chld {
				// For the run loop, which reaps the child: it may have
				// exited meanwhile.
				s.requeue(syscall.SIGCHLD)
			}
			return stopped
		case sig := <-s.sigs:
			if sig == syscall.SIGCHLD && s.child != nil {
				chld = true
				continue
			}
			if s.takeBeforeStart(sig) && !stopped {
				stopped = true
				signals.GiveUp(sig.(syscall.Signal))
			}
		}
	}
}

// takeBeforeStart takes sig, read as a child is about to start or while
// its start waits, and reports whether ward is to stop. At a restart it
// is handled as while the old child's group ended (handleWhileWaiting),
// and a stop sets stopping. Before the first start (no child yet) a
// SIGCHLD (a store helper's end) is kept for the run loop, the first stop
// in stopBefore for the run's end (128+N), and other signals mean
// nothing, as while resolving.
func (s *supervisor) takeBeforeStart(sig os.Signal) bool {
	if s.child != nil {
		s.handleWhileWaiting(sig)
		return s.stopping
	}
	if sig == syscall.SIGCHLD {
		s.chldBefore = true
		return false
	}
	if sig == syscall.SIGTSTP && os.Getpid() != 1 {
		// Ctrl-Z as the first child is about to start (a run's first
		// milliseconds): ward stops as the job, as while resolving, and
		// starts it once continued. It was taken for a signal that
		// means nothing without a child, and the key was lost, the job
		// running on.
		signals.StopSelf(syscall.SIGTSTP)
		return false
	}
	st, ok := stopSignal(sig, s.terminal, s.log, "before the program started")
	if ok && s.stopBefore == 0 {
		s.stopBefore = st
	}
	return ok
}

// errStopAsked is start's error when a stop waited on ward's channel as
// the child was about to start (see stopAsked).
var errStopAsked = errors.New("told to stop before the program started")

// stopAsked reads the signals waiting on ward's channel as a child is
// about to start, or while its start waits (the program's file being
// written), and reports whether one stops ward (see takeBeforeStart):
// the program must not start after a stop.
func (s *supervisor) stopAsked() bool {
	for {
		select {
		case sig := <-s.sigs:
			if s.takeBeforeStart(sig) {
				return true
			}
		default:
			return false
		}
	}
}

// spareAfter is how long into the first child's run ward makes its
// spare threads.
const spareAfter = time.Second

// oldOutputWait bounds how long a restart waits for the old child's
// masked output to reach ward's reader before it starts the new child.
const oldOutputWait = 2 * time.Second

// finishOutput drains the current child's masked output and gives ward's
// terminal back. At the last child's end it waits for every byte to be
// passed on, however slow the reader, unless ward is told to stop (see
// untilStopped); at a restart (not last) for at most oldOutputWait: a
// reader that has stopped (a pager paused, a log shipper down) held the
// restart, and with it every signal ward was sent meanwhile, until it
// read again; the rest follows as it does.
func (s *supervisor) finishOutput(last bool) {
	if last {
		s.ptyIn.hold()
	}
	var waits []chan struct{}
	if s.out != nil {
		out, done := s.out, make(chan struct{})
		s.out = nil
		go func() {
			out.finish()
			close(done)
		}()
		if last {
			waits = append(waits, done)
		} else {
			s.awaitOldOutput(done)
		}
	}
	if last {
		for _, done := range append(s.oldOut, waits...) {
			if !s.untilStopped(done) {
				break
			}
		}
		s.oldOut = nil
		s.ptyIn.stop()
	}
}

// awaitOldOutput waits, at a restart, for done, the end of the old
// child's output on its way to ward's reader, for at most oldOutputWait,
// handling signals meanwhile as endGroup does: a stop ends the run there
// (stopping is set), and no new child starts. Deaf for those 2 s, ward
// took a `docker stop` that came meanwhile only once the new child ran,
// and passed it on to it: the program started after the stop. Output
// not passed on by then follows as the reader reads (oldOut).
func (s *supervisor) awaitOldOutput(done chan struct{}) {
	timer := time.NewTimer(oldOutputWait)
	defer timer.Stop()
	for {
		select {
		case <-done:
			return
		case sig := <-s.sigs:
			s.handleWhileWaiting(sig)
			if !s.stopping {
				continue
			}
		case <-timer.C:
			s.log.Warn("the old child's output is not all read yet (a reader of ward's output that stopped reading): the new child starts, and the rest of the old one's follows as the reader reads", "waited", oldOutputWait.String())
		}
		s.oldOut = append(s.oldOut, done)
		return
	}
}

// untilStopped waits for done, the end of a child's output on its way to
// ward's reader, unless ward is told to stop (signals.AsksToStop), now,
// before, or by a stop it passed on to the child (see forward): then
// while the reader still reads (signals.AfterStop). The child is gone,
// and a reader that stopped reading held ward deaf to `docker stop`,
// `systemctl stop` and Ctrl-C until the SIGKILL after them, which left
// the run's files and leases behind. It reports whether done came.
func (s *supervisor) untilStopped(done <-chan struct{}) bool {
	for {
		select {
		case <-done:
			return true
		case <-signals.Stopping():
		case sig := <-s.sigs:
			if !signals.AsksToStop(sig, s.terminal) {
				continue
			}
			signals.GiveUp(sig.(syscall.Signal))
		}
		if signals.AfterStop(done) {
			return true
		}
		s.log.Warn("told to stop while the reader of ward's output has not read all of the child's: the rest of it is dropped", "signal", signals.Name(signals.StoppedBy()))
		return false
	}
}

func (s *supervisor) run(ctx context.Context, values map[string]resolve.Value) (exit int, exitErr error) {
	defer func() {
		s.finishOutput(true)
		exit, exitErr = s.outputCut(exit, exitErr)
	}()
	defer s.stopVouching()
	err := s.start()
	if s.chldBefore {
		s.requeue(syscall.SIGCHLD)
	}
	if errors.Is(err, errStopAsked) {
		return stoppedBeforeStart(s.stopBefore, "before the program started")
	}
	if errors.Is(err, signals.ErrStopped) {
		return stoppedBeforeStart(s.stopBefore, "before the program started, while its file was being written")
	}
	if err != nil {
		return startFailure(err)
	}
	var r *rotator
	if s.opts.Rotate {
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		r = newRotator(s.opts, s.input, s.plan, values)
		s.rotator = r
		go r.run(rctx)
	}
	var proposals <-chan *proposal
	var stops <-chan string
	if r != nil {
		proposals, stops = r.proposals, r.stops
	}
	// An identity's credentials that expired with their source down
	// stop the child as a value's do (on_expired: stop).
	var idStops <-chan string
	if s.opts.identity != nil {
		idStops = s.opts.identity.expired
	}
	// While the rest of the child's group is stopped after the child
	// exited, ward looks whether it is gone at this pace, besides every
	// SIGCHLD.
	var drainTick <-chan time.Time
	for {
		select {
		case sig := <-s.sigs:
			if sig == syscall.SIGCHLD {
				if code, done, err := s.reaped(); done {
					return s.exitFor(code, err)
				}
				if s.draining {
					drainTick = time.After(50 * time.Millisecond)
				}
				continue
			}
			s.forward(sig)
		case <-drainTick:
			drainTick = nil
			if !s.anyLeft(0) {
				return s.exitFor(s.exitCode, nil)
			}
			drainTick = time.After(50 * time.Millisecond)
		case <-s.killTime:
			if !s.killed && s.draining && !s.session {
				// What did not stop, by name: as PID 1, a daemon the
				// child's group no longer holds.
				s.log.Warn("what the child left running did not stop in time; killing it", "stop_timeout", s.rotation.StopTimeout.String(), "processes", namedProcesses(s.leftBehind()))
			} else if !s.killed {
				s.log.Warn("the child's process group did not stop in time; killing it", "stop_timeout", s.rotation.StopTimeout.String())
			}
			s.killed = true
			s.killGroup()
			if s.draining {
				s.anyLeft(syscall.SIGKILL)
			}
			s.killTime = nil
		case <-s.guardTime:
			s.guardTime = nil
			s.guardNow(s.child.Pid)
		case <-s.outputStops:
			s.stopForOutput()
		case p := <-proposals:
			s.apply(p)
		case reason := <-stops:
			s.log.Error("stopping the child", "reason", reason)
			s.expired = reason
			s.beingStopped()
			s.stopChild()
		case reason := <-idStops:
			// Once: the rotator's stop may have come first.
			idStops = nil
			if s.expired != "" {
				continue
			}
			s.log.Error("stopping the child", "reason", reason)
			s.expired = reason
			s.beingStopped()
			s.stopChild()
		}
	}
}

// exitFor is ward's exit for the child's code: the child's, unless ward
// stopped it because its credentials expired (see expired).
func (s *supervisor) exitFor(code int, err error) (int, error) {
	s.warnLeftRunning()
	if err == nil && s.expired == "" && s.endBy != 0 {
		return code, &failure.Error{Code: code, Signal: s.endBy, Group: s.groupEnd}
	}
	if err != nil || s.expired == "" {
		return code, err
	}
	return signals.ExitWardFailure, failure.New(fmt.Errorf("the child was stopped (its status %d): %s", code, s.expired), "ward exits 125 so that a restart policy starts it again once the store is back")
}

// outputCut is ward's exit once the child's masked output has been passed
// on: 125 when some of it could not be written (a full disk, the
// file-size limit), whatever the child's status, which ward's exit
// otherwise passes on. The child, whose writes went to ward's pipe, took
// them for done: `ward run --mask -- gen-config > out.yaml` on a full
// disk exited 0 and left the file cut short, where without --mask the
// program sees the failed write and fails. A reader gone (EPIPE, a `|
// head`) is not a cut: there the child gets EPIPE as without ward.
// Failures of ward's own and an end by the terminal's signal keep their
// exit.
func (s *supervisor) outputCut(code int, err error) (int, error) {
	lost := s.outputLost.Load()
	if lost == nil || err != nil {
		return code, err
	}
	return signals.ExitWardFailure, failure.New(fmt.Errorf("the child's output could not all be written, and was cut off: %w (the child's status: %d)", *lost, code), strings.TrimSuffix("ward exits 125 so that what ran it does not take the output for whole; "+syshint.For(*lost), "; "))
}

// warnLeftRunning says, as ward exits, what the child left running that
// ward does not stop: a daemon in a session or process group of its own
// (redis-server --daemonize yes, pg_ctl start, setsid -f, nginx's
// default), orphaned to ward as a subreaper, which outlives a ward that
// is not PID 1, or the rest of the group under --signal-child-only. It
// holds the secrets in its environment, and the run's files are removed
// under it; ward exited 0 without a word, the program's next read of a
// file (a reload's certificate) failing later with no cause in sight.
func (s *supervisor) warnLeftRunning() {
	if os.Getpid() == 1 {
		// Every process of the container was stopped (or, with
		// --signal-child-only, the kernel kills them as ward exits).
		return
	}
	var spare []int
	if s.opts.Spare != nil {
		spare = s.opts.Spare()
	}
	if s.guard != nil {
		spare = append(spare, s.guard.pid)
	}
	left := signals.Orphans(spare, GuardArg, remote.ServeArg)
	if len(left) == 0 {
		return
	}
	named := namedProcesses(left)
	files := ""
	if s.dir != nil && len(s.plan.Files) > 0 {
		files = ", and the run's secret files are removed now, under them"
	}
	if s.opts.SignalChildOnly {
		s.log.Warn("the child left processes running, which --signal-child-only leaves to the program: they keep the secrets in their environment"+files, "processes", named)
		return
	}
	s.log.Warn("the child left processes running in a session or process group of their own (a daemon: setsid, a double fork, a server's --daemonize), which ward stops only as PID 1: they keep the secrets in their environment"+files+"; run the server in the foreground (redis-server --daemonize no, nginx -g 'daemon off;', postgres rather than pg_ctl start), or ward as the container's PID 1", "processes", named)
}

// namedProcesses names pids for a log line, the first few with their
// program: "123 redis-server, 456 sleep, and 3 more".
func namedProcesses(pids []int) string {
	const shown = 5
	var named []string
	for _, pid := range pids[:min(len(pids), shown)] {
		named = append(named, fmt.Sprintf("%d %s", pid, cmp.Or(processName(pid), "?")))
	}
	if len(pids) > shown {
		named = append(named, fmt.Sprintf("and %d more", len(pids)-shown))
	}
	return strings.Join(named, ", ")
}

// reaped collects exited children and acts on what happened to the main
// child: a stop (job control), a restart under way, or its exit. done
// reports that ward should exit with code.
func (s *supervisor) reaped() (code int, done bool, err error) {
	ws, state := signals.Reap(s.child.Pid)
	switch {
	case s.draining:
		if !s.anyLeft(0) {
			return s.exitCode, true, nil
		}
		return 0, false, nil
	case state == signals.Stopped:
		s.childStopped(ws.StopSignal())
		return 0, false, nil
	case state != signals.Exited:
		return 0, false, nil
	}
	code = signals.ExitCode(ws)
	heldTerminal := s.session || s.holdsTerminal()
	s.giveBackTerminal()
	if sent := s.reloadSent; s.restarting == nil && !s.stopping && sent.ended(s.child.Pid, ws) {
		s.log.Warn("the child ended on rotation.signal, which ward sent it for the new secrets: starting it again with them (give the program a handler for the signal that reloads, or choose one it reloads on)", "signal", signals.Name(sent.sig), "pid", s.child.Pid, "exit_code", code, "changed", strings.Join(sent.changed, ","))
		s.restarting = &proposal{plan: s.plan, changed: sent.changed, done: make(chan bool, 1)}
		s.relay.Restarting(true)
		s.vouched = s.relay.Vouch()
		s.restartStart = time.Now()
	}
	s.reloadSent = reloadSignal{}
	if s.restarting != nil && !s.stopping {
		if err := s.endGroup(); err != nil {
			return 0, false, nil
		}
		if !s.stopping {
			s.awaitQuiet()
		}
		if !s.stopping {
			// The old child's masked output, before the new child
			// starts (see awaitOldOutput).
			s.finishOutput(false)
		}
		// A stop signal that came while endGroup, awaitQuiet or
		// awaitOldOutput waited (it forwarded it, and set stopping) ends
		// the run here: no new child starts.
		if !s.stopping {
			err := s.finishRestart(code)
			if err == nil {
				return 0, false, nil
			}
			if !errors.Is(err, signals.ErrStopped) && !errors.Is(err, errStopAsked) {
				c, e := startFailure(err)
				return c, true, e
			}
			// Stopped before the new child started: the old child's end
			// is the run's.
		}
	}
	if s.restarting != nil {
		s.restarting.done <- false
		s.restarting = nil
		s.stopVouching()
	}
	oomKilled, limit := false, ""
	if code == signals.ExitSignalBase+int(syscall.SIGKILL) {
		oomKilled, limit = s.oom.KilledSince()
	}
	if oomKilled {
		// Said as the platforms say OOMKilled: a bare SIGKILL reads as
		// someone's kill -9. 137 from an exit counts too: an entrypoint
		// script's program killed (or the child of a pty session's
		// leader) is the script's 137.
		s.log.Error("child ended by the kernel's OOM killer (it, or a process of its): the memory limit of ward's cgroup was reached; raise the container's memory limit (resources.limits.memory, docker run --memory, systemd's MemoryMax=) or lower the program's use", "pid", s.child.Pid, "limit", cmp.Or(limit, "none"), "code", code)
	} else if ws.Signaled() && !s.session {
		// An operator wants to see a stray TERM. (A pty session's leader
		// says it of the program, whose pid it knows.)
		s.log.Info("child killed by a signal", "pid", s.child.Pid, "signal", strings.TrimPrefix(signals.Name(ws.Signal()), "SIG"), "code", code)
	} else {
		s.log.Debug("child exited", "pid", s.child.Pid, "code", code)
		if code != 0 {
			s.windowsLineEndings()
		}
	}
	s.exitCode = code
	s.noteInterrupt(ws, heldTerminal)
	if s.opts.SignalChildOnly || !s.anyLeft(0) {
		return code, true, nil
	}
	// Nothing outlives the child: what it left running in its group
	// (a `cmd &` of a shell script) holds its secrets in its environment
	// and may read files ward is about to remove. As PID 1, that is every
	// process of the container.
	s.draining = true
	if left := s.leftBehind(); len(left) > 0 && !s.stopping && !s.session {
		// Said: a CI step's `ward run -- ./start-services.sh` whose
		// `server &` a later step needs found it gone, and ward had
		// said nothing.
		s.log.Info("the child exited; stopping what the child left running in its process group, which holds its secrets (--signal-child-only leaves it running)", "pgid", s.child.Pid, "processes", namedProcesses(left))
	} else {
		s.log.Debug("stopping what the child left running", "pgid", s.child.Pid)
	}
	s.anyLeft(syscall.SIGTERM)
	// A stop of ward now sends none again (see forward), nor, should ward
	// be killed, does the guard.
	s.termed = true
	s.guard.termed()
	// As an init system does: a process stopped (SIGSTOP, a debugger's
	// or an operator's) handles the SIGTERM only once continued. As PID
	// 1, the daemons outside the group too: one left stopped was killed
	// at stop_timeout instead of stopping as it should.
	s.anyLeft(syscall.SIGCONT)
	// Being stopped, ward keeps the deadline the stop signal set (killing
	// at once when it is past): the rest is not given a stop_timeout of
	// its own, which made a stop take twice as long as docker stop waits.
	wait := s.rotation.StopTimeout
	if s.stopping && !s.stopBy.IsZero() {
		wait = max(time.Until(s.stopBy), 0)
	}
	s.killTime = time.After(wait)
	return 0, false, nil
}

// leftBehind returns what the child left running that ward stops once
// it has exited: the rest of its process group, and as PID 1 every other
// process of the container but ward's store helpers (a daemon that
// called setsid(), which the info line did not name).
func (s *supervisor) leftBehind() []int {
	left := signals.GroupMembers(s.child.Pid)
	if os.Getpid() == 1 && !s.opts.SignalChildOnly {
		var spare []int
		if s.opts.Spare != nil {
			spare = s.opts.Spare()
		}
		left = append(left, signals.Others(s.child.Pid, spare)...)
	}
	return left
}

// windowsLineEndings says, of a child that failed, that its program's #!
// line ends in a carriage return, when it does: its interpreter ran,
// given a word ending in one, and failed at it (env said "env:
// 'bash\r': No such file or directory", and to use -S).
func (s *supervisor) windowsLineEndings() {
	file := s.path
	if s.cwd != "" && !filepath.IsAbs(file) {
		file = filepath.Join(s.cwd, file)
	}
	if word := signals.CarriageReturn(file); word != "" {
		s.log.Error(crlfMessage, "program", s.opts.Argv[0], "word", word)
	}
}

// crlfMessage is what ward says of a program whose #! line ends in a
// carriage return.
const crlfMessage = "the program's #! line ends in a carriage return: the file has Windows (CRLF) line endings, and its interpreter was given the word with it; convert them (dos2unix, or git's core.autocrlf=false and a checkout again)"

// groupAlive reports whether any process of the child's group is left,
// or of its pty session.
func (s *supervisor) groupAlive() bool {
	if s.session {
		return signals.SignalSession(s.child.Pid, 0)
	}
	return signals.GroupAlive(s.child.Pid)
}

// stopped reports whether the child, or a process of its group (of its
// pty session under --mask on a terminal) is stopped by a signal.
func (s *supervisor) stopped() bool {
	if s.opts.SignalChildOnly && !s.session {
		return signals.IsStopped(s.child.Pid)
	}
	return signals.AnyStopped(s.child.Pid, s.session)
}

// killGroup sends SIGKILL to the child's group, and in a pty session of
// ours to the whole session: the child's own group there is not its
// leader's, and killing the leader alone left a child that ignores
// SIGTERM and SIGHUP running, holding the pty ward waits to drain. What
// runs below the child in a group or session of its own (the child of a
// nested `ward run`, whose stop_timeout ends as ward's does, a hair
// later; the shell of `script -qc`) is killed first: killed with the
// child, the wrapper between them could not pass the kill on, and it ran
// on, orphaned, with the secrets in its environment. A nested ward's
// store helpers are left to give its leases back.
func (s *supervisor) killGroup() {
	signals.SignalDescendants(s.child.Pid, syscall.SIGKILL, remote.ServeArg)
	signals.Send(s.child.Pid, syscall.SIGKILL, false)
	if s.session {
		signals.SignalSession(s.child.Pid, syscall.SIGKILL)
	}
}

// anyLeft sends sig (0: none, a check) to what the child left running
// (its process group or pty session, and as PID 1 every other process
// but ward's own helpers) and reports whether anything was left.
func (s *supervisor) anyLeft(sig syscall.Signal) bool {
	left := s.groupAlive()
	// A group ward forwarded SIGTERM to is not sent it again: npm exits
	// at once and leaves node draining, and a server that reads a second
	// SIGTERM as "stop now" cut its drain short. The stop's deadline
	// (beingStopped) still kills what does not stop.
	if left && sig != 0 && (sig != syscall.SIGTERM || !s.termed) {
		signals.Send(s.child.Pid, sig, false)
		if s.session && sig == syscall.SIGKILL {
			signals.SignalSession(s.child.Pid, sig)
		}
	}
	if os.Getpid() == 1 && !s.opts.SignalChildOnly {
		var spare []int
		if s.opts.Spare != nil {
			spare = s.opts.Spare()
		}
		left = signals.SignalOthers(sig, s.child.Pid, spare) || left
	}
	return left
}

// endGroup stops what the old child left in its group before a restart,
// and what it left orphaned to ward (a daemon in a session of its own),
// SIGTERM then SIGKILL after stop_timeout, waiting for it here: the new
// child must not start beside the old one's workers, which hold the old
// secrets (and the new one's would find their port taken).
func (s *supervisor) endGroup() error {
	if s.opts.SignalChildOnly {
		return nil
	}
	orphans := func(sig syscall.Signal) bool {
		// The helpers are asked each time: one started again meanwhile
		// (it died) is ward's, not the old child's.
		var spare []int
		if s.opts.Spare != nil {
			spare = s.opts.Spare()
		}
		if s.guard != nil {
			spare = append(spare, s.guard.pid)
		}
		return signals.SignalOrphans(sig, s.child.Pid, spare)
	}
	left := func() bool { return orphans(0) || s.groupAlive() }
	if !left() {
		return nil
	}
	s.log.Debug("stopping what the old child left running before the restart", "pgid", s.child.Pid)
	signals.Send(s.child.Pid, syscall.SIGTERM, false)
	signals.Send(s.child.Pid, syscall.SIGCONT, false)
	orphans(syscall.SIGTERM)
	orphans(syscall.SIGCONT)
	deadline := time.Now().Add(s.rotation.StopTimeout)
	for left() {
		if time.Now().After(deadline) {
			s.killGroup()
			orphans(syscall.SIGKILL)
			deadline = time.Now().Add(s.rotation.StopTimeout)
		}
		select {
		case sig := <-s.sigs:
			s.handleWhileWaiting(sig)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// handleWhileWaiting handles a signal that arrives while ward waits for
// what an old child left (endGroup) or for its files to be quiet
// (awaitQuiet): it reaps the dead and forwards the rest.
func (s *supervisor) handleWhileWaiting(sig os.Signal) {
	if sig == syscall.SIGCHLD {
		signals.Reap(s.child.Pid)
		return
	}
	s.forward(sig)
}

// awaitQuiet waits, before a restart's new child starts, until the
// watched files changed while the old child stopped have not changed for
// rotation.debounce, as any change waits (at most ten debounces from
// now): freshen then reads each whole. A file written in place as the
// old child exited (a certificate copied in several writes, a shell's >
// then >>) was read half-written, and the new child started with the
// half, then was restarted again with the rest. Signals are handled
// meanwhile, as endGroup does: a stop ends the run.
func (s *supervisor) awaitQuiet() {
	if s.rotator == nil || s.restarting == nil {
		return
	}
	deadline := time.Now().Add(maxSettle * s.rotation.Debounce)
	for {
		wait := s.rotator.untilQuiet(s.restarting.values)
		if wait <= 0 || s.stopping || !time.Now().Before(deadline) {
			return
		}
		s.log.Debug("a secret file changed while the old child stopped is still being written; the new child starts once it is quiet", "wait", wait.Round(time.Millisecond).String())
		timer := time.NewTimer(min(wait, time.Until(deadline)))
		for waiting := true; waiting; {
			select {
			case sig := <-s.sigs:
				s.handleWhileWaiting(sig)
				waiting = !s.stopping
			case <-timer.C:
				waiting = false
			}
		}
		timer.Stop()
	}
}

// aloneInJob reports whether ward's own stdin and stdout (not the
// child's, which --mask makes pipes of ward's) are not pipes. A
// pipe there means, on a terminal, that ward is one command of a
// pipeline (`ward run -- cmd | less`), whose other commands share ward's
// process group: giving the child's group the terminal would put them in
// the background, and less would stop at its first key. The child then
// gets the terminal only when it stops to use it (SIGTTIN, SIGTTOU).
// Nor is ward alone when started with SIGINT ignored: that is how a shell
// without job control starts `cmd &` (a script's), in the script's own
// process group, the terminal's foreground, where the script's next read
// would stop.
func aloneInJob(stdin, stdout *os.File) bool {
	if signal.Ignored(syscall.SIGINT) {
		return false
	}
	for _, f := range []*os.File{stdin, stdout} {
		if f == nil {
			continue
		}
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeNamedPipe != 0 {
			return false
		}
	}
	// Nor beside another recipe of a `make -j` (two dev servers, each
	// behind a ward): the terminal given to one child, Ctrl-C reached it
	// alone, and the others ran on. Last: it reads every process's stat.
	return !signals.GroupShared()
}

// holdsTerminal reports whether the child's group is the foreground of
// the terminal ward gave it.
func (s *supervisor) holdsTerminal() bool {
	if s.tty == nil {
		return false
	}
	fg, ok := signals.ForegroundGroup(s.tty)
	return ok && fg == s.child.Pid
}

// noteInterrupt records a child killed by the terminal's interrupt or
// quit signal for ward to end by when it exits (signals.EndBy): a script
// that ran ward stops at Ctrl-C as it does for any program, not only for
// programs that do not catch SIGINT. When ward forwarded the signal, it
// ends by it alone (its group had it, or it was meant for ward); when
// the child held the terminal (or its pty, under --mask), Ctrl-C reached
// the child's group alone, and ward passes it to its own group: the
// shell without job control or the make that waits with ward.
func (s *supervisor) noteInterrupt(ws syscall.WaitStatus, heldTerminal bool) {
	if !ws.Signaled() || ws.Signal() != syscall.SIGINT && ws.Signal() != syscall.SIGQUIT {
		return
	}
	switch sig := ws.Signal(); {
	case s.keys[sig]:
		s.endBy, s.groupEnd = sig, false
	case heldTerminal:
		s.endBy, s.groupEnd = sig, true
	}
}

// giveBackTerminal gives ward's group the foreground of the terminal the
// child has: when the child stopped (the shell's prompt returns with the
// job stopped), and once it exited (the shell or script that started
// ward reads from it next: a non-interactive script's `read` failed with
// EIO; a restarted child is given it again from ward's).
func (s *supervisor) giveBackTerminal() {
	if s.tty == nil {
		return
	}
	if s.holdsTerminal() {
		signals.SetForeground(s.tty, syscall.Getpgrp())
	}
}

// takeTerminal gives the child the foreground of the terminal it shares
// with ward when ward has it, and reports whether it did.
func (s *supervisor) takeTerminal() bool {
	if s.tty == nil {
		i := ownedTerminal(s.stdio)
		if i < 0 {
			return false
		}
		s.tty = s.stdio[i]
	}
	if !signals.OwnsTerminal(s.tty) {
		return false
	}
	return signals.SetForeground(s.tty, s.child.Pid) == nil
}

// ownedTerminal is the index of the first of files that is a terminal
// whose foreground is ward's process group, -1 when none is.
func ownedTerminal(files []*os.File) int {
	for i, f := range files {
		if f != nil && signals.OwnsTerminal(f) {
			return i
		}
	}
	return -1
}

// stopForOutput stops the job because its masked output waits for a
// terminal that stops background writers while ward is in its background
// (see waitForTerminal): the child as by a Ctrl-Z, and ward follows it
// into the stop with SIGTTOU, as the kernel stops a job that writes there
// itself (zsh says "suspended (tty output)", bash "Stopped").
func (s *supervisor) stopForOutput() {
	if s.stopping || s.draining || s.child == nil {
		return
	}
	// Asked before a stop and a fg, the ask is stale: the job would
	// stop again in the foreground, its output held.
	if !signals.InBackground(s.opts.Stdout) && !signals.InBackground(s.opts.Stderr) {
		return
	}
	s.log.Debug("output waits for the terminal (stty tostop) while ward is in the background; stopping the job")
	s.outputStop = true
	if err := signals.Send(s.child.Pid, syscall.SIGTSTP, s.opts.SignalChildOnly); err != nil {
		s.log.Warn("cannot stop the child", "signal", "SIGTSTP", "error", err.Error())
	}
}

// childStopped follows the child into a stop, as a shell's job: ward gives
// the terminal back to its own group and stops itself with the same
// signal, so the shell's prompt returns with the job stopped. When ward
// is continued (fg, bg, kill -CONT) it continues the child, in the
// foreground again if ward is.
func (s *supervisor) childStopped(sig syscall.Signal) {
	// Whether this stop is the one a SIGTSTP ward forwarded caused: read
	// once, so that no later stop (a Ctrl-Z) is taken for it.
	forwarded := s.tstpSent
	s.tstpSent = false
	if s.stopping || s.restarting != nil {
		// ward is ending the child (SIGTERM or stop_signal forwarded, the
		// kill timer running), for good or for a restart. A child that
		// stops again before it acts on that (a Go program's runtime
		// re-raises SIGTERM on one thread while another's read of the
		// terminal stops it with SIGTTIN; a kill -STOP as a restart's
		// stop waits) is continued, not followed into the stop: ward
		// stopped would never reach the kill, nor start the new child,
		// and a shell's kill %1 would leave both stopped.
		if !s.stopping && (sig == syscall.SIGTSTP || sig == syscall.SIGSTOP && s.out != nil && s.out.session) {
			// The job's stop (Ctrl-Z; kill -TSTP of ward, forwarded)
			// as the old child ends: the new child is stopped as it
			// starts, and ward with it. The key did nothing, the new
			// child started in the foreground, and what was typed next
			// went to it.
			s.heldStop, s.heldStopSent = true, s.heldStopSent || forwarded
			s.log.Debug("the job was stopped as the old child ends for a restart: it stops once the new child has started")
		}
		signals.Send(s.child.Pid, syscall.SIGCONT, s.opts.SignalChildOnly)
		return
	}
	// A SIGSTOP's stop (no terminal's: under --mask the pty session's
	// leader stops with SIGSTOP for a Ctrl-Z) may have come while ward
	// was stopped with the child: the SIGCONT that woke ward reaches the
	// channel a moment after the child's stop, handled by another
	// thread. It is waited for a moment (see stopFollowWait).
	wait := time.Duration(0)
	if sig == syscall.SIGSTOP && (s.out == nil || !s.out.session) {
		wait = stopFollowWait
	}
	ending, continued := s.handlePending(wait)
	if ending {
		// Asked to end (a shell's kill %1 on a job that stopped again):
		// the child was sent the signal and continued to act on it.
		return
	}
	if continued {
		// ward was stopped too, and continued since (kill -STOP of ward
		// and of its child, then kill -CONT of ward; a tool that stops
		// and continues a list of processes): the kernel hands the
		// child's stop in before that SIGCONT. SIGCONT continues both;
		// ward followed the child's earlier stop into a new stop of its
		// own, after the SIGCONT meant to end it, and both stayed
		// stopped (a SIGTERM then did nothing: a hang).
		// As after a stop of ward's own: the terminal too, when ward has
		// its foreground.
		s.log.Debug("child stopped while ward was; ward was continued since, and continues it", "signal", signals.Name(sig))
		if s.wantsTerminal || aloneInJob(s.opts.Stdin, s.opts.Stdout) {
			s.wantsTerminal = s.takeTerminal() || s.wantsTerminal
		}
		signals.Send(s.child.Pid, syscall.SIGCONT, s.opts.SignalChildOnly)
		return
	}
	if (sig == syscall.SIGTTIN || sig == syscall.SIGTTOU) && s.takeTerminal() {
		s.wantsTerminal = true
		// The child touched a terminal that ward, not it, has the
		// foreground of: ward started in the background (`ward run ... &`)
		// and brought forward with fg, which tells a running job nothing.
		// It has the terminal now; it goes on.
		signals.Send(s.child.Pid, syscall.SIGCONT, s.opts.SignalChildOnly)
		return
	}
	if sig == syscall.SIGTSTP && !forwarded && os.Getpid() != 1 && signals.GroupOrphaned() {
		// A terminal's stop (Ctrl-Z) for a ward that leads a session of
		// its own on it (dumb-init's setsid: `docker run -it` with
		// dumb-init as the entrypoint; `setsid -c`): the kernel discards
		// it for ward's orphaned group, as it did for the program run
		// there without ward, and no shell could continue the job. ward
		// followed the child into the stop, and the terminal hung.
		s.log.Debug("child stopped by its terminal; ward's process group is orphaned: it continues it", "signal", signals.Name(sig))
		signals.Send(s.child.Pid, syscall.SIGCONT, s.opts.SignalChildOnly)
		return
	}
	if os.Getpid() == 1 {
		// A PID namespace's init cannot stop itself: the kernel drops a
		// stop it sends itself. Waiting for a SIGCONT that would never
		// come for ward, it used to continue the child two seconds later.
		if sig == syscall.SIGSTOP {
			// Someone stopped the child on purpose (a debugger, an
			// operator): it stays stopped until SIGCONT, to ward (which
			// forwards it) or to the child.
			s.log.Info("child stopped by SIGSTOP; ward, PID 1, cannot stop with it: it stays stopped until SIGCONT", "pid", s.child.Pid)
			return
		}
		// A terminal's stop (Ctrl-Z under docker run -it) has no shell to
		// continue the job: as for an init, it does not stop the program.
		s.log.Debug("child stopped by its terminal; ward, PID 1, continues it", "signal", signals.Name(sig))
		signals.Send(s.child.Pid, syscall.SIGCONT, s.opts.SignalChildOnly)
		return
	}
	s.log.Debug("child stopped; stopping ward", "signal", signals.Name(sig))
	if sig == syscall.SIGSTOP && s.out != nil && s.out.session {
		// The pty session's leader stops with SIGSTOP whatever stopped
		// the child there: for the shell, it is a Ctrl-Z.
		sig = syscall.SIGTSTP
	}
	if s.outputStop {
		// Stopped for output to the terminal: the shell says so.
		sig, s.outputStop = syscall.SIGTTOU, false
	}
	term := s.tty
	if s.out != nil {
		term = s.opts.Stdin
	}
	rows, cols, sized := signals.WindowSize(termOr(term, s.opts.Stdout))
	s.giveBackTerminal()
	s.ptyIn.suspend()
	s.guard.stopping(s.child.Pid, s.session)
	if sig == syscall.SIGTSTP && !forwarded || sig == syscall.SIGTTIN || sig == syscall.SIGTTOU {
		// The terminal's Ctrl-Z reached the child's group alone (it had
		// the terminal): the rest of ward's job (`| tee log`, the script
		// that runs ward) is stopped too, as the key stops a whole job,
		// or the shell waits for it. So for the kernel's SIGTTIN and
		// SIGTTOU, which a read or write of the terminal from the
		// background sends the child's group (a script stopped and
		// continued with bg): ward stopped alone, the shell saw its job
		// running, and its fg sent no SIGCONT: a hang, every time. (ward
		// forwards neither to a child that does not catch it.) Last, once
		// the terminal and its mode are given back: a script stopped
		// sooner lets the shell take the terminal, and ward's restore of
		// its mode (--mask) is then output from the background, stopped
		// again and again.
		signals.StopSelfAndGroup(sig)
	} else {
		signals.StopSelf(sig)
	}
	s.guard.running()
	// Continued: first what arrived meanwhile (kill %1 sends SIGTERM, then
	// SIGCONT), up to ward's own SIGCONT: the signals reach the channel a
	// moment after ward runs again, the lower-numbered first.
	if s.handleUntilContinued() {
		return
	}
	s.ptyIn.resume()
	resized := false
	if r, c, ok := signals.WindowSize(termOr(term, s.opts.Stdout)); ok && sized && (r != rows || c != cols) {
		resized = true
	}
	if s.out != nil && s.out.master != nil && resized {
		// The pty's size change sends the child SIGWINCH itself.
		mask.InheritSize(s.opts.Stdout, s.out.master)
		resized = false
	}
	// fg: the terminal is ward's again, and so the child's (also when
	// ward started in the background and has it for the first time),
	// unless the rest of ward's job needs it (see aloneInJob).
	if s.wantsTerminal || aloneInJob(s.opts.Stdin, s.opts.Stdout) {
		s.wantsTerminal = s.takeTerminal() || s.wantsTerminal
	}
	signals.Send(s.child.Pid, syscall.SIGCONT, s.opts.SignalChildOnly)
	if resized {
		signals.Send(s.child.Pid, syscall.SIGWINCH, s.opts.SignalChildOnly)
	}
}

// stopFollowWait is how long ward, finding its child stopped by SIGSTOP,
// waits for a SIGCONT of its own before it follows the child into the
// stop. Both stopped (kill -STOP of each, a tool stopping a list of
// processes), then ward continued: the kernel hands ward the child's
// stop (SIGCHLD) and the SIGCONT at once, the lower-numbered SIGCHLD
// first, and Go passes each on from whichever thread took it. Read
// before the SIGCONT, the stop made ward stop again and stay so, with
// the child (2 of 40 tries on two busy cores, after the pending SIGCONT
// was already looked for). A SIGSTOP comes from elsewhere, not from a
// terminal's Ctrl-Z: nobody waits at a prompt for it.
const stopFollowWait = 200 * time.Millisecond

// handlePending forwards the signals already waiting on ward's channel
// (not SIGCHLD, left for the run loop to see) and reports whether one asks
// the child to end: it is then continued, so it can. continued reports a
// SIGCONT of ward's among them, which the caller answers by continuing
// the child; wait, when not zero, is how long a SIGCONT is waited for.
func (s *supervisor) handlePending(wait time.Duration) (ending, continued bool) {
	var chld bool
	var timeout <-chan time.Time
	if wait > 0 {
		timeout = time.After(wait)
	}
	for {
		var sig os.Signal
		if timeout != nil && !continued && !ending {
			select {
			case sig = <-s.sigs:
			case <-timeout:
				timeout = nil
				continue
			}
		} else {
			select {
			case sig = <-s.sigs:
			default:
				if chld {
					// Put it back for the run loop: a child may have exited.
					s.requeue(syscall.SIGCHLD)
				}
				return ending, continued
			}
		}
		switch sig {
		case syscall.SIGCHLD:
			chld = true
		case syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, s.rotation.StopSignal:
			ending = true
			s.forward(sig)
		case syscall.SIGCONT:
			// Ward's own continue; the child's follows in the caller.
			continued = true
		default:
			s.forward(sig)
		}
	}
}

// continueWait bounds how long handleUntilContinued waits for ward's own
// SIGCONT to reach the channel; it is there within microseconds unless
// ward was continued by something that sent none (a debugger).
const continueWait = 2 * time.Second

// handleUntilContinued is handlePending for the moment ward runs again
// after stopping itself: it reads the channel up to the SIGCONT that
// continued ward, so that a SIGTERM sent with it (a shell's kill %1 on a
// stopped job) is not mistaken for one that has not come. It reports
// whether one asks the child to end.
func (s *supervisor) handleUntilContinued() (ending bool) {
	var chld bool
	timeout := time.After(continueWait)
	for {
		select {
		case sig := <-s.sigs:
			switch sig {
			case syscall.SIGCHLD:
				chld = true
				continue
			case syscall.SIGCONT:
				if chld {
					s.requeue(syscall.SIGCHLD)
				}
				// What came with the SIGCONT and after it.
				more, _ := s.handlePending(0)
				return more || ending
			case syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, s.rotation.StopSignal:
				ending = true
			}
			s.forward(sig)
		case <-timeout:
			if chld {
				s.requeue(syscall.SIGCHLD)
			}
			more, _ := s.handlePending(0)
			return more || ending
		}
	}
}

// requeue delivers sig to ward's own channel again.
func (s *supervisor) requeue(sig syscall.Signal) { syscall.Kill(os.Getpid(), sig) }

func termOr(f, alt *os.File) *os.File {
	if f != nil {
		return f
	}
	return alt
}

// forward passes a signal ward received on to the child.
func (s *supervisor) forward(sig os.Signal) {
	if sig == syscall.SIGCONT {
		s.ptyIn.continued()
		if s.heldStop {
			// The stop held for the new child was undone before it
			// started (kill -TSTP, then kill -CONT, of ward): it was
			// replayed all the same, and the job stopped for good.
			s.heldStop, s.heldStopSent = false, false
			s.log.Debug("the job was continued before the new child started: it is not stopped")
		}
	}
	if signals.JobControlRequest(sig, s.child.Pid) {
		// To the child alone: their default action stops a process, and
		// every worker of its group that does not catch them (gunicorn's)
		// would stop. Nor to a child that does not catch it: without
		// ward, under a service manager, its process group would be
		// orphaned, and the kernel would discard it (here it stopped the
		// child, and ward followed it into the stop).
		if !s.session && !signals.Catches(s.child.Pid, sig.(syscall.Signal)) {
			return
		}
		if err := signals.Send(s.child.Pid, sig.(syscall.Signal), true); err != nil {
			s.log.Warn("cannot forward signal", "signal", signals.Name(sig.(syscall.Signal)), "error", err.Error())
		}
		return
	}
	if !signals.Forwardable(sig) {
		if sig == syscall.SIGXCPU && !s.cpuWarned {
			s.cpuWarned = true
			s.log.Warn("ward's own CPU time reached its soft limit (RLIMIT_CPU: LimitCPU=, ulimit -t): the child, which has a count of its own, is not sent SIGXCPU; at the hard limit the kernel kills ward")
		}
		return
	}
	if sig == syscall.SIGWINCH && s.out != nil && s.out.master != nil {
		// The child's terminal is our pty: resizing it makes the kernel
		// send SIGWINCH to the child's group itself.
		mask.InheritSize(s.opts.Stdout, s.out.master)
		return
	}
	ss := sig.(syscall.Signal)
	if signals.AsksToStop(ss, s.terminal) && !(s.terminal && (ss == syscall.SIGINT || ss == syscall.SIGQUIT)) {
		// A stop (`docker stop`, `systemctl stop`, a CI cancel), not a
		// key at a terminal (Ctrl-C in psql cancels a query): once the
		// child has ended, ward's waits for its readers are as after a
		// stop. docker sends one SIGTERM, which is the child's now, and
		// a reader that stopped reading (a blocking log driver) held
		// ward deaf until the SIGKILL after it, 137.
		signals.GiveUp(ss)
	}
	if !s.once(ss) {
		return
	}
	if ss == syscall.SIGINT || ss == syscall.SIGQUIT {
		if s.keys == nil {
			s.keys = map[syscall.Signal]bool{}
		}
		s.keys[ss] = true
	}
	if ss == s.reloadSent.sig {
		// Not ward's alone now: a child it ends ends the run.
		s.reloadSent = reloadSignal{}
	}
	if s.session && (ss == syscall.SIGTSTP || ss == syscall.SIGTTIN || ss == syscall.SIGTTOU) {
		// The pty session's leader, just started, stops with a stop
		// signal only once it catches it: before, the kernel discards it
		// for its orphaned group. A Ctrl-Z in a run's first milliseconds
		// was lost, the job running on and the shell's prompt gone.
		for deadline := time.Now().Add(time.Second); !signals.Catches(s.child.Pid, ss) && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}
	if s.restarting != nil && ss == s.rotation.StopSignal {
		// The restart sent it to the child already, which is on its way
		// out: a second (docker stop's) is "stop now" to many servers,
		// which cut their drain short. What the child leaves in its
		// group gets it once the child has exited (see reaped).
		s.log.Debug("the child was sent this signal by the restart already: not sent again", "signal", signals.Name(ss))
	} else if s.draining && ss == syscall.SIGTERM && !s.drainTermHeld {
		// The child has exited, and what it left got ward's SIGTERM
		// then: a second (docker stop's, systemctl stop's) is "stop
		// now" to many servers, which cut their drain short. A person's
		// next one is forwarded, as a second kill is.
		s.drainTermHeld = true
		s.log.Debug("what the child left was sent SIGTERM when it exited: not sent again")
	} else if err := signals.Send(s.child.Pid, ss, s.opts.SignalChildOnly); err != nil {
		s.log.Warn("cannot forward signal", "signal", signals.Name(ss), "error", err.Error())
	} else if ss == syscall.SIGTERM && !s.opts.SignalChildOnly {
		s.termed = true
		s.guard.termed()
	} else if ss == syscall.SIGTSTP {
		s.tstpSent = true
	}
	if (ss == syscall.SIGTERM || ss == syscall.SIGINT || ss == syscall.SIGHUP || ss == s.rotation.StopSignal) && s.stopped() {
		// A stopped child acts on these only once continued (`kill %1`
		// on a stopped job). A running one is not sent SIGCONT: bash
		// running a script that traps SIGCONT (and SIGTERM) lost the
		// SIGTERM that came with it, and was killed at stop_timeout
		// instead of running its trap; a program that redraws on
		// SIGCONT redrew at every reload's SIGHUP. One that stops
		// after this check is continued when it does (childStopped).
		signals.Send(s.child.Pid, syscall.SIGCONT, s.opts.SignalChildOnly)
	}
	if ss == syscall.SIGINT || ss == syscall.SIGTERM {
		s.runnerCancel(ss)
	}
	interrupt := ss == syscall.SIGINT || ss == syscall.SIGQUIT || ss == syscall.SIGHUP
	if ss == syscall.SIGTERM || ss == s.rotation.StopSignal || interrupt && s.restarting != nil && !s.reload(ss) {
		// ward is being stopped: a restart under way ends here. A Ctrl-C
		// (or a terminal's hangup) during a restart means so too: the old child is
		// on its way out, and starting the new one would take a second
		// Ctrl-C. At other times the child decides (a REPL stays).
		s.beingStopped()
	}
}

// reload reports whether sig is a SIGHUP that asks the program to read
// its configuration again rather than a terminal's hangup: ward has no
// terminal (systemctl reload, logrotate's kill -HUP of a service). During
// a restart it does not end the run; the new child reads it all anyway.
func (s *supervisor) reload(sig syscall.Signal) bool {
	return sig == syscall.SIGHUP && !s.terminal
}

// runnerCancelBudget is how long a CI runner's worker gives the step's
// process it cancels: actions/runner's ProcessInvoker (and the Azure
// Pipelines agent's) sends SIGINT to that process alone, SIGTERM 7.5 s
// later, SIGKILL 2.5 s after that. ward kills what is left of the child a
// second before the SIGKILL, to remove its files and revoke its leases
// first; a SIGTERM that came first (nothing else sends SIGINT before it)
// leaves it 1.5 s.
const runnerCancelBudget = 9 * time.Second

// runnerWorkers are the names of the runners' worker processes that run a
// step's process and cancel it that way.
var runnerWorkers = []string{"Runner.Worker", "Agent.Worker"}

// runnerCancel makes sig, when a CI runner's worker is ward's parent (ward
// is the step's own process: a custom shell, an exec), a stop that ends
// within the runner's budget: the worker signals its step only to cancel
// it, and kills ward at the budget's end. Without this ward waited for
// stop_timeout from the SIGTERM, and was killed with its files on the
// tmpfs and the child running.
func (s *supervisor) runnerCancel(sig syscall.Signal) {
	if s.stopping || !runnerWorkerParent() {
		return
	}
	budget := runnerCancelBudget
	if sig != syscall.SIGINT {
		budget = 1500 * time.Millisecond
	}
	s.log.Info("the CI runner cancels the step: what the child leaves running is killed before the runner kills ward", "signal", signals.Name(sig), "within", budget.String())
	s.stopBy = time.Now().Add(budget)
	s.beingStopped()
}

// runnerWorkerParent reports whether ward's parent is a CI runner's
// worker.
func runnerWorkerParent() bool {
	return runnerWorker(os.Getppid())
}

// stepShells are the shells a runner runs a step's script with that are
// one thread: the parent-death signal follows the thread that forked
// ward, and a thread of a threaded parent (pwsh, python, the worker
// itself) may end while the parent lives on.
var stepShells = []string{"bash", "sh", "dash"}

// stepShellParent reports whether ward's parent is a CI step's shell
// (whose parent is the runner's worker). When the worker cancels the
// step, it signals the shell alone; bash waits for its foreground ward
// through the SIGINT and dies of the SIGTERM, and ward, left running,
// would keep the child going, told nothing, to the job's end. A ward in
// the shell's foreground (not started with SIGINT ignored, as a script's
// `ward run ... &` is, which is meant to outlive its step) takes that
// death for the cancel.
func stepShellParent() bool {
	parent := os.Getppid()
	if !slices.Contains(stepShells, processName(parent)) {
		return false
	}
	grand, ok := signals.Parent(parent)
	return ok && runnerWorker(grand)
}

// runnerWorker reports whether pid is a CI runner's worker.
func runnerWorker(pid int) bool {
	return slices.Contains(runnerWorkers, processName(pid))
}

// processName is pid's command name (its /proc comm), "" when it cannot
// be read.
func processName(pid int) string {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(comm))
}

// apply acts on a proposal per rotation.on_change.
func (s *supervisor) apply(p *proposal) {
	names := strings.Join(p.changed, ",")
	from := strings.Join(versions(p.values, p.changed), ",")
	switch {
	case s.stopping || s.restarting != nil:
		p.done <- false
	case s.draining:
		// The child exited by itself, and ward stops what it left in its
		// group before it exits with the child's status: there is no
		// child to restart or signal. ward said it restarted it (or
		// signalled it), sent the dead child's pid the signal and told
		// systemd a restart was under way, then exited all the same.
		s.log.Info("secrets changed, but the child has exited: ward exits with its status once what it left has stopped", "changed", names, "code", s.exitCode)
		p.done <- false
	case s.rotation.OnChange == manifest.DoNothing:
		// Told against what the child has, which the rotator's last
		// proposal may not be: a secret changed back to the child's
		// value is no change for it.
		changed, env, files := s.plan.Changed(p.plan)
		if !env && !files {
			s.log.Debug("secrets changed back to the values the child has", "from", from)
		} else {
			s.log.Info("secrets changed; on_change is none, so the child keeps its old values", "changed", strings.Join(changed, ","), "from", strings.Join(versions(p.values, changed), ","))
			if s.opts.masker != nil {
				// Masked and registered with a CI runner all the same: the
				// child may read them itself (a file:// source it shares,
				// the store), and print them. It was never given them, so
				// they were never registered, and went to the log in clear.
				var err error
				s.hearStops(func() { err = s.opts.masker.addPlan(p.plan.Masked()) })
				if err != nil {
					s.log.Warn("cannot register the new values with the CI runner's masking", "error", err.Error())
				}
			}
		}
		p.done <- true
	case s.rotation.OnChange == manifest.SignalChild && !p.envChanged && !s.endedBy(s.rotation.Signal) && !s.unheard(s.rotation.Signal):
		start := time.Now()
		// Masked (and registered with a CI runner) before the child can
		// read them: it may read its files at any time, not only when
		// signalled.
		if s.opts.masker != nil {
			// Registered with the CI runner on ward's stderr, whose
			// reader may have stopped: signals are heard meanwhile (see
			// hearStops), and a stop is passed on to the child.
			var err error
			s.hearStops(func() { err = s.opts.masker.addPlan(p.plan.Masked()) })
			if err != nil {
				s.log.Error("cannot mask the new values; the child keeps the old ones", "error", err.Error())
				p.done <- false
				return
			}
		}
		// All or none: a file refused halfway would leave the child
		// some files new, some old.
		if err := s.placeFiles(nil, p.plan.Files, true); err != nil {
			s.log.Error("cannot rewrite secret files; the child keeps the old ones", "error", err.Error())
			p.done <- false
			return
		}
		s.plan = p.plan
		// To the child alone, as systemd's ExecReload=kill -HUP $MAINPID:
		// the signal asks the program to read its files again, and its
		// master tells its workers (gunicorn's leave SIGHUP to its
		// default action, and died of it mid-request).
		if err := signals.Send(s.child.Pid, s.rotation.Signal, true); err != nil {
			s.log.Warn("cannot signal the child", "error", err.Error())
		} else {
			s.reloadSent = reloadSignal{pid: s.child.Pid, sig: s.rotation.Signal, by: time.Now().Add(s.rotation.StopTimeout), changed: p.changed}
		}
		s.log.Info("secrets changed: files rewritten and the child signalled", "changed", names, "from", from, "signal", signals.Name(s.rotation.Signal), "took", time.Since(start).Round(time.Microsecond).String())
		p.signalled = true
		p.done <- true
	default:
		// The new child's files are written before the old child is
		// stopped, under temporary names, and take their place once it
		// is gone: when they cannot be written, the old child is better
		// left running than stopped with nothing to start in its place.
		var err error
		if p.staged, err = s.stageFiles(p.plan.Files, false); err != nil {
			s.log.Error("cannot write the new secret files; the child keeps running on the old ones", "error", err.Error())
			p.done <- false
			return
		}
		if signals.HasExited(s.child.Pid) {
			// The child exited by itself as its files were written (or
			// as the change came: the loop took it before the child's
			// SIGCHLD): its end is the run's, as at any other time. A
			// job that had finished (0) was started again, and its
			// failure (its status) hidden by a restart.
			p.staged.Discard()
			s.log.Info("secrets changed, but the child has exited: ward exits with its status", "changed", names)
			s.requeue(syscall.SIGCHLD)
			p.done <- false
			return
		}
		switch {
		case s.rotation.OnChange != manifest.SignalChild:
		case p.envChanged:
			s.log.Info("an environment variable changed and a running process cannot take a new environment: restarting instead of signalling", "changed", names)
		case s.unheard(s.rotation.Signal):
			s.log.Warn("the child does not catch rotation.signal, which does nothing to a program without a handler: restarting instead of signalling, as it would never hear of its new files (give the program a handler, or choose a signal it handles)", "signal", signals.Name(s.rotation.Signal), "pid", s.child.Pid, "changed", names)
		default:
			s.log.Warn("the child neither catches nor ignores rotation.signal, which would end it: restarting instead of signalling (give the program a handler, or choose a signal it handles)", "signal", signals.Name(s.rotation.Signal), "pid", s.child.Pid, "changed", names)
		}
		s.log.Info("secrets changed: restarting the child", "changed", names, "from", from)
		s.relay.Restarting(true)
		s.vouched = s.relay.Vouch()
		s.restarting = p
		s.restartStart = time.Now()
		s.stopChild()
	}
}

// reloadSignal is rotation.signal as ward sent it to a child for new
// secrets.
type reloadSignal struct {
	pid     int
	sig     syscall.Signal
	by      time.Time
	changed []string
}

// ended reports whether child pid, whose wait status is ws, ended within
// a stop_timeout of being sent the signal: of it, or by exiting with 128
// and its number, as a program says it ended on a signal (another
// status, 0 included, is the child's own end: a job that reloaded and
// then finished, a failure; its code is the run's). A
// program that neither catches nor ignores it is restarted instead of
// signalled (see endedBy); a Go program catches every signal as far as
// /proc can tell, and, with no signal.Notify for it, dies of SIGHUP:
// ward exited 129, and the service was down. So it was, and is no more,
// with one that exits on it: the JVM runs its shutdown hooks and exits
// 129.
func (r reloadSignal) ended(pid int, ws syscall.WaitStatus) bool {
	onIt := ws.Signaled() && ws.Signal() == r.sig || ws.Exited() && ws.ExitStatus() == 128+int(r.sig)
	return r.pid != 0 && r.pid == pid && onIt && time.Now().Before(r.by)
}

// endedBy reports whether sig, sent to the child alone, would end it:
// it has no handler for it and does not ignore it (a program that
// reloads its files by itself, a shell script without a trap). A
// rotation's signal killed such a child (SIGHUP: ward exited 129, and
// the service was down) where a restart would have given it the files.
func (s *supervisor) endedBy(sig syscall.Signal) bool {
	return signals.EndedBy(s.child.Pid, sig)
}

// unheard reports whether sig, whose default action is to do nothing
// (SIGWINCH, SIGCHLD, SIGURG, SIGCONT), reaches a child without a handler
// for it: the files were rewritten, and the child never heard of them.
func (s *supervisor) unheard(sig syscall.Signal) bool {
	switch sig {
	case syscall.SIGWINCH, syscall.SIGCHLD, syscall.SIGURG, syscall.SIGCONT:
		return !signals.Catches(s.child.Pid, sig)
	}
	return false
}

// beingStopped marks ward as being stopped, from now: one stop_timeout
// later whatever is left is killed.
func (s *supervisor) beingStopped() {
	s.stopping = true
	s.relay.Restarting(false)
	s.stopVouching()
	if s.stopBy.IsZero() {
		s.stopBy = time.Now().Add(s.rotation.StopTimeout)
	}
	if s.killTime == nil {
		s.killTime = time.After(time.Until(s.stopBy))
	}
}

// stopChild starts ward's own stop of the child (a restart, expired
// credentials): the stop signal, to the child alone as systemd's
// KillMode=mixed sends it, then SIGKILL to the group after stop_timeout.
// A server's master stops its workers itself, letting them finish what
// they serve (a Node.js cluster's workers leave SIGTERM to the primary,
// and died of it mid-request); what is left once it exited gets SIGTERM
// then (see endGroup and reaped).
func (s *supervisor) stopChild() {
	if err := signals.Send(s.child.Pid, s.rotation.StopSignal, true); err != nil {
		s.log.Warn("cannot signal the child", "error", err.Error())
	}
	// A stopped child (kill -STOP by an operator or a debugger, which
	// ward as PID 1 leaves so) acts on the stop signal only once
	// continued, as for a forwarded one and as systemd's stop does: it
	// stayed pending, and the child was killed at stop_timeout without
	// the chance to finish its work, the restart taking all of it.
	signals.Send(s.child.Pid, syscall.SIGCONT, s.opts.SignalChildOnly)
	if s.killTime == nil {
		s.killTime = time.After(s.rotation.StopTimeout)
	}
}

// stopVouching stops ward's own WATCHDOG=1 of a restart.
func (s *supervisor) stopVouching() {
	if s.vouched != nil {
		s.vouched()
		s.vouched = nil
	}
}

// finishRestart starts the new child once the old one has exited.
func (s *supervisor) finishRestart(oldCode int) error {
	// Once the new child runs (or failed to start), the watchdog is its
	// own again.
	defer s.stopVouching()
	p := s.restarting
	// Still restarting until the new child runs: a Ctrl-C (SIGINT,
	// SIGQUIT, a terminal's hangup) read meanwhile, as the files take
	// their place or the new values are registered with a CI runner, ends
	// the run as during the rest of the restart (see forward). Taken for
	// the running child's, it was passed on to the old child's empty
	// group: the new child started after it, or the registration it gave
	// up failed the restart with 125.
	defer func() { s.restarting = nil }()
	s.killTime = nil
	s.finishOutput(false)
	began := *p
	if s.rotator != nil {
		s.rotator.freshen(context.Background(), p)
	}
	if p.staged != nil && !p.staged.Holds(p.plan.Files) {
		// Read again while the old child stopped (see freshen): staged
		// anew, under the same temporary names.
		p.staged.Discard()
		st, err := s.stageFiles(p.plan.Files, false)
		if err != nil {
			// The old child is gone: the new one starts with the values
			// that began the restart (placeFiles stages them again),
			// and what was read since comes back as a change of its
			// own, refused while it cannot be written (the child runs
			// on). It ended the run, nothing running: a certificate
			// bundle grown past the file-size limit while the old child
			// stopped took the service down.
			s.log.Warn("a secret changed again while the old child stopped, and its files cannot be written: the new child starts with the values that began the restart", "changed", strings.Join(p.changed, ","), "error", err.Error())
			p.plan, p.values, p.changed = began.plan, began.values, began.changed
		}
		p.staged = st
	}
	err := s.placeFiles(p.staged, p.plan.Files, false)
	p.staged = nil
	if err != nil {
		// The old child is gone: said so, as the error alone ("file
		// b.pem: renameat ...") read as a start that never happened.
		p.done <- false
		return fmt.Errorf("the child was stopped for new secrets and cannot be restarted: %w", err)
	}
	s.plan = p.plan
	for _, fd := range signals.ReplaceDeadPipes() {
		// A supervisor's readiness pipe, read once (see ReplaceDeadPipes).
		s.log.Info("a pipe ward was started with has lost its reader: the new child gets /dev/null there", "fd", fd)
	}
	if err := s.start(); err != nil {
		p.done <- false
		return err
	}
	s.log.Info("child restarted with the new secrets", "changed", strings.Join(p.changed, ","), "old_exit", oldCode, "pid", s.child.Pid, "took", time.Since(s.restartStart).Round(time.Microsecond).String())
	p.done <- true
	s.stopHeld()
	return nil
}

// stopHeld stops the job as asked while the old child of a restart ended
// (see heldStop): the new child is sent SIGTSTP, and its stop followed as
// that of the first: with the rest of the job for a terminal's Ctrl-Z,
// alone for a SIGTSTP sent to ward.
func (s *supervisor) stopHeld() {
	held, sent := s.heldStop, s.heldStopSent
	s.heldStop, s.heldStopSent = false, false
	if !held || s.stopping {
		return
	}
	s.log.Debug("stopping the new child, as the job was stopped while the old one ended")
	s.forward(syscall.SIGTSTP)
	s.tstpSent = s.tstpSent && sent
}

// restoreFiles puts back what the running child had of files, which
// took their place before a rename failed (err): their old content, or
// none when they are new. What cannot be put back is said.
func (s *supervisor) restoreFiles(files []secretdir.File, had map[string]secretdir.File, err error) error {
	var old []secretdir.File
	for _, f := range files {
		if h, ok := had[f.Path]; ok {
			old = append(old, h)
		} else {
			s.dir.RemoveFile(f.Path)
		}
	}
	if n, rerr := s.dir.ReplaceAll(old); rerr != nil {
		var left []string
		for _, f := range old[n:] {
			left = append(left, f.Path)
		}
		return fmt.Errorf("%w; and these files could not be put back, and are new: %s (%v)", err, strings.Join(left, ","), rerr)
	}
	return err
}

// stageFiles writes those of files that placeFiles would put in place
// under temporary names (see secretdir.Stage); nil without a directory.
// With running set (the child goes on, signalled), a file the child has
// as it is is left alone: a child that watches its own files (a TLS
// server reloading its certificate pair when it changes) saw every file
// replaced at each change of any secret. A restarted child gets every
// file anew.
func (s *supervisor) stageFiles(files []secretdir.File, running bool) (*secretdir.Staged, error) {
	if s.dir == nil {
		return nil, nil
	}
	have := s.haveFiles(running)
	var changed []secretdir.File
	for _, f := range files {
		if h, ok := have[f.Path]; ok && h.Mode == f.Mode && bytes.Equal(h.Data, f.Data) {
			continue
		}
		changed = append(changed, f)
	}
	// The files left alone need no room: counted, a key that changed
	// beside a large bundle that did not was refused until the tmpfs
	// had room for the bundle twice.
	if err := s.dir.Fits(changed); err != nil {
		return nil, err
	}
	return s.dir.Stage(changed)
}

// haveFiles is the running child's files by path when running is set
// (those it keeps as they are), else none.
func (s *supervisor) haveFiles(running bool) map[string]secretdir.File {
	have := map[string]secretdir.File{}
	if running {
		for _, f := range s.plan.Files {
			have[f.Path] = f
		}
	}
	return have
}

// placeFiles makes the private directory hold exactly files, each
// replaced atomically, all or none: st, staged by stageFiles for files
// (staged now when nil), takes its place, and the old plan's files that
// files no longer has are removed.
func (s *supervisor) placeFiles(st *secretdir.Staged, files []secretdir.File, running bool) error {
	if s.dir == nil {
		return nil
	}
	if st == nil {
		var err error
		if st, err = s.stageFiles(files, running); err != nil {
			return err
		}
	}
	// All or none: a running child whose files were rewritten one by one
	// kept those before a refused one new, those after it old.
	if n, err := st.Commit(); err != nil {
		if running && n > 0 {
			return s.restoreFiles(st.Files()[:n], s.haveFiles(running), err)
		}
		return err
	}
	want := map[string]bool{}
	for _, f := range files {
		want[f.Path] = true
	}
	for _, f := range s.plan.Files {
		if !want[f.Path] {
			s.dir.RemoveFile(f.Path)
		}
	}
	return nil
}
