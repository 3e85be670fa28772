package main

// Stop signals at the phases of `ward run` that logpipes_test.go's tests
// do not reach: a rotation's restart waiting for the old child's output
// to reach a reader that stopped reading, and a start waiting for the
// program's file to be written. At each, a stop (SIGTERM, SIGINT without
// a terminal, SIGQUIT) ends the run promptly with the right code, the
// run's secret files gone, and the program never starts after it; a
// SIGHUP without a terminal is a reload and stops nothing.

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"github.com/wardsecrets/ward/signals"
	"github.com/wardsecrets/ward/testdata/helper"
)

// TestStopMatrixRestartOldOutput: under --mask, with ward's stdout a pipe
// whose reader stopped, a rotation restarts the child; ward waits up to
// 2 s for the old child's output before the new one starts. A stop that
// comes then ends the run with the old child's status, and no new child
// starts. Deaf for those 2 s, ward started the new child with the new
// secrets and passed the stop on to it.
func TestStopMatrixRestartOldOutput(t *testing.T) {
	for _, tc := range []struct {
		sig syscall.Signal
		// stops: the signal ends the run (else the new child starts).
		stops bool
	}{
		{syscall.SIGTERM, true},
		{syscall.SIGINT, true},
		{syscall.SIGQUIT, true},
		{syscall.SIGHUP, false},
	} {
		t.Run(signals.Name(tc.sig), func(t *testing.T) {
			w := newWardEnv(t)
			v1, v2 := canary("rsold1"), canary("rsold2")
			w.set("app/a", v1)
			w.set("app/key", canary("rsoldkey"))
			m := w.manifest("version: 1\nenv:\n  A: local://app/a\nfiles:\n  - path: key\n    ref: local://app/key\n    env: KEY_FILE\nrotation:\n  debounce: 100ms\n  stop_timeout: 5s\n")
			dir := t.TempDir()
			// Each child writes its value to its stdout, which ward
			// masks and cannot pass on, then its listing (its pid in the
			// name), then more output; the rotation's SIGTERM ends it
			// with 7, and so does a stop passed on to it (its SIGINT,
			// SIGQUIT and SIGHUP too). The trap comes before the
			// listing, which the test waits for before it signals: set
			// after it, a SIGTERM sent as the new child's listing
			// appeared could come before the trap, and the child died of
			// it (143, 1 run in CI's of a fresh machine). The value
			// comes before the listing too: after it, a rotation's
			// SIGTERM that came while the shell still waited for mv ran
			// the trap in place of the echo, the restart had no old
			// output to wait for, and the new child started before the
			// test's stop (TestMaskStalledStdout's race, once in CI).
			script := `trap 'exit 7' TERM INT QUIT HUP; echo "$KEY_FILE" > "$OUT/key.tmp"; mv "$OUT/key.tmp" "$OUT/key"; echo "$A"; helper env > "$OUT/$$.tmp"; mv "$OUT/$$.tmp" "$OUT/$$.env"; while :; do echo line; sleep 0.01; done`
			cmd := w.command("run", "--mask", "-m", m, "--", "sh", "-c", script)
			cmd.Env = append(cmd.Env, "OUT="+dir)
			p, stderr := startStalled(t, cmd, "stdout")
			listing := func(value string) string {
				names, _ := filepath.Glob(filepath.Join(dir, "*.env"))
				for _, n := range names {
					b, _ := os.ReadFile(n)
					if strings.Contains("\n"+string(b), "\nA "+helper.Hash(value)+"\n") {
						return strings.TrimSuffix(filepath.Base(n), ".env")
					}
				}
				return ""
			}
			var first string
			waitUntil(t, "the first child's listing", func() bool {
				first = listing(v1)
				return first != ""
			})
			b, _ := os.ReadFile(filepath.Join(dir, "key"))
			key := strings.TrimSpace(string(b))
			w.set("app/a", v2)
			// Reaped by ward: the restart waits for its output now, for
			// 2 s.
			waitUntil(t, "the old child's end", func() bool {
				_, err := os.Stat("/proc/" + first)
				return os.IsNotExist(err)
			})
			cmd.Process.Signal(tc.sig)
			if !tc.stops {
				waitUntil(t, "the new child's listing", func() bool { return listing(v2) != "" })
				cmd.Process.Signal(syscall.SIGTERM)
			}
			if code := exitWithin(t, cmd, 20*time.Second); code != 7 {
				t.Errorf("got exit code %d, want the child's 7", code)
			}
			if tc.stops && (listing(v2) != "" || strings.Contains(stderr.String(), "child restarted")) {
				t.Errorf("a new child started after ward was told to stop by %s", signals.Name(tc.sig))
			}
			if _, err := os.Stat(key); key == "" || !os.IsNotExist(err) {
				t.Errorf("the run's secret file %q is still there after ward's exit (stat: %v)", key, err)
			}
			p.noCanary(t, stderr, v1, v2)
		})
	}
}

// statusOf is cmd's exit code once it exited (exitWithin), a death by a
// signal as the shell gives it: 128+N (ward ends itself by SIGINT and
// SIGQUIT, so that the shell that waits for it stops too).
func statusOf(cmd *exec.Cmd, code int) int {
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return code
}

// TestStopMatrixProgramBeingWritten: the program's file is open for
// writing as ward starts it (a build, a copy, a deploy's rsync under
// way), and ward waits up to 5 s for the writer; a stop that comes then
// ends the run at once with 128+N, the program never started, with
// --exec and without. ward took it only after the wait: it failed the
// start with 126 ("text file busy") once the wait was over, and had the
// writer finished first, it would have started the program after the
// stop. A SIGHUP without a terminal is a reload: the program starts
// once written.
func TestStopMatrixProgramBeingWritten(t *testing.T) {
	for _, tc := range []struct {
		mode string
		sig  syscall.Signal
		// pid1: ward is PID 1 of a PID namespace (a container's
		// entrypoint), which no signal it catches ends.
		pid1 bool
	}{
		{"supervised", syscall.SIGTERM, false},
		{"supervised", syscall.SIGINT, false},
		{"supervised", syscall.SIGHUP, false},
		{"exec", syscall.SIGTERM, false},
		{"exec", syscall.SIGQUIT, false},
		{"supervised", syscall.SIGTERM, true},
		{"exec", syscall.SIGTERM, true},
	} {
		name := tc.mode + "/" + signals.Name(tc.sig)
		if tc.pid1 {
			name += "/pid1"
		}
		t.Run(name, func(t *testing.T) {
			if _, err := exec.LookPath("unshare"); tc.pid1 && err != nil {
				vaulttest.RequireIntegration(t, "unshare (util-linux) is not installed")
			}
			w := newWardEnv(t)
			v := canary("written")
			w.set("app/a", v)
			body := "version: 1\nenv:\n  A: local://app/a\nrotation:\n  stop_timeout: 2s\n"
			args := []string{"run", "-m"}
			if tc.mode == "exec" {
				args = []string{"run", "--exec", "-m"}
			} else {
				w.set("app/key", canary("writtenkey"))
				body += "files:\n  - path: key\n    ref: local://app/key\n    env: KEY_FILE\n"
			}
			m := w.manifest(body)
			dir := t.TempDir()
			prog := filepath.Join(dir, "app")
			if err := os.WriteFile(prog, []byte("#!/bin/sh\necho \"$KEY_FILE\" > \"$OUT/started\"\nexec sleep 1000\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			// The writer, still at it.
			writer, err := os.OpenFile(prog, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer writer.Close()
			cmd := w.command(append(args, m, "--", prog)...)
			if tc.pid1 {
				ward, _ := exec.LookPath("ward")
				cmd = exec.Command("unshare", append([]string{"--pid", "--fork", "--mount-proc", ward}, append(args, m, "--", prog)...)...)
				cmd.Env, cmd.Dir = w.env, w.dir
			}
			cmd.Env = append(cmd.Env, "OUT="+dir)
			stdout, stderr := startedLines(t, cmd)
			stderr.waitForContaining("the program's file is open for writing")
			wardPid := cmd.Process.Pid
			if tc.pid1 {
				wardPid = childOf(t, cmd.Process.Pid)
			}
			syscall.Kill(wardPid, tc.sig)
			started := filepath.Join(dir, "started")
			want := 128 + int(tc.sig)
			if tc.sig == syscall.SIGHUP {
				writer.Close()
				waitUntil(t, "the program's start", func() bool {
					_, err := os.Stat(started)
					return err == nil
				})
				syscall.Kill(wardPid, syscall.SIGTERM)
				want = 128 + int(syscall.SIGTERM)
			}
			endedBeforeStart(t, cmd, want, tc.sig, started)
			// The run's secret directory is gone, files and all.
			w.noSecretFile(t, "key")
			stdout.noCanary(t, v)
			stderr.noCanary(t, v)
		})
	}
}

// TestStopMatrixCIRegistration: under GitHub Actions (a job container,
// whose stderr a log driver takes) ward registers the values with the
// runner's masking on its stderr before the program starts; with that
// stderr a pipe whose reader stopped, a stop then ends the run with
// 128+N, the program never started, and the run's files removed. ward
// waited deaf in the write until the SIGKILL after `docker stop`, 137.
func TestStopMatrixCIRegistration(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		sig  syscall.Signal
	}{
		{"supervised", []string{"run"}, syscall.SIGTERM},
		{"mask", []string{"run", "--mask"}, syscall.SIGINT},
		{"exec", []string{"run", "--exec"}, syscall.SIGTERM},
	} {
		t.Run(tc.name+"/"+signals.Name(tc.sig), func(t *testing.T) {
			w := newWardEnv(t)
			v := canary("ciregister")
			w.set("app/a", v)
			body := "version: 1\nenv:\n  A: local://app/a\n"
			if tc.name != "exec" {
				w.set("app/key", canary("ciregisterkey"))
				body += "files:\n  - path: key\n    ref: local://app/key\n    env: KEY_FILE\n"
			}
			m := w.manifest(body)
			dir := t.TempDir()
			cmd := w.command(append(tc.args, "-m", m, "--", "sh", "-c", `touch "$OUT/started"; exec sleep 1000`)...)
			cmd.Env = append(cmd.Env, "OUT="+dir, "GITHUB_ACTIONS=true")
			p, stdout := startStalled(t, cmd, "stderr")
			waitPipeWrite(t, cmd.Process.Pid)
			cmd.Process.Signal(tc.sig)
			want := 128 + int(tc.sig)
			if code := statusOf(cmd, exitWithin(t, cmd, 15*time.Second)); code != want {
				t.Errorf("got exit code %d, want %d", code, want)
			}
			if _, err := os.Stat(filepath.Join(dir, "started")); err == nil {
				t.Errorf("the program started after ward was told to stop")
			}
			w.noSecretFile(t, "key")
			p.w.Close()
			rest, _ := io.ReadAll(p.r)
			if strings.Contains(stdout.String(), v) {
				t.Fatalf("a canary is in ward's stdout")
			}
			noCanaryOutsideRegistration(t, string(rest), v)
		})
	}
}

// TestStopMatrixCIRegistrationAtRotation: under GitHub Actions, a
// rotation that signals the child (on_change: signal) registers the new
// values on ward's stderr first; with that stderr's reader stopped by
// then, a stop passed on to the child ends the run with its status.
// ward waited deaf in the write, the child never got the SIGTERM, and
// the SIGKILL after `docker stop` ended ward, 137.
func TestStopMatrixCIRegistrationAtRotation(t *testing.T) {
	w := newWardEnv(t)
	v1, v2 := canary("cirot1"), canary("cirot2")
	w.set("app/key", v1)
	m := w.manifest("version: 1\nfiles:\n  - path: key\n    ref: local://app/key\n    env: KEY_FILE\nrotation:\n  on_change: signal\n  signal: SIGHUP\n  debounce: 100ms\n")
	dir := t.TempDir()
	cmd := w.command("run", "--log-level", "error", "-m", m, "--", "sh", "-c", `exec 2>/dev/null; trap 'exit 5' TERM; trap 'touch "$OUT/hup"' HUP; echo "$KEY_FILE" > "$OUT/key.tmp"; mv "$OUT/key.tmp" "$OUT/key"; while :; do sleep 0.05; done`)
	cmd.Env = append(cmd.Env, "OUT="+dir, "GITHUB_ACTIONS=true")
	// (The child's stderr is not ward's: a child writing there waits
	// for the reader too, and cannot end.) Read as the child starts (the registrations and records fit in
	// the pipe), then full: the reader stopped.
	p := newStalledPipe(t)
	var stdout strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, p.w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	var key string
	waitUntil(t, "the child's start", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "key"))
		key = strings.TrimSpace(string(b))
		return err == nil
	})
	p.fill(t)
	w.set("app/key", v2)
	// The new value's registration waits for the reader: the one
	// writer there (--log-level error: ward's log writes nothing).
	waitPipeWrite(t, cmd.Process.Pid)
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitWithin(t, cmd, 15*time.Second); code != 5 {
		t.Errorf("got exit code %d, want the child's 5", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "hup")); err == nil {
		t.Errorf("the child was signalled for the new value after ward was told to stop")
	}
	if _, err := os.Stat(key); !os.IsNotExist(err) {
		t.Errorf("the run's secret file is still there after ward's exit (stat: %v)", err)
	}
	p.w.Close()
	rest, _ := io.ReadAll(p.r)
	if strings.Contains(stdout.String(), v1) || strings.Contains(stdout.String(), v2) {
		t.Fatalf("a canary is in ward's stdout")
	}
	noCanaryOutsideRegistration(t, string(rest), v1, v2)
}

// TestStopMatrixStalledStderr: the phases the earlier tests leave out,
// with ward's stderr a pipe whose reader stopped, supervised and as
// PID 1 of a PID namespace (a container's entrypoint): a start that
// fails (the program not found, 127), and a child that ignores the stop
// and is killed at stop_timeout (137, its status). A stop then ends ward
// within a few seconds with that status, its files removed.
func TestStopMatrixStalledStderr(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		vaulttest.RequireIntegration(t, "unshare (util-linux) is not installed")
	}
	for _, tc := range []struct {
		name   string
		pid1   bool
		script string
		want   int
		level  string
	}{
		// --log-level error: the report of the failed start is the
		// only write to the full pipe, so the stop comes after the
		// failure. At debug a line logged while resolving blocked
		// first, and a stop then came before the start (143, right
		// for that moment; 1 row in 30).
		{"not-found", false, "", 127, "error"},
		{"not-found/pid1", true, "", 127, "error"},
		{"stop-timeout", false, `trap '' TERM; touch "$OUT/started"; while :; do sleep 0.05; done`, 137, "debug"},
		{"stop-timeout/pid1", true, `trap '' TERM; touch "$OUT/started"; while :; do sleep 0.05; done`, 137, "debug"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWardEnv(t)
			w.set("app/key", canary("stalledkey"))
			m := w.manifest("version: 1\nfiles:\n  - path: key\n    ref: local://app/key\n    env: KEY_FILE\nrotation:\n  stop_timeout: 1s\n")
			dir := t.TempDir()
			argv := []string{"run", "--log-level", tc.level, "-m", m, "--"}
			if tc.script == "" {
				argv = append(argv, filepath.Join(dir, "no-such-program"))
			} else {
				argv = append(argv, "sh", "-c", "exec 2>/dev/null; "+tc.script)
			}
			cmd := w.command(argv...)
			if tc.pid1 {
				ward, _ := exec.LookPath("ward")
				cmd = exec.Command("unshare", append([]string{"--pid", "--fork", "--mount-proc", ward}, argv...)...)
				cmd.Env, cmd.Dir = w.env, w.dir
			}
			cmd.Env = append(cmd.Env, "OUT="+dir)
			p, stdout := startStalled(t, cmd, "stderr")
			wardPid := cmd.Process.Pid
			if tc.pid1 {
				wardPid = childOf(t, cmd.Process.Pid)
			}
			if tc.script == "" {
				// ward's report of the failure (its one write) waits
				// for the reader.
				waitPipeWrite(t, wardPid)
			} else {
				waitUntil(t, "the child's start", func() bool {
					_, err := os.Stat(filepath.Join(dir, "started"))
					return err == nil
				})
			}
			syscall.Kill(wardPid, syscall.SIGTERM)
			if code := statusOf(cmd, exitWithin(t, cmd, 15*time.Second)); code != tc.want {
				t.Errorf("got exit code %d, want %d", code, tc.want)
			}
			w.noSecretFile(t, "key")
			p.noCanary(t, stdout, w.canaries...)
		})
	}
}

// tracee returns the pid of exe, the program strace (pid) runs, once it
// runs it. Not strace's first child: strace forks short-lived ones of
// its own first, to try ptrace, and a test that signalled such a child
// signalled nothing (ward ran on, told nothing, in 1 run of 16).
func tracee(t *testing.T, pid int, exe string) int {
	t.Helper()
	found := 0
	waitUntil(t, "strace's tracee", func() bool {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		for _, f := range strings.Fields(string(b)) {
			if c, _ := os.ReadFile("/proc/" + f + "/cmdline"); strings.HasPrefix(string(c), exe+"\x00") {
				found, _ = strconv.Atoi(f)
				return true
			}
		}
		return false
	})
	return found
}

// endedBeforeStart waits for cmd's exit with want (a death by a signal
// counted as the shell does), and fails the test if the program started
// (its file started is there) after ward was told to stop by sig; a
// SIGHUP, a reload without a terminal, stops nothing.
func endedBeforeStart(t *testing.T, cmd *exec.Cmd, want int, sig syscall.Signal, started string) {
	t.Helper()
	if code := statusOf(cmd, exitWithin(t, cmd, 15*time.Second)); code != want {
		t.Errorf("got exit code %d, want %d", code, want)
	}
	if _, err := os.Stat(started); sig != syscall.SIGHUP && err == nil {
		t.Errorf("the program started after ward was told to stop by %s", signals.Name(sig))
	}
}

// noCanaryOutsideRegistration fails the test if ward's stderr holds one
// of vs outside a registration with the CI runner's masking
// (::add-mask::), which is the runner's: a value there is masked.
func noCanaryOutsideRegistration(t *testing.T, stderr string, vs ...string) {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		for _, v := range vs {
			if strings.Contains(line, v) && !strings.HasPrefix(line, "::add-mask::") {
				t.Fatalf("a canary is in ward's stderr outside a registration")
			}
		}
	}
}

// TestStopMatrixAtTheStart: `ward run` told to stop in its last moments
// before the program starts, held there by strace's delay of one system
// call. With --exec: the read of the program's #! line (the stop comes
// after resolving, before the exec: it waits on ward's signal channel)
// and the execve itself; the stop was lost in both: the program started,
// told nothing, and ran until the SIGKILL after `docker stop`'s grace.
// Supervised: the look for the program on $PATH, between the reads and
// the start (the start's own check of the channel was untested). ward
// ends with 128+N, the program never started, the run's files gone. A
// SIGHUP without a terminal (a reload) stops nothing: the program
// starts, and the reload is said to have come before it started (it was
// said to have come "while resolving secrets").
func TestStopMatrixAtTheStart(t *testing.T) {
	if _, err := exec.LookPath("strace"); err != nil {
		vaulttest.RequireIntegration(t, "strace is not installed")
	}
	for _, tc := range []struct {
		mode, syscall string
		sig           syscall.Signal
	}{
		{"exec", "openat", syscall.SIGTERM},
		{"exec", "openat", syscall.SIGINT},
		{"exec", "openat", syscall.SIGQUIT},
		// Not SIGQUIT at the execve: its default action dumps core, which
		// waits for every thread, and strace holds one.
		{"exec", "execve", syscall.SIGTERM},
		{"exec", "execve", syscall.SIGHUP},
		{"supervised", "faccessat", syscall.SIGTERM},
		{"supervised", "faccessat", syscall.SIGHUP},
	} {
		t.Run(tc.mode+"/"+tc.syscall+"/"+signals.Name(tc.sig), func(t *testing.T) {
			w := newWardEnv(t)
			v := canary("atstart")
			w.set("app/a", v)
			body := "version: 1\nenv:\n  A: local://app/a\n"
			args := []string{"run", "--exec"}
			if tc.mode == "supervised" {
				w.set("app/key", canary("atstartkey"))
				body += "files:\n  - path: key\n    ref: local://app/key\n    env: KEY_FILE\n"
				args = []string{"run"}
			}
			m := w.manifest(body)
			dir := t.TempDir()
			prog := filepath.Join(dir, "app")
			if err := os.WriteFile(prog, []byte("#!/bin/sh\ntouch \"$OUT/started\"\nexec sleep 1000\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			ward, _ := exec.LookPath("ward")
			trace := filepath.Join(dir, "trace")
			// Only the call on the program's file is traced, and held
			// for 3 s as it begins (strace prints it then). No -v: no
			// environment in the trace.
			cmd := exec.Command("strace", append([]string{"-f", "-qq", "-o", trace, "-e", "trace=" + tc.syscall, "-P", prog,
				"-e", "inject=" + tc.syscall + ":delay_enter=3000000", ward}, append(args, "-m", m, "--", prog)...)...)
			cmd.Env, cmd.Dir = append(w.env, "OUT="+dir), w.dir
			// strace, ward and (--exec) the program in a group of their
			// own: a failure kills them all, not strace alone (ward and
			// the program ran on, detached). Supervised, the child is
			// told by ward's death.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			stdout, stderr := startedLines(t, cmd)
			t.Cleanup(func() {
				if t.Failed() {
					syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				}
			})
			wardPid := tracee(t, cmd.Process.Pid, ward)
			waitUntil(t, "ward's "+tc.syscall+" of the program", func() bool {
				b, _ := os.ReadFile(trace)
				return strings.Contains(string(b), tc.syscall+"(")
			})
			syscall.Kill(wardPid, tc.sig)
			started := filepath.Join(dir, "started")
			want := 128 + int(tc.sig)
			if tc.sig == syscall.SIGHUP {
				waitUntil(t, "the program's start", func() bool {
					_, err := os.Stat(started)
					return err == nil
				})
				if tc.mode == "supervised" {
					stderr.waitForContaining("reload (SIGHUP) before the program started")
				}
				// The program, or ward, which passes it on.
				syscall.Kill(wardPid, syscall.SIGTERM)
				want = 128 + int(syscall.SIGTERM)
			}
			endedBeforeStart(t, cmd, want, tc.sig, started)
			if tc.sig != syscall.SIGHUP && tc.syscall != "execve" {
				// Taken by ward, not passed on to a program that had
				// just started (and died of it before its first line).
				stderr.waitForContaining("stopped by " + signals.Name(tc.sig) + " before the program started")
			}
			w.noSecretFile(t, "key")
			stdout.noCanary(t, w.canaries...)
			stderr.noCanary(t, w.canaries...)
			if b, _ := os.ReadFile(trace); strings.Contains(string(b), v) {
				t.Errorf("a canary is in the trace")
			}
		})
	}
}
