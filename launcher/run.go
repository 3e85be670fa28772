package launcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"

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
	// Watch, when set, starts watching the resolved values for changes
	// and returns a channel that receives after each change.
	Watch func(ctx context.Context, values map[string]resolve.Value) <-chan struct{}
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
	// Keep this goroutine on one OS thread: the child's parent-death
	// signal is tied to the thread that forked it.
	runtime.LockOSThread()

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

	var dir *SecretDir
	if len(files) > 0 {
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
	plan, err := BuildPlan(m, prof, res.values, o.Environ, dirPath)
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
	if o.Exec {
		err := signals.Exec(path, o.Argv, plan.Env)
		return startFailure(err)
	}
	if err := dir.writeIfAny(plan.Files); err != nil {
		return signals.ExitWardFailure, fail(err, "")
	}

	sup := &supervisor{opts: o, log: log, sigs: sigs, path: path, plan: plan, dir: dir, rotation: m.Rotation}
	return sup.run(ctx, res.values)
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
		if errors.Is(f.Err, resolve.ErrNotSupported) {
			return "this ward cannot read " + f.Ref.Scheme + ":// references yet"
		}
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

	child    *signals.Child
	killTime <-chan time.Time
}

func (s *supervisor) start() error {
	files := []*os.File{s.opts.Stdin, s.opts.Stdout, s.opts.Stderr}
	fg := false
	ctty := 0
	for i, f := range files {
		if f != nil && signals.OwnsTerminal(f) {
			fg, ctty = true, i
			break
		}
	}
	c, err := signals.Start(signals.StartOptions{Path: s.path, Argv: s.opts.Argv, Env: s.plan.Env, Files: files, Foreground: fg, Ctty: ctty})
	if err != nil {
		return err
	}
	s.child = c
	s.log.Debug("child started", "pid", c.Pid, "program", s.opts.Argv[0], "foreground", fg)
	return nil
}

func (s *supervisor) run(ctx context.Context, values map[string]resolve.Value) (int, error) {
	if err := s.start(); err != nil {
		return startFailure(err)
	}
	var changes <-chan struct{}
	if s.opts.Watch != nil {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		changes = s.opts.Watch(wctx, values)
	}
	for {
		select {
		case sig := <-s.sigs:
			if sig == syscall.SIGCHLD {
				if ws, exited := signals.Reap(s.child.Pid); exited {
					code := signals.ExitCode(ws)
					s.log.Debug("child exited", "pid", s.child.Pid, "code", code)
					return code, nil
				}
				continue
			}
			if !signals.Forwardable(sig) {
				continue
			}
			ss := sig.(syscall.Signal)
			if err := signals.Send(s.child.Pid, ss, s.opts.SignalChildOnly); err != nil {
				s.log.Warn("cannot forward signal", "signal", signals.Name(ss), "error", err.Error())
			}
			if (ss == syscall.SIGTERM || ss == s.rotation.StopSignal) && s.killTime == nil {
				s.killTime = time.After(s.rotation.StopTimeout)
			}
		case <-s.killTime:
			s.log.Warn("the child did not stop in time; killing its process group", "stop_timeout", s.rotation.StopTimeout.String())
			signals.Send(s.child.Pid, syscall.SIGKILL, false)
			s.killTime = nil
		case <-changes:
			s.log.Debug("a watched secret changed")
		}
	}
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
