package launcher

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestFlagsFirst(t *testing.T) {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "manifest", Aliases: []string{"m"}},
		&cli.StringSliceFlag{Name: "secret"},
		&cli.IntFlag{Name: "to"},
		&cli.BoolFlag{Name: "force"},
		&cli.BoolFlag{Name: "json"},
	}
	tests := []struct {
		name string
		args string
		want string
	}{
		{"nothing", "", ""},
		{"flags first already", "--force .env", "--force .env"},
		{"a bool flag after the file", ".env --force", "--force .env"},
		{"a value flag after the file", ".env -m x.yaml", "-m x.yaml .env"},
		{"a value that looks like a path", "a -m b c", "-m b a c"},
		{"name=value stands alone", "a --manifest=x.yaml b", "--manifest=x.yaml a b"},
		{"a bool with =", "a --force=false", "--force=false a"},
		{"order kept within each", "a --secret X b --secret Y --json", "--secret X --secret Y --json a b"},
		{"a value that starts with a dash", "a --to -1", "--to -1 a"},
		{"an int flag", "NAME --to 3", "--to 3 NAME"},
		{"an unknown flag moves alone", "a --nope b", "--nope a b"},
		{"a value flag at the end", "a -m", "-m a"},
		{"a lone dash is positional", "- --json", "--json -"},
		{"-- ends the flags", "a --json -- --force b", "--json -- a --force b"},
		{"-- with no positional before", "--json -- -x", "--json -- -x"},
		{"-- first", "-- --force", "-- --force"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := flagsFirst(strings.Fields(tt.args), flags)
			if !slices.Equal(got, strings.Fields(tt.want)) {
				t.Errorf("flagsFirst(%q) = %q, want %q", tt.args, got, strings.Fields(tt.want))
			}
		})
	}
}

func TestWithFlagsFirst(t *testing.T) {
	app := NewApp(IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	tests := []struct {
		name string
		args string
		want string
	}{
		{"import", "ward import .env --force", "ward import --force .env"},
		{"a subcommand", "ward local set NAME --allow-empty", "ward local set --allow-empty NAME"},
		{"scan", "ward scan . --json -m w.yaml", "ward scan --json -m w.yaml ."},
		{"run keeps the child's argv", "ward run prog --force", "ward run prog --force"},
		{"run after --", "ward run -p dev -- prog -m x", "ward run -p dev -- prog -m x"},
		{"an unknown command", "ward bogus a --force", "ward bogus a --force"},
		{"ward's own flags", "ward --help", "ward --help"},
		{"the completion query", "ward __complete import .env --f", "ward __complete import .env --f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := withFlagsFirst(app, strings.Fields(tt.args))
			if !slices.Equal(got, strings.Fields(tt.want)) {
				t.Errorf("withFlagsFirst(%q) = %q, want %q", tt.args, got, strings.Fields(tt.want))
			}
		})
	}
}
