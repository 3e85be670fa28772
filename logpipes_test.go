package main

// ward's stderr and stdout as log pipelines and slow readers treat them:
// a reader that stops reading, a non-blocking pipe, a reader gone, long
// records, hostile bytes in what ward logs.

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/testdata/helper"
)

// stalledPipe is a pipe for ward's stderr whose reader has stopped: the
// test fills it through a second, non-blocking opening of its write end,
// so that ward's next write blocks as it does under a log shipper that
// stopped reading (docker's blocking log driver, a paused `| less`).
type stalledPipe struct {
	r, w *os.File
	// wfd is w's descriptor, taken once: each w.Fd() makes the pipe
	// blocking again.
	wfd int
}

func newStalledPipe(t *testing.T) *stalledPipe {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return &stalledPipe{r: r, w: w, wfd: int(w.Fd())}
}

// fill writes into the pipe until it is full.
func (p *stalledPipe) fill(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", p.wfd), os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pad := make([]byte, 4096)
	for i := range pad {
		pad[i] = '#'
	}
	pad[len(pad)-1] = '\n'
	for {
		if _, err := syscall.Write(int(f.Fd()), pad); err != nil {
			if err == syscall.EAGAIN {
				// Then byte by byte, to leave no room at all.
				for {
					if _, err := syscall.Write(int(f.Fd()), []byte("\n")); err != nil {
						return
					}
				}
			}
			t.Fatal(err)
		}
	}
}

// startStalled starts cmd with its stream ("stdout", "stderr" or
// "both") a pipe whose reader stopped, and the other one in other; it
// kills cmd at the test's end.
func startStalled(t *testing.T, cmd *exec.Cmd, stream string) (p *stalledPipe, other *strings.Builder) {
	t.Helper()
	p = newStalledPipe(t)
	p.fill(t)
	other = &strings.Builder{}
	switch stream {
	case "stdout":
		cmd.Stdout, cmd.Stderr = p.w, other
	case "stderr":
		cmd.Stdout, cmd.Stderr = other, p.w
	case "both":
		cmd.Stdout, cmd.Stderr = p.w, p.w
	default:
		t.Fatalf("no stream %q", stream)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return p, other
}

// startStderrStalling starts cmd with its stderr a pipe the test stops
// reading once it fills it (newStalledPipe: empty at first), and its
// stdout read line by line; it kills cmd at the test's end.
func startStderrStalling(t *testing.T, cmd *exec.Cmd) (*stalledPipe, *lines) {
	t.Helper()
	p := newStalledPipe(t)
	cmd.Stderr = p.w
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return p, readLines(t, out)
}

// noCanary reads what is left in the pipe, once ward has exited, and
// fails the test if it or other holds one of vs.
func (p *stalledPipe) noCanary(t *testing.T, other *strings.Builder, vs ...string) {
	t.Helper()
	p.w.Close()
	rest, _ := io.ReadAll(p.r)
	for _, v := range vs {
		if strings.Contains(string(rest), v) || strings.Contains(other.String(), v) {
			t.Fatalf("a canary is in ward's output")
		}
	}
}

// waitPipeWrite waits until a thread of process pid is blocked in a
// write to a pipe (ward's to its full stderr).
func waitPipeWrite(t *testing.T, pid int) {
	t.Helper()
	waitThreadIn(t, pid, "ward's write to its full stderr", "pipe_write")
}

// waitThreadIn waits until a thread of process pid waits in one of the
// kernel's functions in wchans, failing the test if the process ends
// first.
func waitThreadIn(t *testing.T, pid int, what string, wchans ...string) {
	t.Helper()
	waitUntil(t, what, func() bool {
		if gone(pid) {
			t.Fatalf("ward exited before %s", what)
		}
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", pid))
		for _, f := range tasks {
			b, _ := os.ReadFile(f)
			for _, w := range wchans {
				if strings.Contains(string(b), w) {
					return true
				}
			}
		}
		return false
	})
}

// noSecretFile fails the test if a file named name is left under w's
// runtime directory, where the runs' private directories are.
func (w *wardEnv) noSecretFile(t *testing.T, name string) {
	t.Helper()
	filepath.WalkDir(w.runtime, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == name {
			t.Errorf("the run's secret file %s is still there after ward's exit", p)
		}
		return nil
	})
}

// TestLogStalledStderrRotation: with ward's stderr a pipe whose reader
// has stopped (full), a rotation still restarts the child and a SIGTERM
// still reaches it; once the reader reads again, every record is there,
// each valid JSON, and ward exits with the child's status.
func TestLogStalledStderrRotation(t *testing.T) {
	stalledRotation(t, false)
}

// TestLogNonBlockingStderrRotation: the same with ward's stderr made
// non-blocking under it (a Node.js child sets O_NONBLOCK on the stdio
// pipes it shares with ward, and a write to a full one fails with
// EAGAIN): no record is lost.
func TestLogNonBlockingStderrRotation(t *testing.T) {
	stalledRotation(t, true)
}

// TestCINonBlockingStderrRegistration: under GitHub Actions, a rotation
// registers the new values with the runner's masking on ward's stderr
// before the child gets them (restarted, or signalled with its files
// rewritten). With that stderr made non-blocking by the child (Node.js
// sets O_NONBLOCK on the stdio pipes it has, ward's among them) and full
// (the runner's reader behind), the registration waits for the reader,
// as ward's log does, and the child gets the new values once it reads.
func TestCINonBlockingStderrRegistration(t *testing.T) {
	for _, onChange := range []string{"restart", "signal"} {
		t.Run(onChange, func(t *testing.T) {
			w := newWardEnv(t)
			v1, v2 := canary("cinb1"), canary("cinb2")
			w.set("app/a", v1)
			body := "version: 1\nenv:\n  A: local://app/a\nrotation:\n  debounce: 100ms\n  stop_timeout: 5s\n"
			script := "helper env; exec helper signals"
			if onChange == "signal" {
				body = "version: 1\nfiles:\n  - path: a\n    ref: local://app/a\n    env: A_FILE\nrotation:\n  on_change: signal\n  signal: SIGHUP\n  debounce: 100ms\n"
				script = "exec helper signals"
			}
			// --log-level error: the registrations are all ward writes
			// to its stderr.
			cmd := w.command("run", "--log-level", "error", "-m", w.manifest(body), "--", "sh", "-c", script)
			cmd.Env = append(cmd.Env, "GITHUB_ACTIONS=true")
			p, stdout := startStderrStalling(t, cmd)
			if onChange == "restart" && envHash(stdout, "A") != helper.Hash(v1) {
				t.Fatalf("the first child does not have the first value")
			}
			stdout.waitFor("child ready")
			// As the child would: the flag is the pipe's.
			if err := syscall.SetNonblock(p.wfd, true); err != nil {
				t.Fatal(err)
			}
			p.fill(t)
			w.set("app/a", v2)
			waitThreadIn(t, cmd.Process.Pid, "ward's wait for its full stderr to take the registration", "poll_schedule_timeout", "do_sys_poll", "do_poll")
			// The reader is back.
			stderr := readLines(t, p.r)
			if onChange == "restart" {
				if got := envHash(stdout, "A"); got != helper.Hash(v2) {
					t.Fatalf("the restarted child does not have the new value")
				}
				stdout.waitFor("child ready")
			} else if line := stdout.waitFor("child SIG"); line != "child SIGHUP" {
				t.Fatalf("the child got %q, want child SIGHUP", line)
			}
			cmd.Process.Signal(syscall.SIGTERM)
			if code := exitWithin(t, cmd, 30*time.Second); code != 0 {
				t.Errorf("got exit code %d, want the child's 0", code)
			}
			p.w.Close()
			var all strings.Builder
			for line := range stderr.ch {
				all.WriteString(line + "\n")
			}
			noCanaryOutsideRegistration(t, all.String(), v1, v2)
			if !strings.Contains(all.String(), "\n::add-mask::"+v2+"\n") {
				t.Errorf("the new value was not registered with the runner's masking")
			}
		})
	}
}

func stalledRotation(t *testing.T, nonblocking bool) {
	w := newWardEnv(t)
	v1, v2 := canary("stall1"), canary("stall2")
	w.set("app/a", v1)
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\nrotation:\n  debounce: 100ms\n  stop_timeout: 5s\n")
	cmd := w.command("run", "-m", m, "--", "sh", "-c", "helper env; exec helper signals")
	p, stdout := startStderrStalling(t, cmd)
	if got := envHash(stdout, "A"); got != helper.Hash(v1) {
		t.Fatalf("the first child does not have the first value")
	}
	stdout.waitFor("child ready")
	if nonblocking {
		// As the child would: the flag is the pipe's, shared by every
		// process that has it as stdout or stderr.
		if err := syscall.SetNonblock(p.wfd, true); err != nil {
			t.Fatal(err)
		}
	}
	p.fill(t)

	w.set("app/a", v2)
	if got := envHash(stdout, "A"); got != helper.Hash(v2) {
		t.Fatalf("the restarted child does not have the new value")
	}
	stdout.waitFor("child ready")
	cmd.Process.Signal(syscall.SIGTERM)
	if line := stdout.waitFor("child SIG"); line != "child SIGTERM" {
		t.Fatalf("the child got %q, want child SIGTERM", line)
	}

	// The reader is back.
	stderr := readLines(t, p.r)
	// The child exits 0 on SIGTERM, and ward with it.
	if code := exitWithin(t, cmd, 30*time.Second); code != 0 {
		t.Errorf("got exit code %d, want 0", code)
	}
	p.w.Close()
	var msgs []string
	for line := range stderr.ch {
		if strings.Trim(line, "#") == "" {
			continue
		}
		if strings.Contains(line, v1) || strings.Contains(line, v2) {
			t.Fatalf("a canary is in ward's stderr")
		}
		var rec struct{ Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a line of ward's stderr is not a JSON record: %q", line)
		}
		msgs = append(msgs, rec.Msg)
	}
	for _, want := range []string{"secrets changed: restarting the child", "child restarted with the new secrets"} {
		if !slices.Contains(msgs, want) {
			t.Errorf("no record %q once the reader read again; got %q", want, msgs)
		}
	}
}

// TestLogStalledStderrGuard: ward killed (SIGKILL to its group, as air
// and an IDE's stop send it) with its stderr a pipe whose reader has
// stopped: its guard still stops what the child left running and
// removes the run's secret files, and says so once the reader reads.
func TestLogStalledStderrGuard(t *testing.T) {
	w := newWardEnv(t)
	secret := canary("guard-stall")
	w.set("TOKEN", secret)
	m := w.manifest("version: 1\nfiles:\n  - path: token\n    ref: local://TOKEN\n    env: TOKEN_FILE\nrotation:\n  stop_timeout: 2s\n")
	outPath := filepath.Join(w.dir, "out")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := w.command("run", "-m", m, "--", "sh", "-c", `sleep 1000 & echo "$$ $! $TOKEN_FILE"; wait`)
	p := newStalledPipe(t)
	cmd.Stdout, cmd.Stderr = out, p.w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var shell, server int
	var file string
	waitUntil(t, "the child's line", func() bool {
		b, _ := os.ReadFile(outPath)
		if f := strings.Fields(string(b)); len(f) == 3 {
			shell, _ = strconv.Atoi(f[0])
			server, _ = strconv.Atoi(f[1])
			file = f[2]
			return true
		}
		return false
	})
	t.Cleanup(func() {
		syscall.Kill(server, syscall.SIGKILL)
		syscall.Kill(shell, syscall.SIGKILL)
	})
	g := waitGuard(cmd.Process.Pid)
	if g == 0 {
		t.Fatal("ward started no guard")
	}
	t.Cleanup(func() { syscall.Kill(g, syscall.SIGKILL) })
	p.fill(t)
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	deadline := time.Now().Add(15 * time.Second)
	for !(gone(server) && gone(shell)) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polling /proc, with a deadline
	}
	if !gone(server) || !gone(shell) {
		t.Fatalf("what the child left runs on after ward was killed, its stderr unread (server %q, shell %q)", procState(server), procState(shell))
	}
	waitUntil(t, "the run's files removed", func() bool {
		_, err := os.Stat(filepath.Dir(file))
		return os.IsNotExist(err)
	})

	stderr := readLines(t, p.r)
	p.w.Close()
	waitUntil(t, "the guard's end", func() bool { return gone(g) })
	found := false
	for line := range stderr.ch {
		if strings.Contains(line, secret) {
			t.Fatalf("a canary is in ward's stderr")
		}
		found = found || strings.Contains(line, "ward was killed")
	}
	if !found {
		t.Errorf("the guard's record is lost")
	}
}

// TestMaskStalledStdout: --mask with ward's stdout a pipe whose reader
// has stopped: a rotation still restarts the child, and a SIGTERM still
// reaches it.
func TestMaskStalledStdout(t *testing.T) {
	w := newWardEnv(t)
	v1, v2 := canary("mstall1"), canary("mstall2")
	w.set("app/a", v1)
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\nrotation:\n  debounce: 100ms\n  stop_timeout: 5s\n")
	dir := t.TempDir()
	// Each child writes its value to its stdout, which ward masks and
	// cannot pass on, then its listing to a file of its own, then more
	// output. The trap first: the test's SIGTERM follows the listing at
	// once. The value before the listing: after it, a SIGTERM (the
	// test's, or the rotation's) that came while the shell still waited
	// for mv ran the trap in place of the echo, and that child printed
	// no value (1 of 2 lines, once in CI).
	script := `trap 'echo term > "$OUT/$$.term"; exit 0' TERM; echo "$A"; helper env > "$OUT/$$.tmp"; mv "$OUT/$$.tmp" "$OUT/$$.env"; while :; do echo line; sleep 0.01; done`
	cmd := w.command("run", "--mask", "-m", m, "--", "sh", "-c", script)
	cmd.Env = append(cmd.Env, "OUT="+dir)
	p := newStalledPipe(t)
	p.fill(t)
	cmd.Stdout = p.w
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	listing := func(value string) string {
		t.Helper()
		var found string
		waitUntil(t, "a child's listing", func() bool {
			names, _ := filepath.Glob(filepath.Join(dir, "*.env"))
			for _, n := range names {
				b, _ := os.ReadFile(n)
				if strings.Contains(string(b), "\nA "+helper.Hash(value)+"\n") || strings.HasPrefix(string(b), "A "+helper.Hash(value)+"\n") {
					found = strings.TrimSuffix(n, ".env")
					return true
				}
			}
			return false
		})
		return found
	}
	listing(v1)
	w.set("app/a", v2)
	second := listing(v2)
	cmd.Process.Signal(syscall.SIGTERM)
	waitUntil(t, "the child's SIGTERM", func() bool {
		_, err := os.Stat(second + ".term")
		return err == nil
	})
	stdout := readLines(t, p.r)
	code := exitWithin(t, cmd, 30*time.Second)
	if code != 0 {
		t.Errorf("got exit code %d, want 0", code)
	}
	p.w.Close()
	masked := 0
	for line := range stdout.ch {
		if strings.Contains(line, v1) || strings.Contains(line, v2) {
			t.Fatalf("a canary is in ward's stdout")
		}
		if line == "<ward:A>" {
			masked++
		}
	}
	if masked != 2 {
		t.Errorf("got %d lines <ward:A> once the reader read, want 2 (one of each child)", masked)
	}
	if strings.Contains(stderr.String(), v1) || strings.Contains(stderr.String(), v2) {
		t.Fatalf("a canary is in ward's stderr")
	}
}

// TestMaskNonBlockingStdout: --mask with ward's stdout made non-blocking
// under it (by another process that shares the pipe: Node.js sets the
// flag on its stdio pipes) and full: the child's output waits for the
// reader, and all of it arrives, masked, and the child exits 0.
func TestMaskNonBlockingStdout(t *testing.T) {
	w := newWardEnv(t)
	v := canary("mnb")
	w.set("app/a", v)
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\n")
	dir := t.TempDir()
	cmd := w.command("run", "--mask", "-m", m, "--", "sh", "-c", `echo "$A"; while [ ! -e "$OUT/go" ]; do sleep 0.01; done; i=0; while [ $i -lt 3000 ]; do echo "line $i $A"; i=$((i+1)); done`)
	cmd.Env = append(cmd.Env, "OUT="+dir)
	p := newStalledPipe(t)
	cmd.Stdout = p.w
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	p.r.SetReadDeadline(time.Now().Add(10 * time.Second))
	first := make([]byte, len("<ward:A>\n"))
	if _, err := io.ReadFull(p.r, first); err != nil || string(first) != "<ward:A>\n" {
		t.Fatalf("got %q (%v), want the child's first line, masked", first, err)
	}
	// Reading stops; the pipe is made non-blocking, and filled.
	if err := syscall.SetNonblock(p.wfd, true); err != nil {
		t.Fatal(err)
	}
	p.fill(t)
	child := 0
	waitUntil(t, "the child", func() bool {
		// Each thread's children: ward forks from its run loop's.
		var b []byte
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", cmd.Process.Pid))
		for _, task := range tasks {
			c, _ := os.ReadFile(task)
			b = append(append(b, c...), ' ')
		}
		for _, f := range strings.Fields(string(b)) {
			if c, _ := os.ReadFile("/proc/" + f + "/cmdline"); strings.HasPrefix(string(c), "sh\x00") {
				child, _ = strconv.Atoi(f)
				return true
			}
		}
		return false
	})
	os.WriteFile(filepath.Join(dir, "go"), nil, 0o600)
	// Until the child waits to write (its pipe to ward full), or is gone.
	waitUntil(t, "the child to wait for its reader", func() bool {
		wchan, _ := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", child))
		return strings.Contains(string(wchan), "pipe_write") || gone(child)
	})
	p.r.SetReadDeadline(time.Time{})
	stdout := readLines(t, p.r)
	if code := exitWithin(t, cmd, 30*time.Second); code != 0 {
		t.Errorf("got exit code %d, want 0; stderr:\n%s", code, redactAll(stderr.String(), v))
	}
	p.w.Close()
	lines := 0
	for line := range stdout.ch {
		if strings.Contains(line, v) {
			t.Fatalf("a canary is in ward's stdout")
		}
		if strings.HasPrefix(line, "line ") && strings.HasSuffix(line, " <ward:A>") {
			lines++
		}
	}
	if lines != 3000 {
		t.Errorf("got %d of the child's 3000 lines", lines)
	}
	if strings.Contains(stderr.String(), v) {
		t.Fatalf("a canary is in ward's stderr")
	}
}

// TestErrorLinesEscapeControls: a manifest's reference holding a carriage
// return or an escape (a cloned repository's, a pull request's) never
// reaches ward's error lines as it is: GitHub's runner takes a "\r" for
// the end of a line, and reads a line that starts with "::" as a
// workflow command (::add-mask::, ::stop-commands::, ::warning::); a
// terminal runs an escape sequence (a title, the clipboard). It was
// written escaped (logfmt.Printable, TestPrintable); it is now refused
// at its first such character, which the error names.
func TestErrorLinesEscapeControls(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest("version: 1\nenv:\n  A: \"file:///nonexistent/\\r::warning::forged\\x1b]0;title\\x07\\u009b31m\"\n")
	for _, args := range [][]string{
		{"check", "--resolve", "--log-format", "auto", "-m", m},
		{"run", "--log-format", "auto", "-m", m, "--", "true"},
		{"run", "--log-format", "text", "-m", m, "--", "true"},
	} {
		t.Run(strings.Join(args[:3], " "), func(t *testing.T) {
			code, _, stderr := w.run(args...)
			if code != 125 {
				t.Errorf("got exit code %d, want 125", code)
			}
			for _, line := range strings.FieldsFunc(stderr, func(r rune) bool { return r == '\r' || r == '\n' }) {
				if strings.HasPrefix(line, "::") {
					t.Errorf("a line of ward's stderr reads as a workflow command: %q", line)
				}
			}
			if strings.ContainsAny(stderr, "\x1b\x07\u009b") {
				t.Errorf("ward's stderr holds a terminal control: %q", stderr)
			}
			// The reference is refused at its first control character
			// (the nineteenth run's check for invisible characters),
			// which the error names without quoting the reference.
			if !strings.Contains(stderr, ":3:27: env.A: the reference holds an invisible character, U+000D, as its character 21") {
				t.Errorf("the error does not name the reference's control character at its place:\n%q", stderr)
			}
		})
	}
}

// TestLogRecordsFitALogLine: a rotation that changes hundreds of
// variables at once (a .env file or a Vault path that many variables
// read) is logged in records that each fit one line of docker's and
// Kubernetes' logs (16 KiB: a longer line reaches Loki or CloudWatch as
// pieces, none of them JSON), and still say how many changed.
func TestLogRecordsFitALogLine(t *testing.T) {
	w := newWardEnv(t)
	src := filepath.Join(w.dir, "mounted")
	if err := os.WriteFile(src, []byte(canary("wide1")), 0o600); err != nil {
		t.Fatal(err)
	}
	var m strings.Builder
	m.WriteString("version: 1\nrotation:\n  debounce: 100ms\nenv:\n")
	const n = 1000
	for i := range n {
		fmt.Fprintf(&m, "  SERVICE_SETTING_%04d: file://%s\n", i, src)
	}
	cmd := w.command("run", "-m", w.manifest(m.String()), "--", "sh", "-c", "echo ready; exec sleep 1000")
	out, _ := cmd.StdoutPipe()
	errp, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	stdout, stderr := readLines(t, out), readLines(t, errp)
	stdout.waitFor("ready")
	v2 := canary("wide2")
	if err := os.WriteFile(src+".new", []byte(v2), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Rename(src+".new", src)
	stdout.waitFor("ready")
	cmd.Process.Signal(syscall.SIGTERM)
	exitWithin(t, cmd, 30*time.Second)
	changed := ""
	for line := range stderr.ch {
		if strings.Contains(line, v2) {
			t.Fatalf("a canary is in ward's stderr")
		}
		if len(line)+1 > 16<<10 {
			t.Errorf("a record of %d bytes, more than a log line holds: %.200s...", len(line), line)
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a line of ward's stderr is not a JSON record: %.200q", line)
		}
		if rec["msg"] == "secrets changed: restarting the child" {
			changed, _ = rec["changed"].(string)
		}
	}
	if !strings.HasPrefix(changed, "SERVICE_SETTING_0000,SERVICE_SETTING_0001,") || !regexp.MustCompile(` and \d+ more$`).MatchString(changed) {
		t.Errorf("the restart's record says changed=%.200q..., want the first names and how many more", changed)
	}
}

// TestStalledReaderAtExitHearsStop: once the child has exited, ward
// waits for a reader that stopped reading (its stdout under --mask, its
// stderr with records still queued) only until it is told to stop:
// `docker stop`, `systemctl stop` and Ctrl-C end the wait, ward exits
// with the child's status, and the run's secret files are removed. It
// waited deaf to them, until the SIGKILL that follows, which leaves the
// files and the leases behind.
func TestStalledReaderAtExitHearsStop(t *testing.T) {
	// both: docker's log driver takes both streams, and one SIGTERM comes.
	for _, stream := range []string{"stdout", "stderr", "both"} {
		t.Run(stream, func(t *testing.T) {
			w := newWardEnv(t)
			v := canary("atexit")
			w.set("app/a", v)
			w.set("app/key", canary("atexitkey"))
			m := w.manifest("version: 1\nenv:\n  A: local://app/a\nfiles:\n  - path: key\n    ref: local://app/key\n    env: KEY_FILE\n")
			dir := t.TempDir()
			// Under --mask the child's value waits in ward for the
			// reader; without it, ward's records wait in its queue.
			args := []string{"run", "--mask", "-m", m}
			script := `echo "$$ $KEY_FILE" > "$OUT/key.tmp"; mv "$OUT/key.tmp" "$OUT/key"; echo "$A"; exit 3`
			switch stream {
			case "stderr":
				args = []string{"run", "--log-level", "debug", "-m", m}
				script = strings.Replace(script, `echo "$A"`, `echo "${#A}"`, 1)
			case "both":
				args = []string{"run", "--mask", "--log-level", "debug", "-m", m}
			}
			cmd := w.command(append(args, "--", "sh", "-c", script)...)
			cmd.Env = append(cmd.Env, "OUT="+dir)
			p, other := startStalled(t, cmd, stream)
			var pid, key string
			waitUntil(t, "the child's note of its key file", func() bool {
				b, err := os.ReadFile(filepath.Join(dir, "key"))
				pid, key, _ = strings.Cut(strings.TrimSpace(string(b)), " ")
				return err == nil
			})
			// Reaped by ward: ward is past its child's end.
			waitUntil(t, "the child's end", func() bool {
				_, err := os.Stat("/proc/" + pid)
				return os.IsNotExist(err)
			})
			cmd.Process.Signal(syscall.SIGTERM)
			code := exitWithin(t, cmd, 15*time.Second)
			if code != 3 {
				t.Errorf("got exit code %d, want the child's 3", code)
			}
			if _, err := os.Stat(key); !os.IsNotExist(err) {
				t.Errorf("the run's secret file is still there after ward's exit (stat: %v)", err)
			}
			p.noCanary(t, other, v)
			if stream == "stdout" && !strings.Contains(other.String(), "told to stop while the reader of ward's output has not read all of the child's") {
				t.Errorf("ward's stderr does not say the child's output was cut short:\n%s", other.String())
			}
		})
	}
}

// TestExecStalledStderrHearsStop: `ward run --exec` writes its log before
// it becomes the program; with its stderr a pipe whose reader stopped, a
// stop signal then ends the wait: the program never starts, and ward
// exits 128+N with the reason. It waited deaf to it, and a reader that
// read again later found the program started after the stop.
func TestExecStalledStderrHearsStop(t *testing.T) {
	w := newWardEnv(t)
	v := canary("execstall")
	w.set("app/a", v)
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\n")
	dir := t.TempDir()
	started := filepath.Join(dir, "started")
	cmd := w.command("run", "--exec", "--log-level", "debug", "-m", m, "--", "sh", "-c", `touch "$OUT/started"; exec sleep 1000`)
	cmd.Env = append(cmd.Env, "OUT="+dir)
	p, stdout := startStalled(t, cmd, "stderr")
	// ward blocks in a write to the pipe.
	waitPipeWrite(t, cmd.Process.Pid)
	cmd.Process.Signal(syscall.SIGTERM)
	code := exitWithin(t, cmd, 15*time.Second)
	if code != 128+int(syscall.SIGTERM) {
		t.Errorf("got exit code %d, want 143", code)
	}
	if _, err := os.Stat(started); err == nil {
		t.Errorf("the program started after ward was told to stop")
	}
	p.noCanary(t, stdout, v)
}

// TestStalledStderrStopWhileResolving: a stop that comes while a store is
// slow, with ward's stderr a pipe whose reader stopped, ends the run with
// 128+N at once, with --exec and without. The wait for the store heard
// the signal, and ward, having taken it, then waited deaf for the reader
// to take its log and the report of the stop: the SIGKILL after
// `docker stop` ended it, 137. (CI met it as TestExecStalledStderrHearsStop
// failing: its stop came while ward still resolved.)
func TestStalledStderrStopWhileResolving(t *testing.T) {
	w := newWardEnv(t)
	for _, mode := range []string{"supervised", "exec"} {
		t.Run(mode, func(t *testing.T) {
			addr, accepted, _ := silentVault(t)
			m := w.manifest("version: 1\nenv:\n  A: vault://secret/app#a\nrotation:\n  stop_timeout: 1s\n")
			args := []string{"run", "--log-level", "debug", "-m", m}
			if mode == "exec" {
				args = append(args, "--exec")
			}
			cmd := w.command(append(args, "--", "helper", "sleep")...)
			cmd.Env = append(cmd.Env, "VAULT_ADDR="+addr, "VAULT_TOKEN=t")
			_, stdout := startStalled(t, cmd, "stderr")
			select {
			case <-accepted:
			case <-time.After(10 * time.Second):
				t.Fatal("ward's Vault helper never connected")
			}
			cmd.Process.Signal(syscall.SIGTERM)
			if code := exitWithin(t, cmd, 15*time.Second); code != 128+int(syscall.SIGTERM) {
				t.Errorf("got exit code %d, want 143", code)
			}
			if strings.Contains(stdout.String(), "ready") {
				t.Errorf("the program started after ward was told to stop")
			}
		})
	}
}

// TestStopPassedOnThenStalledReader: `docker stop` sends one SIGTERM,
// which ward passes on to the child; the child ends on it, writing its
// last words; with ward's reader stopped (docker's blocking log driver),
// ward then exits with the child's status at once. The signal was the
// child's, and ward, having heard no stop of its own, waited deaf for the
// reader until the SIGKILL after the stop's grace: 137.
func TestStopPassedOnThenStalledReader(t *testing.T) {
	for _, stream := range []string{"stdout", "stderr"} {
		t.Run(stream, func(t *testing.T) {
			w := newWardEnv(t)
			v := canary("passedon")
			w.set("app/a", v)
			m := w.manifest("version: 1\nenv:\n  A: local://app/a\n")
			dir := t.TempDir()
			args := []string{"run", "--mask", "-m", m}
			if stream == "stderr" {
				args = []string{"run", "--log-level", "debug", "-m", m}
			}
			// (Its stderr is ward's, the stopped pipe: nothing on it.)
			script := `trap 'echo "$A"; kill $! 2>/dev/null; exit 3' TERM; touch "$OUT/started"; sleep 1000 & wait`
			if stream == "stderr" {
				script = strings.Replace(script, `echo "$A"`, `echo "${#A}"`, 1)
			}
			cmd := w.command(append(args, "--", "sh", "-c", script)...)
			cmd.Env = append(cmd.Env, "OUT="+dir)
			p, other := startStalled(t, cmd, stream)
			waitUntil(t, "the child's start", func() bool {
				_, err := os.Stat(filepath.Join(dir, "started"))
				return err == nil
			})
			cmd.Process.Signal(syscall.SIGTERM)
			if code := exitWithin(t, cmd, 15*time.Second); code != 3 {
				t.Errorf("got exit code %d, want the child's 3", code)
			}
			p.noCanary(t, other, v)
		})
	}
}
