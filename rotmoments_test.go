package main

// A rotation's moments, microseconds wide, held open by strace: ward,
// running a child, is attached (straceAttached) with one system call of
// the rotation delayed as it begins (`-e inject=SYSCALL:delay_enter=`),
// picked by its file with -P; a signal, another change of the secret or
// the old child's own exit comes while ward is held there.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// momentHash is the child's name for a value it was given: the first 16
// hex digits of its SHA-256.
func momentHash(v string) string {
	h := sha256.Sum256([]byte(v))
	return hex.EncodeToString(h[:])[:16]
}

// momentProgram is the child: it says which files it has, whether they
// agree with each other (and with $PAIR, when it has it), the hash of
// what they hold, and its pid; it takes a SIGHUP as a reload, and exits
// 3 by itself once $OUT/quit is there.
const momentProgram = `#!/bin/sh
trap 'echo reload' HUP
v=$(cat "$A_FILE")
m=same
cmp -s "$A_FILE" "$B_FILE" || m=mixed
if [ -n "${PAIR+x}" ] && [ "$PAIR" != "$v" ]; then m=mixed; fi
echo "files $A_FILE $B_FILE $m $(printf %s "$v" | sha256sum | cut -c1-16) $$"
while :; do [ -e "$OUT/quit" ] && exit 3; sleep 0.05; done
`

// aMoment is a run held at one of a rotation's moments.
type aMoment struct {
	w              *wardEnv
	dir            string
	cmd            *exec.Cmd
	stdout, stderr *lines
	first          []string
	v1, v2         string
}

// TestRotationMoments: ward held by strace in one system call of a
// rotation (the staging of the new child's files, their rename into
// place once the old child is gone, the new child's exec; with
// on_change: signal the renames before the child's kill(); under --mask
// in GitHub Actions the registration of the new values; at the end the
// removal of the run's files), and told there to stop (SIGTERM, SIGINT),
// to reload (SIGHUP without a terminal), given another change of the
// secret, or left by its child. What must hold: a stop ends the run with
// the old child's status, no child starts after it, nothing is left of
// the run's files; a reload and a second change end in a child with the
// newest value; no child ever has a mix of old and new files.
func TestRotationMoments(t *testing.T) {
	for _, tc := range []struct {
		mode, at, what string
		want           int
	}{
		{"restart", "stage", "SIGTERM", 143},
		{"restart", "stage", "SIGINT", 143},
		{"restart", "stage", "SIGHUP", 143},
		{"restart", "stage", "change", 143},
		{"restart", "rename", "SIGTERM", 143},
		{"restart", "rename", "SIGINT", 143},
		{"restart", "rename", "SIGHUP", 143},
		{"restart", "rename", "change", 143},
		{"restart", "exec", "SIGTERM", 143},
		{"restart", "exec", "SIGINT", 130},
		{"restart", "exec", "change", 143},
		{"signal", "rename", "SIGTERM", 143},
		{"signal", "rename", "SIGINT", 130},
		{"signal", "rename", "change", 143},
		{"signal", "rename", "exit", 3},
		{"restart", "stage", "exit", 3},
		{"mask", "register", "SIGTERM", 143},
		{"mask", "register", "SIGINT", 143},
		{"mask-signal", "register", "SIGTERM", 143},
		{"mask-signal", "register", "SIGINT", 130},
		{"mask-signal", "register", "exit", 3},
		{"restart", "unlink", "SIGTERM", 143},
		{"restart", "unlink", "SIGINT", 143},
	} {
		t.Run(tc.mode+"/"+tc.at+"/"+tc.what, func(t *testing.T) {
			m := startMoment(t, tc.mode)
			pid := m.cmd.Process.Pid
			var args []string
			held := ""
			switch tc.at {
			case "stage":
				args, held = []string{"-e", "trace=openat", "-P", ".tmp-b.pem-" + strconv.Itoa(pid)}, "openat("
			case "rename":
				args, held = []string{"-e", "trace=renameat", "-P", "b.pem"}, "renameat("
			case "exec":
				args, held = []string{"-e", "trace=execve", "-P", filepath.Join(m.dir, "app")}, "execve("
			case "register":
				// The writes to ward's stderr pipe, shown 12 bytes long:
				// the registration's begin with "\n::add-mask::", and no
				// value reaches the trace.
				link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/2", pid))
				if err != nil {
					t.Fatal(err)
				}
				args, held = []string{"-e", "trace=write", "-P", link, "-s", "12"}, "::add-mask:"
			case "unlink":
				args, held = []string{"-e", "trace=unlinkat", "-P", "a.pem"}, "unlinkat("
			}
			syscallName := strings.TrimPrefix(args[1], "trace=")
			args = append(args, "-e", "inject="+syscallName+":delay_enter=3000000")
			m.w.straceAttached(t, pid, args...)
			trace := filepath.Join(m.w.dir, "strace.out")
			if tc.at == "unlink" {
				// The end of the run: a first stop, then a second one
				// while the run's files are being removed.
				syscall.Kill(pid, syscall.SIGTERM)
			} else {
				m.w.set("app/pair", m.v2)
			}
			waitUntil(t, "ward held in "+syscallName, func() bool {
				b, _ := os.ReadFile(trace)
				return strings.Contains(string(b), held)
			})
			v3 := canary("moment3")
			switch tc.what {
			case "SIGTERM":
				syscall.Kill(pid, syscall.SIGTERM)
			case "SIGINT":
				syscall.Kill(pid, syscall.SIGINT)
			case "SIGHUP":
				syscall.Kill(pid, syscall.SIGHUP)
			case "change":
				m.w.set("app/pair", v3)
			case "exit":
				if err := os.WriteFile(filepath.Join(m.dir, "quit"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
				// Exited while ward is still held: a zombie it has not
				// reaped.
				waitUntil(t, "the child's exit", func() bool {
					b, _ := os.ReadFile("/proc/" + m.first[5] + "/stat")
					_, after, _ := strings.Cut(string(b), ") ")
					return strings.HasPrefix(after, "Z")
				})
			}
			switch tc.what {
			case "SIGHUP", "change":
				// The restart goes on, and ends with a child that has
				// the newest value (the second change is not lost).
				want := m.v2
				if tc.what == "change" {
					want = v3
				}
				if strings.HasSuffix(tc.mode, "signal") {
					// Rewritten, both, for the signalled child.
					waitUntil(t, "the child's files with the newest value", func() bool {
						a, _ := os.ReadFile(m.first[1])
						b, _ := os.ReadFile(m.first[2])
						return string(a) == want && string(b) == want
					})
				} else {
					m.childWith(t, momentHash(want))
				}
				syscall.Kill(pid, syscall.SIGTERM)
			}
			if code := statusOf(m.cmd, exitWithin(t, m.cmd, 30*time.Second)); code != tc.want {
				t.Errorf("got exit code %d, want %d", code, tc.want)
			}
			switch {
			case tc.at == "exec":
				// The new child was forked before the stop came: it
				// got the stop, and ended the run by it.
				m.rest(t, v3)
			case tc.what == "SIGTERM" || tc.what == "SIGINT" || tc.what == "exit":
				noRestart(t, m.stdout, m.v1, m.v2, v3)
			default:
				m.rest(t, v3)
			}
			var stderr []string
			for line := range m.stderr.ch {
				stderr = append(stderr, line)
			}
			// The values' registrations with the runner's masking are
			// the runner's, under --mask in GitHub Actions.
			noCanaryOutsideRegistration(t, strings.Join(stderr, "\n"), m.v1, m.v2, v3)
			if t.Failed() {
				t.Logf("ward's stderr:\n%s", redactAll(strings.Join(stderr, "\n"), m.v1, m.v2, v3))
			}
			m.w.noSecretFile(t, "a.pem")
			m.w.noSecretFile(t, "b.pem")
			filepath.WalkDir(m.w.runtime, func(p string, d fs.DirEntry, err error) error {
				if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
					t.Errorf("a temporary file is left: %s", p)
				}
				return nil
			})
			if b, _ := os.ReadFile(trace); strings.Contains(string(b), m.v1) || strings.Contains(string(b), m.v2) || strings.Contains(string(b), v3) {
				t.Errorf("a canary is in the trace")
			}
		})
	}
}

// startMoment starts ward over momentProgram with the files a.pem and
// b.pem of one local secret (and $PAIR of it, but for a mode ending in
// signal), rotation.on_change signal for those, --mask in GitHub Actions
// for a mode beginning with mask, and waits for the child's first line.
func startMoment(t *testing.T, mode string) *aMoment {
	t.Helper()
	m := &aMoment{w: newWardEnv(t), dir: t.TempDir(), v1: canary("moment1"), v2: canary("moment2")}
	m.w.set("app/pair", m.v1)
	prog := filepath.Join(m.dir, "app")
	if err := os.WriteFile(prog, []byte(momentProgram), 0o755); err != nil {
		t.Fatal(err)
	}
	body := "version: 1\n"
	signal, masked := strings.HasSuffix(mode, "signal"), strings.HasPrefix(mode, "mask")
	if !signal {
		body += "env:\n  PAIR: local://app/pair\n"
	}
	body += "files:\n  - path: a.pem\n    ref: local://app/pair\n    env: A_FILE\n  - path: b.pem\n    ref: local://app/pair\n    env: B_FILE\nrotation:\n  debounce: 100ms\n"
	if signal {
		body += "  on_change: signal\n  signal: SIGHUP\n"
	}
	args := []string{"run", "-m", m.w.manifest(body)}
	if masked {
		args = append(args, "--mask")
	}
	m.cmd = m.w.command(append(args, "--", prog)...)
	m.cmd.Env = append(m.cmd.Env, "OUT="+m.dir)
	if masked {
		m.cmd.Env = append(m.cmd.Env, "GITHUB_ACTIONS=true")
	}
	m.stdout, m.stderr = startedLines(t, m.cmd)
	m.first = strings.Fields(m.stdout.waitFor("files "))
	if len(m.first) != 6 || m.first[3] != "same" || m.first[4] != momentHash(m.v1) {
		t.Fatalf("the child's first line: %q", m.first)
	}
	return m
}

// childWith waits for a child whose files hold the value of hash, and
// fails the test if one had a mix of old and new files on the way. A
// line may take more than next's 10 s: strace holds the held system call
// 3 s each time it comes, and it comes twice before the newest child's
// line, in one restart (the third value staged over the second) or two
// (the child given the second value, itself traced, is stopped before
// its first line). Measured here: 6.5 to 7 s between lines, on an idle
// machine.
func (m *aMoment) childWith(t *testing.T, hash string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		line := m.stdout.nextWithin("the child's files", 30*time.Second)
		if !strings.HasPrefix(line, "files ") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 6 {
			t.Fatalf("the child's line: %q", f)
		}
		if f[3] != "same" {
			t.Errorf("a child started with a mix of old and new files")
		}
		if f[4] == hash {
			return
		}
	}
	t.Fatalf("no child with the newest value within %s", waitLimit)
}

// rest reads the rest of stdout, once ward has exited, and fails the
// test if a child had a mix of files or a canary is there.
func (m *aMoment) rest(t *testing.T, canaries ...string) {
	t.Helper()
	for line := range m.stdout.ch {
		if strings.HasPrefix(line, "files ") && !strings.Contains(line, " same ") {
			t.Errorf("a child started with a mix of old and new files")
		}
		for _, c := range append(canaries, m.v1, m.v2) {
			if strings.Contains(line, c) {
				t.Errorf("a canary is in ward's output")
			}
		}
	}
}

// TestRotationStopDuringRestartOnce: a stop (docker stop's SIGTERM) while a
// restart waits for the old child, which drains after the restart's own
// SIGTERM: the child gets no second SIGTERM (many servers read one as
// "stop now"), no new child starts, and ward exits with the old child's
// status once it has drained. The child had two. A SIGWINCH sent after
// the stop, which ward passes on after it, tells the test that ward has
// taken the stop.
func TestRotationStopDuringRestartOnce(t *testing.T) {
	w := newWardEnv(t)
	v1, v2 := canary("drain1"), canary("drain2")
	w.set("app/pair", v1)
	m := w.manifest("version: 1\nfiles:\n  - path: a.pem\n    ref: local://app/pair\n    env: A_FILE\nrotation:\n  debounce: 100ms\n  stop_timeout: 30s\n")
	dir := t.TempDir()
	cmd := w.command("run", "-m", m, "--", "sh", "-c",
		`trap 'echo term' TERM; trap 'echo winch' WINCH; echo "files $A_FILE"; while [ ! -e "$OUT/drained" ]; do sleep 0.05; done; exit 7`)
	cmd.Env = append(cmd.Env, "OUT="+dir)
	stdout, stderr := startedLines(t, cmd)
	stdout.waitFor("files ")
	w.set("app/pair", v2)
	if line := stdout.next("the restart's SIGTERM"); line != "term" {
		t.Fatalf("the child's line: %q, want term", line)
	}
	syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
	syscall.Kill(cmd.Process.Pid, syscall.SIGWINCH)
	if line := stdout.next("the SIGWINCH after the stop"); line != "winch" {
		t.Errorf("the child's line: %q, want winch: it was sent the stop's SIGTERM again", line)
	}
	if err := os.WriteFile(filepath.Join(dir, "drained"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := exitWithin(t, cmd, 30*time.Second); code != 7 {
		t.Errorf("got exit code %d, want the old child's 7", code)
	}
	noRestart(t, stdout, v1, v2)
	stderr.noCanary(t, v1, v2)
	w.noSecretFile(t, "a.pem")
}

// TestRotationChildStoppedDuringRestart: a child stopped (kill -STOP)
// while a restart waits for it to act on its stop signal is continued, so
// the stop timeout still runs, and the new child starts once it has
// gone. ward followed it into the stop ("child stopped; stopping ward"):
// as a service, nothing continued either, and the restart never ended.
func TestRotationChildStoppedDuringRestart(t *testing.T) {
	w := newWardEnv(t)
	v1, v2 := canary("stopped1"), canary("stopped2")
	w.set("app/pair", v1)
	m := w.manifest("version: 1\nfiles:\n  - path: a.pem\n    ref: local://app/pair\n    env: A_FILE\nrotation:\n  debounce: 100ms\n  stop_timeout: 30s\n")
	dir := t.TempDir()
	cmd := w.command("run", "-m", m, "--", "sh", "-c",
		`trap 'echo term' TERM; echo "files $(sha256sum < "$A_FILE" | cut -c1-16) $$"; while [ ! -e "$OUT/drained" ]; do sleep 0.05; done; rm -f "$OUT/drained"; exit 7`)
	cmd.Env = append(cmd.Env, "OUT="+dir)
	stdout, stderr := startedLines(t, cmd)
	first := strings.Fields(stdout.waitFor("files "))
	w.set("app/pair", v2)
	if line := stdout.next("the restart's SIGTERM"); line != "term" {
		t.Fatalf("the child's line: %q, want term", line)
	}
	pid, _ := strconv.Atoi(first[2])
	syscall.Kill(pid, syscall.SIGSTOP)
	state := func(pid int) string {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		_, after, _ := strings.Cut(string(b), ") ")
		return after[:min(1, len(after))]
	}
	waitUntil(t, "the stopped child continued", func() bool {
		return state(pid) != "T" && state(pid) != "t"
	})
	if s := state(cmd.Process.Pid); s == "T" {
		t.Fatalf("ward is stopped")
	}
	if err := os.WriteFile(filepath.Join(dir, "drained"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(stdout.waitFor("files ")); f[1] != momentHash(v2) {
		t.Errorf("the new child has %s, want the new value's %s", f[1], momentHash(v2))
	}
	syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
	if line := stdout.next("the stop's SIGTERM"); line != "term" {
		t.Fatalf("the new child's line: %q, want term", line)
	}
	if err := os.WriteFile(filepath.Join(dir, "drained"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := exitWithin(t, cmd, 30*time.Second); code != 7 {
		t.Errorf("exit %d, want the new child's 7", code)
	}
	stdout.noCanary(t, v1, v2)
	stderr.noCanary(t, v1, v2)
}
