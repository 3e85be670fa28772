package main

// The seventeenth run's part on ward inside syscall filters and resource
// limits: a systemd unit's Limit*= and SystemCallFilter=, Docker's
// seccomp profile, a shell's ulimit or prlimit around `ward run`.

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOwnFileSizeSignalNotForwarded: ward's stderr is a log file at the
// file-size limit (a unit's LimitFSIZE= with StandardError=append:, a
// script's `ulimit -f` and `2>>log`): each log line of ward's past the
// limit makes the kernel send it SIGXFSZ. That is ward's own, like the
// SIGPIPE of a closed log pipe; it was forwarded to the child's group,
// whose default action for it is a core dump: a rotation's "secrets
// changed" line killed the child (exit 153).
func TestOwnFileSizeSignalNotForwarded(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/a", canary("fsize1"))
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\nrotation:\n  debounce: 100ms\n  stop_timeout: 5s\n")
	logPath := filepath.Join(w.dir, "ward.log")
	// 64 KiB already, over the limit of 8 blocks (4 KiB in dash's
	// 512-byte blocks, 8 KiB in bash's): every write of ward's to it
	// raises SIGXFSZ.
	if err := os.WriteFile(logPath, bytes.Repeat([]byte("x"), 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	// Each child reads a line, then says goodbye and exits 0.
	cmd := w.command("-c", `ulimit -f 8 && exec ward "$@"`, "sh", "run", "--log-format", "text", "-m", m,
		"--", "sh", "-c", "echo started; read line; echo bye")
	cmd.Path, cmd.Args[0] = "/bin/sh", "sh"
	cmd.Stderr = log
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	stdout := readLines(t, out)
	if line := lineOrExit(t, stdout, cmd, "the first child"); line != "started" {
		t.Fatalf("the child printed %q, want \"started\"", line)
	}
	// A rotation: ward logs the change and the restart, each a write
	// past the limit.
	w.set("app/a", canary("fsize2"))
	if line := lineOrExit(t, stdout, cmd, "the restarted child"); line != "started" {
		t.Fatalf("after the rotation the child printed %q, want the restarted child's \"started\"", line)
	}
	if _, err := in.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	if line := lineOrExit(t, stdout, cmd, "the child's goodbye"); line != "bye" {
		t.Errorf("the restarted child printed %q, want \"bye\"", line)
	}
	if code := exitWithin(t, cmd, time.Minute); code != 0 {
		t.Errorf("ward exited %d, want the child's 0 (153 is SIGXFSZ: ward forwarded the signal the kernel sent it for its own log write)", code)
	}
	b, _ := os.ReadFile(logPath)
	if len(b) != 64<<10 {
		t.Errorf("the log file is %d bytes, want the 65536 it had: the limit let a write through", len(b))
	}
}

// TestOwnCPUSignalNotForwarded: ward's own CPU time (here its masking of
// the child's output) reaches the soft RLIMIT_CPU (LimitCPU=, `ulimit
// -t`), and the kernel sends ward SIGXCPU, each second from then on. The
// child has a CPU count of its own and was well within it; ward forwarded
// the signal to its group, whose default action for it is a core dump:
// the child died of it (exit 152). Now ward warns once and keeps the
// child running.
func TestOwnCPUSignalNotForwarded(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/a", canary("cpu"))
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\n")
	stop := filepath.Join(w.dir, "stop")
	// The child writes zeros through ward's masking until told to stop;
	// each head is a process of its own, with its own CPU count, and the
	// shell waits for it.
	script := `while [ ! -e "$0" ]; do head -c 50000000 /dev/zero; done; echo bye >&2`
	// The soft limit: 1 s; the hard one stays unlimited, so the kernel
	// never kills ward for it.
	cmd := w.command("-c", `ulimit -S -t 1 && exec ward "$@"`, "sh", "run", "--mask", "--log-format", "text", "-m", m,
		"--", "sh", "-c", script, stop)
	cmd.Path, cmd.Args[0] = "/bin/sh", "sh"
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	cmd.Stdout = devnull
	errp, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	stderr := readLines(t, errp)
	for {
		if strings.Contains(lineOrExit(t, stderr, cmd, "ward's warning"), "ward's own CPU time reached its soft limit") {
			break
		}
	}
	if err := os.WriteFile(stop, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	stderr.waitFor("bye")
	if code := exitWithin(t, cmd, 2*time.Minute); code != 0 {
		t.Errorf("ward exited %d, want the child's 0 (152 is SIGXCPU: ward forwarded the signal the kernel sent it for its own CPU time)", code)
	}
	for line := range stderr.ch {
		if strings.Contains(line, "CPU time reached") {
			t.Errorf("ward warned about its CPU time twice: %q", line)
		}
	}
}

// TestSentCPUSignalForwarded: a SIGXCPU sent with kill (a batch system's
// soft CPU limit: SGE and LSF warn a job with it) still reaches the
// child, as every signal a person sends does.
func TestSentCPUSignalForwarded(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/a", canary("xcpu-kill"))
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\n")
	cmd := w.command("run", "-m", m, "--", "helper", "signals", "--exit-on", "XCPU")
	stdout, _ := started(t, cmd)
	stdout.waitFor("child ready")
	if err := cmd.Process.Signal(syscall.SIGXCPU); err != nil {
		t.Fatal(err)
	}
	if line := stdout.waitFor("child SIG"); line != "child SIGXCPU" {
		t.Errorf("the child got %q, want SIGXCPU", line)
	}
	if code := exitWithin(t, cmd, time.Minute); code != 0 {
		t.Errorf("ward exited %d, want the child's 0", code)
	}
}

// lineOrExit returns the next line of l; when l ends first, it fails the
// test with ward's exit code (the signal that ended its child, in 128+N).
func lineOrExit(t *testing.T, l *lines, cmd *exec.Cmd, what string) string {
	t.Helper()
	select {
	case line, ok := <-l.ch:
		if ok {
			return line
		}
		t.Fatalf("ward's output ended while waiting for %s: ward exited %d", what, exitWithin(t, cmd, time.Minute))
	case <-time.After(waitLimit):
		t.Fatalf("no line within %v while waiting for %s", waitLimit, what)
	}
	return ""
}
