package main

import (
	"strings"
	"testing"

	"github.com/creack/pty"
)

// TestMaskUnderPTY: with --mask and a terminal, the child gets a pty of
// its own: colours pass through with the value masked, a window resize
// reaches the child as SIGWINCH, Ctrl-C reaches it exactly once, and
// ward's terminal is given back.
func TestMaskUnderPTY(t *testing.T) {
	w := newWardEnv(t)
	secret := canary("pty")
	w.set("app/token", secret)
	m := w.manifest("version: 1\nenv:\n  TOKEN: local://app/token\n")
	cmd := w.command("run", "--mask", "-m", m, "--", "sh", "-c", `printf '\033[31mred %s\033[0m\n' "$TOKEN"; [ -t 0 ] && [ -t 1 ] && echo child-has-a-terminal; exec helper signals --exit-on INT`)
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	l := readLines(t, ptmx)
	red := l.waitForContaining("red ")
	if !strings.Contains(red, "\x1b[31mred <ward:TOKEN>\x1b[0m") {
		t.Errorf("got %q, want the colour codes kept and the value masked", red)
	}
	l.waitFor("child-has-a-terminal")
	l.waitForContaining("child ready")

	pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 100})
	if line := l.waitForContaining("child SIG"); !strings.HasSuffix(strings.TrimSpace(line), "child SIGWINCH") {
		t.Errorf("got %q after a resize, want SIGWINCH", line)
	}
	ptmx.Write([]byte{3})
	var sigs []string
	for line := range l.ch {
		if i := strings.Index(line, "child SIG"); i >= 0 {
			sigs = append(sigs, strings.TrimSpace(line[i:]))
		}
		if strings.Contains(line, secret) {
			t.Errorf("the canary reached the terminal")
		}
	}
	if len(sigs) != 1 || sigs[0] != "child SIGINT" {
		t.Errorf("got %q after one Ctrl-C, want exactly one child SIGINT", sigs)
	}
	if code := exitCode(t, cmd.Wait()); code != 0 {
		t.Errorf("got exit code %d, want 0", code)
	}
}
