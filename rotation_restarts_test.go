package main

// The fourteenth run's part on what changes and what restarts: rotation
// at the edges of the child's life.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/testdata/helper"
)

// TestRotationAfterChildExited: a secret that changes after the child
// exited by itself, while ward stops what it left running in its group
// (a `cmd &` that ignores SIGTERM), neither restarts nor signals
// anything: ward exits with the child's status. It logged "secrets
// changed: restarting the child" (or "files rewritten and the child
// signalled"), signalled the dead child's pid and told systemd a restart
// was under way, then exited 3 all the same.
func TestRotationAfterChildExited(t *testing.T) {
	for _, onChange := range []string{"restart", "signal"} {
		t.Run(onChange, func(t *testing.T) {
			w := newWardEnv(t)
			v1, v2 := canary("exited1"), canary("exited2")
			src := w.mounted(v1)
			m := w.manifest("version: 1\nfiles:\n  - path: token\n    ref: file://" + src + "\nrotation:\n  on_change: " + onChange + "\n  debounce: 100ms\n  stop_timeout: 4s\n")
			goAhead := filepath.Join(w.dir, "go-ahead")
			// The child leaves a process that ignores SIGTERM, so that ward
			// stops it for stop_timeout after the child's exit; "up" once it
			// does (a SIGTERM before its trap ended it at once, and ward
			// with it, before the change was seen: seen once in a run).
			script := `(trap '' TERM; : > "$GO_AHEAD.ignoring"; while :; do sleep 0.05; done) &
while [ ! -e "$GO_AHEAD.ignoring" ]; do sleep 0.01; done
echo up
while [ ! -e "$GO_AHEAD" ]; do sleep 0.05; done
exit 3`
			cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c", script)
			cmd.Env = append(cmd.Env, "GO_AHEAD="+goAhead)
			stdout, stderr := startedLines(t, cmd)
			stdout.waitFor("up")
			os.WriteFile(goAhead, nil, 0o600)
			stderr.waitForContaining("stopping what the child left running")
			os.WriteFile(src+".new", []byte(v2), 0o600)
			os.Rename(src+".new", src)
			var logged []string
			for line := range stderr.ch {
				logged = append(logged, line)
			}
			if code := exitWithin(t, cmd, 30*time.Second); code != 3 {
				t.Errorf("ward exited %d, want the child's 3", code)
			}
			starts := 1
			for line := range stdout.ch {
				if line == "up" {
					starts++
				}
			}
			if starts != 1 {
				t.Errorf("the child started %d times, want once", starts)
			}
			all := strings.Join(logged, "\n")
			for _, v := range []string{v1, v2} {
				if strings.Contains(all, v) {
					t.Errorf("a canary is in ward's stderr")
				}
			}
			for _, l := range logged {
				if strings.Contains(l, "restarting the child") || strings.Contains(l, "the child signalled") {
					t.Errorf("ward acted on a change for a child that had exited: %s", l)
				}
			}
			if !strings.Contains(all, "the child has exited") {
				t.Errorf("no line says the change is not applied since the child exited:\n%s", all)
			}
		})
	}
}

// TestRotationSignalNotCaught: with on_change: signal, a child that has
// no handler for rotation.signal (a program that reloads its files by
// itself, a script without a trap) is restarted with the new file, as
// for a changed variable, rather than killed by the signal: ward exited
// 129 at the first rotation, and the service was down. A child that
// catches it is still signalled, not restarted.
func TestRotationSignalNotCaught(t *testing.T) {
	for _, tc := range []struct {
		name, signal, script string
		restarted            bool
	}{
		{"no handler", "", `echo "up $(helper stdin-hash < "$TOKEN_FILE")"; while :; do sleep 0.05; done`, true},
		{"ignored", "", `trap '' HUP; echo "up $(helper stdin-hash < "$TOKEN_FILE")"; while :; do sleep 0.05; done`, false},
		{"handler", "", `trap 'echo "hup $(helper stdin-hash < "$TOKEN_FILE")"' HUP; echo "up $(helper stdin-hash < "$TOKEN_FILE")"; while :; do sleep 0.05; done`, false},
		// A signal that does nothing to a program without a handler:
		// the child never heard of its new files.
		{"no handler for SIGWINCH", "SIGWINCH", `echo "up $(helper stdin-hash < "$TOKEN_FILE")"; while :; do sleep 0.05; done`, true},
		{"handler for SIGWINCH", "SIGWINCH", `trap 'echo "hup $(helper stdin-hash < "$TOKEN_FILE")"' WINCH; echo "up $(helper stdin-hash < "$TOKEN_FILE")"; while :; do sleep 0.05; done`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, v1, v2, cmd, stdout, stderr := signalledFileWith(t, "hup", tc.signal, tc.script)
			if got := stdout.waitFor("up "); got != "up STDIN "+helper.Hash(v1) {
				t.Fatalf("the child does not read the first value: %q", got)
			}
			os.WriteFile(src+".new", []byte(v2), 0o600)
			os.Rename(src+".new", src)
			switch {
			case tc.restarted:
				if got := stdout.waitFor("up "); got != "up STDIN "+helper.Hash(v2) {
					t.Fatalf("the restarted child does not read the new value: %q", got)
				}
			case strings.HasPrefix(tc.name, "handler"):
				if got := stdout.waitFor("hup "); got != "hup STDIN "+helper.Hash(v2) {
					t.Fatalf("the signalled child does not read the new value: %q", got)
				}
			default:
				stderr.waitForContaining("files rewritten and the child signalled")
			}
			cmd.Process.Signal(syscall.SIGTERM)
			if code := exitWithin(t, cmd, 20*time.Second); code != 128+int(syscall.SIGTERM) {
				t.Errorf("ward exited %d, want 143 (the child ended by ward's SIGTERM)", code)
			}
			// The starts read above, and any after.
			starts, want := 1, 1
			if tc.restarted {
				starts, want = 2, 2
			}
			for line := range stdout.ch {
				if strings.HasPrefix(line, "up ") {
					starts++
				}
			}
			if starts != want {
				t.Errorf("the child started %d times, want %d", starts, want)
			}
			for line := range stderr.ch {
				if strings.Contains(line, v1) || strings.Contains(line, v2) {
					t.Errorf("a canary is in ward's stderr")
				}
			}
		})
	}
}

// signalledFile starts `sh -c script` under ward with one secret file,
// TOKEN_FILE, from a file:// source of its first value v1, rotated by
// signal (SIGHUP); v2 is the next value to write to src.
func signalledFile(t *testing.T, label, script string) (src, v1, v2 string, cmd *exec.Cmd, stdout, stderr *lines) {
	t.Helper()
	return signalledFileWith(t, label, "", script)
}

// signalledFileWith is signalledFile with rotation.signal set to signal
// (SIGHUP when "").
func signalledFileWith(t *testing.T, label, signal, script string) (src, v1, v2 string, cmd *exec.Cmd, stdout, stderr *lines) {
	t.Helper()
	w := newWardEnv(t)
	v1, v2 = canary(label+"1"), canary(label+"2")
	src = w.mounted(v1)
	if signal != "" {
		signal = "  signal: " + signal + "\n"
	}
	m := w.manifest("version: 1\nfiles:\n  - path: token\n    ref: file://" + src + "\n    env: TOKEN_FILE\nrotation:\n  on_change: signal\n  debounce: 100ms\n  stop_timeout: 5s\n" + signal)
	cmd = w.command("run", "-m", m, "--", "sh", "-c", script)
	stdout, stderr = startedLines(t, cmd)
	return src, v1, v2, cmd, stdout, stderr
}

// TestRotationSignalEndsTheChild: on_change: signal, and a child that
// ends on rotation.signal (SIGHUP). A Go program with no signal.Notify
// for it: /proc shows a Go program catching every signal (its runtime's
// handlers), so ward signalled it, and the runtime's handler ended it by
// SIGHUP. A program that exits on it with 128 and its number: the JVM
// runs its shutdown hooks and exits 129. ward exited with the child's
// status, and the service was down for good at its first rotation; such
// a child is started again with the new secrets. Another status (0, 1:
// a job that reloaded and then finished, a failure) is the child's own
// end, and the run's code.
func TestRotationSignalEndsTheChild(t *testing.T) {
	for _, tc := range []struct {
		name, program string
		// code is ward's exit code when the child is not started again
		// ("" when it is).
		code string
	}{
		{"Go child without signal.Notify", `echo start; exec helper watchfile "$TOKEN_FILE"`, ""},
		{"exit 129", `trap 'exit 129' HUP; echo start; helper watchfile "$TOKEN_FILE" & wait; wait`, ""},
		{"exit 0", `trap 'exit 0' HUP; echo start; helper watchfile "$TOKEN_FILE" & wait; wait`, "0"},
		{"exit 1", `trap 'exit 1' HUP; echo start; helper watchfile "$TOKEN_FILE" & wait; wait`, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, v1, v2, cmd, stdout, stderr := signalledFile(t, "hupend", tc.program)
			stdout.waitFor("start")
			if got := stdout.waitFor("seen "); got != "seen "+helper.Hash(v1) {
				t.Fatalf("the child does not read the first value: %q", got)
			}
			os.WriteFile(src+".new", []byte(v2), 0o600)
			os.Rename(src+".new", src)
			if tc.code != "" {
				if code := exitWithin(t, cmd, 20*time.Second); strconv.Itoa(code) != tc.code {
					t.Errorf("ward exited %d, want the child's %s", code, tc.code)
				}
				for line := range stderr.ch {
					if strings.Contains(line, "ended on rotation.signal") {
						t.Errorf("a child that ended with %s of its own was started again", tc.code)
					}
				}
				return
			}
			stderr.waitForContaining("ended on rotation.signal")
			stderr.waitForContaining("child restarted with the new secrets")
			// The old child may have seen the new file before the signal.
			stdout.waitFor("start")
			if got := stdout.waitFor("seen "); got != "seen "+helper.Hash(v2) {
				t.Errorf("the new child does not read the new value: %q", got)
			}
			cmd.Process.Signal(syscall.SIGTERM)
			if code := exitWithin(t, cmd, 20*time.Second); code != 128+int(syscall.SIGTERM) {
				t.Errorf("ward exited %d, want 143 (the restarted child ended by ward's SIGTERM)", code)
			}
			for line := range stderr.ch {
				if strings.Contains(line, v1) || strings.Contains(line, v2) {
					t.Errorf("a canary is in ward's stderr")
				}
			}
		})
	}
}

// TestRotationUndoneWhileAnotherFails: a value changed and changed back
// within the debounce restarts nothing, also while another secret cannot
// be read (`ward local rm` of a name the manifest still uses, which
// holds back no other): the next change, of a third secret, gives the
// child the value the store holds. The change undone was kept as
// pending when the refresh that read it back also failed, and the child
// was restarted with the value already undone.
func TestRotationUndoneWhileAnotherFails(t *testing.T) {
	w := newWardEnv(t)
	a1, a2, b1 := canary("undo-a1"), canary("undo-a2"), canary("undo-b1")
	c1, c2 := canary("undo-c1"), canary("undo-c2")
	w.set("app/a", a1)
	w.set("app/b", b1)
	src := filepath.Join(w.dir, "mounted", "c")
	os.MkdirAll(filepath.Dir(src), 0o700)
	os.WriteFile(src, []byte(c1), 0o600)
	// A debounce of 3 s: the change back is a second `ward local set`,
	// which took over 300 ms on a loaded machine (ward built -race).
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\n  B: local://app/b\n  C: file://" + src + "\nrotation:\n  debounce: 3s\n  stop_timeout: 5s\n")
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "helper", "env", "wait")
	stdout, stderr := startedLines(t, cmd)
	if got := envListing(stdout); got["A"] != helper.Hash(a1) || got["C"] != helper.Hash(c1) {
		t.Fatalf("the first child does not have the first values")
	}
	rm := w.command("local", "rm", "app/b")
	if out, err := rm.CombinedOutput(); err != nil {
		t.Fatalf("ward local rm: %v\n%s", err, out)
	}
	stderr.waitForContaining("cannot refresh secrets")
	w.set("app/a", a2)
	// Read by the running ward: its audit line names the new version.
	stderr.skipUntil("a2 read", func(line string) bool {
		return strings.Contains(line, `"ref":"local://app/a"`) && strings.Contains(line, `"version":"v2"`)
	})
	w.set("app/a", a1)
	// Either ward says the change was undone, or it restarts the child
	// (with the value undone) once the debounce has run ten times.
	deadline := time.After(waitLimit)
	for undone := false; !undone; {
		select {
		case line, ok := <-stderr.ch:
			if !ok {
				t.Fatal("ward's stderr ended")
			}
			undone = strings.Contains(line, "changed back before the debounce ended")
		case line, ok := <-stdout.ch:
			if !ok {
				t.Fatal("the child's output ended")
			}
			if h, found := strings.CutPrefix(line, "A "); found {
				if h == helper.Hash(a2) {
					t.Fatal("the child was restarted with the value of A that was changed back")
				}
				t.Fatal("the child was restarted after a change undone")
			}
		case <-deadline:
			t.Fatal("ward said nothing of the change undone")
		}
	}
	os.WriteFile(src+".new", []byte(c2), 0o600)
	os.Rename(src+".new", src)
	got := envListing(stdout)
	if got["C"] != helper.Hash(c2) {
		t.Errorf("the restarted child does not have the new C")
	}
	switch got["A"] {
	case helper.Hash(a1):
	case helper.Hash(a2):
		t.Errorf("the restarted child has the value of A that was changed back")
	default:
		t.Errorf("the restarted child has neither value of A")
	}
	if got["B"] != helper.Hash(b1) {
		t.Errorf("the restarted child lost the value of B it had")
	}
	if n := stopAndCount(t, cmd, stdout, stderr, a1, a2, b1, c1, c2); n != 0 {
		t.Errorf("the child was restarted %d more times, want none", n)
	}
}

// TestRotationWhileAnotherUnreadable: while one secret cannot be read (a
// name the manifest uses removed from the local store), a change of
// another restarts the child when the debounce ends, and a change made
// while the old child stops reaches the new one. The store's file, which
// every local ref shares, moved at each change: the debounce's last look
// read the unreadable one again, failed and waited again, ten debounces
// in all; and the restart's read of what changed during the stop failed
// with it, so the new child started with the value already replaced and
// was restarted again at once.
func TestRotationWhileAnotherUnreadable(t *testing.T) {
	w := newWardEnv(t)
	a1, a2, a3, b1 := canary("unread-a1"), canary("unread-a2"), canary("unread-a3"), canary("unread-b1")
	w.set("app/a", a1)
	w.set("app/b", b1)
	goAhead := filepath.Join(w.dir, "go-ahead")
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\n  B: local://app/b\nrotation:\n  debounce: 200ms\n  poll: 1h\n  stop_timeout: 20s\n")
	script := `trap 'echo stopping; while [ ! -e "$GO_AHEAD" ]; do sleep 0.05; done; exit 0' TERM
helper env
while :; do sleep 0.05; done`
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c", script)
	cmd.Env = append(cmd.Env, "GO_AHEAD="+goAhead)
	stdout, stderr := startedLines(t, cmd)
	if got := envHash(stdout, "A"); got != helper.Hash(a1) {
		t.Fatalf("the first child does not have the first value")
	}
	rm := w.command("local", "rm", "app/b")
	if out, err := rm.CombinedOutput(); err != nil {
		t.Fatalf("ward local rm: %v\n%s", err, out)
	}
	stderr.waitForContaining("cannot refresh secrets")
	w.set("app/a", a2)
	// The debounce's end looks at the files again: with nothing changed
	// since the read, it reads nothing and restarts the child.
	looks := 0
	stderr.skipUntil("the restart", func(line string) bool {
		if strings.Contains(line, "cannot refresh secrets") && strings.Contains(line, `"reason":"files looked at"`) {
			looks++
		}
		return strings.Contains(line, "secrets changed: restarting the child")
	})
	if looks > 0 {
		t.Errorf("the debounce's end read the unreadable secret again %d times before the restart, want none", looks)
	}
	stdout.waitFor("stopping")
	w.set("app/a", a3)
	os.WriteFile(goAhead, nil, 0o600)
	got := envListing(stdout)
	switch got["A"] {
	case helper.Hash(a3):
	case helper.Hash(a2):
		t.Errorf("the new child has the value replaced while the old one stopped")
	default:
		t.Errorf("the new child has neither value")
	}
	if got["B"] != helper.Hash(b1) {
		t.Errorf("the new child lost the value of B it had")
	}
	if n := stopAndCount(t, cmd, stdout, stderr, a1, a2, a3, b1); n != 0 {
		t.Errorf("the child was restarted %d more times, want none", n)
	}
}

// TestRotationWrittenDuringStop: a secret file written in place, in
// several writes, as the old child of a restart exits (a certificate
// copied in pieces, a shell's > then >>) reaches the new child whole: it
// starts once the file has been quiet for the debounce. It started with
// the part written so far, then was restarted again with the rest.
func TestRotationWrittenDuringStop(t *testing.T) {
	w := newWardEnv(t)
	v1, v2, v3 := canary("piece1"), canary("piece2"), canary("piece3")+canary("piece3b")
	src := filepath.Join(w.dir, "mounted", "cert")
	os.MkdirAll(filepath.Dir(src), 0o700)
	os.WriteFile(src, []byte(v1), 0o600)
	cmd, stdout, stderr, goAhead := slowStopChild(t, w, src, "1500ms", v1)
	os.WriteFile(src+".new", []byte(v2), 0o600)
	os.Rename(src+".new", src)
	stdout.waitFor("stopping")
	// In place, in five writes 100 ms apart: the old child is let go
	// after the first. The debounce, 1.5 s, leaves the test's writes a
	// second and more of delay on a loaded machine.
	n := len(v3) / 5
	for i := range 5 {
		flags := os.O_WRONLY | os.O_APPEND
		if i == 0 {
			flags = os.O_WRONLY | os.O_TRUNC
		}
		f, err := os.OpenFile(src, flags, 0)
		if err != nil {
			t.Fatal(err)
		}
		piece := v3[i*n : (i+1)*n]
		if i == 4 {
			piece = v3[i*n:]
		}
		f.WriteString(piece)
		f.Close()
		if i == 0 {
			os.WriteFile(goAhead, nil, 0o600)
		}
		if i < 4 {
			time.Sleep(100 * time.Millisecond) // the writer's pace, not a wait for an event
		}
	}
	switch got := envHash(stdout, "A"); got {
	case helper.Hash(v3):
	case helper.Hash(v2):
		t.Errorf("the new child has the value replaced while the old one stopped")
	default:
		t.Errorf("the new child has part of the value written while the old one stopped")
	}
	if n := stopAndCount(t, cmd, stdout, stderr, v1, v2, v3); n != 0 {
		t.Errorf("the child was restarted %d more times, want none", n)
	}
}
