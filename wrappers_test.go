package main

// ward among the other wrappers people put in front of it and behind it:
// timeout, su, sudo, tini, dumb-init, and ward itself.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"golang.org/x/sys/unix"
)

// TestTimeoutSignalsChildOnce: `timeout 60 ward run -- server` (a CI
// step's budget) when the time is up. GNU timeout, without --foreground,
// sends its signal to its command, ward, and then to its own process
// group, where ward is too. The kernel merges the two for a program run
// there without ward; ward had forwarded the first by the time the
// second came and forwarded it again, so the server, draining after the
// first SIGTERM (or SIGINT, `timeout -s INT`), got a second and took it
// for "stop now". The test fires timeout's timer with the SIGALRM it
// sets for itself, once the child is ready, and lets the child run on
// after the signal until a SIGUSR2 sent to ward, after any second copy.
func TestTimeoutSignalsChildOnce(t *testing.T) {
	if _, err := exec.LookPath("timeout"); err != nil {
		t.Fatalf("timeout (coreutils) is needed: %v", err)
	}
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	ward, err := exec.LookPath("ward")
	if err != nil {
		t.Fatal(err)
	}
	for _, sig := range []string{"TERM", "INT"} {
		t.Run(sig, func(t *testing.T) {
			// The second copy reaches ward only when ward has taken the
			// first before it arrives, one time in three here: the
			// rounds make a miss of the fault unlikely.
			for round := range 15 {
				cmd := exec.Command("timeout", "-s", sig, "1h", ward, "run", "-m", m, "--", "helper", "signals", "--exit-on", "USR2")
				cmd.Env, cmd.Dir = w.env, w.dir
				stdout, stderr := started(t, cmd)
				stdout.waitFor("child ready")
				cmd.Process.Signal(syscall.SIGALRM)
				stdout.waitFor("child SIG" + sig)
				wardPid := childOf(t, cmd.Process.Pid)
				syscall.Kill(wardPid, syscall.SIGUSR2)
				again := 0
				for {
					line := stdout.next("the child's SIGUSR2")
					if line == "child SIGUSR2" {
						break
					}
					if line == "child SIG"+sig {
						again++
					}
				}
				if code := exitWithin(t, cmd, 30*time.Second); code != 124 {
					t.Errorf("round %d: timeout exited %d, want 124 (ward's stderr: %s)", round, code, stderr)
				}
				if again > 0 {
					t.Fatalf("round %d: after the first SIG%s the child got it %d more time(s) (one event: timeout's signal to ward and to its group)", round, sig, again)
				}
			}
		})
	}
}

// TestNestedWardStopKillsInnerChild: `ward run -m outer.yaml -- ward run
// -m inner.yaml -- program`, the outer manifest with a stop_timeout
// shorter than the inner's (set to fit a platform's grace period; the
// inner left at the default 7s), and a program that ignores SIGTERM,
// stopped. At its stop_timeout the outer ward killed its child's group,
// the inner ward alone: the program is in a group of the inner ward's
// making, which the inner ward, killed, never signalled again. The
// program was orphaned and ran on for good, with the inner manifest's
// secret in its environment.
func TestNestedWardStopKillsInnerChild(t *testing.T) {
	w := newWardEnv(t)
	secret := canary("nested")
	w.set("app/inner", secret)
	outer := w.manifest("version: 1\nenv:\n  PLAIN: {value: x}\nrotation:\n  stop_timeout: 2s\n")
	inner := w.manifest("version: 1\nenv:\n  INNER: local://app/inner\n")
	cmd := w.command("run", "-m", outer, "--", "ward", "run", "-m", inner, "--", "helper", "ignore-term")
	// A program left running holds ward's stdout and stderr: the wait
	// for ward must not wait for those to close.
	cmd.WaitDelay = time.Second
	stdout, stderr := started(t, cmd)
	stdout.waitFor("ready")
	program := descendantRunning(t, cmd.Process.Pid, "helper", "ignore-term")
	t.Cleanup(func() { syscall.Kill(program, syscall.SIGKILL) })
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitWithin(t, cmd, 30*time.Second); code != 137 {
		t.Errorf("ward exited %d, want 137: the inner ward was killed at stop_timeout (stderr: %s)", code, redactAll(stderr.String(), secret))
	}
	if strings.Contains(stderr.String(), secret) {
		t.Errorf("the canary is in ward's stderr")
	}
	waitUntil(t, "the inner ward's program to be killed with it", func() bool {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", program))
		if err != nil {
			return true
		}
		f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:]))
		return len(f) > 0 && f[0] == "Z"
	})
}

// descendantRunning returns the pid of the process below pid whose
// command line is argv.
func descendantRunning(t *testing.T, pid int, argv ...string) int {
	t.Helper()
	var found int
	want := strings.Join(argv, "\x00") + "\x00"
	waitUntil(t, "a process running "+strings.Join(argv, " ")+" below "+strconv.Itoa(pid), func() bool {
		queue := []int{pid}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p)); err == nil && string(b) == want {
				found = p
				return true
			}
			tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", p))
			for _, task := range tasks {
				b, _ := os.ReadFile(task)
				for _, c := range strings.Fields(string(b)) {
					n, _ := strconv.Atoi(c)
					queue = append(queue, n)
				}
			}
		}
		return false
	})
	return found
}

// TestNestedWardRuntimeDir: `ward run -m outer.yaml -- ward run -m
// inner.yaml -- program` (an entrypoint's ward, and a script's under
// it) with $WARD_RUNTIME_DIR set, as in a pod whose /dev/shm is absent
// or too small and whose memory emptyDir is the place for secret files.
// The outer ward stripped the variable with ward's other settings: the
// inner ward's files went to another tmpfs, or, in such a pod, nowhere
// (125, and a hint to set $WARD_RUNTIME_DIR).
func TestNestedWardRuntimeDir(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/inner", canary("nestedrt"))
	outer := w.manifest("version: 1\nenv:\n  PLAIN: {value: x}\n")
	inner := w.manifest("version: 1\nfiles:\n  - path: inner.txt\n    ref: local://app/inner\n    env: INNER_FILE\n")
	code, stdout, stderr := w.run("run", "-m", outer, "--", "ward", "run", "-m", inner, "--", "sh", "-c", `test -s "$INNER_FILE" && echo "file at $INNER_FILE"`)
	if code != 0 || !strings.HasPrefix(stdout, "file at "+w.runtime+"/") {
		t.Errorf("the inner ward's file is not under $WARD_RUNTIME_DIR %s: exit code %d, %q (stderr: %s)", w.runtime, code, stdout, stderr)
	}
	if files := listFiles(t, w.runtime); len(files) != 0 {
		t.Errorf("files left after the run: %v", files)
	}
}

// TestRunningChildNotContinued: an entrypoint script in bash that traps
// SIGTERM to clean up, waiting with `sleep infinity & wait $!` as such
// scripts do, and trapping SIGCONT too (to log a resume). ward sent
// SIGCONT after every SIGTERM it forwarded, stopped child or not; bash
// ran the SIGCONT trap, its `wait` returned 146, and the SIGTERM trap
// never ran: the script ended with 146, its cleanup undone.
func TestRunningChildNotContinued(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	script := `trap "echo cont" CONT; trap "echo term; exit 3" TERM; echo ready; sleep infinity & wait $!`
	cmd := w.command("run", "-m", m, "--", "bash", "-c", script)
	stdout, stderr := started(t, cmd)
	stdout.waitFor("ready")
	bash := descendantRunning(t, cmd.Process.Pid, "bash", "-c", script)
	waitUntil(t, "bash to wait for its sleep", func() bool {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", bash))
		return strings.HasPrefix(string(b), strconv.Itoa(unix.SYS_WAIT4)+" ")
	})
	cmd.Process.Signal(syscall.SIGTERM)
	code := exitWithin(t, cmd, 30*time.Second)
	var said []string
	for line := range stdout.ch {
		said = append(said, line)
	}
	if code != 3 || strings.Join(said, " ") != "term" {
		t.Errorf("the script said %q and ward exited %d, want \"term\" and the trap's 3 (stderr: %s)", said, code, stderr)
	}
}

// TestNestedWardKillSparesInnerHelpers: the stop of
// TestNestedWardStopKillsInnerChild with the inner manifest reading a
// dynamic database credential. The kill at the outer ward's stop_timeout
// reaches what runs below its child, but not the inner ward's store
// helper: that gives the inner ward's lease back once its ward is gone.
// Killed with the rest, it left the database role until its TTL.
func TestNestedWardKillSparesInnerHelpers(t *testing.T) {
	srv := vaulttest.Require(t)
	pg := vaulttest.RequirePostgres(t)
	mount, role := srv.Database(t, pg, "1h", "2h")
	w := newWardEnv(t)
	outer := w.manifest("version: 1\nenv:\n  VAULT_TOKEN: env://VAULT_TOKEN\nrotation:\n  stop_timeout: 2s\n")
	inner := w.manifest(fmt.Sprintf("version: 1\nenv:\n  DB_USER: vault://%s/creds/%s#username\n  DB_PASS: vault://%s/creds/%s#password\n", mount, role, mount, role))
	cmd := w.command("run", "-m", outer, "--", "ward", "run", "-m", inner, "--", "helper", "ignore-term")
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+srv.Addr, "VAULT_TOKEN="+srv.Token)
	cmd.WaitDelay = time.Second
	stdout, stderr := started(t, cmd)
	stdout.waitFor("ready")
	program := descendantRunning(t, cmd.Process.Pid, "helper", "ignore-term")
	t.Cleanup(func() { syscall.Kill(program, syscall.SIGKILL) })
	if n := pg.Roles(t, role[:8]); n != 1 {
		t.Fatalf("%d database roles of the inner ward's Vault role, want 1", n)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitWithin(t, cmd, 30*time.Second); code != 137 {
		t.Errorf("ward exited %d, want 137 (stderr: %s)", code, stderr)
	}
	waitUntil(t, "the inner ward's lease to be given back", func() bool { return pg.Roles(t, role[:8]) == 0 })
}
