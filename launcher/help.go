package launcher

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/wardsecrets/ward/launcher/failure"
)

// helpCommand is `ward help [COMMAND [SUBCOMMAND]]`: the same page as
// `ward COMMAND --help`, after checking that the command exists.
func helpCommand() *cli.Command {
	return &cli.Command{
		Name:      "help",
		Aliases:   []string{"h"},
		Usage:     "show the commands, or one command's help",
		ArgsUsage: "[COMMAND [SUBCOMMAND]]",
		Description: `Example:
   ward help run
   ward help local set`,
		Action: func(c *cli.Context) error { return showHelp(c, c.Args().Slice()) },
	}
}

// groupHelpCommand is `ward GROUP help [COMMAND]` (ward local help set):
// ward help GROUP [COMMAND], in place of urfave/cli's own, which said
// "No help topic for 'x'" for a word that names no command, with no
// hint, and was listed among the group's commands in other words than
// ward help's ("Shows a list of commands or help for one command"). It
// is hidden, as ward help is the one the pages and the README show.
func groupHelpCommand(group string) *cli.Command {
	return &cli.Command{
		Name:      "help",
		Hidden:    true,
		Aliases:   []string{"h"},
		Usage:     "show the commands, or one command's help",
		ArgsUsage: "[COMMAND]",
		Action:    func(c *cli.Context) error { return showHelp(c, append([]string{group}, c.Args().Slice()...)) },
	}
}

// showHelp shows the page of the command path names (ward's own when it
// is empty), after checking that the command exists.
func showHelp(c *cli.Context, path []string) error {
	if len(path) == 0 {
		return cli.ShowAppHelp(c)
	}
	cmds := c.App.Commands
	for i, name := range path {
		if i > 0 && len(cmds) == 0 {
			group := strings.Join(path[:i], " ")
			return failure.New(fmt.Errorf("ward %s has no subcommands: %q", group, name), "see: ward help "+group)
		}
		cmd := findCommand(cmds, name)
		if cmd == nil {
			return unknownCommandError(strings.Join(path[:i], " "), name, cmds)
		}
		cmds = cmd.Subcommands
	}
	// The command's own --help, so both read the same.
	return c.App.RunContext(c.Context, append(append([]string{c.App.Name}, path...), "--help"))
}

// unknownCommand is the action of ward and of each command group: with
// no word it shows their help; a word that names no command is an error.
func unknownCommand(c *cli.Context) error {
	if !c.Args().Present() {
		if c.Command == nil || c.Command.Name == c.App.Name {
			return cli.ShowAppHelp(c)
		}
		return cli.ShowSubcommandHelp(c)
	}
	cmds, group := c.App.Commands, ""
	if c.Command != nil && len(c.Command.Subcommands) > 0 && c.Command.Name != c.App.Name {
		cmds, group = c.Command.Subcommands, c.Command.FullName()
	}
	return unknownCommandError(group, c.Args().First(), cmds)
}

// unknownCommandError names the word and lists the commands there are.
func unknownCommandError(group, name string, cmds []*cli.Command) error {
	var names []string
	for _, c := range cmds {
		if !c.Hidden && c.Name != "help" {
			names = append(names, c.Name)
		}
	}
	what, see := "the commands are", "ward help"
	if group != "" {
		what, see = "the commands of ward "+group+" are", "ward help "+group
	}
	hint := fmt.Sprintf("%s %s (see: %s)", what, strings.Join(names, ", "), see)
	if near := nearest(name, names); near != "" {
		hint = fmt.Sprintf("did you mean %s? %s", strings.Join(slices.DeleteFunc([]string{"ward", group, near}, func(s string) bool { return s == "" }), " "), hint)
	}
	return failure.New(fmt.Errorf("unknown command %q", name), hint)
}

// nearest is the one of names that word is a typo of (a letter left out,
// added, changed, or two swapped: one such edit for a word of up to four
// letters, two for a longer one), or "" when none is, or several are.
func nearest(word string, names []string) string {
	most := 1
	if len(word) > 4 {
		most = 2
	}
	if len(word) < 2 {
		return ""
	}
	best, bestD, ties := "", most+1, 0
	for _, n := range names {
		d := editDistance(word, n)
		switch {
		case d < bestD:
			best, bestD, ties = n, d, 0
		case d == bestD && n != best:
			ties++
		}
	}
	if bestD > most || ties > 0 {
		return ""
	}
	return best
}

// editDistance is the number of letters inserted, deleted, changed or
// swapped with the next that turn a into b (optimal string alignment).
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// findCommand returns the visible command called name (or one of its
// aliases), or nil.
func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if !c.Hidden && c.HasName(name) {
			return c
		}
	}
	return nil
}
