package launcher

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/wardsecrets/ward/launcher/failure"
	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/launcher/plan"
	"github.com/wardsecrets/ward/launcher/scan"
	"github.com/wardsecrets/ward/resolve"
)

func scanCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:      "scan",
		Usage:     "look for the manifest's actual secret values (and their encodings) in files and git history",
		ArgsUsage: "[PATHS...]",
		Description: `Resolves the manifest, then searches the working tree (respecting .gitignore,
skipping binary files unless a secret is binary), or with --staged what is staged for
the next commit (binary files too), and, with --git-history, every blob, commit
message and tag message reachable in the repository's history, for the values and
their base64, URL and JSON forms. Reports file:line (or commit:path:line) and the
variable's name, never the value. A secret that cannot be resolved (a store down, a
colleague's local secret) is a warning and the others are searched for. Exit 1 on a
find, 0 on none, 125 on an error or when no secret could be resolved: usable as a
pre-commit hook (--staged) or a CI step (--git-history).

Example:
   ward scan
   ward scan --staged                       # in .git/hooks/pre-commit
   ward scan --git-history --json .`,
		Flags: append([]cli.Flag{nearestManifestFlag(), profileFlag()}, append(logFlags(),
			&cli.BoolFlag{Name: "staged", Usage: "search what is staged for the next commit (the index), not the working tree"},
			&cli.BoolFlag{Name: "git-history", Usage: "also search every blob, commit message and tag message reachable from any ref"},
			&cli.BoolFlag{Name: "no-ignore", Usage: "also search files .gitignore excludes"},
			&cli.BoolFlag{Name: "binary", Usage: "also search binary files"},
			&cli.BoolFlag{Name: "json", Usage: "print the findings as JSON"},
		)...),
		Action: func(c *cli.Context) error { return cmdScan(c, stdio) },
	}
}

func cmdScan(c *cli.Context, stdio IO) error {
	// It holds every value it looks for (see hardenReader).
	hardenReader()
	lg, err := newLogs(c, stdio.Stderr, nil)
	if err != nil {
		return err
	}
	log := lg.log
	m, prof, err := loadManifest(c, log)
	if err != nil {
		return err
	}
	values, failed := resolveAvailable(lg, m, prof)
	// One warning per reason, as the error report has one line: a store
	// that cannot log in would otherwise warn for each of its references
	// at every commit the hook checks.
	for _, e := range (&resolve.FetchError{Failures: failed}).Unwrap() {
		var hint []any
		if l := failure.Lines(e); len(l) == 1 && l[0].Hint != "" {
			hint = []any{"hint", l[0].Hint}
		}
		if f, ok := e.(*resolve.VarError); ok {
			log.Warn("cannot resolve a secret, so it is not searched for", append([]any{"name", f.Name, "ref", f.Ref.Raw, "error", f.Err.Error()}, hint...)...)
		} else {
			log.Warn("cannot resolve secrets, so they are not searched for", append([]any{"error", e.Error()}, hint...)...)
		}
	}
	if len(failed) > 0 && len(values) == 0 {
		hint := "no secret could be resolved, so nothing was searched for"
		if prof == nil && len(m.Profiles) > 0 {
			// Production references at the top and a developer's in a
			// profile: the hook of the README, without -p, resolves none
			// on a laptop and stops every commit.
			hint += "; " + m.ProfilesHint() + ": name the one whose stores you can reach with -p NAME (in the pre-commit hook too: ward scan --staged -p NAME)"
		}
		return failure.New(&resolve.FetchError{Failures: failed}, hint)
	}
	secrets, skipped, err := scanSecrets(m, prof, values, failed)
	if err != nil {
		return failure.New(err, "")
	}
	for _, name := range skipped {
		log.Warn("a template over a secret that cannot be resolved is not searched for", "name", name)
	}
	short := scan.Skipped(secrets)
	for _, name := range short {
		log.Warn("a value shorter than 4 bytes is not searched for", "name", name)
	}
	if len(secrets) == len(short) {
		// Exit 0 all the same, as with nothing found: but said, as a
		// hook that searches for nothing passed every commit in silence.
		log.Warn("no secret value to search for, so nothing was searched: the manifest has no secret of 4 bytes or more (a {value: ...} or mask: false is none)")
	}
	findings, err := scan.Scan(context.Background(), secrets, scan.Options{
		Paths: c.Args().Slice(), NoIgnore: c.Bool("no-ignore"), Binary: c.Bool("binary"),
		Staged: c.Bool("staged"), GitHistory: c.Bool("git-history"),
		Unreadable: func(path string, err error) {
			log.Warn("cannot read a file or directory, so it is not searched", "path", path, "error", err.Error())
		},
		Warn: log.Warn,
	})
	if errors.Is(err, scan.ErrGitMissing) {
		return failure.New(err, "install git (apk add git, apt-get install git), or leave out --git-history and --staged, which read the repository with it")
	}
	if errors.Is(err, scan.ErrNoRepository) {
		return failure.New(err, "run it inside the repository (cd to its work tree, or set GIT_DIR for a bare one); without --git-history, ward scan searches the files here")
	}
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
	const rotate = "rotate those secrets, then remove them (see README: Dealing with a leaked secret)"
	switch {
	case c.String("log-format") == "json":
		// Under --log-format json, as for ward's errors, every line on
		// stderr is a record (the summary was a plain line between them).
		log.Error(plural(len(findings), "place holds", "places hold")+" a secret value", "places", len(findings), "hint", rotate)
	case !c.Bool("json"):
		fmt.Fprintf(stdio.Stderr, "ward: %s a secret value: %s\n", plural(len(findings), "place holds", "places hold"), rotate)
	}
	return exitCode(1)
}

// scanSecrets are the values scan searches for: every secret resolved,
// and every template whose inputs all were. skipped names the templates
// left out because one of their inputs failed.
func scanSecrets(m *manifest.Manifest, prof *manifest.Profile, values map[string]resolve.Value, failed []resolve.VarError) (secrets []scan.Secret, skipped []string, err error) {
	if len(failed) == 0 {
		p, err := plan.Build(m, prof, values, plan.Input{})
		if err != nil {
			return nil, nil, err
		}
		return p.Masked(), nil, nil
	}
	// Build the plan with empty stand-ins for what failed, then drop them
	// and every template that read one.
	all := make(map[string]resolve.Value, len(values)+len(failed))
	for k, v := range values {
		all[k] = v
	}
	missing := map[string]bool{}
	for _, f := range failed {
		all[f.Name] = resolve.Value{Name: f.Name, Ref: f.Ref}
		missing[f.Name] = true
	}
	p, err := plan.Build(m, prof, all, plan.Input{})
	if err != nil {
		return nil, nil, err
	}
	readsMissing := func(t *manifest.Template) bool {
		return t != nil && slices.ContainsFunc(t.Deps, func(d string) bool { return missing[d] })
	}
	env := m.EnvFor(prof)
	// Templates may read templates: repeat until nothing more is dropped.
	for grew := true; grew; {
		grew = false
		for _, v := range env {
			if !missing[v.Name] && readsMissing(v.Template) {
				missing[v.Name], grew = true, true
				skipped = append(skipped, v.Name)
			}
		}
	}
	for _, f := range m.FilesFor(prof) {
		if readsMissing(f.Template) {
			missing[f.Key()] = true
			skipped = append(skipped, f.Key())
		}
	}
	for _, s := range p.Masked() {
		if !missing[s.Name] {
			secrets = append(secrets, s)
		}
	}
	return secrets, skipped, nil
}

// plural picks the singular or plural phrase for n, with n before it.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
