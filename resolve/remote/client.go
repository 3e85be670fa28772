package remote

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wardsecrets/ward/internal/syshint"
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/signals"
)

// Config says which helper to run and how to open its store.
type Config struct {
	// Program is the helper's name (ward-vault); see Find.
	Program string
	// Store is the stores.<name> key the helper serves.
	Store string
	// Options are the store's settings, sent as JSON.
	Options resolve.Options
	// Environ is the helper's environment: ward's own, since the store
	// reads its address and credentials from it.
	Environ     []string
	Concurrency int
	// RevokeOnExit asks the helper to revoke its leases when it closes.
	RevokeOnExit bool
	// Log receives the helper's log records and its stderr.
	Log *slog.Logger
	// Level is the lowest level of record the helper sends.
	Level slog.Level
	// CloseTimeout bounds how long Close waits for the helper to give its
	// leases back and exit; 0 means 30s.
	CloseTimeout time.Duration
	// AnswerTimeout is how long a helper may answer nothing while
	// requests wait, before it is taken for hung and killed; 0 means
	// DefaultAnswerTimeout.
	AnswerTimeout time.Duration
	// Version is ward's own version, named when the helper found is of
	// another ward.
	Version string
}

// ErrHelperDied is the cause of a request that a helper could not answer
// because it exited; the next request starts it again.
var ErrHelperDied = errors.New("the store's helper program exited")

// DefaultAnswerTimeout is how long a helper may answer nothing, not even
// a ping, while requests wait for it.
const DefaultAnswerTimeout = 30 * time.Second

// died is the answer to every request a helper can no longer answer.
var died = &wireError{Msg: ErrHelperDied.Error()}

// Client is a store served by a helper program. It starts the helper on
// the first request, and again after it died: a helper that dies is an
// outage of its store, not of ward.
type Client struct {
	cfg Config

	mu   sync.Mutex
	conn *conn
	// spawned is a helper Spawn started whose store is not open yet.
	spawned *conn
	// opening is the helper whose store is being opened, nil otherwise.
	opening *opening
	open    *openResult
	closed  bool
	// path is where Find found the helper, kept for restarts: ward moves
	// to / once the child runs, and a relative $PATH entry would then
	// name another place.
	path string
	// dir is the working directory the helper first started in, kept for
	// the same reason: its environment may name files relative to it
	// (VAULT_CONFIG_PATH=./vault.hcl, VAULT_CACERT=ca.pem).
	dir string
	// environ is the helper's environment: cfg.Environ without what
	// would make it log secrets (see withoutFrameLogs).
	environ []string
	// orphans are leases whose helper died while it renewed them and
	// that no helper holds yet: Close revokes them (with RevokeOnExit).
	orphans map[string]*resolve.Lease
	// held are the leases a helper was asked to keep and not to revoke
	// since: what its close gives back. A helper that answers nothing at
	// ward's exit is killed, and they are given back through a new one.
	held map[string]*resolve.Lease
	// leased is set once a helper answered a secret with a lease: its
	// close may have leases to give back.
	leased atomic.Bool
	// deaths counts the open helpers that died in a row, each within
	// reviveReset of its open (see revive).
	deaths int
	// closing is set once Close has begun: a helper it kills is not
	// started again by revive (which said "ended while ward ran" of it).
	closing bool
}

// closeWithoutLeases bounds Close's wait for a helper that was given no
// lease: it has nothing to give back but, for a login method, its own
// token. A helper stopped as ward was told to stop kept a stop waiting
// CloseTimeout (30 s) for leases it did not hold.
const closeWithoutLeases = 5 * time.Second

var (
	_ resolve.BatchStore  = (*Client)(nil)
	_ resolve.LeaseKeeper = (*Client)(nil)
	_ resolve.Versioner   = (*Client)(nil)
	_ resolve.Closer      = (*Client)(nil)
)

// New returns a client; nothing starts until Start or the first request.
func New(cfg Config) *Client {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.CloseTimeout == 0 {
		cfg.CloseTimeout = 30 * time.Second
	}
	if cfg.AnswerTimeout == 0 {
		cfg.AnswerTimeout = DefaultAnswerTimeout
	}
	return &Client{cfg: cfg}
}

// Spawn starts the helper's process, unless it runs already, and returns
// without waiting for it: Start or the first request opens its store. It
// lets the helper start up while ward goes on with its own start.
func (c *Client) Spawn() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.spawned != nil || c.opening != nil || c.conn != nil && !c.conn.isDead() {
		return nil
	}
	// Not waiting for a helper being written: the first request's start
	// does, once.
	cn, err := c.start(false)
	if err != nil {
		return err
	}
	c.spawned = cn
	return nil
}

// Start starts the helper and opens its store, unless it runs already.
func (c *Client) Start(ctx context.Context) error {
	_, err := c.live(ctx)
	return err
}

// live returns the running helper with its store open, starting it if
// there is none.
func (c *Client) live(ctx context.Context) (*conn, error) {
	cn, op, err := c.begin()
	if err != nil || op == nil {
		return cn, err
	}
	return cn, c.opened(ctx, op)
}

// opening is a helper whose open request is sent and not answered yet.
type opening struct {
	cn   *conn
	done chan struct{}
	err  error // set before done closes
}

// begin returns the running helper and, while its open request is not
// answered yet, that opening: a request may be written right behind the
// open one, saving a round trip on the first request of a run, but its
// answer counts only once the open one says the store is open (see
// opened). It starts the helper and sends the open request when neither
// runs.
func (c *Client) begin() (*conn, *opening, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, nil, fmt.Errorf("%s: the store is closed", c.cfg.Program)
	}
	if c.conn != nil && !c.conn.isDead() {
		return c.conn, nil, nil
	}
	if c.opening != nil {
		return c.opening.cn, c.opening, nil
	}
	cn := c.spawned
	c.spawned = nil
	if cn == nil || cn.isDead() {
		var err error
		if cn, err = c.start(true); err != nil {
			return nil, nil, err
		}
	}
	op := &opening{cn: cn, done: make(chan struct{})}
	_, ch := cn.send(&request{Op: opOpen, Open: c.openRequest()})
	c.opening = op
	go c.awaitOpen(op, ch)
	return cn, op, nil
}

// awaitOpen takes the helper's answer to the open request: the helper
// becomes the client's, or is killed.
func (c *Client) awaitOpen(op *opening, ch <-chan response) {
	r := <-ch
	var err error
	var o openResult
	switch {
	case r.Error == died:
		err = op.cn.diedErr()
	case r.Error != nil:
		err = r.Error.err()
	default:
		if err = json.Unmarshal(r.Result, &o); err == nil && o.Protocol != Protocol {
			err = &VersionError{Program: c.cfg.Program, Path: c.path, Protocol: o.Protocol, Version: o.Ward, WardVersion: c.cfg.Version}
		}
	}
	c.mu.Lock()
	c.opening = nil
	if ve, ok := err.(*VersionError); ok && c.open != nil {
		// A helper of this protocol served this ward before: the file
		// was replaced since, by another ward's.
		ve.Replaced = true
	}
	switch {
	case err != nil:
		op.err = fmt.Errorf("open the %s store: %w", c.cfg.Store, err)
		op.cn.kill()
	case c.closed:
		// Close took the helper over while it opened, and closes it.
	default:
		c.open, c.conn = &o, op.cn
		go c.revive(op.cn, time.Now())
	}
	c.mu.Unlock()
	close(op.done)
}

// reviveReset is how long an open helper must have run for its death not
// to count as one more of a row; reviveMax bounds the wait before the
// next start of a row.
const (
	reviveReset = time.Minute
	reviveMax   = time.Minute
)

// revive starts a new helper once cn, the open one since opened, has died
// (killed, crashed, or killed by watch as hung), without waiting for the
// next request, and asks its store to resume: what a helper keeps alive
// between requests died with it.
// A VAULT_TOKEN it renewed expired for good before the next poll
// (rotation.poll, 5 minutes by default) started another, whenever the
// token's TTL was shorter, and nothing was logged. The first start of a
// row is at once, then after 1 s, 2 s, ... up to reviveMax. Not after
// Close, nor when a request has started a new one first.
func (c *Client) revive(cn *conn, opened time.Time) {
	<-cn.dead
	c.mu.Lock()
	if c.closed || c.closing || c.conn != cn || c.opening != nil {
		c.mu.Unlock()
		return
	}
	if time.Since(opened) >= reviveReset {
		c.deaths = 0
	}
	wait := time.Duration(0)
	if c.deaths > 0 {
		wait = min(time.Second<<min(c.deaths-1, 6), reviveMax)
	}
	c.deaths++
	c.mu.Unlock()
	c.cfg.Log.Warn("the store's helper ended while ward ran; a new one is started, so that what it keeps alive (its token's renewal, its leases) goes on", "store", c.cfg.Store, "error", cn.diedErr().Error(), "in", wait.String())
	time.Sleep(wait)
	ctx, cancel := context.WithTimeout(context.Background(), resumeTimeout)
	defer cancel()
	err := c.call(ctx, &request{Op: opResume}, nil)
	if err != nil && !c.isClosed() && !strings.Contains(err.Error(), "unknown request") {
		c.cfg.Log.Warn("the store's helper, started again, is not ready; the next request tries again", "store", c.cfg.Store, "error", err.Error())
	}
}

// resumeTimeout bounds revive's wait for the new helper to be ready.
const resumeTimeout = 2 * time.Minute

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// opened waits for the answer to op's open request. A caller giving up
// kills the helper, as a helper stuck in its open would otherwise hold
// up ward's exit by Close's whole timeout.
func (c *Client) opened(ctx context.Context, op *opening) error {
	select {
	case <-op.done:
		return op.err
	case <-ctx.Done():
		op.cn.kill()
		return ctx.Err()
	}
}

func (c *Client) openRequest() *openRequest {
	opts, _ := json.Marshal(c.cfg.Options)
	return &openRequest{
		Protocol: Protocol, Store: c.cfg.Store, Options: opts,
		Concurrency: c.cfg.Concurrency, RevokeOnExit: c.cfg.RevokeOnExit, LogLevel: c.cfg.Level.String(),
		Environ: c.environ,
	}
}

// start execs the helper with pipes on its stdin, stdout and stderr;
// waitWritten waits for a helper file open for writing.
func (c *Client) start(waitWritten bool) (*conn, error) {
	if c.path == "" {
		path, err := findOf(c.cfg.Program, c.cfg.Version)
		if err != nil {
			return nil, err
		}
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		c.path = path
		c.dir, _ = os.Getwd()
		var dropped string
		c.environ, dropped = withoutFrameLogs(c.cfg.Environ)
		if dropped != "" {
			c.cfg.Log.Info("GODEBUG's "+dropped+" is not passed to the store's helper: Go's HTTP/2 client would log the store's tokens and secret values to stderr", "store", c.cfg.Store)
		}
	} else if _, err := os.Lstat(c.path); errors.Is(err, fs.ErrNotExist) {
		// Removed since the helper that died was started from it: an
		// upgrade into another directory (Homebrew's cleanup of the
		// old version, a package that moved), or an uninstall. The
		// helper is looked for again, as at ward's start.
		p, err := findOf(c.cfg.Program, c.cfg.Version)
		if err != nil {
			return nil, fmt.Errorf("%s was removed since ward started it (an upgrade or an uninstall of ward?), and %w", c.path, err)
		}
		c.cfg.Log.Warn("the store's helper was removed since ward started it (an upgrade?): starting the one found now", "store", c.cfg.Store, "removed", c.path, "program", p)
		c.path = p
	}
	path := c.path
	// The helper's stdin and stdout, which carry the credentials and the
	// values, are socket pairs, not pipes: the helper is dumpable from
	// its exec until its main hardens it, and meanwhile any process of
	// the same user may open its /proc/PID/fd/0 or 1, which gives a pipe
	// again (a reader of the open request, environment and credentials
	// included, and of every answer, for as long as the helper runs), a
	// socket never. Its stderr, logs, stays a pipe.
	inR, inW, err := channel(1)
	if err != nil {
		return nil, err
	}
	outR, outW, err := channel(0)
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		for _, f := range []*os.File{inR, inW, outR, outW} {
			f.Close()
		}
		return nil, err
	}
	attr := &os.ProcAttr{
		// The Go runtime's settings alone: the rest, credentials among
		// it, follows in the open request (see runtimeSettings).
		Env:   RuntimeSettings(c.environ),
		Dir:   c.dir,
		Files: []*os.File{inR, outW, errW},
		// Its own process group: a Ctrl-C or a job-control stop on ward's
		// terminal is for ward and the child, not for the helper, which
		// ends when ward closes its stdin.
		Sys: &syscall.SysProcAttr{Setpgid: true},
	}
	// An upgrade writing the helper in place (`go install` and
	// `install` remove it and write a new file, `cp` writes over it) as
	// ward starts it: the kernel runs no file open for writing (ETXTBSY),
	// and the start is a moment early, not a missing helper.
	var p *os.Process
	exec := func() (err error) {
		// Watched: a Ctrl-Z as ward starts, while its group has the
		// terminal, stopped the helper before its exec, and ward, which
		// waits for that exec, for good.
		signals.ForkWatched(false, func() {
			p, err = os.StartProcess(path, []string{c.cfg.Program, ServeArg}, attr)
		})
		return err
	}
	if waitWritten {
		err = signals.WhileWritten(func(msg string) {
			c.cfg.Log.Warn(msg, "store", c.cfg.Store, "program", path, "wait", signals.WrittenWait.String())
		}, exec)
	} else {
		err = exec()
	}
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		if short := signals.Exhausted(err); short != nil {
			return nil, fmt.Errorf("start %s: %w", path, short)
		}
		if errors.Is(err, syscall.ETXTBSY) {
			return nil, fmt.Errorf("start %s: it is still open for writing after %s (an install of ward's helpers under way?), and the kernel runs no file while it is: let the install finish, or write the new helper beside it and rename it into place (mv, install): %w", path, signals.WrittenWait, err)
		}
		return nil, startError(path, err)
	}
	cn := &conn{proc: p, path: path, program: c.cfg.Program, in: inW, out: outR, pending: map[uint64]chan response{}, dead: make(chan struct{}), stderrDone: make(chan struct{}), log: c.cfg.Log.With("store", c.cfg.Store), store: c.cfg.Store, answerTimeout: c.cfg.AnswerTimeout, leaseBound: c.leaseBound, rearm: make(chan struct{}, 1)}
	go cn.readResponses(outR)
	go cn.readStderr(errR)
	go cn.watch()
	return cn, nil
}

// ForeignHelperError is a program ward found under a helper's name that
// does not speak ward's store protocol: its first line was none of it.
type ForeignHelperError struct {
	Path, Program string
}

func (e *ForeignHelperError) Error() string {
	return fmt.Sprintf("%s is not ward's store helper: its first line was not ward's store protocol, and it was stopped", e.Path)
}

// Unwrap makes it a helper that died, for the retries and the report.
func (e *ForeignHelperError) Unwrap() error { return ErrHelperDied }

// Hint says to install ward's own.
func (e *ForeignHelperError) Hint() string {
	return fmt.Sprintf("install ward's own %s beside ward, where it is looked for first (%s), or remove this one", e.Program, InstallCommand("VERSION"))
}

// StartError is a helper ward found that the kernel would not run: one
// built for another machine, or with cgo against a C library this
// system lacks, or on a file system mounted noexec. "fork/exec PATH:
// exec format error" said none of that.
type StartError struct {
	Path string
	// Err says why, as for the child's program (signals.ExplainExec).
	Err error
}

// startError explains err, of the start of the helper at path.
func startError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		// "fork/exec PATH: " said the path a second time.
		err = pe.Err
	}
	return &StartError{Path: path, Err: signals.ExplainExec(path, err)}
}

func (e *StartError) Error() string { return fmt.Sprintf("start %s: %v", e.Path, e.Err) }

// Unwrap returns why.
func (e *StartError) Unwrap() error { return e.Err }

// Hint says what to install for a helper that cannot run on this machine
// (ENOEXEC, or ENOENT of its loader); a noexec mount's error says what
// to do itself.
func (e *StartError) Hint() string {
	switch syshint.Errno(e.Err) {
	case syscall.ENOEXEC, syscall.ENOENT:
		if !isELF(e.Path) {
			// A script (its error names its #! line), or a helper
			// removed since it was found.
			return ""
		}
		return fmt.Sprintf("ward's helpers are static Go programs for one machine: install the ones of this ward for this one (%s/%s) beside it: %s, or copy every ward-* program from ward's image or release for %s/%s", runtime.GOOS, runtime.GOARCH, InstallCommand("VERSION"), runtime.GOOS, runtime.GOARCH)
	}
	return syshint.For(e.Err)
}

// isELF reports whether the file at path is an ELF program.
func isELF(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, 4)
	_, err = io.ReadFull(f, magic)
	return err == nil && string(magic) == "\x7fELF"
}

// channel returns the two ends of a connected socket pair, for one way
// between ward and its helper: r to read from, w to write to, ward's
// end the one of index wards. Both are close-on-exec; os.StartProcess
// gives the helper its end.
func channel(wards int) (r, w *os.File, err error) {
	// As os.Pipe does where it has no pipe2: no fork between the
	// socketpair and the close-on-exec flags.
	syscall.ForkLock.RLock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	// ward's end (fds[wards]) non-blocking, so that the runtime's poller
	// serves it, as it does a pipe of os.Pipe; the helper's blocking, as
	// a program's stdin and stdout are: handed over non-blocking (the
	// runtime left one so), a helper of the user's own in a language
	// other than Go (a shell wrapper's tr, Python's stdin loop) failed
	// with EAGAIN, and ended.
	if err := syscall.SetNonblock(fds[wards], true); err != nil {
		syscall.Close(fds[0])
		syscall.Close(fds[1])
		return nil, nil, os.NewSyscallError("setnonblock", err)
	}
	return os.NewFile(uintptr(fds[0]), "|0"), os.NewFile(uintptr(fds[1]), "|1"), nil
}

// withoutFrameLogs returns environ without GODEBUG's http2debug
// setting, and the setting it removed. Go's HTTP/2 client (net/http's and
// golang.org/x/net/http2's, which the Vault, Azure and Google clients use
// over TLS) reads it before main and, at 1, logs every header it sends:
// Vault's X-Vault-Token, an Authorization bearer; at 2, the first 256
// bytes of every frame it reads too: a secret's value. The helper's
// stderr is ward's log. The rest of GODEBUG passes. Go looks for the
// setting as a substring, and so does this.
func withoutFrameLogs(environ []string) ([]string, string) {
	var dropped string
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		v, ok := strings.CutPrefix(kv, "GODEBUG=")
		if !ok || !strings.Contains(v, "http2debug") {
			out = append(out, kv)
			continue
		}
		var keep []string
		for _, s := range strings.Split(v, ",") {
			if strings.Contains(s, "http2debug") {
				dropped = s
				continue
			}
			keep = append(keep, s)
		}
		if len(keep) > 0 {
			out = append(out, "GODEBUG="+strings.Join(keep, ","))
		}
	}
	return out, dropped
}

// RuntimeSettings returns the variables of environ that the Go runtime
// reads as a program starts, before main: the helper's environment at
// exec. A program is dumpable from its exec until it marks itself
// otherwise, in main, and meanwhile (the runtime's and the SDKs'
// initialisers: 18 to 27 ms under strace) any process of the same user
// reads its /proc/PID/environ; a process that watched for ward-vault
// read VAULT_TOKEN there at 22 of 30 starts. The rest of the environment
// (the store's credentials) crosses the pipe in the open request, and
// the helper sets it before it opens the store: /proc/PID/environ is
// what the process was started with, and never holds it.
func RuntimeSettings(environ []string) []string {
	// Not nil, which os.StartProcess reads as ward's whole environment.
	out := []string{}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if slices.Contains(goRuntimeVars, name) {
			out = append(out, kv)
		}
	}
	return out
}

// goRuntimeVars are the variables read before main: the Go runtime's
// (and net/http's GODEBUG), and the dynamic loader's, for a helper built
// with cgo (ward's own builds are static and ignore them).
var goRuntimeVars = []string{"GODEBUG", "GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GOTRACEBACK", "LD_LIBRARY_PATH", "LD_PRELOAD"}

// InstallCommand is the command that installs ward and its helpers at
// version, as README "Installing" gives it: without cgo, which ward does not
// use (with it, Go links the C library for the resolver and every start
// pays the dynamic loader).
func InstallCommand(version string) string {
	return "CGO_ENABLED=0 go install -tags urfave_cli_no_docs github.com/wardsecrets/ward/...@" + version
}

// ServeArg is the argument ward starts a helper with.
const ServeArg = "--ward-store-protocol=1"

// findOf is Find for ward of version: a helper not found is told to be
// installed at that version.
func findOf(program, version string) (string, error) {
	path, err := Find(program)
	var missing *MissingError
	if errors.As(err, &missing) {
		missing.WardVersion = version
	}
	return path, err
}

// Find locates a helper program: next to ward's own executable first (so
// one `go install` or one `COPY` of a directory serves), then in the
// absolute directories of $PATH. An empty or relative entry (`PATH=:/usr/bin`,
// `.`) is passed over: a helper is given the store's credentials, and
// the directory ward runs in (a cloned repository) could hold anyone's
// program of that name. exec.LookPath refuses such a find too (ErrDot),
// but stops there, and the helper installed further along $PATH was
// reported as not installed.
func Find(program string) (string, error) {
	var beside string
	var besideErr error
	if self, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(self); err == nil {
			self = real
		}
		p := filepath.Join(filepath.Dir(self), program)
		st, err := os.Stat(p)
		if err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
		if err == nil {
			beside = p
		} else if unexamined(err) {
			besideErr = err
		}
	}
	missing := &MissingError{Program: program, Unusable: beside, Unexamined: besideErr}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, program)
		if !filepath.IsAbs(dir) {
			if _, err := exec.LookPath("./" + p); err == nil && !missing.Found {
				missing.Found, missing.Relative = true, dir
			}
			continue
		}
		_, err := exec.LookPath(p)
		if err == nil {
			return p, nil
		}
		if missing.Unexamined == nil && unexamined(err) {
			missing.Unexamined = err
		}
		if st, serr := os.Stat(p); missing.Refused == "" && errors.Is(err, fs.ErrPermission) && serr == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			// Executable by its mode, and refused all the same (a
			// file system mounted noexec): named, not "not installed".
			missing.Refused, missing.RefusedErr = p, signals.ExplainExec(p, syscall.EACCES)
		}
	}
	return "", missing
}

// unexamined reports whether err, of a look at a helper's file, says
// neither that there is none nor that it is not executable: the file may
// be there (EIO of a failing disk or mount), and was said to be "not
// installed", with the advice to install it.
func unexamined(err error) bool {
	switch syshint.Errno(err) {
	case 0, syscall.ENOENT, syscall.ENOTDIR, syscall.EISDIR, syscall.EACCES, syscall.EPERM:
		return false
	}
	return true
}

// MissingError is a helper program that is not installed, or not usable
// where it is.
type MissingError struct {
	Program string
	// Unusable is a file of that name next to ward that is not an
	// executable file (a copy that lost its mode, a directory).
	Unusable string
	// Found is set when $PATH's relative entry Relative ("" for an empty
	// one: the working directory) holds one, which ward does not run.
	Found    bool
	Relative string
	// Unexamined is the error of the look at a file of that name, next to
	// ward or on $PATH, that may be there but could not be looked at.
	Unexamined error
	// Refused is the first file of that name on $PATH whose mode lets it
	// run and that the kernel would not run all the same, for the reason
	// RefusedErr gives (a file system mounted noexec).
	Refused    string
	RefusedErr error
	// WardVersion is this ward's version, for the install command (set
	// by the client; VERSION there without it).
	WardVersion string
}

// StoreWide says the error is the store's, not a reference's: every
// scheme of the helper fails with it, and a report names it once.
func (e *MissingError) StoreWide() string { return e.Program }

func (e *MissingError) Error() string {
	if e.Found {
		where := fmt.Sprintf("the relative entry %q", e.Relative)
		switch e.Relative {
		case "":
			where = "an empty entry (the working directory)"
		case ".":
			where = `the entry "." (the working directory)`
		}
		return fmt.Sprintf("%s is not installed: it is not next to ward's executable or in an absolute directory of $PATH; %s, found through %s of $PATH, is not run: a store helper gets the store's credentials, and a directory relative to where ward runs (a cloned repository) may hold anyone's program", e.Program, "./"+filepath.Join(e.Relative, e.Program), where)
	}
	if e.Unusable != "" {
		return fmt.Sprintf("%s is not an executable file, and there is no %s on $PATH", e.Unusable, e.Program)
	}
	if e.Unexamined != nil {
		return fmt.Sprintf("%s cannot be looked at: %v; and no other %s is next to ward's executable or on $PATH", e.Program, e.Unexamined, e.Program)
	}
	if e.Refused != "" {
		return fmt.Sprintf("%s cannot be run: %v; and no other %s is next to ward's executable or on $PATH", e.Refused, e.RefusedErr, e.Program)
	}
	return fmt.Sprintf("%s is not installed: it is not next to ward's executable or on $PATH", e.Program)
}

// Hint says how to install the helper.
func (e *MissingError) Hint() string {
	if e.Unusable != "" {
		return fmt.Sprintf("chmod +x %s if it is ward's helper copied without its mode; else install ward's store helpers beside ward: %s", e.Unusable, InstallCommand(versionOrPlaceholder(e.WardVersion)))
	}
	if e.Found {
		return "install ward's store helpers beside ward: " + InstallCommand(versionOrPlaceholder(e.WardVersion)) + "; or, if that one is ward's own, name its directory in $PATH by its absolute path"
	}
	if e.Unexamined != nil {
		// It is installed: what to install would mend nothing.
		if hint := syshint.For(e.Unexamined); hint != "" {
			return hint
		}
		return "it may be installed: mend what the error names, then run ward again"
	}
	if e.Refused != "" {
		return "put ward's store helpers where the kernel runs programs, beside ward: " + InstallCommand(versionOrPlaceholder(e.WardVersion)) + " (or copy every ward-* program from ward's image or release next to ward)"
	}
	return "install ward's store helpers beside ward: " + InstallCommand(versionOrPlaceholder(e.WardVersion)) + " (or copy every ward-* program from ward's image or release next to ward)"
}

// VersionError is a helper of another ward: one that speaks another
// protocol, found first on $PATH or left beside ward by an older install.
type VersionError struct {
	Program, Path string
	// Protocol and Version are the helper's; Version is "" when the
	// helper does not say (wards before it said, builds without a module
	// version).
	Protocol int
	Version  string
	// WardVersion is this ward's version.
	WardVersion string
	// Replaced is set when a helper of this ward's protocol served it
	// from that file before: an upgrade (or a downgrade) of ward's
	// files under a ward that has run since.
	Replaced bool
}

func (e *VersionError) Error() string {
	helper := "of an unknown version"
	if e.Version != "" {
		helper = "of ward " + e.Version
	}
	msg := fmt.Sprintf("%s is the helper %s (store protocol %d), and this ward is %s (store protocol %d): they cannot work together", e.Path, helper, e.Protocol, orDev(e.WardVersion), Protocol)
	if e.Replaced {
		// Said in the error, not the hint: a rotation's warning carries
		// the error alone.
		msg += "; it was replaced since this ward started (an upgrade of ward?): restart ward to run the ward it came with, or put back the helper of ward " + orDev(e.WardVersion)
	}
	return msg
}

// Hint says which helper to install, and where: ward looks beside itself
// first, then on $PATH.
func (e *VersionError) Hint() string {
	if e.Replaced {
		return fmt.Sprintf("restart ward, so that the ward installed with %s runs; or put this ward's helper back: %s", e.Path, InstallCommand(versionOrPlaceholder(e.WardVersion)))
	}
	return installTheirs(e.WardVersion, e.Path)
}

// installTheirs is the hint for a file where ward's helper should be
// that is another ward's, or no helper at all.
func installTheirs(wardVersion, path string) string {
	return fmt.Sprintf("install the helpers of this ward beside it: %s (or copy every ward-* program from ward's image or release next to ward), or remove %s", InstallCommand(versionOrPlaceholder(wardVersion)), path)
}

// versionOrPlaceholder is ward's version for an install command, VERSION
// for a build without one.
func versionOrPlaceholder(v string) string {
	if v == "" || v == "dev" {
		return "VERSION"
	}
	return v
}

func orDev(v string) string {
	if v == "" {
		return "dev"
	}
	return v
}

// Pid is the running helper's process id, 0 when none runs.
func (c *Client) Pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	cns := []*conn{c.conn, c.spawned}
	if c.opening != nil {
		cns = append(cns, c.opening.cn)
	}
	for _, cn := range cns {
		if cn != nil && !cn.isDead() {
			return cn.proc.Pid
		}
	}
	return 0
}

// Fetch reads one document.
func (c *Client) Fetch(ctx context.Context, ref resolve.Ref) (resolve.Secret, error) {
	s, errs := c.FetchBatch(ctx, []resolve.Ref{ref})
	return s[0], errs[0]
}

// FetchBatch reads documents in one request; the helper batches or fans
// them out.
func (c *Client) FetchBatch(ctx context.Context, refs []resolve.Ref) ([]resolve.Secret, []error) {
	wire := make([]wireRef, len(refs))
	for i, r := range refs {
		wire[i] = toWireRef(r)
	}
	var res fetchResult
	if err := c.call(ctx, &request{Op: opFetch, Refs: wire}, &res); err != nil {
		return resolve.BatchFailed(len(refs), err)
	}
	if len(res.Secrets) != len(refs) || len(res.Errors) != len(refs) {
		return resolve.BatchFailed(len(refs), fmt.Errorf("%s answered %d results for %d references", c.cfg.Program, len(res.Secrets), len(refs)))
	}
	secrets := make([]resolve.Secret, len(refs))
	errs := make([]error, len(refs))
	for i := range refs {
		if res.Errors[i] != nil {
			errs[i] = res.Errors[i].err()
			continue
		}
		if res.Secrets[i] == nil {
			errs[i] = fmt.Errorf("%s answered no secret for %s", c.cfg.Program, refs[i].Raw)
			continue
		}
		secrets[i] = res.Secrets[i].secret()
		if secrets[i].Lease != nil {
			c.leased.Store(true)
		}
	}
	return secrets, errs
}

// Version asks which version ref names now.
func (c *Client) Version(ctx context.Context, ref resolve.Ref) (string, error) {
	var res versionResult
	err := c.call(ctx, &request{Op: opVersion, Refs: []wireRef{toWireRef(ref)}}, &res)
	return res.Version, err
}

// HasVersions reports whether the helper's store answers Version cheaply;
// false until the helper has started.
func (c *Client) HasVersions() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open != nil && c.open.Versions
}

// KeepLease asks the helper to renew lease until it can no longer be
// renewed. A helper that dies is an outage, not the lease's end: a new
// helper takes the lease over (its store says "read again" at once when
// it cannot, say because the token that created the lease died with the
// old helper). After keepDeaths helpers in a row died keeping it, or when
// no new helper starts, the secret is read again (with the backoff of a
// failed read); when the lease ends is then not known.
func (c *Client) KeepLease(ctx context.Context, lease *resolve.Lease) (time.Time, error) {
	c.leased.Store(true)
	for deaths := 0; ; deaths++ {
		// A renewal given up (a restart dropped the lease) must not kill a
		// helper whose open other requests wait for.
		cn, op, err := c.begin()
		if err == nil && op != nil {
			select {
			case <-op.done:
				err = op.err
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return time.Time{}, ctx.Err()
			}
			c.orphan(lease, false)
			return time.Time{}, nil
		}
		id, ch := cn.send(&request{Op: opKeepLease, Lease: toWireLease(lease)})
		// The helper takes the lease in before it reads what follows.
		c.orphan(lease, false)
		c.hold(lease, true)
		// Its watch waits less from now on, if the lease is short.
		select {
		case cn.rearm <- struct{}{}:
		default:
		}
		select {
		case r := <-ch:
			if r.Error == died {
				c.orphan(lease, true)
				if deaths+1 < keepDeaths && ctx.Err() == nil {
					c.cfg.Log.Info("the store's helper died while it renewed a lease; a new one takes the lease over", "store", c.cfg.Store)
					continue
				}
				// Read again: the old lease is revoked as any replaced one.
				c.orphan(lease, false)
				return time.Time{}, nil
			}
			if r.Error != nil {
				return time.Time{}, r.Error.err()
			}
			var res leaseResult
			// An answer without an end (or one that does not parse)
			// leaves it unknown.
			json.Unmarshal(r.Result, &res)
			return res.Ends, nil
		case <-ctx.Done():
			cn.forget(id)
			cn.write(&request{Op: opCancel, Target: id})
			return time.Time{}, ctx.Err()
		}
	}
}

// orphan records that no helper holds lease (orphaned), or that one does
// or that it is taken care of otherwise.
func (c *Client) orphan(lease *resolve.Lease, orphaned bool) { c.mark(&c.orphans, lease, orphaned) }

// hold records that a helper holds lease (held), or holds it no more.
func (c *Client) hold(lease *resolve.Lease, held bool) { c.mark(&c.held, lease, held) }

// mark puts lease in the set *leases (in), or takes it out.
func (c *Client) mark(leases *map[string]*resolve.Lease, lease *resolve.Lease, in bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !in {
		delete(*leases, lease.ID)
		return
	}
	if *leases == nil {
		*leases = map[string]*resolve.Lease{}
	}
	(*leases)[lease.ID] = lease
}

// keepDeaths is how many helpers in a row may die keeping one lease
// before the secret is read again instead.
const keepDeaths = 3

// Revoke ends a lease now.
func (c *Client) Revoke(ctx context.Context, lease *resolve.Lease) error {
	err := c.call(ctx, &request{Op: opRevoke, Lease: toWireLease(lease)}, nil)
	if err == nil {
		c.orphan(lease, false)
		c.hold(lease, false)
	}
	return err
}

// leaseBound is how long a helper keeping leases may answer nothing, by
// the shortest of them: a third of its TTL, at least minAnswerTimeout (0
// when it keeps none). A helper stopped with a lease of 10 s was killed
// after the whole answer timeout, 30 s: the lease had ended 20 s before,
// unrenewed and unreported, and the child ran on with dead credentials.
// Killed within a third of it, a new helper takes the lease over and
// renews it before its end.
func (c *Client) leaseBound() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var shortest time.Duration
	for _, l := range c.held {
		if l.TTL > 0 && (shortest == 0 || l.TTL < shortest) {
			shortest = l.TTL
		}
	}
	if shortest == 0 {
		return 0
	}
	return max(shortest/3, minAnswerTimeout)
}

// minAnswerTimeout is the least a helper may answer nothing for, however
// short its leases: it answers pings at once, but a machine can be busy.
const minAnswerTimeout = 3 * time.Second

// closePing is how long Close waits for a helper holding leases to
// answer a ping, which it answers at once whatever its store does,
// before it takes the helper for stopped or stuck.
const closePing = 5 * time.Second

// takeBackFromSilent kills a helper holding leases that answers nothing,
// not even a ping (stopped, deadlocked), and makes its leases orphans, so
// that Close gives them back through a new helper. Close waited its whole
// timeout (30 s, past docker stop's 10) for the silent helper's answer,
// then killed it with the leases, which stayed valid until their TTL.
func (c *Client) takeBackFromSilent() {
	if !c.cfg.RevokeOnExit {
		return
	}
	c.mu.Lock()
	cn := c.conn
	held := make([]*resolve.Lease, 0, len(c.held))
	for _, l := range c.held {
		held = append(held, l)
	}
	c.mu.Unlock()
	if cn == nil || cn.isDead() || len(held) == 0 {
		return
	}
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	answered := make(chan struct{})
	go func() {
		// Sent apart: a write to a stopped helper whose stdin pipe is
		// full blocks until the kill.
		_, ch := cn.send(&request{Op: opPing})
		if r := <-ch; r.Error != died {
			close(answered)
		}
	}()
	select {
	case <-answered:
		return
	case <-cn.dead:
	case <-time.After(closePing):
		cn.hungAfter.Store(int64(closePing))
		cn.hung.Store(true)
		c.cfg.Log.Warn("the store's helper answers nothing, not even a ping, at ward's exit; killing it, and giving back the leases it held through a new one", "store", c.cfg.Store, "pid", cn.proc.Pid, "waited", closePing.String())
		cn.kill()
		select {
		case <-cn.dead:
		case <-time.After(closePing):
		}
	}
	for _, l := range held {
		c.orphan(l, true)
	}
}

// Close asks the helper to give back what it holds and exit, and waits
// for its answer within CloseTimeout (for its exit too, when it fails to
// answer).
func (c *Client) Close() error {
	c.takeBackFromSilent()
	c.mu.Lock()
	orphans := make([]*resolve.Lease, 0, len(c.orphans))
	for _, l := range c.orphans {
		orphans = append(orphans, l)
	}
	c.mu.Unlock()
	if c.cfg.RevokeOnExit && len(orphans) > 0 {
		// Leases of a helper that died, no other holds: revoked through
		// the helper that runs (or a new one) before it closes.
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.CloseTimeout)
		for _, l := range orphans {
			if err := c.Revoke(ctx, l); err != nil {
				c.cfg.Log.Warn("cannot revoke a lease of a store helper that died", "store", c.cfg.Store, "error", err.Error())
			}
		}
		cancel()
	}
	c.mu.Lock()
	cn, spawned := c.conn, c.spawned
	if c.opening != nil {
		// The helper answers its open request first, then the close.
		cn = c.opening.cn
	}
	c.closed, c.conn, c.spawned = true, nil, nil
	c.mu.Unlock()
	if spawned != nil {
		// Never opened: the end of its stdin is all it waits for.
		spawned.in.Close()
		select {
		case <-spawned.dead:
		case <-time.After(c.cfg.CloseTimeout):
			spawned.kill()
		}
		spawned.wait()
	}
	if cn == nil || cn.isDead() {
		return nil
	}
	wait := c.cfg.CloseTimeout
	if !c.leased.Load() && len(orphans) == 0 {
		wait = min(wait, closeWithoutLeases)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := cn.call(ctx, &request{Op: opClose})
	cn.in.Close()
	if err == nil {
		// The answer comes after the helper gave back what it held and
		// after every record it logged (both on its stdout): nothing is
		// left to wait for but its exit, which ward, exiting itself,
		// need not watch (about 0.2 ms).
		return nil
	}
	select {
	case <-cn.dead:
	case <-ctx.Done():
		cn.kill()
	}
	cn.wait()
	if errors.Is(err, context.DeadlineExceeded) && wait < c.cfg.CloseTimeout {
		return fmt.Errorf("close the %s store: its helper, which held no lease, had not finished within %s and was stopped: %w", c.cfg.Store, wait, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// Killed with what it was doing: most often giving leases back
		// to a store that takes requests and answers none. "context
		// deadline exceeded" said nothing of them.
		return fmt.Errorf("close the %s store: its helper had not finished within %s (giving back the leases it held, which needs the store to answer) and was stopped: a lease not given back stays valid until its TTL ends: %w", c.cfg.Store, c.cfg.CloseTimeout, err)
	}
	if err != nil && !errors.Is(err, ErrHelperDied) {
		return fmt.Errorf("close the %s store: %w", c.cfg.Store, err)
	}
	return nil
}

// call sends a request to the live helper and decodes its result into
// out (nil: ignore it).
func (c *Client) call(ctx context.Context, req *request, out any) error {
	cn, op, err := c.begin()
	if err != nil {
		return err
	}
	id, ch := cn.send(req)
	if op != nil {
		if err := c.opened(ctx, op); err != nil {
			cn.forget(id)
			return err
		}
	}
	res, err := cn.await(ctx, id, ch)
	if err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(res, out); err != nil {
			return fmt.Errorf("%s answered %s with something ward cannot read", c.cfg.Program, req.Op)
		}
	}
	return nil
}

// conn is one running helper.
type conn struct {
	proc *os.Process
	// path is the helper's program, program its name (ward-vault).
	path, program string
	// log is ward's, with the store's name; store is that name.
	log   *slog.Logger
	store string

	wmu sync.Mutex
	in  *os.File
	out *os.File // read by readResponses

	mu      sync.Mutex
	next    uint64
	pending map[uint64]chan response
	dead    chan struct{}
	waited  sync.Once
	// stderrDone closes when readStderr has logged the helper's stderr
	// to its end.
	stderrDone chan struct{}

	answerTimeout time.Duration
	// leaseBound is the shortest wait the leases the helper keeps allow
	// (see Client.leaseBound); 0 for none.
	leaseBound func() time.Duration
	// rearm tells watch that a lease was taken in: its wait may be
	// shorter now.
	rearm chan struct{}
	// hung: watch killed the helper for answering nothing; foreign:
	// readResponses killed it for a first line that is not ward's
	// protocol.
	hung atomic.Bool
	// hungAfter is how long the hung helper had answered nothing when
	// it was killed (the watch's timeout, or Close's ping wait).
	hungAfter atomic.Int64
	foreign   atomic.Bool
	// spoke is set at the helper's first line of the protocol.
	spoke atomic.Bool
	// exit is how the helper ended ("exit status 2", "signal: aborted"),
	// set by wait; "" when not known (reaped by ward's reaper first).
	exit string
}

// watch kills the helper when it stops answering. It is pinged every
// third of the answer timeout, also while no request waits for it (what it
// keeps alive between requests, a token it renews, stopped with it); a
// ping unanswered for the whole timeout means a helper stopped (SIGSTOP)
// or stuck, since the helper answers pings at once and bounds each of its
// store's requests itself. Killing it fails what waits as for a helper
// that died (a lease renewal goes on with a new helper), and a new one
// is started (see Client.revive).
//
// The wait is counted in ticks, not read from the clock: ward and its
// helper frozen together for longer than the timeout (`docker pause`, a
// freezer cgroup, kill -STOP of both) found, at ward's first tick after
// the thaw, a ping sent before the freeze unanswered and 30 s gone, and
// killed a helper that answers as soon as it runs: a warning, and a new
// helper took its leases over (those read with a token the helper had
// logged in for were read again, and the child restarted). A ticker
// delivers one tick for all it missed while ward was stopped.
func (cn *conn) watch() {
	const ticks = 3
	timeout := cn.timeout()
	tick := time.NewTicker(timeout / ticks)
	defer tick.Stop()
	var ping chan response
	unanswered := 0
	for {
		select {
		case <-cn.dead:
			return
		case <-cn.rearm:
			if t := cn.timeout(); t != timeout {
				timeout = t
				tick.Reset(t / ticks)
			}
			continue
		case <-tick.C:
		}
		if t := cn.timeout(); t != timeout {
			// A lease kept, or given up, since.
			timeout = t
			tick.Reset(t / ticks)
		}
		if ping != nil {
			select {
			case <-ping:
				ping = nil
			default:
				if unanswered++; unanswered < ticks {
					continue
				}
				cn.hungAfter.Store(int64(timeout))
				cn.hung.Store(true)
				cn.log.Warn("the store's helper answered nothing, not even a ping; killing it (a new one serves the next request)", "pid", cn.proc.Pid, "waited", timeout.String())
				cn.kill()
				return
			}
		}
		// Sent apart: a write to a stopped helper whose stdin pipe is
		// full blocks until the kill.
		unanswered, ping = 0, make(chan response, 1)
		go func(answer chan<- response) {
			_, ch := cn.send(&request{Op: opPing})
			answer <- <-ch
		}(ping)
	}
}

// timeout is how long the helper may answer nothing now: the answer
// timeout, or less while it keeps a short lease.
func (cn *conn) timeout() time.Duration {
	if cn.leaseBound != nil {
		if b := cn.leaseBound(); b > 0 && b < cn.answerTimeout {
			return b
		}
	}
	return cn.answerTimeout
}

// diedErr is the error of a request the helper can no longer answer.
func (cn *conn) diedErr() error {
	if cn.foreign.Load() {
		return &ForeignHelperError{Path: cn.path, Program: cn.program}
	}
	if cn.hung.Load() {
		return fmt.Errorf("%w: it answered nothing for %s and was killed", ErrHelperDied, time.Duration(cn.hungAfter.Load()))
	}
	// readResponses waits for the helper before it fails what waited, so
	// exit is set by now.
	if cn.exit != "" && !cn.spoke.Load() {
		// Not a word of the protocol: a program of the helper's name
		// that is not ward's, or one that could not start its work.
		return fmt.Errorf("%w (%s): %s ended before it said a word of ward's store protocol", ErrHelperDied, cn.exit, cn.path)
	}
	if cn.exit != "" {
		return fmt.Errorf("%w (%s)", ErrHelperDied, cn.exit)
	}
	return ErrHelperDied
}

func (cn *conn) isDead() bool {
	select {
	case <-cn.dead:
		return true
	default:
		return false
	}
}

// send writes req with a fresh id and returns the channel its answer
// arrives on.
func (cn *conn) send(req *request) (uint64, chan response) {
	ch := make(chan response, 1)
	cn.mu.Lock()
	cn.next++
	req.ID = cn.next
	select {
	case <-cn.dead:
		cn.mu.Unlock()
		ch <- response{Error: died}
		return req.ID, ch
	default:
	}
	cn.pending[req.ID] = ch
	cn.mu.Unlock()
	if err := cn.write(req); err != nil {
		// The helper is gone or going (its stdin is closed): its death,
		// once readResponses has seen it, with its exit status and its
		// last words logged, fails the request.
		go func() {
			select {
			case <-cn.dead:
			case <-time.After(2 * stderrGrace):
			}
			cn.deliver(response{ID: req.ID, Error: died})
		}()
	}
	return req.ID, ch
}

func (cn *conn) write(req *request) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	_, err = cn.in.Write(b)
	return err
}

// call sends req and waits for its answer.
func (cn *conn) call(ctx context.Context, req *request) (json.RawMessage, error) {
	id, ch := cn.send(req)
	return cn.await(ctx, id, ch)
}

// await waits for the answer to request id on ch.
func (cn *conn) await(ctx context.Context, id uint64, ch chan response) (json.RawMessage, error) {
	select {
	case r := <-ch:
		if r.Error != nil {
			if r.Error == died {
				return nil, cn.diedErr()
			}
			return nil, r.Error.err()
		}
		return r.Result, nil
	case <-ctx.Done():
		cn.forget(id)
		return nil, ctx.Err()
	}
}

func (cn *conn) forget(id uint64) {
	cn.mu.Lock()
	delete(cn.pending, id)
	cn.mu.Unlock()
}

func (cn *conn) deliver(r response) {
	cn.mu.Lock()
	ch, ok := cn.pending[r.ID]
	delete(cn.pending, r.ID)
	cn.mu.Unlock()
	if ok {
		ch <- r
	}
}

// readResponses dispatches the helper's answers and log records until its
// stdout ends; then every pending request fails with ErrHelperDied.
func (cn *conn) readResponses(out *os.File) {
	defer out.Close()
	sc := bufio.NewScanner(out)
	// A fetch answer holds every value of a batch.
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	for sc.Scan() {
		var r response
		err := json.Unmarshal(sc.Bytes(), &r)
		if !cn.spoke.Load() && (err != nil || r.ID == 0 && r.Log == nil) {
			// Its first line, and not the protocol's (an answer or a
			// log record): no helper of ward's (a program of that name
			// on $PATH: a usage line, a prompt, a JSON log of its own).
			// Waiting on it for an answer took the whole answer
			// timeout.
			cn.foreign.Store(true)
			cn.killGroup()
			break
		}
		if err != nil {
			cn.log.Warn("the store's helper wrote a line ward cannot read; ignored")
			continue
		}
		cn.spoke.Store(true)
		if r.Log != nil {
			cn.logRecord(r.Log)
			continue
		}
		cn.deliver(r)
	}
	// How it ended goes into the failures: a helper that crashed (its
	// runtime unable to make a thread at the process limit) and one that
	// exited by itself read alike otherwise. Its stdout is closed, so it
	// is exiting; the end of its stdin ends one that is not.
	cn.in.Close()
	cn.wait()
	// What the helper wrote to stderr as it ended (the dynamic loader's
	// "error while loading shared libraries", a panic) is logged before
	// the failure it explains, and before a ward that fails with it
	// exits: it was lost in about half of the runs. Its stderr ends with
	// it, unless a program it started holds the pipe.
	select {
	case <-cn.stderrDone:
	case <-time.After(stderrGrace):
	}
	cn.mu.Lock()
	close(cn.dead)
	pending := cn.pending
	cn.pending = map[uint64]chan response{}
	cn.mu.Unlock()
	for _, ch := range pending {
		ch <- response{Error: died}
	}
}

func (cn *conn) logRecord(l *wireLog) {
	var level slog.Level
	if level.UnmarshalText([]byte(l.Level)) != nil {
		level = slog.LevelInfo
	}
	attrs := make([]any, 0, 2*len(l.Attrs))
	// In the order of their names: the wire carries them as a map, and
	// the same line should read the same each time.
	for _, k := range slices.Sorted(maps.Keys(l.Attrs)) {
		v := l.Attrs[k]
		if k == "store" && v == cn.store {
			continue
		}
		if slices.Contains(recordKeys, k) {
			// A second "store" or "msg" in one JSON object: a collector
			// keeps one of the two, or rejects the line.
			k = "helper_" + k
		}
		attrs = append(attrs, k, v)
	}
	cn.log.Log(context.Background(), level, l.Msg, attrs...)
}

// recordKeys are the keys every record of a helper already has in ward's
// log: slog's own, ward's ("app") and the store's name. (ward's records
// have no "source": a store's attribute of that name keeps it.)
var recordKeys = []string{slog.TimeKey, slog.LevelKey, slog.MessageKey, "app", "store"}

// readStderr logs what the helper writes to stderr: a crash's message,
// which the helper could not send as a record (the stack dump after it
// at debug level). It reads to the end: a
// helper whose stderr is closed dies of SIGPIPE at its next write there,
// so past stderrLimit (a flood) lines are read and dropped, and a line
// longer than stderrLine is cut.
func (cn *conn) readStderr(r *os.File) {
	defer close(cn.stderrDone)
	defer r.Close()
	br := bufio.NewReaderSize(r, stderrLine)
	logged, dropped, crashed := 0, false, false
	for {
		line, more, err := br.ReadLine()
		if err != nil {
			return
		}
		switch {
		case logged < stderrLimit:
			logged += len(line)
			text := string(line)
			if more {
				text += " [cut]"
			}
			if crashed {
				// Go's dump of every goroutine's stack after a crash's
				// line: a hundred lines and more, for whoever debugs.
				cn.log.Debug("store helper: " + text)
			} else {
				crashed = crashLine(text)
				cn.log.Warn("store helper: " + text)
			}
		case !dropped:
			dropped = true
			cn.log.Warn("the store's helper writes much to its stderr; the rest is not logged")
		}
		for more {
			if _, more, err = br.ReadLine(); err != nil {
				return
			}
		}
	}
}

// crashLine tells the first line of a Go program's crash, after which
// the runtime dumps the stacks of its goroutines (and, under
// GOTRACEBACK=crash, its registers): a panic, a fatal error, or a signal
// the runtime dies of, as a SIGQUIT someone sends to see where a helper
// hangs ("SIGQUIT: quit"), a SIGSEGV or a SIGABRT ("SIGABRT: abort"),
// or one it has no name for ("Signal 99").
func crashLine(text string) bool {
	if strings.HasPrefix(text, "panic: ") || strings.HasPrefix(text, "fatal error: ") {
		return true
	}
	if n, ok := strings.CutPrefix(text, "Signal "); ok {
		return n != "" && strings.Trim(n, "0123456789") == ""
	}
	name, _, ok := strings.Cut(text, ": ")
	return ok && len(name) > 3 && strings.HasPrefix(name, "SIG") && strings.Trim(name[3:], "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == ""
}

// How much of a helper's stderr reaches ward's log, and how long a
// helper's death waits for the last of it.
const (
	stderrLimit = 1 << 20
	stderrLine  = 4 << 10
	stderrGrace = time.Second
)

// kill ends the helper: its process group, in which ward started it, and
// ward's ends of its sockets. A helper of the user's that runs the real
// one without exec (a shell wrapper), or a program of the helper's name
// that started another, left it running, holding the socket: ward waited
// on it for good, rotation stopped, and a stop took the stop's whole
// timeout.
func (cn *conn) kill() {
	cn.killGroup()
	cn.in.Close()
	cn.out.Close()
}

// killGroup kills the helper and its process group.
func (cn *conn) killGroup() {
	// The group only while the helper is ward's child not yet reaped (a
	// zombie keeps its pid): once reaped, its pid, and the group's id,
	// may be another process's.
	if ppid, ok := signals.Parent(cn.proc.Pid); ok && ppid == os.Getpid() {
		syscall.Kill(-cn.proc.Pid, syscall.SIGKILL)
	}
	cn.proc.Kill()
}

// wait collects the helper's exit status once. Under ward's reaper the
// status may already be gone (reaped as an orphan would be); that is fine,
// only the exit matters.
func (cn *conn) wait() {
	cn.waited.Do(func() {
		if st, err := cn.proc.Wait(); err == nil {
			cn.exit = st.String()
		}
	})
}
