package main

import (
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
	"github.com/wardsecrets/ward/signals"
	"github.com/wardsecrets/ward/testdata/helper"
)

// TestRotationLocalSet: `ward local set` of a value the running child uses
// restarts it once with the new value; a change to an entry no variable
// uses restarts nothing.
func TestRotationLocalSet(t *testing.T) {
	w := newWardEnv(t)
	v1, v2 := canary("rot1"), canary("rot2")
	w.set("app/a", v1)
	w.set("app/unused", canary("unused"))
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\nrotation:\n  debounce: 300ms\n  stop_timeout: 5s\n")
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "helper", "env", "wait")
	out, _ := cmd.StdoutPipe()
	errp, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	stdout, stderr := readLines(t, out), readLines(t, errp)

	if got := envHash(stdout, "A"); got != helper.Hash(v1) {
		t.Fatalf("the first child does not have the first value")
	}
	auditProc(t, cmd.Process.Pid, v1)
	w.set("app/a", v2)
	if got := envHash(stdout, "A"); got != helper.Hash(v2) {
		t.Fatalf("the restarted child does not have the new value")
	}
	stderr.waitForContaining("child restarted with the new secrets")

	// An entry no variable uses: checked, nothing changes.
	w.set("app/unused", canary("unused2"))
	stderr.waitForContaining("would not change")
	cmd.Process.Signal(syscall.SIGTERM)
	code := exitCode(t, cmd.Wait())
	if code != 128+int(syscall.SIGTERM) {
		t.Errorf("got exit code %d, want 143", code)
	}
	for line := range stdout.ch {
		if line == "end" {
			t.Errorf("the child was started a third time")
		}
	}
	for line := range stderr.ch {
		if strings.Contains(line, v1) || strings.Contains(line, v2) {
			t.Errorf("a canary is in ward's stderr")
		}
	}
}

// TestRotationSignalFile: with on_change: signal, a changed file:// secret
// delivered as a file is replaced atomically and the child gets the signal
// instead of a restart.
func TestRotationSignalFile(t *testing.T) {
	w := newWardEnv(t)
	v1, v2 := canary("sig1"), canary("sig2")
	src := w.mounted(v1)
	m := w.manifest("version: 1\nfiles:\n  - path: token\n    ref: file://" + src + "\n    env: TOKEN_FILE\nrotation:\n  on_change: signal\n  signal: SIGUSR1\n  debounce: 200ms\n")
	cmd := w.command("run", "-m", m, "--", "sh", "-c", `trap 'helper stdin-hash < "$TOKEN_FILE"' USR1; helper stdin-hash < "$TOKEN_FILE"; echo ready; while :; do sleep 0.05; done`)
	out, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	stdout := readLines(t, out)
	if got := stdout.waitFor("STDIN "); got != "STDIN "+helper.Hash(v1) {
		t.Fatalf("the child does not see the first value")
	}
	stdout.waitFor("ready")
	// Replace the mounted file atomically, as Kubernetes and Docker do.
	tmp := src + ".new"
	os.WriteFile(tmp, []byte(v2), 0o600)
	os.Rename(tmp, src)
	if got := stdout.waitFor("STDIN "); got != "STDIN "+helper.Hash(v2) {
		t.Fatalf("after SIGUSR1 the child reads a different value")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
	for line := range stdout.ch {
		if line == "ready" {
			t.Errorf("the child was restarted")
		}
	}
	if strings.Contains(stderr.String(), v1) || strings.Contains(stderr.String(), v2) {
		t.Errorf("a canary is in ward's stderr")
	}
	if !strings.Contains(stderr.String(), "files rewritten and the child signalled") {
		t.Errorf("no log line for the signal: %s", stderr.String())
	}
}

// TestRotationFileReplacedAtomically: a reader that reads the secret file
// in a tight loop while ward replaces it sees only the old content and the
// new, never a mix, and gets the signal.
func TestRotationFileReplacedAtomically(t *testing.T) {
	w := newWardEnv(t)
	big := func(tag string) string { return strings.Repeat(canary(tag), 512<<10/40) }
	v1, v2 := big("atom1"), big("atom2")
	src := filepath.Join(w.dir, "mounted", "cert")
	os.MkdirAll(filepath.Dir(src), 0o700)
	os.WriteFile(src, []byte(v1), 0o600)
	m := w.manifest("version: 1\nfiles:\n  - path: cert.pem\n    ref: file://" + src + "\n    env: CERT_FILE\nrotation:\n  on_change: signal\n  signal: SIGUSR1\n  debounce: 100ms\n")
	cmd := w.command("run", "-m", m, "--", "sh", "-c", `exec helper watchfile "$CERT_FILE"`)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	l := readLines(t, out)
	if got := l.next("first read"); got != "seen "+helper.Hash(v1) {
		t.Fatalf("got %q, want the first content", got)
	}
	tmp := src + ".new"
	os.WriteFile(tmp, []byte(v2), 0o600)
	os.Rename(tmp, src)
	sawNew, sawSignal := false, false
	for !sawNew || !sawSignal {
		line := l.next("the new content and the signal")
		switch line {
		case "seen " + helper.Hash(v2):
			sawNew = true
		case "usr1":
			sawSignal = true
		case "seen " + helper.Hash(v1):
		default:
			t.Fatalf("the reader saw %q: neither the old content nor the new", line)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
}

// TestRotationStopDuringRestart: a SIGTERM that reaches ward while a
// restart waits for what the old child left in its group (a worker that
// ignores SIGTERM) ends the run: no new child starts, and ward exits with
// the old child's status. So does a Ctrl-C (SIGINT): it used to reach only
// the old child, and the new child started anyway, so the user had to
// press Ctrl-C again.
func TestRotationStopDuringRestart(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(signals.Name(sig), func(t *testing.T) {
			w := newWardEnv(t)
			w.set("app/a", canary("stop1"))
			m := w.manifest("version: 1\nenv:\n  A: local://app/a\nrotation:\n  debounce: 100ms\n  stop_timeout: 2s\n")
			script := `sh -c 'trap "" TERM INT; echo worker-up; while :; do sleep 0.05; done' &
trap 'echo bye; exit 3' TERM
echo ready
while :; do sleep 0.05; done`
			cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c", script)
			stdout, stderr := startedLines(t, cmd)
			// In either order: the worker starts in the background.
			for seen := map[string]bool{}; !seen["ready"] || !seen["worker-up"]; {
				seen[stdout.next("ready and worker-up")] = true
			}
			w.set("app/a", canary("stop2"))
			stderr.waitForContaining("stopping what the old child left running before the restart")
			cmd.Process.Signal(sig)
			// Within the stop_timeout that ends the worker, and some.
			if code := exitWithin(t, cmd, 10*time.Second); code != 3 {
				t.Errorf("got exit code %d, want 3 (the old child's)", code)
			}
			for line := range stdout.ch {
				if line == "ready" {
					t.Errorf("a new child started after ward was told to stop")
				}
			}
			for line := range stderr.ch {
				if strings.Contains(line, "child restarted") {
					t.Errorf("ward logged a restart after it was told to stop")
				}
			}
		})
	}
}

// TestReloadDuringRestart: a `kill -HUP` of a ward that has no terminal
// (systemctl reload, logrotate's postrotate) while a restart waits for
// the old child to stop is a reload, not a hangup: the new child starts.
// ward took it for a hangup and ended the run with the old child's 0, and
// the service stayed down (Restart=on-failure sees a clean exit).
func TestReloadDuringRestart(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/a", canary("reload1"))
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\nrotation:\n  debounce: 100ms\n")
	// The old child's stop lasts until the test lets it go, after its
	// SIGHUP to ward: it lasted half a second, and a SIGHUP that came
	// later on a loaded machine reached the new child, which goes on.
	script := func(goAhead string) string {
		return `trap 'echo hup' HUP
trap 'echo stopping; while [ ! -e ` + goAhead + ` ]; do sleep 0.05; done; exit 0' TERM
echo ready $$
while :; do sleep 0.05; done`
	}
	goAhead := filepath.Join(w.dir, "go-ahead")
	cmd := w.command("run", "-m", m, "--", "sh", "-c", script(goAhead))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	stdout, stderr := startedLines(t, cmd)
	stdout.waitFor("ready")
	w.set("app/a", canary("reload2"))
	stdout.waitFor("stopping")
	cmd.Process.Signal(syscall.SIGHUP)
	os.WriteFile(goAhead, nil, 0o600)
	stdout.waitFor("ready")
	stderr.waitForContaining("child restarted with the new secrets")
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitWithin(t, cmd, 10*time.Second); code != 0 {
		t.Errorf("got exit code %d, want 0", code)
	}

	// On a terminal, a SIGHUP may be its hangup: it ends the run, and the
	// shell's prompt comes back with no new child started.
	term := newTerminal(t, w)
	w.set("app/a", canary("reload3"))
	goAhead = filepath.Join(w.dir, "go-ahead2")
	term.send("ward run -m " + m + " -- sh -c '" + strings.ReplaceAll(script(goAhead), "'", `'"'"'`) + "'\n")
	child, _ := strconv.Atoi(term.expect(`ready (\d+)`)[1])
	ward := parentOf(t, child)
	w.set("app/a", canary("reload4"))
	term.expect(`stopping`)
	syscall.Kill(ward, syscall.SIGHUP)
	os.WriteFile(goAhead, nil, 0o600)
	term.expect(`PROMPT> `)
	term.send("echo code=$?\n")
	term.expect(`code=0`)
}

// TestCIMaskWhileCommandsPaused: under GitHub Actions with --mask, a child
// that pauses the runner's workflow commands (::stop-commands::TOKEN)
// makes the runner print every command as it is until ::TOKEN::,
// ::add-mask:: included. ward follows the pause in the output it relays:
// a value rotation brings in meanwhile is masked in the child's output but
// not registered (the runner would print it) until the child resumes
// commands: then at once (it was left for a next start, which under
// on_change: signal never came), and later values as they come.
func TestCIMaskWhileCommandsPaused(t *testing.T) {
	w := newWardEnv(t)
	v1, v2, v3 := canary("pause1"), canary("pause2"), canary("pause3")
	cmd, stdout, stderr := pausedCommandsRun(t, w, v1, "")
	w.set("app/rot", v2)
	if line := stdout.waitFor("hup: "); line != "hup: <ward:file:rot.txt>" {
		t.Errorf("the child's line is %q, want it masked", redactAll(line, v1, v2, v3))
	}
	registered := false
	stderr.skipUntil("ward's log line saying commands resumed", func(line string) bool {
		registered = registered || strings.Contains(line, v2)
		return strings.Contains(line, "resumed the runner's workflow commands")
	})
	if registered {
		t.Errorf("the value rotation brought in while commands were paused was written to ward's stderr: the runner would print it")
	}
	stderr.skipUntil("the ::add-mask:: line of the value held back during the pause", func(line string) bool { return line == "::add-mask::"+v2 })
	w.set("app/rot", v3)
	stderr.skipUntil("the ::add-mask:: line of the third value", func(line string) bool { return line == "::add-mask::"+v3 })
	stdout.waitFor("hup: ")
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
}

// TestCIMaskResumedJustBeforeTheEnd: a value held back while the child
// paused the runner's commands is registered when the child resumes them
// and exits at once. The registration waited a second after the resume,
// and ward had ended by then: the job's later steps printed the value.
func TestCIMaskResumedJustBeforeTheEnd(t *testing.T) {
	w := newWardEnv(t)
	v1, v2 := canary("endpause1"), canary("endpause2")
	cmd, stdout, stderr := pausedCommandsRun(t, w, v1, "; exit 0")
	w.set("app/rot", v2)
	stdout.waitFor("hup: ")
	// Read to ward's end (a line missing fails the test at the end of
	// the stream), then the exit.
	stderr.skipUntil("the ::add-mask:: line of the value held back during the pause, before ward ended", func(line string) bool { return line == "::add-mask::"+v2 })
	if code := exitCode(t, cmd.Wait()); code != 0 {
		t.Errorf("ward exited %d, want the child's 0", code)
	}
}

// pausedCommandsRun starts, as under GitHub Actions and with --mask, a
// child that pauses the runner's commands and prints the value of its
// file (local://app/rot, first) at its start and at each SIGHUP, after
// which it resumes them and runs onHup; it returns once the first value
// is registered and the start printed.
func pausedCommandsRun(t *testing.T, w *wardEnv, first, onHup string) (cmd *exec.Cmd, stdout, stderr *lines) {
	t.Helper()
	w.set("app/rot", first)
	m := w.manifest("version: 1\nfiles:\n  - path: rot.txt\n    ref: local://app/rot\n    env: ROT_FILE\nrotation:\n  on_change: signal\n  signal: SIGHUP\n  debounce: 100ms\n")
	script := `trap 'echo "hup: $(cat "$ROT_FILE")"; echo "::pausetoken::"` + onHup + `' HUP
echo "::stop-commands::pausetoken"
echo "start: $(cat "$ROT_FILE")"
while :; do sleep 0.05; done`
	cmd = w.command("run", "--mask", "-m", m, "--", "sh", "-c", script)
	cmd.Env = append(cmd.Env, "GITHUB_ACTIONS=true")
	stdout, stderr = startedLines(t, cmd)
	stderr.skipUntil("the ::add-mask:: line of the first value", func(line string) bool { return line == "::add-mask::"+first })
	stdout.waitFor("start: ")
	return cmd, stdout, stderr
}

// TestRotationSignalMasked: with --mask and on_change: signal, the values
// the child is given without a restart (its files rewritten, then the
// signal) are masked in its output, as those of a restart are.
func TestRotationSignalMasked(t *testing.T) {
	w := newWardEnv(t)
	v1, v2 := canary("sigmask1"), canary("sigmask2")
	w.set("app/rot", v1)
	m := w.manifest("version: 1\nfiles:\n  - path: rot.txt\n    ref: local://app/rot\n    env: ROT_FILE\nrotation:\n  on_change: signal\n  signal: SIGHUP\n  debounce: 100ms\n")
	script := `trap 'echo "hup: $(cat "$ROT_FILE")"' HUP
echo "start: $(cat "$ROT_FILE")"
while :; do sleep 0.05; done`
	cmd := w.command("run", "--mask", "-m", m, "--", "sh", "-c", script)
	stdout, stderr := started(t, cmd)
	for _, want := range []string{"start: ", "hup: "} {
		if want == "hup: " {
			w.set("app/rot", v2)
		}
		line := stdout.waitFor(want)
		if strings.Contains(line, v1) || strings.Contains(line, v2) {
			t.Errorf("the child's %q line shows a value in clear", want)
		} else if line != want+"<ward:file:rot.txt>" {
			t.Errorf("the child's line is %q, want %q", redactAll(line, v1, v2), want+"<ward:file:rot.txt>")
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
	if strings.Contains(stderr.String(), v1) || strings.Contains(stderr.String(), v2) {
		t.Errorf("a canary is in ward's stderr")
	}
}

// TestRotationMaskedDuringTheDebounce: under --mask, a new value is
// masked once ward has read it, not once the debounce has ended: the
// child printed the new value of a file:// source it shares in clear
// for the whole debounce, and ward knew it.
func TestRotationMaskedDuringTheDebounce(t *testing.T) {
	w := newWardEnv(t)
	v1, v2 := canary("debmask1"), canary("debmask2")
	src := w.mounted(v1)
	gate := filepath.Join(w.dir, "print")
	m := w.manifest("version: 1\nenv:\n  R: file://" + src + "\nrotation:\n  debounce: 30s\n")
	// The child prints the source when the test asks (the gate file).
	script := `echo start; while :; do if [ -e ` + gate + ` ]; then rm ` + gate + `; echo "now $(cat ` + src + `)"; fi; sleep 0.05; done`
	cmd := w.command("run", "--mask", "-m", m, "--", "sh", "-c", script)
	stdout, stderr := startedLines(t, cmd)
	stdout.waitFor("start")
	stderr.waitForContaining(`"secret fetched"`)
	os.WriteFile(src+".new", []byte(v2), 0o600)
	os.Rename(src+".new", src)
	// ward has read the new value; the debounce holds the restart.
	stderr.waitForContaining(`"secret fetched"`)
	os.WriteFile(gate, nil, 0o600)
	line := stdout.waitFor("now ")
	if strings.Contains(line, v1) || strings.Contains(line, v2) {
		t.Errorf("the child's line shows the new value in clear during the debounce")
	} else if line != "now <ward:R>" {
		t.Errorf("the child's line is %q, want %q", line, "now <ward:R>")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
	for line := range stderr.ch {
		if strings.Contains(line, v1) || strings.Contains(line, v2) {
			t.Errorf("a canary is in ward's stderr")
		}
	}
}

// TestRotationFileThroughLinks: a file:// secret whose path goes through
// symbolic links into other directories is rotated when what the links
// lead to changes: a link to a file an agent replaces by rename in its
// own directory (a certificate renewed under /etc/letsencrypt), and a
// directory link swapped to a new release.
func TestRotationFileThroughLinks(t *testing.T) {
	tests := []struct {
		name string
		// setup writes v1 and returns the path the manifest names;
		// rotate makes that path read v2.
		setup  func(dir, v1 string) string
		rotate func(dir, v2 string)
	}{
		{
			name: "link to a file in another directory",
			setup: func(dir, v1 string) string {
				os.MkdirAll(filepath.Join(dir, "agent"), 0o700)
				os.MkdirAll(filepath.Join(dir, "mounted"), 0o700)
				os.WriteFile(filepath.Join(dir, "agent", "token"), []byte(v1), 0o600)
				os.Symlink(filepath.Join(dir, "agent", "token"), filepath.Join(dir, "mounted", "token"))
				return filepath.Join(dir, "mounted", "token")
			},
			rotate: func(dir, v2 string) {
				os.WriteFile(filepath.Join(dir, "agent", "token.new"), []byte(v2), 0o600)
				os.Rename(filepath.Join(dir, "agent", "token.new"), filepath.Join(dir, "agent", "token"))
			},
		},
		{
			name: "directory link swapped",
			setup: func(dir, v1 string) string {
				os.MkdirAll(filepath.Join(dir, "releases", "1"), 0o700)
				os.WriteFile(filepath.Join(dir, "releases", "1", "token"), []byte(v1), 0o600)
				os.Symlink("releases/1", filepath.Join(dir, "current"))
				return filepath.Join(dir, "current", "token")
			},
			rotate: func(dir, v2 string) {
				os.MkdirAll(filepath.Join(dir, "releases", "2"), 0o700)
				os.WriteFile(filepath.Join(dir, "releases", "2", "token"), []byte(v2), 0o600)
				os.Symlink("releases/2", filepath.Join(dir, "current.new"))
				os.Rename(filepath.Join(dir, "current.new"), filepath.Join(dir, "current"))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWardEnv(t)
			v1, v2 := canary("link1"), canary("link2")
			src := tt.setup(filepath.Join(w.dir, "secrets"), v1)
			m := w.manifest("version: 1\nenv:\n  A: file://" + src + "\nrotation:\n  debounce: 100ms\n")
			cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "helper", "env", "wait")
			rotatesOnce(t, cmd, "watching secret files for changes", v1, v2, func(*lines) { tt.rotate(filepath.Join(w.dir, "secrets"), v2) })
		})
	}
}

// TestRotationAncestorReplaced: a directory two levels above a file://
// secret (secrets/ of secrets/tls/key) replaced by a new tree, moved aside
// or removed and made again, is watched again: the change and later ones
// restart the child. Only the file's directory and its parent were
// watched, and the watch went on in the tree moved aside: the child kept
// the old value until rotation.poll.
func TestRotationAncestorReplaced(t *testing.T) {
	for _, how := range []string{"moved aside", "removed and made again"} {
		t.Run(how, func(t *testing.T) {
			w := newWardEnv(t)
			v1, v2, v3 := canary("anc1"), canary("anc2"), canary("anc3")
			top := filepath.Join(w.dir, "secrets")
			src := filepath.Join(top, "tls", "key")
			tree := func(root, v string) {
				if err := os.MkdirAll(filepath.Join(root, "tls"), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(root, "tls", "key"), []byte(v), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			tree(top, v1)
			m := w.manifest("version: 1\nenv:\n  A: file://" + src + "\nrotation:\n  debounce: 100ms\n  poll: 1h\n")
			cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "helper", "env", "wait")
			stdout, stderr := startedLines(t, cmd)
			if got := envHash(stdout, "A"); got != helper.Hash(v1) {
				t.Fatalf("the first child does not have the first value")
			}
			stderr.waitForContaining("watching secret files for changes")
			switch how {
			case "moved aside":
				tree(top+".new", v2)
				if err := os.Rename(top, top+".old"); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(top+".new", top); err != nil {
					t.Fatal(err)
				}
			default:
				os.RemoveAll(top)
				tree(top, v2)
			}
			if got := envHash(stdout, "A"); got != helper.Hash(v2) {
				t.Fatalf("the child restarted after secrets/ was replaced does not have the new value")
			}
			if err := os.WriteFile(src+".new", []byte(v3), 0o600); err != nil {
				t.Fatal(err)
			}
			os.Rename(src+".new", src)
			if got := envHash(stdout, "A"); got != helper.Hash(v3) {
				t.Errorf("the child restarted after a change in the new tree does not have the new value")
			}
			cmd.Process.Signal(syscall.SIGTERM)
			exitCode(t, cmd.Wait())
			os.RemoveAll(top + ".old")
			stderr.noCanary(t, v1, v2, v3)
		})
	}
}

// TestRotationFileDirectoryRemade: the directory of a file:// secret
// removed and made again (a deploy that replaces the whole directory) is
// watched again: a later change in it restarts the child too.
func TestRotationFileDirectoryRemade(t *testing.T) {
	w := newWardEnv(t)
	v1, v2, v3 := canary("remade1"), canary("remade2"), canary("remade3")
	src := w.mounted(v1)
	dir := filepath.Dir(src)
	replace := func(v string) {
		os.WriteFile(src+".new", []byte(v), 0o600)
		os.Rename(src+".new", src)
	}
	m := w.manifest("version: 1\nenv:\n  A: file://" + src + "\nrotation:\n  debounce: 100ms\n")
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "helper", "env", "wait")
	stdout, stderr := startedLines(t, cmd)
	// Failed once in a fresh-clone CI run, at the third value, and not
	// in 30 runs here (idle or busy): ward's debug lines, for the next.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for {
			select {
			case line, ok := <-stderr.ch:
				if !ok {
					return
				}
				t.Logf("ward: %s", redactAll(line, v1, v2, v3))
			default:
				return
			}
		}
	})
	if got := envHash(stdout, "A"); got != helper.Hash(v1) {
		t.Fatalf("the first child does not have the first value")
	}
	stderr.waitForContaining("watching secret files for changes")
	os.RemoveAll(dir)
	stderr.waitForContaining("cannot refresh secrets")
	os.MkdirAll(dir, 0o700)
	replace(v2)
	if got := envHash(stdout, "A"); got != helper.Hash(v2) {
		t.Fatalf("the child restarted after the directory came back does not have the new value")
	}
	replace(v3)
	if got := envHash(stdout, "A"); got != helper.Hash(v3) {
		t.Errorf("the child restarted after a change in the directory made again does not have the new value")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
	for line := range stderr.ch {
		for _, v := range []string{v1, v2, v3} {
			if strings.Contains(line, v) {
				t.Errorf("a canary is in ward's stderr")
			}
		}
	}
}

// TestRotationBindMountedFile: a file:// secret that is a bind mount of a
// single file (Docker Compose's secrets, `docker run -v
// /host/token:/run/secrets/token`) rewritten in place on the host side
// restarts the child: a write through the host's path tells nothing to
// a watch on the mount's directory, only to a watch on the file.
func TestRotationBindMountedFile(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		vaulttest.RequireIntegration(t, "unshare (util-linux) is not installed")
	}
	w := newWardEnv(t)
	v1, v2 := canary("bind1"), canary("bind2")
	host, mounted := filepath.Join(w.dir, "host", "token"), filepath.Join(w.dir, "mounted", "token")
	os.MkdirAll(filepath.Dir(host), 0o700)
	os.MkdirAll(filepath.Dir(mounted), 0o700)
	os.WriteFile(host, []byte(v1), 0o600)
	os.WriteFile(mounted, nil, 0o600)
	if out, err := exec.Command("unshare", "--mount", "mount", "--bind", host, mounted).CombinedOutput(); err != nil {
		vaulttest.RequireIntegration(t, "cannot bind-mount a file in a mount namespace of its own (unshare --mount needs CAP_SYS_ADMIN): "+strings.TrimSpace(string(out)))
	}
	m := w.manifest("version: 1\nenv:\n  A: file://" + mounted + "\nrotation:\n  debounce: 100ms\n")
	ward, _ := exec.LookPath("ward")
	cmd := exec.Command("unshare", "--mount", "sh", "-c", `mount --bind "$1" "$2" && exec "$3" run --log-level debug -m "$4" -- helper env wait`, "sh", host, mounted, ward, m)
	cmd.Env = w.env
	// In place, as `echo new > token` or a program's write does.
	rotatesOnce(t, cmd, "watching secret files for changes", v1, v2, func(*lines) { os.WriteFile(host, []byte(v2), 0o600) })
}

// TestRotationFileWithoutInotify: with no inotify instance to be had (128
// per user by default, shared by every container that runs as root on the
// host), or no watch (fs.inotify.max_user_watches, shared by every program
// of the user: an IDE, a file syncer), a file:// secret is still rotated:
// its file is checked at each rotation.poll. A watch refused says which
// limit it met: it said "no space left on device", which reads as a full
// disk.
func TestRotationFileWithoutInotify(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		vaulttest.RequireIntegration(t, "unshare (util-linux) is not installed")
	}
	replace := func(src, v string) {
		os.WriteFile(src+".new", []byte(v), 0o600)
		os.Rename(src+".new", src)
	}
	// In place, at the same length, its mtime put back (cp -p, rsync -t
	// --inplace, touch -r): only its ctime tells.
	inPlace := func(src, v string) {
		st, err := os.Stat(src)
		if err != nil {
			t.Fatal(err)
		}
		if old, _ := os.ReadFile(src); len(old) != len(v) {
			t.Fatalf("the values differ in length: %d and %d", len(old), len(v))
		}
		os.WriteFile(src, []byte(v), 0o600)
		os.Chtimes(src, st.ModTime(), st.ModTime())
	}
	tests := []struct {
		name, limit, warning string
		rewrite              func(src, v string)
	}{
		{"no instance", `echo 0 > /proc/sys/user/max_inotify_instances`, "cannot watch secret files for changes", replace},
		{"no watch", `echo 0 > /proc/sys/user/max_inotify_watches`, "fs.inotify.max_user_watches", replace},
		{"no instance, rewritten with its mtime", `echo 0 > /proc/sys/user/max_inotify_instances`, "cannot watch secret files for changes", inPlace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if out, err := exec.Command("unshare", "--user", "--map-root-user", "sh", "-c", tc.limit).CombinedOutput(); err != nil {
				vaulttest.RequireIntegration(t, "cannot limit inotify in a user namespace of its own: "+strings.TrimSpace(string(out)))
			}
			w := newWardEnv(t)
			v1, v2 := canary("noinotify1"), canary("noinotify2")
			src := w.mounted(v1)
			m := w.manifest("version: 1\nenv:\n  A: file://" + src + "\nrotation:\n  poll: 1s\n  debounce: 100ms\n")
			ward, _ := exec.LookPath("ward")
			cmd := exec.Command("unshare", "--user", "--map-root-user", "sh", "-c", tc.limit+` && exec "$1" run --log-level debug -m "$2" -- helper env wait`, "sh", ward, m)
			cmd.Env = w.env
			rotatesOnce(t, cmd, tc.warning, v1, v2, func(*lines) { tc.rewrite(src, v2) })
		})
	}
}

// TestRotationChangedDuringStop: a watched file changed again while the
// old child takes its time to stop is read before the new child starts:
// it starts with the latest value, not with the one that began the
// restart (which a restart right after would replace, and which may be
// revoked already: a child that exits on a bad credential took ward down).
func TestRotationChangedDuringStop(t *testing.T) {
	w := newWardEnv(t)
	v1, v2, v3 := canary("stop1"), canary("stop2"), canary("stop3")
	src := w.mounted(v1)
	replace := func(v string) {
		os.WriteFile(src+".new", []byte(v), 0o600)
		os.Rename(src+".new", src)
	}
	cmd, stdout, stderr, goAhead := slowStopChild(t, w, src, "100ms", v1)
	replace(v2)
	stdout.waitFor("stopping")
	replace(v3)
	os.WriteFile(goAhead, nil, 0o600)
	if got := envHash(stdout, "A"); got != helper.Hash(v3) {
		t.Errorf("the restarted child does not have the value written while the old one stopped")
	}
	// Its file too, which was written before the old child was stopped,
	// with the value that began the restart.
	if line := stdout.waitFor("file "); !strings.HasSuffix(line, " hash="+helper.Hash(v3)) {
		t.Errorf("the restarted child's file does not hold the value written while the old one stopped")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
	for line := range stdout.ch {
		if line == "end" {
			t.Errorf("the child was started a third time")
		}
	}
	for line := range stderr.ch {
		for _, v := range []string{v1, v2, v3} {
			if strings.Contains(line, v) {
				t.Errorf("a canary is in ward's stderr")
			}
		}
	}
}

// TestRotationRestartStopsOrphans: a daemon the old child started in a
// session of its own (setsid, as a script's `service x start` does),
// orphaned to ward when the old child stops for a restart, is stopped
// before the new child starts: it holds the old secrets in its
// environment, and the new child's own daemon would start beside it
// (and find its port taken).
func TestRotationRestartStopsOrphans(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/a", canary("orphan1"))
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\nrotation:\n  debounce: 100ms\n  stop_timeout: 5s\n")
	script := `setsid sh -c 'trap "echo daemon-bye; exit 0" TERM; echo "daemon-up $$"; while :; do sleep 0.05; done' &
echo child-up
while :; do sleep 0.05; done`
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c", script)
	stdout, _ := startedLines(t, cmd)
	// The daemons outlive ward (another session, not ward's to stop at
	// its exit): the test ends them.
	var daemons []int
	t.Cleanup(func() {
		for _, pid := range daemons {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	daemonUp := func(line string) bool {
		pid, ok := strings.CutPrefix(line, "daemon-up ")
		if n, err := strconv.Atoi(pid); ok && err == nil {
			daemons = append(daemons, n)
		}
		return ok
	}
	for child, daemon := false, false; !child || !daemon; {
		line := stdout.next("child-up and daemon-up")
		child, daemon = child || line == "child-up", daemon || daemonUp(line)
	}
	w.set("app/a", canary("orphan2"))
	// The old daemon's goodbye comes before the new child's start.
	if line := stdout.skipUntil("the old daemon's goodbye or the new child", func(line string) bool {
		daemonUp(line)
		return line == "daemon-bye" || line == "child-up"
	}); line != "daemon-bye" {
		t.Errorf("the new child started while the old child's daemon still ran")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitWithin(t, cmd, 15*time.Second)
	for line := range stdout.ch {
		daemonUp(line)
	}
}

// rotatesOnce runs cmd, a `ward run ... -- helper env wait` whose child
// gets A = v1, and checks that change, made once ward has logged ready
// (and given ward's stderr, to wait on), restarts the child with A = v2,
// and that neither value reaches ward's stderr.
func rotatesOnce(t *testing.T, cmd *exec.Cmd, ready, v1, v2 string, change func(stderr *lines)) {
	t.Helper()
	stdout, stderr := startedLines(t, cmd)
	if got := envHash(stdout, "A"); got != helper.Hash(v1) {
		t.Fatalf("the first child does not have the first value")
	}
	stderr.waitForContaining(ready)
	change(stderr)
	if got := envHash(stdout, "A"); got != helper.Hash(v2) {
		t.Errorf("the restarted child does not have the new value")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
	for line := range stderr.ch {
		if strings.Contains(line, v1) || strings.Contains(line, v2) {
			t.Errorf("a canary is in ward's stderr")
		}
	}
}

// TestRefreshFailureLoggedOncePerStep: a file:// secret emptied while
// the child runs (a mount half rewritten) fails its refresh, and the
// warning comes once, then once at each retry. One change of the file
// is an event on the file's own watch and one on its directory's, and
// each failed read of the same change warned again at once.
func TestRefreshFailureLoggedOncePerStep(t *testing.T) {
	w := newWardEnv(t)
	src := filepath.Join(w.dir, "mounted", "token")
	os.MkdirAll(filepath.Dir(src), 0o700)
	v := canary("refresh-once")
	os.WriteFile(src, []byte(v), 0o600)
	m := w.manifest("version: 1\nenv:\n  TOKEN: file://" + src + "\nrotation:\n  debounce: 100ms\n")
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c", "echo up; exec sleep 60")
	stdout, stderr := startedLines(t, cmd)
	stdout.waitFor("up")
	stderr.waitForContaining("watching secret files")
	warning := func(line string) bool {
		return strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "cannot refresh secrets")
	}
	os.WriteFile(src, nil, 0o600)
	stderr.skipUntil("the first warning", warning)
	// The next warning must be the retry's, a backoff step later: its
	// retry_in is the next step's (2s, less 20% at most), where a second
	// warning of the same change said what was left of the first (1s).
	next := stderr.skipUntil("the next warning", warning)
	m2 := regexp.MustCompile(`"retry_in":"([^"]+)"`).FindStringSubmatch(next)
	if m2 == nil {
		t.Fatalf("the warning has no retry_in: %s", next)
	}
	if d, err := time.ParseDuration(m2[1]); err != nil || d < 1300*time.Millisecond {
		t.Errorf("the second warning says retry_in %s: it is the same change warned of again, not the retry's", m2[1])
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
	for line := range stderr.ch {
		if strings.Contains(line, v) {
			t.Errorf("a canary is in ward's stderr")
		}
	}
}

// TestRotationUndeliverableHoldsBackNoOther: a file:// secret rewritten
// with a value the child cannot be given (a NUL byte) is warned of, and
// the child keeps what it has of it; another secret's change then
// restarts the child with that change. It waited, with no word of it, for
// as long as the first stayed so.
func TestRotationUndeliverableHoldsBackNoOther(t *testing.T) {
	w := newWardEnv(t)
	dir := filepath.Join(w.dir, "mounted")
	os.MkdirAll(dir, 0o700)
	a1, b1, b2 := canary("undeliv-a1"), canary("undeliv-b1"), canary("undeliv-b2")
	replace := func(name, value string) {
		tmp := filepath.Join(dir, name+".new")
		if err := os.WriteFile(tmp, []byte(value), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	replace("a", a1)
	replace("b", b1)
	m := w.manifest("version: 1\nenv:\n  A: file://" + dir + "/a\n  B: file://" + dir + "/b\nrotation:\n  debounce: 200ms\n")
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "helper", "env", "wait")
	stdout, stderr := startedLines(t, cmd)
	defer cmd.Process.Kill()
	if got := envListing(stdout); got["A"] != helper.Hash(a1) || got["B"] != helper.Hash(b1) {
		t.Fatal("the first child does not have the first values")
	}
	stderr.waitForContaining("watching secret files")
	replace("a", canary("undeliv-a2")+"\x00tail")
	stderr.skipUntil("the warning of A's NUL byte", func(line string) bool {
		return strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "A: the value holds a NUL byte")
	})
	replace("b", b2)
	if got := envListing(stdout); got["A"] != helper.Hash(a1) || got["B"] != helper.Hash(b2) {
		t.Errorf("the restarted child does not have A's old value and B's new one")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
	stderr.noCanary(t, a1, b1, b2, "undeliv-a2")
}

// TestRotationNoneToldAgainstTheChild: with on_change: none, a secret
// changed back to the value the child has is no change to tell of (it
// was logged as one, compared with the last change told), and a change
// after it is told again.
func TestRotationNoneToldAgainstTheChild(t *testing.T) {
	w := newWardEnv(t)
	v1 := canary("none1")
	w.set("app/a", v1)
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\nrotation:\n  on_change: none\n  debounce: 100ms\n")
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "helper", "env", "wait")
	stdout, stderr := startedLines(t, cmd)
	defer cmd.Process.Kill()
	if got := envHash(stdout, "A"); got != helper.Hash(v1) {
		t.Fatal("the child does not have the first value")
	}
	stderr.waitForContaining("watching secret files")
	const told = "on_change is none"
	w.set("app/a", canary("none2"))
	stderr.waitForContaining(told)
	w.set("app/a", v1)
	if line := stderr.skipUntil("the change back", func(line string) bool {
		return strings.Contains(line, told) || strings.Contains(line, "changed back to the values the child has")
	}); strings.Contains(line, told) {
		t.Errorf("a change back to the child's value was told as a change: %s", line)
	}
	w.set("app/a", canary("none3"))
	if line := stderr.waitForContaining(told); !strings.Contains(line, `"changed":"A"`) {
		t.Errorf("the change after it does not name A: %s", line)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
}

// TestRotationNoneRegistersWithTheRunner: under GitHub Actions (without
// --mask), with on_change: none, a changed value is registered with the
// runner when ward reads it: the child keeps its old values, but may read
// the new one itself (a file:// source it shares) and print it. It was
// registered only when a child was given it, which under none never
// happened, and the runner printed it in clear (adversarial run of
// 2026-12-05).
func TestRotationNoneRegistersWithTheRunner(t *testing.T) {
	w := newWardEnv(t)
	v1, v2 := canary("noneci1"), canary("noneci2")
	src := w.mounted(v1)
	m := w.manifest("version: 1\nenv:\n  A: file://" + src + "\nrotation:\n  on_change: none\n  debounce: 100ms\n")
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "helper", "sleep")
	cmd.Env = append(cmd.Env, "GITHUB_ACTIONS=true")
	stdout, stderr := startedLines(t, cmd)
	defer cmd.Process.Kill()
	stderr.skipUntil("the first value's ::add-mask:: line", func(line string) bool { return line == "::add-mask::"+v1 })
	stdout.waitFor("ready")
	stderr.waitForContaining("watching secret files")
	os.WriteFile(src+".new", []byte(v2), 0o600)
	os.Rename(src+".new", src)
	stderr.skipUntil("the new value's ::add-mask:: line", func(line string) bool { return line == "::add-mask::"+v2 })
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
}

// TestRotationManyReleaseSwapsHoldNoWatches: a ward whose secret file
// is replaced many times by a new directory, the old ones kept, holds as
// many inotify watches and descriptors after 2N rotations as after N.
// Two ways: a directory link swapped to a new release (Capistrano's
// releases/, a Kubernetes volume whose old ..timestamp directories are
// removed later), where ward kept a watch on every directory and file the
// link had led to, two more a rotation; and the secret's directory itself
// moved aside and a new one moved in under its name (a deploy script's
// `mv secrets secrets.old && mv secrets.new secrets`), where the old
// directory kept its watch, one more a rotation. Both until
// fs.inotify.max_user_watches (shared by every program of the user) ran
// out.
func TestRotationManyReleaseSwapsHoldNoWatches(t *testing.T) {
	for _, tc := range []struct {
		name string
		// swap puts the n-th release's value v in place under dir and
		// returns the path the manifest names (the same each time).
		swap func(dir string, n int, v string) string
	}{
		{"directory link swapped", func(vol string, n int, v string) string {
			d := filepath.Join(vol, fmt.Sprintf("..r%d", n))
			os.MkdirAll(d, 0o700)
			os.WriteFile(filepath.Join(d, "token"), []byte(v), 0o600)
			tmp := filepath.Join(vol, "..data_tmp")
			os.Symlink(filepath.Base(d), tmp)
			if err := os.Rename(tmp, filepath.Join(vol, "..data")); err != nil {
				t.Fatal(err)
			}
			os.Symlink("..data/token", filepath.Join(vol, "token"))
			return filepath.Join(vol, "token")
		}},
		{"directory moved aside and replaced", func(vol string, n int, v string) string {
			next := filepath.Join(vol, "secrets.new")
			os.MkdirAll(next, 0o700)
			os.WriteFile(filepath.Join(next, "token"), []byte(v), 0o600)
			os.Rename(filepath.Join(vol, "secrets"), filepath.Join(vol, fmt.Sprintf("secrets.old%d", n)))
			if err := os.Rename(next, filepath.Join(vol, "secrets")); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(vol, "secrets", "token")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 25
			w := newWardEnv(t)
			vol := filepath.Join(w.dir, "vol")
			os.MkdirAll(vol, 0o700)
			release, path := 0, ""
			swap := func() string {
				release++
				v := canary(fmt.Sprintf("rel%d", release))
				path = tc.swap(vol, release, v)
				return v
			}
			v := swap()
			m := w.manifest("version: 1\nfiles:\n  - path: token\n    ref: file://" + path + "\n    env: TOKEN_FILE\nrotation:\n  on_change: signal\n  signal: SIGUSR1\n  debounce: 1ms\n")
			cmd := w.command("run", "-m", m, "--", "sh", "-c", `trap 'helper stdin-hash < "$TOKEN_FILE"' USR1; helper stdin-hash < "$TOKEN_FILE"; while :; do sleep 0.01; done`)
			out, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			stdout := readLines(t, out)
			if stdout.waitFor("STDIN ") != "STDIN "+helper.Hash(v) {
				t.Fatalf("the child does not see the first release's token")
			}
			held := func() (watches, fds int) {
				ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fdinfo", cmd.Process.Pid))
				for _, e := range ents {
					b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", cmd.Process.Pid, e.Name()))
					watches += strings.Count(string(b), "\ninotify wd:")
				}
				return watches, len(ents)
			}
			rotate := func(times int) {
				for range times {
					v := swap()
					if stdout.waitFor("STDIN ") != "STDIN "+helper.Hash(v) {
						t.Fatalf("after release %d the child reads another token", release)
					}
				}
			}
			rotate(n)
			watchesN, fdsN := held()
			rotate(n)
			watches2N, fds2N := held()
			if watches2N > watchesN+2 || fds2N > fdsN+2 {
				t.Errorf("ward holds %d inotify watches and %d descriptors after %d rotations, %d and %d after %d: they grow with rotations", watches2N, fds2N, 2*n, watchesN, fdsN, n)
			}
			cmd.Process.Signal(syscall.SIGTERM)
			exitCode(t, cmd.Wait())
		})
	}
}

// slowStopChild starts `ward run` over a child that lists its env once
// and, at the stop signal, prints "stopping" and waits for the file
// goAhead to exist before it exits: a stop that takes as long as the test
// wants. Its manifest reads A and the file a.pem ($A_FILE, which it
// describes after its env) from the file src, with debounce; the first
// child must have first for A.
func slowStopChild(t *testing.T, w *wardEnv, src, debounce, first string) (cmd *exec.Cmd, stdout, stderr *lines, goAhead string) {
	t.Helper()
	goAhead = filepath.Join(w.dir, "go-ahead")
	m := w.manifest("version: 1\nenv:\n  A: file://" + src + "\nfiles:\n  - path: a.pem\n    ref: file://" + src + "\n    env: A_FILE\nrotation:\n  debounce: " + debounce + "\n  stop_timeout: 20s\n")
	script := `trap 'echo stopping; while [ ! -e "$GO_AHEAD" ]; do sleep 0.05; done; exit 0' TERM
helper env
helper file "$A_FILE"
while :; do sleep 0.05; done`
	cmd = w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c", script)
	cmd.Env = append(cmd.Env, "GO_AHEAD="+goAhead)
	stdout, stderr = startedLines(t, cmd)
	if got := envHash(stdout, "A"); got != helper.Hash(first) {
		t.Fatalf("the first child does not have the first value")
	}
	return cmd, stdout, stderr, goAhead
}
