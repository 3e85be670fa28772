package main

// ward in minimal userlands: Alpine-style and distroless containers, with
// busybox's applets around it, users without a passwd entry and a HOME
// of /.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
)

// TestLocalStoreUnwritableHome: `ward local set` as a user whose HOME is
// / (Docker's HOME for a numeric USER without a passwd entry) or a
// read-only one says which variables place the store and its identity;
// it said "mkdir /.local: permission denied" and nothing else, and the
// user had to read the README to learn that XDG_DATA_HOME moves it.
func TestLocalStoreUnwritableHome(t *testing.T) {
	if os.Geteuid() != 0 {
		vaulttest.RequireIntegration(t, "the test switches to uid 65534 and needs root")
	}
	bin := nobodyBin(t)
	value := canary("home")
	data, config := filepath.Join(bin, "data"), filepath.Join(bin, "config")
	for _, d := range []string{data, config} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	set := func(env ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, "ward"), "local", "set", "app/token")
		cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=/"}, env...)
		cmd.Dir = "/"
		cmd.Stdin = strings.NewReader(value)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if strings.Contains(string(out), value) {
			t.Errorf("the canary is in ward's output")
		}
		return exitCode(t, err), string(out)
	}

	code, out := set()
	if code != 125 || !strings.Contains(out, "hint:") || !strings.Contains(out, "$XDG_DATA_HOME") || !strings.Contains(out, "$WARD_LOCAL_STORE") {
		t.Errorf("HOME=/: got exit %d and %q, want 125 and a hint naming $XDG_DATA_HOME and $WARD_LOCAL_STORE", code, out)
	}
	code, out = set("XDG_DATA_HOME=" + data)
	if code != 125 || !strings.Contains(out, "hint:") || !strings.Contains(out, "$XDG_CONFIG_HOME") || !strings.Contains(out, "$WARD_IDENTITY") {
		t.Errorf("HOME=/, XDG_DATA_HOME writable: got exit %d and %q, want 125 and a hint naming $XDG_CONFIG_HOME and $WARD_IDENTITY", code, out)
	}
	// The hint's advice works.
	if code, out = set("XDG_DATA_HOME="+data, "XDG_CONFIG_HOME="+config); code != 0 {
		t.Errorf("HOME=/, both set: got exit %d (%s), want 0", code, out)
	}
}

// TestScanGitHistoryWithoutGit: `ward scan --git-history` where git is not
// installed (a CI job's Alpine container) says so and how to go on; it
// gave exec's `git rev-parse: exec: "git": executable file not found in
// $PATH` and no hint.
func TestScanGitHistoryWithoutGit(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/token", w.canary("nogit"))
	m := w.manifest("version: 1\nenv:\n  TOKEN: local://app/token\n")
	repo := t.TempDir()
	if out, err := exec.Command("git", "init", "-q", repo).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v: %s", err, out)
	}
	cmd := w.command("scan", "--git-history", "-m", m)
	cmd.Dir = repo
	cmd.Env = append(withoutEnv(cmd.Env, "PATH"), "PATH="+t.TempDir())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	code := exitCode(t, cmd.Run())
	if code != 125 || !strings.Contains(stderr.String(), "git is not installed") || !strings.Contains(stderr.String(), "install git (apk add git") {
		t.Errorf("got exit code %d and %q, want 125, that git is not installed, and a hint to install it", code, stderr.String())
	}
}

// TestScanNothingToSearch: a manifest with no secret to search for (plain
// values, values declared mask: false, values under 4 bytes) makes ward
// scan say that it searched for nothing, and exit 0: a pre-commit hook
// over such a manifest passed every commit in silence.
func TestScanNothingToSearch(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/pin", "q7x")
	w.set("app/db-name", "inventory")
	m := w.manifest("version: 1\nenv:\n  LOG_LEVEL: {value: info}\n  DB_NAME: {ref: local://app/db-name, mask: false}\n  PIN: local://app/pin\n")
	code, _, stderr := w.run("scan", "-m", m, t.TempDir())
	if code != 0 || !strings.Contains(stderr, "no secret value to search for") {
		t.Errorf("got exit code %d and stderr %q, want 0 and a warning that nothing was searched for", code, stderr)
	}
	w.set("app/token", canary("scan-something"))
	m = w.manifest("version: 1\nenv:\n  PIN: local://app/pin\n  TOKEN: local://app/token\n")
	if code, _, stderr := w.run("scan", "-m", m, t.TempDir()); code != 0 || strings.Contains(stderr, "no secret value to search for") {
		t.Errorf("with a secret to search for: got exit code %d and stderr %q, want 0 and no such warning", code, stderr)
	}
}
