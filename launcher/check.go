package launcher

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/wardsecrets/ward/launcher/failure"
	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/launcher/plan"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/remote"
	"github.com/wardsecrets/ward/resolve/stores"
)

func checkCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "validate the manifest offline, or with --resolve fetch every secret and show where it came from",
		Description: `Validates the manifest: syntax, fields, references, templates, profiles.
Errors name file:line:col and the field. With --resolve, fetches every secret and prints
the variable, store, reference and version, never a value.

Example:
   ward check -m ward.yaml
   ward check --resolve -p dev`,
		Flags: append([]cli.Flag{nearestManifestFlag(), profileFlag()}, append(logFlags(),
			&cli.BoolFlag{Name: "resolve", Usage: "fetch every secret (values are never shown)"},
		)...),
		Action: func(c *cli.Context) error { return cmdCheck(c, stdio) },
	}
}

func cmdCheck(c *cli.Context, stdio IO) error {
	// --resolve holds every value, as ward run does (see hardenReader).
	hardenReader()
	lg, err := newLogs(c, stdio.Stderr, nil)
	if err != nil {
		return err
	}
	if c.NArg() > 0 {
		// `ward check ward.prod.yaml` checked the nearest ward.yaml and
		// passed, whatever was in the file named.
		return failure.New(fmt.Errorf("want no arguments, got %d (%s)", c.NArg(), c.Args().First()), "name the manifest with -m: ward check -m "+c.Args().First())
	}
	m, prof, err := loadManifest(c, lg.log)
	if err != nil {
		return err
	}
	if !c.Bool("resolve") {
		if err := checkHelpers(m, prof, lg.log); err != nil {
			return err
		}
		// What a run with the profile gets: the base's counts under -p
		// said less than the run delivers.
		under := ""
		if prof != nil {
			under = " with profile " + manifest.QuoteName(c.String("profile"))
		}
		fmt.Fprintf(c.App.Writer, "%s: ok: %s, %s%s, %s\n", manifest.QuotePath(m.File), plural(len(m.EnvFor(prof)), "variable", "variables"), plural(len(m.FilesFor(prof)), "file", "files"), under, plural(len(m.Profiles), "profile", "profiles"))
		return nil
	}
	values, err := resolveOnce(lg, m, prof)
	if err != nil {
		return err
	}
	// What ward run would refuse over these values fails here too: a
	// template failing over what it reads, a file under encoding: base64
	// that is not, a variable that holds a NUL byte.
	p, err := plan.Build(m, prof, values, plan.Input{})
	if err != nil {
		return err
	}
	if err := plan.CheckDeliverable(p.Env, nil); err != nil {
		return failure.New(err, plan.UndeliverableHint)
	}
	// Columns sized to their widest cell: Azure's version ids are 32
	// characters, a file's name can be long.
	w := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
	row := func(name, store, version, ref string) {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", name, store, version, ref)
	}
	row("NAME", "STORE", "VERSION", "REFERENCE")
	for _, v := range m.EnvFor(prof) {
		switch {
		case v.Ref != nil:
			val := values[v.Name]
			row(v.Name, v.Ref.Scheme, orDash(val.Version), v.Ref.Raw+valueNote(val))
		case v.IsValue:
			row(v.Name, "value", "-", "(plain value)")
		default:
			row(v.Name, "tmpl", "-", "(template over "+strings.Join(v.Template.Deps, ", ")+")")
		}
	}
	for _, f := range m.FilesFor(prof) {
		if f.Ref != nil {
			val := values[f.Key()]
			row("file:"+f.Path, f.Ref.Scheme, orDash(val.Version), f.Ref.Raw+valueNote(val))
		} else {
			row("file:"+f.Path, "tmpl", "-", "(template)")
		}
	}
	if len(m.IdentityFor(prof).Refs()) > 0 {
		rows, err := checkIdentities(lg, m, prof)
		if err != nil {
			return err
		}
		for _, r := range rows {
			row(r.name, r.scheme, "-", r.desc)
		}
	}
	w.Flush()
	fmt.Fprintf(c.App.Writer, "%s resolved\n", plural(len(values), "secret", "secrets"))
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// valueNote is what check --resolve says about a value besides its
// version: when the store says it was written, and its lease.
func valueNote(v resolve.Value) string {
	note := ""
	if !v.Updated.IsZero() {
		note += " (updated " + v.Updated.UTC().Format("2006-01-02T15:04:05Z") + ")"
	}
	if v.Lease != nil {
		note += fmt.Sprintf(" (lease ttl %s)", v.Lease.TTL)
	}
	return note
}

// checkHelpers runs once each store helper the manifest's references
// need, as a run starts it (remote.Probe), so that `RUN ward check` in an
// image's build finds a helper that cannot run there (another machine's,
// one built against a C library the image lacks, one on a noexec mount)
// before the container does. Such a helper fails the check: every run
// would fail. One not installed at all is a warning: the manifest is
// valid, and the machine that checks it (a lint job with ward alone)
// need not be the one that runs it. Without a profile, the helpers of
// every profile are run, as every profile is checked.
func checkHelpers(m *manifest.Manifest, prof *manifest.Profile, log *slog.Logger) error {
	var errs []error
	seen := map[string]bool{}
	schemes := m.Schemes(prof)
	if prof == nil {
		// As the check itself, every profile's (a prod profile's
		// awssm:// beside the base's local://).
		for _, p := range m.Profiles {
			schemes = append(schemes, m.Schemes(p)...)
		}
		slices.Sort(schemes)
		schemes = slices.Compact(schemes)
	}
	// Each helper once, named with every scheme of it the manifest uses
	// (awssm:// and ssm://: it named the first alone).
	var helpers []string
	uses := map[string][]string{}
	for _, scheme := range schemes {
		k := stores.Registry.KindOf(scheme)
		if k == nil || k.Helper() == "" {
			continue
		}
		if !seen[k.Helper()] {
			seen[k.Helper()] = true
			helpers = append(helpers, k.Helper())
		}
		uses[k.Helper()] = append(uses[k.Helper()], scheme+"://")
	}
	for _, helper := range helpers {
		refs := strings.Join(uses[helper], " and ")
		_, err := remote.Probe(helper, Version())
		var missing *remote.MissingError
		switch {
		case err == nil:
		case errors.As(err, &missing) && missing.Absent():
			log.Warn(helper+" is not installed here: ward run fails on this manifest's "+refs+" references where it is not", "hint", missing.Hint())
		default:
			errs = append(errs, fmt.Errorf("%s references: %w", refs, err))
		}
	}
	if len(errs) > 0 {
		return failure.New(errors.Join(errs...), "")
	}
	return nil
}
