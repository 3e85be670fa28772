package main

// Helpers shared by the whole-binary tests: a private environment per
// ward run, line readers with deadlines, canaries and their audits, and
// the Vault and process fixtures.

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"golang.org/x/sys/unix"
)

// canary returns a unique value to plant as a secret: any sighting of it
// outside the child is a leak.
func canary(tag string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return "canary-" + tag + "-" + hex.EncodeToString(b)
}

// scanForValue returns the files under dir that contain value, in plain
// form or the encodings a log might use.
func scanForValue(dir string, value []byte) []string {
	var found []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, value) {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// wardEnv is a private environment for one ward run: its own local store,
// identity and runtime directory on tmpfs.
type wardEnv struct {
	t       *testing.T
	dir     string
	runtime string
	env     []string
	// canaries are the values this test stored: the audit at cleanup
	// asserts none is in a file under the test's directory, and run
	// asserts none is in ward's output.
	canaries []string
}

func newWardEnv(t *testing.T) *wardEnv {
	t.Helper()
	dir := t.TempDir()
	rt, err := os.MkdirTemp("/dev/shm", "ward-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(rt) })
	w := &wardEnv{t: t, dir: dir, runtime: rt}
	t.Cleanup(w.audit)
	for _, kv := range os.Environ() {
		// Nor a make's flags, when the tests run under `make -j`: each
		// ward would leave its child the terminal to make's other recipes.
		if strings.HasPrefix(kv, "WARD_") || strings.HasPrefix(kv, "XDG_") || strings.HasPrefix(kv, "MAKEFLAGS=") || strings.HasPrefix(kv, "MFLAGS=") {
			continue
		}
		w.env = append(w.env, kv)
	}
	w.env = append(w.env,
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"WARD_RUNTIME_DIR="+rt,
		"WARD_LOG_FORMAT=json",
	)
	return w
}

// audit asserts that no canary of this test is in any file under the
// test's directory (the local store is encrypted; secret files live in the
// runtime directory on tmpfs, which is not searched).
func (w *wardEnv) audit() {
	for _, c := range w.canaries {
		if found := scanForValue(w.dir, []byte(c)); len(found) > 0 {
			w.t.Errorf("a canary is on disk outside ward's private directory: %v", found)
		}
	}
}

// manifest writes a manifest and returns its path.
func (w *wardEnv) manifest(body string) string {
	w.t.Helper()
	p := filepath.Join(w.dir, fmt.Sprintf("ward-%d.yaml", len(body)))
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// mounted writes value to mounted/token in the test's directory, as a
// volume mounts a secret for a file:// reference, and returns its path.
func (w *wardEnv) mounted(value string) string {
	w.t.Helper()
	src := filepath.Join(w.dir, "mounted", "token")
	if err := os.MkdirAll(filepath.Dir(src), 0o700); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(src, []byte(value), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return src
}

// set stores a value in the local store through `ward local set`.
func (w *wardEnv) set(name, value string) {
	w.t.Helper()
	w.canaries = append(w.canaries, value)
	cmd := exec.Command("ward", "local", "set", name)
	cmd.Env = w.env
	cmd.Stdin = strings.NewReader(value)
	if out, err := cmd.CombinedOutput(); err != nil {
		w.t.Fatalf("ward local set %s: %v\n%s", name, err, out)
	}
}

// setTogether stores values (name, value, name, value...) in the local
// store in one write of its file, as one change a running ward sees at
// once: two `ward local set`s may land on either side of a rotation's
// debounce on a loaded machine. They are set in a copy of the store,
// which then takes its place by a rename, as `ward local set` writes it.
func (w *wardEnv) setTogether(pairs ...string) {
	w.t.Helper()
	store := filepath.Join(w.dir, "data", "ward", "store.age")
	next := filepath.Join(w.dir, "data-next")
	if err := os.MkdirAll(filepath.Join(next, "ward"), 0o700); err != nil {
		w.t.Fatal(err)
	}
	b, err := os.ReadFile(store)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(next, "ward", "store.age"), b, 0o600); err != nil {
		w.t.Fatal(err)
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		w.canaries = append(w.canaries, pairs[i+1])
		cmd := exec.Command("ward", "local", "set", pairs[i])
		cmd.Env = append(withoutEnv(w.env, "XDG_DATA_HOME"), "XDG_DATA_HOME="+next)
		cmd.Stdin = strings.NewReader(pairs[i+1])
		if out, err := cmd.CombinedOutput(); err != nil {
			w.t.Fatalf("ward local set %s: %v\n%s", pairs[i], err, out)
		}
	}
	if err := os.Rename(filepath.Join(next, "ward", "store.age"), store); err != nil {
		w.t.Fatal(err)
	}
}

func (w *wardEnv) command(args ...string) *exec.Cmd {
	cmd := exec.Command("ward", args...)
	cmd.Env = w.env
	cmd.Dir = w.dir
	return cmd
}

// run runs ward to the end and returns its exit code and outputs.
func (w *wardEnv) run(args ...string) (code int, stdout, stderr string) {
	w.t.Helper()
	cmd := w.command(args...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	for _, c := range w.canaries {
		if strings.Contains(o.String(), c) || strings.Contains(e.String(), c) {
			w.t.Errorf("ward %s: a canary is in ward's output", args[0])
		}
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		w.t.Fatalf("run ward: %v", err)
	}
	return code, o.String(), e.String()
}

// lines reads a child's output line by line, with a deadline per wait.
type lines struct {
	t  *testing.T
	ch chan string
}

func readLines(t *testing.T, r io.Reader) *lines {
	l := &lines{t: t, ch: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			l.ch <- sc.Text()
		}
		close(l.ch)
	}()
	return l
}

// next returns the next line, failing the test after the deadline.
func (l *lines) next(what string) string {
	l.t.Helper()
	return l.nextWithin(what, 10*time.Second)
}

// nextWithin returns the next line, failing the test if none comes within
// d: for a line that comes only after moments a test holds open.
func (l *lines) nextWithin(what string, d time.Duration) string {
	l.t.Helper()
	select {
	case line, ok := <-l.ch:
		if !ok {
			l.t.Fatalf("output ended while waiting for %s", what)
		}
		return line
	case <-time.After(d):
		l.t.Fatalf("no line within %s while waiting for %s", d, what)
	}
	return ""
}

// waitFor skips lines until one has prefix.
func (l *lines) waitFor(prefix string) string {
	l.t.Helper()
	return l.skipUntil(prefix, func(line string) bool { return strings.HasPrefix(line, prefix) })
}

// waitLimit bounds a wait for a line among others: a process that keeps
// logging must not hold a test until the suite's timeout.
const waitLimit = 2 * time.Minute

// skipUntil skips lines until one matches, for at most waitLimit, however
// long the process is quiet in between (a store backed off for 9.6 s
// before its next try left a 10 s wait for each line 0.4 s).
func (l *lines) skipUntil(what string, match func(string) bool) string {
	l.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		if line := l.nextWithin(what, time.Until(deadline)); match(line) {
			return line
		}
	}
	l.t.Fatalf("no line for %s within %s (other lines kept coming)", what, waitLimit)
	return ""
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return 0
}

// started starts cmd with its stdout read line by line and its stderr
// kept whole, and kills it when the test ends.
func started(t *testing.T, cmd *exec.Cmd) (*lines, *strings.Builder) {
	t.Helper()
	out, _ := cmd.StdoutPipe()
	stderr := &strings.Builder{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return readLines(t, out), stderr
}

// startedLines is started with stderr read line by line too.
func startedLines(t *testing.T, cmd *exec.Cmd) (stdout, stderr *lines) {
	t.Helper()
	out, _ := cmd.StdoutPipe()
	errp, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return readLines(t, out), readLines(t, errp)
}

// exitWithin waits for cmd to exit, at most d, and returns its exit
// code; past d it kills cmd and fails the test (a ward that should have
// ended and goes on).
func exitWithin(t *testing.T, cmd *exec.Cmd, d time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return exitCode(t, err)
	case <-time.After(d):
		cmd.Process.Kill()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			// Its output held open by what it left running (ward as
			// PID 1 of a namespace its killed parent made): the test
			// fails now, it does not wait for that.
		}
		t.Fatalf("ward did not exit within %v", d)
		return 0
	}
}

// envHash reads one `helper env` listing and returns the hash of name.
func envHash(l *lines, name string) string {
	l.t.Helper()
	return envListing(l)[name]
}

func (l *lines) waitForContaining(s string) string {
	l.t.Helper()
	return l.skipUntil(s, func(line string) bool { return strings.Contains(line, s) })
}

// wardVault starts `ward run` over a child that lists its env (hashes) and
// waits; it returns the command and its stdout/stderr line readers.
func wardVault(t *testing.T, w *wardEnv, addr, token, manifest string) (*exec.Cmd, *lines, *lines) {
	t.Helper()
	cmd := w.command("run", "--log-level", "debug", "-m", manifest, "--", "helper", "env", "wait")
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+addr, "VAULT_TOKEN="+token)
	out, _ := cmd.StdoutPipe()
	errp, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, readLines(t, out), readLines(t, errp)
}

// envListing reads one `helper env` listing into name -> hash.
func envListing(l *lines) map[string]string {
	l.t.Helper()
	got := map[string]string{}
	for {
		line := l.next("env listing")
		if line == "end" {
			return got
		}
		if name, h, ok := strings.Cut(line, " "); ok {
			got[name] = h
		}
	}
}

// noCanary reads the rest of l, once its process has exited, and fails
// the test if a line holds one of canaries.
func (l *lines) noCanary(t *testing.T, canaries ...string) {
	t.Helper()
	for line := range l.ch {
		for _, c := range canaries {
			if strings.Contains(line, c) {
				t.Errorf("a canary is in ward's output")
			}
		}
	}
}

// stopAndCount stops ward and returns how many times the child listed its
// env after the first start, and ward's remaining stderr.
func stopAndCount(t *testing.T, cmd *exec.Cmd, stdout, stderr *lines, canaries ...string) int {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
	n := 0
	for line := range stdout.ch {
		if line == "end" {
			n++
		}
	}
	stderr.noCanary(t, canaries...)
	return n
}

func redactAll(s string, values ...string) string {
	for _, v := range values {
		s = strings.ReplaceAll(s, v, "<canary>")
	}
	return s
}

// auditProc asserts that a value is in neither the environment nor the
// command line of a running process.
func auditProc(t *testing.T, pid int, value string) {
	t.Helper()
	for _, f := range []string{"environ", "cmdline"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f))
		if err != nil {
			t.Fatalf("read /proc/%d/%s: %v", pid, f, err)
		}
		if strings.Contains(string(b), value) {
			t.Errorf("the canary is in ward's /proc/%d/%s", pid, f)
		}
	}
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() && info.Name() != ".lock" {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func procOwner(t *testing.T, pid int) int {
	t.Helper()
	st, err := os.Stat(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	return int(st.Sys().(*syscall.Stat_t).Uid)
}

// waitOpening waits until a thread of process pid blocks opening a FIFO
// that nobody writes (a store that hangs): in openat, waiting for the
// FIFO's other end. An openat alone could be any file's, read from a
// cold disk before ward had set up its signals.
func waitOpening(t *testing.T, pid int) {
	t.Helper()
	openat := strconv.Itoa(unix.SYS_OPENAT) + " "
	waitUntil(t, "ward to block opening the FIFO", func() bool {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
		for _, task := range tasks {
			call, _ := os.ReadFile(task + "/syscall")
			wchan, _ := os.ReadFile(task + "/wchan")
			if strings.HasPrefix(string(call), openat) && (string(wchan) == "wait_for_partner" || string(wchan) == "fifo_open") {
				return true
			}
		}
		return false
	})
}

// waitInSyscall waits until a thread of process pid blocks in the
// system call /proc/PID/task/TID/syscall starts with: its number and
// a space, and its first arguments when they matter.
func waitInSyscall(t *testing.T, pid int, call, what string) {
	t.Helper()
	waitUntil(t, what, func() bool {
		calls, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/syscall", pid))
		for _, c := range calls {
			if b, _ := os.ReadFile(c); strings.HasPrefix(string(b), call) {
				return true
			}
		}
		return false
	})
}

// childOf returns the only child of pid (unshare --fork's child: ward).
func childOf(t *testing.T, pid int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
		if err == nil {
			if f := strings.Fields(string(b)); len(f) > 0 {
				n, _ := strconv.Atoi(f[0])
				return n
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("unshare %d has no child", pid)
	return 0
}

// signJWT makes an RS256 JWT.
func signJWT(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	head := enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(head))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return head + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// testVault returns the Vault test server's root client, address and
// token.
func testVault(t *testing.T) (*vaultapi.Client, string, string) {
	t.Helper()
	srv := vaulttest.Require(t)
	return srv.Root, srv.Addr, srv.Token
}

// kvPut writes data at mount/path of a KV v2 engine.
func kvPut(t *testing.T, mount, path string, data map[string]any) {
	t.Helper()
	vaulttest.Require(t).KVPut(t, mount, 2, path, data)
}

// testProgram is a program under testdata that tests run as a child, built
// once per test binary into programsDir, which TestMain removes at the end.
type testProgram struct {
	pkg  string
	once sync.Once
	path string
	err  error
}

var (
	programsMu  sync.Mutex
	programsDir string
)

// build builds the program the first time a test asks, and returns its
// path; a failed build fails every test that asks.
func (p *testProgram) build(t *testing.T) string {
	t.Helper()
	p.once.Do(func() {
		programsMu.Lock()
		if programsDir == "" {
			programsDir, p.err = os.MkdirTemp("", "ward-test-programs-")
		}
		dir := programsDir
		programsMu.Unlock()
		if p.err != nil {
			return
		}
		p.path = filepath.Join(dir, filepath.Base(p.pkg))
		if out, err := exec.Command("go", "build", "-o", p.path, p.pkg).CombinedOutput(); err != nil {
			p.err = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if p.err != nil {
		t.Fatalf("build %s: %v", p.pkg, p.err)
	}
	return p.path
}

// removePrograms removes what testProgram built.
func removePrograms() {
	programsMu.Lock()
	defer programsMu.Unlock()
	if programsDir != "" {
		os.RemoveAll(programsDir)
	}
}

// silentVault is a Vault address that takes connections and answers
// nothing: a store that holds ward's resolve (its helper waits on the
// answer) until the test ends or hangUp is called, which closes every
// connection held and refuses new ones. accepted is closed at the first
// connection.
func silentVault(t *testing.T) (addr string, accepted <-chan struct{}, hangUp func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan struct{})
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if conns == nil {
				close(first)
			}
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	var once sync.Once
	hangUp = func() {
		once.Do(func() {
			l.Close()
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				c.Close()
			}
		})
	}
	t.Cleanup(hangUp)
	return "http://" + l.Addr().String(), first, hangUp
}
