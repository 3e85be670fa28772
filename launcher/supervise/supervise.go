// Package supervise runs one `ward run`: it resolves the manifest's
// secrets, writes the secret files, starts the child (or execs it), and
// supervises it until it exits: forwarding signals, reaping, masking its
// output, rotating its secrets (restart or signal) and stopping it.
package supervise

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wardsecrets/ward/internal/syshint"
	"github.com/wardsecrets/ward/launcher/failure"
	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/launcher/plan"
	"github.com/wardsecrets/ward/launcher/secretdir"
	"github.com/wardsecrets/ward/launcher/systemd"
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/signals"
)

// Options is everything one run needs.
type Options struct {
	Manifest *manifest.Manifest
	Profile  *manifest.Profile
	Argv     []string
	// Exec replaces ward with the child after resolving.
	Exec bool
	// ExecFlag and MaskFlag say what asked for Exec and Mask, as errors
	// name them: "--exec", or "$WARD_EXEC" when the variable did (a CI
	// job's environment, where no --exec is to be seen). Empty: the flag.
	ExecFlag, MaskFlag string
	// Signals are ward's caught signals (signals.Notify), caught as early
	// as the caller could; nil: Run catches them itself.
	Signals <-chan os.Signal
	// Resolved, when set, hears of the first resolve that succeeded: what
	// it read and how long it took, for the run's summary line.
	Resolved func(values map[string]resolve.Value, took time.Duration)
	// SignalChildOnly sends forwarded signals to the child alone, not its
	// process group.
	SignalChildOnly bool
	Stdin           *os.File
	Stdout          *os.File
	Stderr          *os.File
	// Environ is ward's environment; Getenv reads it.
	Environ []string
	Getenv  func(string) string
	Log     *slog.Logger
	// FlushLog waits for Log's records to be written (logfmt.Queue),
	// before ward replaces itself with the program; nil: Log writes
	// at once.
	FlushLog func()
	Fetcher  *resolve.Fetcher
	// Registry says how each scheme's secrets change (watched, polled).
	Registry *resolve.Registry
	// Spare lists ward's own processes (the store helpers) that ward, as
	// PID 1, must not stop with the rest when the child is gone.
	Spare func() []int
	// Credentials are the variables ward's stores authenticate with.
	Credentials []string
	// Rotate watches the secrets while the child runs and restarts or
	// signals it per the manifest's rotation settings.
	Rotate bool
	// Mask rewrites the child's output, replacing secret values (and their
	// encoded forms) with <ward:NAME>; the manifest's mask: true does too,
	// unless NoMask: --mask=false (or WARD_MASK=false) given in so many
	// words, which turns the manifest's off for this run.
	Mask, NoMask bool
	// CIMask registers every value with the CI runner's log masking
	// (GitHub Actions' ::add-mask::) before the child starts.
	CIMask bool

	// identity is the manifest's identity, filled by the first resolve
	// and served from the first start on (see identity.go).
	identity *identities
	// masker masks the child's output and registers values with a CI
	// runner (nil when neither is asked).
	masker *masker
}

// Run resolves the manifest, starts the child and supervises it until it
// exits. It returns the exit code ward should exit with and, when ward
// itself failed, a *failure.Error (or a *signals.StartError).
func Run(ctx context.Context, o Options) (int, error) {
	log := o.Log
	// Signals stay caught until ward exits: signal.Stop would wait for the
	// signal goroutine to go idle, costing milliseconds on every exit, and
	// exec resets caught signals to their defaults anyway.
	sigs := o.Signals
	if sigs == nil {
		sigs = signals.Notify()
	}
	// In a CI step shell's foreground, ward stops with the shell (see
	// stepShellParent), from here on: a cancel while secrets are still
	// resolved stops that as any SIGTERM does. The setting lives on the
	// thread that makes it, and Go ends no thread but a locked one whose
	// goroutine returns.
	if !o.Exec && stepShellParent() && !signal.Ignored(syscall.SIGINT) && !signals.StopWithParent(syscall.SIGTERM) {
		// The shell died between the look and the setting.
		syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}
	// Not with --exec: the flag survives the exec, and the program would
	// inherit orphans it never reaps.
	if !o.Exec {
		if err := signals.BecomeSubreaper(); err != nil {
			log.Warn("cannot become a subreaper; orphaned grandchildren will not be reaped by ward", "error", err.Error())
		}
	}
	m, prof := o.Manifest, o.Profile
	// A developer at a terminal edits the manifest as the program runs;
	// a service or a CI job does not, and its inotify instances (128 per
	// user, shared by every container running as root) are not spent on
	// it.
	var mw *manifestWatch
	if !o.Exec && isTerminal(o.Stderr) {
		mw = newManifestWatch(m.File, log)
	}
	files := m.FilesFor(prof)
	execFlag, dropExec := o.execFlag()
	if o.Exec && len(files) > 0 {
		return fail(fmt.Errorf("%s cannot deliver secret files", execFlag), "files need ward to stay the parent: "+dropExec+", or deliver these secrets as env")
	}
	masking := o.Mask || m.Mask && !o.NoMask
	if m.Mask && o.NoMask {
		log.Warn("the program's output is not masked: "+cmp.Or(o.MaskFlag, "--mask")+"=false turns off mask: true of the manifest for this run", "manifest", m.File)
	}
	if o.Exec && masking {
		asked := "mask: true in " + m.File
		if o.Mask {
			asked = cmp.Or(o.MaskFlag, "--mask")
		}
		return fail(fmt.Errorf("%s cannot mask the program's output, which %s asks for", execFlag, asked), "masking needs ward to stay the parent: "+dropExec+" (CI runners' own masking still applies)")
	}
	o.masker = newMasker(o, masking)
	id, err := newIdentity(o)
	if err != nil {
		return fail(err, "the identity endpoint needs ward to stay the parent: "+dropExec)
	}
	o.identity = id

	// Every run, with files or not, removes the private directories of
	// runs that died (SIGKILL, OOM) before they could.
	secretdir.Sweep(o.Getenv)

	values, code, err := resolveOrStop(ctx, o, sigs)
	if err != nil {
		return code, err
	}

	start, err := prepare(o, values)
	defer start.cleanup()
	if err != nil {
		return fail(err, start.hint)
	}
	p, dir, listen := start.plan, start.dir, start.listen
	for _, name := range p.Overridden {
		log.Warn("a declared variable replaces an inherited one", "name", name)
	}

	path, err := signals.LookPath(o.Argv[0], p.Env)
	if err == nil {
		warnSecureExec(o, path)
	}
	if o.Exec {
		if err == nil {
			err = execInto(o, path, p, listen)
		}
		// The program did not start. The helpers were opened to leave it
		// the leases, revoking nothing when they close: give them back
		// (unless rotation.revoke_on_exit says to leave them).
		if o.Manifest.Rotation.RevokeOnExit {
			revokeAll(o, values)
		}
		if errors.Is(err, errStoppedAtExec) {
			return stoppedBeforeStart(signals.StoppedBy(), "before the program started, while ward's log waited for its reader")
		}
		if errors.Is(err, signals.ErrStopped) {
			return stoppedBeforeStart(signals.StoppedBy(), "before the program started, while its file was being written")
		}
		if errors.Is(err, signals.ErrStoppedAtExec) {
			return stoppedBeforeStart(signals.StoppedBy(), "before the program started")
		}
		return startFailure(err)
	}
	if err != nil {
		return startFailure(err)
	}
	if dir != nil && len(p.Files) > 0 {
		if err := dir.Write(p.Files); err != nil {
			return fail(err, dirHint(err, ""))
		}
	}

	// From here on this goroutine stays on one OS thread: the child's
	// parent-death signal is tied to the thread that forked it. (Not
	// earlier: a locked goroutine that waits hands its thread off, which
	// costs milliseconds while resolving.)
	runtime.LockOSThread()
	sup := &supervisor{opts: o, log: log, sigs: sigs, path: path, plan: p, dir: dir, rotation: m.Rotation, listen: listen, input: start.input, masking: masking, relay: start.relay, terminal: signals.HasTerminal()}
	wctx, stopWatch := context.WithCancel(ctx)
	go mw.run(wctx)
	code, runErr := sup.run(ctx, values)
	stopWatch()
	o.masker.finish()
	warnRunnerFiles(o, sup.plan.Masked())
	return code, runErr
}

// warnSecureExec warns of the variables the manifest gives the program
// that the C library will drop, the program being run in secure
// execution (set-user-ID, set-group-ID, file capabilities: a server
// given cap_net_bind_service to listen on port 443): it gets its other
// variables, and these vanish without a word.
func warnSecureExec(o Options, path string) {
	why := signals.SecureExec(path)
	if why == "" {
		return
	}
	var declared []string
	for _, v := range o.Manifest.EnvFor(o.Profile) {
		declared = append(declared, v.Name)
	}
	for _, f := range o.Manifest.FilesFor(o.Profile) {
		if f.Env != "" {
			declared = append(declared, f.Env)
		}
	}
	if dropped := signals.SecureDropped(declared); len(dropped) > 0 {
		o.Log.Warn("the program is "+why+", so its C library runs it in secure execution and drops these variables the manifest gives it: they will not reach it; give the program what they say another way (a flag, a file), or run it without the privilege", "program", o.Argv[0], "vars", strings.Join(dropped, ","))
	}
}

// errStoppedAtExec is execInto's when ward was told to stop before the
// exec (signals.StoppedBy says by what).
var errStoppedAtExec = errors.New("stopped before the exec")

// execInto replaces ward with the program (--exec); it returns only when
// that failed.
func execInto(o Options, path string, p *plan.Plan, listen []*os.File) error {
	if o.masker != nil {
		// Registers the values with the CI runner (--exec masks nothing
		// itself), hearing a stop meanwhile: the registration waits for
		// the reader of ward's stderr, and gives up on a stop.
		var err error
		if !signals.WaitUnlessStopped(func() { _, err = o.masker.setPlan(p.Masked()) }) || signals.StoppedBy() != 0 {
			return errStoppedAtExec
		}
		if err != nil {
			return err
		}
	}
	if listen != nil {
		// The fds are already 3, 4, ...; the pid stays ours.
		p.Env = append(p.Env, "LISTEN_PID="+strconv.Itoa(os.Getpid()))
	}
	// Said before: once the program is ward, ward cannot say it after.
	if word := signals.CarriageReturn(path); word != "" {
		o.Log.Warn(crlfMessage, "program", o.Argv[0], "word", word)
	}
	// A stop taken by WaitUnlessStopped (its watch reads ward's signals
	// from its first call on) while the program's file is being written.
	stopped := func() bool { return signals.StoppedBy() != 0 }
	return whileWritten(o.Log, o.Argv[0], stopped, func() error {
		// A reader of ward's stderr that stopped reading (docker's
		// blocking log driver as the container starts) held the exec,
		// and ward heard no stop meanwhile: the program started after a
		// `docker stop` once the reader read again.
		if o.FlushLog != nil && !signals.WaitUnlessStopped(o.FlushLog) {
			return errStoppedAtExec
		}
		return signals.Exec(path, o.Argv, p.Env)
	})
}

// revokeAll gives back every lease of values, within the rotation's stop
// timeout.
func revokeAll(o Options, values map[string]resolve.Value) {
	ctx, cancel := context.WithTimeout(context.Background(), o.Manifest.Rotation.StopTimeout)
	defer cancel()
	done := map[string]bool{}
	for _, v := range values {
		if v.Lease == nil || v.Lease.ID == "" || done[v.Lease.ID] {
			continue
		}
		done[v.Lease.ID] = true
		revokeLease(ctx, o.Fetcher, o.Log, v, "lease of the program that did not start")
	}
}

// firstStart is what the first start of the child needs besides the
// program: its plan, the private directory and the systemd hand-over.
type firstStart struct {
	plan    *plan.Plan
	input   plan.Input
	dir     *secretdir.Dir
	listen  []*os.File
	hint    string
	cleanup func()
	// relay is the sd_notify relay, nil when systemd is not notified.
	relay *systemd.Relay
}

// removeDir removes the run's private directory, and says so when it
// cannot: the secret files left on the tmpfs (a later run's sweep
// removes them, once it can).
func removeDir(log *slog.Logger, d *secretdir.Dir) {
	sayLeft(log, d.Remove())
}

// sayLeft logs err, a *secretdir.LeftError, naming the files left.
func sayLeft(log *slog.Logger, err error) {
	var le *secretdir.LeftError
	if !errors.As(err, &le) {
		return
	}
	left := strings.Join(le.Left, ",")
	if left == "" {
		left = "no file (the lock, or empty directories)"
	}
	log.Error("the run's private directory could not be removed: what is left in it stays on the tmpfs until a later `ward run` sweeps it, or you remove it (chmod -R u+w DIR; rm -rf DIR)", "dir", le.Dir, "left", left, "error", le.Err.Error())
}

// prepare makes the private directory (for files, the systemd notify
// relay's socket, or the identity endpoint's token), starts the relay and
// the endpoint, and builds the first plan. cleanup
// undoes it all; it is set whatever the error.
func prepare(o Options, values map[string]resolve.Value) (*firstStart, error) {
	st := &firstStart{cleanup: func() {}}
	notifySocket := o.Getenv("NOTIFY_SOCKET")
	listen, err := systemd.ListenFDs(o.Getenv)
	if err != nil {
		o.Log.Warn(err.Error())
	}
	st.listen = listen
	files := o.Manifest.FilesFor(o.Profile)
	if !o.Exec && (len(files) > 0 || notifySocket != "" || o.identity != nil) {
		d, err := secretdir.New(o.Getenv)
		if err != nil {
			st.hint = dirHint(err, "set $WARD_RUNTIME_DIR to a directory on tmpfs that only you (or root) can write, or a sticky one (mode 1777, as /dev/shm is; in a Kubernetes pod, a volume `emptyDir: {medium: Memory}`)")
			return st, err
		}
		st.dir = d
		st.cleanup = func() { removeDir(o.Log, d) }
	}
	dirPath := ""
	if st.dir != nil {
		dirPath = st.dir.Path
	}
	// The relay's socket and the endpoint's token are made in the
	// private directory: a full tmpfs, an EIO, said as for its files.
	extra, relay, closeRelay, err := systemdEnv(o, notifySocket, dirPath, st.listen)
	if err != nil {
		st.hint = dirHint(err, "")
		return st, err
	}
	st.relay = relay
	removeDir := st.cleanup
	st.cleanup = func() { closeRelay(); removeDir() }
	ident, err := serveIdentity(o, st.dir)
	if err != nil {
		st.hint = dirHint(err, "")
		return st, err
	}
	st.cleanup = func() { ident.stop(); closeRelay(); removeDir() }
	st.input = plan.Input{Environ: o.Environ, Dir: dirPath, Credentials: o.Credentials, Drop: slices.Concat(systemd.Vars, ident.drop), Extra: slices.Concat(extra, ident.env), NoProxy: ident.noProxy()}
	if st.plan, err = plan.Build(o.Manifest, o.Profile, values, st.input); err != nil {
		return st, err
	}
	ident.check(st.plan.Env)
	if err := plan.CheckDeliverable(st.plan.Env, o.Argv); err != nil {
		st.hint = plan.UndeliverableHint
		return st, err
	}
	return st, nil
}

// resolveOrStop resolves the manifest's references, but lets a stop
// signal cut it short with 128+N.
func resolveOrStop(ctx context.Context, o Options, sigs <-chan os.Signal) (map[string]resolve.Value, int, error) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type resolved struct {
		values map[string]resolve.Value
		err    error
	}
	done := make(chan resolved, 1)
	start := time.Now()
	terminal := signals.HasTerminal()
	// A stop that came while ward read its manifest ends the run before
	// any store is asked; other signals meant nothing without a child.
	for pending := true; pending; {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGTSTP && os.Getpid() != 1 {
				// Ctrl-Z as ward started (a run's first milliseconds):
				// as while a store is slow. It was dropped with the
				// signals that mean nothing without a child, and the
				// job ran on, the shell's prompt gone.
				signals.StopSelf(syscall.SIGTSTP)
				continue
			}
			if s, ok := stopSignal(sig, terminal, o.Log, "while resolving secrets"); ok {
				code, err := stoppedBeforeStart(s, "while resolving secrets")
				return nil, code, err
			}
		default:
			pending = false
		}
	}
	go func() {
		v, err := fetchWithIdentity(rctx, o)
		done <- resolved{v, err}
	}()
	for {
		select {
		case res := <-done:
			if res.err != nil {
				_, err := fail(res.err, ResolveHint(res.err))
				return nil, signals.ExitWardFailure, err
			}
			if o.Resolved != nil {
				o.Resolved(res.values, time.Since(start))
			}
			return res.values, 0, nil
		case sig := <-sigs:
			if sig == syscall.SIGTSTP && os.Getpid() != 1 {
				// Ctrl-Z while a store is slow: no child to follow yet,
				// ward stops itself as the job (and goes on resolving
				// when continued).
				signals.StopSelf(syscall.SIGTSTP)
				continue
			}
			if s, ok := stopSignal(sig, terminal, o.Log, "while resolving secrets"); ok {
				cancel()
				// A store blocked where no context reaches (a FIFO's
				// open, a read of a hung mount) may never return: wait
				// for it at most stop_timeout, then leave it behind.
				select {
				case <-done:
				case <-time.After(o.Manifest.Rotation.StopTimeout):
				}
				code, err := stoppedBeforeStart(s, "while resolving secrets")
				return nil, code, err
			}
		}
	}
}

// stopSignal reports whether sig stops ward before the child starts. A
// SIGHUP is a stop only with a terminal, whose hangup it may be; without
// one it is a reload (`sv hup`, `systemctl reload`, logrotate's `kill
// -HUP`), and the child, not started yet, reads its configuration anyway:
// ending the run with 129 took a service down (see supervisor.reload).
// while says when the reload came, for its log line.
func stopSignal(sig os.Signal, terminal bool, log *slog.Logger, while string) (syscall.Signal, bool) {
	s, ok := sig.(syscall.Signal)
	if ok && s == syscall.SIGHUP && !terminal {
		log.Info("reload (SIGHUP) " + while + ": the program starts with its configuration read anew")
		return s, false
	}
	return s, ok && signals.AsksToStop(s, terminal)
}

// stoppedBeforeStart is ward's end when s stops it before the child
// started, while it did what while says: 128+N, and its reason.
func stoppedBeforeStart(s syscall.Signal, while string) (int, error) {
	// Taken here, the signal reaches no later wait for a reader (ward's
	// log and the report of the stop on their way to its stderr): they
	// give up as they would have on hearing it. A reader that stopped
	// reading held ward deaf until the SIGKILL after `docker stop`, 137.
	signals.GiveUp(s)
	code := signals.ExitSignalBase + int(s)
	f := &failure.Error{Code: code, Err: fmt.Errorf("stopped by %s %s", signals.Name(s), while)}
	if s == syscall.SIGINT || s == syscall.SIGQUIT {
		// As for a child killed by it (see noteInterrupt): the shell that
		// waits for ward stops too.
		f.Signal = s
	}
	return code, f
}

// systemdEnv starts the notify relay when systemd gave ward a socket, and
// returns what the child's environment needs for it and for socket
// activation.
func systemdEnv(o Options, notifySocket, dir string, listen []*os.File) (extra []string, r *systemd.Relay, closeRelay func(), err error) {
	closeRelay = func() {}
	// The watchdog is the service's main process's: ward's when
	// WATCHDOG_PID names it or is not set (as sd_watchdog_enabled reads
	// them), and then the child's through ward. One that names another
	// process (a script that runs ward without exec) is neither's: the
	// child was given WATCHDOG_USEC alone, and took itself for watched.
	watchdog := o.Getenv("WATCHDOG_PID") == "" || o.Getenv("WATCHDOG_PID") == strconv.Itoa(os.Getpid())
	if !o.Exec {
		relay, err := systemd.NewRelay(notifySocket, dir, o.Log)
		if err != nil {
			return nil, nil, closeRelay, err
		}
		if relay != nil {
			relay.Watchdog = systemd.WatchdogInterval(o.Getenv)
			go relay.Run()
			closeRelay = relay.Close
			extra = append(extra, "NOTIFY_SOCKET="+relay.Path)
		}
		r = relay
	} else if notifySocket != "" {
		// ward is replaced by the child, which becomes the main process.
		extra = append(extra, "NOTIFY_SOCKET="+notifySocket)
		if pid := o.Getenv("WATCHDOG_PID"); pid != "" && watchdog {
			// Still its pid after the exec.
			extra = append(extra, "WATCHDOG_PID="+pid)
		}
	}
	if usec := o.Getenv("WATCHDOG_USEC"); usec != "" && watchdog {
		// For the child, whatever the manifest inherits: ward relays its
		// WATCHDOG=1 (WATCHDOG_PID, which names ward, is not passed).
		extra = append(extra, "WATCHDOG_USEC="+usec)
	}
	if listen != nil {
		extra = append(extra, "LISTEN_FDS="+strconv.Itoa(len(listen)))
		if names := o.Getenv("LISTEN_FDNAMES"); names != "" {
			extra = append(extra, "LISTEN_FDNAMES="+names)
		}
	}
	return extra, r, closeRelay, nil
}

// toFile reports whether f is redirected to a file (or /dev/null), which
// the runner does not read.
func toFile(f *os.File) bool {
	st, err := f.Stat()
	if err != nil {
		return true
	}
	return st.Mode().IsRegular() || isDevNull(st)
}

// isDevNull reports whether st is /dev/null's device, whatever the name
// it was opened by: ward's stderr under 2>/dev/null is named /dev/stderr.
func isDevNull(st os.FileInfo) bool {
	if st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	if err != nil {
		return false
	}
	a, aok := st.Sys().(*syscall.Stat_t)
	b, bok := null.Sys().(*syscall.Stat_t)
	return aok && bok && a.Rdev == b.Rdev
}

// execFlag names what asked for --exec, and how to take it back.
func (o Options) execFlag() (flag, drop string) {
	if v, ok := strings.CutPrefix(o.ExecFlag, "$"); ok {
		return o.ExecFlag, "unset " + v
	}
	return "--exec", "drop --exec"
}

func fail(err error, hint string) (int, error) {
	return signals.ExitWardFailure, failure.New(err, hint)
}

// startFailure maps a failure to start the program to its exit code (127
// not found, 126 not executable).
func startFailure(err error) (int, error) {
	var se *signals.StartError
	if errors.As(err, &se) {
		hint := ""
		switch {
		case errors.Is(err, syscall.E2BIG):
			hint = plan.UndeliverableHint
		case se.Err == signals.ErrNotInPath: // a builtin's, a command line's, say what to do
			hint = "check the program's name, or give its path (./tool, /usr/local/bin/tool); it was looked for in the child's $PATH, which the manifest may set"
		}
		return se.Code, &failure.Error{Code: se.Code, Err: err, Hint: hint}
	}
	var de *signals.DirError
	if errors.As(err, &de) {
		// Only a restarted child is given a directory (the first has
		// ward's own, which ward then leaves for /).
		return fail(fmt.Errorf("the child cannot be restarted: %w", err), "a restarted child starts where the first one did, by that directory's path: start ward in a directory that stays where it is (a service's WorkingDirectory=), or let the program choose its own (sh -c 'cd DIR && exec PROGRAM')")
	}
	return fail(err, "")
}

// dirHint is the advice for a private directory or file that could not
// be made: for a full tmpfs, where more space is to be had; for no file
// descriptor left, which limit to raise; for a device or file system that
// failed (EIO), that; else other (where to put the directory instead),
// when the error is ward's own (a place that is not tmpfs, or that others
// may write), a place read-only, or a refusal or a missing directory on
// the way (EACCES, EPERM, ENOENT, ENOTDIR). Any other errno (EINTR,
// EBUSY...) gets no guess: an EIO of a failing mount read as a place
// this user may not write.
func dirHint(err error, other string) string {
	switch syshint.Errno(err) {
	case syscall.ENOSPC:
		return "the tmpfs is full: free space there, give it more (a container's /dev/shm is 64 MiB unless docker run --shm-size says otherwise), or set $WARD_RUNTIME_DIR to a larger tmpfs (in a Kubernetes pod, whose /dev/shm size cannot be set, an emptyDir with medium: Memory and a sizeLimit)"
	case syscall.EROFS:
		if other != "" {
			return "it is on a file system mounted read-only: " + other
		}
	case syscall.ENAMETOOLONG:
		return "the path is longer than the system takes (4095 bytes, 255 a name): set $WARD_RUNTIME_DIR to a directory with a shorter one"
	case 0, syscall.EACCES, syscall.EPERM, syscall.ENOENT, syscall.ENOTDIR:
		if other != "" {
			return other
		}
	}
	return syshint.For(err)
}

// ResolveHint is the advice for a resolve that failed, when the failures
// themselves carry none: nothing starts until every secret resolves.
func ResolveHint(err error) string {
	var fe *resolve.FetchError
	if !errors.As(err, &fe) {
		return ""
	}
	return "the child was not started: every secret must resolve first"
}
