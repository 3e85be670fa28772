package supervise

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wardsecrets/ward/launcher/logfmt"
	"github.com/wardsecrets/ward/signals"
)

// SessionArg marks the run of ward that leads the child's pseudo-terminal
// session (with --mask on a terminal): ward SessionArg CTTY STOP_TIMEOUT
// CHILD_ONLY UNCONTROLLED LOG ENVFD PATH ARGV... The child's environment
// comes on descriptor ENVFD (its variables, each ended by a NUL), not
// as the leader's own: a process is dumpable from its exec until its
// main hardens it, and a process of the user that watched for the
// leader read the values in its /proc/PID/environ (3 runs in 30), and
// could for the whole run as root.
//
// Why a process of its own: the child needs the pty as its controlling
// terminal, so it lives in a new session; if the child led that session
// itself, its process group would be orphaned (its parent, ward, is in
// another session), and the kernel discards the job-control stops
// (Ctrl-Z, SIGTTIN, SIGTTOU) of an orphaned group. So, like sudo's
// monitor, this leader starts the child in a group of its own inside the
// session, makes it the pty's foreground group, and follows it: when the
// child stops, the leader stops (with SIGSTOP, which works in any group),
// ward sees that and stops itself for the shell; when ward continues the
// leader, the leader continues the child. UNCONTROLLED says that no shell
// controls ward (PID 1, a session of its own): there a Ctrl-Z does not
// stop the child, as it would not stop the program run without ward,
// whose group would be orphaned.
const SessionArg = "__ward-session"

// sessionArgs are the leader's arguments before the child's path.
func sessionArgs(self string, ctty int, stopTimeout time.Duration, childOnly, uncontrolled bool, log *slog.Logger, envFd int) []string {
	return []string{self, SessionArg, strconv.Itoa(ctty), stopTimeout.String(), strconv.FormatBool(childOnly), strconv.FormatBool(uncontrolled), logfmt.Arg(log), strconv.Itoa(envFd)}
}

// sendEnv writes env to w, the leader's ENVFD, and closes it: from a
// goroutine, as a large environment fills the pipe before the leader
// reads it. An empty record (a variable is never empty) ends it, so that
// a ward that died while writing starts no child with half of it.
func sendEnv(w *os.File, env []string) {
	var b bytes.Buffer
	for _, kv := range env {
		b.WriteString(kv)
		b.WriteByte(0)
	}
	b.WriteByte(0)
	go func() {
		w.Write(b.Bytes())
		clear(b.Bytes())
		w.Close()
	}()
}

// readEnv reads the environment sendEnv writes on fd, and closes it.
func readEnv(fd int) ([]string, error) {
	f := os.NewFile(uintptr(fd), "environment")
	defer f.Close()
	b, err := io.ReadAll(f)
	defer clear(b)
	if err != nil {
		return nil, err
	}
	body, ok := bytes.CutSuffix(b, []byte{0})
	if !ok || len(body) > 0 && body[len(body)-1] != 0 {
		return nil, errors.New("ward ended before it had written it all")
	}
	env := []string{}
	for kv := range bytes.SplitSeq(body, []byte{0}) {
		if len(kv) > 0 {
			env = append(env, string(kv))
		}
	}
	return env, nil
}

// SessionMain is the session leader: it runs the child, forwards the
// signals ward sends it, follows its stops, stops what the child left in
// its group when it exits, and exits with the child's code.
func SessionMain(args []string) int {
	if len(args) < 8 {
		fmt.Fprintln(os.Stderr, "ward: error: internal: bad session leader arguments")
		return signals.ExitWardFailure
	}
	ctty, err1 := strconv.Atoi(args[0])
	stopTimeout, err2 := time.ParseDuration(args[1])
	childOnly, err3 := strconv.ParseBool(args[2])
	uncontrolled, err4 := strconv.ParseBool(args[3])
	log, ok := logfmt.FromArg(os.Stderr, args[4])
	envFd, err5 := strconv.Atoi(args[5])
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil || envFd < 3 || !ok {
		fmt.Fprintln(os.Stderr, "ward: error: internal: bad session leader arguments")
		return signals.ExitWardFailure
	}
	// The leader holds the child's environment: no core dump, no ptrace,
	// as for ward; the child gets the core limit ward was started with.
	signals.Harden()
	env, err := readEnv(envFd)
	if err != nil {
		logfmt.Error(log, os.Stderr, fmt.Errorf("read the program's environment from ward: %w", err))
		return signals.ExitWardFailure
	}
	args = slices.Delete(args, 5, 6)
	sigs := make(chan os.Signal, 64)
	signals.CatchAll(sigs)
	files := []*os.File{os.Stdin, os.Stdout, os.Stderr}
	if n, err := strconv.Atoi(envValue(env, "LISTEN_FDS")); err == nil && n > 0 && n <= 1000 {
		// Socket activation's fds, passed on as they came.
		for i := 0; i < n; i++ {
			files = append(files, os.NewFile(uintptr(3+i), "LISTEN_FD_"+strconv.Itoa(3+i)))
		}
	}
	var c *signals.Child
	err = signals.WhileWritten(signals.SayWritten(log, args[5]), func() (err error) {
		c, err = signals.Start(signals.StartOptions{Path: args[5], Argv: args[6:], Env: env, Files: files, Foreground: true, Ctty: ctty})
		return err
	})
	if err != nil {
		logfmt.Error(log, os.Stderr, err)
		return failureCode(err)
	}
	code, draining := 0, false
	// termed: the child's group has had SIGTERM from ward (a stop, a
	// restart's stop signal), and is not sent it again once the child
	// exits (see supervisor.anyLeft).
	termed := false
	// tstpSent: a SIGTSTP from ward (someone's kill of it) is on its way
	// to the child, whose stop the leader follows.
	tstpSent := false
	// A child killed by the pty's interrupt or quit key: the leader ends
	// by it too, for ward to pass on (see noteInterrupt).
	var endBy syscall.Signal
	end := func() int {
		if endBy != 0 {
			signals.EndBy(endBy, false)
		}
		return code
	}
	var kill, tick <-chan time.Time
	for {
		select {
		case sig := <-sigs:
			if sig != syscall.SIGCHLD {
				switch {
				case sig == syscall.SIGTTIN || sig == syscall.SIGTTOU:
					// From ward (the leader never touches the pty): a
					// kill's, for the child alone, if it catches it (see
					// supervisor.forward).
					if signals.Catches(c.Pid, sig.(syscall.Signal)) {
						signals.Send(c.Pid, sig.(syscall.Signal), true)
					}
				case signals.Forwardable(sig):
					err := signals.Send(c.Pid, sig.(syscall.Signal), childOnly)
					termed = termed || err == nil && sig == syscall.SIGTERM && !childOnly
					tstpSent = tstpSent || err == nil && sig == syscall.SIGTSTP
				}
				continue
			}
			if draining {
				continue
			}
			ws, state := signals.Reap(c.Pid)
			switch state {
			case signals.Stopped:
				forwarded := tstpSent
				tstpSent = false
				if uncontrolled && ws.StopSignal() == syscall.SIGTSTP && !forwarded {
					// The pty's Ctrl-Z, with no shell to continue the
					// job (see supervisor.childStopped).
					signals.Send(c.Pid, syscall.SIGCONT, childOnly)
					continue
				}
				signals.StopSelf(syscall.SIGSTOP)
				// Continued by ward (fg, bg).
				signals.Send(c.Pid, syscall.SIGCONT, childOnly)
			case signals.Exited:
				code = signals.ExitCode(ws)
				if ws.Signaled() {
					// Said here, with the program's pid: ward sees the
					// leader's end, and named the leader's pid.
					log.Info("child killed by a signal", "pid", c.Pid, "signal", strings.TrimPrefix(signals.Name(ws.Signal()), "SIG"), "code", code)
				}
				if ws.Signaled() && (ws.Signal() == syscall.SIGINT || ws.Signal() == syscall.SIGQUIT) {
					endBy = ws.Signal()
				}
				if childOnly || !signals.GroupAlive(c.Pid) {
					return end()
				}
				// Nothing outlives the child (see supervisor.reaped).
				draining = true
				if !termed {
					signals.Send(c.Pid, syscall.SIGTERM, false)
				}
				signals.Send(c.Pid, syscall.SIGCONT, false)
				kill, tick = time.After(stopTimeout), time.After(50*time.Millisecond)
			}
		case <-tick:
			if !signals.GroupAlive(c.Pid) {
				return end()
			}
			tick = time.After(50 * time.Millisecond)
		case <-kill:
			signals.Send(c.Pid, syscall.SIGKILL, false)
			kill = nil
		}
	}
}

// envValue is name's value in env, "" when it holds none.
func envValue(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// failureCode is the exit code for a child that could not start.
func failureCode(err error) int {
	code, _ := startFailure(err)
	return code
}
