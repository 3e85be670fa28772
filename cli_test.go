package main

// ward's command line as scripts and people call it: exit codes, what
// goes to stdout and stderr, flags and their WARD_* variables.

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestEmptyWardVariablesCountAsUnset: a WARD_* variable that is set but
// empty (a CI variable not defined: `WARD_CI_MASK: ${{
// vars.WARD_CI_MASK }}`) counts as unset, as the README says of every
// one. urfave/cli read WARD_CI_MASK= as false, and turned the GitHub
// Actions masking off: the values reached the log in clear; and
// WARD_MANIFEST= as a manifest named "": ward init and ward import failed
// with "write : rename ./...123.tmp : no such file or directory".
func TestEmptyWardVariablesCountAsUnset(t *testing.T) {
	t.Run("WARD_CI_MASK", func(t *testing.T) {
		w := newWardEnv(t)
		v := canary("cimask")
		w.set("ci/token", v)
		m := w.manifest("version: 1\nenv:\n  TOKEN: local://ci/token\n")
		cmd := w.command("run", "-m", m, "--", "helper", "exit", "0")
		cmd.Env = append(cmd.Env, "GITHUB_ACTIONS=true", "WARD_CI_MASK=")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if code := exitCode(t, err); code != 0 {
			t.Fatalf("got exit code %d, want 0", code)
		}
		lines := strings.Split(string(out)+stderr.String(), "\n")
		if !slices.Contains(lines, "::add-mask::"+v) {
			t.Errorf("no ::add-mask:: line for TOKEN with WARD_CI_MASK empty: the runner's masking was turned off")
		}
	})
	for _, args := range [][]string{{"init"}, {"import"}} {
		t.Run("WARD_MANIFEST "+args[0], func(t *testing.T) {
			w := newWardEnv(t)
			if err := os.WriteFile(filepath.Join(w.dir, ".env"), []byte("PORT=8080\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := w.command(args...)
			cmd.Env = append(cmd.Env, "WARD_MANIFEST=")
			out, err := cmd.CombinedOutput()
			if code := exitCode(t, err); code != 0 {
				t.Fatalf("ward %s with WARD_MANIFEST empty: exit code %d, want 0\n%s", args[0], code, out)
			}
			if _, err := os.Stat(filepath.Join(w.dir, "ward.yaml")); err != nil {
				t.Errorf("ward %s with WARD_MANIFEST empty wrote no ward.yaml: %v", args[0], err)
			}
		})
	}
}

// TestEmptyManifestFlag: `ward run -m "$MANIFEST" -- deploy` with MANIFEST
// unset in a script is refused, as -p "" is: run, check and scan read
// the nearest ward.yaml instead (here the one beside them, whose value
// the program then got), and init and import failed with "write :
// rename ./...123.tmp : no such file or directory".
func TestEmptyManifestFlag(t *testing.T) {
	for _, args := range [][]string{
		{"run", "-m", "", "--", "helper", "exit", "0"},
		{"run", "--manifest=", "--", "helper", "exit", "0"},
		{"check", "-m", ""},
		{"scan", "-m", ""},
		{"init", "-m", ""},
		{"import", "--manifest", ""},
	} {
		t.Run(strings.Join(args[:3], " "), func(t *testing.T) {
			w := newWardEnv(t)
			if err := os.WriteFile(filepath.Join(w.dir, "ward.yaml"), []byte("version: 1\nenv:\n  A: {value: dev}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(w.dir, ".env"), []byte("PORT=8080\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := w.run(args...)
			if code != 125 || !strings.Contains(stderr, "the -m flag names no manifest: it is empty") {
				t.Errorf("ward %s: exit code %d, want 125 with \"the -m flag names no manifest\"\n%s", strings.Join(args, " "), code, stderr)
			}
		})
	}
}
