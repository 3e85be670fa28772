package remote

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wardsecrets/ward/internal/logbuf"
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/conf"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

// The test binary is also the helper program "ward-test": ward's side of
// each test starts it through a symlink on $PATH.
const helperName = "ward-test"

// TestMain serves the fake store when the test binary runs as the helper.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == helperName {
		os.Exit(Main(testKind, openDirStore))
	}
	if os.Getenv("WARD_TEST_CLIENT") != "" {
		os.Exit(clientMain())
	}
	os.Exit(m.Run())
}

// clientMain is ward's side in a process of its own, for a test to stop:
// it keeps a lease (a request that waits for as long as the lease is
// kept), says "pending helper=PID" on stdout, and closes the client
// once its stdin ends. Its log goes to stderr.
func clientMain() int {
	timeout, err := time.ParseDuration(os.Getenv("WARD_TEST_CLIENT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	c := New(Config{
		Program: helperName, Store: "test", Options: &testOptions{Greeting: "hello"},
		Environ: os.Environ(), Log: slog.New(slog.NewTextHandler(os.Stderr, nil)), Level: slog.LevelInfo,
		AnswerTimeout: timeout,
	})
	defer c.Close()
	go c.KeepLease(context.Background(), &resolve.Lease{ID: "x/long"})
	for deadline := time.Now().Add(10 * time.Second); !clientWaits(c); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "the lease renewal was not sent")
			return 2
		}
	}
	fmt.Printf("pending helper=%d\n", c.Pid())
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// testKind is a store of files in the directory $WARD_TEST_DIR: the
// reference's path is the file's name. Names ask for behaviours: "die"
// makes the helper exit mid-request, "panic" crash with Go's stack dump,
// "log" logs a record first.
var testKind = &resolve.Kind{
	Name:    "test",
	Schemes: []*resolve.Scheme{{Name: "test", Check: func(*resolve.Ref) *resolve.RefError { return nil }}},
	NewOptions: func() resolve.Options {
		return &testOptions{}
	},
}

type testOptions struct {
	Greeting string `json:"greeting"`
}

func (o *testOptions) Decode(*conf.Decoder, *yaml.Node, string) {}
func (o *testOptions) Schema() *conf.Shape                      { return conf.Object("test") }
func (o *testOptions) CredentialEnv() []string                  { return nil }

func openDirStore(opts resolve.Options, env resolve.Env) (resolve.Store, error) {
	o := opts.(*testOptions)
	if o.Greeting != "hello" {
		return nil, fmt.Errorf("the options did not arrive: greeting %q", o.Greeting)
	}
	dir := env.Getenv("WARD_TEST_DIR")
	// While the file hold-open exists, the open waits (for a test to see
	// what ward sends meanwhile).
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "hold-open")); err != nil {
			break
		}
	}
	return &dirStore{dir: dir, log: env.Log, revoke: env.RevokeOnExit}, nil
}

type dirStore struct {
	dir    string
	log    *slog.Logger
	revoke bool
}

func (s *dirStore) Fetch(_ context.Context, ref resolve.Ref) (resolve.Secret, error) {
	switch ref.Path {
	case "die":
		os.Exit(3)
	case "panic":
		panic("a bug in the store")
	case "log":
		s.log.Info("reading the log entry", "ref", ref.Raw)
	case "hinted":
		return resolve.Secret{}, resolve.WithHint(errors.New("the store refuses"), "do this instead")
	case "chatty":
		// An SDK that writes to stderr: 2 MiB of lines, then one line
		// of 100 KiB.
		line := strings.Repeat("x", 1023) + "\n"
		for range 2 << 10 {
			os.Stderr.WriteString(line)
		}
		os.Stderr.WriteString(strings.Repeat("y", 100<<10) + "\n")
	}
	b, err := os.ReadFile(filepath.Join(s.dir, ref.Path))
	if errors.Is(err, os.ErrNotExist) {
		return resolve.Secret{}, fmt.Errorf("no file %s: %w", ref.Path, resolve.ErrNotFound)
	}
	if err != nil {
		return resolve.Secret{}, err
	}
	sec := resolve.Secret{Value: b, Version: "7", Updated: time.Unix(1700000000, 0).UTC(), Expires: time.Unix(1700003600, 5).UTC()}
	if strings.HasPrefix(ref.Path, "leased") {
		sec.Lease = &resolve.Lease{ID: "test/" + ref.Path, TTL: time.Minute, Renewable: true}
	}
	return sec, nil
}

func (s *dirStore) Version(_ context.Context, ref resolve.Ref) (string, error) { return "7", nil }

// KeepLease ends at once for leases named "...short", which end at
// shortEnd, else waits.
func (s *dirStore) KeepLease(ctx context.Context, l *resolve.Lease) (time.Time, error) {
	if strings.HasSuffix(l.ID, "short") {
		return shortEnd, nil
	}
	<-ctx.Done()
	return time.Time{}, ctx.Err()
}

// shortEnd is when the "...short" leases end.
var shortEnd = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func (s *dirStore) Revoke(_ context.Context, l *resolve.Lease) error {
	return os.WriteFile(filepath.Join(s.dir, "revoked-"+strings.ReplaceAll(l.ID, "/", "_")), nil, 0o600)
}

// Close leaves a mark, so the tests can see it ran, and with what.
func (s *dirStore) Close() error {
	return os.WriteFile(filepath.Join(s.dir, "closed"), []byte(fmt.Sprint(s.revoke)), 0o600)
}

// setup puts the helper on $PATH and returns a client and the store's
// directory.
func setup(t *testing.T) (*Client, string, *logbuf.Buffer) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(self, filepath.Join(bin, helperName)); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := t.TempDir()
	logs := &logbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := New(Config{
		Program: helperName, Store: "test", Options: &testOptions{Greeting: "hello"},
		Environ: append(os.Environ(), "WARD_TEST_DIR="+dir), RevokeOnExit: true, Log: log, Level: slog.LevelDebug,
	})
	t.Cleanup(func() { c.Close() })
	return c, dir, logs
}

func ref(path string) resolve.Ref {
	return resolve.Ref{Raw: "test://" + path, Scheme: "test", Path: path}
}

// TestContract runs the store contract through the pipe.
func TestContract(t *testing.T) {
	c, dir, logs := setup(t)
	var canaries []string
	resolvetest.Run(t, resolvetest.Harness{
		Store: c,
		Put: func(t *testing.T, name string, v []byte) resolve.Ref {
			canaries = append(canaries, string(v))
			n := strings.ReplaceAll(name, "/", "_")
			if err := os.WriteFile(filepath.Join(dir, n), v, 0o600); err != nil {
				t.Fatal(err)
			}
			return ref(n)
		},
		Missing: func(t *testing.T) resolve.Ref { return ref("missing") },
	})
	for _, v := range canaries {
		if strings.Contains(logs.String(), v) {
			t.Errorf("a value is in ward's log of the helper")
		}
	}
}

// TestSecretFieldsCrossThePipe checks the version, times and lease.
func TestSecretFieldsCrossThePipe(t *testing.T) {
	c, dir, _ := setup(t)
	v := resolvetest.Canary("lease")
	os.WriteFile(filepath.Join(dir, "leased"), []byte(v), 0o600)
	s, err := c.Fetch(context.Background(), ref("leased"))
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Value) != v || s.Version != "7" || !s.Updated.Equal(time.Unix(1700000000, 0)) || !s.Expires.Equal(time.Unix(1700003600, 5)) || s.Lease == nil || s.Lease.ID != "test/leased" || s.Lease.TTL != time.Minute || !s.Lease.Renewable {
		t.Errorf("got version %q updated %v expires %v lease %+v (value equal: %v)", s.Version, s.Updated, s.Expires, s.Lease, string(s.Value) == v)
	}
	if ver, err := c.Version(context.Background(), ref("leased")); err != nil || ver != "7" || !c.HasVersions() {
		t.Errorf("Version: got %q, %v (has versions: %v)", ver, err, c.HasVersions())
	}
}

// TestErrorHintCrossesThePipe: the hint of a store's error
// (resolve.WithHint) reaches ward, which prints it under the error; it
// was dropped, so that a refusal in the helper (a manifest's Vault or
// Google endpoint the environment does not name) came without what to do.
func TestErrorHintCrossesThePipe(t *testing.T) {
	c, _, _ := setup(t)
	_, err := c.Fetch(context.Background(), ref("hinted"))
	var h interface{ Hint() string }
	if err == nil || err.Error() != "the store refuses" || !errors.As(err, &h) || h.Hint() != "do this instead" {
		t.Errorf("got %v, want the store's error with its hint", err)
	}
	_, err = c.Fetch(context.Background(), ref("absent"))
	if !errors.Is(err, resolve.ErrNotFound) || !errors.As(err, &h) || h.Hint() != "" {
		t.Errorf("got %v, want a not-found error without a hint", err)
	}
}

// TestHelperDeathIsAnOutage: a helper that dies fails what it was asked,
// saying how it ended (a crash at the process limit and an exit read
// alike: "the store's helper program exited"), and is started again for
// the next request.
func TestHelperDeathIsAnOutage(t *testing.T) {
	c, dir, _ := setup(t)
	os.WriteFile(filepath.Join(dir, "a"), []byte("x"), 0o600)
	if _, err := c.Fetch(context.Background(), ref("a")); err != nil {
		t.Fatal(err)
	}
	_, err := c.Fetch(context.Background(), ref("die"))
	if !errors.Is(err, ErrHelperDied) || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("a request the helper died on: got %v, want ErrHelperDied with its exit status 3", err)
	}
	s, err := c.Fetch(context.Background(), ref("a"))
	if err != nil || string(s.Value) != "x" {
		t.Fatalf("after the helper died: got %v, want the value read by a new helper", err)
	}
}

// TestHelperCrashIsOneWarning: a helper that panics writes Go's dump of
// every goroutine's stack to its stderr, a hundred lines and more, each
// of which used to be a warning of its own. The panic's line is the
// warning; the stack follows at debug level.
func TestHelperCrashIsOneWarning(t *testing.T) {
	c, _, logs := setup(t)
	if _, err := c.Fetch(context.Background(), ref("panic")); !errors.Is(err, ErrHelperDied) {
		t.Fatalf("a request the helper panicked on: got %v, want ErrHelperDied", err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "goroutine "); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the helper's stack dump was not logged at all:\n%s", logs.String())
		}
	}
	var warnings []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "store helper: ") {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "panic: a bug in the store") {
		t.Errorf("got %d warnings of the helper's stderr, want one, the panic's line:\n%s", len(warnings), strings.Join(warnings, "\n"))
	}
}

// TestStderrFloodIsNoOutage: a helper that writes much to its stderr, or
// a line longer than a scanner's default, keeps running and answering.
// ward stopped reading its stderr after 1 MiB or at such a line and
// closed the pipe: the helper's next write to stderr killed it with
// SIGPIPE, mid-request.
func TestStderrFloodIsNoOutage(t *testing.T) {
	c, dir, logs := setup(t)
	os.WriteFile(filepath.Join(dir, "chatty"), []byte("x"), 0o600)
	for i := range 3 {
		s, err := c.Fetch(context.Background(), ref("chatty"))
		if err != nil || string(s.Value) != "x" {
			t.Fatalf("fetch %d from a helper that floods its stderr: got %v", i, err)
		}
	}
	if n := strings.Count(logs.String(), "store helper: "); n > 2000 {
		t.Errorf("%d lines of the helper's stderr logged: want them bounded", n)
	}
}

// TestHungWrappedHelperIsKilledWhole: a helper of the user's that runs
// the real one without exec (a shell wrapper) gets blocking stdin and
// stdout, and when it hangs it is killed with its process group: ward killed the wrapper alone, and the real helper,
// holding the socket, kept ward waiting for good (a start hung, rotation
// stopped).
func TestHungWrappedHelperIsKilledWhole(t *testing.T) {
	c, dir, logs := setup(t)
	c.cfg.AnswerTimeout = time.Second
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(t.TempDir(), helperName)
	if err := os.Symlink(self, real); err != nil {
		t.Fatal(err)
	}
	wrap := t.TempDir()
	if err := os.WriteFile(filepath.Join(wrap, helperName), []byte("#!/bin/sh\n"+real+" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", wrap+string(os.PathListSeparator)+os.Getenv("PATH"))
	os.WriteFile(filepath.Join(dir, "a"), []byte("x"), 0o600)
	if _, err := c.Fetch(context.Background(), ref("a")); err != nil {
		t.Fatal(err)
	}
	script := c.Pid()
	var helper int
	for deadline := time.Now().Add(10 * time.Second); helper == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the wrapper started no helper")
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", script, script))
		if f := strings.Fields(string(b)); len(f) == 1 {
			helper, _ = strconv.Atoi(f[0])
		}
	}
	// Its stdin and stdout blocking, as a program's are: handed over
	// non-blocking, a wrapper's tr or a Python helper failed with EAGAIN.
	for _, fd := range []int{0, 1} {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", script, fd))
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "flags:"); ok {
				if flags, _ := strconv.ParseInt(strings.TrimSpace(v), 8, 64); flags&syscall.O_NONBLOCK != 0 {
					t.Errorf("the helper's fd %d is non-blocking (flags %s)", fd, strings.TrimSpace(v))
				}
			}
		}
	}
	stopHelper(t, helper)
	wantHungKilled(t, c, logs, "a hung wrapped helper")
	for deadline := time.Now().Add(10 * time.Second); !gone(helper); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the wrapped helper runs on after the kill")
		}
	}
}

// TestCloseOfAStoppedHelperWithoutLeases: ward told to stop while its
// helper, which was given no lease, is stopped: Close gives up on it
// after a few seconds and says it held none. It waited the 30 s a
// helper giving leases back may take, and spoke of leases it held.
func TestCloseOfAStoppedHelperWithoutLeases(t *testing.T) {
	c, dir, _ := setup(t)
	os.WriteFile(filepath.Join(dir, "a"), []byte("x"), 0o600)
	if _, err := c.Fetch(context.Background(), ref("a")); err != nil {
		t.Fatal(err)
	}
	pid := c.Pid()
	stopHelper(t, pid)
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "which held no lease") || strings.Contains(err.Error(), "giving back the leases") {
			t.Errorf("Close: got %v, want it to say the helper held no lease", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close waited for a stopped helper that held no lease as for one giving leases back")
	}
}

// TestCloseOfAStoppedHelperHoldingALease: at ward's exit the helper that
// holds a lease answers nothing (stopped with SIGSTOP, deadlocked): it is
// killed once a ping goes unanswered, and a new helper gives the lease
// back. Close waited its whole 30 s for the stopped helper, then killed
// it with the lease, which stayed valid until its TTL.
func TestCloseOfAStoppedHelperHoldingALease(t *testing.T) {
	c, dir, logs := setup(t)
	os.WriteFile(filepath.Join(dir, "leased-a"), []byte("x"), 0o600)
	s, err := c.Fetch(context.Background(), ref("leased-a"))
	if err != nil || s.Lease == nil {
		t.Fatalf("fetch: %v, lease %v", err, s.Lease)
	}
	kctx, kcancel := context.WithCancel(context.Background())
	keep := make(chan error, 1)
	go func() {
		_, err := c.KeepLease(kctx, s.Lease)
		keep <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); !hasPending(c.conn); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the lease renewal was not sent")
		}
	}
	// As at ward's exit: the renewal given up, then the helper closed.
	kcancel()
	<-keep
	pid := c.Pid()
	stopHelper(t, pid)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("Close waited for a stopped helper holding a lease for 25s")
	}
	if _, err := os.Stat(filepath.Join(dir, "revoked-test_leased-a")); err != nil {
		t.Errorf("the lease was not given back after %s: %v", time.Since(start).Round(time.Millisecond), err)
	}
	if !strings.Contains(logs.String(), "answers nothing, not even a ping, at ward's exit") {
		t.Errorf("no warning of the silent helper:\n%s", logs.String())
	}
	// The kill at exit is not a death "while ward ran" (which starts a
	// helper again), nor one after the watch's 30 s.
	if strings.Contains(logs.String(), "ended while ward ran") || strings.Contains(logs.String(), "answered nothing for 30s") {
		t.Errorf("the kill at exit was told as a death while ward ran:\n%s", logs.String())
	}
}

// TestShortLeaseShortensTheAnswerTimeout: a helper keeping a lease of 9 s
// that stops answering is killed within a third of it (3 s), not after
// the 30 s answer timeout, by when the lease had ended unrenewed; a new
// helper takes the lease over.
func TestShortLeaseShortensTheAnswerTimeout(t *testing.T) {
	c, _, logs := setup(t)
	lease := &resolve.Lease{ID: "x/long", TTL: 9 * time.Second, Renewable: true}
	kctx, kcancel := context.WithCancel(context.Background())
	defer kcancel()
	go c.KeepLease(kctx, lease)
	// The client's helper, as it is now (the test reads it beside the
	// client's goroutines).
	current := func() *conn {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.conn
	}
	for deadline := time.Now().Add(10 * time.Second); current() == nil || !hasPending(current()); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the lease renewal was not sent")
		}
	}
	pid := c.Pid()
	stopHelper(t, pid)
	start := time.Now()
	for deadline := start.Add(20 * time.Second); !strings.Contains(logs.String(), "answered nothing"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stopped helper was not killed within 20s")
		}
	}
	// Three ticks of a second, one more for a late one; 30 s before.
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("the stopped helper keeping a 9s lease was killed after %s, want within about 3s", took.Round(time.Millisecond))
	}
	if !strings.Contains(logs.String(), "waited=3s") {
		t.Errorf("the kill does not say it waited 3s:\n%s", logs.String())
	}
	for deadline := time.Now().Add(20 * time.Second); c.Pid() == 0 || c.Pid() == pid || current() == nil || !hasPending(current()); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no new helper took the lease over")
		}
	}
}

// TestHungHelperIsAnOutage: a helper that stops answering (stopped with
// SIGSTOP, deadlocked) is killed once it has not answered for
// AnswerTimeout, which fails what it was asked, lease renewals included,
// and a new helper serves the next request (and takes a lease renewal
// over). ward used to wait for it forever: a start hung, and so did
// rotation, for good.
func TestHungHelperIsAnOutage(t *testing.T) {
	c, dir, logs := setup(t)
	c.cfg.AnswerTimeout = time.Second
	os.WriteFile(filepath.Join(dir, "a"), []byte("x"), 0o600)
	if _, err := c.Fetch(context.Background(), ref("a")); err != nil {
		t.Fatal(err)
	}
	keep := make(chan error, 1)
	kctx, kcancel := context.WithCancel(context.Background())
	defer kcancel()
	go func() {
		_, err := c.KeepLease(kctx, &resolve.Lease{ID: "x/long"})
		keep <- err
	}()
	// The renewal is asked of this helper before it stops.
	for deadline := time.Now().Add(10 * time.Second); !hasPending(c.conn); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the lease renewal was not sent")
		}
	}
	pid := c.Pid()
	stopHelper(t, pid)
	wantHungKilled(t, c, logs, "a hung helper")
	// The lease's renewal goes on with a new helper, until cancelled.
	for deadline := time.Now().Add(20 * time.Second); c.Pid() == 0 || c.Pid() == pid; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no new helper took the lease over")
		}
	}
	kcancel()
	select {
	case err := <-keep:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the lease renewal taken over: got %v, want it renewed until cancelled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the lease renewal taken over did not end when cancelled")
	}
	s, err := c.Fetch(context.Background(), ref("a"))
	if err != nil || string(s.Value) != "x" || c.Pid() == pid {
		t.Fatalf("after the helper hung: got %v (pid %d, was %d), want the value read by a new helper", err, c.Pid(), pid)
	}
}

// TestIdleHelperRevived: the open helper killed, or stopped, while no
// request waits for it is started again without one (a second death in a
// row after a second), and the death is a warning: what a helper keeps
// alive between requests (a VAULT_TOKEN it renews) died with it, nothing
// was logged, and no helper ran until the next request, a poll minutes
// away, by when the token had expired for good. A stopped helper was not
// even pinged while nothing waited for it.
func TestIdleHelperRevived(t *testing.T) {
	c, dir, logs := setup(t)
	c.cfg.AnswerTimeout = time.Second
	os.WriteFile(filepath.Join(dir, "a"), []byte("x"), 0o600)
	if _, err := c.Fetch(context.Background(), ref("a")); err != nil {
		t.Fatal(err)
	}
	// newHelper waits for an open helper other than old, with no request.
	newHelper := func(old int, what string) int {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			c.mu.Lock()
			cn := c.conn
			c.mu.Unlock()
			if cn != nil && cn.proc.Pid != old && !cn.isDead() {
				return cn.proc.Pid
			}
			if time.Now().After(deadline) {
				t.Fatalf("no new helper once %s, and no request:\n%s", what, logs.String())
			}
		}
	}
	first := c.Pid()
	syscall.Kill(first, syscall.SIGKILL)
	second := newHelper(first, "the helper was killed")
	stopHelper(t, second)
	third := newHelper(second, "the helper was stopped")
	var warned []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "ended while ward ran") {
			warned = append(warned, line)
		}
	}
	if len(warned) != 2 || !strings.Contains(warned[0], "signal: killed") || !strings.Contains(warned[0], "in=0s") || !strings.Contains(warned[1], "answered nothing") || !strings.Contains(warned[1], "in=1s") {
		t.Errorf("want two warnings, the first saying the helper was killed and started again at once, the second that it answered nothing and waiting a second:\n%s", strings.Join(warned, "\n"))
	}
	s, err := c.Fetch(context.Background(), ref("a"))
	if err != nil || string(s.Value) != "x" || c.Pid() != third {
		t.Fatalf("after the restarts: got %v (pid %d), want the value read by the helper started without a request (%d)", err, c.Pid(), third)
	}
}

// gone reports whether process pid has ended (a zombie counts).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// wantHungKilled wants a fetch of "a" from c, whose helper (what) no
// longer answers, to fail with ErrHelperDied once the helper was killed
// for it, and the kill logged.
func wantHungKilled(t *testing.T, c *Client, logs *logbuf.Buffer, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Fetch(ctx, ref("a")); !errors.Is(err, ErrHelperDied) {
		t.Errorf("a fetch from %s: got %v, want ErrHelperDied", what, err)
	}
	if !strings.Contains(logs.String(), "answered nothing") {
		t.Errorf("the kill of a hung helper was not logged: %s", logs.String())
	}
}

// stopHelper stops the helper pid with SIGSTOP and waits until every
// thread of it is stopped (a moment after kill returns); it is killed
// when the test ends.
func stopHelper(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	for deadline := time.Now().Add(10 * time.Second); !stopped(pid); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the helper did not stop")
		}
	}
}

// stopped reports whether every thread of process pid is stopped.
func stopped(pid int) bool {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			return false
		}
		// pid (comm) STATE ...
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
			return false
		}
	}
	return len(tasks) > 0
}

// clientWaits reports whether c's helper, once open, has a request to
// answer.
func clientWaits(c *Client) bool {
	c.mu.Lock()
	cn := c.conn
	c.mu.Unlock()
	return cn != nil && hasPending(cn)
}

// hasPending reports whether cn waits for an answer.
func hasPending(cn *conn) bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return len(cn.pending) > 0
}

// TestKeepLeaseEndsAndCancels: an ended lease answers, with when it ends;
// a cancelled one returns the context's error.
func TestKeepLeaseEndsAndCancels(t *testing.T) {
	c, dir, _ := setup(t)
	if ends, err := c.KeepLease(context.Background(), &resolve.Lease{ID: "x/short"}); err != nil || !ends.Equal(shortEnd) {
		t.Errorf("a lease that ends: got %v, %v, want nil (read again) and %v", ends, err, shortEnd)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.KeepLease(ctx, &resolve.Lease{ID: "x/long"})
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("a cancelled keep: got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled keep did not return")
	}
	if err := c.Revoke(context.Background(), &resolve.Lease{ID: "x/long"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "revoked-x_long")); err != nil {
		t.Errorf("the helper did not revoke: %v", err)
	}
}

// TestCloseAndEndOfInput: close gives back what the store holds, and so
// does the end of the helper's stdin (ward killed).
func TestCloseAndEndOfInput(t *testing.T) {
	c, dir, _ := setup(t)
	os.WriteFile(filepath.Join(dir, "a"), []byte("x"), 0o600)
	if _, err := c.Fetch(context.Background(), ref("a")); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "closed")); err != nil || string(b) != "true" {
		t.Fatalf("after Close: the store was not closed with revoke_on_exit (%q, %v)", b, err)
	}
	os.Remove(filepath.Join(dir, "closed"))

	c2, dir2, _ := setup(t)
	if err := c2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	cn := c2.conn
	cn.in.Close() // as if ward died: the helper reads the end of its input
	select {
	case <-cn.dead:
	case <-time.After(10 * time.Second):
		t.Fatal("the helper did not exit at the end of its input")
	}
	if _, err := os.Stat(filepath.Join(dir2, "closed")); err != nil {
		t.Errorf("at the end of its input the helper did not close its store: %v", err)
	}
}

// TestUnreadableRequestStillCloses: a helper that gets a line it cannot
// read (a ward of another version) stops, but closes its store first,
// giving its leases back, as at the end of its input. It returned at
// once and left them.
func TestUnreadableRequestStillCloses(t *testing.T) {
	c, dir, _ := setup(t)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	cn := c.conn
	cn.wmu.Lock()
	cn.in.Write([]byte("{not json\n"))
	cn.wmu.Unlock()
	select {
	case <-cn.dead:
	case <-time.After(10 * time.Second):
		t.Fatal("the helper did not stop at a line it cannot read")
	}
	if _, err := os.Stat(filepath.Join(dir, "closed")); err != nil {
		t.Errorf("the helper stopped without closing its store: %v", err)
	}
}

// TestLogsRelayed: the helper's records reach ward's logger, marked with
// the store.
func TestLogsRelayed(t *testing.T) {
	c, dir, logs := setup(t)
	os.WriteFile(filepath.Join(dir, "log"), []byte("x"), 0o600)
	if _, err := c.Fetch(context.Background(), ref("log")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if !strings.Contains(logs.String(), `msg="reading the log entry"`) || !strings.Contains(logs.String(), "store=test") || !strings.Contains(logs.String(), "ref=test://log") {
		t.Errorf("the helper's record did not reach ward's log: %s", logs.String())
	}
}

// TestMissingHelper names the program and says how to install it: the
// helpers of this ward's version, which the hint named VERSION for every
// ward, released ones too (a dev build has none to name).
func TestMissingHelper(t *testing.T) {
	for _, tc := range []struct{ version, want string }{
		{"v1.4.2", "...@v1.4.2 "},
		{"", "...@VERSION "},
		{"dev", "...@VERSION "},
	} {
		c := New(Config{Program: "ward-no-such-helper", Store: "none", Version: tc.version})
		_, err := c.Fetch(context.Background(), ref("a"))
		var me *MissingError
		if !errors.As(err, &me) || !strings.Contains(err.Error(), "ward-no-such-helper is not installed") || !strings.Contains(me.Hint(), "CGO_ENABLED=0 go install -tags urfave_cli_no_docs github.com/wardsecrets/ward/"+tc.want) {
			t.Errorf("ward %q: got %v, want a MissingError with an install hint saying %q", tc.version, err, tc.want)
		}
		_, err = Probe("ward-no-such-helper", tc.version)
		if !errors.As(err, &me) || !strings.Contains(me.Hint(), tc.want) {
			t.Errorf("ward %q: the probe got %v, want a MissingError with an install hint saying %q", tc.version, err, tc.want)
		}
	}
}

// TestHelperNotExecutable: a helper next to ward that lost its mode (a
// copy that dropped it) is named, with what to do, not called missing.
// The error said "not installed: it is not next to ward's executable".
func TestHelperNotExecutable(t *testing.T) {
	name, p := besideTest(t, "noexec", "#!/bin/sh\n", 0o644)
	t.Setenv("PATH", t.TempDir())
	c := New(Config{Program: name, Store: "none"})
	_, err := c.Fetch(context.Background(), ref("a"))
	var me *MissingError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), p+" is not an executable file") || !strings.Contains(me.Hint(), "chmod +x "+p) {
		t.Errorf("got %v (hint %q), want the file named as not executable, and chmod +x", err, hintOf(me))
	}
}

// besideTest writes a program of the given text and mode beside the test
// binary, where Find looks first, as ward-test-LABEL-PID, removed at the
// test's end; it returns its name and path.
func besideTest(t *testing.T, label, text string, mode os.FileMode) (name, path string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if real, err := filepath.EvalSymlinks(self); err == nil {
		self = real
	}
	name = fmt.Sprintf("ward-test-%s-%d", label, os.Getpid())
	path = filepath.Join(filepath.Dir(self), name)
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatalf("cannot write beside the test binary: %v", err)
	}
	t.Cleanup(func() { os.Remove(path) })
	return name, path
}

func hintOf(e *MissingError) string {
	if e == nil {
		return ""
	}
	return e.Hint()
}

// TestSpawn: Spawn starts the helper's process at once and the first
// request opens that same process's store; a spawned helper that died
// first is started again; Close ends one that was never asked anything.
func TestSpawn(t *testing.T) {
	c, dir, _ := setup(t)
	os.WriteFile(filepath.Join(dir, "a"), []byte("x"), 0o600)
	if err := c.Spawn(); err != nil {
		t.Fatal(err)
	}
	pid := c.Pid()
	if pid == 0 {
		t.Fatal("no helper runs after Spawn")
	}
	if err := c.Spawn(); err != nil || c.Pid() != pid {
		t.Fatalf("a second Spawn started another helper (%d, then %d; %v)", pid, c.Pid(), err)
	}
	if s, err := c.Fetch(context.Background(), ref("a")); err != nil || string(s.Value) != "x" {
		t.Fatalf("fetch from the spawned helper: %v", err)
	}
	if c.Pid() != pid {
		t.Errorf("the first request started helper %d instead of using the spawned %d", c.Pid(), pid)
	}

	c2, dir2, _ := setup(t)
	os.WriteFile(filepath.Join(dir2, "a"), []byte("y"), 0o600)
	if err := c2.Spawn(); err != nil {
		t.Fatal(err)
	}
	dead := c2.spawned
	dead.kill()
	select {
	case <-dead.dead:
	case <-time.After(10 * time.Second):
		t.Fatal("the killed helper's output did not end")
	}
	if s, err := c2.Fetch(context.Background(), ref("a")); err != nil || string(s.Value) != "y" {
		t.Fatalf("fetch after the spawned helper died: %v", err)
	}
	if c2.Pid() == dead.proc.Pid {
		t.Error("the dead spawned helper is still the one in use")
	}

	c3, _, _ := setup(t)
	if err := c3.Spawn(); err != nil {
		t.Fatal(err)
	}
	idle := c3.spawned
	if err := c3.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-idle.dead:
	case <-time.After(10 * time.Second):
		t.Fatal("Close left a spawned, never opened helper running")
	}
	if c3.Pid() != 0 {
		t.Errorf("after Close, Pid is %d", c3.Pid())
	}
}

// TestFirstRequestRidesWithOpen: the first request goes out right behind
// the open request instead of after its answer (a round trip less on the
// first fetch of every run), and its answer counts only once the store is
// open: a failed open is the request's error.
func TestFirstRequestRidesWithOpen(t *testing.T) {
	c, dir, _ := setup(t)
	os.WriteFile(filepath.Join(dir, "a"), []byte("x"), 0o600)
	hold := filepath.Join(dir, "hold-open")
	os.WriteFile(hold, nil, 0o600)
	done := make(chan error, 1)
	go func() {
		s, err := c.Fetch(context.Background(), ref("a"))
		if err == nil && string(s.Value) != "x" {
			err = fmt.Errorf("fetched %d bytes, not the file's", len(s.Value))
		}
		done <- err
	}()
	// The helper's open waits on hold-open: both requests must be
	// written and unanswered meanwhile.
	pending := func() int {
		c.mu.Lock()
		op := c.opening
		c.mu.Unlock()
		if op == nil {
			return 0
		}
		op.cn.mu.Lock()
		defer op.cn.mu.Unlock()
		return len(op.cn.pending)
	}
	for deadline := time.Now().Add(10 * time.Second); pending() != 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("while the open request waits for its answer, %d requests are out: the fetch waits for the open answer", pending())
		}
	}
	os.Remove(hold)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the fetch sent behind the open request: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer to the fetch sent behind the open request")
	}

	bad, _, _ := setup(t)
	bad.cfg.Options = &testOptions{Greeting: "bye"}
	_, err := bad.Fetch(context.Background(), ref("a"))
	if err == nil || !strings.Contains(err.Error(), "open the test store") || !strings.Contains(err.Error(), "the options did not arrive") {
		t.Fatalf("a fetch behind a failing open: %v, want the open's error", err)
	}
	if _, err := bad.Fetch(context.Background(), ref("a")); err == nil || !strings.Contains(err.Error(), "the options did not arrive") {
		t.Fatalf("the next fetch: %v, want the open's error again (from a new helper)", err)
	}
}

// TestHelperOfAnotherWard: a helper of another build found first (an old
// ward-vault on $PATH, left by a package, beside a ward installed with go
// install) is named by its path and version, beside ward's, with the
// helper to install; it said only "ward-vault speaks protocol 2, ward 1".
func TestHelperOfAnotherWard(t *testing.T) {
	bin := t.TempDir()
	helper := filepath.Join(bin, "ward-test-other")
	// It answers the open as a helper of another protocol from ward
	// v9.9.9 does.
	other := Protocol + 1
	script := fmt.Sprintf("#!/bin/sh\nread line\necho '{\"id\":1,\"result\":{\"protocol\":%d,\"ward\":\"v9.9.9\"}}'\ncat >/dev/null\n", other)
	if err := os.WriteFile(helper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	c := New(Config{Program: "ward-test-other", Store: "test", Version: "v1.2.3"})
	defer c.Close()
	_, err := c.Fetch(context.Background(), ref("a"))
	if err == nil {
		t.Fatal("a fetch through a helper of another protocol succeeded")
	}
	var h interface{ Hint() string }
	hint := ""
	if errors.As(err, &h) {
		hint = h.Hint()
	}
	for _, want := range []string{helper, "v9.9.9", fmt.Sprint("protocol ", other), "v1.2.3", fmt.Sprint("protocol ", Protocol)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got %q, want it to name %s", err, want)
		}
	}
	if !strings.Contains(hint, "CGO_ENABLED=0 go install -tags urfave_cli_no_docs github.com/wardsecrets/ward/...@v1.2.3") || !strings.Contains(hint, helper) {
		t.Errorf("got hint %q, want the install of ward v1.2.3's helpers and the file to replace", hint)
	}
}

// TestProbeHelperThatHangs: a helper that does not end with nothing to
// serve (not ward's: a program of that name that waits on something
// else) is killed at the probe's bound and said so, with its
// grandchild holding its output; `ward check` does not wait for it, and
// the grandchild is killed with it (it ran on, orphaned).
func TestProbeHelperThatHangs(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "grandchild")
	name, p := besideTest(t, "hangs", "#!/bin/sh\nsleep 60 &\necho $! > "+pidFile+"\nexec sleep 60\n", 0o755)
	defer func(d time.Duration) { probeTimeout = d }(probeTimeout)
	probeTimeout = 300 * time.Millisecond
	done := make(chan error, 1)
	go func() {
		_, err := Probe(name, "v1.2.3")
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), p+" did not end within 300ms with nothing to serve") {
			t.Errorf("got %v, want the helper said not to end", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Probe did not return within 10 s of a helper that hangs")
	}
	b, _ := os.ReadFile(pidFile)
	grandchild, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("the helper's grandchild's pid: %q", b)
	}
	t.Cleanup(func() { syscall.Kill(grandchild, syscall.SIGKILL) })
	for deadline := time.Now().Add(10 * time.Second); !gone(grandchild); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the probed helper's grandchild runs on")
		}
	}
}

// TestProbeHelperFailingInOneLongWrite: a helper that says why it failed
// in one write longer than the probe keeps (4 KiB) is still heard: the
// probe's error holds the beginning of its line. (It was dropped whole,
// and the error said only the exit status.)
func TestProbeHelperFailingInOneLongWrite(t *testing.T) {
	// printf writes its whole argument in one write(2): 6,000 bytes.
	name, p := besideTest(t, "long", "#!/bin/sh\nprintf 'cannot start: %s\\n' \"$(printf '%06000d' 0 | tr 0 x)\" >&2\nexit 3\n", 0o755)
	_, err := Probe(name, "v1.2.3")
	if err == nil {
		t.Fatal("Probe of a helper that exits 3 returned no error")
	}
	want := p + " failed with nothing to serve (exit status 3): cannot start: xxxx"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %.200q..., want it to begin %q", err, want)
	}
	if n := len(err.Error()); n > 4<<10+200 {
		t.Errorf("the error is %d bytes: more than the 4 KiB the probe keeps", n)
	}
}

// TestProbeAsksTheProtocol: the probe asks the helper which protocol it
// speaks with an open request of protocol 0, which opens no store (every
// helper answers it with its protocol and version): another ward's
// helper is a *VersionError naming both wards' versions, as a run's
// would be; a program of the helper's name that answers nothing is no
// helper; a helper's log records before its answer are passed over.
// (The probe took any program that ended well for a helper.)
func TestProbeAsksTheProtocol(t *testing.T) {
	// Each script answers only the request the probe must send.
	answer := func(lines ...string) string {
		return "#!/bin/sh\nread -r req\ncase \"$req\" in\n'{\"id\":1,\"op\":\"open\",\"open\":{\"protocol\":0}}') printf '%s\\n' " + strings.Join(lines, " ") + ";;\nesac\n"
	}
	for _, c := range []struct {
		name, script, want string
	}{
		{"another ward", answer(`'{"id":1,"result":{"protocol":9,"ward":"v9.9.9","schemes":null,"leases":false,"versions":false}}'`),
			"is the helper of ward v9.9.9 (store protocol 9), and this ward is v1.2.3 (store protocol " + strconv.Itoa(Protocol) + "): they cannot work together"},
		{"silent", "#!/bin/sh\nexit 0\n", "ran and ended without answering ward's store protocol: it is not ward's store helper, or a broken one"},
		// Of the same protocol, another release: a run would work, but
		// an image or install that mixed two releases is what the
		// check is for.
		{"another release", answer(fmt.Sprintf(`'{"id":1,"result":{"protocol":%d,"ward":"v1.2.0","schemes":["vault"],"leases":true,"versions":true}}'`, Protocol)),
			"is the helper of ward v1.2.0, and this ward is v1.2.3: an install or image that mixed two releases"},
		{"a release beside a dev build", answer(fmt.Sprintf(`'{"id":1,"result":{"protocol":%d,"ward":"v1.2.0","schemes":["vault"],"leases":true,"versions":true}}'`, Protocol)), ""},
		{"unknown release", answer(fmt.Sprintf(`'{"id":1,"result":{"protocol":%d,"schemes":["vault"],"leases":true,"versions":true}}'`, Protocol)), ""},
		{"this ward", answer(`'{"log":{"level":"DEBUG","msg":"starting"}}'`, fmt.Sprintf(`'{"id":1,"result":{"protocol":%d,"ward":"v1.2.3","schemes":["vault"],"leases":true,"versions":true}}'`, Protocol)), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			name, p := besideTest(t, "proto-"+strings.ReplaceAll(c.name, " ", "-"), c.script, 0o755)
			// This ward's version: a build without one says "dev".
			ward := map[string]string{"a release beside a dev build": "dev"}[c.name]
			_, err := Probe(name, cmp.Or(ward, "v1.2.3"))
			switch {
			case c.want == "" && err != nil:
				t.Errorf("got %v, want the helper taken", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), p+" ") || !strings.Contains(err.Error(), c.want)):
				t.Errorf("got %v, want it to name %s and say %q", err, p, c.want)
			}
			var h interface{ Hint() string }
			if c.want != "" && (!errors.As(err, &h) || !strings.Contains(h.Hint(), "@v1.2.3") || !strings.Contains(h.Hint(), "or remove "+p)) {
				t.Errorf("want a hint to install v1.2.3's helpers or remove %s, got %v", p, err)
			}
		})
	}
}
