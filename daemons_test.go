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
