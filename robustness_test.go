package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
)

// TestStopWhileResolving: SIGTERM while a server never answers (a Vault
// that accepts and is silent) ends ward with 143, within the stop
// timeout. (A file:// FIFO nobody writes held ward in its open, where no
// context reaches, until the twentieth run: it is refused at once now.)
func TestStopWhileResolving(t *testing.T) {
	t.Run("silent vault", func(t *testing.T) {
		addr, accepted, _ := silentVault(t)
		w := newWardEnv(t)
		m := w.manifest("version: 1\nenv:\n  S: vault://secret/app#x\nrotation:\n  stop_timeout: 2s\n")
		cmd := w.command("run", "-m", m, "--", "helper", "touch", filepath.Join(w.dir, "started"))
		cmd.Env = append(cmd.Env, "VAULT_ADDR="+addr, "VAULT_TOKEN=t")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		select {
		case <-accepted:
		case <-time.After(10 * time.Second):
			t.Fatal("ward's Vault helper never connected")
		}
		stopAndWant(t, cmd.Process, func() int { return exitCode(t, cmd.Wait()) }, 143, 2*time.Second)
	})
}

// stopAndWant sends SIGTERM and checks the exit code, and that ward was
// gone within the stop timeout (and a margin for its own exit).
func stopAndWant(t *testing.T, p *os.Process, wait func() int, want int, stopTimeout time.Duration) {
	t.Helper()
	start := time.Now()
	p.Signal(syscall.SIGTERM)
	done := make(chan int, 1)
	go func() { done <- wait() }()
	select {
	case code := <-done:
		if code != want {
			t.Errorf("got exit code %d, want %d", code, want)
		}
	case <-time.After(stopTimeout + 10*time.Second):
		t.Fatalf("ward was still running %s after SIGTERM (stop_timeout %s)", time.Since(start).Round(time.Second), stopTimeout)
	}
}

// TestUndeliverableValues: a value over the kernel's limit for one
// environment string, or holding a NUL, is ward's failure (125) naming the
// variable, not the program's "argument list too long" (126).
func TestUndeliverableValues(t *testing.T) {
	w := newWardEnv(t)
	big := canary("big") + strings.Repeat("x", 200<<10)
	w.set("app/big", big)
	nul := filepath.Join(w.dir, "nul.bin")
	os.WriteFile(nul, []byte("a\x00"+canary("nul")), 0o600)
	for _, tt := range []struct{ name, ref, want string }{
		{"BIG", "local://app/big", "BIG: the value is"},
		{"WITH_NUL", "file://" + nul, "WITH_NUL: the value holds a NUL byte"},
	} {
		m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  %s: %s\n", tt.name, tt.ref))
		code, _, stderr := w.run("run", "-m", m, "--", "helper", "touch", filepath.Join(w.dir, "started"))
		if code != 125 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%s: got exit code %d and %q, want 125 and %q", tt.name, code, stderr, tt.want)
		}
	}
	// Both at once: each is named, by run and by check --resolve; the
	// second was told only once the first was mended.
	both := w.manifest("version: 1\nenv:\n  BIG: local://app/big\n  WITH_NUL: file://" + nul + "\n")
	for _, args := range [][]string{{"run", "-m", both, "--", "helper", "touch", filepath.Join(w.dir, "started")}, {"check", "--resolve", "-m", both}} {
		code, _, stderr := w.run(args...)
		if code != 125 || !strings.Contains(stderr, "2 values cannot be passed in the environment") || !strings.Contains(stderr, "BIG: the value is") || !strings.Contains(stderr, "WITH_NUL: the value holds a NUL byte") {
			t.Errorf("ward %s with two: got exit code %d and %q, want 125 naming both", args[0], code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(w.dir, "started")); err == nil {
		t.Error("the child started")
	}
	// As a file, the same value is delivered.
	m := w.manifest("version: 1\nfiles:\n  - path: big\n    ref: local://app/big\n    env: BIG_FILE\n")
	if code, _, stderr := w.run("run", "-m", m, "--", "sh", "-c", `test -s "$BIG_FILE"`); code != 0 {
		t.Errorf("as a file: got exit code %d: %s", code, stderr)
	}
}

// TestConcurrentRunsWithFiles: 40 runs at once, each with secret files,
// three rounds: every one finds its files for its whole life and exits 0.
func TestConcurrentRunsWithFiles(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/file", canary("conc"))
	m := w.manifest("version: 1\nfiles:\n  - path: s/key\n    ref: local://app/file\n    env: KEY_FILE\n")
	for round := 0; round < 3; round++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failures []string
		for i := 0; i < 40; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// The child reads its file, yields, and reads it again.
				cmd := w.command("run", "-m", m, "--", "sh", "-c", `test -s "$KEY_FILE" && for i in 1 2 3 4 5; do test -s "$KEY_FILE" || exit 9; done`)
				out, err := cmd.CombinedOutput()
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%v: %s", err, out))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(failures) > 0 {
			t.Fatalf("round %d: %d of 40 runs failed; first: %s", round, len(failures), failures[0])
		}
	}
}

// TestScanUnreadable: a file or directory ward scan may not read (one a
// container created as root in the project) is a warning naming it, by a
// path with any value masked, and the rest is searched: one such file
// ended the scan with exit 125 and no finding, and its error printed the
// path as it was, a value in the file's name included. Root reads
// everything, so as root ward runs as uid 65534.
func TestScanUnreadable(t *testing.T) {
	value := canary("unread")
	dir, err := os.MkdirTemp("", "ward-unreadable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	files := map[string]string{
		"leak.txt":                "token " + value + "\n",
		"locked.txt":              "locked\n",
		"named-" + value + ".log": "locked\n",
		"pgdata/PG_VERSION":       "16\n",
		"ward.yaml":               "version: 1\nenv:\n  TOK: env://SRC\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"locked.txt", "named-" + value + ".log", "pgdata"} {
		if err := os.Chmod(filepath.Join(dir, name), 0); err != nil {
			t.Fatal(err)
		}
	}
	ward, err := exec.LookPath("ward")
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		ward = filepath.Join(nobodyBin(t), "ward")
	}
	cmd := exec.Command(ward, "scan", "--no-ignore", "--log-format", "text")
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/", "SRC=" + value}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if strings.Contains(stdout.String(), value) || strings.Contains(stderr.String(), value) {
		t.Errorf("the value is in ward scan's output")
	}
	if code != 1 || !strings.Contains(stdout.String(), "leak.txt:1: TOK (plain)") {
		t.Errorf("got exit %d, want 1 and leak.txt reported; stdout:\n%s", code, stdout.String())
	}
	if !strings.Contains(stdout.String(), "named-<ward:TOK>.log:0: TOK") {
		t.Errorf("the unreadable file named after the value is not reported by its name; stdout:\n%s", stdout.String())
	}
	for _, name := range []string{"locked.txt", "pgdata", "named-<ward:TOK>.log"} {
		if !strings.Contains(stderr.String(), name) {
			t.Errorf("no warning names %s; stderr:\n%s", name, stderr.String())
		}
	}
	// A link named on the command line whose target ward may not reach
	// is said to be left out, as a file named is: it passed, its link's
	// text searched, saying nothing.
	if err := os.Symlink("pgdata/PG_VERSION", filepath.Join(dir, "pglink")); err != nil {
		t.Fatal(err)
	}
	named := exec.Command(ward, "scan", "--log-format", "text", "pglink")
	named.SysProcAttr, named.Dir, named.Env = cmd.SysProcAttr, dir, cmd.Env
	out, _ := named.CombinedOutput()
	if !strings.Contains(string(out), "pglink") || !strings.Contains(string(out), "permission denied") {
		t.Errorf("ward scan pglink: exit %d, want a warning naming it\n%s", named.ProcessState.ExitCode(), out)
	}
}

// TestManifestOfAnotherUserInAParent: out of a repository the manifest
// search walks up to /, so another user's /tmp/ward.yaml was the manifest
// of every `ward run` started under /tmp without one of its own, and its
// plain values (LD_PRELOAD) reached the victim's program. A manifest in a
// parent directory that another user owns is now refused; one of ward's
// own user or root's is still found.
func TestManifestOfAnotherUserInAParent(t *testing.T) {
	if os.Geteuid() != 0 {
		vaulttest.RequireIntegration(t, "giving the planted manifest to uid 65534 needs root")
	}
	shared := t.TempDir()
	if err := os.Chmod(shared, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	planted := filepath.Join(shared, "ward.yaml")
	if err := os.WriteFile(planted, []byte("version: 1\ninherit: all\nenv:\n  PLANTED: {value: by-65534}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(planted, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(shared, "build")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	ward, err := exec.LookPath("ward")
	if err != nil {
		t.Fatal(err)
	}
	run := func() (string, string, int) {
		cmd := exec.Command(ward, "run", "--", "sh", "-c", "echo PLANTED=$PLANTED")
		cmd.Dir = work
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/"}
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Run()
		return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
	}
	out, errOut, code := run()
	if strings.Contains(out, "by-65534") {
		t.Errorf("the program got a value from uid 65534's %s", planted)
	}
	if code != 125 || !strings.Contains(errOut, planted) || !strings.Contains(errOut, "uid 65534") {
		t.Errorf("got exit %d, want 125 and an error naming %s and its owner; stderr:\n%s", code, planted, errOut)
	}
	if err := os.Chown(planted, 0, 0); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := run(); code != 0 || !strings.Contains(out, "PLANTED=by-65534") {
		t.Errorf("a manifest of ward's own user in a parent: got exit %d, %q; stderr:\n%s", code, out, errOut)
	}
	// In the current directory: refused where others may write (cd /tmp
	// && ward run), taken where only its owner may (a deploy user's
	// /srv/app, which whoever runs ward there chose to trust).
	if err := os.Chown(planted, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	work = shared
	if out, errOut, code := run(); strings.Contains(out, "by-65534") || code != 125 || !strings.Contains(errOut, "uid 65534") {
		t.Errorf("uid 65534's manifest in the current directory, which others may write: got exit %d, %q; stderr:\n%s", code, out, errOut)
	}
	if err := os.Chmod(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := run(); code != 0 || !strings.Contains(out, "PLANTED=by-65534") {
		t.Errorf("uid 65534's manifest in a current directory only its owner may write: got exit %d, %q; stderr:\n%s", code, out, errOut)
	}
}
