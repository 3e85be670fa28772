package main

// A laptop that sleeps and a machine that stalls: ward, its store helper
// and its child stopped (SIGSTOP, the cgroup freezer) for longer than
// what ward tracks, then continued.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"github.com/wardsecrets/ward/testdata/helper"
)

// TestRotationAfterWatchQueueOverflow: a ward stopped (a container
// paused, a VM stalled) while more happens in a watched directory than
// the kernel queues for it (fs.inotify.max_queued_events: a deploy
// unpacking thousands of files beside the secret) loses the events past
// the queue, the secret's change among them, and hears only that the
// queue overflowed. On waking it reads the watched files again: it
// logged "file watch error" and left the child on the old value until
// the next rotation.poll (here ten minutes).
func TestRotationAfterWatchQueueOverflow(t *testing.T) {
	w := newWardEnv(t)
	v1, v2 := canary("overflow1"), canary("overflow2")
	src := w.mounted(v1)
	dir := filepath.Dir(src)
	m := w.manifest("version: 1\nenv:\n  A: file://" + src + "\nrotation:\n  poll: 10m\n  debounce: 100ms\n")
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "helper", "env", "wait")
	stdout, stderr := startedLines(t, cmd)
	if got := envHash(stdout, "A"); got != helper.Hash(v1) {
		t.Fatalf("the first child does not have the first value")
	}
	stderr.waitForContaining("watching secret files")

	queued := 16384
	if b, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events"); err == nil {
		queued, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	syscall.Kill(cmd.Process.Pid, syscall.SIGSTOP)
	waitState(t, "the stopped ward", cmd.Process.Pid, "T")
	// Each rename is two events (moved from, moved to) in the watched
	// directory: the queue fills with names ward does not use.
	a, b := filepath.Join(dir, "unpacked-a"), filepath.Join(dir, "unpacked-b")
	os.WriteFile(a, nil, 0o600)
	for i := 0; i < queued/2+100; i++ {
		if err := os.Rename(a, b); err != nil {
			t.Fatal(err)
		}
		a, b = b, a
	}
	os.WriteFile(src+".new", []byte(v2), 0o600)
	os.Rename(src+".new", src)
	syscall.Kill(cmd.Process.Pid, syscall.SIGCONT)

	if got := envHash(stdout, "A"); got != helper.Hash(v2) {
		t.Errorf("the restarted child does not have the new value")
	}
	if n := stopAndCount(t, cmd, stdout, stderr, v1, v2); n != 0 {
		t.Errorf("the child listed its environment %d more times after the restart, want 0", n)
	}
}

// TestRestartOfStoppedChild: a rotation restart of a child that is
// stopped (kill -STOP by an operator or a debugger, which ward as PID 1
// leaves stopped until SIGCONT) continues it after the stop signal, so
// that it acts on it and exits as it does on a stop, as a forwarded
// SIGTERM does and as systemd's stop does. The stop signal stayed
// pending: the child was killed at stop_timeout (old_exit 137) and the
// restart took the whole of it.
func TestRestartOfStoppedChild(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		vaulttest.RequireIntegration(t, "unshare (util-linux) is not installed")
	}
	w := newWardEnv(t)
	v1, v2 := canary("stopped1"), canary("stopped2")
	src := w.mounted(v1)
	m := w.manifest("version: 1\nenv:\n  A: file://" + src + "\nrotation:\n  debounce: 100ms\n  stop_timeout: 60s\n")
	ward, _ := exec.LookPath("ward")
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", ward, "run", "--log-level", "debug", "-m", m, "--",
		"sh", "-c", `trap 'echo term; exit 3' TERM; echo ready; while :; do sleep 0.05; done`)
	cmd.Env = w.env
	stdout, stderr := startedLines(t, cmd)
	if line, ok := <-stdout.ch; !ok || line != "ready" {
		vaulttest.RequireIntegration(t, "the child did not start under unshare (no PID namespace here?)")
	}
	wardPid := childOf(t, cmd.Process.Pid)
	child := onlyChild(t, wardPid)
	stderr.waitForContaining("watching secret files")
	syscall.Kill(child, syscall.SIGSTOP)
	stderr.waitForContaining("it stays stopped until SIGCONT")

	os.WriteFile(src+".new", []byte(v2), 0o600)
	os.Rename(src+".new", src)
	if line := stdout.next("the old child's answer to the stop signal"); line != "term" {
		t.Fatalf("the old child printed %q, want term (it acts on the stop signal)", line)
	}
	if line := stdout.next("the new child"); line != "ready" {
		t.Fatalf("the new child printed %q, want ready", line)
	}
	var logged []string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ward's log after the SIGCONT:\n%s", strings.Join(logged, "\n"))
		}
	})
	restarted := stderr.skipUntil("the restart", func(line string) bool {
		logged = append(logged, line)
		return strings.Contains(line, "child restarted with the new secrets")
	})
	if !strings.Contains(restarted, `"old_exit":3`) {
		t.Errorf("the restart says %s; want the old child's own exit, 3", redactAll(restarted, v1, v2))
	}
	syscall.Kill(wardPid, syscall.SIGTERM)
	if code := exitWithin(t, cmd, 30*time.Second); code != 3 {
		t.Errorf("ward exited %d, want the new child's 3", code)
	}
	for line := range stderr.ch {
		if strings.Contains(line, v1) || strings.Contains(line, v2) {
			t.Errorf("a canary is in ward's stderr")
		}
	}
}

// TestStopDuringRestart: the job stopped (a Ctrl-Z, a SIGTSTP sent to
// ward) while a restart's old child runs its stop handler stops once the
// new child has started: the new child stopped, ward with it, and both
// going on at SIGCONT. The old child was continued, as it must be to
// end, and the stop lost: the new child started and ran, in the
// foreground on a terminal, where what was typed next went to it
// (adversarial run of 2026-12-05).
func TestStopDuringRestart(t *testing.T) {
	for _, undone := range []bool{false, true} {
		name := "stopped"
		if undone {
			// kill -TSTP, then kill -CONT of ward as the old child
			// ends: the stop was replayed on the new child all the
			// same, and the job stayed stopped.
			name = "continued before the new child"
		}
		t.Run(name, func(t *testing.T) { stopDuringRestart(t, undone) })
	}
}

func stopDuringRestart(t *testing.T, undone bool) {
	w := newWardEnv(t)
	v1, v2 := canary("tstp1"), canary("tstp2")
	src := w.mounted(v1)
	// The child waits on named pipes, as a server on its connections,
	// and forks nothing: a stop that comes as a shell forks stops the
	// forked copy before its exec and leaves the shell waiting on it,
	// with nothing stopped that ward could see (dash's vfork; as without
	// ward, until a SIGCONT).
	fifos := t.TempDir()
	release, idle := filepath.Join(fifos, "release"), filepath.Join(fifos, "idle")
	for _, f := range []string{release, idle} {
		if err := syscall.Mkfifo(f, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Its stop handler ends once a line is written here.
	releaseOne := func() {
		t.Helper()
		done := make(chan error, 1)
		go func() {
			f, err := os.OpenFile(release, os.O_WRONLY, 0)
			if err == nil {
				_, err = f.WriteString("go\n")
				f.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the child's stop handler did not open its pipe within 10s")
		}
	}
	m := w.manifest("version: 1\nenv:\n  A: file://" + src + "\nrotation:\n  debounce: 100ms\n  stop_timeout: 60s\n")
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c",
		`trap 'echo term; read x < "$0"; exit 0' TERM; echo ready; read y < "$1"`, release, idle)
	// A job of its own, as a shell's: not orphaned, so it can stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, stderr := startedLines(t, cmd)
	var logged []string
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("ward's log:\n%s", redactAll(strings.Join(logged, "\n"), v1, v2))
		}
	})
	logUntil := func(what string) {
		t.Helper()
		stderr.skipUntil(what, func(line string) bool {
			logged = append(logged, line)
			return strings.Contains(line, what)
		})
	}
	stdout.waitFor("ready")
	logUntil("watching secret files")
	ward := cmd.Process.Pid
	os.WriteFile(src+".new", []byte(v2), 0o600)
	os.Rename(src+".new", src)
	stdout.waitFor("term")

	cmd.Process.Signal(syscall.SIGTSTP)
	// Released once ward has taken the stop in (it says so), or after a
	// while: without it, the new child ran on.
	for deadline := time.After(5 * time.Second); ; {
		select {
		case line := <-stderr.ch:
			logged = append(logged, line)
			if !strings.Contains(line, "it stops once the new child has started") {
				continue
			}
		case <-deadline:
		}
		break
	}
	if undone {
		// Undone before the new child starts: it is not stopped.
		cmd.Process.Signal(syscall.SIGCONT)
		logUntil("the job was continued before the new child started")
	}
	releaseOne()
	logUntil("child restarted with the new secrets")
	child := onlyChild(t, ward)
	if !undone {
		waitState(t, "the new child", child, "T")
		waitState(t, "ward", ward, "T")
		cmd.Process.Signal(syscall.SIGCONT)
		waitState(t, "ward after SIGCONT", ward, "RS")
	}
	// Stopped as it started, it goes on now; or never stopped.
	stdout.waitFor("ready")
	waitState(t, "the new child after SIGCONT", child, "RS")
	waitState(t, "ward", ward, "RS")
	cmd.Process.Signal(syscall.SIGTERM)
	stdout.waitFor("term")
	releaseOne()
	if code := exitWithin(t, cmd, 30*time.Second); code != 0 {
		t.Errorf("ward exited %d, want the new child's 0", code)
	}
	for line := range stderr.ch {
		logged = append(logged, line)
		if strings.Contains(line, v1) || strings.Contains(line, v2) {
			t.Errorf("a canary is in ward's stderr")
		}
	}
}

// TestContinueWardStoppedWithItsChild: ward and its child both stopped
// with SIGSTOP (a tool that stops a list of processes, an operator's kill
// -STOP of each), then ward continued: SIGCONT continues both. On waking
// ward finds the child's stop (the kernel hands SIGCHLD in before
// SIGCONT) and followed it into a new stop of its own, after the SIGCONT
// meant to end it, in most runs (15 of 20): both stayed stopped, and a
// SIGTERM to ward did nothing. Five rounds, each stopped the same way.
func TestContinueWardStoppedWithItsChild(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c", "echo ready; while :; do sleep 0.05; done")
	stdout, errs := started(t, cmd)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ward's log:\n%s", errs.String())
		}
	})
	stdout.waitFor("ready")
	ward := cmd.Process.Pid
	child := onlyChild(t, ward)
	for round := 1; round <= 5; round++ {
		syscall.Kill(ward, syscall.SIGSTOP)
		waitState(t, "ward, stopped", ward, "T")
		syscall.Kill(child, syscall.SIGSTOP)
		waitState(t, "the child, stopped", child, "T")
		syscall.Kill(ward, syscall.SIGCONT)
		waitState(t, fmt.Sprintf("round %d: the child, continued with ward", round), child, "SR")
		waitState(t, fmt.Sprintf("round %d: ward, continued", round), ward, "SR")
	}
	syscall.Kill(ward, syscall.SIGTERM)
	if code := exitWithin(t, cmd, 15*time.Second); code != 143 {
		t.Errorf("ward exited %d, want 143", code)
	}
}

// TestContinueChildAloneContinuesWard: the child stopped (kill -STOP of
// its pid, a debugger) and ward, following it, stopped too; then the
// child alone continued (kill -CONT of its pid): ward's guard continues
// ward, which then acts on a SIGTERM and exits with the child's status.
// ward stayed stopped, deaf to the SIGTERM of a service manager until its
// SIGKILL, the child's exit unreaped.
func TestContinueChildAloneContinuesWard(t *testing.T) {
	cmd, child := wardStoppedWithChild(t)
	syscall.Kill(child, syscall.SIGCONT)
	continuedThenEnded(t, cmd)
}

// wardStoppedWithChild starts ward over a shell's loop, stops the child
// (kill -STOP of its pid) once ward's guard is ready, and waits for ward
// to follow it into the stop; it returns ward's command and the child's
// pid.
func wardStoppedWithChild(t *testing.T) (*exec.Cmd, int) {
	t.Helper()
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c", "echo ready; while :; do sleep 0.05; done")
	stdout, stderr := startedLines(t, cmd)
	stdout.waitFor("ready")
	child := onlyChild(t, cmd.Process.Pid)
	stderr.waitForContaining(`"guard ready"`)
	syscall.Kill(child, syscall.SIGSTOP)
	waitState(t, "ward, stopped with its child", cmd.Process.Pid, "T")
	return cmd, child
}

// continuedThenEnded waits for ward's guard to continue ward, then ends
// the run with a SIGTERM: 143.
func continuedThenEnded(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	waitState(t, "ward, continued by its guard", cmd.Process.Pid, "SR")
	syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
	if code := exitWithin(t, cmd, 15*time.Second); code != 143 {
		t.Errorf("ward exited %d, want 143", code)
	}
}

// TestContinueProgramAloneContinuesMaskedWard: as
// TestContinueChildAloneContinuesWard, under --mask on a terminal, where
// the program runs in a pty session whose leader, ward's own, stops
// itself with ward: a kill -CONT of the program's pid continues ward. The
// guard watched the leader, which stayed stopped, and ward with it.
func TestContinueProgramAloneContinuesMaskedWard(t *testing.T) {
	term, child, ward := maskedJobctl(t, "--log-level", "debug")
	// Before or after the program's line: the guard starts first.
	waitUntil(t, "the guard ready", func() bool { return strings.Contains(term.screen(), "guard ready") })
	syscall.Kill(child, syscall.SIGSTOP)
	waitState(t, "ward, stopped with the program", ward, "T")
	syscall.Kill(child, syscall.SIGCONT)
	waitState(t, "ward, continued by its guard", ward, "SR")
	syscall.Kill(ward, syscall.SIGTERM)
	waitState(t, "ward after SIGTERM", ward, "")
}

// TestDebuggerOnTheStoppedChildLeavesWardStopped: a debugger attached
// to the child that stopped with ward (gdb -p, strace -p: the child's
// state is "t", in the tracer's hands) is not the child running again:
// ward's guard leaves ward stopped, and the job with it. It took the
// child for running, continued ward, and ward continued the child's
// group (the debugger's program among the processes that ran again).
// Once the debugger has gone and the child is continued, ward is too.
func TestDebuggerOnTheStoppedChildLeavesWardStopped(t *testing.T) {
	if _, err := exec.LookPath("strace"); err != nil || os.Geteuid() != 0 {
		vaulttest.RequireIntegration(t, "the test needs strace and root to attach to the child")
	}
	cmd, child := wardStoppedWithChild(t)
	ward := cmd.Process.Pid
	tracer := exec.Command("strace", "-qq", "-e", "trace=none", "-p", strconv.Itoa(child))
	if err := tracer.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tracer.Process.Kill(); tracer.Wait() })
	waitState(t, "the child, in the tracer's hands", child, "t")
	// Ten of the guard's looks.
	for end := time.Now().Add(10 * 100 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) { // sampling a state that must not change
		if s := procState(ward); s != "T" {
			t.Fatalf("ward is %q with its child in a debugger's hands, want it stopped (T)", s)
		}
	}
	tracer.Process.Signal(syscall.SIGTERM)
	tracer.Wait()
	syscall.Kill(child, syscall.SIGCONT)
	continuedThenEnded(t, cmd)
}

// TestManifestChangeAfterWatchQueueOverflow: ward.yaml edited while ward
// runs in a terminal, stopped meanwhile (a laptop's Ctrl-Z'd job, a
// frozen VM), with more happening in the project's directory than the
// kernel queues for the manifest's watch (a checkout, a generator
// writing thousands of files there). The manifest's own event is lost
// with the rest; ward, told of the overflow, looks at the manifest
// again and warns that it changed. It said nothing.
func TestManifestChangeAfterWatchQueueOverflow(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/a", canary("mfoverflow"))
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\n")
	term := newTerminal(t, w)
	term.send("WARD_LOG_FORMAT=text ward run -m " + m + " -- sh -c 'echo up; exec sleep 60'\r")
	term.expect(`(?m)^up`)
	ward := onlyChild(t, term.cmd.Process.Pid)
	// Both watches (the local store's and the manifest's) are in place.
	waitUntil(t, "ward's two inotify watches", func() bool { return inotifyWatches(ward) >= 2 })

	syscall.Kill(ward, syscall.SIGSTOP)
	waitState(t, "the stopped ward", ward, "T")
	queued := 16384
	if b, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events"); err == nil {
		queued, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	a, b := filepath.Join(w.dir, "generated-a"), filepath.Join(w.dir, "generated-b")
	os.WriteFile(a, nil, 0o600)
	for i := 0; i < queued/2+100; i++ {
		if err := os.Rename(a, b); err != nil {
			t.Fatal(err)
		}
		a, b = b, a
	}
	edited := m + ".swp"
	if err := os.WriteFile(edited, []byte("version: 1\nenv:\n  A: local://app/a\n  PORT: {value: \"3001\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(edited, m); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(ward, syscall.SIGCONT)
	term.expect(`the manifest changed[^\n]*` + regexp.QuoteMeta(m))
	// The shell took the job for stopped, and its terminal back: ward
	// runs on in the background, and is ended here.
	syscall.Kill(ward, syscall.SIGTERM)
	waitUntil(t, "ward to exit", func() bool { s := procState(ward); return s == "" || s == "Z" })
}

// inotifyWatches counts the watches of pid's inotify instances.
func inotifyWatches(pid int) int {
	n := 0
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); l != "anon_inode:inotify" {
			continue
		}
		info, _ := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
		if strings.Contains(string(info), "inotify wd:") {
			n++
		}
	}
	return n
}

// TestLeasesEndingTogetherRestartOnce: ward, its store helper and its
// child stopped together past the TTL of eight dynamic leases (a laptop
// whose lid closed, a paused VM), then continued: every lease ends at
// once, and the child is restarted once, with all eight new. Each
// lease's end came as a trigger of its own and was acted on at once:
// ten leases restarted the child six times in half a second.
func TestLeasesEndingTogetherRestartOnce(t *testing.T) {
	srv := vaulttest.Require(t)
	pg := vaulttest.RequirePostgres(t)
	const n = 8
	body := "version: 1\nenv:\n"
	var roles []string
	for i := range n {
		mount, role := srv.Database(t, pg, "3s", "10m")
		// Vault names a role's users v-TOKEN-ROLE..., the role cut to 8 bytes.
		roles = append(roles, role[:8])
		body += fmt.Sprintf("  U%d: vault://%s/creds/%s#username\n", i, mount, role)
	}
	w := newWardEnv(t)
	m := w.manifest(body + "rotation:\n  debounce: 2s\n  stop_timeout: 5s\n")
	// The child prints its usernames, the new leases' (a username is no
	// secret here), for the check at the end.
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c", "echo start $U0 $U1 $U2 $U3 $U4 $U5 $U6 $U7; exec sleep 300")
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+srv.Addr, "VAULT_TOKEN="+srv.Token)
	stdout, stderr := startedLines(t, cmd)
	stdout.waitFor("start")
	// Every lease renewed once (the helper renews each as it takes it
	// in): a renewal in flight at the stop is answered before it, and
	// its lease is then taken for renewed at the wake (see the report).
	renewed := map[string]bool{}
	for len(renewed) < n {
		line := stderr.waitForContaining("vault lease renewed")
		var l struct{ Lease string }
		json.Unmarshal([]byte(line), &l)
		renewed[l.Lease] = true
	}
	ward := cmd.Process.Pid
	var kids []int
	waitUntil(t, "ward's child and its store helper", func() bool {
		kids = kids[:0]
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", ward))
		for _, f := range tasks {
			b, _ := os.ReadFile(f)
			for _, k := range strings.Fields(string(b)) {
				if pid, _ := strconv.Atoi(k); !isGuard(pid) {
					kids = append(kids, pid)
				}
			}
		}
		return len(kids) == 2
	})
	all := append([]int{ward}, kids...)
	for _, pid := range all {
		syscall.Kill(pid, syscall.SIGSTOP)
	}
	for _, pid := range all {
		waitState(t, "a stopped process", pid, "T")
	}
	// Past the leases' 3 s TTL: Vault revokes them meanwhile.
	time.Sleep(6 * time.Second) // the length of the stop is the scenario
	for _, pid := range all {
		syscall.Kill(pid, syscall.SIGCONT)
	}
	var logged []string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ward's log after the SIGCONT:\n%s", strings.Join(logged, "\n"))
		}
	})
	restarted := stderr.skipUntil("the restart", func(line string) bool {
		logged = append(logged, line)
		return strings.Contains(line, "child restarted with the new secrets")
	})
	var changed struct{ Changed string }
	json.Unmarshal([]byte(restarted), &changed)
	if got := strings.Split(changed.Changed, ","); len(got) != n {
		t.Errorf("the first restart after the stop changed %v, want all %d leased variables at once", got, n)
	}
	users := strings.Fields(stdout.next("the restarted child"))
	if len(users) != n+1 || users[0] != "start" {
		t.Fatalf("the restarted child printed %d words, want start and %d usernames", len(users), n)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitWithin(t, cmd, 20*time.Second)
	for line := range stderr.ch {
		logged = append(logged, line)
		if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "revoke") {
			t.Errorf("ward warned of a revocation at its stop: %s", line)
		}
	}
	// The users of the leases ward holds at exit are gone: ward revokes
	// them. Those of the leases that ended during the stop are Vault's to
	// drop, which it does in the background, retrying when the database is
	// slow to answer (a loaded machine left one behind a moment longer).
	for i, user := range users[1:] {
		if !strings.Contains(user, roles[i]) {
			t.Errorf("U%d's username is not of its role %s", i, roles[i])
		}
		if left := pg.Roles(t, user); left != 0 {
			t.Errorf("U%d's database user, of the lease ward held, is left after ward exited (leases are revoked on exit)", i)
		}
	}
}
