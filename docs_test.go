package main

// The twentieth run's part on the README followed word by word: what a
// user copies from README.md (a command line, a recipe's file, a
// manifest) works as written, and what it promises (an exit code) is
// what ward does.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/wardsecrets/ward/launcher"
	"github.com/wardsecrets/ward/testdata/helper"
)

// readme returns README.md's text.
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fence is one fenced block of the README: its info string (sh, yaml,
// ini, dockerfile, or none), the line its text starts on, and the text.
type fence struct {
	info string
	line int
	text string
}

// fences returns the README's fenced blocks, and its prose with each
// block's lines blanked out (so that an inline span never runs from
// the prose into a block).
func fences(readme string) (blocks []fence, prose string) {
	var b strings.Builder
	var cur *fence
	var body []string
	for i, line := range strings.Split(readme, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			cur = &fence{info: strings.TrimPrefix(trimmed, "```"), line: i + 2}
			body = nil
			b.WriteString("\n")
		case cur != nil && trimmed == "```":
			cur.text = strings.Join(body, "\n")
			blocks = append(blocks, *cur)
			cur = nil
			b.WriteString("\n")
		case cur != nil:
			body = append(body, line)
			b.WriteString("\n")
		default:
			b.WriteString(line + "\n")
		}
	}
	return blocks, b.String()
}

// inlineSpans returns the README prose's `code` spans, each with the
// line it starts on and its line breaks made spaces: a run of backticks
// opens one, and the next run of as many closes it.
func inlineSpans(prose string) []fence {
	var spans []fence
	for i := 0; i < len(prose); {
		if prose[i] != '`' {
			i++
			continue
		}
		n := backticks(prose[i:])
		start := i + n
		end := -1
		for j := start; j < len(prose); {
			if prose[j] != '`' {
				j++
				continue
			}
			m := backticks(prose[j:])
			if m == n {
				end = j
				break
			}
			j += m
		}
		if end < 0 {
			i = start
			continue
		}
		spans = append(spans, fence{
			line: strings.Count(prose[:i], "\n") + 1,
			text: strings.Join(strings.Fields(prose[start:end]), " "),
		})
		i = end + n
	}
	return spans
}

// backticks is the length of the run of backticks s starts with.
func backticks(s string) int {
	return len(s) - len(strings.TrimLeft(s, "`"))
}

// wardCommandLine finds `ward COMMAND ...` in a line of code: ward at
// the start or after a shell's separator, an assignment or `exec`, then
// a word that is one of ward's commands or flags.
var wardCommandLine = regexp.MustCompile(`(?:^|[|;&(]\s*|\bexec\s+|\$\(|^\S+=\S*\s+|^[^ ]+: )ward( +(-|(run|check|scan|local|import|init|completion|version|help)\b).*)$`)

// commandWords returns the words of a ward command line up to where the
// shell would end it (a pipe, a redirection, a comment, a separator).
func commandWords(rest string) []string {
	var words []string
	inSubstitution := false
	for _, w := range strings.Fields(rest) {
		// <(op inject -i .env.tpl): one argument, a file's name.
		if inSubstitution || strings.HasPrefix(w, "<(") {
			if !inSubstitution {
				words = append(words, "<(...)")
			}
			inSubstitution = !strings.HasSuffix(w, ")")
			continue
		}
		if strings.HasPrefix(w, "#") || w == "|" || w == "||" || w == "&&" || w == ";" || w == "&" ||
			w == "<" || w == ">" || w == "2>&1" || strings.HasPrefix(w, ">") || strings.HasPrefix(w, "2>") {
			break
		}
		if w != "|" && strings.HasSuffix(w, ";") || strings.HasSuffix(w, ")") && !strings.Contains(w, "(") {
			words = append(words, strings.TrimRight(w, ";)"))
			break
		}
		words = append(words, w)
	}
	return words
}

// checkCommandLine returns what is wrong with the words after `ward`
// by the CLI's definitions: a command that does not exist, a flag its
// command does not have, a switch given a value as a word of its own.
// Words in capitals (NAME, FILE), `...` and ellipses are placeholders.
func checkCommandLine(words []string, commands []*cli.Command) []string {
	var problems []string
	cmds, subs, name := []*cli.Command(nil), commands, "ward"
	i := 0
	for ; i < len(words); i++ {
		var next []*cli.Command
		alts := strings.Split(words[i], "|")
		for _, alt := range alts {
			if c := findVisible(subs, alt); c != nil {
				next = append(next, c)
			}
		}
		if len(next) == 0 {
			break
		}
		if len(next) != len(alts) {
			problems = append(problems, name+": "+quote(words[i])+" names a command that does not exist")
		}
		cmds, name, subs = next, name+" "+words[i], next[0].Subcommands
	}
	if cmds == nil {
		if i < len(words) && strings.HasPrefix(words[i], "-") {
			// ward --version, ward --help: the app's own flags.
			if !slices.Contains([]string{"--version", "-v", "--help", "-h"}, words[i]) {
				problems = append(problems, "ward has no flag "+words[i])
			}
			return problems
		}
		if i < len(words) && !placeholder(words[i]) {
			problems = append(problems, quote(words[i])+" is not a command of ward's")
		}
		return problems
	}
	for ; i < len(words); i++ {
		w := words[i]
		if w == "--" {
			break // the program's own words
		}
		if !strings.HasPrefix(w, "-") || w == "-" || placeholder(w) {
			if slices.ContainsFunc(cmds, takesArgv) {
				break // the program: the words after it are its own
			}
			continue
		}
		flagName, value, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
		flagName = strings.TrimRight(flagName, ".,")
		for _, c := range cmds {
			f := flagOf(c, flagName)
			if f == nil {
				problems = append(problems, name+": "+quote(w)+" is no flag of ward "+c.Name)
				continue
			}
			takes := false
			if d, ok := f.(cli.DocGenerationFlag); ok {
				takes = d.TakesValue()
			}
			switch {
			case takes && !hasValue:
				i++ // its value
			case !takes && hasValue && value != "true" && value != "false":
				problems = append(problems, name+": "+quote(w)+": "+flagName+" is a switch")
			case !takes && !hasValue && i+1 < len(words) && (words[i+1] == "true" || words[i+1] == "false") && i+2 < len(words):
				problems = append(problems, name+": "+quote(w+" "+words[i+1])+": a switch takes its value after =")
			}
		}
	}
	return problems
}

// takesArgv reports whether c runs a program named by its arguments.
func takesArgv(c *cli.Command) bool { return c.Name == "run" }

// placeholder reports whether a word of a command line stands for what
// the reader fills in: NAME, FILE, PATHS..., ..., [-m FILE].
func placeholder(w string) bool {
	w = strings.Trim(w, "[].,")
	return w == "" || strings.Contains(w, "...") || strings.Contains(w, "…") ||
		regexp.MustCompile(`^-*[A-Z][A-Z_|,]*$`).MatchString(w)
}

func findVisible(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.Hidden {
			continue
		}
		if c.Name == name || slices.Contains(c.Aliases, name) {
			return c
		}
	}
	return nil
}

func flagOf(c *cli.Command, name string) cli.Flag {
	if name == "help" || name == "h" {
		return &cli.BoolFlag{Name: "help"}
	}
	for _, f := range c.Flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

// TestDocsCommandLines: every `ward ...` command line in README.md, in
// a fenced block or inline, names commands and flags ward has, spelt as
// ward spells them, and gives a switch its value after = only. A user
// copies these.
func TestDocsCommandLines(t *testing.T) {
	text := readme(t)
	// The Reliability section's rows quote, on purpose, what users
	// mistyped (ward run --maks) in the column of what went wrong.
	if before, rest, ok := strings.Cut(text, "\n## Reliability\n"); ok {
		if _, after, ok := strings.Cut(rest, "\n## Short-lived cloud credentials without restarts\n"); ok {
			text = before + strings.Repeat("\n", strings.Count(text[len(before):len(text)-len(after)], "\n")) + after
		}
	}
	blocks, prose := fences(text)
	app := launcher.NewApp(launcher.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	var code []fence
	for _, b := range blocks {
		for j, line := range strings.Split(b.text, "\n") {
			code = append(code, fence{line: b.line + j, text: strings.TrimSpace(line)})
		}
	}
	code = append(code, inlineSpans(prose)...)
	checked := 0
	for _, c := range code {
		m := wardCommandLine.FindStringSubmatch(c.text)
		if m == nil {
			continue
		}
		words := commandWords(m[1])
		if len(words) == 0 {
			continue
		}
		checked++
		for _, p := range checkCommandLine(words, app.Commands) {
			t.Errorf("README.md:%d: %s: %s", c.line, quote("ward "+strings.Join(words, " ")), p)
		}
	}
	// The README shows dozens: finding few means the search broke.
	if checked < 50 {
		t.Errorf("checked %d ward command lines in README.md, want at least 50", checked)
	}
	t.Logf("checked %d ward command lines", checked)
}

// TestCheckCommandLine: the check finds each kind of mistake, and
// takes placeholders and the program's own words as they are.
func TestCheckCommandLine(t *testing.T) {
	app := launcher.NewApp(launcher.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	tests := []struct {
		line string
		want int
	}{
		{"run --exec -p ci -- ./deploy.sh --mask", 0},
		{"run -m FILE --mask -- PROGRAM [ARGS...]", 0},
		{"run --ci-mask=false make -x", 0},
		{"local get|rm|history NAME", 0},
		{"import <(...) --force", 0},
		{"--version", 0},
		{"run --maks -- true", 1},
		{"run --mask=yes -- true", 1},
		{"run --ci-mask false -- make", 1},
		{"import -p dev", 1},
		{"local get|remove NAME", 1},
		{"chek", 1},
		{"-m ward.yaml run", 1},
	}
	for _, tt := range tests {
		if got := checkCommandLine(strings.Fields(tt.line), app.Commands); len(got) != tt.want {
			t.Errorf("ward %s: got %d problems %q, want %d", tt.line, len(got), got, tt.want)
		}
	}
}

// TestDocsRecipes: the recipes README.md shows as a recipe's files are
// those files, as their programs read them: a Dockerfile's or a unit's
// line is a line of the example's (a comment after an instruction is
// no comment to docker or systemd: `FROM ward AS ward  # ...` fails the
// build, `Type=notify  # ...` makes the unit Type=simple), and a
// manifest passes `ward check`.
func TestDocsRecipes(t *testing.T) {
	blocks, _ := fences(readme(t))
	exampleLines := func(paths ...string) map[string]bool {
		lines := map[string]bool{}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range strings.Split(string(b), "\n") {
				lines[strings.TrimSpace(l)] = true
			}
		}
		return lines
	}
	dockerfiles := exampleLines("examples/docker/Dockerfile", "examples/gcp-cloud-run/Dockerfile", "Dockerfile")
	units := exampleLines("examples/systemd/myapp.service")
	w := newWardEnv(t)
	counts := map[string]int{}
	for _, b := range blocks {
		switch b.info {
		case "dockerfile", "ini":
			known := dockerfiles
			if b.info == "ini" {
				known = units
			}
			counts[b.info]++
			for j, l := range strings.Split(b.text, "\n") {
				l = strings.TrimSpace(l)
				if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";") {
					continue
				}
				if !known[l] {
					t.Errorf("README.md:%d: %s line %q is no line of the example's (a comment after an instruction is part of it)", b.line+j, b.info, l)
				}
			}
		case "yaml":
			if !isManifest(b.text) {
				continue
			}
			counts["manifest"]++
			m := w.manifest(b.text)
			if code, stdout, stderr := w.run("check", "-m", m); code != 0 {
				t.Errorf("README.md:%d: ward check of the manifest shown there: exit code %d, want 0:\n%s%s", b.line, code, stdout, stderr)
			}
		}
	}
	// The Docker and systemd recipes, the annotated manifest, the AWS
	// identity's, the systemd and CI recipes' manifests.
	for kind, want := range map[string]int{"dockerfile": 1, "ini": 1, "manifest": 4} {
		if counts[kind] < want {
			t.Errorf("README.md shows %d %s blocks, want at least %d: the search broke", counts[kind], kind, want)
		}
	}
}

// isManifest reports whether a yaml block is a whole ward.yaml: its
// keys are a manifest's, and it says what the child gets (a fragment
// such as `identity: ...` alone is shown to be added to one).
func isManifest(text string) bool {
	var doc map[string]any
	if yaml.Unmarshal([]byte(text), &doc) != nil || doc == nil {
		return false
	}
	fields := []string{"version", "stores", "env", "files", "inherit", "deny", "mask", "rotation", "identity", "profiles"}
	for k := range doc {
		if !slices.Contains(fields, k) {
			return false
		}
	}
	_, env := doc["env"]
	_, profiles := doc["profiles"]
	_, version := doc["version"]
	return env || profiles || version
}

// TestDocsFileSecretNamedPipe: README says a file:// or creds:// secret
// that is anything but a regular file is refused. A named pipe was
// opened first, which waits for a writer: a start waited for good, with
// no word said, and a rotation that met one (a file replaced by a FIFO,
// by mistake or by a tool) never ended its refresh, so no later change
// reached the child. Now it is refused at once, as a directory is.
func TestDocsFileSecretNamedPipe(t *testing.T) {
	t.Run("at the start", func(t *testing.T) {
		w := newWardEnv(t)
		fifo := filepath.Join(w.dir, "token")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		m := w.manifest("version: 1\nenv:\n  TOKEN: file://" + fifo + "\n")
		cmd := w.command("run", "-m", m, "--", "helper", "touch", filepath.Join(w.dir, "started"))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if code := exitWithin(t, cmd, 10*time.Second); code != 125 {
			t.Errorf("got exit code %d, want 125", code)
		}
		if !strings.Contains(stderr.String(), "is a named pipe (FIFO), not a regular file") {
			t.Errorf("the error does not say the file is a named pipe:\n%s", stderr.String())
		}
		if _, err := os.Stat(filepath.Join(w.dir, "started")); err == nil {
			t.Error("the child started")
		}
	})
	t.Run("rotated into one", func(t *testing.T) {
		w := newWardEnv(t)
		v1, v2 := canary("fifo1"), canary("fifo2")
		src := w.mounted(v1)
		m := w.manifest("version: 1\nenv:\n  A: file://" + src + "\nrotation:\n  debounce: 100ms\n")
		cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "helper", "env", "wait")
		rotatesOnce(t, cmd, "watching secret files for changes", v1, v2, func(stderr *lines) {
			if err := syscall.Mkfifo(src+".fifo", 0o600); err != nil {
				t.Fatal(err)
			}
			os.Rename(src+".fifo", src)
			stderr.waitForContaining("is a named pipe (FIFO), not a regular file")
			os.WriteFile(src+".new", []byte(v2), 0o600)
			os.Rename(src+".new", src)
		})
	})
}

// TestDocsExitCodes: each row of README's exit-code table is produced
// the way the row says, and each way tried here has its row: a row added
// or a code changed without the other fails.
func TestDocsExitCodes(t *testing.T) {
	text := readme(t)
	_, table, ok := strings.Cut(text, "\n| exit code | meaning |\n| --- | --- |\n")
	if !ok {
		t.Fatal("README.md has no exit-code table")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	var rows []string
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			t.Fatalf("README.md's exit-code table has a line that is no row: %q", line)
		}
		rows = append(rows, strings.TrimSpace(cells[1]))
	}

	w := newWardEnv(t)
	plain := w.manifest("version: 1\nenv:\n  A: {value: a}\n")
	runWant := func(t *testing.T, want int, args ...string) {
		t.Helper()
		if code, stdout, stderr := w.run(args...); code != want {
			t.Errorf("ward %s: got exit code %d, want %d\n%s%s", strings.Join(args, " "), code, want, stdout, stderr)
		}
	}
	cases := map[string]func(t *testing.T){
		"the child's code": func(t *testing.T) {
			runWant(t, 7, "run", "-m", plain, "--", "helper", "exit", "7")
		},
		"128+N": func(t *testing.T) {
			runWant(t, 143, "run", "-m", plain, "--", "helper", "kill", "TERM")
			runWant(t, 137, "run", "-m", plain, "--", "helper", "kill", "KILL")
			// A child killed by the SIGINT ward forwarded: ward dies of
			// the signal itself, which a shell shows as 130.
			cmd := w.command("run", "-m", plain, "--", "helper", "sleep")
			ready, _ := started(t, cmd)
			ready.waitFor("ready")
			cmd.Process.Signal(syscall.SIGINT)
			cmd.Wait()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
				t.Errorf("a child killed by the SIGINT ward forwarded: ward ended with %v, want a death by SIGINT", cmd.ProcessState)
			}
			// ward stopped by SIGTERM before the child started.
			addr, accepted, _ := silentVault(t)
			m := w.manifest("version: 1\nenv:\n  S: vault://secret/app#x\nrotation:\n  stop_timeout: 2s\n")
			cmd = w.command("run", "-m", m, "--", "helper", "touch", filepath.Join(w.dir, "started"))
			cmd.Env = append(cmd.Env, "VAULT_ADDR="+addr, "VAULT_TOKEN=t")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-accepted:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				t.Fatal("ward's Vault helper never connected")
			}
			cmd.Process.Signal(syscall.SIGTERM)
			if code := exitWithin(t, cmd, 15*time.Second); code != 143 {
				t.Errorf("ward stopped while resolving: got exit code %d, want 143", code)
			}
		},
		"1": func(t *testing.T) {
			value := canary("exitcode")
			w.set("app/token", value)
			m := w.manifest("version: 1\nenv:\n  TOKEN: local://app/token\n")
			leak := filepath.Join(t.TempDir(), "leak.txt")
			os.WriteFile(leak, []byte("token="+value+"\n"), 0o600)
			runWant(t, 1, "scan", "-m", m, leak)
			runWant(t, 0, "scan", "-m", m, plain)
		},
		"125": func(t *testing.T) {
			runWant(t, 125, "run", "-m", w.manifest("version: 1\nenv:\n  A: not-a-reference\n"), "--", "helper", "exit", "0")
			runWant(t, 125, "run", "-m", plain, "--no-such-flag", "--", "helper", "exit", "0")
			runWant(t, 125, "run", "-m", w.manifest("version: 1\nenv:\n  A: local://app/never-set\n"), "--", "helper", "exit", "0")
		},
		"126": func(t *testing.T) {
			notExec := filepath.Join(w.dir, "not-executable")
			os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
			runWant(t, 126, "run", "-m", plain, "--", notExec)
		},
		"127": func(t *testing.T) {
			runWant(t, 127, "run", "-m", plain, "--", "ward-no-such-program")
		},
	}
	for _, row := range rows {
		if _, ok := cases[row]; !ok {
			t.Errorf("README.md's exit-code table has a row %q that no case here produces", row)
		}
	}
	for name, tc := range cases {
		if !slices.Contains(rows, name) {
			t.Errorf("README.md's exit-code table has no row %q", name)
			continue
		}
		t.Run(name, tc)
	}
}

// TestDocsOutageWarnedOncePerStep: README's Outages say a refresh that
// fails is logged once per step of its backoff. A file:// secret
// removed while the child runs fails both its file's trigger and the
// poll's look at the watched files (here every second), and each retry
// read it for both: two warnings a step, the same error under two
// reasons.
func TestDocsOutageWarnedOncePerStep(t *testing.T) {
	w := newWardEnv(t)
	v1 := canary("outage")
	src := w.mounted(v1)
	m := w.manifest("version: 1\nenv:\n  A: file://" + src + "\nrotation:\n  debounce: 100ms\n  poll: 1s\n")
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "helper", "env", "wait")
	stdout, stderr := startedLines(t, cmd)
	if got := envHash(stdout, "A"); got != helper.Hash(v1) {
		t.Fatalf("the child does not have the value")
	}
	stderr.waitForContaining("watching secret files for changes")
	os.Rename(src, src+".away")
	type warning struct {
		Time    time.Time `json:"time"`
		Level   string    `json:"level"`
		Msg     string    `json:"msg"`
		Reason  string    `json:"reason"`
		RetryIn string    `json:"retry_in"`
		Error   string    `json:"error"`
	}
	var warnings []warning
	for len(warnings) < 4 {
		line := stderr.waitForContaining("cannot refresh secrets")
		var rec warning
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a log line that is no JSON record: %v", err)
		}
		if rec.Level == "WARN" {
			warnings = append(warnings, rec)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
	// Two warnings of one step: the same error and retry time, at once.
	for i := 1; i < len(warnings); i++ {
		a, b := warnings[i-1], warnings[i]
		if a.Error == b.Error && a.RetryIn == b.RetryIn && b.Time.Sub(a.Time) < 100*time.Millisecond {
			t.Errorf("the same failure warned of twice in one step of the backoff: reasons %q and %q, both retry_in=%s", a.Reason, b.Reason, a.RetryIn)
		}
	}
}

// TestDocsNextSteps: the next steps `ward init` and `ward import` print
// work as printed. After `ward import --profile dev` they said `ward
// run -- YOUR_PROGRAM`, which gives the program none of the profile's
// variables; after `ward init -m conf/ward.yaml`, `ward import .env`,
// which wrote a second manifest, ./ward.yaml, beside the starter.
func TestDocsNextSteps(t *testing.T) {
	// nextCommands returns the ward command lines a report's "next:"
	// names, each as its words, with YOUR_PROGRAM as helper env.
	nextCommands := func(t *testing.T, stdout string) [][]string {
		t.Helper()
		_, next, ok := strings.Cut(stdout, "next: ")
		if !ok {
			t.Fatalf("no next steps in %q", stdout)
		}
		next, _, _ = strings.Cut(next, "\n")
		var cmds [][]string
		for _, m := range regexp.MustCompile("ward (run|check|import|local)[^,`(]*").FindAllString(next, -1) {
			words := strings.Fields(m)
			if i := slices.Index(words, "YOUR_PROGRAM"); i >= 0 {
				words = append(words[:i], "helper", "env")
			}
			if words[1] != "local" {
				cmds = append(cmds, words[1:])
			}
		}
		return cmds
	}
	t.Run("import --profile", func(t *testing.T) {
		w := newWardEnv(t)
		v := canary("next-profile")
		os.WriteFile(filepath.Join(w.dir, ".env.dev"), []byte("API_KEY="+v+"\n"), 0o600)
		code, stdout, stderr := w.run("import", "--profile", "dev", ".env.dev")
		if code != 0 {
			t.Fatalf("ward import: exit code %d\n%s", code, stderr)
		}
		cmds := nextCommands(t, stdout)
		if len(cmds) != 1 || cmds[0][0] != "run" {
			t.Fatalf("the next steps name %q, want one ward run", cmds)
		}
		code, stdout, stderr = w.run(cmds[0]...)
		if code != 0 {
			t.Fatalf("ward %s: exit code %d\n%s", strings.Join(cmds[0], " "), code, stderr)
		}
		if !strings.Contains(stdout, "API_KEY "+helper.Hash(v)) {
			t.Errorf("ward %s, as the next steps say: the program did not get API_KEY", strings.Join(cmds[0], " "))
		}
	})
	t.Run("init -m", func(t *testing.T) {
		w := newWardEnv(t)
		v := canary("next-init")
		os.WriteFile(filepath.Join(w.dir, ".env"), []byte("API_KEY="+v+"\n"), 0o600)
		code, stdout, stderr := w.run("init", "-m", "conf/ward.yaml")
		if code != 0 {
			t.Fatalf("ward init: exit code %d\n%s", code, stderr)
		}
		cmds := nextCommands(t, stdout)
		if len(cmds) != 3 {
			t.Fatalf("the next steps name %q, want import, check and run", cmds)
		}
		for _, cmd := range cmds {
			if code, _, stderr := w.run(cmd...); code != 0 {
				t.Fatalf("ward %s: exit code %d\n%s", strings.Join(cmd, " "), code, stderr)
			}
		}
		if _, err := os.Stat(filepath.Join(w.dir, "ward.yaml")); err == nil {
			t.Errorf("following the next steps of ward init -m conf/ward.yaml made a second manifest, ./ward.yaml")
		}
		if b, _ := os.ReadFile(filepath.Join(w.dir, "conf", "ward.yaml")); !strings.Contains(string(b), "API_KEY: local://") {
			t.Errorf("following the next steps of ward init -m conf/ward.yaml left conf/ward.yaml without the imported variable")
		}
	})
}

// TestDocsPaths: every file or directory of the repository README.md
// names in code (`examples/ci/github-actions.yml`, `scripts/image.sh`)
// is there, at the top or, for a package's own (`testdata/fuzz/`),
// in a package. A placeholder segment (`resolve/STORE`) stands for any.
func TestDocsPaths(t *testing.T) {
	_, prose := fences(readme(t))
	top := regexp.MustCompile(`^(\.ci|examples|scripts|launcher|resolve|schema|testdata|signals|internal)/`)
	checked := 0
	for _, span := range inlineSpans(prose) {
		p := span.text
		if !top.MatchString(p) || strings.ContainsAny(p, " ") {
			continue
		}
		// A package pattern (launcher/...) names its directory.
		pattern := strings.TrimSuffix(strings.TrimSuffix(p, "/..."), "/")
		pattern = regexp.MustCompile(`(^|/)[A-Z][A-Z_]*(/|$)`).ReplaceAllString(pattern, "$1*$2")
		checked++
		found := false
		for _, prefix := range []string{"", "*/", "*/*/"} {
			if m, _ := filepath.Glob(prefix + pattern); len(m) > 0 {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("README.md:%d: %s is not in the repository", span.line, quote(p))
		}
	}
	if checked < 20 {
		t.Errorf("checked %d paths in README.md, want at least 20: the search broke", checked)
	}
}

// TestDocsVaultAuthSettingRefusedOnce: README says every manifest error
// names the field and carries a hint. A Vault login setting written but
// refused (a creds:// name systemd would not take, a list for a role)
// was reported twice: its own error, and "required for method ..." for
// the same field, which said it was not there at all.
func TestDocsVaultAuthSettingRefusedOnce(t *testing.T) {
	w := newWardEnv(t)
	tests := []struct{ auth, want string }{
		{"{method: approle, role_id_file: creds://../x, secret_id_file: /y}", `stores.vault.auth.role_id_file: invalid credential name`},
		{"{method: token_file, token_file: creds://a/b}", `stores.vault.auth.token_file: invalid credential name`},
		{"{method: kubernetes, role: [a]}", `stores.vault.auth.role: want a string, got a list`},
	}
	for _, tt := range tests {
		m := w.manifest("version: 1\nstores:\n  vault:\n    auth: " + tt.auth + "\nenv:\n  A: {value: x}\n")
		code, _, stderr := w.run("check", "--log-format", "text", "-m", m)
		if code != 125 || !strings.Contains(stderr, tt.want) {
			t.Errorf("auth %s: got exit code %d and %q, want 125 and %q", tt.auth, code, stderr, tt.want)
		}
		if strings.Contains(stderr, "required for method") {
			t.Errorf("auth %s: the setting written is also reported missing:\n%s", tt.auth, stderr)
		}
	}
	// Not written at all, or written empty: still required.
	for _, auth := range []string{"{method: approle, secret_id_file: /y}", `{method: kubernetes, role: ""}`} {
		m := w.manifest("version: 1\nstores:\n  vault:\n    auth: " + auth + "\nenv:\n  A: {value: x}\n")
		if code, _, stderr := w.run("check", "--log-format", "text", "-m", m); code != 125 || !strings.Contains(stderr, "required for method") {
			t.Errorf("auth %s: got exit code %d and %q, want 125 and required", auth, code, stderr)
		}
	}
}
