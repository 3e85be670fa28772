package supervise

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wardsecrets/ward/launcher/logfmt"
	"github.com/wardsecrets/ward/launcher/secretdir"
	"github.com/wardsecrets/ward/resolve/remote"
	"github.com/wardsecrets/ward/signals"
)

// GuardArg marks the run of ward that stands guard over a ward run's
// child in case ward itself is killed: ward GuardArg STOP_TIMEOUT DIR
// LOG PGID [3] (3: it holds DIR's lock as that descriptor, see
// startGuard; LOG is ward's log format and level: see logfmt.Arg; the current
// child's process group, given at the guard's start so that a kill of
// ward right after it leaves no moment when the guard knows none; 0 when
// it starts before the first child, under --mask on a terminal),
// reading from its stdin, a pipe only ward writes, the child's process
// group at each later start ("P PGID"), that ward forwarded SIGTERM
// ("T"), and that ward stops itself with its stopped child ("S PID", or
// "S PID session PIDS..." with the stopped processes of its pty session,
// "R" once it runs again: see stopping), and under --mask the modes to
// put back on ward's terminal should ward be killed while it is raw ("M
// PATH SAVED RAW", "M" once it is not: see ptyInput.tellGuard).
//
// Why a process of its own: a SIGKILL of ward is nothing ward can act on,
// and a hot-reload tool sends one at each reload (air, by default, to
// the group it started ward in), as do an IDE's stop button after its
// grace period and `timeout -k`. The kernel then sends the child alone
// SIGTERM (PR_SET_PDEATHSIG): what the child started in its group (the
// program of `go run`, `npm run`, a `sh -c` that does not exec) got
// nothing and ran on for good with the secrets in its environment, and
// the secret files stayed until the user's next run. The guard, in a
// process group of its own so that a kill of ward's group spares it,
// sees its pipe close: when ward exited, the group is gone already and
// it exits too; when ward was killed, it sends the rest of the child's
// group SIGTERM (the child has the kernel's), unless ward had forwarded
// one to it, kills what is left at
// stop_timeout, as ward would have, and then removes the run's files.
const GuardArg = "__ward-guard"

// guardAfter is how long into the first child's run ward starts its
// guard: not at once, where its fork and exec of ward would cost a
// `ward run -- true` a third of its time, and soon enough that a ward
// killed as it starts (air's reload of a file saved twice, a second
// apart) does not leave its child's server running with the secrets.
// It was a second. Under --mask on a terminal the guard starts before
// the first child, as ward makes its terminal raw (see supervisor.start).
const guardAfter = 200 * time.Millisecond

// guardOOMMargin is how much more memory than the guard ward may hold
// and still be the OOM killer's pick after it.
const guardOOMMargin = 32 << 20

// guardLock is the guard's descriptor that holds the run directory's
// lock, when it was given one (see startGuard).
const guardLock = 3

// guardThreads is how many threads the guard makes ahead: its reads of
// the pipe and of /proc, its log's writer, its waits.
const guardThreads = 4

// guard is ward's end of its guard's pipe.
type guard struct {
	pid int
	w   *os.File
}

// startGuard starts the guard for a run whose files are in dir ("" for
// none), locked by the descriptor lock (-1 for none), which the guard
// holds as its descriptor 3 (guardLock): the lock outlives a killed ward
// for as long as the guard gives the child its stop_timeout, and a run
// started meanwhile (air's next build, at once) does not sweep the files
// the child still reads as it stops. It returns nil when there is to be
// none: as PID 1 (the kernel
// kills the whole container with it), and with --signal-child-only,
// which leaves the rest of the group to the program. A guard that
// cannot be started leaves ward as it was without one.
func startGuard(stopTimeout time.Duration, dir string, lock int, stderr *os.File, log *slog.Logger, childOnly bool, pgid int) *guard {
	if os.Getpid() == 1 || childOnly {
		return nil
	}
	// Ward's own program, also after an upgrade renamed another over it.
	exe, self, err := signals.Self()
	if err != nil {
		return nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil
	}
	defer r.Close()
	if dir == "" {
		dir = "-"
	}
	// No environment: the guard holds no secret and needs none of ward's
	// settings (its store credentials included).
	// The descriptors through SyscallConn: Fd would make ward's stderr
	// blocking.
	var pid int
	rc, err1 := r.SyscallConn()
	ec, err2 := stderr.SyscallConn()
	if err1 != nil || err2 != nil {
		w.Close()
		return nil
	}
	rc.Control(func(rfd uintptr) {
		ec.Control(func(efd uintptr) {
			files := []uintptr{rfd, efd, efd}
			args := []string{self, GuardArg, stopTimeout.String(), dir, logfmt.Arg(log), strconv.Itoa(pgid)}
			if lock >= 0 && dir != "-" {
				files = append(files, uintptr(lock))
				args = append(args, strconv.Itoa(guardLock))
			}
			// Watched: a Ctrl-Z of ward's group (a pipeline's) as it
			// forks stopped the guard before its exec, and ward with it.
			signals.ForkWatched(false, func() {
				pid, err = syscall.ForkExec(exe, args, &syscall.ProcAttr{
					Files: files,
					Sys:   &syscall.SysProcAttr{Setpgid: true},
				})
			})
		})
	})
	if err != nil || pid == 0 {
		w.Close()
		return nil
	}
	// Should the OOM killer have to take a second process of the cgroup,
	// it takes the guard, not ward: a ward killed there leaves its
	// child's OOM kill unreported (see signals.OOMAhead).
	if !signals.OOMAhead(pid, guardOOMMargin) {
		log.Debug("the guard's OOM score could not be raised", "pid", pid)
	}
	return &guard{pid: pid, w: w}
}

// guardNow starts the run's guard, told that the child's process group
// is pgid (0: no child yet), and gives it to the terminal's relay.
func (s *supervisor) guardNow(pgid int) {
	dir := ""
	if s.dir != nil {
		dir = s.dir.Path
	}
	s.guard = startGuard(s.rotation.StopTimeout, dir, s.dir.Lock(), s.opts.Stderr, s.log, s.opts.SignalChildOnly, pgid)
	s.ptyIn.setGuard(s.guard)
	if s.termed {
		s.guard.termed()
	}
}

// say writes one line of the guard's protocol (see GuardArg) to its
// pipe; nothing when there is no guard.
func (g *guard) say(format string, a ...any) {
	if g != nil {
		fmt.Fprintf(g.w, format+"\n", a...)
	}
}

// started tells the guard the child's process group.
func (g *guard) started(pgid int) { g.say("P %d", pgid) }

// termed tells the guard that ward forwarded SIGTERM to the child's
// group: should ward be killed now (`timeout -k`, an IDE's SIGKILL after
// its grace period), the group is not sent a second one, which many
// servers read as "stop now".
func (g *guard) termed() { g.say("T") }

// stopping tells the guard that ward stops itself with its child, pid,
// which a signal stopped (see supervisor.childStopped), and running that
// ward runs again. In between the guard continues ward should the child
// run again or end without it (kill -CONT of the child's pid alone, by
// an operator or a debugger): nothing else would, and ward stayed
// stopped, deaf to the SIGTERM of a service manager, its child's exit
// unreaped. With session set, pid leads the child's pty session under
// --mask, and stops itself with ward: the guard watches the session's
// processes that are stopped as ward stops (the program, what it
// started), not the leader.
func (g *guard) stopping(pid int, session bool) {
	if g == nil {
		return
	}
	if session {
		// The session's stopped processes, read before ward stops, not
		// by the guard as the line reaches it: a program continued
		// meanwhile (kill -CONT as soon as ward showed stopped, the guard
		// slow on a busy machine) was not among them, and the guard
		// watched the leader alone, which stays stopped, and ward with
		// it (once in a CI run).
		line := "S " + strconv.Itoa(pid) + " session"
		for _, p := range signals.StoppedInSession(pid) {
			line += " " + strconv.Itoa(p)
		}
		g.say("%s", line)
		return
	}
	g.say("S %d", pid)
}

func (g *guard) running() { g.say("R") }

// stoppedWatch is how often the guard looks at a stopped ward's child.
const stoppedWatch = 100 * time.Millisecond

// continueWard continues ward, stopped with the processes pids (its
// child, or the stopped processes of its pty session), once one of them
// runs again or all have ended, until done is closed.
func continueWard(log *slog.Logger, ward int, pids []int, done <-chan struct{}) {
	t := time.NewTicker(stoppedWatch)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		runs, ended := false, true
		for _, pid := range pids {
			r, e := signals.Runs(pid)
			runs, ended = runs || r, ended && e
		}
		if (runs || ended) && signals.IsStopped(ward) {
			log.Debug("the child runs again, or has ended, while ward is stopped with it: the guard continues ward", "pids", fmt.Sprint(pids))
			syscall.Kill(ward, syscall.SIGCONT)
			return
		}
	}
}

// GuardMain is the guard: see GuardArg.
func GuardMain(args []string) int {
	if len(args) != 4 && (len(args) != 5 || args[4] != strconv.Itoa(guardLock)) {
		fmt.Fprintln(os.Stderr, "ward: error: internal: bad guard arguments")
		return signals.ExitWardFailure
	}
	// What ward was started with beyond its stdio is the child's; the
	// run directory's lock, when given, the guard's.
	if len(args) == 5 {
		signals.CloseInherited(guardLock)
	} else {
		signals.CloseInherited()
	}
	stopTimeout, err := time.ParseDuration(args[0])
	// Its stderr is ward's: a log's reader that has stopped must not
	// stop the guard before it has stopped the group and removed the
	// files.
	q := logfmt.NewQueue(signals.PatientWriter(os.Stderr, os.Stderr))
	defer q.Flush()
	log, ok := logfmt.FromArg(q, args[2])
	pgid, err2 := strconv.Atoi(args[3])
	if err != nil || !ok || err2 != nil || pgid < 0 || pgid == 1 {
		fmt.Fprintln(os.Stderr, "ward: error: internal: bad guard arguments")
		return signals.ExitWardFailure
	}
	// The signals of ward's terminal, its service manager or an IDE's
	// stop are ward's to act on; the guard waits for ward.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGTTOU, syscall.SIGTTIN, syscall.SIGTSTP, syscall.SIGPIPE)
	// Its threads ahead, as ward's (see signals.SpareThreads): a child
	// that has taken every process the limit allows would otherwise end
	// the guard with a Go crash as it wakes to stop the group, when it
	// is needed.
	signals.SpareThreads(guardThreads)
	log.Debug("guard ready")
	termed := false
	ward := os.Getppid()
	var watching chan struct{}
	// mode is ward's terminal's, to put back (see ptyInput.tellGuard).
	var mode []string
	stopWatching := func() {
		if watching != nil {
			close(watching)
			watching = nil
		}
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "P "); ok {
			if n, err := strconv.Atoi(p); err == nil && n > 1 {
				pgid, termed = n, false
			}
		} else if p, ok := strings.CutPrefix(sc.Text(), "S "); ok {
			stopWatching()
			f := append(strings.Fields(p), "")
			if n, err := strconv.Atoi(f[0]); err == nil && n > 1 {
				pids := []int{n}
				if f[1] == "session" {
					var stopped []int
					for _, s := range f[2 : len(f)-1] {
						if v, err := strconv.Atoi(s); err == nil && v > 1 {
							stopped = append(stopped, v)
						}
					}
					if len(stopped) == 0 {
						stopped = signals.StoppedInSession(n)
					}
					if len(stopped) > 0 {
						pids = stopped
					}
				}
				watching = make(chan struct{})
				go continueWard(log, ward, pids, watching)
			}
		} else if sc.Text() == "R" {
			stopWatching()
		} else if sc.Text() == "T" {
			termed = true
		} else if p, ok := strings.CutPrefix(sc.Text(), "M"); ok {
			mode = strings.Fields(p)
			if len(mode) == 3 {
				log.Debug("ward's terminal is raw (--mask): should ward be killed, the guard puts its modes back", "terminal", mode[0])
			}
		}
	}
	stopWatching()
	// First: the shell's prompt may be on the terminal already.
	if len(mode) == 3 && signals.RestoreModeIf(mode[0], mode[1], mode[2]) {
		log.Debug("ward ended with its terminal raw: the guard put its modes back", "terminal", mode[0])
	}
	// The pipe closed: ward is gone. Having exited, it left no group.
	if pgid != 0 && signals.GroupRunning(pgid) {
		log.Warn("ward was killed; stopping what its child left running, and killing it after stop_timeout", "pgid", pgid, "stop_timeout", stopTimeout.String())
		if !termed {
			signals.SignalGroupButLeader(pgid, syscall.SIGTERM)
		}
		deadline := time.Now().Add(stopTimeout)
		for signals.GroupRunning(pgid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if signals.GroupRunning(pgid) {
			signals.SignalDescendants(pgid, syscall.SIGKILL, remote.ServeArg)
			signals.Send(pgid, syscall.SIGKILL, false)
			// Until the kill has taken (a process in the kernel's hands).
			deadline = time.Now().Add(time.Second)
			for signals.GroupRunning(pgid) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	if args[1] != "-" {
		if len(args) == 5 {
			// Its lock given up, the directory is a dead run's.
			syscall.Close(guardLock)
		}
		sayLeft(log, secretdir.RemoveDead(args[1]))
	}
	return 0
}
