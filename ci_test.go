package main

// ward as a CI job's command, as the runners really treat it (seventh
// run): how they find and stop a job's processes, what they read from its
// output.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"github.com/wardsecrets/ward/signals"
	"github.com/wardsecrets/ward/testdata/helper"
)

// TestCIProcessMarkersReachTheChild: CI runners stop what a job left
// running by an environment variable they set for it (actions/runner's
// RUNNER_TRACKING_ID, the Azure Pipelines agent's VSTS_PROCESS_LOOKUP_ID,
// Jenkins Pipeline's JENKINS_NODE_COOKIE), reading /proc/PID/environ of
// every process. ward is non-dumpable, so a runner that is not root cannot
// read ward's; the child must carry the marker, or neither is found, and
// the program (with its secrets) outlives the job on a self-hosted runner.
// The markers pass whatever inherit says: here inherit lists PATH alone.
// ward runs as uid 65534 so that non-dumpable is what an unprivileged
// runner meets; the runner's cleanup runs as that user too.
func TestCIProcessMarkersReachTheChild(t *testing.T) {
	if os.Geteuid() != 0 {
		vaulttest.RequireIntegration(t, "the CI cleanup test switches to uid 65534 and needs root")
	}
	bin := nobodyBin(t)
	manifest := filepath.Join(bin, "ward.yaml")
	if err := os.WriteFile(manifest, []byte("version: 1\ninherit: [PATH]\nenv:\n  PLAIN: {value: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	nobody := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	markers := map[string]string{
		"RUNNER_TRACKING_ID":     "github_" + canary("runner"),
		"VSTS_PROCESS_LOOKUP_ID": "vsts_" + canary("agent"),
		"JENKINS_NODE_COOKIE":    canary("jenkins"),
	}
	path := "PATH=" + bin + ":/usr/bin:/bin"
	cmd := exec.Command(filepath.Join(bin, "ward"), "run", "-m", manifest, "--", "helper", "env", "wait")
	cmd.Env = []string{path, "HOME=/", "WARD_LOG_FORMAT=json", "GITHUB_ACTIONS=true", "OTHER=o"}
	for name, v := range markers {
		cmd.Env = append(cmd.Env, name+"="+v)
	}
	cmd.Dir = bin
	cmd.SysProcAttr = nobody
	stdout, stderr := started(t, cmd)
	got := envListing(stdout)
	for name, v := range markers {
		if got[name] != helper.Hash(v) {
			t.Errorf("the child has no %s (inherit: [PATH]); the runner's cleanup cannot find it", name)
		}
	}
	if _, ok := got["OTHER"]; ok {
		t.Errorf("the child has OTHER, which inherit: [PATH] leaves out")
	}

	// The end of the job: the runner kills what carries its marker.
	clean := exec.Command(filepath.Join(bin, "helper"), "kill-marked", "RUNNER_TRACKING_ID="+markers["RUNNER_TRACKING_ID"])
	clean.Env = []string{path}
	clean.SysProcAttr = nobody
	out, err := clean.Output()
	if err != nil {
		t.Fatalf("the runner's cleanup: %v", err)
	}
	t.Logf("the runner's cleanup: %s", strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", "; "))
	if code := exitWithin(t, cmd, 10*time.Second); code != 137 {
		t.Errorf("got exit code %d, want 137 (the child killed by the runner's cleanup); stderr: %s", code, stderr)
	}
}

// TestCIMaskStderrToDevNull: `ward run -- cmd 2>/dev/null` in a step (its
// stderr silenced, or closed, where the Go runtime opens /dev/null): the
// runner reads stdout alone, so the ::add-mask:: lines go there, before
// the child's output. They went to /dev/null, unread, and the child's
// values reached the log in clear.
func TestCIMaskStderrToDevNull(t *testing.T) {
	w := newWardEnv(t)
	v := canary("devnull")
	w.set("ci/token", v)
	m := w.manifest("version: 1\nenv:\n  TOKEN: local://ci/token\n")
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	cmd := w.command("run", "-m", m, "--", "helper", "exit", "0")
	cmd.Env = append(cmd.Env, "GITHUB_ACTIONS=true")
	cmd.Stderr = devnull
	out, err := cmd.Output()
	if code := exitCode(t, err); code != 0 {
		t.Fatalf("got exit code %d, want 0", code)
	}
	if !slices.Contains(strings.Split(string(out), "\n"), "::add-mask::"+v) {
		t.Errorf("no ::add-mask:: line for TOKEN on stdout, the stream the runner reads, with stderr to /dev/null")
	}
}

// TestCIRunnerCancel: ward as the step's own process (a custom shell,
// `shell: ward run -p ci -- bash -e {0}`, or an `exec ward run` step)
// when the job is cancelled. The runner's worker sends SIGINT to ward
// alone, SIGTERM 7.5 s later, SIGKILL 2.5 s after that (actions/runner's
// ProcessInvoker). ward forwards SIGINT and SIGTERM, and kills what is
// left of the child 9 s after the SIGINT, so that it has cleaned up before
// the SIGKILL. It waited for its stop_timeout (7 s) from the SIGTERM: the
// runner killed it at 10 s, its secret files stayed on the tmpfs, and the
// child, which takes its time to stop, ran on.
func TestCIRunnerCancel(t *testing.T) {
	w := newWardEnv(t)
	w.set("ci/token", canary("cancel"))
	m := w.manifest("version: 1\nfiles:\n  - path: token\n    ref: local://ci/token\n")
	// The runner's worker: this test binary (the helper) under the name
	// Runner.Worker, which ward finds as its parent's.
	runner := runnerWorker(t)
	ward, err := exec.LookPath("ward")
	if err != nil {
		t.Fatal(err)
	}
	cmd := &exec.Cmd{Path: runner, Args: []string{"helper", "step", ward, "run", "-m", m, "--",
		"sh", "-c", `trap "" INT; echo "pid $$"; exec helper ignore-term`}, Env: w.env, Dir: w.dir}
	cancel, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr := started(t, cmd)
	var child int
	if _, err := fmt.Sscanf(stdout.waitFor("pid "), "pid %d", &child); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(child, syscall.SIGKILL) })
	stdout.waitFor("ready")
	cancel.Write([]byte("cancel\n"))
	stdout.waitFor("step: sending SIGINT")
	stdout.waitFor("step: sending SIGTERM")
	if got := stdout.skipUntil("the step's end", func(l string) bool { return strings.HasPrefix(l, "step: ") }); got != "step: exited after SIGTERM" {
		t.Errorf("got %q, want %q: ward must end before the runner's SIGKILL; stderr: %s", got, "step: exited after SIGTERM", stderr)
	}
	if syscall.Kill(child, 0) == nil {
		t.Errorf("the child runs on after the cancelled step")
		// It holds the pipes Wait reads to their end.
		syscall.Kill(child, syscall.SIGKILL)
	}
	exitWithin(t, cmd, 10*time.Second)
	if left, _ := filepath.Glob(filepath.Join(w.runtime, "ward-*", "run-*")); len(left) > 0 {
		t.Errorf("the run's private directory is left on the tmpfs: %v", left)
	}
}

// TestCIMaskTeedOutput: `ward run -- make 2>&1 | tee build.log` in a step,
// the log kept as an artifact. ward's stderr is the pipe to tee, not the
// runner's: the ::add-mask:: lines, every value in every form, went into
// build.log. ward now writes them to the step's own stream, the pipe the
// runner reads, which it finds through the step's process (the ancestor
// whose parent is the runner's worker).
func TestCIMaskTeedOutput(t *testing.T) {
	w := newWardEnv(t)
	v := canary("tee")
	w.set("ci/token", v)
	m := w.manifest("version: 1\nenv:\n  TOKEN: local://ci/token\n")
	runner := runnerWorker(t)
	ward, err := exec.LookPath("ward")
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(w.dir, "build.log")
	cmd := &exec.Cmd{Path: runner, Args: []string{"helper", "step", "sh", "-c", `"$0" run -m "$1" -- helper exit 0 2>&1 | cat > "$2"`, ward, m, log},
		Env: append(w.env, "GITHUB_ACTIONS=true"), Dir: w.dir}
	stdout, stderr := started(t, cmd)
	stdout.waitFor("step: exited")
	exitWithin(t, cmd, 10*time.Second)
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), v) {
		t.Errorf("a value is in the file the step's output was teed into")
	}
	if !strings.Contains(stderr.String(), "::add-mask::"+v+"\n") {
		t.Errorf("no ::add-mask:: line for TOKEN on the step's stderr, the runner's pipe")
	}
	os.Remove(log)
}

// TestCIWarnsOfValuesInRunnerFiles: a child that writes a secret to
// $GITHUB_ENV (or $GITHUB_OUTPUT, $GITHUB_STATE, $GITHUB_PATH: it was not
// warned of) hands it to the rest of the job, third-party actions included, where no masking of ward's
// follows it. ward cannot stop that; it says so when the child is done,
// naming the variable (its base64 form counts too), never the value.
func TestCIWarnsOfValuesInRunnerFiles(t *testing.T) {
	w := newWardEnv(t)
	w.set("ci/token", canary("ghenv"))
	w.set("ci/other", canary("other"))
	m := w.manifest("version: 1\nenv:\n  TOKEN: local://ci/token\n  OTHER: local://ci/other\n")
	ghenv, ghout, ghpath := filepath.Join(w.dir, "set_env"), filepath.Join(w.dir, "set_output"), filepath.Join(w.dir, "add_path")
	// Before the audit of w.dir: the child writes the value there.
	t.Cleanup(func() { os.Remove(ghenv); os.Remove(ghout); os.Remove(ghpath) })
	for _, f := range []string{ghenv, ghout, ghpath} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := w.command("run", "-m", m, "--", "sh", "-c", `echo "TOKEN=$TOKEN" >> "$GITHUB_ENV"; echo "b64=$(printf %s "$TOKEN" | base64 -w0)" >> "$GITHUB_OUTPUT"; echo "/opt/$TOKEN/bin" >> "$GITHUB_PATH"`)
	cmd.Env = append(cmd.Env, "GITHUB_ACTIONS=true", "GITHUB_ENV="+ghenv, "GITHUB_OUTPUT="+ghout, "GITHUB_PATH="+ghpath)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if code := exitCode(t, cmd.Run()); code != 0 {
		t.Fatalf("got exit code %d, want 0", code)
	}
	for _, file := range []string{"GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_PATH"} {
		warned := slices.ContainsFunc(strings.Split(stderr.String(), "\n"), func(l string) bool {
			return strings.Contains(l, `"level":"WARN"`) && strings.Contains(l, "$"+file) && strings.Contains(l, `"names":"TOKEN"`)
		})
		if !warned {
			t.Errorf("no warning naming TOKEN, whose value the child wrote to $%s", file)
		}
	}

	// One line of a multi-line value, which the runner is given on its
	// own and masks line by line, is a form of the value too: a line of
	// words only (no token of letters and digits mixed) went unwarned.
	words := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return 'g' + (r - '0')
		}
		return r
	}, canary("lines"))
	w.set("ci/multi", "first line of it\nlast-"+words)
	m = w.manifest("version: 1\nenv:\n  MULTI: local://ci/multi\n")
	os.WriteFile(ghout, nil, 0o600)
	cmd = w.command("run", "-m", m, "--", "sh", "-c", `echo "out=$(printf %s "$MULTI" | tail -n 1)" >> "$GITHUB_OUTPUT"`)
	cmd.Env = append(cmd.Env, "GITHUB_ACTIONS=true", "GITHUB_OUTPUT="+ghout)
	stderr.Reset()
	cmd.Stderr = &stderr
	if code := exitCode(t, cmd.Run()); code != 0 {
		t.Fatalf("got exit code %d, want 0", code)
	}
	if !strings.Contains(stderr.String(), `"names":"MULTI"`) {
		t.Errorf("no warning naming MULTI, one line of whose value the child wrote to $GITHUB_OUTPUT")
	}
}

// TestCIStepShellCancelled: `run: ward run -- ./deploy.sh`, the job
// cancelled. The runner signals the step's shell alone: bash waits for
// ward through the SIGINT and dies of the SIGTERM 7.5 s later. ward, in
// the shell's foreground, takes its shell's death for the cancel and
// stops the child as for a SIGTERM. The child used to run on, told
// nothing, until the job's end killed it (SIGKILL, no chance to clean up).
func TestCIStepShellCancelled(t *testing.T) {
	w := newWardEnv(t)
	runner := runnerWorker(t)
	m := w.manifest(emptyManifest)
	// bash runs a script file, as the runner runs a step's: it does not
	// exec its last command.
	script := filepath.Join(w.dir, "step.sh")
	child := `trap "echo child got TERM; exit 0" TERM; echo "pid $$"; echo ready; while :; do sleep 0.1; done`
	if err := os.WriteFile(script, []byte("ward run -m "+m+" -- sh -c '"+child+"'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := &exec.Cmd{Path: runner, Args: []string{"helper", "step", "bash", "--noprofile", "--norc", "-eo", "pipefail", script}, Env: w.env, Dir: w.dir}
	cancel, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, _ := started(t, cmd)
	var pid int
	if _, err := fmt.Sscanf(stdout.waitFor("pid "), "pid %d", &pid); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	stdout.waitFor("ready")
	cancel.Write([]byte("cancel\n"))
	stdout.waitFor("step: sending SIGINT")
	stdout.waitFor("step: sending SIGTERM")
	// The step's end may come first: the runner reads its pipes for 5 s
	// more, as the child's last words may come after.
	stdout.skipUntil("the child's TERM: ward must stop the child once the runner killed the step's shell", func(l string) bool { return l == "child got TERM" })
}

// TestCIStepBackgroundOutlivesStep: a step's `ward run -- server &`, a
// service for the job's later steps, runs on when the step's shell exits
// (bash starts it with SIGINT ignored: ward does not take the shell's end
// for a cancel). A SIGUSR1 to ward, forwarded after whatever ward received
// when the shell exited, shows the server got nothing before it.
func TestCIStepBackgroundOutlivesStep(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	step := backgroundStep(t, w, m, w.env)
	step.stdout.waitFor("step: exited")
	exitWithin(t, step.cmd, 10*time.Second)
	log := step.log
	server, ward := step.server(t)
	t.Cleanup(func() { syscall.Kill(server, syscall.SIGKILL) })
	syscall.Kill(ward, syscall.SIGUSR1)
	waitUntil(t, "the server's SIGUSR1", func() bool { return strings.Contains(log(), "child SIGUSR1") })
	if before, _, _ := strings.Cut(log(), "child SIGUSR1"); strings.Contains(before, "child SIGTERM") {
		t.Errorf("the step's background ward run stopped its server when the step's shell exited")
	}
	syscall.Kill(server, syscall.SIGUSR2)
}

// TestCIStepBackgroundLetsTheStepEnd: under GitHub Actions, a step's
// `ward run -- server > log 2>&1 &` registers its values with the runner
// through the step's stream, then lets that stream go: ward held it for
// its whole life, and the runner, which waits for a step's pipes to
// close, waited 5 s at the step's end, then took what ward wrote there
// later as the output of a step that had ended. A value rotation brings
// in once the step has ended is a warning.
func TestCIStepBackgroundLetsTheStepEnd(t *testing.T) {
	w := newWardEnv(t)
	first, second := canary("bg-step-1"), canary("bg-step-2")
	w.set("app/token", first)
	m := w.manifest("version: 1\nenv:\n  TOKEN: local://app/token\nrotation:\n  debounce: 100ms\n  stop_timeout: 1s\n")
	step := backgroundStep(t, w, m, append(w.env, "GITHUB_ACTIONS=true"))
	end := step.stdout.waitFor("step: ")
	exitWithin(t, step.cmd, 10*time.Second)
	if end != "step: exited" {
		t.Errorf("the step's end: %q, want \"step: exited\" with its output closed", end)
	}
	if !strings.Contains(step.stderr.String(), "::add-mask::"+first+"\n") {
		t.Errorf("the value was not registered through the step's stream")
	}
	log := step.log
	_, ward := step.server(t)
	t.Cleanup(func() { syscall.Kill(ward, syscall.SIGKILL) })
	w.set("app/token", second)
	waitUntil(t, "the warning of a value not registered", func() bool {
		return strings.Contains(log(), "the CI step that started ward has ended")
	})
	syscall.Kill(ward, syscall.SIGTERM)
	waitUntil(t, "ward's end", func() bool { return syscall.Kill(ward, 0) != nil })
}

// bgStep is a runner's step whose script starts `ward run -m M --
// helper signals --exit-on SIGUSR2 > LOG 2>&1 &` and ends once the server
// is up (ward, started, has looked at its parent).
type bgStep struct {
	cmd     *exec.Cmd
	stdout  *lines
	stderr  *strings.Builder
	logFile string
}

// backgroundStep starts that step, with env, under a runner's worker.
func backgroundStep(t *testing.T, w *wardEnv, m string, env []string) *bgStep {
	t.Helper()
	runner := runnerWorker(t)
	st := &bgStep{logFile: filepath.Join(w.dir, "server.log")}
	script := filepath.Join(w.dir, "step.sh")
	body := "ward run -m " + m + " -- helper signals --exit-on SIGUSR2 >" + st.logFile + " 2>&1 &\n" +
		"for i in $(seq 400); do grep -q 'child ready' " + st.logFile + " && break; sleep 0.05; done\n"
	if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	st.cmd = &exec.Cmd{Path: runner, Args: []string{"helper", "step", "bash", "--noprofile", "--norc", "-eo", "pipefail", script}, Env: env, Dir: w.dir}
	st.stdout, st.stderr = started(t, st.cmd)
	return st
}

// log is the server's log so far.
func (st *bgStep) log() string { b, _ := os.ReadFile(st.logFile); return string(b) }

// server waits for the server to be ready and returns its pid and ward's.
func (st *bgStep) server(t *testing.T) (server, ward int) {
	t.Helper()
	waitUntil(t, "the server ready", func() bool {
		_, ready, ok := strings.Cut(st.log(), "child ready ")
		_, err := fmt.Sscanf(ready, "pid=%d", &server)
		return ok && err == nil
	})
	ward, ok := parentPid(server)
	if !ok {
		t.Fatal("the server has no parent")
	}
	return server, ward
}

// parentPid reads pid's parent from /proc/PID/stat.
func parentPid(pid int) (int, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// TestCIMaskAfterAnOpenLine: the step printed a line without its end on
// stderr (`printf 'deploying... ' >&2`, a progress meter, another job of
// a `make -j`) before ward registered its values there, with no log line
// of ward's before them (--log-level warn; text logs, whose audit lines
// are at debug). The runner takes
// a command only at the start of a line: it printed "deploying...
// ::add-mask::VALUE" as it was, the value in clear. ward's registrations
// now start with a line break, as those written while the child runs do.
func TestCIMaskAfterAnOpenLine(t *testing.T) {
	w := newWardEnv(t)
	v := canary("openline")
	w.set("ci/token", v)
	m := w.manifest("version: 1\nenv:\n  TOKEN: local://ci/token\n")
	ward, err := exec.LookPath("ward")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `printf 'deploying... ' >&2; "$0" run --log-level warn -m "$1" -- helper exit 0`, ward, m)
	cmd.Env = append(w.env, "GITHUB_ACTIONS=true")
	cmd.Dir = w.dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if code := exitCode(t, cmd.Run()); code != 0 {
		t.Fatalf("got exit code %d, want 0", code)
	}
	// The lines as the runner reads them: ended by LF, CR or CR LF,
	// commands after leading white space.
	registered := false
	for _, line := range strings.FieldsFunc(stderr.String(), func(r rune) bool { return r == '\n' || r == '\r' }) {
		if !strings.Contains(line, v) {
			continue
		}
		if strings.HasPrefix(strings.TrimLeft(line, " \t"), "::add-mask::") {
			registered = true
			continue
		}
		t.Errorf("a line the runner prints as it is holds TOKEN's value")
	}
	if !registered {
		t.Errorf("no ::add-mask:: line for TOKEN")
	}
}

// TestCIRegistrationsReadBeforeTheChild: the child starts once the
// runner has read ward's registrations from stderr. The runner reads a
// step's stdout and stderr on a thread each and acts on what they read
// in turns; a child started as soon as they were written could have its
// first line on stdout read first, and printed in clear (2 of 30 steps
// on a loaded machine, in a helper's play of the runner). Here the
// runner's stderr thread comes late.
func TestCIRegistrationsReadBeforeTheChild(t *testing.T) {
	w := newWardEnv(t)
	v := canary("first")
	w.set("ci/token", v)
	m := w.manifest("version: 1\nenv:\n  TOKEN: local://ci/token\n")
	// ward waits up to a second for the read: a run where the test itself
	// read later than that after it saw the bytes (a loaded machine's
	// delay, not ward's) shows nothing, and is run again.
	for run := 1; ; run++ {
		early, late := registrationsReadLate(t, w, m)
		if early == 0 {
			return
		}
		if !late || run == 3 {
			t.Fatalf("the child's first line on stdout came %s before the runner read the registrations on stderr (run %d)", early, run)
		}
	}
}

// registrationsReadLate runs TestCIRegistrationsReadBeforeTheChild's
// child once, and says how long before the runner's read of stderr the
// child's first line came (0 for after), and whether that read came over
// 800 ms after the registrations were seen.
func registrationsReadLate(t *testing.T, w *wardEnv, m string) (early time.Duration, late bool) {
	t.Helper()
	cmd := w.command("run", "--log-level", "warn", "-m", m, "--", "sh", "-c", `echo "$TOKEN"`)
	cmd.Env = append(cmd.Env, "GITHUB_ACTIONS=true")
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer errR.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outR.Close()
	cmd.Stdout, cmd.Stderr = outW, errW
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	outW.Close()
	errW.Close()
	firstLine := make(chan time.Time, 1)
	go func() {
		br := bufio.NewReader(outR)
		br.ReadString('\n')
		firstLine <- time.Now()
		io.Copy(io.Discard, br)
	}()
	waitUntil(t, "ward's registrations in its stderr", func() bool {
		n, err := signals.IoctlInt(int(errR.Fd()), unix.TIOCINQ)
		return err == nil && n > 0
	})
	seen := time.Now()
	// The stderr thread's lateness: the shape of the runner's reading,
	// not a wait for an event.
	time.Sleep(300 * time.Millisecond)
	readAt := time.Now()
	stderr, _ := io.ReadAll(errR)
	if code := exitCode(t, cmd.Wait()); code != 0 {
		t.Fatalf("got exit code %d, want 0", code)
	}
	if !strings.Contains(string(stderr), "::add-mask::") {
		t.Fatalf("no registration on stderr")
	}
	select {
	case at := <-firstLine:
		if at.Before(readAt) {
			return readAt.Sub(at), readAt.Sub(seen) > 800*time.Millisecond
		}
		return 0, false
	case <-time.After(10 * time.Second):
		t.Fatalf("no line from the child on stdout")
	}
	return 0, false
}

// TestCIRootCleanupSparesTheHelpers: a runner that runs as root (a
// self-hosted runner in a container) reads every process's environment,
// ward's too: its cleanup at the job's end SIGKILLs ward with the child
// (a step's `ward run -- server &`). ward's store helpers, which give
// back ward's leases once it is gone, carried the marker too and died
// with it: the database role of the dynamic credential stayed until its
// TTL. They carry none now, and revoke.
func TestCIRootCleanupSparesTheHelpers(t *testing.T) {
	if os.Geteuid() != 0 {
		vaulttest.RequireIntegration(t, "the root runner's cleanup reads every process's environment as root")
	}
	id := "github_" + canary("root")
	// For ward (newWardEnv copies the environment); this process's own
	// /proc environ, which the cleanup reads, is as it started.
	t.Setenv("RUNNER_TRACKING_ID", id)
	pg, rolePart, cmd, _, exit := dbChild(t, "1h", "2h", "")
	if n := pg.Roles(t, rolePart); n != 1 {
		t.Fatalf("%d database roles of the child's Vault role, want 1", n)
	}
	helper := helperOf(t, cmd.Process.Pid, "ward-vault")
	clean := exec.Command("helper", "kill-marked", "RUNNER_TRACKING_ID="+id)
	clean.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := clean.Output()
	if err != nil {
		t.Fatalf("the runner's cleanup: %v", err)
	}
	t.Logf("the runner's cleanup: %s", strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", "; "))
	exit(10 * time.Second)
	waitUntil(t, "the helper to end", func() bool { return syscall.Kill(helper, 0) != nil })
	if n := pg.Roles(t, rolePart); n != 0 {
		t.Errorf("%d database roles left after the runner's cleanup killed ward, want 0: its helper did not give the lease back", n)
	}
}

// TestCIStepShellCancelledWhileResolving: the job is cancelled while ward,
// in the step shell's foreground, still waits for a store (a hung Vault).
// The shell's death stops ward there, as any SIGTERM does then: 143 and
// the reason, and no child. ward used to go on waiting, and would start
// the child of a cancelled job once the store answered.
func TestCIStepShellCancelledWhileResolving(t *testing.T) {
	w := newWardEnv(t)
	runner := runnerWorker(t)
	addr, accepted, _ := silentVault(t)
	m := w.manifest("version: 1\nenv:\n  TOKEN: vault://secret/app#token\nrotation:\n  stop_timeout: 1s\n")
	script := filepath.Join(w.dir, "step.sh")
	if err := os.WriteFile(script, []byte("ward run -m "+m+" -- helper exit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := &exec.Cmd{Path: runner, Args: []string{"helper", "step", "bash", "--noprofile", "--norc", "-eo", "pipefail", script}, Env: append(w.env, "VAULT_ADDR="+addr, "VAULT_TOKEN=t"), Dir: w.dir}
	cancel, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr := started(t, cmd)
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("ward's Vault helper never connected")
	}
	ward := processOf("ward", m)
	if ward == 0 {
		t.Fatal("no ward process running the step's manifest")
	}
	t.Cleanup(func() { syscall.Kill(ward, syscall.SIGKILL) })
	cancel.Write([]byte("cancel\n"))
	stdout.waitFor("step: sending SIGTERM")
	stdout.waitFor("step: exited")
	exitWithin(t, cmd, 10*time.Second)
	if !strings.Contains(stderr.String(), "stopped by SIGTERM while resolving secrets") {
		t.Errorf("ward did not stop when the runner killed the step's shell during its resolve; stderr: %s", stderr)
	}
}

// processOf returns the pid of the process named name whose command line
// holds arg, 0 when there is none.
func processOf(name, arg string) int {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		argv := strings.Split(string(b), "\x00")
		if filepath.Base(argv[0]) == name && slices.Contains(argv, arg) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			return pid
		}
	}
	return 0
}

// runnerWorker is the test binary under the name of actions/runner's
// worker process, Runner.Worker, which ward finds as its parent's (or its
// step shell's parent's) to know a CI runner cancels it.
func runnerWorker(t *testing.T) string {
	t.Helper()
	runner := filepath.Join(t.TempDir(), "Runner.Worker")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, runner); err != nil {
		t.Fatal(err)
	}
	return runner
}
