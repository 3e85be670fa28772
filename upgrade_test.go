package main

// ward across an upgrade: its own binary and its store helpers replaced
// or removed under a long-running ward, and versions mixed.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/wardsecrets/ward/resolve/remote"
	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"github.com/wardsecrets/ward/testdata/helper"
)

// installedWard copies the ward under test into a directory of its own,
// as an install puts it, and returns its path: a test may then replace or
// remove it as an upgrade does.
func installedWard(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "bin", "ward")
	os.MkdirAll(filepath.Dir(dst), 0o755)
	installing(t, "ward", dst).finish()
	return dst
}

// install is a program's file as an install writes it: open for writing,
// the rest of the program's bytes still to come.
type install struct {
	*os.File
	t    *testing.T
	rest io.ReadCloser
}

// installing starts writing the program on $PATH named program to dst
// and returns the file, open for writing, with nothing written yet.
func installing(t *testing.T, program, dst string) *install {
	t.Helper()
	src, err := exec.LookPath(program)
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		in.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); out.Close() })
	return &install{File: out, t: t, rest: in}
}

// finish writes the rest and closes the file.
func (f *install) finish() {
	f.t.Helper()
	if _, err := io.Copy(f.File, f.rest); err != nil {
		f.t.Fatal(err)
	}
	f.rest.Close()
	if err := f.File.Close(); err != nil {
		f.t.Fatal(err)
	}
}

// TestUpgradeSocketActivationRestart: a socket-activated ward (its
// trampoline is ward itself, run again for each start of the child)
// whose binary an upgrade replaced, or an uninstall removed, while it ran
// still restarts the child on rotation, with the sockets and LISTEN_PID
// naming it. It ran the file now at its path: a removed one ended the
// service at the first rotation ("ward: error: .../ward: no such file or
// directory"), and a replaced one ran another program, or another
// version's trampoline, in its place.
func TestUpgradeSocketActivationRestart(t *testing.T) {
	for _, upgrade := range []string{"removed", "replaced"} {
		t.Run(upgrade, func(t *testing.T) {
			w := newWardEnv(t)
			w.set("app/a", canary("upgrade1"))
			m := w.manifest("version: 1\nenv:\n  A: local://app/a\nrotation:\n  debounce: 100ms\n")
			ward := installedWard(t)
			ln, lf := activationSocket(t)
			// As systemd does: LISTEN_PID is the pid that execs ward.
			cmd := w.command()
			cmd.Path = "/bin/sh"
			cmd.Args = []string{"sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=web exec ` + ward + ` run -m ` + m + ` -- helper listen`}
			cmd.ExtraFiles = []*os.File{lf}
			out, _ := cmd.StdoutPipe()
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			l := readLines(t, out)
			l.waitFor("LISTEN_PID=")

			switch upgrade {
			case "removed":
				if err := os.Remove(ward); err != nil {
					t.Fatal(err)
				}
			case "replaced":
				// Another program renamed over it, as `go install` and
				// package managers do: one that is not this ward.
				marker := filepath.Join(w.dir, "replacement-ran")
				other := ward + ".new"
				if err := os.WriteFile(other, []byte("#!/bin/sh\ntouch "+marker+"\necho the replacement ran\nexit 3\n"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(other, ward); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					if _, err := os.Stat(marker); err == nil {
						t.Errorf("ward ran the program an upgrade put at its path, not itself")
					}
				})
			}
			w.set("app/a", canary("upgrade2"))

			line := l.waitFor("LISTEN_PID=")
			var listenPid, pid int
			var fds, names string
			fmt.Sscanf(line, "LISTEN_PID=%d pid=%d LISTEN_FDS=%s LISTEN_FDNAMES=%s", &listenPid, &pid, &fds, &names)
			if listenPid != pid || fds != "1" || names != "web" {
				t.Errorf("the restarted child: got %q, want LISTEN_PID equal to its pid, LISTEN_FDS=1, LISTEN_FDNAMES=web", line)
			}
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			greeting, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if greeting != "hello from the child\n" {
				t.Errorf("got %q from the passed socket, want the restarted child's greeting", greeting)
			}
			if code := exitWithin(t, cmd, 10*time.Second); code != 0 {
				t.Errorf("got exit code %d, want 0; stderr:\n%s", code, redactAll(stderr.String(), w.canaries...))
			}
			for _, c := range w.canaries {
				if strings.Contains(stderr.String(), c) {
					t.Errorf("a canary is in ward's stderr")
				}
			}
		})
	}
}

// TestUpgradeHelperBeingWritten: a ward started while an upgrade writes
// its store helper in place (`go install` and `install` remove the old
// file and write a new one, `cp` writes over it) waits for the writer,
// with a warning, and runs the child with its secrets. It failed at once
// with 125, "start .../ward-vault: fork/exec .../ward-vault: text file
// busy", for an install a moment from done.
func TestUpgradeHelperBeingWritten(t *testing.T) {
	_, addr, token := testVault(t)
	w := newWardEnv(t)
	value := canary("upgradewrite")
	w.canaries = append(w.canaries, value)
	kvPut(t, "secret", "upgrade/written", map[string]any{"a": value})
	m := w.manifest("version: 1\nenv:\n  A: vault://secret/upgrade/written#a\n")
	ward := installedWard(t)
	// The helper beside ward, half written.
	helperFile := installing(t, "ward-vault", filepath.Join(filepath.Dir(ward), "ward-vault"))
	if _, err := io.CopyN(helperFile, helperFile.rest, 1<<20); err != nil {
		t.Fatal(err)
	}
	cmd := w.command("run", "-m", m, "--", "helper", "env")
	cmd.Path = ward
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+addr, "VAULT_TOKEN="+token)
	stdout, stderr := startedLines(t, cmd)
	defer cmd.Process.Kill()
	warning := stderr.waitForContaining("open for writing")
	if !strings.Contains(warning, filepath.Join(filepath.Dir(ward), "ward-vault")) {
		t.Errorf("the warning does not name the helper's file: %s", warning)
	}
	helperFile.finish()
	if got := envHash(stdout, "A"); got != helper.Hash(value) {
		t.Errorf("the child's A is not the secret (hash %q)", got)
	}
	if code := exitWithin(t, cmd, 30*time.Second); code != 0 {
		t.Errorf("got exit code %d, want 0", code)
	}
	for line := range stderr.ch {
		warning += line
	}
	if strings.Contains(warning, value) {
		t.Errorf("the secret is in ward's stderr")
	}
}

// otherProtocolHelper builds the real ward-vault of a ward that speaks the
// next store protocol, as a newer ward's would (go build -overlay over
// resolve/remote/protocol.go), with the -ldflags given, and returns its
// path.
func otherProtocolHelper(t *testing.T, ldflags string) string {
	t.Helper()
	dir := t.TempDir()
	src, err := filepath.Abs(filepath.Join("resolve", "remote", "protocol.go"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	cur := fmt.Sprintf("const Protocol = %d\n", remote.Protocol)
	if !strings.Contains(string(b), cur) {
		t.Fatalf("%s has no %q", src, cur)
	}
	changed := filepath.Join(dir, "protocol.go")
	os.WriteFile(changed, []byte(strings.Replace(string(b), cur, fmt.Sprintf("const Protocol = %d\n", remote.Protocol+1), 1)), 0o644)
	overlay, _ := json.Marshal(map[string]any{"Replace": map[string]string{src: changed}})
	os.WriteFile(filepath.Join(dir, "overlay.json"), overlay, 0o644)
	out := filepath.Join(dir, "ward-vault")
	if b, err := exec.Command("go", "build", "-overlay", filepath.Join(dir, "overlay.json"), "-ldflags", ldflags, "-o", out, "./resolve/vault/ward-vault").CombinedOutput(); err != nil {
		t.Fatalf("build a ward-vault of protocol %d: %v\n%s", remote.Protocol+1, err, b)
	}
	return out
}

// runInstalledVault starts an installed ward (a copy with its own
// ward-vault beside it, the file it returns) over `helper env wait` with
// A from mount's app#a, and fails the test unless the child's A is want.
func runInstalledVault(t *testing.T, w *wardEnv, srv *vaulttest.Server, mount, want string) (cmd *exec.Cmd, beside string, stdout, stderr *lines) {
	t.Helper()
	ward := installedWard(t)
	beside = filepath.Join(filepath.Dir(ward), "ward-vault")
	installing(t, "ward-vault", beside).finish()
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  A: vault://%s/app#a\n%s", mount, fastRotation))
	cmd = w.command("run", "-m", m, "--", "helper", "env", "wait")
	cmd.Path = ward
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+srv.Addr, "VAULT_TOKEN="+srv.Token)
	stdout, stderr = startedLines(t, cmd)
	if got := envListing(stdout)["A"]; got != helper.Hash(want) {
		t.Fatalf("the child's A is not the secret")
	}
	return cmd, beside, stdout, stderr
}

// TestUpgradeHelperReplacedMidRun: an upgrade replaces ward-vault, beside
// a ward that runs on, with a newer ward's helper of another protocol,
// and the running helper dies: the child keeps running, and the warnings
// say that the helper was replaced since ward started and to restart
// ward. They said only that the two "cannot work together", and the hint
// that went with that at a start (install this ward's helpers) would
// undo the upgrade.
func TestUpgradeHelperReplacedMidRun(t *testing.T) {
	srv := vaulttest.Require(t)
	mount := srv.MountKV(t, 2)
	value := canary("upgrade-replaced")
	kvPut(t, mount, "app", map[string]any{"a": value})
	other := otherProtocolHelper(t, "")
	w := newWardEnv(t)
	w.canaries = append(w.canaries, value)
	cmd, beside, stdout, stderr := runInstalledVault(t, w, srv, mount, value)
	// The upgrade: the newer helper renamed over the old one's file.
	staged := beside + ".new"
	if b, err := os.ReadFile(other); err != nil || os.WriteFile(staged, b, 0o755) != nil {
		t.Fatal("stage the newer helper")
	}
	if err := os.Rename(staged, beside); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(helperOf(t, cmd.Process.Pid, "ward-vault"), syscall.SIGKILL)
	warning := stderr.waitForContaining("cannot refresh secrets")
	for _, want := range []string{beside, fmt.Sprintf("store protocol %d", remote.Protocol+1), "replaced since this ward started", "restart ward"} {
		if !strings.Contains(warning, want) {
			t.Errorf("the warning does not say %q: %s", want, redactAll(warning, value))
		}
	}
	if n := stopAndCount(t, cmd, stdout, stderr, value, srv.Token); n != 0 {
		t.Errorf("the child was started %d more times, want it kept running", n)
	}
}

// TestUpgradeManifestOfLaterWard: a manifest written for a later ward (a
// field or a scheme it added), checked by an older one (`ward check` in
// CI pinned to a version), fails with 125 at the line, and the hint says
// which ward this is and that a later one's field needs that ward. It
// listed the known names alone, as for a typo.
func TestUpgradeManifestOfLaterWard(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"field", "version: 1\nenv:\n  A: env://HOME\nrotation:\n  on_change_hook: ./reload.sh\n", `5:3: rotation.on_change_hook: unknown field "on_change_hook"`},
		{"scheme", "version: 1\nenv:\n  A: ocisecret://vault/db\n", `3:6: env.A: unknown scheme "ocisecret"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWardEnv(t)
			// As CI's log shows it: ward's own lines, not JSON.
			w.env = slices.DeleteFunc(w.env, func(kv string) bool { return strings.HasPrefix(kv, "WARD_LOG_FORMAT=") })
			m := w.manifest(tc.body)
			for _, args := range [][]string{{"check", "-m", m}, {"run", "-m", m, "--", "true"}} {
				code, _, stderr := w.run(args...)
				if code != 125 || !strings.Contains(stderr, tc.want) {
					t.Errorf("ward %s: got %d, %q; want 125 and %q", args[0], code, stderr, tc.want)
				}
				want := "a " + tc.name + " a later ward added needs that ward: this is ward dev"
				if !strings.Contains(stderr, want) {
					t.Errorf("ward %s: the hint does not say %q:\n%s", args[0], want, stderr)
				}
			}
		})
	}
}

// TestUpgradeHelperRemovedMidRun: an upgrade removes the store helper a
// running ward started (Homebrew's cleanup of the old version's
// directory, a package that moved it) and installs the new one elsewhere
// on $PATH; the running helper dies: the next is the one ward finds now,
// with a warning, and rotation goes on. ward tried the removed file at
// every retry, "no such file or directory", and the child never got
// another value.
func TestUpgradeHelperRemovedMidRun(t *testing.T) {
	srv := vaulttest.Require(t)
	mount := srv.MountKV(t, 2)
	first, second := canary("upgrade-removed-1"), canary("upgrade-removed-2")
	kvPut(t, mount, "app", map[string]any{"a": first})
	w := newWardEnv(t)
	w.canaries = append(w.canaries, first, second)
	// $PATH holds the test's ward-vault: the upgrade's.
	cmd, beside, stdout, stderr := runInstalledVault(t, w, srv, mount, first)
	if err := os.Remove(beside); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(helperOf(t, cmd.Process.Pid, "ward-vault"), syscall.SIGKILL)
	kvPut(t, mount, "app", map[string]any{"a": second})
	if got := envListing(stdout)["A"]; got != helper.Hash(second) {
		t.Errorf("after the helper was removed and the value changed, the child's A is not the second value")
	}
	warning := stderr.waitForContaining("the store's helper was removed")
	if !strings.Contains(warning, beside) {
		t.Errorf("the warning does not name the removed helper: %s", redactAll(warning, first, second))
	}
	stopAndCount(t, cmd, stdout, stderr, first, second, srv.Token)
}

// TestUpgradeMaskSessionRestart: under --mask on a terminal the child
// runs under a session leader that is ward itself, run again at each
// start; a rotation restart after an upgrade removed ward's binary
// starts the child again under it. It ended the run ("no such file or
// directory").
func TestUpgradeMaskSessionRestart(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/a", canary("upgrade-mask1"))
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\nrotation:\n  debounce: 100ms\n")
	ward := installedWard(t)
	cmd := w.command("run", "--mask", "-m", m, "--", "sh", "-c", `[ -t 1 ] && echo child-has-a-terminal; exec helper sleep`)
	cmd.Path = ward
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer cmd.Process.Kill()
	l := readLines(t, ptmx)
	l.waitFor("child-has-a-terminal")
	l.waitFor("ready")
	if err := os.Remove(ward); err != nil {
		t.Fatal(err)
	}
	w.set("app/a", canary("upgrade-mask2"))
	l.waitFor("child-has-a-terminal")
	l.waitFor("ready")
	cmd.Process.Signal(syscall.SIGTERM)
	for line := range l.ch {
		for _, c := range w.canaries {
			if strings.Contains(line, c) {
				t.Errorf("a canary reached the terminal")
			}
		}
	}
	exitWithin(t, cmd, 30*time.Second)
}

// TestUpgradeImageOfMixedVersions: an image whose ward was updated and
// whose ward-vault was not (one `COPY --from` line of two), both built
// as the Dockerfile builds them, with its VERSION: the start fails with
// 125 naming the helper's version beside ward's. The Dockerfile gave
// VERSION to ward alone, and the helper was "of an unknown version".
func TestUpgradeImageOfMixedVersions(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), `-ldflags "`)
	ldflags, _, ok2 := strings.Cut(after, `"`)
	if !ok || !ok2 {
		t.Fatal("the Dockerfile builds with no -ldflags")
	}
	other := otherProtocolHelper(t, strings.ReplaceAll(ldflags, "${VERSION}", "v9.9.9"))
	w := newWardEnv(t)
	ward := installedWard(t)
	beside := filepath.Join(filepath.Dir(ward), "ward-vault")
	if b, err := os.ReadFile(other); err != nil || os.WriteFile(beside, b, 0o755) != nil {
		t.Fatal("install the other helper")
	}
	m := w.manifest("version: 1\nenv:\n  A: vault://secret/app#a\n")
	cmd := w.command("run", "-m", m, "--", "true")
	cmd.Path = ward
	cmd.Env = append(slices.DeleteFunc(cmd.Env, func(kv string) bool { return strings.HasPrefix(kv, "WARD_LOG_FORMAT=") }), "VAULT_ADDR=http://127.0.0.1:1", "VAULT_TOKEN=unused")
	out, _ := cmd.CombinedOutput()
	code := cmd.ProcessState.ExitCode()
	want := fmt.Sprintf("%s is the helper of ward v9.9.9 (store protocol %d)", beside, remote.Protocol+1)
	if code != 125 || !strings.Contains(string(out), want) {
		t.Errorf("got %d:\n%s\nwant 125 and %q", code, out, want)
	}
}
