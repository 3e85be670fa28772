package launcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wardsecrets/ward/launcher/mask"
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/signals"
)

// RunOptions is everything one `ward run` needs.
type RunOptions struct {
	Manifest *Manifest
	Profile  *Profile
	Argv     []string
	// Exec replaces ward with the child after resolving.
	Exec bool
	// SignalChildOnly sends forwarded signals to the child alone, not its
	// process group.
	SignalChildOnly bool
	Stdin           *os.File
	Stdout          *os.File
	Stderr          *os.File
	Environ         []string
	Getenv          func(string) string
	Log             *slog.Logger
	Fetcher         *resolve.Fetcher
	// Rotate watches the secrets while the child runs and restarts or
	// signals it per the manifest's rotation settings.
	Rotate bool
	// Mask rewrites the child's output, replacing secret values (and their
	// encoded forms) with <ward:NAME>; the manifest's mask: true does too.
	Mask bool
	// CIMask registers every value with the CI runner's log masking
	// (GitHub Actions' ::add-mask::) before the child starts.
	CIMask bool
}

// FailError is a failure of ward itself; Code is the exit code (125, or
// 126/127 for a program that cannot be started) and Hint advice for the
// user.
type FailError struct {
	Code int
	Err  error
	Hint string
}

func (e *FailError) Error() string { return e.Err.Error() }

func (e *FailError) Unwrap() error { return e.Err }

func fail(err error, hint string) *FailError {
	return &FailError{Code: signals.ExitWardFailure, Err: err, Hint: hint}
}

// Run resolves the manifest, starts the child and supervises it until it
// exits. It returns the exit code ward should exit with, and an error
// (a *FailError) when ward itself failed.
func Run(ctx context.Context, o RunOptions) (int, error) {
	log := o.Log

	// Signals stay caught until ward exits: signal.Stop would wait for the
	// signal goroutine to go idle, costing milliseconds on every exit, and
	// exec resets caught signals to their defaults anyway.
	sigs := signals.Notify()
	if err := signals.BecomeSubreaper(); err != nil {
		log.Warn("cannot become a subreaper; orphaned grandchildren will not be reaped by ward", "error", err.Error())
	}

	m, prof := o.Manifest, o.Profile
	files := m.FilesFor(prof)
	if o.Exec && len(files) > 0 {
		return signals.ExitWardFailure, fail(errors.New("--exec cannot deliver secret files"), "files need ward to stay the parent: drop --exec, or deliver these secrets as env")
	}
	masking := o.Mask || m.Mask
	if o.Exec && masking {
		return signals.ExitWardFailure, fail(errors.New("--exec cannot mask the program's output"), "masking needs ward to stay the parent: drop --exec (CI runners' own masking still applies)")
	}

	// Resolve, but let a stop signal cut it short.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type resolved struct {
		values map[string]resolve.Value
		err    error
	}
	done := make(chan resolved, 1)
	go func() {
		v, err := Resolve(rctx, o.Fetcher, m, prof)
		done <- resolved{v, err}
	}()
	var res resolved
wait:
	for {
		select {
		case res = <-done:
			break wait
		case sig := <-sigs:
			if s, ok := sig.(syscall.Signal); ok && (s == syscall.SIGTERM || s == syscall.SIGINT || s == syscall.SIGQUIT || s == syscall.SIGHUP) {
				cancel()
				<-done
				return signals.ExitSignalBase + int(s), fail(fmt.Errorf("stopped by %s while resolving secrets", signals.Name(s)), "")
			}
		}
	}
	if res.err != nil {
		return signals.ExitWardFailure, fail(res.err, resolveHint(res.err))
	}

	notifySocket := o.Getenv("NOTIFY_SOCKET")
	listen := listenFDs(o.Getenv)
	var dir *SecretDir
	if !o.Exec && (len(files) > 0 || notifySocket != "") {
		d, err := NewSecretDir(o.Getenv)
		if err != nil {
			return signals.ExitWardFailure, fail(err, "set $WARD_RUNTIME_DIR to a directory on tmpfs")
		}
		dir = d
		defer dir.Remove()
	}
	dirPath := ""
	if dir != nil {
		dirPath = dir.Path
	}
	var extra []string
	if !o.Exec {
		relay, err := newNotifyRelay(notifySocket, dirPath, log)
		if err != nil {
			return signals.ExitWardFailure, fail(err, "")
		}
		if relay != nil {
			defer relay.close()
			go relay.run()
			extra = append(extra, "NOTIFY_SOCKET="+relay.Path)
		}
	} else if notifySocket != "" {
		// ward is replaced by the child, which becomes the main process.
		extra = append(extra, "NOTIFY_SOCKET="+notifySocket)
	}
	if listen != nil {
		extra = append(extra, "LISTEN_FDS="+strconv.Itoa(len(listen)))
		if names := o.Getenv("LISTEN_FDNAMES"); names != "" {
			extra = append(extra, "LISTEN_FDNAMES="+names)
		}
	}
	plan, err := BuildPlan(m, prof, res.values, o.Environ, dirPath, extra...)
	if err != nil {
		return signals.ExitWardFailure, fail(err, "")
	}
	for _, name := range plan.Overridden {
		log.Warn("a declared variable replaces an inherited one", "name", name)
	}

	path, err := signals.LookPath(o.Argv[0], plan.Env)
	if err != nil {
		return startFailure(err)
	}
	if o.CIMask && o.Getenv("GITHUB_ACTIONS") == "true" {
		// Before the child writes anything, so the runner hides every
		// value from the first line on.
		skipped, err := mask.WriteAddMask(o.Stdout, maskSecrets(plan))
		if err != nil {
			return signals.ExitWardFailure, fail(fmt.Errorf("register values with the CI runner's masking: %w", err), "")
		}
		for _, name := range skipped {
			log.Warn("a value shorter than 4 bytes is not registered with the CI runner's masking", "name", name)
		}
	}
	if o.Exec {
		if listen != nil {
			// The fds are already 3, 4, ...; the pid stays ours.
			plan.Env = append(plan.Env, "LISTEN_PID="+strconv.Itoa(os.Getpid()))
		}
		err := signals.Exec(path, o.Argv, plan.Env)
		return startFailure(err)
	}
	if err := dir.writeIfAny(plan.Files); err != nil {
		return signals.ExitWardFailure, fail(err, "")
	}

	// From here on this goroutine stays on one OS thread: the child's
	// parent-death signal is tied to the thread that forked it. (Not
	// earlier: a locked goroutine that waits hands its thread off, which
	// costs milliseconds while resolving.)
	runtime.LockOSThread()
	sup := &supervisor{opts: o, log: log, sigs: sigs, path: path, plan: plan, dir: dir, rotation: m.Rotation, listen: listen, extraEnv: extra, masking: masking}
	return sup.run(ctx, dirPath, res.values)
}

func (d *SecretDir) writeIfAny(files []PlannedFile) error {
	if d == nil || len(files) == 0 {
		return nil
	}
	return d.Write(files)
}

func startFailure(err error) (int, error) {
	var se *signals.StartError
	if errors.As(err, &se) {
		return se.Code, &FailError{Code: se.Code, Err: err}
	}
	return signals.ExitWardFailure, fail(err, "")
}

func resolveHint(err error) string {
	var fe *resolve.FetchError
	if !errors.As(err, &fe) {
		return ""
	}
	for _, f := range fe.Failures {
		if f.Ref.Scheme == "local" && resolve.IsNotFound(f.Err) {
			return "add it with: ward local set " + f.Ref.Path
		}
	}
	return "the child was not started: every secret must resolve first"
}

// supervisor runs the child and owns everything about it: signals,
// reaping, stopping, restarting.
type supervisor struct {
	opts     RunOptions
	log      *slog.Logger
	sigs     <-chan os.Signal
	path     string
	plan     *Plan
	dir      *SecretDir
	rotation Rotation

	// listen are the socket-activation fds passed on as 3, 4, ...
	listen   []*os.File
	extraEnv []string

	// masking: the child's output goes through mask writers; out is the
	// current child's, input relays ward's terminal to its pty.
	masking bool
	out     *maskedIO
	input   ptyInput

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
		patterns, skipped := mask.Compile(maskSecrets(s.plan))
		for _, name := range skipped {
			s.log.Warn("a value shorter than 4 bytes is not masked", "name", name)
		}
		out, err := newMaskedIO(s.opts.Stdin, s.opts.Stdout, s.opts.Stderr, patterns, &s.input)
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
		path, argv = self, append([]string{self, listenExecArg, s.path}, s.opts.Argv...)
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
		s.input.stop()
	}
}

// maskSecrets lists the plan's secret values for the mask writers.
func maskSecrets(p *Plan) []mask.Secret {
	out := make([]mask.Secret, len(p.Secrets))
	for i, sec := range p.Secrets {
		out[i] = mask.Secret{Name: sec.Name, Value: sec.Value}
	}
	return out
}

func (s *supervisor) run(ctx context.Context, dirPath string, values map[string]resolve.Value) (int, error) {
	defer s.finishOutput(true)
	if err := s.start(); err != nil {
		return startFailure(err)
	}
	var proposals <-chan *proposal
	if s.opts.Rotate && s.rotation.OnChange != "" {
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		r := newRotator(s.opts, dirPath, s.extraEnv, s.plan, values)
		proposals = r.proposals
		go r.run(rctx)
	}
	for {
		select {
		case sig := <-s.sigs:
			if sig == syscall.SIGCHLD {
				ws, exited := signals.Reap(s.child.Pid)
				if !exited {
					continue
				}
				code := signals.ExitCode(ws)
				if s.restarting != nil && !s.stopping {
					if err := s.finishRestart(code); err != nil {
						return startFailure(err)
					}
					continue
				}
				if s.restarting != nil {
					s.restarting.done <- false
				}
				s.log.Debug("child exited", "pid", s.child.Pid, "code", code)
				return code, nil
			}
			if !signals.Forwardable(sig) {
				continue
			}
			if sig == syscall.SIGWINCH && s.out != nil && s.out.master != nil {
				// The child's terminal is our pty: resizing it makes the
				// kernel send SIGWINCH to the child's group itself.
				mask.InheritSize(s.opts.Stdout, s.out.master)
				continue
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
		case <-s.killTime:
			s.log.Warn("the child did not stop in time; killing its process group", "stop_timeout", s.rotation.StopTimeout.String())
			signals.Send(s.child.Pid, syscall.SIGKILL, false)
			s.killTime = nil
		case p := <-proposals:
			if p == nil {
				// A lease expired with its store down and on_expired: stop.
				s.log.Error("stopping the child: its credentials expired", "on_expired", "stop")
				s.stopping = true
				s.stopChild()
				continue
			}
			s.apply(p)
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
	case s.rotation.OnChange == "none":
		s.log.Info("secrets changed; on_change is none, so the child keeps its old values", "changed", names, "from", from)
		p.done <- true
	case s.rotation.OnChange == "signal" && !p.envChanged:
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
		if s.rotation.OnChange == "signal" {
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
func (s *supervisor) syncFiles(files []PlannedFile) error {
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

// envNames returns the names of KEY=VALUE entries, for tests and logs.
func envNames(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if i := strings.IndexByte(kv, '='); i > 0 {
			out = append(out, kv[:i])
		}
	}
	return out
}
