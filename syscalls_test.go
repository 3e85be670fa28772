package main

// System calls of ward's that fail, made to by strace's fault injection
// (`-e inject=SYSCALL:error=ERRNO`): at the places where a failure must
// leave nothing half-done, nothing is, and what cannot be undone is said.

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
)

// underStrace is ward with args under `strace -f -qq`, straceArgs (its
// -e trace=, -P and -e inject=) before ward, the trace written to the
// returned path in w's directory (which w's audit searches for canaries).
// Never -v: it prints the environment. ward is strace's child (tracee).
func (w *wardEnv) underStrace(t *testing.T, straceArgs []string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	if _, err := exec.LookPath("strace"); err != nil {
		vaulttest.RequireIntegration(t, "strace is not installed")
	}
	ward, err := exec.LookPath("ward")
	if err != nil {
		t.Fatal(err)
	}
	trace := filepath.Join(w.dir, "strace.out")
	cmd := exec.Command("strace", slices.Concat([]string{"-f", "-qq", "-o", trace}, straceArgs, []string{ward}, args)...)
	cmd.Env, cmd.Dir = w.env, w.dir
	return cmd, trace
}

// tracedWard is the pid of ward under cmd, strace run by underStrace.
func tracedWard(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	ward, _ := exec.LookPath("ward")
	return tracee(t, cmd.Process.Pid, ward)
}

// TestSyscallsSecretDirNotRemoved: the run's private directory cannot be
// removed at the end (every unlink of its secret file fails with EBUSY,
// as of a file a scanner or a FUSE daemon holds): ward says so, naming
// the directory and the file left in it, and exits with the program's
// status; the next `ward run` sweeps it. The secret file stayed on the
// tmpfs and ward said nothing.
func TestSyscallsSecretDirNotRemoved(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/a", canary("leftenv"))
	w.set("app/key", canary("leftkey"))
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\nfiles:\n  - path: left.key\n    ref: local://app/key\n    env: KEY_FILE\n")
	// -P with the bare name: the unlinkat of the file (relative to the
	// directory) is the one made to fail, each time.
	cmd, _ := w.underStrace(t, []string{"-e", "trace=unlinkat", "-P", "left.key", "-e", "inject=unlinkat:error=EBUSY"},
		"run", "-m", m, "--", "sh", "-c", `test -s "$KEY_FILE" && exit 3`)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Fatalf("got exit code %d (%v), want the program's 3", code, err)
	}
	var left string
	filepath.WalkDir(w.runtime, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "left.key" {
			left = p
		}
		return nil
	})
	if left == "" {
		t.Fatalf("strace's EBUSY did not keep the file: nothing to say")
	}
	said := false
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, "could not be removed") && strings.Contains(line, filepath.Dir(left)) && strings.Contains(line, `"left":"left.key"`) {
			said = true
		}
	}
	if !said {
		t.Errorf("ward did not say that %s is left; stderr:\n%s", left, stderr.String())
	}
	for _, c := range w.canaries {
		if strings.Contains(stdout.String()+stderr.String(), c) {
			t.Errorf("a canary is in ward's output")
		}
	}
	// The next run, its lock released, sweeps it.
	if code, _, e := w.run("run", "-m", m, "--", "true"); code != 0 {
		t.Fatalf("the next run: exit code %d\n%s", code, e)
	}
	w.noSecretFile(t, "left.key")
}

// TestSyscallsLocalSetNotSynced: `ward local set` whose store is renamed
// into place but whose directory's fsync fails (EIO, a disk failing):
// 125, and the error says the new value is written, but may not survive
// a crash; `ward local get` reads the new value. It said "write the local
// store: sync DIR: input/output error", which reads as a set that did not
// happen, of a value already in place (and of `ward local rm`, a value
// already gone).
func TestSyscallsLocalSetNotSynced(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/a", canary("syncold"))
	v := canary("syncnew")
	w.canaries = append(w.canaries, v)
	storeDir := filepath.Join(w.dir, "data", "ward")
	cmd, _ := w.underStrace(t, []string{"-e", "trace=fsync", "-P", storeDir, "-e", "inject=fsync:error=EIO"}, "local", "set", "app/a")
	cmd.Stdin = strings.NewReader(v)
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 125 {
		t.Fatalf("got exit code %d, want 125:\n%s", code, out)
	}
	if !strings.Contains(string(out), "store.age is written, but a crash or power loss may undo it") || !strings.Contains(string(out), "input/output error") {
		t.Errorf("the error does not say the value is written:\n%s", out)
	}
	if strings.Contains(string(out), v) {
		t.Errorf("the value is in the error")
	}
	if got, err := w.command("local", "get", "app/a").Output(); err != nil || string(got) != v {
		t.Errorf("ward local get: %v, not the value set", err)
	}
}

// TestSyscallsInitGitignoreNotWritten: ward init writes the manifest,
// then cannot put .gitignore in place (its rename fails: EIO). The error
// says the manifest is written and .env not ignored yet, and how to go
// on; it said only "update .gitignore: ... input/output error", and the
// same command again said that ward.yaml "already exists".
func TestSyscallsInitGitignoreNotWritten(t *testing.T) {
	w := newWardEnv(t)
	dir := filepath.Join(w.dir, "svc")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd, _ := w.underStrace(t, []string{"-e", "trace=/^rename", "-P", ".gitignore", "-e", "inject=/^rename:error=EIO"}, "init")
	cmd.Dir = dir
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 125 {
		t.Fatalf("got exit code %d, want 125:\n%s", code, out)
	}
	for _, want := range []string{"update .gitignore: ", "input/output error", "ward.yaml is written; .env is not in .gitignore yet", "ward init --force"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the output does not say %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ward.yaml")); err != nil {
		t.Errorf("the manifest is not there: %v", err)
	}
	// The way on it names.
	again := w.command("init", "--force")
	again.Dir = dir
	if b, err := again.CombinedOutput(); err != nil || !strings.Contains(string(b), "added .env to .gitignore") {
		t.Errorf("ward init --force: %v:\n%s", err, b)
	}
}

// importUnderStrace runs `ward import --name-prefix app/` of a .env of
// two secrets and a plain value into w's manifest (which exists), under
// strace with straceArgs; it returns ward's exit code and output.
func importUnderStrace(t *testing.T, w *wardEnv, straceArgs ...string) (int, string) {
	t.Helper()
	env := "API_TOKEN=" + canary("imptok") + "\nDB_PASSWORD=" + canary("imppw") + "\nPORT=8080\n"
	for _, line := range strings.Split(strings.TrimSpace(env), "\n")[:2] {
		w.canaries = append(w.canaries, strings.SplitN(line, "=", 2)[1])
	}
	if err := os.WriteFile(filepath.Join(w.dir, ".env"), []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, "ward.yaml"), []byte("version: 1\nenv:\n  OLD: {value: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, _ := w.underStrace(t, straceArgs, "import", "--name-prefix", "app/")
	out, _ := cmd.CombinedOutput()
	for _, c := range w.canaries {
		if strings.Contains(string(out), c) {
			t.Errorf("a canary is in ward's output")
		}
	}
	// The .env's values are not the audit's business: it is the user's.
	os.Remove(filepath.Join(w.dir, ".env"))
	return cmd.ProcessState.ExitCode(), string(out)
}

// TestSyscallsImportManifestNotSynced: `ward import` whose manifest is
// renamed into place but whose directory's fsync then fails (EIO): the
// manifest refers to the secrets, and they stay in the local store: 125,
// "imported, but not surely kept", and `ward run` starts the program.
// ward took the secrets back out of the store and said "nothing was
// imported", with the new manifest in place: every `ward run` failed
// with `no entry "app/API_TOKEN" in the local store`.
func TestSyscallsImportManifestNotSynced(t *testing.T) {
	w := newWardEnv(t)
	// The store and its identity made first: their directories' making
	// syncs w.dir too.
	w.set("other/x", canary("impother"))
	code, out := importUnderStrace(t, w, "-e", "trace=fsync", "-P", w.dir, "-e", "inject=fsync:error=EIO")
	if code != 125 || !strings.Contains(out, "imported, but not surely kept") || strings.Contains(out, "nothing was imported") {
		t.Errorf("got exit code %d, want 125 and that the import is written but not synced:\n%s", code, out)
	}
	b, _ := os.ReadFile(filepath.Join(w.dir, "ward.yaml"))
	if !strings.Contains(string(b), "local://app/API_TOKEN") {
		t.Fatalf("strace's EIO came before the manifest was in place:\n%s", b)
	}
	if code, _, e := w.run("run", "--", "sh", "-c", `test -n "$API_TOKEN" && test -n "$DB_PASSWORD"`); code != 0 {
		t.Errorf("ward run with the manifest the import left: exit code %d\n%s", code, e)
	}
}

// TestSyscallsRotationSignalAllOrNone: a rotation with on_change: signal
// of two files at once (a certificate and its key), the second's rename
// into place failing (EIO): the child keeps both old files, as ward says.
// ward had put the first in place already and left it there: the child,
// told it kept the old ones, had a new certificate beside its old key.
func TestSyscallsRotationSignalAllOrNone(t *testing.T) {
	w := newWardEnv(t)
	v1, v2 := canary("pair1"), canary("pair2")
	w.set("app/pair", v1)
	m := w.manifest("version: 1\nfiles:\n  - path: a.pem\n    ref: local://app/pair\n    env: A_FILE\n  - path: b.pem\n    ref: local://app/pair\n    env: B_FILE\nrotation:\n  on_change: signal\n  signal: SIGUSR1\n  debounce: 100ms\n")
	// Every rename onto b.pem fails; a.pem's, before it, is let be.
	cmd, _ := w.underStrace(t, []string{"-e", "trace=renameat", "-P", "b.pem", "-e", "inject=renameat:error=EIO"},
		"run", "-m", m, "--", "sh", "-c", `trap 'echo signalled' USR1; echo "files $A_FILE $B_FILE"; while :; do sleep 0.05; done`)
	stdout, stderr := startedLines(t, cmd)
	defer cmd.Process.Kill()
	f := strings.Fields(stdout.waitFor("files "))
	if len(f) != 3 {
		t.Fatalf("the child's line: %q", f)
	}
	w.set("app/pair", v2)
	line := stderr.waitForContaining("cannot rewrite secret files")
	if !strings.Contains(line, f[2]) || !strings.Contains(line, "input/output error") {
		t.Errorf("the error does not name %s and the EIO: %s", f[2], redactAll(line, v1, v2))
	}
	for _, p := range f[1:] {
		if b, err := os.ReadFile(p); err != nil || string(b) != v1 {
			t.Errorf("%s: not the old value (%v): the child has a mix of old and new files", filepath.Base(p), err)
		}
	}
	syscall.Kill(tracedWard(t, cmd), syscall.SIGTERM)
	exitWithin(t, cmd, 15*time.Second)
	stdout.noCanary(t, v1, v2)
	stderr.noCanary(t, v1, v2)
	w.noSecretFile(t, "a.pem")
}

// TestSyscallsGuardDirNotRemoved: ward killed (SIGKILL), its guard
// cannot remove the run's private directory (every unlink of the secret
// file fails with EBUSY): the guard says so, naming the directory and the
// file left; the next `ward run` sweeps it. The guard said nothing.
func TestSyscallsGuardDirNotRemoved(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/key", canary("guardkey"))
	m := w.manifest("version: 1\nfiles:\n  - path: guard.key\n    ref: local://app/key\n    env: KEY_FILE\n")
	cmd, _ := w.underStrace(t, []string{"-e", "trace=unlinkat", "-P", "guard.key", "-e", "inject=unlinkat:error=EBUSY"},
		"run", "-m", m, "--", "sh", "-c", `echo ready; while :; do sleep 0.05; done`)
	stdout, stderr := startedLines(t, cmd)
	defer cmd.Process.Kill()
	stdout.waitFor("ready")
	ward := tracedWard(t, cmd)
	if waitGuard(ward) == 0 {
		t.Fatal("ward started no guard")
	}
	syscall.Kill(ward, syscall.SIGKILL)
	line := stderr.waitForContaining("could not be removed")
	if !strings.Contains(line, `"left":"guard.key"`) || !strings.Contains(line, filepath.Join(filepath.Base(w.runtime), "ward-")) {
		t.Errorf("the guard's line does not name the directory and the file left: %s", line)
	}
	exitWithin(t, cmd, 15*time.Second)
	stdout.noCanary(t, w.canaries...)
	stderr.noCanary(t, w.canaries...)
	if code, _, e := w.run("run", "-m", m, "--", "true"); code != 0 {
		t.Fatalf("the next run: exit code %d\n%s", code, e)
	}
	w.noSecretFile(t, "guard.key")
}

// TestSyscallsPastePollInterrupted: a multi-line paste at `ward local
// set`'s prompt while a signal interrupts ward's wait for the paste's
// next line (a terminal resized: SIGWINCH, which the Go runtime
// catches): the paste is refused as one, as without the signal. ward
// took the interrupted wait for "no line coming", flushed the lines
// there, and asked for the first line again ("again: ") as if it had been
// typed.
func TestSyscallsPastePollInterrupted(t *testing.T) {
	if _, err := exec.LookPath("strace"); err != nil {
		vaulttest.RequireIntegration(t, "strace is not installed")
	}
	w := newWardEnv(t)
	term := newTerminal(t, w)
	trace := filepath.Join(w.dir, "strace.out")
	line2, line3 := canary("intr2"), canary("intr3")
	// The first ppoll of each thread interrupted: the one that waits for
	// the paste's next line.
	term.send("strace -f -qq -o " + trace + " -e trace=ppoll -e inject=ppoll:error=EINTR:when=1 ward local set app/pem\n")
	term.expect(`value for app/pem \(not echoed\): `)
	from := term.seen
	term.send("-----BEGIN PRIVATE KEY-----\n" + line2 + "\n" + line3 + "\n-----END PRIVATE KEY-----\n")
	pasteRefused(t, term, from, line2, line3)
	if b, _ := os.ReadFile(trace); !strings.Contains(string(b), "INJECTED") {
		t.Errorf("no ppoll was interrupted:\n%s", b)
	}
	if _, out, _ := w.run("local", "list"); strings.Contains(out, "app/pem") {
		t.Errorf("app/pem was stored")
	}
}

// TestSyscallsRestartFilesNotWritten: a rotation's restart whose new
// secret file cannot be written (its temporary file's openat fails with
// EIO: a disk or a FUSE mount failing; the descriptors run out) leaves
// the old child running on its old files, as the log says, and ward
// exits with its status when stopped. ward wrote the new files only once
// the old child had stopped, and then ended the run with 125, nothing
// running. strace attaches to the running ward, whose pid names the
// temporary file (.tmp-NAME-PID).
func TestSyscallsRestartFilesNotWritten(t *testing.T) {
	w, cmd, stdout, stderr, f, v1, v2 := restartUnderFault(t, func(pid int) []string {
		return []string{"-e", "trace=openat", "-P", ".tmp-b.pem-" + strconv.Itoa(pid), "-e", "inject=openat:error=EIO"}
	})
	line := stderr.waitForContaining("cannot write the new secret files")
	if !strings.Contains(line, "the child keeps running on the old ones") || !strings.Contains(line, "b.pem") || !strings.Contains(line, "input/output error") {
		t.Errorf("the error does not say the child keeps running, or does not name b.pem and the EIO: %s", redactAll(line, v1, v2))
	}
	entries, err := os.ReadDir(filepath.Dir(f[1]))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("a temporary file is left beside the child's files: %s", e.Name())
		}
	}
	for _, p := range f[1:] {
		if b, err := os.ReadFile(p); err != nil || string(b) != v1 {
			t.Errorf("%s: not the old value (%v)", filepath.Base(p), err)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitWithin(t, cmd, 15*time.Second); code != 143 {
		t.Errorf("got exit code %d, want 143: the old child's status when stopped", code)
	}
	noRestart(t, stdout, v1, v2)
	stderr.noCanary(t, v1, v2)
	w.noSecretFile(t, "a.pem")
}

// TestSyscallsRestartFileNotRenamed: a restart whose new file's rename
// into place fails (EIO) once the old child is gone ends the run with
// 125 naming the file, no new child started with half its files, the
// run's directory removed.
func TestSyscallsRestartFileNotRenamed(t *testing.T) {
	w, cmd, stdout, stderr, _, v1, v2 := restartUnderFault(t, func(int) []string {
		return []string{"-e", "trace=renameat", "-P", "b.pem", "-e", "inject=renameat:error=EIO"}
	})
	line := stderr.waitForContaining("input/output error")
	if !strings.Contains(line, "b.pem") || !strings.Contains(line, "the child was stopped for new secrets and cannot be restarted") {
		t.Errorf("the error does not say the child was stopped and cannot be restarted, or does not name b.pem: %s", redactAll(line, v1, v2))
	}
	if code := exitWithin(t, cmd, 15*time.Second); code != 125 {
		t.Errorf("got exit code %d, want 125", code)
	}
	noRestart(t, stdout, v1, v2)
	stderr.noCanary(t, v1, v2)
	w.noSecretFile(t, "a.pem")
}

// restartUnderFault starts ward over a child with the files a.pem and
// b.pem of one local secret, attaches strace with the arguments fault
// gives for ward's pid, and changes the secret: a restart. It returns the
// child's "files" line's fields and the old and new values.
func restartUnderFault(t *testing.T, fault func(pid int) []string) (w *wardEnv, cmd *exec.Cmd, stdout, stderr *lines, f []string, v1, v2 string) {
	t.Helper()
	w = newWardEnv(t)
	v1, v2 = canary("restart1"), canary("restart2")
	w.set("app/pair", v1)
	m := w.manifest("version: 1\nfiles:\n  - path: a.pem\n    ref: local://app/pair\n    env: A_FILE\n  - path: b.pem\n    ref: local://app/pair\n    env: B_FILE\nrotation:\n  debounce: 100ms\n")
	cmd = w.command("run", "-m", m, "--", "sh", "-c", `echo "files $A_FILE $B_FILE"; while :; do sleep 0.05; done`)
	stdout, stderr = startedLines(t, cmd)
	f = strings.Fields(stdout.waitFor("files "))
	if len(f) != 3 {
		t.Fatalf("the child's line: %q", f)
	}
	w.straceAttached(t, cmd.Process.Pid, fault(cmd.Process.Pid)...)
	w.set("app/pair", v2)
	return w, cmd, stdout, stderr, f, v1, v2
}

// noRestart reads the rest of stdout, once ward has exited, and fails
// the test if the child started again or a canary is there.
func noRestart(t *testing.T, stdout *lines, canaries ...string) {
	t.Helper()
	for line := range stdout.ch {
		if strings.HasPrefix(line, "files ") {
			t.Errorf("the child was started again")
		}
		for _, c := range canaries {
			if strings.Contains(line, c) {
				t.Errorf("a canary is in ward's output")
			}
		}
	}
}

// straceAttached attaches `strace -f -qq` with straceArgs (its -e trace=,
// -P and -e inject=) to the running ward pid, every thread of it, and
// returns once each is traced; the trace is written in w's directory
// (which w's audit searches for canaries). Attaching needs root (ward is
// not dumpable).
func (w *wardEnv) straceAttached(t *testing.T, pid int, straceArgs ...string) {
	t.Helper()
	if _, err := exec.LookPath("strace"); err != nil || os.Geteuid() != 0 {
		vaulttest.RequireIntegration(t, "the test needs strace and root to attach to ward")
	}
	cmd := exec.Command("strace", slices.Concat([]string{"-f", "-qq", "-o", filepath.Join(w.dir, "strace.out")}, straceArgs, []string{"-p", strconv.Itoa(pid)})...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitUntil(t, "strace attached to every thread of ward", func() bool {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			t.Fatalf("ward is gone: %v (strace: %s)", err, out.String())
		}
		for _, task := range tasks {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, task.Name()))
			if !strings.Contains(string(b), "\nTracerPid:\t"+strconv.Itoa(cmd.Process.Pid)+"\n") {
				return false
			}
		}
		return true
	})
}
