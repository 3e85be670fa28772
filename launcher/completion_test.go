package launcher

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCompletions(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("WARD_MANIFEST", "")
	manifest := "version: 1\nenv:\n  A: {value: x}\nprofiles:\n  dev:\n    env:\n      A: {value: y}\n  ci:\n    env:\n      A: {value: z}\n"
	other := "version: 1\nenv:\n  A: {value: x}\nprofiles:\n  staging:\n    env:\n      A: {value: y}\n"
	for name, body := range map[string]string{"ward.yaml": manifest, "other.yaml": other} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	app := NewApp(IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	tests := []struct {
		name  string
		words string // the last one is being completed; _ is an empty word
		want  []string
		not   []string
	}{
		{"commands", "_", []string{"run", "check", "local", "scan", "help"}, []string{"__complete", "h"}},
		{"a command's start", "lo", []string{"local"}, []string{"run"}},
		{"a group's commands", "local _", []string{"set", "get", "list", "history", "rollback", "rm"}, []string{"help"}},
		{"flags", "run --", []string{"--manifest", "--profile", "--log-level", "--exec"}, []string{"-m", "--resolve"}},
		{"short and long flags", "run -", []string{"-m", "--manifest", "-p"}, nil},
		{"a flag given once is not offered again", "check --resolve --", []string{"--manifest"}, []string{"--resolve"}},
		{"a slice flag repeats", "import --secret A --s", []string{"--secret"}, nil},
		{"profiles", "run -p _", []string{"ci", "dev"}, []string{"--profile", "staging"}},
		{"profiles, long flag", "check --profile d", []string{"dev"}, []string{"ci"}},
		{"profiles of the manifest -m names", "run -m other.yaml -p _", []string{"staging"}, []string{"dev"}},
		{"profiles of --manifest=", "run --manifest=other.yaml -p _", []string{"staging"}, []string{"dev"}},
		{"the manifest is a file", "run -m _", []string{completeFiles}, nil},
		{"log levels", "run --log-level _", []string{"debug", "info", "warn", "error"}, nil},
		{"log formats", "scan --log-format j", []string{"json"}, []string{"text"}},
		{"run's program", "run _", []string{completePrograms}, []string{"help", "h"}},
		{"run's program after flags", "run -p dev --mask _", []string{completePrograms}, nil},
		{"the program after --", "run -- he", []string{completePrograms}, nil},
		{"the program's arguments", "run -- prog _", []string{completeFiles}, nil},
		{"the program's flags are its own", "run -- prog --m", []string{completeFiles}, []string{"--manifest", "--mask"}},
		{"without --, too", "run prog --m", []string{completeFiles}, []string{"--mask"}},
		{"scan paths", "scan --json _", []string{completeFiles}, nil},
		{"import's file", "import _", []string{completeFiles}, nil},
		{"shells", "completion _", []string{"bash", "zsh", "fish"}, nil},
		{"help", "help _", []string{"run", "local"}, []string{"help"}},
		{"help of a group", "help local _", []string{"set", "rm"}, nil},
		{"nothing after a leaf", "version _", nil, []string{"run"}},
		{"an unknown command", "bogus _", nil, []string{"run"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			words := strings.Fields(strings.ReplaceAll(tt.words, "_", " _ "))
			for i, w := range words {
				if w == "_" {
					words[i] = ""
				}
			}
			var got []string
			for _, line := range completions(app, words) {
				name, _, _ := strings.Cut(line, "\t")
				got = append(got, name)
			}
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("completing %q: got %q, want %q among them", tt.words, got, w)
				}
			}
			for _, w := range tt.not {
				if slices.Contains(got, w) {
					t.Errorf("completing %q: got %q, want no %q", tt.words, got, w)
				}
			}
			if tt.want == nil && len(got) > 0 {
				t.Errorf("completing %q: got %q, want nothing", tt.words, got)
			}
		})
	}
}
