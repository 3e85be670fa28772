package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/wardsecrets/ward/launcher"
)

// TestReadmeSynopsis checks the README's command synopsis (the first
// ``` block under "## Commands") against the CLI's own definitions: every
// command and flag a line shows exists, and every visible command and
// flag is shown.
func TestReadmeSynopsis(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	block, err := synopsisBlock(string(b))
	if err != nil {
		t.Fatal(err)
	}
	app := launcher.NewApp(launcher.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	for _, problem := range checkSynopsis(block, app.Commands) {
		t.Error(problem)
	}
}

// synopsisBlock returns the lines of the first fenced block after the
// "## Commands" heading.
func synopsisBlock(readme string) ([]string, error) {
	_, rest, ok := strings.Cut(readme, "\n## Commands\n")
	if !ok {
		return nil, errors.New(`README.md has no "## Commands" section`)
	}
	if next := strings.Index(rest, "\n## "); next >= 0 {
		rest = rest[:next]
	}
	_, rest, ok = strings.Cut(rest, "```\n")
	if !ok {
		return nil, errors.New("README.md's \"## Commands\" has no ``` block")
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		return nil, errors.New(`README.md's "## Commands" block is not closed`)
	}
	return strings.Split(strings.TrimRight(block, "\n"), "\n"), nil
}

// synopsisFlag is a flag as a synopsis shows it: -m, --profile, [--ci-mask=false].
var synopsisFlag = regexp.MustCompile(`^\[?(--?[a-z][a-z-]*)`)

// checkSynopsis returns what is wrong with the synopsis lines: each reads
// `ward COMMAND [SUBCOMMAND|SUBCOMMAND...] [FLAGS and ARGUMENTS]`.
func checkSynopsis(lines []string, commands []*cli.Command) []string {
	var problems []string
	shown := map[*cli.Command][]string{} // the flags shown for each command
	for _, line := range lines {
		words := strings.Fields(line)
		if len(words) < 2 || words[0] != "ward" {
			problems = append(problems, "synopsis line "+quote(line)+" does not read `ward COMMAND ...`")
			continue
		}
		// The command, then subcommands (a|b|c) while the words name some.
		cmds, subs, name := []*cli.Command(nil), commands, "ward"
		i := 1
		for ; i < len(words); i++ {
			var next []*cli.Command
			for _, alt := range strings.Split(words[i], "|") {
				if c := visibleCommand(subs, alt); c != nil {
					next = append(next, c)
				}
			}
			if len(next) == 0 {
				break
			}
			if len(next) != len(strings.Split(words[i], "|")) {
				problems = append(problems, name+": "+quote(words[i])+" names a command that does not exist")
			}
			cmds, name, subs = next, name+" "+words[i], next[0].Subcommands
		}
		if cmds == nil {
			problems = append(problems, "synopsis line "+quote(line)+": "+quote(words[1])+" is not a command")
			continue
		}
		for _, w := range words[i:] {
			if w == "--" {
				break // the program's arguments
			}
			m := synopsisFlag.FindStringSubmatch(w)
			if m == nil {
				continue
			}
			flag := strings.TrimLeft(m[1], "-")
			for _, c := range cmds {
				if !slices.ContainsFunc(c.Flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), flag) }) {
					problems = append(problems, name+": the synopsis shows "+m[1]+", which ward "+c.Name+" does not have")
				}
				shown[c] = append(shown[c], flag)
			}
		}
		for _, c := range cmds {
			if _, ok := shown[c]; !ok {
				shown[c] = nil
			}
		}
	}
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden {
				continue
			}
			if len(c.Subcommands) > 0 {
				walk(prefix+c.Name+" ", c.Subcommands)
				continue
			}
			flags, ok := shown[c]
			if !ok {
				problems = append(problems, "the synopsis has no line for ward "+prefix+c.Name)
				continue
			}
			for _, f := range c.Flags {
				if v, ok := f.(cli.VisibleFlag); (ok && !v.IsVisible()) || slices.Contains(f.Names(), "help") {
					continue
				}
				if !slices.ContainsFunc(f.Names(), func(n string) bool { return slices.Contains(flags, n) }) {
					problems = append(problems, "the synopsis of ward "+prefix+c.Name+" does not show --"+f.Names()[0])
				}
			}
		}
	}
	walk("", commands)
	return problems
}

func visibleCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if !c.Hidden && c.Name == name {
			return c
		}
	}
	return nil
}

func quote(s string) string { return "`" + s + "`" }

// TestCheckSynopsis: the check finds each kind of mismatch.
func TestCheckSynopsis(t *testing.T) {
	commands := []*cli.Command{
		{Name: "run", Flags: []cli.Flag{
			&cli.StringFlag{Name: "manifest", Aliases: []string{"m"}},
			&cli.BoolFlag{Name: "exec"},
			&cli.BoolFlag{Name: "secret", Hidden: true},
		}},
		{Name: "local", Subcommands: []*cli.Command{
			{Name: "set", Flags: []cli.Flag{&cli.BoolFlag{Name: "allow-empty"}}},
			{Name: "get"},
		}},
		{Name: "__complete", Hidden: true},
	}
	tests := []struct {
		name  string
		lines string
		want  []string
	}{
		{"all there", "ward run [-m FILE] [--exec] -- PROGRAM [-x]\nward local set [--allow-empty] NAME\nward local get NAME", nil},
		{"alternatives", "ward run [--manifest=F] [--exec]\nward local set|get [--allow-empty] NAME", []string{"ward local set|get: the synopsis shows --allow-empty, which ward get does not have"}},
		{"a flag missing", "ward run [-m FILE]\nward local set [--allow-empty] NAME\nward local get NAME", []string{"the synopsis of ward run does not show --exec"}},
		{"a flag that does not exist", "ward run [-m FILE] [--exec] [--nope]\nward local set [--allow-empty] NAME\nward local get NAME", []string{"ward run: the synopsis shows --nope, which ward run does not have"}},
		{"a command missing", "ward run [-m FILE] [--exec]\nward local set [--allow-empty] NAME", []string{"the synopsis has no line for ward local get"}},
		{"a command that does not exist", "ward run [-m FILE] [--exec]\nward local set|got [--allow-empty] NAME\nward local get NAME\nward bogus", []string{"ward local: `set|got` names a command that does not exist", "synopsis line `ward bogus`: `bogus` is not a command"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkSynopsis(strings.Split(tt.lines, "\n"), commands)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestQuickstartTwiceWithALargeStore: README's first command, run twice
// over a local store whose listing is larger than a pipe holds, stores
// the demo secrets once. The script's `ward local list | cut | grep -q`
// under pipefail read the list cut short by grep's early exit as "not
// there", and stored new versions at every run.
func TestQuickstartTwiceWithALargeStore(t *testing.T) {
	w := newWardEnv(t)
	var env strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&env, "API_TOKEN_%04d=tok-%04d-0123456789abcdef\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(w.dir, ".env"), []byte(env.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := w.run("import", "--name-prefix", "zz/", ".env"); code != 0 {
		t.Fatalf("ward import: exit %d\n%s", code, stderr)
	}
	// Listed after demo/, the names fill the pipe behind grep's match.
	list := w.command("local", "list")
	if out, err := list.Output(); err != nil || len(out) < 64<<10 {
		t.Fatalf("the store's listing is %d bytes (%v), want more than a pipe holds", len(out), err)
	}
	quickstart := func() string {
		t.Helper()
		cmd := exec.Command("./scripts/quickstart.sh")
		cmd.Env = w.env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("scripts/quickstart.sh: %v\n%s", err, out)
		}
		return string(out)
	}
	if first := quickstart(); strings.Count(first, "stored a random demo/") != 2 || !strings.Contains(first, "the child got API_TOKEN") {
		t.Errorf("the first run did not store the two demo secrets and run the child:\n%s", first)
	}
	if second := quickstart(); strings.Contains(second, "stored a random") {
		t.Errorf("the second run stored a demo secret again:\n%s", second)
	}
	out, err := w.command("local", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[0], "demo/") && f[1] != "v1" {
			t.Errorf("%s is at %s after two runs, want v1", f[0], f[1])
		}
	}
}

// TestQuickstartOnAFreshMachine: the quickstart on a machine without a
// local store makes one and runs the child, and does not first say that
// the store does not exist yet, which its listing of the names said.
func TestQuickstartOnAFreshMachine(t *testing.T) {
	w := newWardEnv(t)
	cmd := exec.Command("./scripts/quickstart.sh")
	cmd.Env = w.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/quickstart.sh: %v\n%s", err, out)
	}
	if strings.Count(string(out), "stored a random demo/") != 2 || !strings.Contains(string(out), "the child got API_TOKEN") {
		t.Errorf("the quickstart did not store the two demo secrets and run the child:\n%s", out)
	}
	if strings.Contains(string(out), "does not exist") {
		t.Errorf("the quickstart said the store it was about to make does not exist:\n%s", out)
	}
}
