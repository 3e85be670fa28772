package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"golang.org/x/sys/unix"
)

// The process managers people put in front of ward (s6, runit, dumb-init,
// a container's init), played by the real programs: what they give the
// program they supervise, and what they expect back.

// serviceDir writes a service directory (s6's and runit's, after
// daemontools) under w's directory whose run script execs ward with args
// (its stderr on stdout), and returns its path. notifyFD, when not empty,
// is s6's notification-fd.
func serviceDir(t *testing.T, w *wardEnv, notifyFD string, args ...string) string {
	t.Helper()
	dir := filepath.Join(w.dir, "service")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var run strings.Builder
	run.WriteString("#!/bin/sh\nexec 2>&1\nexec ward")
	for _, a := range args {
		run.WriteString(" '" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	run.WriteString("\n")
	if err := os.WriteFile(filepath.Join(dir, "run"), []byte(run.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	if notifyFD != "" {
		if err := os.WriteFile(filepath.Join(dir, "notification-fd"), []byte(notifyFD+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// supervise starts a service manager, argv, with w's environment and its
// stdout read line by line, and runs stop (which brings the service down
// and the manager to its end) when the test ends.
func supervise(t *testing.T, env []string, stop []string, argv ...string) (*exec.Cmd, *lines) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	out, _ := started(t, cmd)
	t.Cleanup(func() {
		exec.Command(stop[0], stop[1:]...).Run()
		exitWithin(t, cmd, 20*time.Second)
	})
	return cmd, out
}

// TestS6ReadinessAfterRotation: under s6 with a notification-fd, the
// child announces that it is ready by writing a line to fd 3, and
// s6-supervise closes the pipe once it has read it. A child restarted for
// new secrets announces itself again: it must not die of SIGPIPE there,
// which took ward down with 141 and made s6 restart the whole service.
func TestS6ReadinessAfterRotation(t *testing.T) {
	needProgram(t, "s6-supervise", "s6")
	w := newWardEnv(t)
	w.set("app/token", canary("s6a"))
	m := w.manifest("version: 1\nenv:\n  TOKEN: local://app/token\nrotation:\n  debounce: 200ms\n  stop_timeout: 5s\n")
	dir := serviceDir(t, w, "3", "run", "-m", m, "--", "sh", "-c", `printf '\n' >&3; echo "notified by $$ under $PPID"; exec sleep 600`)
	_, out := supervise(t, w.env, []string{"s6-svc", "-xd", dir}, "s6-supervise", dir)

	first := strings.Fields(out.waitFor("notified by "))
	if err := exec.Command("s6-svwait", "-U", "-t", "10000", dir).Run(); err != nil {
		t.Fatalf("s6-svwait -U: the service is not ready: %v", err)
	}
	w.set("app/token", canary("s6b"))
	second := strings.Fields(out.waitFor("notified by "))
	if second[2] == first[2] {
		t.Fatalf("the child was not restarted (pid %s)", first[2])
	}
	if second[4] != first[4] {
		t.Fatalf("s6 restarted the service: ward %s became %s (the restarted child died writing its readiness line?)", first[4], second[4])
	}
	st, err := exec.Command("s6-svstat", "-o", "up,ready,pid", dir).Output()
	if got, want := strings.TrimSpace(string(st)), "true true "+first[4]; err != nil || got != want {
		t.Errorf("s6-svstat: got %q (%v), want %q", got, err, want)
	}
}

// TestDumbInitCtrlZ: dumb-init in front of ward on a terminal (`docker
// run -it` with dumb-init as the entrypoint) puts ward in a session of its
// own, which the kernel spares a terminal's stop: Ctrl-Z there does
// nothing to a program run without ward. It stopped ward's child, and ward
// after it, with no shell to continue either: the terminal hung, Ctrl-C
// included.
func TestDumbInitCtrlZ(t *testing.T) {
	needProgram(t, "dumb-init", "dumb-init")
	ctrlZOnTerminal(t, "exec dumb-init ward run")
}

// ctrlZOnTerminal runs `PREFIX -m MANIFEST -- CHILD` on a terminal (prefix
// runs ward run and its flags) and types Ctrl-Z, then Ctrl-C: the child
// must go on after the first (the kernel discards a terminal's stop for a
// group no shell controls, so nothing continues a stopped child there)
// and end by its INT trap, 3, after the second.
func ctrlZOnTerminal(t *testing.T, prefix string) {
	t.Helper()
	w := newWardEnv(t)
	w.set("app/token", canary("ctrlz"))
	m := w.manifest("version: 1\nenv:\n  TOKEN: local://app/token\n")
	term := newTerminal(t, w)
	term.send(prefix + " -m " + m + ` -- bash -c 'trap "echo go""t-int; exit 3" INT; trap "echo contin""ued" CONT; echo rea""dy; while :; do sleep 0.1; done'` + "\n")
	term.expect(`ready`)
	term.send("\x1a")
	term.expect(`continued`)
	term.send("\x03")
	term.expect(`got-int`)
	if code := exitWithin(t, term.cmd, 10*time.Second); code != 3 {
		t.Errorf("got exit code %d, want the child's 3", code)
	}
}

// TestMaskCtrlZWithoutShell: under --mask on a terminal, the child runs in
// a pseudo-terminal session of ward's, led by `__ward-session`, which
// stopped itself with SIGSTOP whatever stopped the child. Where no shell
// controls ward (PID 1 under `docker run -it`, dumb-init in front of it)
// a Ctrl-Z stopped the child for good: as PID 1 ward left a child
// "stopped by SIGSTOP" stopped, behind dumb-init it followed it into the
// stop, and the terminal hung, Ctrl-C included.
func TestMaskCtrlZWithoutShell(t *testing.T) {
	tests := []struct {
		name    string
		program string // what runs ward
		pkg     string
		prefix  string
	}{
		{"dumb-init", "dumb-init", "dumb-init", "exec dumb-init ward"},
		{"PID 1", "unshare", "util-linux", "exec unshare --pid --fork --mount-proc ward"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			needProgram(t, tt.program, tt.pkg)
			if tt.program == "unshare" {
				if b, err := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "true").CombinedOutput(); err != nil {
					vaulttest.RequireIntegration(t, "cannot create a PID namespace here: "+string(b))
				}
			}
			ctrlZOnTerminal(t, tt.prefix+" run --mask")
		})
	}
}

// TestRunitReloadWhileResolving: `sv hup` (or supervisorctl's `signal
// HUP`, `systemctl reload`, logrotate's `kill -HUP`) while ward still
// resolves, a store slow to answer at boot. Without a terminal a SIGHUP is
// a reload, and the child, not started yet, will read its configuration
// anyway: ward took it for a stop and ended the run with 129, and
// runsv started it all again (a manager that restarts only on failure
// left the service down).
func TestRunitReloadWhileResolving(t *testing.T) {
	needProgram(t, "runsv", "runit")
	w := newWardEnv(t)
	value := canary("runit")
	w.set("app/a", value)
	// The local store waits for its identity, read from a FIFO: a store
	// slow to answer, which answers once the test writes to it.
	identity, err := os.ReadFile(filepath.Join(w.dir, "config", "ward", "identity.txt"))
	if err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(w.dir, "identity")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\n")
	dir := serviceDir(t, w, "", "run", "-m", m, "--", "sh", "-c", `echo "started under $PPID with $(printf %s "$A" | wc -c) bytes"; exec sleep 600`)
	runsv, out := supervise(t, append(w.env, "WARD_IDENTITY="+fifo), []string{"sv", "exit", dir}, "runsv", dir)

	ward := onlyChild(t, runsv.Process.Pid)
	waitOpening(t, ward)
	if b, err := exec.Command("sv", "hup", dir).CombinedOutput(); err != nil {
		t.Fatalf("sv hup: %v: %s", err, b)
	}
	line := out.skipUntil("the reload's log line", func(l string) bool {
		return strings.Contains(l, "while resolving")
	})
	if !strings.Contains(line, "reload") {
		t.Fatalf("ward took sv hup for a stop: %s", line)
	}
	f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(identity)
	f.Close()
	want := fmt.Sprintf("started under %d with %d bytes", ward, len(value))
	if got := out.waitFor("started under "); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
