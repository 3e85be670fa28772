package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/signals"
)

// Local development tools behind ward as a developer runs them: npm's
// scripts (run through `sh -c`), dev servers and their reloaders.

// devServer is a Node.js dev server as frameworks write their shutdown:
// the first SIGTERM starts a graceful drain, a second one means "stop
// now" and exits 1 at once (Next.js, Nest's enableShutdownHooks with
// a hard stop, lightship, uvicorn's second Ctrl-C).
const devServer = `let terms = 0;
process.on('SIGTERM', () => {
  terms++;
  console.log('term ' + terms + ' ' + process.pid);
  if (terms > 1) { console.log('forced ' + process.pid); process.exit(1); }
  setTimeout(() => { console.log('drained ' + process.pid); process.exit(0); }, 500);
});
setInterval(() => {}, 1000);
console.log('ready ' + process.pid);
`

// npmProject writes a package.json whose scripts are scripts, and
// server.js (devServer), to dir.
func npmProject(t *testing.T, dir string, scripts map[string]string) {
	t.Helper()
	needProgram(t, "node", "nodejs")
	needProgram(t, "npm", "npm")
	var s []string
	for name, script := range scripts {
		s = append(s, `"`+name+`": "`+script+`"`)
	}
	pkg := `{"name": "app", "version": "1.0.0", "private": true, "scripts": {` + strings.Join(s, ", ") + `}}`
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(pkg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "server.js"), []byte(devServer), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestNpmScriptRestartSignalsServerOnce: `ward run -- npm run dev` whose
// script is `cd . && node server.js` (a shell that does not exec node),
// restarted by `ward local set`. npm passes the SIGTERM to its shell,
// which dies of it, leaving node orphaned to ward in the old child's
// group. ward sent node SIGTERM twice, as a member of the group and as
// an orphan, and a server that reads a second SIGTERM as "stop now"
// was cut off in the middle of its drain.
func TestNpmScriptRestartSignalsServerOnce(t *testing.T) {
	w := newWardEnv(t)
	npmProject(t, w.dir, map[string]string{"dev": "cd . && node server.js"})
	w.set("app/a", canary("npm1"))
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\nrotation:\n  debounce: 100ms\n  stop_timeout: 5s\n")
	cmd := w.command("run", "-m", m, "--", "npm", "run", "dev")
	cmd.Env = append(cmd.Env, "npm_config_update_notifier=false")
	stdout, _ := startedLines(t, cmd)
	first := strings.TrimPrefix(stdout.waitFor("ready "), "ready ")
	w.set("app/a", canary("npm2"))
	var old []string
	for {
		line := stdout.next("the restarted server's ready line")
		if strings.HasPrefix(line, "ready ") {
			break
		}
		if strings.HasSuffix(line, " "+first) {
			old = append(old, line)
		}
	}
	want := []string{"term 1 " + first, "drained " + first}
	if strings.Join(old, "|") != strings.Join(want, "|") {
		t.Errorf("the old server said %q at the restart, want %q", old, want)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitWithin(t, cmd, 15*time.Second)
}

// TestPID1LeftoverServerSignalledOnce: ward as a container's PID 1, its
// child an entrypoint script that exits with a dev server still running
// in its group. ward stops what is left with SIGTERM, once: as PID 1 it
// sent it to the group and to every process of the container, the
// group's members included, and the server's drain was cut short.
func TestPID1LeftoverServerSignalledOnce(t *testing.T) {
	w := newWardEnv(t)
	npmProject(t, w.dir, nil)
	m := w.manifest(emptyManifest)
	out := filepath.Join(w.dir, "server.out")
	script := `node server.js > ` + out + ` 2>&1 & while ! grep -q ready ` + out + ` 2>/dev/null; do :; done; exit 3`
	if code, stderr := runAsPID1(t, w, m, script); code != 3 {
		t.Errorf("got exit code %d, want the child's 3 (stderr: %s)", code, stderr)
	}
	b, _ := os.ReadFile(out)
	var said []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		said = append(said, strings.Fields(line)[0])
	}
	if got := strings.Join(said, " "); got != "ready term drained" {
		t.Errorf("the server said %q, want ready, term and drained (one SIGTERM)", got)
	}
}

// TestLeftoverThenStopSignalsServerOnce: the child exits with a server
// still running in its group, which ward stops with SIGTERM; a stop of
// ward then (docker stop, systemctl stop, during the server's drain)
// sends it no second one. ward forwarded it to the group again, and a
// server that reads a second SIGTERM as "stop now" cut its drain short.
func TestLeftoverThenStopSignalsServerOnce(t *testing.T) {
	w := newWardEnv(t)
	npmProject(t, w.dir, nil)
	m := w.manifest(emptyManifest)
	out := filepath.Join(w.dir, "server.out")
	script := `node server.js > ` + out + ` 2>&1 & while ! grep -q ready ` + out + ` 2>/dev/null; do :; done; exit 6`
	cmd := w.command("run", "-m", m, "--", "sh", "-c", script)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	said := func() string { b, _ := os.ReadFile(out); return string(b) }
	waitUntil(t, "the server's SIGTERM from ward", func() bool { return strings.Contains(said(), "term 1 ") })
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitWithin(t, cmd, 15*time.Second); code != 6 {
		t.Errorf("got exit code %d, want the child's 6", code)
	}
	var words []string
	for _, line := range strings.Split(strings.TrimSpace(said()), "\n") {
		words = append(words, strings.Fields(line)[0])
	}
	if got := strings.Join(words, " "); got != "ready term drained" {
		t.Errorf("the server said %q, want ready, term and drained (one SIGTERM)", got)
	}
}

// TestLeftoverThenSecondStopForwarded: during the drain of what the child
// left, the first SIGTERM to ward is held back (what is left had ward's
// own), and a later one is forwarded, as a person's second kill is: one
// who means "stop now" is not ignored.
func TestLeftoverThenSecondStopForwarded(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest + "rotation:\n  stop_timeout: 20s\n")
	out := filepath.Join(w.dir, "left.out")
	script := `( n=0; trap 'n=$((n+1)); echo "term $n" >> ` + out + `' TERM; echo ready >> ` + out + `; while :; do sleep 0.05; done ) & while ! grep -q ready ` + out + ` 2>/dev/null; do :; done; exit 6`
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c", script)
	_, stderr := startedLines(t, cmd)
	said := func() string { b, _ := os.ReadFile(out); return string(b) }
	waitUntil(t, "the leftover's SIGTERM from ward", func() bool { return strings.Contains(said(), "term 1") })
	cmd.Process.Signal(syscall.SIGTERM)
	stderr.waitForContaining("not sent again")
	if strings.Contains(said(), "term 2") {
		t.Fatalf("the first stop of ward during the drain was forwarded")
	}
	// A person's second kill comes later than the two copies of one
	// event ward takes for one (100 ms): the pause models the person,
	// it waits for no event.
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	waitUntil(t, "the second stop forwarded to the leftover", func() bool { return strings.Contains(said(), "term 2") })
	cmd.Process.Kill()
}

// TestNpmStopSignalsServerOnce: `kill -TERM` of a `ward run -- npm run
// dev` (a terminal's other tab, a tool that stops the dev server).
// ward forwards the SIGTERM to the child's group, npm and node alike;
// npm exits at once and leaves node draining. ward then sent the rest
// of the group SIGTERM again, and a server that reads a second one as
// "stop now" cut its drain short.
func TestNpmStopSignalsServerOnce(t *testing.T) {
	w := newWardEnv(t)
	npmProject(t, w.dir, map[string]string{"dev": "node server.js"})
	m := w.manifest(emptyManifest)
	cmd := w.command("run", "-m", m, "--", "npm", "run", "dev")
	cmd.Env = append(cmd.Env, "npm_config_update_notifier=false")
	stdout, _ := startedLines(t, cmd)
	pid := strings.TrimPrefix(stdout.waitFor("ready "), "ready ")
	cmd.Process.Signal(syscall.SIGTERM)
	code := exitWithin(t, cmd, 15*time.Second)
	var said []string
	for line := range stdout.ch {
		if strings.HasSuffix(line, " "+pid) {
			said = append(said, line)
		}
	}
	want := []string{"term 1 " + pid, "drained " + pid}
	if strings.Join(said, "|") != strings.Join(want, "|") {
		t.Errorf("the server said %q at the stop, want %q", said, want)
	}
	if code != 143 {
		t.Errorf("got exit code %d, want npm's 143", code)
	}
}

// maskedNpmDev starts `ward run --mask -- npm run dev` in a terminal
// (script is dev's) and returns the terminal and the server's pid.
func maskedNpmDev(t *testing.T, w *wardEnv, script string) (*terminal, string) {
	t.Helper()
	npmProject(t, w.dir, map[string]string{"dev": script})
	w.set("app/a", canary("masknpm1"))
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\nrotation:\n  debounce: 100ms\n  stop_timeout: 5s\n")
	term := newTerminal(t, w)
	term.send("npm_config_update_notifier=false ward run --mask -m " + m + " -- npm run dev; echo rc=$?\r")
	return term, term.expect(`ready (\d+)`)[1]
}

// TestMaskNpmRestartSignalsServerOnce: the same restart as
// TestNpmScriptRestartSignalsServerOnce under --mask on a terminal,
// where ward's pty session leader passes the stop signal to the child's
// group and stops what the child left there itself. It sent node SIGTERM
// a second time once npm had exited.
func TestMaskNpmRestartSignalsServerOnce(t *testing.T) {
	w := newWardEnv(t)
	term, pid := maskedNpmDev(t, w, "cd . && node server.js")
	w.set("app/a", canary("masknpm2"))
	said := term.expect(`(?s)^(.*?)ready \d+`)[1]
	if !strings.Contains(said, "term 1 "+pid) || !strings.Contains(said, "drained "+pid) || strings.Contains(said, "term 2 "+pid) {
		t.Errorf("at the restart the old server said:\n%s\nwant term 1 and drained (one SIGTERM)", said)
	}
	term.send("\x03")
	term.expect(`PROMPT> `)
}

// TestMaskNpmStopSignalsServerOnce: `kill -TERM` of a `ward run --mask
// -- npm run dev` on a terminal: the server gets one SIGTERM, as without
// --mask (TestNpmStopSignalsServerOnce), and drains.
func TestMaskNpmStopSignalsServerOnce(t *testing.T) {
	w := newWardEnv(t)
	term, pid := maskedNpmDev(t, w, "node server.js")
	// Up node's parents (sh, npm, ward's session leader) to ward.
	ward, _ := strconv.Atoi(pid)
	for {
		var ok bool
		if ward, ok = signals.Parent(ward); !ok || ward <= 1 {
			t.Fatalf("no ward run above the server %s", pid)
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", ward))
		if argv := strings.Split(string(b), "\x00"); len(argv) > 1 && filepath.Base(argv[0]) == "ward" && argv[1] == "run" {
			break
		}
	}
	syscall.Kill(ward, syscall.SIGTERM)
	said := term.expect(`(?s)^(.*?)rc=(\d+)`)
	if !strings.Contains(said[1], "term 1 "+pid) || !strings.Contains(said[1], "drained "+pid) || strings.Contains(said[1], "term 2 "+pid) {
		t.Errorf("at the stop the server said:\n%s\nwant term 1 and drained (one SIGTERM)", said[1])
	}
	if said[2] != "143" {
		t.Errorf("the shell shows $?=%s, want npm's 143", said[2])
	}
}

// TestMaskLogLinesOnRawTerminal: under --mask on a terminal ward makes
// the terminal raw (every key goes to the child's pty), which leaves a
// line feed alone, without a return to the first column. ward's own
// lines written meanwhile (a rotation's restart) ended in "\n" alone,
// and each started where the last had ended, a staircase across the
// developer's screen; they end in "\r\n" now.
func TestMaskLogLinesOnRawTerminal(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/a", canary("raw1"))
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\nrotation:\n  debounce: 100ms\n  stop_timeout: 5s\n")
	term := newTerminal(t, w)
	term.send("WARD_LOG_FORMAT=text ward run --mask -m " + m + " -- sh -c 'echo child-up; exec sleep 60'\r")
	term.expect(`(?m)^child-up`)
	w.set("app/a", canary("raw2"))
	for _, msg := range []string{"restarting the child", "child restarted with the new secrets"} {
		if end := term.expect(msg + `[^\r\n]*(\r?)\n`)[1]; end != "\r" {
			t.Errorf("ward's line %q ends in a bare line feed on the raw terminal", msg)
		}
	}
	term.expect(`(?m)^child-up`)
	term.send("\x03")
	term.expect(`PROMPT> `)
}

// TestMakeParallelWardsCtrlC: `make -j2 api web` whose recipes are each a
// `ward run -- node server.js` (two dev servers of a project), Ctrl-C
// once. Without ward both servers get the SIGINT (make's whole group is
// the terminal's foreground). The first ward gave its child the
// terminal, taking it from make's group: Ctrl-C reached that server
// alone, which drained and exited 0, and the other ran on, make waiting
// for it. A ward that shares its process group with processes that are
// not its own nor its callers (another recipe) leaves the terminal to
// the group, as one command of a pipeline does. Under --mask each ward
// made the terminal raw and read it for its child's pty: the Ctrl-C
// byte went to whichever read it first.
//
// late: make starts the second recipe only once the first server is up
// (here web waits for a recipe, out of make's group, that waits for
// api's server; a busy machine does as much to a `make -j` whose
// recipes start together). The first ward, alone in make's group as its
// child started, still gave that child the terminal (one CI run in
// five, flags=""): a `make -j` says so in MAKEFLAGS, read now.
func TestMakeParallelWardsCtrlC(t *testing.T) {
	needProgram(t, "make", "make")
	needProgram(t, "node", "nodejs")
	needProgram(t, "setsid", "util-linux")
	for _, late := range []bool{false, true} {
		for _, flags := range []string{"", "--mask "} {
			t.Run(fmt.Sprintf("flags=%s/late=%v", strings.TrimSpace(flags), late), func(t *testing.T) {
				w := newWardEnv(t)
				m := w.manifest(emptyManifest)
				server := `process.on('SIGINT', () => { console.log('int ' + process.argv[2]); setTimeout(() => process.exit(0), 200); });
setInterval(() => {}, 1000);
require('fs').writeFileSync(process.argv[2] + '.ready', '');
console.log('ready ' + process.argv[2]);
`
				// Waits for a file, in a session of its own (the shell execs
				// setsid): make's group holds nothing but make and api's
				// ward while that starts its child. Not on the terminal:
				// node sets back, as it exits, the terminal modes it found
				// at its start, and would undo the raw mode of a ward.
				wait := `const deadline = Date.now() + 20000;
const t = setInterval(() => {
  if (require('fs').existsSync(process.argv[2])) { clearInterval(t); }
  else if (Date.now() > deadline) { console.log('no ' + process.argv[2]); process.exit(1); }
}, 10);
`
				makefile := "all: api web\napi web:\n\t@ward run " + flags + "-m " + m + " -- node server.js $@\n"
				if late {
					makefile += "web: wait-api\nwait-api:\n\t@exec setsid node wait.js api.ready </dev/null >/dev/null 2>&1\n"
				}
				for name, text := range map[string]string{"server.js": server, "wait.js": wait, "Makefile": makefile} {
					if err := os.WriteFile(filepath.Join(w.dir, name), []byte(text), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				term := newTerminal(t, w)
				term.send("make -j2\r")
				term.expectAll(`ready api`, `ready web`)
				term.send("\x03")
				term.expectAll(`int api`, `int web`)
				term.expect(`PROMPT> `)
			})
		}
	}
}

// TestManifestEditedDuringRun: a developer adds a variable to ward.yaml
// while `ward run -- npm run dev` runs in the terminal (saved by an
// editor, which renames a new file over the old). ward reads the
// manifest at the start only, and restarts use it too; it said nothing,
// and the developer waited for the variable. It warns once, naming the
// file.
func TestManifestEditedDuringRun(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/a", canary("edit1"))
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\n")
	term := newTerminal(t, w)
	term.send("WARD_LOG_FORMAT=text ward run -m " + m + " -- sh -c 'echo up; exec sleep 60'\r")
	term.expect(`(?m)^up`)
	edited := m + ".swp"
	if err := os.WriteFile(edited, []byte("version: 1\nenv:\n  A: local://app/a\n  PORT: {value: \"3001\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(edited, m); err != nil {
		t.Fatal(err)
	}
	term.expect(`the manifest changed[^\n]*` + regexp.QuoteMeta(m))
	term.send("\x03")
	term.expect(`PROMPT> `)
}
