package main

import (
	"crypto/sha256"
	"encoding/hex"
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

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"golang.org/x/sys/unix"
)

// TestFilesRemovedOnSignals: secret files exist while the child runs and
// are gone after ward is stopped by SIGTERM or SIGINT (forwarded to the
// child, which exits); the canary is never in ward's output, its
// /proc environ or cmdline, or any file outside the runtime directory.
func TestFilesRemovedOnSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			w := newWardEnv(t)
			secret := canary("file")
			w.set("app/key", secret)
			m := w.manifest("version: 1\nfiles:\n  - path: key.pem\n    ref: local://app/key\n    env: KEY_FILE\n")
			cmd := w.command("run", "-m", m, "--", "helper", "signals", "--exit-on", unix.SignalName(sig))
			out, _ := cmd.StdoutPipe()
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			l := readLines(t, out)
			l.waitFor("child ready")

			files := listFiles(t, w.runtime)
			if len(files) != 1 || filepath.Base(files[0]) != "key.pem" {
				t.Fatalf("got files %v while the child runs, want one key.pem", files)
			}
			auditProc(t, cmd.Process.Pid, secret)

			cmd.Process.Signal(sig)
			code := exitCode(t, cmd.Wait())
			if code != 0 {
				t.Errorf("got exit code %d, want 0 (the child exits 0 on the signal)", code)
			}
			if files := listFiles(t, w.runtime); len(files) != 0 {
				t.Errorf("files left after %v: %v", sig, files)
			}
			if strings.Contains(stderr.String(), secret) {
				t.Errorf("the canary is in ward's stderr")
			}
			if found := scanForValue(w.dir, []byte(secret)); len(found) > 0 {
				t.Errorf("the canary is in files outside the runtime dir: %v", found)
			}
		})
	}
}

// nobodyBin returns a directory that any user can read, holding copies of
// the test binary as ward and helper, for ward run as uid 65534.
func nobodyBin(t *testing.T) string {
	t.Helper()
	bin, err := os.MkdirTemp("", "ward-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(bin) })
	os.Chmod(bin, 0o755)
	self, _ := os.Executable()
	for _, name := range []string{"ward", "helper"} {
		data, err := os.ReadFile(self)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// TestHardening: ward is non-dumpable with a core limit of 0; the child
// gets the core limit ward was started with. ward runs as an unprivileged
// user so that non-dumpable is visible: the kernel then hands ward's /proc
// entries to root, while the (dumpable) child's stay its own.
func TestHardening(t *testing.T) {
	if os.Geteuid() != 0 {
		vaulttest.RequireIntegration(t, "the hardening test switches to uid 65534 and needs root")
	}
	bin := nobodyBin(t)
	manifest := filepath.Join(bin, "ward.yaml")
	os.WriteFile(manifest, []byte(emptyManifest), 0o644)

	cmd := exec.Command(filepath.Join(bin, "ward"), "run", "-m", manifest, "--", "sh", "-c", "helper rlimit-core; exec helper signals --exit-on TERM")
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=/", "WARD_LOG_FORMAT=json"}
	cmd.Dir = bin
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	l := readLines(t, out)
	child := l.waitFor("core=")
	var childPid int
	fmt.Sscanf(l.waitFor("child ready"), "child ready pid=%d", &childPid)

	wardOwner := procOwner(t, cmd.Process.Pid)
	childOwner := procOwner(t, childPid)
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitCode(t, cmd.Wait()); code != 0 {
		t.Errorf("got exit code %d, want 0 (stderr: %s)", code, stderr.String())
	}

	if wardOwner != 0 {
		t.Errorf("ward's /proc entry belongs to uid %d, want 0: ward is dumpable", wardOwner)
	}
	if childOwner != 65534 {
		t.Errorf("the child's /proc entry belongs to uid %d, want 65534: the child should stay dumpable", childOwner)
	}
	var wardCore string
	for _, line := range strings.Split(string(limits), "\n") {
		if strings.HasPrefix(line, "Max core file size") {
			wardCore = strings.Fields(line)[4]
		}
	}
	if wardCore != "0" {
		t.Errorf("got ward's core limit %q, want 0", wardCore)
	}
	var mine syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_CORE, &mine)
	want := fmt.Sprintf("core=%d", mine.Cur)
	if mine.Cur == ^uint64(0) {
		want = "core=18446744073709551615"
	}
	if child != want {
		t.Errorf("got child %q, want %q (the limit ward was started with)", child, want)
	}
}

// nobodyFiles sets up runs as uid 65534, for whom a directory's mode
// holds (root's does not): a manifest with one secret file at path, its
// path in TOK_FILE, then extra, and a runtime directory of nobody's on
// tmpfs. It returns the runtime directory, the file the secret is read
// from, and a ward run of the manifest that starts args (its own process
// group).
func nobodyFiles(t *testing.T, path, extra string) (rt, source string, ward func(args ...string) *exec.Cmd) {
	t.Helper()
	if os.Geteuid() != 0 {
		vaulttest.RequireIntegration(t, "the test switches to uid 65534 and needs root")
	}
	bin := nobodyBin(t)
	source = filepath.Join(bin, "source")
	os.WriteFile(source, []byte(canary("nobody")), 0o644)
	manifest := filepath.Join(bin, "ward.yaml")
	os.WriteFile(manifest, []byte("version: 1\nfiles:\n  - path: "+path+"\n    ref: file://"+source+"\n    env: TOK_FILE\n"+extra), 0o644)
	rt, err := os.MkdirTemp("/dev/shm", "ward-nobody-rt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("chmod", "-R", "u+rwx", rt).Run(); os.RemoveAll(rt) })
	os.Chown(rt, 65534, 65534)
	return rt, source, func(args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, "ward"), append([]string{"run", "-m", manifest, "--"}, args...)...)
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=/", "WARD_LOG_FORMAT=json", "WARD_RUNTIME_DIR=" + rt}
		cmd.Dir = bin
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}, Setpgid: true}
		return cmd
	}
}

// TestReadOnlySecretDirectoryRemoved: a child that makes its secret
// files' directories read-only (`chmod -R a-w`, an entrypoint's "make
// the secrets read-only"), as an ordinary user: ward removes them all the
// same. They stayed on the tmpfs for good, every later sweep failing as
// ward had.
func TestReadOnlySecretDirectoryRemoved(t *testing.T) {
	rt, _, ward := nobodyFiles(t, "a/b/tok", "")
	for _, child := range []string{`chmod -R a-w "$(dirname "$TOK_FILE")"`, `chmod 000 "$(dirname "$TOK_FILE")"`} {
		out, err := ward("sh", "-c", child).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", child, err, out)
		}
		if strings.Contains(string(out), "could not be removed") {
			t.Errorf("%s: %s", child, out)
		}
		left, _ := filepath.Glob(filepath.Join(rt, "*", "run-*"))
		if len(left) > 0 {
			t.Errorf("%s: the run's directory is left: %v", child, left)
		}
	}
}

// TestRotationIntoReadOnlySecretDirectory: a child that made its secret
// files' directories read-only, as an ordinary user, still gets the new
// values: ward makes them writable again to write them, in a restart and
// under on_change: signal alike. Every later rotation's write was refused
// ("permission denied"), and the child kept its old values for good.
func TestRotationIntoReadOnlySecretDirectory(t *testing.T) {
	for _, tc := range []struct{ mode, chmod string }{
		{"restart", `chmod -R a-w "$(dirname "$TOK_FILE")"; chmod a-w "$(dirname "$(dirname "$TOK_FILE")")"`},
		{"signal", `chmod -R a-w "$(dirname "$TOK_FILE")"; chmod a-w "$(dirname "$(dirname "$TOK_FILE")")"`},
		// The run directory itself, left without its x bit: looked up
		// through it, "." could not be made writable, and the error
		// said the directory "was removed".
		{"restart", `chmod 000 "$(dirname "$(dirname "$(dirname "$TOK_FILE")")")"`},
	} {
		mode := tc.mode
		t.Run(mode+" "+tc.chmod[:9], func(t *testing.T) {
			extra := "rotation:\n  debounce: 100ms\n  on_change: " + mode + "\n  signal: SIGHUP\n"
			_, source, ward := nobodyFiles(t, "a/b/tok", extra)
			hash := func() string {
				b, _ := os.ReadFile(source)
				sum := sha256.Sum256(b)
				return hex.EncodeToString(sum[:8])
			}
			// "changed" once the child's chmod is done: a change before
			// it tested nothing.
			script := `print() { echo "tok $(sha256sum < "$TOK_FILE" | cut -c1-16)"; }; trap print HUP; print; ` + tc.chmod + `; echo changed; while :; do sleep 0.05; done`
			cmd := ward("sh", "-c", script)
			stdout, stderr := startedLines(t, cmd)
			t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
			if got := stdout.waitFor("tok "); got != "tok "+hash() {
				t.Fatalf("the child's first file: got %q, want %q", got, "tok "+hash())
			}
			stdout.waitFor("changed")
			v2 := canary("readonly2")
			if err := os.WriteFile(source+".new", []byte(v2), 0o644); err != nil {
				t.Fatal(err)
			}
			os.Rename(source+".new", source)
			if got := stdout.waitFor("tok "); got != "tok "+hash() {
				t.Errorf("the child's file after the change: got %q, want the new value's %q", got, "tok "+hash())
			}
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			stderr.noCanary(t, v2)
		})
	}
}

// TestUnsearchableDeadRunSwept: a dead run's directory (ward and its
// guard killed) that the child made unsearchable (chmod 000 on the run
// directory itself, as an ordinary user) is removed by the next run's
// sweep. Its lock could not be opened, and the sweep (and the guard)
// left it, secrets and all, for good.
func TestUnsearchableDeadRunSwept(t *testing.T) {
	rt, _, ward := nobodyFiles(t, "a/tok", "")
	cmd := ward("sh", "-c", `chmod 000 "$(dirname "$(dirname "$TOK_FILE")")"; echo "$$"; exec sleep 600`)
	stdout, _ := startedLines(t, cmd)
	child, _ := strconv.Atoi(stdout.waitFor(""))
	t.Cleanup(func() { syscall.Kill(-child, syscall.SIGKILL) })
	guard := waitGuard(cmd.Process.Pid)
	if guard == 0 {
		t.Fatal("ward started no guard")
	}
	syscall.Kill(guard, syscall.SIGKILL)
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	syscall.Kill(-child, syscall.SIGKILL)
	cmd.Wait()
	waitUntil(t, "the child's end", func() bool { return gone(child) })
	if left, _ := filepath.Glob(filepath.Join(rt, "*", "run-*")); len(left) != 1 {
		t.Fatalf("want the dead run's directory before the sweep, got %v", left)
	}
	if out, err := ward("true").CombinedOutput(); err != nil {
		t.Fatalf("the next run: %v: %s", err, out)
	}
	if left, _ := filepath.Glob(filepath.Join(rt, "*", "run-*")); len(left) > 0 {
		t.Errorf("the dead run's unsearchable directory is left after the next run's sweep: %v", left)
	}
}

// TestHardeningOfEveryReader: ward check --resolve, ward scan and ward
// import hold values as ward run does, and are hardened from their start
// as it is: seen here by their core limit (0) while each waits, the two
// first for a store (a FIFO nobody writes), import for the rest of its
// .env on stdin. They were dumpable, with the limit they were given:
// another process of the user could read the values out of them, and a
// SIGABRT left a core holding them.
func TestHardeningOfEveryReader(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/a", canary("reader"))
	// The local store waits for its identity, read from a FIFO nobody
	// writes: a store slow to answer.
	fifo := filepath.Join(w.dir, "identity")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\n")
	for _, c := range []struct {
		args []string
		wait string
	}{
		{[]string{"check", "--resolve", "-m", m}, strconv.Itoa(unix.SYS_OPENAT) + " "},
		{[]string{"scan", "-m", m}, strconv.Itoa(unix.SYS_OPENAT) + " "},
		// read(0, ...)
		{[]string{"import", "-m", filepath.Join(w.dir, "imported.yaml"), "-"}, strconv.Itoa(unix.SYS_READ) + " 0x0 "},
	} {
		t.Run(c.args[0], func(t *testing.T) {
			cmd := exec.Command("sh", "-c", `ulimit -c unlimited && exec "$@"`, "sh")
			cmd.Args = append(cmd.Args, append([]string{"ward"}, c.args...)...)
			cmd.Env, cmd.Dir = append(slices.Clone(w.env), "WARD_IDENTITY="+fifo), w.dir
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			defer stdin.Close()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait()
			defer cmd.Process.Kill()
			if c.args[0] == "import" {
				stdin.Write([]byte("NEW_TOKEN=half-read\n"))
			}
			waitInSyscall(t, cmd.Process.Pid, c.wait, "ward "+c.args[0]+" to wait")
			limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", cmd.Process.Pid))
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(limits), "\n") {
				if f := strings.Fields(line); strings.HasPrefix(line, "Max core file size") && f[4] != "0" {
					t.Errorf("ward %s waits with a core limit of %s, want 0: it is not hardened", c.args[0], f[4])
				}
			}
		})
	}
}

// TestChildCoreLimitFromItsStart: the child has the core limit ward was
// started with from its first instruction, and so has the program of
// --exec. (ward lowers its own limit to 0; the child's used to be set
// back after it started, and a child that read it at once could see 0,
// the program of --exec always.)
func TestChildCoreLimitFromItsStart(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	limited := func(args ...string) string {
		cmd := exec.Command("sh", append([]string{"-c", `ulimit -c 2048 && exec "$@"`, "sh"}, args...)...)
		cmd.Env, cmd.Dir = w.env, w.dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	want := limited("helper", "rlimit-core")
	if want == "core=0" {
		t.Fatalf("the shell's ulimit -c 2048 gave a core limit of 0")
	}
	// A shell reads it within a few hundred microseconds of its exec: the
	// old race lost about every other run.
	shellWants := limited("sh", "-c", "ulimit -c")
	for i := range 20 {
		if got := limited("ward", "run", "-m", m, "--", "sh", "-c", "ulimit -c"); got != shellWants {
			t.Fatalf("run %d: the child's ulimit -c is %q, want %q (the limit ward was started with)", i, got, shellWants)
		}
	}
	if got := limited("ward", "run", "-m", m, "--", "helper", "rlimit-core"); got != want {
		t.Errorf("the child has %q, want %q", got, want)
	}
	if got := limited("ward", "run", "--exec", "-m", m, "--", "helper", "rlimit-core"); got != want {
		t.Errorf("ward run --exec: the program has %q, want %q", got, want)
	}
}

// TestExecLeavesNoSubreaper: ward makes itself a subreaper to collect what
// its child orphans, but not with --exec, where the flag would outlive the
// exec and leave the program orphans it never reaps.
func TestExecLeavesNoSubreaper(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	if _, out, _ := w.run("run", "--exec", "-m", m, "--", "helper", "subreaper"); strings.TrimSpace(out) != "subreaper=0" {
		t.Errorf("the program of --exec says %q, want subreaper=0", strings.TrimSpace(out))
	}
}

// TestFailedStartRemovesItsDirectory: a run that resolved its secrets and
// made its private directory, then could not start the child (a value too
// large for the environment), removes the directory before it exits.
func TestFailedStartRemovesItsDirectory(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/file", canary("dirfile"))
	w.set("app/big", canary("dirbig")+strings.Repeat("x", 200<<10))
	m := w.manifest("version: 1\nenv:\n  BIG: local://app/big\nfiles:\n  - path: f\n    ref: local://app/file\n")
	if code, _, stderr := w.run("run", "-m", m, "--", "true"); code != 125 || !strings.Contains(stderr, "BIG") {
		t.Fatalf("got exit code %d, want 125 for a value too large for the environment", code)
	}
	var left []string
	filepath.WalkDir(w.runtime, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), "run-") {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("the run's private directory is left: %v", left)
	}
}

// TestRelativeRuntimeDir: a relative $WARD_RUNTIME_DIR gave the child
// relative paths, lost by a child that changes directory (a daemon's
// chdir("/")), and ward, which leaves its working directory while the
// child runs, removed nothing at the end: the secret file stayed on
// tmpfs. The directory is now taken from where ward started.
func TestRelativeRuntimeDir(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/key", canary("relative"))
	m := w.manifest("version: 1\nfiles:\n  - path: key.pem\n    ref: local://app/key\n    env: KEY_FILE\n")
	cmd := w.command("run", "-m", m, "--", "sh", "-c", `cd / && test -r "$KEY_FILE" && echo "readable from / at $KEY_FILE"`)
	cmd.Dir = filepath.Dir(w.runtime)
	cmd.Env = append(cmd.Env, "WARD_RUNTIME_DIR="+filepath.Base(w.runtime))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "readable from / at "+w.runtime+"/") {
		t.Errorf("the child, in /, cannot read its file by the path ward gave it: %v\n%s", err, out)
	}
	if files := listFiles(t, w.runtime); len(files) != 0 {
		t.Errorf("files left after the run: %v", files)
	}
}
