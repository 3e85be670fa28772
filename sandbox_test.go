package main

// The seventeenth run's part on ward inside syscall filters and resource
// limits: a systemd unit's Limit*= and SystemCallFilter=, Docker's
// seccomp profile, a shell's ulimit or prlimit around `ward run`.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/testdata/helper"
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
	cmd := underShell(w, "ulimit -S -t 1", "run", "--mask", "--log-format", "text", "-m", m, "--", "sh", "-c", script, stop)
	stderr := startOutputDiscarded(t, cmd)
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

var seccompProgram = &testProgram{pkg: "./testdata/seccomp"}

// underFilter returns ward's arguments run under testdata/seccomp with
// the filter's arguments: the command w.command makes, with the filter
// program in front.
func underFilter(t *testing.T, w *wardEnv, filter []string, args ...string) *exec.Cmd {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("testdata/seccomp builds x86-64 filters only")
	}
	cmd := w.command()
	cmd.Path = seccompProgram.build(t)
	cmd.Args = append(append(append([]string{"seccomp"}, filter...), "--", "ward"), args...)
	return cmd
}

// TestSystemCallFilter: ward under `SystemCallFilter=@system-service`
// and the `~@privileged @resources` that `systemd-analyze security`
// suggests, with the filter's default action (the process killed by
// SIGSYS) and with SystemCallErrorNumber=EPERM: the child starts with
// its secrets, its files, masked or by --exec. ward moved its threads to
// one CPU with sched_setaffinity (of @resources) as it set up its signal
// handling, and died of SIGSYS before it started anything: exit 159, no
// word (on a machine of one CPU it never moved them).
func TestSystemCallFilter(t *testing.T) {
	w := newWardEnv(t)
	secret := canary("seccomp")
	w.set("app/a", secret)
	withFile := w.manifest("version: 1\nenv:\n  A: local://app/a\nfiles:\n  - path: a.txt\n    ref: local://app/a\n    env: A_FILE\n")
	envOnly := w.manifest("version: 1\nenv:\n  A: local://app/a\n")
	for _, action := range []string{"kill", "EPERM"} {
		for _, tc := range []struct {
			name string
			args []string
			file bool
		}{
			{name: "files", args: []string{"run", "-m", withFile, "--", "sh", "-c", `helper env && helper file "$A_FILE"`}, file: true},
			{name: "mask", args: []string{"run", "--mask", "-m", withFile, "--", "sh", "-c", `helper env && helper file "$A_FILE"`}, file: true},
			{name: "exec", args: []string{"run", "--exec", "-m", envOnly, "--", "helper", "env"}},
		} {
			t.Run(action+"/"+tc.name, func(t *testing.T) {
				cmd := underFilter(t, w, []string{"-allow", "system-service", "-action", action}, tc.args...)
				var out, errb strings.Builder
				cmd.Stdout, cmd.Stderr = &out, &errb
				err := cmd.Run()
				if strings.Contains(out.String()+errb.String(), secret) {
					t.Fatalf("the secret is in ward's output")
				}
				if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					t.Fatalf("ward was killed by %v (SIGSYS: a call the filter kills for); stderr:\n%s", ws.Signal(), errb.String())
				}
				if code := exitCode(t, err); code != 0 {
					t.Fatalf("exit %d, want 0; stderr:\n%s", code, errb.String())
				}
				if !strings.Contains("\n"+out.String(), "\nA "+helper.Hash(secret)+"\n") {
					t.Errorf("the child does not have A; its output:\n%s", out.String())
				}
				if tc.file && !strings.Contains(out.String(), "hash="+helper.Hash(secret)) {
					t.Errorf("the child's file does not hold the secret; its output:\n%s", out.String())
				}
			})
		}
	}
}

// underShell returns w.command running `sh -c 'LIMIT && exec ward ARGS'`:
// ward started under a shell's ulimit, as a script or a unit's Limit*=
// starts it.
func underShell(w *wardEnv, limit string, args ...string) *exec.Cmd {
	cmd := w.command(append([]string{"-c", limit + ` && exec ward "$@"`, "sh"}, args...)...)
	cmd.Path, cmd.Args[0] = "/bin/sh", "sh"
	return cmd
}

// startOutputDiscarded starts cmd with its stdout on /dev/null (a
// child's output too much to keep) and returns its stderr's lines; the
// process is killed when the test ends.
func startOutputDiscarded(t *testing.T, cmd *exec.Cmd) *lines {
	t.Helper()
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { devnull.Close() })
	cmd.Stdout = devnull
	errp, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return readLines(t, errp)
}

// TestFileSizeLimitNamed: a secret file, or the local store, that ward
// cannot write for the file-size limit (`ulimit -f`, LimitFSIZE=) fails
// with 125 and a hint naming the limit, and starts nothing; the store is
// left whole. It said "write .../cert.pem: file too large" and no more,
// of a file of a few KiB on a tmpfs with room to spare.
func TestFileSizeLimitNamed(t *testing.T) {
	w := newWardEnv(t)
	small, big := canary("fsize-small"), canary("fsize-big")+strings.Repeat("b", 40<<10)
	w.set("app/small", small)
	w.set("app/cert", big)
	m := w.manifest("version: 1\nenv:\n  SMALL: local://app/small\nfiles:\n  - path: cert.pem\n    ref: local://app/cert\n    env: CERT_FILE\n")
	marker := filepath.Join(w.dir, "started")
	// 32 blocks: 16 KiB in dash's 512-byte blocks, 32 KiB in bash's.
	const limit = "ulimit -f 32"
	check := func(what string, cmd *exec.Cmd) {
		t.Helper()
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		code := exitCode(t, cmd.Run())
		for _, c := range w.canaries {
			if strings.Contains(out.String()+errb.String(), c[:24]) {
				t.Errorf("%s: a value is in ward's output", what)
			}
		}
		if code != 125 || !strings.Contains(errb.String(), "file too large") || !strings.Contains(errb.String(), "ulimit -f") || !strings.Contains(errb.String(), "LimitFSIZE=") {
			t.Errorf("%s: exit %d, stderr:\n%s\nwant 125 and a hint naming the file-size limit (ulimit -f, LimitFSIZE=)", what, code, errb.String())
		}
	}
	check("ward run", underShell(w, limit, "run", "-m", m, "--", "helper", "touch", marker))
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the child started without its file")
	}
	// The store, some 60 KiB with the certificate, cannot be written
	// again whole: the set fails, and the store is as it was.
	set := underShell(w, limit, "local", "set", "app/other")
	set.Stdin = strings.NewReader(canary("fsize-other"))
	check("ward local set", set)
	code, out, _ := w.run("run", "-m", w.manifest("version: 1\nenv:\n  SMALL: local://app/small\n"), "--", "helper", "env")
	if code != 0 || !strings.Contains("\n"+out, "\nSMALL "+helper.Hash(small)+"\n") {
		t.Errorf("after the refused set, a run from the store: exit %d, want 0 and the value", code)
	}
}

// TestRotationPastTheFileSizeLimit: a rotation whose new file is over
// the file-size limit ward was started with (`ulimit -f`, LimitFSIZE=)
// leaves the child running on its old files, as one that would not fit
// on the tmpfs does, and says why; a later value that fits is taken. On
// a restart ward stopped the child, could not write the file, and
// exited 125: a certificate bundle that grew took the service down. On a
// signal (on_change: signal) the files before the refused one were
// rewritten and those after it not, and the child kept that mix.
func TestRotationPastTheFileSizeLimit(t *testing.T) {
	for _, onChange := range []string{"restart", "signal"} {
		t.Run(onChange, func(t *testing.T) {
			w := newWardEnv(t)
			a1, b1 := canary("fsize-a1"), canary("fsize-b1")
			w.set("app/a", a1)
			w.set("app/b", b1)
			m := w.manifest("version: 1\nfiles:\n  - path: a.txt\n    ref: local://app/a\n  - path: b.txt\n    ref: local://app/b\nrotation:\n  on_change: " + onChange + "\n  signal: SIGHUP\n  debounce: 1s\n")
			// 32 blocks: 16 KiB in dash's 512-byte blocks, 32 KiB in bash's.
			cmd := underShell(w, "ulimit -f 32", "run", "-m", m, "--", "helper", "signals")
			stdout, stderr := startedLines(t, cmd)
			stdout.waitFor("child ready")
			files, _ := filepath.Glob(filepath.Join(w.runtime, "ward-*", "run-*", "[ab].txt"))
			if len(files) != 2 {
				t.Fatalf("got %v, want the child's two files", files)
			}
			// a's new value fits, b's does not: the child keeps both old.
			w.setTogether("app/a", canary("fsize-a2"), "app/b", canary("fsize-b2")+strings.Repeat("b", 40<<10))
			line := lineOrExit(t, stderr, cmd, "ward's error")
			for !strings.Contains(line, "keep") {
				line = lineOrExit(t, stderr, cmd, "ward's error")
			}
			if !strings.Contains(line, "file-size limit") || !strings.Contains(line, "ulimit -f") {
				t.Errorf("ward's error does not name the file-size limit: %q", line)
			}
			for i, want := range []string{a1, b1} {
				if got, err := os.ReadFile(files[i]); err != nil || string(got) != want {
					t.Errorf("%s after the refused rotation: %d bytes (err %v), want the old %d", filepath.Base(files[i]), len(got), err, len(want))
				}
			}
			// A value that fits is taken.
			b3 := canary("fsize-b3")
			w.set("app/b", b3)
			if onChange == "restart" {
				stdout.waitFor("child ready")
			} else {
				stdout.waitFor("child SIGHUP")
			}
			files, _ = filepath.Glob(filepath.Join(w.runtime, "ward-*", "run-*", "b.txt"))
			if len(files) != 1 {
				t.Fatalf("got %v, want the child's b.txt", files)
			}
			if got, err := os.ReadFile(files[0]); err != nil || string(got) != b3 {
				t.Errorf("b.txt after a value that fits: %d bytes (err %v), want the new %d", len(got), err, len(b3))
			}
			cmd.Process.Signal(syscall.SIGTERM)
			if code := exitWithin(t, cmd, time.Minute); code != 0 {
				t.Errorf("ward exited %d, want the child's 0 (helper signals exits 0 on SIGTERM)", code)
			}
		})
	}
}

// TestRotationPastTheLimitDuringStop: a secret file that grows past the
// file-size limit ward was started with while the old child of a
// restart stops (the restart began for another secret): the new child
// starts with the values that began the restart, as the log says, and
// the grown one comes back as a change of its own, refused while it
// cannot be written (the child runs on). ward read it again after the
// stop, could not write it, and ended the run with 125, nothing running.
func TestRotationPastTheLimitDuringStop(t *testing.T) {
	w := newWardEnv(t)
	a1, b1, a2 := canary("stop-a1"), canary("stop-b1"), canary("stop-a2")
	w.set("app/a", a1)
	w.set("app/b", b1)
	m := w.manifest("version: 1\nfiles:\n  - path: a.txt\n    ref: local://app/a\n  - path: b.txt\n    ref: local://app/b\nrotation:\n  debounce: 100ms\n  stop_timeout: 20s\n")
	goAhead := filepath.Join(w.dir, "go-ahead")
	cmd := underShell(w, "ulimit -f 32", "run", "-m", m, "--", "sh", "-c", `trap 'echo stopping; while [ ! -e "$0" ]; do sleep 0.05; done; exit 0' TERM; echo up; while :; do sleep 0.05; done`, goAhead)
	stdout, stderr := startedLines(t, cmd)
	stdout.waitFor("up")
	w.set("app/a", a2)
	stdout.waitFor("stopping")
	w.set("app/b", canary("stop-b2")+strings.Repeat("b", 40<<10))
	os.WriteFile(goAhead, nil, 0o600)
	line := lineOrExit(t, stderr, cmd, "ward's warning")
	for !strings.Contains(line, "changed again while the old child stopped") {
		line = lineOrExit(t, stderr, cmd, "ward's warning")
	}
	if !strings.Contains(line, "file-size limit") {
		t.Errorf("the warning does not name the file-size limit: %q", line)
	}
	stdout.waitFor("up")
	for name, want := range map[string]string{"a.txt": a2, "b.txt": b1} {
		files, _ := filepath.Glob(filepath.Join(w.runtime, "ward-*", "run-*", name))
		if len(files) != 1 {
			t.Fatalf("got %v, want the new child's %s", files, name)
		}
		if got, err := os.ReadFile(files[0]); err != nil || string(got) != want {
			t.Errorf("%s of the new child: %d bytes (err %v), want the %d of the values that began the restart", name, len(got), err, len(want))
		}
	}
	for !strings.Contains(line, "the child keeps running on the old ones") {
		line = lineOrExit(t, stderr, cmd, "the refusal of the grown secret")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitWithin(t, cmd, time.Minute); code != 0 {
		t.Errorf("ward exited %d, want the child's 0", code)
	}
	stderr.noCanary(t, w.canaries...)
}

// TestRestartedChildCPULimit: a child restarted after ward's own CPU time
// passed the soft RLIMIT_CPU (`ulimit -t`, LimitCPU=) gets the limit ward
// was started with. The kernel raises a process's soft limit by a second
// at each SIGXCPU it sends it, and the restarted child inherited ward's
// raised limit: 2 or more, not 1. (ward gives the child its limit just
// after the exec: the limit counts the child's CPU time, of which it has
// had a millisecond at most; a program that read its limit in that
// instant would see ward's. The test reads it once ward has said the
// child started.)
func TestRestartedChildCPULimit(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/a", canary("cpu-restart1"))
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\nrotation:\n  debounce: 100ms\n  stop_timeout: 5s\n")
	stop := filepath.Join(w.dir, "stop")
	// The first child writes zeros through ward's masking until told to
	// stop, to spend ward's CPU time; each child then sleeps.
	script := `while [ ! -e "$0" ]; do head -c 50000000 /dev/zero; done; exec sleep 1000`
	cmd := underShell(w, "ulimit -S -t 1", "run", "--mask", "--log-format", "text", "-m", m, "--", "sh", "-c", script, stop)
	stderr := startOutputDiscarded(t, cmd)
	stderr.waitForContaining("ward's own CPU time reached its soft limit")
	if err := os.WriteFile(stop, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w.set("app/a", canary("cpu-restart2"))
	line := stderr.waitForContaining("child restarted with the new secrets")
	_, after, _ := strings.Cut(line, " pid=")
	pid, _ := strconv.Atoi(strings.Fields(after + " ")[0])
	if pid <= 0 {
		t.Fatalf("no pid in %q", line)
	}
	if soft := cpuSoftLimit(t, pid); soft != "1" {
		t.Errorf("the restarted child's soft CPU limit is %s, want 1, the limit ward was started with", soft)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitWithin(t, cmd, time.Minute)
}

// cpuSoftLimit reads pid's soft RLIMIT_CPU from /proc/PID/limits.
func cpuSoftLimit(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "Max cpu time"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0]
			}
		}
	}
	t.Fatalf("no CPU time limit in /proc/%d/limits", pid)
	return ""
}

// TestMaskedOutputPastTheFileSizeLimit: under --mask, the child's output
// goes to a file at the file-size limit (StandardOutput=file: with
// LimitFSIZE=, `ulimit -f` and `> out.log`). ward's write of it fails
// (EFBIG), the relay stops, and the child's next write fails with EPIPE
// (the child dies of SIGPIPE, as ward's relay is a pipe). ward said
// nothing: a service dead of SIGPIPE reads as a reader gone. Now ward
// says the output could not be written, and names the limit.
func TestMaskedOutputPastTheFileSizeLimit(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/a", canary("fsize-mask"))
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\n")
	outPath := filepath.Join(w.dir, "out.log")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	// 16 blocks: 8 KiB in dash's 512-byte blocks, 16 KiB in bash's; the
	// child writes 100 KB, then its value.
	cmd := underShell(w, "ulimit -f 16", "run", "--mask", "--log-format", "text", "-m", m,
		"--", "sh", "-c", `head -c 100000 /dev/zero | tr "\0" y; echo "$A"`)
	cmd.Stdout = out
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exitWithin(t, cmd, time.Minute)
	if strings.Contains(errb.String(), w.canaries[0]) {
		t.Fatalf("the value is in ward's stderr")
	}
	if !strings.Contains(errb.String(), "the child's output cannot be written") || !strings.Contains(errb.String(), "ulimit -f") {
		t.Errorf("ward does not say why the child's output stopped; its stderr:\n%s", errb.String())
	}
	if b, _ := os.ReadFile(outPath); bytes.Contains(b, []byte(w.canaries[0])) {
		t.Errorf("the value is in the child's masked output")
	}
}
