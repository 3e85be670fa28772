package launcher

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wardsecrets/ward/launcher/failure"
	"github.com/wardsecrets/ward/launcher/supervise"
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/env"
	"github.com/wardsecrets/ward/resolve/stores"
	"github.com/wardsecrets/ward/signals"
)

func runCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "resolve the manifest's secrets and run a program with them",
		ArgsUsage: "-- PROGRAM [ARGS...]",
		Description: `Resolves every secret the manifest references, then starts PROGRAM with a scoped
environment (and secret files on tmpfs), forwards signals to it, reaps zombies, and
exits with its status. Nothing starts unless every secret resolves.

Example:
   ward run -m ward.yaml -- ./server --port 8080
   ward run --exec -p ci -- make deploy`,
		Flags: append([]cli.Flag{nearestManifestFlag(), profileFlag()}, append(logFlags(),
			&cli.BoolFlag{Name: "exec", EnvVars: []string{"WARD_EXEC"}, Usage: "replace ward with the program after resolving (no rotation, no files)"},
			&cli.BoolFlag{Name: "signal-child-only", EnvVars: []string{"WARD_SIGNAL_CHILD_ONLY"}, Usage: "forward signals to the program only, not its process group"},
			&cli.BoolFlag{Name: "mask", EnvVars: []string{"WARD_MASK"}, Usage: "replace secret values (and their base64, URL and JSON forms) in the program's output with <ward:NAME>"},
			&cli.BoolFlag{Name: "ci-mask", EnvVars: []string{"WARD_CI_MASK"}, Value: true, Usage: "under GitHub Actions, register every value with the runner's log masking (::add-mask::)"},
		)...),
		Action: func(c *cli.Context) error { return cmdRun(c, stdio) },
	}
}

func cmdRun(c *cli.Context, stdio IO) error {
	// First: a stop that comes while ward reads its manifest (a container
	// stopped as it starts) waits for the resolve to act on it, 128+N with
	// its reason. Go's own handler meanwhile would end ward, and as PID 1,
	// which the kernel does not let die of the signal, exit 2 without a
	// word. The stop signals were caught as ward started, before its
	// packages initialised (internal/earlystop).
	sigs := signals.Notify()
	lg, err := newLogs(c, stdio.Stderr, stdio.log)
	if err != nil {
		return err
	}
	log := lg.log
	argv := c.Args().Slice()
	if len(argv) == 0 {
		return failure.New(errors.New("no program to run"), "write: ward run [flags] -- PROGRAM [ARGS...]")
	}
	if argv[0] == "" {
		// ward run "$CMD" with CMD unset: known before a store is asked
		// (and a dynamic secret's lease made for nothing); 127, as the
		// shell gives for "".
		return &failure.Error{Code: signals.ExitNotFound, Err: errors.New(`"": the program's name is empty`), Hint: `a variable that is not set? (ward run -- "$CMD" with CMD empty)`}
	}
	if err := signals.Harden(); err != nil {
		log.Warn("cannot harden the ward process", "error", err.Error())
	}
	m, prof, err := loadManifest(c, log)
	if err != nil {
		return err
	}
	set, fetcher := openStores(m, prof, lg, c.Bool("exec"))
	defer set.Close()
	code, err := supervise.Run(context.Background(), supervise.Options{
		Manifest:        m,
		Profile:         prof,
		Argv:            argv,
		Exec:            c.Bool("exec"),
		ExecFlag:        boolFlagSource(c, "exec"),
		MaskFlag:        boolFlagSource(c, "mask"),
		Signals:         sigs,
		SignalChildOnly: c.Bool("signal-child-only"),
		Stdin:           stdio.Stdin,
		Stdout:          stdio.Stdout,
		Stderr:          stdio.Stderr,
		Environ:         os.Environ(),
		Getenv:          os.Getenv,
		Log:             log,
		FlushLog:        stdio.flushLog,
		Fetcher:         fetcher,
		Registry:        stores.Registry,
		// The child gets an env:// value under the name the manifest
		// gives it, not also under the source's own name (a CI secret
		// stays where the manifest puts it), unless the manifest declares
		// that name too.
		Credentials: append(set.CredentialEnv(), env.Sources(m.Refs(prof))...),
		Spare:       set.HelperPids,
		// The run's summary belongs with the audit lines: info in JSON,
		// debug on a terminal, where a run stays quiet.
		Resolved: func(v map[string]resolve.Value, d time.Duration) { logResolved(lg.audit, v, d) },
		Rotate:   m.Rotation.OnChange != "",
		Mask:     c.Bool("mask"),
		NoMask:   c.IsSet("mask") && !c.Bool("mask"),
		CIMask:   c.Bool("ci-mask"),
	})
	if err != nil {
		return err
	}
	return exitCode(code)
}
