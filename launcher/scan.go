package launcher

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/wardsecrets/ward/launcher/failure"
	"github.com/wardsecrets/ward/launcher/plan"
	"github.com/wardsecrets/ward/launcher/scan"
)

func scanCommand(stdio IO) *cli.Command {
	return &cli.Command{
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
		Flags: append([]cli.Flag{manifestFlag(), profileFlag()}, append(logFlags(),
			&cli.BoolFlag{Name: "git-history", Usage: "also search every blob reachable from any ref"},
			&cli.BoolFlag{Name: "no-ignore", Usage: "also search files .gitignore excludes"},
			&cli.BoolFlag{Name: "binary", Usage: "also search binary files"},
			&cli.BoolFlag{Name: "json", Usage: "print the findings as JSON"},
		)...),
		Action: func(c *cli.Context) error { return cmdScan(c, stdio) },
	}
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
	p, err := plan.Build(m, prof, values, plan.Input{})
	if err != nil {
		return failure.New(err, "")
	}
	for _, name := range scan.Skipped(p.Secrets) {
		log.Warn("a value shorter than 4 bytes is not searched for", "name", name)
	}
	findings, err := scan.Scan(context.Background(), p.Secrets, scan.Options{
		Paths: c.Args().Slice(), NoIgnore: c.Bool("no-ignore"), Binary: c.Bool("binary"), GitHistory: c.Bool("git-history"),
	})
	if err != nil {
		return failure.New(err, "")
	}
	if c.Bool("json") {
		err = scan.WriteJSON(stdio.Stdout, findings)
	} else {
		err = scan.WriteText(stdio.Stdout, findings)
	}
	if err != nil {
		return failure.New(err, "")
	}
	if len(findings) == 0 {
		return nil
	}
	if !c.Bool("json") {
		fmt.Fprintf(stdio.Stderr, "ward: %s a secret value: rotate those secrets, then remove them (see README: Dealing with a leaked secret)\n", plural(len(findings), "place holds", "places hold"))
	}
	return exitCode(1)
}

// plural picks the singular or plural phrase for n, with n before it.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
