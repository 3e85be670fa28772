package main

// ward on other architectures than the one CI runs on: built for a 32-bit
// one and run natively (linux/386 needs no emulator), for what depends on
// the size of a word, the byte order or the page size. scripts/test.sh
// cross-builds ward and its helpers for every platform the README names,
// vets a 32-bit and a big-endian one, and runs the package tests where a
// 32-bit fault was found or could hide under GOARCH=386.

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ward386 builds ward for linux/386 once, for the tests that run it.
var ward386 = struct {
	once sync.Once
	path string
	err  error
}{}

// build386 returns the path of ward built for linux/386, and fails the
// test when it cannot be built (the build itself is what is tested).
func build386(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("runs a linux/386 ward natively, which needs linux/amd64 (this is %s/%s)", runtime.GOOS, runtime.GOARCH)
	}
	ward386.once.Do(func() {
		programsMu.Lock()
		if programsDir == "" {
			programsDir, ward386.err = os.MkdirTemp("", "ward-test-programs-")
		}
		dir := programsDir
		programsMu.Unlock()
		if ward386.err != nil {
			return
		}
		ward386.path = filepath.Join(dir, "386", "ward")
		cmd := exec.Command("go", "build", "-tags", "urfave_cli_no_docs", "-o", ward386.path, ".")
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=386", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			ward386.err = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if ward386.err != nil {
		t.Fatalf("GOARCH=386 go build .: %v", ward386.err)
	}
	// A kernel built without IA32 emulation (gVisor's; some cloud
	// kernels) runs no 32-bit x86 program, and qemu-i386 fails under
	// such a sandbox too ("bad g in signal handler"): nothing a machine's
	// packages can mend, so the test is skipped, saying so, also where
	// integration tests are required. GOARCH=386 go vet still compiles
	// every package for 386 (scripts/test.sh).
	if err := exec.Command(ward386.path, "version").Run(); errors.Is(err, syscall.ENOEXEC) {
		t.Skipf("this kernel runs no 32-bit x86 program (%v): it has no IA32 emulation", err)
	}
	return ward386.path
}

// TestWard386RunsWithSecretFiles: ward did not build for a 32-bit
// platform (linux/386, linux/arm with GOARM=7: armv7 boards, a Raspberry
// Pi with a 32-bit system), "unix.RAMFS_MAGIC (untyped int constant
// 2240043254) overflows int32": statfs's f_type is a 32-bit int there,
// and ramfs's magic number has its top bit set. Built for 386 and run
// natively, ward stores a value in the local store, delivers it as a
// variable and as a file on tmpfs, and forwards SIGTERM to its child.
func TestWard386RunsWithSecretFiles(t *testing.T) {
	bin := build386(t)
	w := newWardEnv(t)
	value := canary("arch386")
	w.canaries = append(w.canaries, value)
	set := exec.Command(bin, "local", "set", "token")
	set.Env, set.Dir, set.Stdin = w.env, w.dir, strings.NewReader(value)
	if out, err := set.CombinedOutput(); err != nil {
		t.Fatalf("386 ward local set: %v\n%s", err, redactAll(string(out), value))
	}
	m := w.manifest(`version: 1
env:
  TOKEN: local://token
files:
  - {path: tls/token, ref: local://token, env: TOKEN_FILE}
`)
	code, stdout, stderr := run386(t, w, bin, "run", "-m", m, "--", "sh", "-c", `printf %s "$TOKEN" | sha256sum; sha256sum < "$TOKEN_FILE"; stat -f -c %T "$TOKEN_FILE"`)
	if code != 0 {
		t.Fatalf("386 ward run: exit %d: %s", code, stderr)
	}
	sum := fmt.Sprintf("%x  -", sha256.Sum256([]byte(value)))
	got := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(got) != 3 || got[0] != sum || got[1] != sum {
		t.Fatalf("the child's hashes of TOKEN and its file are not the stored value's (%d lines)", len(got))
	}
	if got[2] != "tmpfs" && got[2] != "ramfs" {
		t.Errorf("the secret file is on %q, want tmpfs", got[2])
	}

	// Signals: SIGTERM to ward reaches the child, whose status ward
	// passes on.
	cmd := exec.Command(bin, "run", "-m", m, "--", "helper", "signals")
	cmd.Env, cmd.Dir = w.env, w.dir
	out, errs := started(t, cmd)
	out.waitFor("child ready")
	cmd.Process.Signal(syscall.SIGTERM)
	if line := out.next("the forwarded SIGTERM"); line != "child SIGTERM" {
		t.Errorf("the child printed %q, want child SIGTERM", line)
	}
	if code := exitWithin(t, cmd, 30*time.Second); code != 0 {
		t.Errorf("386 ward exited %d after its child did with 0: %s", code, redactAll(errs.String(), value))
	}
	if strings.Contains(errs.String(), value) {
		t.Error("a canary is in the 386 ward's stderr")
	}
}

// run386 runs the 386 ward bin to the end in w, and returns its exit code
// and outputs, asserting no canary of w's is in them.
func run386(t *testing.T, w *wardEnv, bin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Dir = w.env, w.dir
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	code = exitCode(t, cmd.Run())
	for _, c := range w.canaries {
		if strings.Contains(o.String(), c) || strings.Contains(e.String(), c) {
			t.Errorf("386 ward %s: a canary is in ward's output", args[0])
		}
	}
	return code, o.String(), redactAll(e.String(), w.canaries...)
}

// TestNoIoctlGetIntInWard: unix.IoctlGetInt reads the C int an ioctl
// writes (TIOCGPGRP's process group, FIONREAD's count) into a Go int, 8
// bytes on 64-bit platforms, of which the kernel writes the first 4: on
// a big-endian one (s390x) the value came out shifted by 32 bits.
// ward's foreground group was then no group (SignalForeground sent a
// key's signal to ward's own process group instead of the child's), and
// its relay of the child's output waited for a count that never came.
// The code ward ships, its tests and the helper child they run read such
// an int with signals.IoctlInt (4 bytes); a test that misread it failed
// under s390x for the test's sake (TestCtrlCUnderPTY: "got foreground
// group 59794534694912, child pid 13922"). signals' TestForegroundGroupOfAPty
// and supervise's TestFinishEndsAtWhatTheChildWrote show the fault under
// GOARCH=s390x; this test keeps the call out where CI has no s390x.
func TestNoIoctlGetIntInWard(t *testing.T) {
	var found []string
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (p == "testdata/vaultserver" || strings.HasPrefix(d.Name(), ".")) && p != ".":
			return filepath.SkipDir
		case d.IsDir() || !strings.HasSuffix(p, ".go"):
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "unix.IoctlGetInt(") && !strings.HasPrefix(strings.TrimSpace(line), "//") && p != "signals/termios_other.go" && p != "arch_test.go" {
				found = append(found, fmt.Sprintf("%s:%d", p, i+1))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range found {
		t.Errorf("%s: unix.IoctlGetInt reads a C int into 8 bytes, wrong on big-endian 64-bit platforms: use signals.IoctlInt", at)
	}
}
