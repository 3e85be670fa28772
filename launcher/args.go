package launcher

import (
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

// withFlagsFirst returns args (ward's argv) with each command's flags
// moved before its positional arguments, so that `ward import .env
// --force` reads as `ward import --force .env`: urfave/cli, like Go's flag
// package, stops at the first positional argument. ward run is left as it
// is (after its first positional argument, everything is the child's), as
// are the hidden commands that parse their own arguments.
func withFlagsFirst(app *cli.App, args []string) []string {
	cmds := app.Commands
	for i := 1; i < len(args); i++ {
		if strings.HasPrefix(args[i], "-") {
			// ward's own flags (--help, --version) take no value.
			continue
		}
		cmd := findCommand(cmds, args[i])
		switch {
		case cmd == nil, takesArgv(cmd), cmd.SkipFlagParsing:
			return args
		case len(cmd.Subcommands) > 0:
			cmds = cmd.Subcommands
			continue
		}
		out := append([]string{}, args[:i+1]...)
		return append(out, flagsFirst(args[i+1:], cmd.Flags)...)
	}
	return args
}

// takesArgv reports whether the command's positional arguments are a
// program's argv, whose flags are the program's: ward run.
func takesArgv(cmd *cli.Command) bool { return cmd.Name == "run" }

// flagsFirst moves the flags in args, and the values of those that take
// one, before the positional arguments, keeping the order within each.
// flags says which names take a value; an unknown flag is moved alone (the
// parser then reports it). A "--" and what follows it stay last, after
// the positional arguments, with the "--" kept so that they are never
// read as flags.
func flagsFirst(args []string, flags []cli.Flag) []string {
	var opts, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			if len(positional) == 0 {
				return append(opts, args[i:]...)
			}
			return append(append(append(opts, "--"), positional...), args[i+1:]...)
		case len(a) > 1 && a[0] == '-': // "-" alone (stdin) is positional
			opts = append(opts, a)
			if takesValue(flags, a) && i+1 < len(args) {
				i++
				opts = append(opts, args[i])
			}
		default:
			positional = append(positional, a)
		}
	}
	return append(opts, positional...)
}

// takesValue reports whether the flag arg (-x, --name, never --name=v)
// is one of flags that takes a value in the next argument.
func takesValue(flags []cli.Flag, arg string) bool {
	name := strings.TrimLeft(arg, "-")
	if strings.Contains(name, "=") {
		return false
	}
	f := lookupFlag(flags, name)
	if f == nil {
		return false
	}
	v, ok := f.(cli.DocGenerationFlag)
	return ok && v.TakesValue()
}

// lookupFlag returns the flag called name (without dashes), or nil.
func lookupFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// helpFirst returns args unchanged unless ward's part of them asks for
// help. Then it returns the command path and --help alone, so that the
// page is that command's whatever other words came with the flag:
// urfave/cli reads the first of them as a help topic, so `ward scan
// --help DIR` failed with "No help topic" and `ward run --help -- check`
// showed check's page. A word that names no command is returned in place
// of --help, so that it gets the same error as without the flag. ward's
// part ends at "--" and, for ward run, at the program: `ward run prog
// --help` is prog's help flag.
func helpFirst(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	path := args[:1:1]
	cmds, flags := app.Commands, app.Flags
	var cmd *cli.Command
	help := false
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			i = len(args)
		case isHelpFlag(a):
			help = true
		case len(a) > 1 && a[0] == '-':
			if takesValue(flags, a) {
				i++
			}
		case cmd != nil && len(cmd.Subcommands) == 0:
			// A positional argument of the command.
			if takesArgv(cmd) {
				i = len(args)
			}
		default:
			next := findCommand(cmds, a)
			if next == nil {
				if help {
					return append(path, a)
				}
				return args
			}
			if next.SkipFlagParsing {
				return args
			}
			cmd, cmds, flags = next, next.Subcommands, next.Flags
			path = append(path, a)
		}
	}
	if !help {
		return args
	}
	return append(path, "--help")
}

// isHelpFlag reports whether arg is -h or --help, true.
func isHelpFlag(arg string) bool {
	if !strings.HasPrefix(arg, "-") {
		return false
	}
	name, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-"), "=")
	if name != "help" && name != "h" {
		return false
	}
	if !hasValue {
		return true
	}
	b, err := strconv.ParseBool(value)
	return err == nil && b
}
