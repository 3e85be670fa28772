package launcher

import (
	"fmt"
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
		Action: func(c *cli.Context) error {
			path := c.Args().Slice()
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
		},
	}
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
	return failure.New(fmt.Errorf("unknown command %q", name), fmt.Sprintf("%s %s (see: %s)", what, strings.Join(names, ", "), see))
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
