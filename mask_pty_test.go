package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
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

// TestMaskSharedOutputKeepsOrder: with --mask and ward's stdout and stderr
// the same pipe or file (2>&1), the child's writes to its stdout and
// stderr come out in the order it made them, as without --mask, a tail
// held back on stdout (it could start the value) included; with separate
// ones, each stream still gets its own lines.
func TestMaskSharedOutputKeepsOrder(t *testing.T) {
	w := newWardEnv(t)
	secret := canary("order")
	w.set("app/token", secret)
	m := w.manifest("version: 1\nenv:\n  TOKEN: local://app/token\n")
	// "canary-" could start the value: the stdout writer holds it until
	// the next output decides.
	script := `for i in 1 2 3; do echo "out $i"; echo "err $i $TOKEN" >&2; done; printf canary-; echo "err 4" >&2; echo " out 5"`
	want := "out 1\nerr 1 <ward:TOKEN>\nout 2\nerr 2 <ward:TOKEN>\nout 3\nerr 3 <ward:TOKEN>\ncanary-err 4\n out 5\n"
	// childLines drops ward's own log lines (JSON) from its output.
	childLines := func(out string) string {
		var b strings.Builder
		for _, l := range strings.SplitAfter(out, "\n") {
			if !strings.HasPrefix(l, "{") {
				b.WriteString(l)
			}
		}
		return b.String()
	}
	check := func(t *testing.T, name, got, want string) {
		t.Helper()
		if strings.Contains(got, secret) {
			t.Errorf("%s: the canary is in ward's output", name)
		}
		if got != want {
			t.Errorf("%s: got %q, want %q", name, redactAll(got, secret), want)
		}
	}

	t.Run("one pipe", func(t *testing.T) {
		cmd := w.command("run", "--mask", "-m", m, "--", "sh", "-c", script)
		// The same writer for both: os/exec gives ward one pipe as its
		// stdout and stderr.
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if code := exitCode(t, cmd.Run()); code != 0 {
			t.Errorf("got exit code %d, want 0", code)
		}
		check(t, "output", childLines(out.String()), want)
	})
	t.Run("one file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "out.log")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd := w.command("run", "--mask", "-m", m, "--", "sh", "-c", script)
		cmd.Stdout, cmd.Stderr = f, f
		if code := exitCode(t, cmd.Run()); code != 0 {
			t.Errorf("got exit code %d, want 0", code)
		}
		out, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "file", childLines(string(out)), want)
	})
	t.Run("two pipes", func(t *testing.T) {
		cmd := w.command("run", "--mask", "-m", m, "--", "sh", "-c", script)
		var out, errs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errs
		if code := exitCode(t, cmd.Run()); code != 0 {
			t.Errorf("got exit code %d, want 0", code)
		}
		check(t, "stdout", out.String(), "out 1\nout 2\nout 3\ncanary- out 5\n")
		check(t, "stderr", childLines(errs.String()), "err 1 <ward:TOKEN>\nerr 2 <ward:TOKEN>\nerr 3 <ward:TOKEN>\nerr 4\n")
	})
}

// TestMaskKeysWithStdinRedirected: with --mask, ward's stdout a terminal
// and its stdin a file (`< file`, `< /dev/null`), what is typed reaches
// the child's pty: a password prompt on /dev/tty gets its answer, and
// less, reading a file from stdin and its keys from /dev/tty, quits at
// q. Nothing was relayed: the prompt and less waited for ever, and
// Ctrl-C did not help less. Through a pipe (`producer | ward run`),
// the producer may read the terminal itself (sudo, ssh asking for a
// password), and ward leaves it alone as before.
func TestMaskKeysWithStdinRedirected(t *testing.T) {
	needProgram(t, "less", "less")
	w := newWardEnv(t)
	w.set("app/token", canary("keys"))
	m := w.manifest("version: 1\nenv:\n  TOKEN: local://app/token\n")
	in := filepath.Join(w.dir, "in.txt")
	if err := os.WriteFile(in, []byte("from-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	term := newTerminal(t, w)
	term.send("stty -a; echo modes-before\n")
	before := term.expect(`(?s)stty -a; echo modes-before\r\n(.*)modes-before`)[1]
	term.expect(`PROMPT> `)

	// The prompt's words split in the command, whose echo would match.
	term.send("ward run --mask -m " + m + ` -- sh -c 'read -r a; printf "pass""word: " >/dev/tty; read -r p </dev/tty; echo "got-$a-$p."' < ` + in + "\n")
	term.expect(`password: `)
	term.send("typed\r")
	if got := term.expect(`got-([\w-]*)\.`)[1]; got != "from-file-typed" {
		t.Errorf("the child read %q, want from-file-typed", got)
	}
	term.expect(`PROMPT> `)

	term.send("seq 1000 | ward run --mask -m " + m + " -- env LESS= TERM=dumb less -d < " + in + "; echo less-done-$((1+1))\n")
	term.expect(`from-file`)
	term.send("q")
	term.expect(`less-done-2`)
	term.expect(`PROMPT> `)

	term.send("stty -a; echo modes-after\n")
	if after := term.expect(`(?s)stty -a; echo modes-after\r\n(.*)modes-after`)[1]; !strings.Contains(after, " icanon ") || !strings.Contains(after, " echo ") || after != before {
		t.Errorf("the terminal's modes after the runs:\n%s\nwant them as before:\n%s", after, before)
	}
	term.expect(`PROMPT> `)

	term.send(`sh -c 'printf "producer: "; read -r p </dev/tty; echo "producer-got-$p."' | ward run --mask -m ` + m + " -- cat\n")
	term.expect(`producer: `)
	term.send("answer\n")
	if got := term.expect(`producer-got-(\w*)\.`)[1]; got != "answer" {
		t.Errorf("the producer before ward in a pipeline read %q, want the typed line", got)
	}
	term.expect(`PROMPT> `)
}

// TestMaskResizedInBackground: a --mask job whose terminal was resized
// while it ran in the background (started with &, or Ctrl-Z then bg),
// where only the shell gets SIGWINCH, has the new size at fg: the child's
// pty took the size of ward's terminal at start and at each SIGWINCH
// alone, and a full-screen program went on drawing for the old window.
func TestMaskResizedInBackground(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	child := ` -- bash -c 'echo "size-$(stty size | tr " " x)."; while read -r l; do echo "size-$(stty size | tr " " x)."; done'`
	for i, start := range []string{"&", "ctrl-z, bg"} {
		t.Run(start, func(t *testing.T) {
			term := newTerminal(t, w)
			if start == "&" {
				term.send("ward run --mask -m " + m + child + " &\n")
				// The prompt and the child's first line, in either order.
				term.expectAll(`PROMPT> `, `size-40x120\.`)
			} else {
				term.send("ward run --mask -m " + m + child + "\n")
				term.expect(`size-40x120\.`)
				term.ctrlZ()
				term.send("bg\n")
				term.expect(`PROMPT> `)
			}
			rows := uint16(30 + i)
			pty.Setsize(term.ptmx, &pty.Winsize{Rows: rows, Cols: 100})
			term.send("fg\n")
			term.expect(`ward run`)
			term.send("x\n")
			if got, want := term.expect(`size-(\w+)\.`)[1], fmt.Sprintf("%dx100", rows); got != want {
				t.Errorf("the child has the size %s after fg, want %s", got, want)
			}
			term.send("\x04")
			term.expect(`PROMPT> `)
		})
	}
}

// TestMaskGrepColour: under --mask on a terminal the child's stdout is a
// pty, so grep --color=auto colours its matches, and a match inside a
// value (searching logs for a key's prefix) splits the value with colour
// codes the terminal does not show: the value is masked, and the colours
// are kept. It reached the terminal in clear.
func TestMaskGrepColour(t *testing.T) {
	needProgram(t, "grep", "grep")
	w := newWardEnv(t)
	secret := "sk_live_" + canary("grep")
	w.set("app/key", secret)
	m := w.manifest("version: 1\nenv:\n  API_KEY: local://app/key\n")
	cmd, l := grepOnPTY(t, w, m, "echo grep-done")
	line := l.waitForContaining("charge key=")
	l.waitForContaining("grep-done")
	if strings.Contains(regexp.MustCompile("\x1b\\[[0-9;]*[mK]").ReplaceAllString(line, ""), secret) {
		t.Errorf("the value, with grep's colours inside it, reached the terminal in clear")
	}
	if !strings.Contains(line, "\x1b[01;31m") || !strings.Contains(line, "<ward:API_KEY>") {
		t.Errorf("got a line with grep's colour %v and <ward:API_KEY> %v, want both", strings.Contains(line, "\x1b[01;31m"), strings.Contains(line, "<ward:API_KEY>"))
	}
	if code := exitCode(t, cmd.Wait()); code != 0 {
		t.Errorf("got exit code %d, want 0", code)
	}
}

// grepOnPTY runs, under ward run --mask with manifest m on a terminal of
// its own, a shell that prints API_KEY through grep --color=auto (its
// match coloured inside the value), then runs after; the terminal is
// closed when the test ends.
func grepOnPTY(t *testing.T, w *wardEnv, m, after string) (*exec.Cmd, *lines) {
	t.Helper()
	cmd := w.command("run", "--mask", "-m", m, "--", "sh", "-c", `printf 'charge key=%s\n' "$API_KEY" | grep --color=auto sk_live_; `+after)
	cmd.Env = append(cmd.Env, "GREP_COLORS=mt=01;31")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 200})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptmx.Close() })
	return cmd, readLines(t, ptmx)
}

// TestMaskTerminalBesideOddValues: on a terminal, grep's colours inside a
// value are seen through while another value holds an escape sequence in
// its bytes (a binary secret), and a value with CRLF line ends (a file
// saved on Windows), which the child's pty shows with "\r\r\n", is
// masked. The first value came out whole, coloured (one value with an
// escape turned the look through colours off for all), and the second's
// lines in clear (adversarial run of 2026-12-05).
func TestMaskTerminalBesideOddValues(t *testing.T) {
	needProgram(t, "grep", "grep")
	w := newWardEnv(t)
	secret := "sk_live_" + canary("oddgrep")
	w.set("app/key", secret)
	binary := "\x30\x82\x1b[1m\x02\x82" + canary("oddbin")
	// Words alone, as a passphrase is: no line of it counts as a token.
	word := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return 'g' + r - '0'
		}
		return r
	}, strings.TrimPrefix(canary("oddcrlf"), "canary-"))
	word = strings.ReplaceAll(word, "-", "")
	ini := "[db]\r\nuser = app\r\npassword = correct horse " + word + "\r\n"
	w.canaries = append(w.canaries, binary, word)
	// Outside the test's directory, which the audit searches for them.
	src := t.TempDir()
	for name, value := range map[string]string{"key.bin": binary, "creds.ini": ini} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(value), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  API_KEY: local://app/key\n  KEY_BIN: file://%s/key.bin\n  DB_INI: file://%s/creds.ini\n", src, src))
	cmd, l := grepOnPTY(t, w, m, `printf '%s\n' "$DB_INI" "$KEY_BIN"; echo all-done`)
	var screen strings.Builder
	for line := ""; !strings.Contains(line, "all-done"); {
		line = l.next("all-done")
		screen.WriteString(line + "\n")
	}
	shown := regexp.MustCompile("\x1b\\[[0-9;]*[mK]").ReplaceAllString(screen.String(), "")
	for what, v := range map[string]string{"the coloured value": secret, "the CRLF value's last line": word, "the binary value": binary[len(binary)-24:]} {
		if strings.Contains(shown, v) {
			t.Errorf("%s reached the terminal", what)
		}
	}
	for _, name := range []string{"API_KEY", "DB_INI", "KEY_BIN"} {
		if !strings.Contains(screen.String(), "<ward:"+name+">") {
			t.Errorf("no <ward:%s> on the screen", name)
		}
	}
	if code := exitCode(t, cmd.Wait()); code != 0 {
		t.Errorf("got exit code %d, want 0", code)
	}
}

// TestMaskUnderTmux: tmux under --mask draws its pane with terminfo's
// sgr0, "\e(B\e[m", and a colour inside a value there (grep's match,
// redrawn by tmux) is masked all the same. The "\e(B" split the value as
// colour codes did, and the terminal showed it in clear.
func TestMaskUnderTmux(t *testing.T) {
	needProgram(t, "tmux", "tmux")
	needProgram(t, "grep", "grep")
	w := newWardEnv(t)
	secret := "sk_live_" + canary("tmux")
	w.set("app/key", secret)
	m := w.manifest("version: 1\nenv:\n  API_KEY: local://app/key\n")
	dir := t.TempDir()
	done, sock := filepath.Join(dir, "done"), filepath.Join(dir, "tmux.sock")
	t.Cleanup(func() {
		// The pane's loop ends, and with it the server, whatever failed.
		os.WriteFile(done, nil, 0o644)
		exec.Command("tmux", "-S", sock, "kill-server").Run()
	})
	pane := `echo "k=$API_KEY" | grep --color=always sk_live_; echo grep-done; until [ -e ` + done + ` ]; do sleep 0.05; done`
	cmd := w.command("run", "--mask", "-m", m, "--", "tmux", "-S", sock, "-f", "/dev/null", "new-session", pane)
	cmd.Env = append(cmd.Env, "TERM=xterm-256color", "GREP_COLORS=mt=01;31")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	var screen bytes.Buffer
	l := readLines(t, io.TeeReader(ptmx, &screen))
	l.waitForContaining("grep-done")
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for range l.ch {
	}
	if code := exitCode(t, cmd.Wait()); code != 0 {
		t.Errorf("got exit code %d, want 0", code)
	}
	shown := regexp.MustCompile("\x1b(\\[[0-9;:?]*[A-Za-z]|\\([0B])").ReplaceAllString(screen.String(), "")
	if strings.Contains(shown, secret) {
		t.Errorf("the value, drawn by tmux with colours inside it, reached the terminal in clear")
	}
	if !strings.Contains(shown, "k=<ward:API_KEY>") {
		t.Errorf("the terminal does not show k=<ward:API_KEY>")
	}
}

// TestMaskKeepsTerminalSettings: the child's pty under --mask has the
// user's settings of ward's terminal (stty erase ^H for a backspace that
// sends ^H, iutf8 for erasing a whole UTF-8 character, -ixon to keep
// Ctrl-S for the program), also when ward starts in the background and
// the shell's line editor has the terminal: the pty had the kernel's
// defaults, so backspace typed ^H into a line, erased half a character,
// and Ctrl-S froze the output.
func TestMaskKeepsTerminalSettings(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	term := newTerminal(t, w)
	term.send("stty erase ^H iutf8 -ixon\n")
	term.expect(`PROMPT> `)
	modes := func(out string) string {
		var got []string
		for _, re := range []string{`erase = \S+;`, `-?iutf8\b`, `-?ixon\b`} {
			got = append(got, regexp.MustCompile(re).FindString(out))
		}
		return strings.Join(got, " ")
	}
	want := "erase = ^H; iutf8 -ixon"
	for _, bg := range []string{"", " &"} {
		term.send("ward run --mask -m " + m + " -- sh -c 'stty -a; echo modes-done'" + bg + "\n")
		if got := modes(term.expect(`(?s)speed (.*?)modes-done`)[1]); got != want {
			t.Errorf("the child's pty%s has %q, want %q", bg, got, want)
		}
		if bg != "" {
			// The prompt came before the job's output.
			term.send("wait; echo waited-$((1+1))\n")
			term.expect(`waited-2`)
		}
		term.expect(`PROMPT> `)
	}
	term.send("ward run --mask -m " + m + ` -- sh -c 'read -r x; echo "got-$x."'` + "\n")
	term.send("ab\bc\r")
	if got := term.expect(`got-(.*?)\.\r\n`)[1]; got != "ac" {
		t.Errorf("the child read %q after a backspace (^H), want ac", got)
	}
	term.expect(`PROMPT> `)
}

// TestMaskCtrlCAfterPaste: Ctrl-C reaches a --mask child that does not
// read its terminal (a server) after lines pasted there by mistake have
// filled its pty's input: the kernel takes no more input there, and ward,
// whose relay of the terminal waited on the pty, never read the Ctrl-C,
// so the child could not be interrupted.
func TestMaskCtrlCAfterPaste(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	cmd := w.command("run", "--mask", "-m", m, "--", "helper", "signals", "--exit-on", "INT")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	l := readLines(t, ptmx)
	l.waitForContaining("child ready")
	var paste bytes.Buffer
	for i := 0; paste.Len() < 64<<10; i++ {
		fmt.Fprintf(&paste, "pasted line %05d\n", i)
	}
	go ptmx.Write(append(paste.Bytes(), 3))
	if line := l.waitForContaining("child SIG"); !strings.HasSuffix(strings.TrimSpace(line), "child SIGINT") {
		t.Errorf("got %q after the paste and Ctrl-C, want SIGINT", line)
	}
	if code := exitWithin(t, cmd, 10*time.Second); code != 0 {
		t.Errorf("got exit code %d, want 0", code)
	}
}

// TestMaskWithoutDevpts: --mask on a terminal in a container whose /dev
// has no devpts (a minimal runtime's, a chroot's) cannot give the child a
// pseudo-terminal; ward fails closed with 125 and says what --mask needs
// and the ways out. The error was "open pseudo-terminal: open /dev/ptmx:
// no such device" and no more.
func TestMaskWithoutDevpts(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		vaulttest.RequireIntegration(t, "unshare (util-linux) is not installed")
	}
	w := newWardEnv(t)
	value := canary("nodevpts")
	w.set("app/token", value)
	m := w.manifest("version: 1\nenv:\n  TOKEN: local://app/token\n")
	ward, _ := exec.LookPath("ward")
	cmd := exec.Command("unshare", "--mount", "sh", "-c", `mount -t tmpfs none /dev/pts || exit 99; exec "$@"`, "sh", ward, "run", "--mask", "-m", m, "--", "sh", "-c", `echo started`)
	cmd.Env = w.env
	_, l := onPty(t, cmd)
	var out []string
	for line := range l.ch {
		out = append(out, line)
	}
	code := exitCode(t, cmd.Wait())
	text := strings.Join(out, "\n")
	if code == 99 {
		vaulttest.RequireIntegration(t, "cannot mount a tmpfs in a mount namespace of its own (unshare --mount needs CAP_SYS_ADMIN): "+text)
	}
	if code != 125 || strings.Contains(text, "started") {
		t.Errorf("got exit code %d, want 125 and the child not started; output:\n%s", code, redactAll(text, value))
	}
	for _, want := range []string{"open pseudo-terminal", "--mask keeps a program on a terminal on a pseudo-terminal of its own", "mount -t devpts", "| cat"} {
		if !strings.Contains(text, want) {
			t.Errorf("the output does not say %q:\n%s", want, redactAll(text, value))
		}
	}
	if strings.Contains(text, value) {
		t.Errorf("the value is in ward's output")
	}
}

// TestMaskChildKilledNamedByItsPid: with --mask on a terminal, the log
// line of a child killed by a signal names the program's pid, as without
// --mask. It named the pty session's leader (a process of ward's), or,
// for a signal other than the keys', was not logged at all.
func TestMaskChildKilledNamedByItsPid(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	cmd := w.command("run", "--mask", "-m", m, "--", "sh", "-c", `echo "pid $$"; kill -TERM $$`)
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	l := readLines(t, ptmx)
	pid := strings.TrimSpace(strings.TrimPrefix(l.waitFor("pid "), "pid "))
	line := l.waitForContaining(`"child killed by a signal"`)
	if !strings.Contains(line, `"pid":`+pid+`,`) || !strings.Contains(line, `"signal":"TERM"`) {
		t.Errorf("got %q, want the program's pid %s and TERM", strings.TrimSpace(line), pid)
	}
	if code := exitCode(t, cmd.Wait()); code != 143 {
		t.Errorf("got exit code %d, want 143", code)
	}
}
