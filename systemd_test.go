package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNotifyRelay plays systemd's side of the notify protocol: ward hands
// the child a socket of its own and relays READY/STATUS/STOPPING as its
// own messages (sent from ward's pid, as NotifyAccess=main requires),
// dropping MAINPID.
func TestNotifyRelay(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	sock := newNotifySocket(t)

	cmd := w.command("run", "-m", m, "--", "helper", "notify", "READY=1", "STATUS=serving", "MAINPID=4242")
	cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+sock.path)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	readLines(t, out).waitFor("notified")

	got, sender, err := sock.next(10 * time.Second)
	if err != nil {
		t.Fatalf("no notify message reached systemd's socket: %v", err)
	}
	if got != "READY=1\nSTATUS=serving" {
		t.Errorf("got message %q, want READY=1 and STATUS without MAINPID", got)
	}
	if sender != cmd.Process.Pid {
		t.Errorf("got the message from pid %d, want ward's pid %d (NotifyAccess=main)", sender, cmd.Process.Pid)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
	if _, err := os.Stat(filepath.Join(w.runtime)); err == nil {
		if files := listFiles(t, w.runtime); len(files) > 0 {
			t.Errorf("left behind: %v", files)
		}
	}
}

// activationSocket is a TCP socket listening on loopback, and its file
// to pass as systemd's socket activation does (LISTEN_FDS); both are
// closed when the test ends.
func activationSocket(t *testing.T) (net.Listener, *os.File) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return ln, f
}

// TestSocketActivation: sockets systemd passed to ward (LISTEN_FDS, with
// LISTEN_PID naming ward) reach the child as fd 3 with LISTEN_PID
// rewritten to the child's pid.
func TestSocketActivation(t *testing.T) {
	for _, execMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("exec=%v", execMode), func(t *testing.T) {
			w := newWardEnv(t)
			m := w.manifest(emptyManifest)
			ln, lf := activationSocket(t)
			ward := "ward run"
			if execMode {
				ward += " --exec"
			}
			// As systemd does: LISTEN_PID is the pid that execs ward.
			cmd := w.command()
			cmd.Path = "/bin/sh"
			cmd.Args = []string{"sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=web exec ` + ward + ` -m ` + m + ` -- helper listen`}
			cmd.ExtraFiles = []*os.File{lf}
			out, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			l := readLines(t, out)
			line := l.waitFor("LISTEN_PID=")
			var listenPid, pid int
			var fds, names string
			fmt.Sscanf(line, "LISTEN_PID=%d pid=%d LISTEN_FDS=%s LISTEN_FDNAMES=%s", &listenPid, &pid, &fds, &names)
			if listenPid != pid || fds != "1" || names != "web" {
				t.Errorf("got %q, want LISTEN_PID equal to the child's pid, LISTEN_FDS=1, LISTEN_FDNAMES=web", line)
			}
			if !execMode && pid == cmd.Process.Pid {
				t.Errorf("the child has ward's pid without --exec")
			}
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			greeting, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if greeting != "hello from the child\n" {
				t.Errorf("got %q from the passed socket, want the child's greeting", greeting)
			}
			if code := exitCode(t, cmd.Wait()); code != 0 {
				t.Errorf("got exit code %d, want 0", code)
			}
		})
	}
}

// TestSocketActivationOfFdsNotPassed: LISTEN_FDS naming fds that were not
// passed (set by hand, or closed by a program in between): the child
// gets no LISTEN_FDS, and ward says why. It handed the child its own
// fds 3 and 4 (the Go runtime's cgroup files) for sockets.
func TestSocketActivationOfFdsNotPassed(t *testing.T) {
	for _, execMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("exec=%v", execMode), func(t *testing.T) {
			w := newWardEnv(t)
			m := w.manifest(emptyManifest)
			ward := "ward run"
			if execMode {
				ward += " --exec"
			}
			cmd := w.command()
			cmd.Path = "/bin/sh"
			cmd.Args = []string{"sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=2 exec ` + ward + ` -m ` + m + ` -- sh -c 'echo "fds=${LISTEN_FDS-none}"'`}
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if code := exitCode(t, cmd.Run()); code != 0 {
				t.Fatalf("got exit code %d, want 0: %s", code, stderr.String())
			}
			if strings.TrimSpace(stdout.String()) != "fds=none" {
				t.Errorf("the child got %q, want no LISTEN_FDS", stdout.String())
			}
			if !strings.Contains(stderr.String(), "was not passed to ward") {
				t.Errorf("ward did not say the fds were not passed: %s", stderr.String())
			}
		})
	}
}

// TestNotifyRelayRestart: while ward restarts the child (rotation), the
// old child's STOPPING=1 is not passed on (systemd would take the service
// for stopping and kill it at TimeoutStopSec, ignoring the new child's
// READY=1); when ward itself is stopped, it is. The child gets
// WATCHDOG_USEC but not WATCHDOG_PID, which names ward: a child that saw
// a pid not its own would never send WATCHDOG=1. A WATCHDOG_PID that
// names another process (a script that runs ward without exec) gives the
// child neither: the watchdog is that process's (it got WATCHDOG_USEC,
// and took itself for watched).
func TestNotifyRelayRestart(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/a", canary("notify1"))
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\nrotation:\n  debounce: 100ms\n")
	sock := newNotifySocket(t)
	next := func(what string) string {
		t.Helper()
		for {
			msg, _, err := sock.next(10 * time.Second)
			if err != nil {
				t.Fatalf("no notify message (%s) reached systemd's socket: %v", what, err)
			}
			// ward's own while the old child stops (see
			// TestNotifyWatchdogRestart).
			if msg != "WATCHDOG=1" {
				return msg
			}
		}
	}
	script := `trap 'helper notify-once STOPPING=1; exit 0' TERM
echo "wd ${WATCHDOG_PID:-none} ${WATCHDOG_USEC:-none}"
helper notify-once READY=1
while :; do sleep 0.05; done`
	other := w.command("run", "-m", m, "--", "sh", "-c", `echo "wd ${WATCHDOG_PID:-none} ${WATCHDOG_USEC:-none}"`)
	other.Env = append(other.Env, "NOTIFY_SOCKET="+sock.path, fmt.Sprintf("WATCHDOG_PID=%d", os.Getpid()), "WATCHDOG_USEC=30000000")
	if out, err := other.Output(); err != nil || string(out) != "wd none none\n" {
		t.Errorf("with WATCHDOG_PID naming another process the child's watchdog variables are %q (%v), want none", out, err)
	}
	// As systemd does: WATCHDOG_PID is the pid that execs ward.
	cmd := w.command()
	cmd.Path = "/bin/sh"
	cmd.Args = []string{"sh", "-c", `WATCHDOG_PID=$$ exec ward run -m "$1" -- sh -c "$2"`, "sh", m, script}
	cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+sock.path, "WATCHDOG_USEC=30000000")
	stdout, _ := started(t, cmd)
	if got := stdout.waitFor("wd "); got != "wd none 30000000" {
		t.Errorf("the child's watchdog variables are %q, want no WATCHDOG_PID and WATCHDOG_USEC=30000000", got)
	}
	if got := next("the first READY"); got != "READY=1" {
		t.Fatalf("got %q, want READY=1", got)
	}
	w.set("app/a", canary("notify2"))
	if got := next("the restarted child's READY"); got != "READY=1" {
		t.Errorf("during the restart systemd got %q, want the new child's READY=1 (the old child's STOPPING=1 dropped)", got)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if got := next("the stop's STOPPING"); got != "STOPPING=1" {
		t.Errorf("at ward's stop systemd got %q, want STOPPING=1", got)
	}
	exitWithin(t, cmd, 15*time.Second)
}

// TestNotifyWatchdogRestart: with WatchdogSec=, while ward restarts the
// child for new secrets (the old child draining for up to stop_timeout,
// no child to send WATCHDOG=1), ward sends WATCHDOG=1 itself, so that
// systemd does not kill the service for a missed watchdog; once the new
// child runs, the watchdog is its own again and ward sends no more.
func TestNotifyWatchdogRestart(t *testing.T) {
	w := newWardEnv(t)
	v1, v2 := canary("wd1"), canary("wd2")
	src := w.mounted(v1)
	m := w.manifest("version: 1\nenv:\n  A: file://" + src + "\nrotation:\n  debounce: 100ms\n  stop_timeout: 20s\n")
	sock := newNotifySocket(t)
	next := func(what string, within time.Duration) (string, int, error) { return sock.next(within) }
	goAhead := filepath.Join(w.dir, "go-ahead")
	script := `trap 'echo stopping; while [ ! -e "$GO_AHEAD" ]; do sleep 0.05; done; exit 0' TERM
helper notify-once READY=1
echo started
while :; do sleep 0.05; done`
	// As systemd does: WATCHDOG_PID is the pid that execs ward.
	cmd := w.command()
	cmd.Path = "/bin/sh"
	cmd.Args = []string{"sh", "-c", `WATCHDOG_PID=$$ exec ward run -m "$1" -- sh -c "$2"`, "sh", m, script}
	cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+sock.path, "WATCHDOG_USEC=400000", "GO_AHEAD="+goAhead)
	stdout, stderr := started(t, cmd)
	stdout.waitFor("started")
	if msg, _, err := next("the first READY", 10*time.Second); msg != "READY=1" {
		t.Fatalf("got %q (%v), want READY=1", msg, err)
	}
	os.WriteFile(src+".new", []byte(v2), 0o600)
	os.Rename(src+".new", src)
	stdout.waitFor("stopping")
	// Two intervals of the watchdog's: systemd kills the service after one.
	for i := 0; i < 2; i++ {
		msg, pid, err := next("ward's WATCHDOG=1 while the old child stops", 10*time.Second)
		if err != nil {
			t.Fatalf("no notify message reached systemd's socket while the old child stopped: %v", err)
		}
		if msg != "WATCHDOG=1" || pid != cmd.Process.Pid {
			t.Fatalf("got %q from pid %d while the old child stopped, want WATCHDOG=1 from ward's pid %d", msg, pid, cmd.Process.Pid)
		}
	}
	os.WriteFile(goAhead, nil, 0o600)
	stdout.waitFor("started")
	for {
		msg, _, err := next("the new child's READY", 10*time.Second)
		if err != nil {
			t.Fatalf("no READY=1 from the new child: %v", err)
		}
		if msg == "READY=1" {
			break
		}
	}
	// The new child's own watchdog now: three of its intervals without a
	// word from ward.
	if msg, _, err := next("nothing", 1200*time.Millisecond); err == nil {
		t.Errorf("got %q after the new child was ready, want nothing from ward", msg)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitWithin(t, cmd, 15*time.Second)
	if strings.Contains(stderr.String(), v1) || strings.Contains(stderr.String(), v2) {
		t.Errorf("a canary is in ward's stderr")
	}
}

// notifySocket plays systemd's notify socket: a unixgram socket that
// receives each message with its sender's credentials.
type notifySocket struct {
	path string
	conn *net.UnixConn
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	raw, _ := conn.SyscallConn()
	raw.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1) })
	return &notifySocket{path: path, conn: conn}
}

// next returns the next message within d and its sender's pid (-1 when
// unknown).
func (s *notifySocket) next(d time.Duration) (string, int, error) {
	s.conn.SetReadDeadline(time.Now().Add(d))
	buf, oob := make([]byte, 4096), make([]byte, 256)
	n, oobn, _, _, err := s.conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return "", 0, err
	}
	msgs, _ := syscall.ParseSocketControlMessage(oob[:oobn])
	pid := -1
	for _, msg := range msgs {
		if cred, err := syscall.ParseUnixCredentials(&msg); err == nil {
			pid = int(cred.Pid)
		}
	}
	return string(buf[:n]), pid, nil
}

// TestJournalPriorities plays journald's side of a service's stderr:
// systemd connects it to the journal and sets JOURNAL_STREAM to its
// device and inode, and journald takes a line's leading "<N>" for its
// priority (SyslogLevelPrefix=, on by default). Every line ward wrote
// was info (6), so `journalctl -p warning` (or an alert on PRIORITY<=3)
// showed none of ward's warnings, nor the error it exited with. ward's
// own lines now carry their priority (the guard's too, which starts with
// no environment); the child's output is left as the child wrote it; a
// JOURNAL_STREAM that is not ward's stderr (inherited by a ward started
// with 2>file) changes nothing.
func TestJournalPriorities(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/a", canary("journal"))
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\n")
	stream := func() (*os.File, string) {
		f, err := os.Create(filepath.Join(t.TempDir(), "journal-stream"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		var st syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		return f, fmt.Sprintf("JOURNAL_STREAM=%d:%d", st.Dev, st.Ino)
	}
	run := func(f *os.File, env []string, args ...string) {
		cmd := w.command(args...)
		cmd.Env = append(cmd.Env, env...)
		cmd.Stderr = f
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exitWithin(t, cmd, 10*time.Second)
	}
	priority := map[string]string{"DEBUG": "<7>", "INFO": "<6>", "WARN": "<4>", "ERROR": "<3>"}
	// lines checks each of ward's lines in f (the child's are childLines)
	// for the priority of its level, and returns the priorities seen.
	lines := func(f *os.File, childLines ...string) map[string]int {
		b, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if slices.Contains(childLines, line) {
				seen["child"]++
				continue
			}
			var rec struct{ Level string }
			prefix, rest, _ := strings.Cut(line, ">")
			prefix += ">"
			switch {
			case strings.HasPrefix(rest, "ward: error: ") || strings.HasPrefix(rest, "ward: hint: "):
				rec.Level = "ERROR"
			case json.Unmarshal([]byte(rest), &rec) != nil:
				t.Errorf("a line that is neither the child's nor one of ward's with its priority: %q", line)
				continue
			}
			if prefix != priority[rec.Level] {
				t.Errorf("a %s line begins with %q, want %q: %q", rec.Level, prefix, priority[rec.Level], line)
			}
			seen[prefix]++
		}
		return seen
	}

	// A run: debug and info lines, a warning (a declared variable
	// replaces an inherited one), and the child's own lines, one of them
	// with a priority of its own.
	f, env := stream()
	run(f, []string{env, "A=inherited"}, "run", "--log-level", "debug", "-m", m, "--", "sh", "-c", `echo child-line >&2; echo "<2>child-critical" >&2`)
	seen := lines(f, "child-line", "<2>child-critical")
	for _, p := range []string{"<7>", "<6>", "<4>", "child"} {
		if seen[p] == 0 {
			t.Errorf("ward run: no %s line (seen: %v)", p, seen)
		}
	}
	// Its error, as ward's "ward: error:" lines (--log-format auto) and as
	// JSON records (json).
	f, env = stream()
	run(f, []string{env, "WARD_LOG_FORMAT="}, "run", "-m", filepath.Join(w.dir, "missing.yaml"), "--", "true")
	run(f, []string{env}, "run", "-m", filepath.Join(w.dir, "missing.yaml"), "--", "true")
	if seen := lines(f); seen["<3>"] != 3 {
		t.Errorf("a failed start: %d lines with priority 3, want 3: the error and hint lines, and the JSON record (seen: %v)", seen["<3>"], seen)
	}
	// The guard's warning when ward is killed with the child's group
	// still running (the kernel ends the child itself: PR_SET_PDEATHSIG).
	f, env = stream()
	cmd := w.command("run", "-m", m, "--", "sh", "-c", "sleep 60 & wait")
	cmd.Env = append(cmd.Env, env)
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if waitGuard(cmd.Process.Pid) == 0 {
		t.Fatal("ward started no guard within 5 s")
	}
	cmd.Process.Kill()
	cmd.Wait()
	waitUntil(t, "the guard's warning", func() bool {
		b, _ := os.ReadFile(f.Name())
		return strings.Contains(string(b), "ward was killed")
	})
	b, _ := os.ReadFile(f.Name())
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "ward was killed") && !strings.HasPrefix(line, "<4>{") {
			t.Errorf("the guard's warning has no warning's priority: %q", line)
		}
	}
	// JOURNAL_STREAM naming another stream than ward's stderr.
	f, _ = stream()
	_, other := stream()
	run(f, []string{other, "A=inherited"}, "run", "-m", m, "--", "true")
	run(f, []string{other, "WARD_LOG_FORMAT="}, "run", "-m", filepath.Join(w.dir, "missing.yaml"), "--", "true")
	b, _ = os.ReadFile(f.Name())
	if len(b) == 0 || strings.Contains("\n"+string(b), "\n<") {
		t.Errorf("with stderr elsewhere than JOURNAL_STREAM's stream, ward's lines have priorities, or there are none:\n%s", b)
	}
}
