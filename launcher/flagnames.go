package launcher

import (
	"strings"
	"sync"

	"github.com/urfave/cli/v2"
)

// ward's flags answer Names() from a slice made once.
//
// urfave/cli's own Names() runs a regular expression over each name on
// every call (a v1-to-v2 migration aid that cuts a name at its first comma
// or space), and urfave/cli calls Names() on every flag of a command each
// time it looks one up: after parsing, it asks IsSet of each flag, and
// each IsSet of an unset flag walks all the flags' names. A command's
// start ran about 150 of those expressions: measured with callgrind on
// `ward run --exec -- true` with 0 refs, 22% of ward's instructions up to
// the exec (0.67 M of 3.0 M). The wrappers keep every method of the flag
// they hold (Apply, help, environment variables, IsSet) by embedding it.

type boolFlag struct {
	*cli.BoolFlag
	names []string
}

func (f *boolFlag) Names() []string { return f.names }

type stringFlag struct {
	*cli.StringFlag
	names []string
}

func (f *stringFlag) Names() []string { return f.names }

type stringSliceFlag struct {
	*cli.StringSliceFlag
	names []string
}

func (f *stringSliceFlag) Names() []string { return f.names }

// helpFlag is cli.HelpFlag, which urfave/cli adds to each command, with
// names made once, as is cli.VersionFlag, which it adds to the app.
func helpFlag() cli.Flag {
	fixGlobalFlags.Do(func() {
		cli.HelpFlag = fixedNames(cli.HelpFlag)
		cli.VersionFlag = fixedNames(cli.VersionFlag)
	})
	return cli.HelpFlag
}

// fixGlobalFlags wraps urfave/cli's flags once for every app a process
// builds (the tests build many).
var fixGlobalFlags sync.Once

// fixNames gives every flag of the app and its commands names made once.
func fixNames(app *cli.App) {
	fixFlags(app.Flags)
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			fixFlags(c.Flags)
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
}

func fixFlags(flags []cli.Flag) {
	for i, f := range flags {
		flags[i] = fixedNames(f)
	}
}

// fixedNames wraps f, if it is of a type ward uses and not wrapped yet.
func fixedNames(f cli.Flag) cli.Flag {
	switch f := f.(type) {
	case *cli.BoolFlag:
		return &boolFlag{f, cutNames(f.Name, f.Aliases)}
	case *cli.StringFlag:
		return &stringFlag{f, cutNames(f.Name, f.Aliases)}
	case *cli.StringSliceFlag:
		return &stringSliceFlag{f, cutNames(f.Name, f.Aliases)}
	}
	return f
}

// cutNames is what urfave/cli's FlagNames returns: each name cut at its
// first comma or space.
func cutNames(name string, aliases []string) []string {
	names := make([]string, 0, 1+len(aliases))
	for _, n := range append([]string{name}, aliases...) {
		if i := strings.IndexAny(n, ", "); i >= 0 {
			n = n[:i]
		}
		names = append(names, n)
	}
	return names
}

// stringFlagOf is the *cli.StringFlag behind f, if it is one.
func stringFlagOf(f cli.Flag) (*cli.StringFlag, bool) {
	if w, ok := f.(*stringFlag); ok {
		return w.StringFlag, true
	}
	s, ok := f.(*cli.StringFlag)
	return s, ok
}
