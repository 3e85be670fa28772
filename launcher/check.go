package launcher

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/wardsecrets/ward/launcher/failure"
	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/launcher/plan"

	"github.com/wardsecrets/ward/resolve"
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
		fmt.Fprintf(c.App.Writer, "%s: ok: %s, %s, %s\n", manifest.QuotePath(m.File), plural(len(m.Env), "variable", "variables"), plural(len(m.Files), "file", "files"), plural(len(m.Profiles), "profile", "profiles"))
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
