// Package launcher is ward's command line: one file per command, the
// `ward: error:` / `ward: hint:` output and the exit codes. The work is
// done by the packages under it (manifest, plan, supervise...) and by
// resolve and signals.
package launcher

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/wardsecrets/ward/internal/owngc"
	"github.com/wardsecrets/ward/internal/syshint"
	"github.com/wardsecrets/ward/launcher/failure"
	"github.com/wardsecrets/ward/launcher/logfmt"
	"github.com/wardsecrets/ward/launcher/supervise"
	"github.com/wardsecrets/ward/launcher/systemd"
	"github.com/wardsecrets/ward/signals"
)

// IO is the process's standard streams.
type IO struct {
	Stdin  *os.File
	Stdout *os.File
	Stderr *os.File
	// log is ward's log on its way to Stderr (set by Main): the loop
	// that supervises never waits for the log's reader.
	log *logfmt.Queue
}

// flushLog waits for what ward logged to be written.
func (stdio IO) flushLog() {
	if stdio.log != nil {
		stdio.log.Flush()
	}
}

// stderrWriter writes ward's log to f as signals.Writer and
// PatientWriter do, made at the first record: each asks f.Fd(), which
// makes a pipe ward was given non-blocking a blocking one for every
// process that shares it; a command that logs nothing leaves it so.
type stderrWriter struct {
	f    *os.File
	once sync.Once
	w    io.Writer
}

func (s *stderrWriter) Write(b []byte) (int, error) {
	s.once.Do(func() { s.w = signals.PatientWriter(s.f, signals.Writer(s.f)) })
	return s.w.Write(b)
}

// Main runs ward with args (args[0] is the program name) and returns the
// exit code.
func Main(args []string, stdio IO) int {
	owngc.Reset()
	if len(args) > 1 {
		switch args[1] {
		case systemd.ListenExecArg:
			return systemd.ListenExec(args[2:])
		case supervise.SessionArg:
			return supervise.SessionMain(args[2:])
		case supervise.GuardArg:
			return supervise.GuardMain(args[2:])
		}
	}
	stdio.log = logfmt.NewQueue(&stderrWriter{f: stdio.Stderr})
	app := NewApp(stdio)
	unsetEmptyFlagVars(app)
	err := flagWithoutValue(app, args)
	if err == nil {
		err = app.Run(withFlagsFirst(app, helpFirst(app, args)))
	}
	if err == nil {
		// What the commands that log did not report themselves: a help
		// page, ward local get's value.
		err = app.Writer.(*output).failed()
	}
	// What ward has left to say as it exits is waited for unless ward is
	// told to stop meanwhile (signals.WaitUnlessStopped): everything else
	// is done by then (the child gone, the run's files removed, the
	// helpers stopped), and a reader of ward's stderr that stopped
	// reading held ward deaf to `docker stop` until the SIGKILL after it,
	// 137 for the child's status.
	if err == nil {
		signals.WaitUnlessStopped(stdio.flushLog)
		return 0
	}
	var je *jsonReported
	if !errors.As(err, &je) && logsJSON(app, args) {
		// A usage error, found before the command's action could report
		// it: as a JSON record too.
		err = &jsonReported{err}
	}
	// After the log's records, and as they are: the report of an error
	// that ends ward comes last, whatever the reader does meanwhile.
	signals.WaitUnlessStopped(func() {
		stdio.flushLog()
		report(signals.PatientWriter(stdio.Stderr, signals.Writer(stdio.Stderr)), err, logfmt.Journal(stdio.Stderr))
	})
	var f *failure.Error
	if errors.As(err, &f) && f.Signal != 0 {
		// Last, once every helper is stopped and every file removed.
		signals.EndBy(f.Signal, f.Group)
	}
	return failure.ExitCode(err)
}

// logsJSON reports whether the command args name logs JSON: it has
// --log-format (run, check, scan), and its words or $WARD_LOG_FORMAT
// say json.
func logsJSON(app *cli.App, args []string) bool {
	a := readOwnArgs(app, args)
	if len(a.path) < 2 || !a.own {
		return false
	}
	cmd := findCommand(app.Commands, a.path[1])
	if cmd == nil || len(a.path) > 2 || lookupFlag(cmd.Flags, "log-format") == nil {
		return false
	}
	format := os.Getenv("WARD_LOG_FORMAT")
	for i, w := range a.words {
		name, v, hasValue, ok := flagParts(w)
		if !ok || name != "log-format" {
			continue
		}
		if !hasValue && i+1 < len(a.words) {
			v = a.words[i+1]
		}
		format = v
	}
	return format == "json"
}

// report prints err as ward's error lines, each hint under its error, or
// as JSON log records when the command logs JSON. Where w is the
// journal's stream (journal), each line begins with the priority of an
// error, its hints too, so that `journalctl -p err` shows them.
func report(w io.Writer, err error, journal bool) {
	var je *jsonReported
	if errors.As(err, &je) {
		reportJSON(w, je.err, journal)
		return
	}
	prefix := ""
	if journal {
		prefix = logfmt.Priority(slog.LevelError)
	}
	for _, l := range failure.Lines(err) {
		for _, line := range strings.Split(l.Msg, "\n") {
			if line = strings.TrimLeft(line, " "); line != "" {
				fmt.Fprintf(w, "%sward: error: %s\n", prefix, logfmt.Printable(line))
			}
		}
		if l.Hint != "" {
			for _, line := range strings.Split(l.Hint, "\n") {
				fmt.Fprintf(w, "%sward: hint: %s\n", prefix, logfmt.Printable(line))
			}
		}
	}
}

// output is ward's stdout for what its commands print for scripts to
// read (a value, names, a check's table, a help page, a completion
// script), through c.App.Writer: it keeps the first write that fails, so
// that a command whose output was lost (a full disk, /dev/full) ends with
// 125 and says so. `ward local get NAME > file` on a full file system
// exited 0 with the file empty.
type output struct {
	f   *os.File
	err error
}

func (o *output) Write(p []byte) (int, error) {
	n, err := o.f.Write(p)
	if err != nil && o.err == nil {
		o.err = err
	}
	return n, err
}

// failed is the error for output that was not all written, or nil.
func (o *output) failed() error {
	if o.err == nil {
		return nil
	}
	return failure.New(o.err, outputHint(o.err))
}

// outputHint is the advice for output that was not all written, by the
// errno: only a full file system (ENOSPC, EDQUOT) wants space freed; the
// hint said so of an EIO (a terminal hung up, a failing disk), of an
// EAGAIN (a standard output another process made non-blocking) and of a
// closed one (EBADF).
func outputHint(err error) string {
	const incomplete = "what ward printed is incomplete: "
	if hint := syshint.Limit(err); hint != "" {
		// As the error's own line has it (failure.Lines), once.
		return hint
	}
	switch syshint.Errno(err) {
	case syscall.ENOSPC, syscall.EDQUOT:
		return incomplete + "free space where standard output goes, or send it elsewhere"
	case syscall.EBADF:
		return incomplete + "standard output is closed (>&-): give ward one, /dev/null to drop it"
	case syscall.EAGAIN:
		return incomplete + "standard output is non-blocking (another process sharing it set O_NONBLOCK) and its reader fell behind: run the command again, or send its output to a file"
	}
	if hint := syshint.For(err); hint != "" {
		return incomplete + hint
	}
	return incomplete + "run the command again, or send its output elsewhere"
}

// exitCode ends a command with a code and nothing to print (the child's
// status, scan's 1).
func exitCode(code int) error {
	if code == 0 {
		return nil
	}
	return &failure.Error{Code: code}
}

// NewApp builds the command line.
func NewApp(stdio IO) *cli.App {
	app := &cli.App{
		Name:      "ward",
		Usage:     "run a program with its secrets, resolved from a store",
		Version:   Version(),
		Writer:    &output{f: stdio.Stdout},
		ErrWriter: stdio.Stderr,
		Reader:    stdio.Stdin,
		// ward's own help command replaces urfave/cli's, so the help flag
		// is declared here (urfave/cli adds it only with its command).
		Flags:          []cli.Flag{helpFlag()},
		Action:         unknownCommand,
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   usageError,
		Commands: []*cli.Command{
			runCommand(stdio),
			checkCommand(stdio),
			localCommand(stdio),
			scanCommand(stdio),
			versionCommand(stdio),
			importCommand(stdio),
			initCommand(stdio),
			completionCommand(stdio),
			helpCommand(),
			completeCommand(stdio),
		},
	}
	cli.VersionPrinter = func(c *cli.Context) { fmt.Fprintln(c.App.Writer, versionLine()) }
	setUsageError(app.Commands)
	hideHelpCommands(app.Commands)
	fixNames(app)
	reportJSONWhenLogging(app.Commands)
	return app
}

// usageError turns a flag error into ward's own error (exit 125) instead
// of a page of help.
func usageError(c *cli.Context, err error, _ bool) error {
	// The command's path from its contexts: FullName is the root's own
	// name at the top ("ward ward") and a subcommand's alone below a
	// group ("ward set").
	names := []string{}
	for _, l := range c.Lineage() {
		if l.Command != nil && l.Command.Name != "" && l.Command.Name != c.App.Name && (len(names) == 0 || names[0] != l.Command.Name) {
			names = append([]string{l.Command.Name}, names...)
		}
	}
	see := "see: " + strings.Join(append([]string{"ward"}, names...), " ") + " --help"
	if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
		return unknownFlag(c, name, see)
	}
	// A switch's value the parser refuses, from its variable
	// (WARD_MASK=yes) or the flag: named as ward names the others, with
	// the values it takes; urfave/cli's own words ("could not parse "yes"
	// as bool value from environment variable ... strconv.ParseBool:
	// parsing "yes": invalid syntax") said neither.
	if m := badSwitchVar().FindStringSubmatch(err.Error()); m != nil {
		return failure.New(fmt.Errorf("invalid $%s %q", m[2], m[1]), "a switch is true or false (or 1, 0); "+see)
	}
	if m := badSwitchFlag().FindStringSubmatch(err.Error()); m != nil {
		return failure.New(fmt.Errorf("invalid %s %q", dashed(m[2]), m[1]), "a switch is true or false (or 1, 0); "+see)
	}
	return failure.New(err, see)
}

// urfave/cli's errors for a boolean flag's value that is no boolean,
// from the environment and from the command line: compiled when a usage
// error needs them, not by every start (a package-level expression
// cost each `ward run` 0.26 M instructions, 13% of its start).
var (
	badSwitchVar = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^could not parse "(.*)" as bool value from environment variable "(\w+)" for flag`)
	})
	badSwitchFlag = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^invalid boolean value "(.*)" for -([\w-]+): parse error$`)
	})
)

// unknownFlag is the error for a flag the command does not have, named
// as it is typed (--maks, where the flag parser says -maks), with the
// command's flag it is a typo of, or, at ward's own level (ward -m FILE
// run), the commands that have it: a command's flags go after its name.
func unknownFlag(c *cli.Context, name, see string) error {
	typed := dashed(name)
	for _, w := range commandWords(c) {
		if n, _, _, ok := flagParts(w); ok && n == name {
			typed, _, _ = strings.Cut(w, "=")
			break
		}
	}
	err := fmt.Errorf("unknown flag %s", typed)
	// At ward's own level (ward -m FILE run) or a group's (ward local
	// --allow-empty set): the commands below that have the flag.
	cmds, group := c.App.Commands, "ward "
	if c.Command != nil && c.Command.Name != c.App.Name {
		cmds, group = c.Command.Subcommands, "ward "+c.Command.Name+" "
	}
	var in []string
	for _, cmd := range cmds {
		if !cmd.Hidden && lookupFlag(cmd.Flags, name) != nil {
			in = append(in, cmd.Name)
		}
	}
	if len(in) > 0 {
		return failure.New(err, fmt.Sprintf("%s is a flag of %s%s: write it after the command's name (%s%s %s ...)", dashed(name), group, strings.Join(in, ", "), group, in[0], dashed(name)))
	}
	// ward scan -x.env, ward import -x.env: a file's name.
	if c.Command != nil && (c.Command.Name == "scan" || c.Command.Name == "import") && strings.ContainsAny(name, "./") {
		return failure.New(err, fmt.Sprintf("a file whose name starts with a dash goes after --: ward %s -- %s", c.Command.Name, typed))
	}
	var flags []string
	if c.Command != nil {
		for _, f := range c.Command.VisibleFlags() {
			flags = append(flags, f.Names()...)
		}
	}
	near := nearest(name, flags)
	if near == "" && len(name) == 1 && c.Command != nil {
		near = longNameHere(c.App.Commands, c.Command, name)
	}
	if near != "" {
		return failure.New(err, "did you mean "+dashed(near)+"? ("+see+")")
	}
	return failure.New(err, see)
}

// longNameHere is the long name of a flag that other commands spell with
// the letter short (-p for --profile) and cmd has without it (ward import
// -p dev for --profile dev), or "".
func longNameHere(cmds []*cli.Command, cmd *cli.Command, short string) string {
	for _, other := range cmds {
		if f := lookupFlag(other.Flags, short); f != nil && lookupFlag(cmd.Flags, f.Names()[0]) != nil {
			return f.Names()[0]
		}
		if long := longNameHere(other.Subcommands, cmd, short); long != "" {
			return long
		}
	}
	return ""
}

// dashed is a flag's name as it is typed: -m, --manifest.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func setUsageError(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = usageError
		setUsageError(c.Subcommands)
	}
}

// hideHelpCommands keeps urfave/cli from adding a help subcommand to the
// commands that take arguments: `ward run -- help` runs a program named
// help, `ward scan help` searches a path named help. Command groups
// (ward local) get ward's help in place of urfave/cli's (see
// groupHelpCommand), and say which word they do not know.
func hideHelpCommands(cmds []*cli.Command) {
	for _, c := range cmds {
		c.HideHelpCommand = true
		if len(c.Subcommands) == 0 {
			continue
		}
		if c.Action == nil {
			c.Action = unknownCommand
		}
		help := groupHelpCommand(c.Name)
		help.OnUsageError = usageError
		c.Subcommands = append(c.Subcommands, help)
		hideHelpCommands(c.Subcommands)
	}
}

// unsetEmptyFlagVars removes from ward's environment each WARD_*
// variable that stands for a flag and is empty (a CI variable not
// defined, `WARD_CI_MASK: ${{ vars.WARD_CI_MASK }}`), so that it counts as
// unset, as the README says: urfave/cli takes an empty variable for a
// value, "" for a string flag (WARD_MANIFEST= made ward init write a file
// named "") and false for a boolean one (WARD_CI_MASK= turned the GitHub
// Actions masking off). WARD_* variables never reach the child. Every
// flag's variable is WARD_*: the environment is read once for empty ones,
// and the flags are walked only when there are some (a lookup per flag
// cost each start 32,000 instructions).
func unsetEmptyFlagVars(app *cli.App) {
	var empty []string
	for _, kv := range os.Environ() {
		if name, ok := strings.CutSuffix(kv, "="); ok && strings.HasPrefix(name, "WARD_") && !strings.Contains(name, "=") {
			empty = append(empty, name)
		}
	}
	if len(empty) == 0 {
		return
	}
	var walk func(flags []cli.Flag, cmds []*cli.Command)
	walk = func(flags []cli.Flag, cmds []*cli.Command) {
		for _, f := range flags {
			d, ok := f.(cli.DocGenerationFlag)
			if !ok {
				continue
			}
			for _, name := range d.GetEnvVars() {
				if slices.Contains(empty, name) {
					os.Unsetenv(name)
				}
			}
		}
		for _, c := range cmds {
			walk(c.Flags, c.Subcommands)
		}
	}
	walk(app.Flags, app.Commands)
}

// defaultManifest is the manifest's name when no flag names one.
const defaultManifest = "ward.yaml"

// Shared flags.
func manifestFlag() cli.Flag {
	return &cli.StringFlag{Name: "manifest", Aliases: []string{"m"}, TakesFile: true, Value: defaultManifest, EnvVars: []string{"WARD_MANIFEST"}, Usage: "the manifest `FILE`"}
}

// nearestManifestFlag is -m for the commands that read the manifest,
// which look for it (see findManifest).
func nearestManifestFlag() cli.Flag {
	f := manifestFlag().(*cli.StringFlag)
	f.DefaultText = "the nearest " + defaultManifest + ", here or above, up to the repository's top"
	return f
}

func profileFlag() cli.Flag {
	return &cli.StringFlag{Name: "profile", Aliases: []string{"p"}, EnvVars: []string{"WARD_PROFILE"}, Usage: "apply the manifest's profile `NAME`"}
}

func logFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-level", EnvVars: []string{"WARD_LOG_LEVEL"}, Value: "info", Usage: "debug, info, warn or error"},
		&cli.StringFlag{Name: "log-format", EnvVars: []string{"WARD_LOG_FORMAT"}, Value: "auto", Usage: "text, json, or auto (text on a terminal)"},
	}
}

// forceFlag has no WARD_* variable on purpose: replacing secrets should be
// asked for on the command line each time, not by a forgotten export.
func forceFlag(usage string) cli.Flag {
	return &cli.BoolFlag{Name: "force", Usage: usage}
}
