package launcher

import (
	"slices"
	"testing"

	"github.com/urfave/cli/v2"
)

// Every flag ward parses answers Names() without work: urfave/cli calls it
// for every flag each time it looks one up, and its own version runs a
// regular expression per name and allocates.
func TestFlagNamesMadeOnce(t *testing.T) {
	app := NewApp(IO{})
	check := func(where string, flags []cli.Flag) {
		for _, f := range append(slices.Clone(flags), cli.HelpFlag, cli.VersionFlag) {
			names := f.Names()
			if len(names) == 0 || names[0] == "" {
				t.Errorf("%s: a flag has no name: %#v", where, f)
				continue
			}
			if allocs := testing.AllocsPerRun(10, func() { f.Names() }); allocs != 0 {
				t.Errorf("%s --%s: Names() allocates %.0f times a call: its names are worked out on every lookup", where, names[0], allocs)
			}
		}
	}
	check("ward", app.Flags)
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			check(path+" "+c.Name, c.Flags)
			walk(path+" "+c.Name, c.Subcommands)
		}
	}
	walk("ward", app.Commands)
}

func TestCutNames(t *testing.T) {
	for _, tc := range []struct {
		name    string
		aliases []string
		want    []string
	}{
		{"manifest", []string{"m"}, []string{"manifest", "m"}},
		{"log-level", nil, []string{"log-level"}},
		// urfave/cli v1's "name, alias" form is cut at the comma, as
		// cli.FlagNames does.
		{"force, f", []string{"y z"}, []string{"force", "y"}},
	} {
		got := cutNames(tc.name, tc.aliases)
		if !slices.Equal(got, tc.want) {
			t.Errorf("cutNames(%q, %q) = %q, want %q", tc.name, tc.aliases, got, tc.want)
		}
		if want := cli.FlagNames(tc.name, tc.aliases); !slices.Equal(got, want) {
			t.Errorf("cutNames(%q, %q) = %q, cli.FlagNames says %q", tc.name, tc.aliases, got, want)
		}
	}
}
