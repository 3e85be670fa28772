package supervise

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/launcher/mask"
	"github.com/wardsecrets/ward/launcher/plan"
	"github.com/wardsecrets/ward/launcher/secretdir"
	"github.com/wardsecrets/ward/launcher/systemd"
	"github.com/wardsecrets/ward/resolve"
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

	// masking: the child's output goes through mask writers; out is the
	// current child's, ptyIn relays ward's terminal to its pty.
	masking bool
	out     *maskedIO
	ptyIn   ptyInput

	child    *signals.Child
	killTime <-chan time.Time
	// restarting is the proposal being applied while the old child stops;
	// stopping is set once ward itself is being stopped.
	restarting   *proposal
	restartStart time.Time
	stopping     bool
}

func (s *supervisor) start() error {
	files := []*os.File{s.opts.Stdin, s.opts.Stdout, s.opts.Stderr}
	fg, session := false, false
	ctty := 0
	if s.masking {
		patterns, skipped := mask.Compile(s.plan.Secrets)
		for _, name := range skipped {
			s.log.Warn("a value shorter than 4 bytes is not masked", "name", name)
		}
		out, err := newMaskedIO(s.opts.Stdin, s.opts.Stdout, s.opts.Stderr, patterns, &s.ptyIn)
		if err != nil {
			return err
		}
		s.out = out
		files, session, ctty = out.files, out.session, out.ctty
	}
	if !session {
		for i, f := range files {
			if f != nil && signals.OwnsTerminal(f) {
				fg, ctty = true, i
				break
			}
		}
	}
	path, argv := s.path, s.opts.Argv
	if s.listen != nil {
		// LISTEN_PID must name the child, known only after the fork: a
		// trampoline (ward itself) sets it to its own pid and execs the
		// program, keeping that pid.
		self, err := os.Executable()
		if err != nil {
			return err
		}
		path, argv = self, append([]string{self, systemd.ListenExecArg, s.path}, s.opts.Argv...)
		files = append(files, s.listen...)
	}
	c, err := signals.Start(signals.StartOptions{Path: path, Argv: argv, Env: s.plan.Env, Files: files, Foreground: fg, Session: session, Ctty: ctty})
	if s.out != nil {
		s.out.started()
	}
	if err != nil {
		return err
	}
	s.child = c
	s.log.Debug("child started", "pid", c.Pid, "program", s.opts.Argv[0], "foreground", fg, "pty", session)
	return nil
}

// finishOutput drains the current child's masked output and gives ward's
// terminal back.
func (s *supervisor) finishOutput(last bool) {
	if s.out != nil {
		s.out.finish()
		s.out = nil
	}
	if last {
		s.ptyIn.stop()
	}
}

func (s *supervisor) run(ctx context.Context, values map[string]resolve.Value) (int, error) {
	defer s.finishOutput(true)
	if err := s.start(); err != nil {
		return startFailure(err)
	}
	var r *rotator
	if s.opts.Rotate {
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		r = newRotator(s.opts, s.input, s.plan, values)
		go r.run(rctx)
	}
	var proposals <-chan *proposal
	var stops <-chan string
	if r != nil {
		proposals, stops = r.proposals, r.stops
	}
	for {
		select {
		case sig := <-s.sigs:
			if sig == syscall.SIGCHLD {
				code, exited, err := s.reaped()
				if exited {
					return code, err
				}
				continue
			}
			s.forward(sig)
		case <-s.killTime:
			s.log.Warn("the child did not stop in time; killing its process group", "stop_timeout", s.rotation.StopTimeout.String())
			signals.Send(s.child.Pid, syscall.SIGKILL, false)
			s.killTime = nil
		case p := <-proposals:
			s.apply(p)
		case reason := <-stops:
			s.log.Error("stopping the child", "reason", reason)
			s.stopping = true
			s.stopChild()
		}
	}
}

// reaped collects exited children; when the main child is among them it
// restarts it (a rotation under way) or reports ward's exit code.
func (s *supervisor) reaped() (code int, exited bool, err error) {
	ws, done := signals.Reap(s.child.Pid)
	if !done {
		return 0, false, nil
	}
	code = signals.ExitCode(ws)
	if s.restarting != nil && !s.stopping {
		if err := s.finishRestart(code); err != nil {
			c, e := startFailure(err)
			return c, true, e
		}
		return 0, false, nil
	}
	if s.restarting != nil {
		s.restarting.done <- false
	}
	s.log.Debug("child exited", "pid", s.child.Pid, "code", code)
	return code, true, nil
}

// forward passes a signal ward received on to the child.
func (s *supervisor) forward(sig os.Signal) {
	if !signals.Forwardable(sig) {
		return
	}
	if sig == syscall.SIGWINCH && s.out != nil && s.out.master != nil {
		// The child's terminal is our pty: resizing it makes the kernel
		// send SIGWINCH to the child's group itself.
		mask.InheritSize(s.opts.Stdout, s.out.master)
		return
	}
	ss := sig.(syscall.Signal)
	if err := signals.Send(s.child.Pid, ss, s.opts.SignalChildOnly); err != nil {
		s.log.Warn("cannot forward signal", "signal", signals.Name(ss), "error", err.Error())
	}
	if ss == syscall.SIGTERM || ss == s.rotation.StopSignal {
		// ward is being stopped: a restart under way ends here.
		s.stopping = true
		if s.killTime == nil {
			s.killTime = time.After(s.rotation.StopTimeout)
		}
	}
}

// apply acts on a proposal per rotation.on_change.
func (s *supervisor) apply(p *proposal) {
	names := strings.Join(p.changed, ",")
	from := strings.Join(versions(p.values, p.changed), ",")
	switch {
	case s.stopping || s.restarting != nil:
		p.done <- false
	case s.rotation.OnChange == manifest.DoNothing:
		s.log.Info("secrets changed; on_change is none, so the child keeps its old values", "changed", names, "from", from)
		p.done <- true
	case s.rotation.OnChange == manifest.SignalChild && !p.envChanged:
		start := time.Now()
		if err := s.syncFiles(p.plan.Files); err != nil {
			s.log.Error("cannot rewrite secret files; the child keeps the old ones", "error", err.Error())
			p.done <- false
			return
		}
		s.plan = p.plan
		if err := signals.Send(s.child.Pid, s.rotation.Signal, s.opts.SignalChildOnly); err != nil {
			s.log.Warn("cannot signal the child", "error", err.Error())
		}
		s.log.Info("secrets changed: files rewritten and the child signalled", "changed", names, "from", from, "signal", signals.Name(s.rotation.Signal), "took", time.Since(start).Round(time.Microsecond).String())
		p.done <- true
	default:
		if s.rotation.OnChange == manifest.SignalChild {
			s.log.Info("an environment variable changed and a running process cannot take a new environment: restarting instead of signalling", "changed", names)
		}
		s.log.Info("secrets changed: restarting the child", "changed", names, "from", from)
		s.restarting = p
		s.restartStart = time.Now()
		s.stopChild()
	}
}

// stopChild starts the stop sequence: the stop signal, then SIGKILL to the
// group after stop_timeout.
func (s *supervisor) stopChild() {
	if err := signals.Send(s.child.Pid, s.rotation.StopSignal, s.opts.SignalChildOnly); err != nil {
		s.log.Warn("cannot signal the child", "error", err.Error())
	}
	if s.killTime == nil {
		s.killTime = time.After(s.rotation.StopTimeout)
	}
}

// finishRestart starts the new child once the old one has exited.
func (s *supervisor) finishRestart(oldCode int) error {
	p := s.restarting
	s.restarting = nil
	s.killTime = nil
	s.finishOutput(false)
	if err := s.syncFiles(p.plan.Files); err != nil {
		p.done <- false
		return err
	}
	s.plan = p.plan
	if err := s.start(); err != nil {
		p.done <- false
		return err
	}
	s.log.Info("child restarted with the new secrets", "changed", strings.Join(p.changed, ","), "old_exit", oldCode, "pid", s.child.Pid, "took", time.Since(s.restartStart).Round(time.Microsecond).String())
	p.done <- true
	return nil
}

// syncFiles makes the private directory hold exactly files, each replaced
// atomically.
func (s *supervisor) syncFiles(files []secretdir.File) error {
	if s.dir == nil {
		return nil
	}
	want := map[string]bool{}
	for _, f := range files {
		want[f.Path] = true
		if err := s.dir.Replace(f); err != nil {
			return err
		}
	}
	for _, f := range s.plan.Files {
		if !want[f.Path] {
			s.dir.RemoveFile(f.Path)
		}
	}
	return nil
}
