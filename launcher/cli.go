package launcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/wardsecrets/ward/launcher/scan"
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/local"
	"github.com/wardsecrets/ward/signals"
)

// Version is set at build time with -ldflags "-X ...launcher.Version=v1.2.3".
var Version = "dev"

// IO is the process's standard streams.
type IO struct {
	Stdin  *os.File
	Stdout *os.File
	Stderr *os.File
}

// codeError carries an exit code out of a command.
type codeError struct {
	code int
	err  error
	hint string
}

func (e *codeError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

// Main runs ward with args (args[0] is the program name) and returns the
// exit code.
func Main(args []string, stdio IO) int {
	if len(args) > 1 && args[1] == listenExecArg {
		return ListenExec(args[2:])
	}
	app := NewApp(stdio)
	err := app.Run(args)
	if err == nil {
		return 0
	}
	code, msg, hints := signals.ExitWardFailure, err.Error(), []string(nil)
	var ce *codeError
	var fe *FailError
	var ve ValidationErrors
	var single *ValidationError
	switch {
	case errors.As(err, &ce):
		code = ce.code
		if ce.err == nil {
			return code
		}
		if ce.hint != "" {
			hints = append(hints, ce.hint)
		}
		if errors.As(ce.err, &ve) {
			hints = append(hints, ve.Hints()...)
		} else if errors.As(ce.err, &single) && single.Hint != "" {
			hints = append(hints, single.Hint)
		} else if errors.As(ce.err, &fe) {
			code = fe.Code
			if fe.Hint != "" {
				hints = append(hints, fe.Hint)
			}
		}
		msg = ce.err.Error()
	}
	for _, line := range strings.Split(msg, "\n") {
		fmt.Fprintf(stdio.Stderr, "ward: error: %s\n", strings.TrimLeft(line, " "))
	}
	for _, h := range hints {
		fmt.Fprintf(stdio.Stderr, "ward: hint: %s\n", h)
	}
	return code
}

// NewApp builds the command line.
func NewApp(stdio IO) *cli.App {
	logLevel := &cli.StringFlag{Name: "log-level", EnvVars: []string{"WARD_LOG_LEVEL"}, Value: "info", Usage: "debug, info, warn or error"}
	logFormat := &cli.StringFlag{Name: "log-format", EnvVars: []string{"WARD_LOG_FORMAT"}, Value: "auto", Usage: "text, json, or auto (text on a terminal)"}
	manifestFlag := &cli.StringFlag{Name: "manifest", Aliases: []string{"m"}, TakesFile: true, Value: "ward.yaml", EnvVars: []string{"WARD_MANIFEST"}, Usage: "the manifest `FILE`"}
	profileFlag := &cli.StringFlag{Name: "profile", Aliases: []string{"p"}, EnvVars: []string{"WARD_PROFILE"}, Usage: "apply the manifest's profile `NAME`"}
	app := &cli.App{
		Name:            "ward",
		Usage:           "run a program with its secrets, resolved from a store",
		Version:         Version,
		Writer:          stdio.Stdout,
		ErrWriter:       stdio.Stderr,
		Reader:          stdio.Stdin,
		HideHelpCommand: true,
		// ward completion bash|zsh asks ward itself what comes next.
		EnableBashCompletion: true,
		ExitErrHandler:       func(*cli.Context, error) {},
		OnUsageError:         usageError,
		Commands: []*cli.Command{
			{
				Name:      "run",
				Usage:     "resolve the manifest's secrets and run a program with them",
				ArgsUsage: "-- PROGRAM [ARGS...]",
				Description: `Resolves every secret the manifest references, then starts PROGRAM with a scoped
environment (and secret files on tmpfs), forwards signals to it, reaps zombies, and
exits with its status. Nothing starts unless every secret resolves.

Example:
   ward run -m ward.yaml -- ./server --port 8080
   ward run --exec -p ci -- make deploy`,
				Flags: []cli.Flag{
					manifestFlag, profileFlag, logLevel, logFormat,
					&cli.BoolFlag{Name: "exec", EnvVars: []string{"WARD_EXEC"}, Usage: "replace ward with the program after resolving (no rotation, no files)"},
					&cli.BoolFlag{Name: "signal-child-only", EnvVars: []string{"WARD_SIGNAL_CHILD_ONLY"}, Usage: "forward signals to the program only, not its process group"},
					&cli.BoolFlag{Name: "mask", EnvVars: []string{"WARD_MASK"}, Usage: "replace secret values (and their base64, URL and JSON forms) in the program's output with <ward:NAME>"},
					&cli.BoolFlag{Name: "ci-mask", EnvVars: []string{"WARD_CI_MASK"}, Value: true, Usage: "under GitHub Actions, register every value with the runner's log masking (::add-mask::)"},
				},
				Action: func(c *cli.Context) error { return cmdRun(c, stdio) },
			},
			{
				Name:  "check",
				Usage: "validate the manifest offline, or with --resolve fetch every secret and show where it came from",
				Description: `Validates the manifest: syntax, fields, references, templates, profiles.
Errors name file:line:col and the field. With --resolve, fetches every secret and prints
the variable, store, reference and version, never a value.

Example:
   ward check -m ward.yaml
   ward check --resolve -p dev`,
				Flags: []cli.Flag{manifestFlag, profileFlag, logLevel, logFormat,
					&cli.BoolFlag{Name: "resolve", Usage: "fetch every secret (values are never shown)"},
				},
				Action: func(c *cli.Context) error { return cmdCheck(c, stdio) },
			},
			localCommand(stdio),
			{
				Name:      "scan",
				Usage:     "look for the manifest's actual secret values (and their encodings) in files and git history",
				ArgsUsage: "[PATHS...]",
				Description: `Resolves the manifest, then searches the working tree (respecting .gitignore,
skipping binary files) and, with --git-history, every blob reachable in the repository's
history, for the values and their base64, URL and JSON forms. Reports file:line (or
commit:path:line) and the variable's name, never the value. Exit 1 on a find, 0 on none,
125 on an error: usable as a pre-commit hook or a CI step.

Example:
   ward scan
   ward scan --git-history --json .`,
				Flags: []cli.Flag{manifestFlag, profileFlag, logLevel, logFormat,
					&cli.BoolFlag{Name: "git-history", Usage: "also search every blob reachable from any ref"},
					&cli.BoolFlag{Name: "no-ignore", Usage: "also search files .gitignore excludes"},
					&cli.BoolFlag{Name: "binary", Usage: "also search binary files"},
					&cli.BoolFlag{Name: "json", Usage: "print the findings as JSON"},
				},
				Action: func(c *cli.Context) error { return cmdScan(c, stdio) },
			},
			{
				Name:  "version",
				Usage: "print ward's version",
				Description: `Example:
   ward version`,
				Action: func(c *cli.Context) error {
					fmt.Fprintf(stdio.Stdout, "ward %s %s %s/%s\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
					return nil
				},
			},
		},
	}
	app.Commands = append(app.Commands, devCommands(stdio)...)
	setUsageError(app.Commands)
	return app
}

// usageError turns a flag error into ward's own error (exit 125) instead
// of a page of help.
func usageError(c *cli.Context, err error, _ bool) error {
	name := "ward"
	if c.Command != nil && c.Command.FullName() != "" {
		name = "ward " + c.Command.FullName()
	}
	return &codeError{code: signals.ExitWardFailure, err: err, hint: "see: " + name + " --help"}
}

func setUsageError(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = usageError
		setUsageError(c.Subcommands)
	}
}

func newLogger(c *cli.Context, w *os.File) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, &codeError{code: signals.ExitWardFailure, err: fmt.Errorf("invalid --log-level %q", c.String("log-level")), hint: "choose debug, info, warn or error"}
	}
	opts := &slog.HandlerOptions{Level: level}
	format := c.String("log-format")
	switch format {
	case "auto":
		if term.IsTerminal(int(w.Fd())) {
			format = "text"
		} else {
			format = "json"
		}
	case "text", "json":
	default:
		return nil, &codeError{code: signals.ExitWardFailure, err: fmt.Errorf("invalid --log-format %q", format), hint: "choose text, json or auto"}
	}
	if format == "text" {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
		return slog.New(slog.NewTextHandler(w, opts)).With("app", "ward"), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)).With("app", "ward"), nil
}

func loadManifest(c *cli.Context) (*Manifest, *Profile, error) {
	m, err := LoadManifest(c.String("manifest"))
	if err != nil {
		return nil, nil, &codeError{code: signals.ExitWardFailure, err: err}
	}
	prof, err := m.Profile(c.String("profile"))
	if err != nil {
		return nil, nil, &codeError{code: signals.ExitWardFailure, err: err}
	}
	return m, prof, nil
}

func cmdRun(c *cli.Context, stdio IO) error {
	log, err := newLogger(c, stdio.Stderr)
	if err != nil {
		return err
	}
	argv := c.Args().Slice()
	if len(argv) == 0 {
		return &codeError{code: signals.ExitWardFailure, err: errors.New("no program to run"), hint: "write: ward run [flags] -- PROGRAM [ARGS...]"}
	}
	if err := signals.Harden(); err != nil {
		log.Warn("cannot harden the ward process", "error", err.Error())
	}
	m, prof, err := loadManifest(c)
	if err != nil {
		return err
	}
	stores, fetcher := openStores(m, log)
	defer stores.Close()
	code, err := Run(context.Background(), RunOptions{
		Manifest:        m,
		Profile:         prof,
		Argv:            argv,
		Exec:            c.Bool("exec"),
		SignalChildOnly: c.Bool("signal-child-only"),
		Stdin:           stdio.Stdin,
		Stdout:          stdio.Stdout,
		Stderr:          stdio.Stderr,
		Environ:         os.Environ(),
		Getenv:          os.Getenv,
		Log:             log,
		Fetcher:         fetcher,
		Rotate:          true,
		Mask:            c.Bool("mask"),
		CIMask:          c.Bool("ci-mask"),
	})
	if err != nil {
		return &codeError{code: code, err: err}
	}
	if code != 0 {
		return &codeError{code: code}
	}
	return nil
}

func cmdCheck(c *cli.Context, stdio IO) error {
	m, prof, err := loadManifest(c)
	if err != nil {
		return err
	}
	if !c.Bool("resolve") {
		fmt.Fprintf(stdio.Stdout, "%s: ok: %d variables, %d files, %d profiles\n", m.File, len(m.Env), len(m.Files), len(m.Profiles))
		return nil
	}
	values, _, err := resolveOnce(c, stdio, m, prof)
	if err != nil {
		return err
	}
	w := stdio.Stdout
	fmt.Fprintf(w, "%-24s %-7s %-10s %s\n", "NAME", "STORE", "VERSION", "REFERENCE")
	for _, v := range m.EnvFor(prof) {
		switch {
		case v.Ref != nil:
			val := values[v.Name]
			fmt.Fprintf(w, "%-24s %-7s %-10s %s%s\n", v.Name, v.Ref.Scheme, orDash(val.Version), v.Ref.Raw, leaseNote(val.Lease))
		case v.IsValue:
			fmt.Fprintf(w, "%-24s %-7s %-10s %s\n", v.Name, "value", "-", "(plain value)")
		default:
			fmt.Fprintf(w, "%-24s %-7s %-10s %s\n", v.Name, "tmpl", "-", "(template over "+strings.Join(v.Template.Deps, ", ")+")")
		}
	}
	for _, fs := range m.FilesFor(prof) {
		if fs.Ref != nil {
			val := values[fileKey(fs)]
			fmt.Fprintf(w, "%-24s %-7s %-10s %s%s\n", "file:"+fs.Path, fs.Ref.Scheme, orDash(val.Version), fs.Ref.Raw, leaseNote(val.Lease))
		} else {
			fmt.Fprintf(w, "%-24s %-7s %-10s %s\n", "file:"+fs.Path, "tmpl", "-", "(template)")
		}
	}
	fmt.Fprintf(w, "%d secrets resolved\n", len(values))
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func leaseNote(l *resolve.Lease) string {
	if l == nil {
		return ""
	}
	return fmt.Sprintf(" (lease ttl %s)", l.TTL)
}

func localCommand(stdio IO) *cli.Command {
	open := func() (*local.Store, error) {
		s, err := local.Open(os.Getenv)
		if err != nil {
			return nil, &codeError{code: signals.ExitWardFailure, err: err}
		}
		return s, nil
	}
	oneName := func(c *cli.Context) (string, error) {
		if c.NArg() != 1 {
			return "", &codeError{code: signals.ExitWardFailure, err: fmt.Errorf("want exactly one NAME, got %d arguments", c.NArg()), hint: "values are read from stdin or a prompt, never from the command line"}
		}
		name := c.Args().First()
		if !resolve.ValidLocalName(name) {
			return "", &codeError{code: signals.ExitWardFailure, err: fmt.Errorf("invalid name %q", name), hint: "use slash-separated names of letters, digits, '_', '.', '-', e.g. myapp/api_token"}
		}
		return name, nil
	}
	fail := func(err error) error {
		if err == nil {
			return nil
		}
		return &codeError{code: signals.ExitWardFailure, err: err}
	}
	return &cli.Command{
		Name:  "local",
		Usage: "manage the embedded encrypted store (local:// references)",
		Description: `The local store is one age-encrypted file ($XDG_DATA_HOME/ward/store.age), encrypted
to an identity created on first use ($XDG_CONFIG_HOME/ward/identity.txt, mode 0600).
Values are read from stdin or a no-echo prompt, never from the command line.

Example:
   ward local set myapp/database_url
   printf %s "$TOKEN" | ward local set myapp/api_token
   ward local list`,
		Subcommands: []*cli.Command{
			{
				Name:      "set",
				Usage:     "store a value read from stdin (or a no-echo prompt on a terminal)",
				ArgsUsage: "NAME",
				Description: `Example:
   ward local set myapp/database_url          # prompts, without echo
   printf %s "$VALUE" | ward local set myapp/api_token
One trailing newline on stdin is dropped.`,
				Action: func(c *cli.Context) error {
					name, err := oneName(c)
					if err != nil {
						return err
					}
					value, err := readValue(stdio, name)
					if err != nil {
						return fail(err)
					}
					defer clear(value)
					s, err := open()
					if err != nil {
						return err
					}
					return fail(s.Set(name, value))
				},
			},
			{
				Name:      "get",
				Usage:     "print one value to stdout, for scripts",
				ArgsUsage: "NAME",
				Description: `Example:
   export PGPASSWORD="$(ward local get myapp/db_password)"`,
				Action: func(c *cli.Context) error {
					name, err := oneName(c)
					if err != nil {
						return err
					}
					s, err := open()
					if err != nil {
						return err
					}
					v, err := s.Get(name)
					if err != nil {
						return fail(err)
					}
					stdio.Stdout.Write(v)
					if term.IsTerminal(int(stdio.Stdout.Fd())) {
						stdio.Stdout.Write([]byte("\n"))
					}
					clear(v)
					return nil
				},
			},
			{
				Name:  "list",
				Usage: "list the names in the store (never values)",
				Description: `Example:
   ward local list`,
				Action: func(c *cli.Context) error {
					s, err := open()
					if err != nil {
						return err
					}
					entries, err := s.List()
					if err != nil {
						return fail(err)
					}
					for _, e := range entries {
						fmt.Fprintf(stdio.Stdout, "%s\tv%d\t%s\n", e.Name, e.Version, e.Updated.Format("2006-01-02T15:04:05Z"))
					}
					return nil
				},
			},
			{
				Name:      "rm",
				Usage:     "remove a value",
				ArgsUsage: "NAME",
				Description: `Example:
   ward local rm myapp/old_token`,
				Action: func(c *cli.Context) error {
					name, err := oneName(c)
					if err != nil {
						return err
					}
					s, err := open()
					if err != nil {
						return err
					}
					return fail(s.Remove(name))
				},
			},
		},
	}
}

// readValue reads a value from a no-echo prompt on a terminal, or from
// stdin otherwise (dropping one trailing newline).
func readValue(stdio IO, name string) ([]byte, error) {
	fd := int(stdio.Stdin.Fd())
	if term.IsTerminal(fd) {
		fmt.Fprintf(stdio.Stderr, "value for %s (not echoed): ", name)
		v, err := term.ReadPassword(fd)
		fmt.Fprintln(stdio.Stderr)
		if err != nil {
			return nil, fmt.Errorf("read the value: %w", err)
		}
		fmt.Fprintf(stdio.Stderr, "again: ")
		again, err := term.ReadPassword(fd)
		fmt.Fprintln(stdio.Stderr)
		if err != nil {
			return nil, fmt.Errorf("read the value: %w", err)
		}
		same := string(v) == string(again)
		clear(again)
		if !same {
			clear(v)
			return nil, errors.New("the two values differ; nothing was stored")
		}
		return v, nil
	}
	v, err := io.ReadAll(io.LimitReader(stdio.Stdin, 1<<20+1))
	if err != nil {
		return nil, fmt.Errorf("read the value from stdin: %w", err)
	}
	if len(v) > 1<<20 {
		return nil, errors.New("the value on stdin is over 1 MiB")
	}
	switch {
	case len(v) >= 2 && string(v[len(v)-2:]) == "\r\n":
		v = v[:len(v)-2]
	case len(v) >= 1 && v[len(v)-1] == '\n':
		v = v[:len(v)-1]
	}
	return v, nil
}

// openStores builds the manifest's stores and a fetcher over them. Leases
// are revoked at Close unless the manifest says otherwise, and custom
// credential variables (jwt_env, role_id_env...) join the deny list: they
// are ward's, never the child's.
func openStores(m *Manifest, log *slog.Logger) (*Stores, *resolve.Fetcher) {
	stores := NewStores(os.Getenv, log, m.Stores)
	stores.SetRevokeOnExit(m.Rotation.RevokeOnExit)
	m.Deny = append(m.Deny, stores.CredentialEnv()...)
	return stores, &resolve.Fetcher{Stores: stores.For, Concurrency: m.Stores.Concurrency, Log: log}
}

// resolveOnce fetches every secret the manifest (with a profile) names,
// for check --resolve and scan; the stores are closed (and any lease
// revoked) before it returns, since no child will use them.
func resolveOnce(c *cli.Context, stdio IO, m *Manifest, prof *Profile) (map[string]resolve.Value, *slog.Logger, error) {
	log, err := newLogger(c, stdio.Stderr)
	if err != nil {
		return nil, nil, err
	}
	stores, f := openStores(m, log)
	defer stores.Close()
	values, err := Resolve(context.Background(), f, m, prof)
	if err != nil {
		return nil, nil, &codeError{code: signals.ExitWardFailure, err: err, hint: resolveHint(err)}
	}
	return values, log, nil
}

func cmdScan(c *cli.Context, stdio IO) error {
	m, prof, err := loadManifest(c)
	if err != nil {
		return err
	}
	values, log, err := resolveOnce(c, stdio, m, prof)
	if err != nil {
		return err
	}
	plan, err := BuildPlan(m, prof, values, nil, "")
	if err != nil {
		return &codeError{code: signals.ExitWardFailure, err: err}
	}
	secrets := maskSecrets(plan)
	for _, name := range scan.Skipped(secrets) {
		log.Warn("a value shorter than 4 bytes is not searched for", "name", name)
	}
	findings, err := scan.Scan(context.Background(), secrets, scan.Options{
		Paths: c.Args().Slice(), NoIgnore: c.Bool("no-ignore"), Binary: c.Bool("binary"), GitHistory: c.Bool("git-history"),
	})
	if err != nil {
		return &codeError{code: signals.ExitWardFailure, err: err}
	}
	if c.Bool("json") {
		err = scan.WriteJSON(stdio.Stdout, findings)
	} else {
		err = scan.WriteText(stdio.Stdout, findings)
	}
	if err != nil {
		return &codeError{code: signals.ExitWardFailure, err: err}
	}
	if len(findings) > 0 {
		if !c.Bool("json") {
			fmt.Fprintf(stdio.Stderr, "ward: %d places hold a secret value: rotate those secrets, then remove them (see README: Dealing with a leaked secret)\n", len(findings))
		}
		return &codeError{code: 1}
	}
	return nil
}
