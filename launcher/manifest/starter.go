package manifest

import (
	"strings"

	"github.com/wardsecrets/ward/resolve/stores"
)

// Starter returns the manifest `ward init` writes for app: a schema
// modeline, and a commented example of every reference scheme ward knows
// (from the registry), a template and a profile. Nothing in it is live:
// the app gets no variable it did not ask for. With uncomment, the
// examples are live, which the tests use to check they are all valid
// together.
func Starter(app string, uncomment bool) string {
	var b strings.Builder
	mark := "# "
	if uncomment {
		mark = ""
	}
	// A commented example keeps its indentation before the mark, so
	// uncommenting it is deleting "# ".
	line := func(s string) {
		rest := strings.TrimLeft(s, " ")
		b.WriteString(s[:len(s)-len(rest)] + mark + rest + "\n")
	}
	b.WriteString(SchemaModeline + "\n")
	b.WriteString(`#
# The secrets ` + app + ` needs, as references to where they live: this file
# holds no values, so it is safe to commit. Check it with: ward check
# Run with: ward run -- YOUR_PROGRAM
# Reference: https://github.com/wardsecrets/ward#the-manifest
version: 1
env:
  # Uncomment and edit the lines you need. A plain value, not a secret:
`)
	line("  LOG_LEVEL: {value: info}")
	reg := stores.Registry
	for _, name := range reg.SchemeNames() {
		s := reg.Scheme(name)
		b.WriteString("  # " + upperFirst(s.Summary) + ":\n")
		line("  " + s.ExampleVar + ": " + strings.ReplaceAll(s.Example, "myapp", app))
	}
	b.WriteString("  # A value composed from other variables (it counts as a secret):\n")
	line("  DATABASE_DSN:")
	line(`    template: "postgres://app:{{ .DB_PASSWORD | urlquery }}@localhost:5432/app"`)
	b.WriteString("# Profiles (ward run -p ci -- ...) replace or add variables:\n")
	line("profiles:")
	line("  ci:")
	line("    env:")
	line("      API_TOKEN: env://API_TOKEN")
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
