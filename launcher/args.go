package launcher

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/wardsecrets/ward/launcher/failure"
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

// ownArgs is ward's reading of its argv, before urfave/cli's: the
// command path, and the words after it that are ward's own.
type ownArgs struct {
	path []string // ward and the command's names: ward local set
	// words are the flags (with their values) and positional arguments
	// after the path, up to "--" and, for ward run, up to the program:
	// `ward run prog -p x` is prog's -p.
	words []string
	// unknown is the first word that names no command, if any (the walk
	// stops there).
	unknown string
	// own is false for the hidden commands that parse their own arguments.
	own bool
}

func readOwnArgs(app *cli.App, args []string) ownArgs {
	a := ownArgs{path: args[:1:1], own: true}
	cmds, flags := app.Commands, app.Flags
	var cmd *cli.Command
	for i := 1; i < len(args); i++ {
		w := args[i]
		switch {
		case w == "--":
			return a
		case len(w) > 1 && w[0] == '-':
			a.words = append(a.words, w)
			if takesValue(flags, w) && i+1 < len(args) {
				i++
				a.words = append(a.words, args[i])
			}
		case cmd != nil && len(cmd.Subcommands) == 0:
			if takesArgv(cmd) {
				return a
			}
			a.words = append(a.words, w)
		default:
			next := findCommand(cmds, w)
			if next == nil {
				a.unknown = w
				return a
			}
			if next.SkipFlagParsing {
				a.own = false
				return a
			}
			cmd, cmds, flags = next, next.Subcommands, next.Flags
			a.path = append(a.path, w)
		}
	}
	return a
}

// flagWithoutValue is the error for a flag of ward's that takes a value
// but is the last word, or is followed by another flag of the command,
// or by "--": the parser would take that word for the value. `ward import -m "$M"
// --force` with M unset wrote a manifest named --force and did not
// force, and `ward run -p -- prog` looked for a profile named "--". A
// value that starts with a dash can still be given after =.
func flagWithoutValue(app *cli.App, args []string) error {
	cmds, flags := app.Commands, app.Flags
	var cmd *cli.Command
	path := []string{"ward"}
	for i := 1; i < len(args); i++ {
		w := args[i]
		switch {
		case w == "--":
			return nil
		case len(w) > 1 && w[0] == '-':
			if i+1 == len(args) {
				// Last, without its value: withFlagsFirst would give it
				// the argument before it (ward import config/dev.env
				// --name-prefix imported .env, prefixed config/dev.env).
				if takesValue(flags, w) {
					return failure.New(fmt.Errorf("%s has no value", w), fmt.Sprintf("write: %s %s %s", strings.Join(path, " "), w, placeholder(lookupFlag(flags, strings.TrimLeft(w, "-")))))
				}
				continue
			}
			if !takesValue(flags, w) {
				if err := switchWithValue(flags, cmd, w, args[i+1], len(args)-i-2); err != nil {
					return err
				}
				continue
			}
			i++
			v := args[i]
			name, _, _, isFlag := flagParts(v)
			if v != "--" && !(isFlag && len(v) > 1 && (lookupFlag(flags, name) != nil || isHelpFlag(v))) {
				continue
			}
			hint := fmt.Sprintf("write: %s %s %s %s", strings.Join(path, " "), w, placeholder(lookupFlag(flags, strings.TrimLeft(w, "-"))), v)
			if v != "--" {
				hint += fmt.Sprintf(" (a value that starts with a dash goes after =: %s=%s)", w, v)
			}
			return failure.New(fmt.Errorf("%s has no value: the word after it is %s", w, v), hint)
		case typographicDash(w):
			return dashTypo(w)
		case cmd != nil && len(cmd.Subcommands) == 0:
			if takesArgv(cmd) {
				return nil
			}
		default:
			next := findCommand(cmds, w)
			if next == nil || next.SkipFlagParsing {
				return nil
			}
			cmd, cmds, flags = next, next.Subcommands, next.Flags
			path = append(path, w)
		}
	}
	return nil
}

// typographicDash reports whether w starts with a dash that is not a
// hyphen-minus: what a web page, a chat or a word processor makes of
// "--" and "-" (—mask, –p) in a command copied from it.
func typographicDash(w string) bool {
	r, _ := utf8.DecodeRuneInString(w)
	return r >= 0x2010 && r <= 0x2015 || r == 0x2212 || r == 0xfe63 || r == 0xff0d
}

// dashTypo is the error for such a word among ward's own: ward run took
// it for the program ("—mask: executable file not found"), other
// commands for an argument.
func dashTypo(w string) error {
	r, size := utf8.DecodeRuneInString(w)
	flag := "--" + w[size:]
	if utf8.RuneCountInString(w[size:]) == 1 {
		flag = "-" + w[size:]
	}
	return failure.New(fmt.Errorf("%s starts with %q (U+%04X), not a hyphen", w, r, r), "type the flag with hyphens: "+flag+" (a dash pasted from a web page or a document is another character)")
}

// switchWithValue is the error for a switch of ward's followed by true
// or false as a word of its own (ward run --ci-mask false -- make, the
// README's --ci-mask=false written as other tools take it): a switch
// takes its value after = only, and the word was the program ward run
// ran (true, which exits 0: `ward run --mask true -- deploy` exited 0
// and deployed nothing), or another command's argument. `ward run
// --exec true`, with nothing after it, runs true, as it did.
func switchWithValue(flags []cli.Flag, cmd *cli.Command, w, next string, after int) error {
	name, _, hasValue, _ := flagParts(w)
	f := lookupFlag(flags, name)
	if hasValue || f == nil || !strings.EqualFold(next, "true") && !strings.EqualFold(next, "false") {
		return nil
	}
	if d, ok := f.(cli.DocGenerationFlag); !ok || d.TakesValue() {
		return nil
	}
	taken := "an argument"
	if cmd != nil && takesArgv(cmd) {
		if after == 0 {
			return nil
		}
		taken = "the program to run"
	}
	return failure.New(fmt.Errorf("%s %s: a switch takes its value after =, so %q would be %s", w, next, next, taken),
		fmt.Sprintf("write %s=%s (%s alone is %s=true)", w, strings.ToLower(next), w, w))
}

// placeholder is the name of f's value on its help page (FILE, NAME),
// or VALUE.
func placeholder(f cli.Flag) string {
	if d, ok := f.(cli.DocGenerationFlag); ok {
		if _, name, ok := strings.Cut(d.GetUsage(), "`"); ok {
			if name, _, ok := strings.Cut(name, "`"); ok && name != "" {
				return name
			}
		}
	}
	return "VALUE"
}

// helpFirst returns args unchanged unless ward's own words ask for help.
// Then it returns the command path and --help alone, so that the page is
// that command's whatever other words came with the flag: urfave/cli
// reads the first of them as a help topic, so `ward scan --help DIR`
// failed with "No help topic" and `ward run --help -- check` showed
// check's page. A word that names no command is returned in place of
// --help, so that it gets the same error as without the flag.
func helpFirst(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	a := readOwnArgs(app, args)
	if !a.own || !slices.ContainsFunc(a.words, isHelpFlag) {
		return args
	}
	if a.unknown != "" {
		return append(a.path, a.unknown)
	}
	return append(a.path, "--help")
}

// flagParts reads a word as the flag parser does: -name or --name, with
// =value or without. ok is false for a word that is no flag.
func flagParts(w string) (name, value string, hasValue, ok bool) {
	if !strings.HasPrefix(w, "-") {
		return "", "", false, false
	}
	name, value, hasValue = strings.Cut(strings.TrimPrefix(strings.TrimPrefix(w, "-"), "-"), "=")
	return name, value, hasValue, true
}

// isHelpFlag reports whether arg is -h or --help, true.
func isHelpFlag(arg string) bool {
	name, value, hasValue, ok := flagParts(arg)
	if !ok || name != "help" && name != "h" {
		return false
	}
	if !hasValue {
		return true
	}
	b, err := strconv.ParseBool(value)
	return err == nil && b
}

// flagSource says what gave a flag of ward's its value: the flag, when
// ward's own words give it that value (-x, --x, -name or --name, with the
// value after = or as the next word, as the flag parser takes them), else
// the environment variable env when it holds that value, else the flag.
// A flag among the program's arguments (ward run env -p x) is not ward's.
func flagSource(words, names []string, value, flag, env string, getenv func(string) string) string {
	for i, w := range words {
		name, v, hasValue, ok := flagParts(w)
		if !ok || !slices.Contains(names, name) {
			continue
		}
		if !hasValue && i+1 < len(words) {
			v = words[i+1]
		}
		if v == value {
			return flag
		}
	}
	if getenv(env) == value {
		return "$" + env
	}
	return flag
}

// boolFlagSource says what turned ward's boolean flag name on, as
// errors name it: the flag, when ward's own words hold it (--exec,
// --exec=true), else its $WARD_ variable, when that is set.
func boolFlagSource(c *cli.Context, name string) string {
	for _, w := range commandWords(c) {
		if n, _, _, ok := flagParts(w); ok && n == name {
			return "--" + name
		}
	}
	if env := "WARD_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")); os.Getenv(env) != "" {
		return "$" + env
	}
	return "--" + name
}

// invalidFlag is the error for a bad value of ward's flag name, naming
// the flag or its $WARD_ variable, whichever gave the value.
func invalidFlag(c *cli.Context, name, value, hint string) error {
	env := "WARD_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	source := flagSource(commandWords(c), []string{name}, value, "--"+name, env, os.Getenv)
	return failure.New(fmt.Errorf("invalid %s %q", source, value), hint)
}

// commandWords are ward's own words in the command line it was started
// with (see ownArgs).
func commandWords(c *cli.Context) []string {
	return readOwnArgs(c.App, os.Args).words
}
