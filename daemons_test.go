package main

// The eighteenth run's part on programs that daemonize, fork away or
// replace themselves under `ward run`: a child that starts a daemon and
// exits (redis-server --daemonize yes, pg_ctl start, setsid -f, a
// script's server &), double forks, exec chains, ward as PID 1, --mask,
// --signal-child-only, and the run's files while such daemons run.

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// daemonPid reads the pid a daemon wrote to file, and kills it when the
// test ends (ward, not PID 1, leaves it running).
func daemonPid(t *testing.T, file string) int {
	t.Helper()
	var pid int
	waitUntil(t, "the daemon's pid file", func() bool {
		b, err := os.ReadFile(file)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	return pid
}

// TestMaskDaemonKeepsOutputOpen: under --mask, a child that starts a
// daemon in a session of its own (setsid -f, pg_ctl start without -l,
// nohup server & under setsid) and exits leaves the daemon holding the
// other end of ward's output pipes. ward ends its relays once they have
// been quiet, as it always did, and exits with the child's status; it
// logged, for each of its two pipes, an error that the child's output
// could not be written ("read |0: file already closed"): its own close,
// read as a failure, though nothing was lost.
func TestMaskDaemonKeepsOutputOpen(t *testing.T) {
	w := newWardEnv(t)
	value := canary("maskdaemon")
	w.set("TOKEN", value)
	m := w.manifest("version: 1\nenv:\n  TOKEN: {ref: local://TOKEN}\n")
	pidFile := filepath.Join(w.dir, "daemon.pid")
	script := `setsid -f sh -c 'echo "$$" > ` + pidFile + `; echo daemon up; exec sleep 600'
while [ ! -s ` + pidFile + ` ]; do sleep 0.01; done
echo "child $TOKEN"; exit 3`
	cmd := w.command("run", "--mask", "-m", m, "--", "sh", "-c", script)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	daemonPid(t, pidFile)
	code := exitWithin(t, cmd, 30*time.Second)
	out, errs := redactAll(stdout.String(), value), redactAll(stderr.String(), value)
	if out != stdout.String() || errs != stderr.String() {
		t.Errorf("the canary is in ward's output")
	}
	if code != 3 {
		t.Errorf("got exit code %d, want the child's 3 (stderr: %s)", code, errs)
	}
	if !strings.Contains(out, "child <ward:TOKEN>") {
		t.Errorf("the child's line is missing or not masked: %q", out)
	}
	if strings.Contains(errs, `"level":"ERROR"`) || strings.Contains(errs, "cannot be written") {
		t.Errorf("ward logged an error of its own close of a pipe the daemon keeps open:\n%s", errs)
	}
}

// TestDaemonLeftRunningIsSaid: a child that starts a daemon and exits
// (redis-server --daemonize yes, pg_ctl start, setsid -f, nginx with its
// default `daemon on`) leaves it running with the secrets in its
// environment when ward is not PID 1, as documented, and ward removes
// the run's secret files under it. ward now says so as it exits, naming
// the daemon, and what to do; it exited 0 without a word. A server the
// child left in its own process group (a script's `server &`) is
// stopped, as before, which ward now says at info (a CI step's
// start-services.sh found its `server &` gone, and ward had said
// nothing); under --signal-child-only it is left running, which is said
// too.
func TestDaemonLeftRunningIsSaid(t *testing.T) {
	w := newWardEnv(t)
	value := canary("daemonleft")
	w.set("TOKEN", value)
	m := w.manifest("version: 1\nenv:\n  TOKEN: {ref: local://TOKEN}\nfiles:\n  - {path: token.txt, ref: local://TOKEN, env: TOKEN_FILE}\n")
	run := func(t *testing.T, pidFile string, args ...string) (code int, errs string) {
		t.Helper()
		cmd := w.command(args...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		code = exitWithin(t, cmd, 30*time.Second)
		if strings.Contains(stdout.String()+stderr.String(), value) {
			t.Errorf("the canary is in ward's output")
		}
		return code, redactAll(stderr.String(), value)
	}
	said := func(errs string) bool { return strings.Contains(errs, "the child left processes running") }
	// The log's list of processes, pid first: the program (sh, or sleep
	// once it has run exec) may be either.
	named := func(pid int) string { return `"processes":"` + strconv.Itoa(pid) + " " }

	t.Run("setsid-f", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "daemon.pid")
		script := `setsid -f sh -c 'echo "$$" > ` + pidFile + `; exec sleep 600' < /dev/null > /dev/null 2>&1
while [ ! -s ` + pidFile + ` ]; do sleep 0.01; done
exit 0`
		code, errs := run(t, pidFile, "run", "-m", m, "--", "sh", "-c", script)
		pid := daemonPid(t, pidFile)
		if syscall.Kill(pid, 0) != nil {
			t.Fatalf("the daemon is gone: ward, not PID 1, stopped it (stderr: %s)", errs)
		}
		if code != 0 {
			t.Errorf("got exit code %d, want the child's 0 (stderr: %s)", code, errs)
		}
		if !said(errs) || !strings.Contains(errs, named(pid)) || !strings.Contains(errs, "secret files are removed") || !strings.Contains(errs, "PID 1") {
			t.Errorf("ward did not say that it leaves the daemon %d running with the secrets, its files removed:\n%s", pid, errs)
		}
	})
	t.Run("background server in its group", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "server.pid")
		script := `sh -c 'echo "$$" > ` + pidFile + `; exec sleep 600' < /dev/null > /dev/null 2>&1 &
while [ ! -s ` + pidFile + ` ]; do sleep 0.01; done
exit 0`
		code, errs := run(t, pidFile, "run", "-m", m, "--", "sh", "-c", script)
		pid := daemonPid(t, pidFile)
		if code != 0 {
			t.Errorf("got exit code %d, want the child's 0 (stderr: %s)", code, errs)
		}
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("the child's server & runs on after ward exited")
		}
		if said(errs) {
			t.Errorf("ward said it leaves running what it stopped:\n%s", errs)
		}
		if !strings.Contains(errs, "stopping what the child left running in its process group") || !strings.Contains(errs, named(pid)) {
			t.Errorf("ward did not say that it stops the server %d the child left in its group:\n%s", pid, errs)
		}
	})
	t.Run("nested ward guard", func(t *testing.T) {
		// A nested `ward run`'s guard, orphaned to this ward as the
		// nested one exits, ends moments later: it is no daemon of the
		// child's. Held here on a FIFO, so that it is still there.
		fifo := filepath.Join(t.TempDir(), "guard.in")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		hold, err := os.OpenFile(fifo, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer hold.Close()
		script := `setsid -f ward __ward-guard 7s - json:INFO 0 < ` + fifo + ` > /dev/null 2>&1
while ! pgrep -f -- "__ward-guard 7s - json:INFO 0" > /dev/null; do sleep 0.01; done
exit 0`
		code, errs := run(t, "", "run", "-m", m, "--", "sh", "-c", script)
		if code != 0 {
			t.Errorf("got exit code %d, want the child's 0 (stderr: %s)", code, errs)
		}
		if said(errs) {
			t.Errorf("ward named a nested ward's guard as a process the child left running:\n%s", errs)
		}
	})
	t.Run("signal-child-only", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "server.pid")
		script := `sh -c 'echo "$$" > ` + pidFile + `; exec sleep 600' < /dev/null > /dev/null 2>&1 &
while [ ! -s ` + pidFile + ` ]; do sleep 0.01; done
exit 0`
		code, errs := run(t, pidFile, "run", "--signal-child-only", "-m", m, "--", "sh", "-c", script)
		pid := daemonPid(t, pidFile)
		if code != 0 {
			t.Errorf("got exit code %d, want the child's 0 (stderr: %s)", code, errs)
		}
		if !said(errs) || !strings.Contains(errs, named(pid)) || !strings.Contains(errs, "--signal-child-only") {
			t.Errorf("ward did not say that --signal-child-only leaves the server %d running with the secrets:\n%s", pid, errs)
		}
	})
}

// TestMaskChattyDaemonDoesNotHoldWard: under --mask, a child that starts
// a daemon that keeps writing to the output it inherited (a server that
// logs to stdout, started with setsid -f, or pg_ctl start without -l)
// and exits: ward passes on everything the child wrote, then exits with
// its status. It relayed the daemon's output for as long as it kept
// coming, never exited, and, its signals no longer handled, ignored the
// SIGTERM of a `timeout` or a CI's cancel.
func TestMaskChattyDaemonDoesNotHoldWard(t *testing.T) {
	w := newWardEnv(t)
	value := canary("chatty")
	w.set("TOKEN", value)
	m := w.manifest("version: 1\nenv:\n  TOKEN: {ref: local://TOKEN}\n")
	pidFile := filepath.Join(t.TempDir(), "daemon.pid")
	script := `setsid -f sh -c 'trap "" PIPE; echo "$$" > ` + pidFile + `; while :; do echo "tick $TOKEN"; sleep 0.05; done'
while [ ! -s ` + pidFile + ` ]; do sleep 0.01; done
i=0; while [ $i -lt 2000 ]; do echo "line $i $TOKEN"; i=$((i+1)); done
echo "child done"; exit 6`
	cmd := w.command("run", "--mask", "-m", m, "--", "sh", "-c", script)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	daemonPid(t, pidFile)
	code := exitWithin(t, cmd, 30*time.Second)
	out, errs := stdout.String(), stderr.String()
	if strings.Contains(out+errs, value) {
		t.Errorf("the canary is in ward's output")
	}
	if code != 6 {
		t.Errorf("got exit code %d, want the child's 6 (stderr: %s)", code, errs)
	}
	for i := 0; i < 2000; i++ {
		if !strings.Contains(out, "line "+strconv.Itoa(i)+" <ward:TOKEN>\n") {
			t.Fatalf("the child's line %d is missing: ward did not pass on all it wrote", i)
		}
	}
	if !strings.Contains(out, "child done\n") {
		t.Errorf("the child's last line is missing")
	}
}
