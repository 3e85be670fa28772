package main

// ward's command line as scripts and people call it: exit codes, what
// goes to stdout and stderr, flags and their WARD_* variables.

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
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

// TestImportEmptyProfileFlag: `ward import --profile "$ENV"` with ENV
// unset is refused, as -p "" is, and changes nothing: it imported into
// the manifest's env, and with --force replaced the references there
// (production's) with the .env's local ones.
func TestImportEmptyProfileFlag(t *testing.T) {
	w := newWardEnv(t)
	const manifest = "version: 1\nenv:\n  API_TOKEN: vault://secret/prod/api#token\n"
	m := filepath.Join(w.dir, "ward.yaml")
	if err := os.WriteFile(m, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, ".env"), []byte("API_TOKEN="+canary("emptyprof")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"import", "--profile", ""}, {"import", "--force", "--profile="}} {
		code, _, stderr := w.run(args...)
		if code != 125 || !strings.Contains(stderr, "--profile names no profile: it is empty") {
			t.Errorf("ward %s: exit code %d, want 125 with \"--profile names no profile\"\n%s", strings.Join(args, " "), code, stderr)
		}
		if b, _ := os.ReadFile(m); string(b) != manifest {
			t.Errorf("ward %s changed the manifest", strings.Join(args, " "))
		}
	}
	if code, stdout, _ := w.run("local", "list"); code != 0 || stdout != "" {
		t.Errorf("the store is not empty after the refused imports (exit %d): %q", code, stdout)
	}
}

// TestOutputToAFullDisk: `ward local get NAME > file` (and what the other
// commands print for scripts) on a full file system, here /dev/full,
// whose every write fails with ENOSPC as a full disk's does. ward ends
// with 125 and says the output is incomplete; it exited 0, and the script
// went on with an empty file for the secret.
func TestOutputToAFullDisk(t *testing.T) {
	w := newWardEnv(t)
	v := canary("full")
	w.set("app/token", v)
	m := w.manifest("version: 1\nenv:\n  TOKEN: local://app/token\n")
	for _, args := range [][]string{
		{"local", "get", "app/token"},
		{"local", "list"},
		{"local", "history", "app/token"},
		{"check", "-m", m},
		{"check", "--resolve", "-m", m},
		{"version"},
		{"help", "run"},
		{"completion", "bash"},
	} {
		full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		cmd := w.command(args...)
		cmd.Stdout = full
		var stderr strings.Builder
		cmd.Stderr = &stderr
		code := exitCode(t, cmd.Run())
		full.Close()
		if strings.Contains(stderr.String(), v) {
			t.Errorf("ward %s: the value is in ward's stderr", strings.Join(args, " "))
		}
		if code != 125 || !strings.Contains(stderr.String(), "no space left on device") {
			t.Errorf("ward %s > /dev/full: exit code %d, want 125 naming the failed write\n%s", strings.Join(args, " "), code, stderr.String())
		}
		// check logs JSON here (WARD_LOG_FORMAT=json): its errors are
		// JSON records, this one too.
		if args[0] == "check" && !strings.Contains(stderr.String(), `{"time":`) {
			t.Errorf("ward %s > /dev/full with WARD_LOG_FORMAT=json: the error is not a JSON record\n%s", strings.Join(args, " "), stderr.String())
		}
	}
}

// TestMaskedOutputCutOff: under --mask the child writes to ward's pipe,
// and ward writes to the output; when that write fails for another
// reason than a reader gone (a full disk, here /dev/full; the file-size
// limit), the child, whose own writes went through, exited 0, and so did
// ward: `ward run --mask -- gen-config > out.yaml` on a full disk left
// the file cut short for a script that went on. ward exits 125, whatever
// the child's status, and says why. A reader gone (a closed pipe, `|
// head`) is no cut: the child gets EPIPE, and its status is ward's.
func TestMaskedOutputCutOff(t *testing.T) {
	w := newWardEnv(t)
	v := canary("cut")
	w.set("app/token", v)
	m := w.manifest("version: 1\nenv:\n  TOKEN: local://app/token\n")
	run := func(stdout *os.File, script string) (int, string) {
		t.Helper()
		cmd := w.command("run", "--mask", "-m", m, "--", "sh", "-c", script)
		cmd.Stdout = stdout
		var stderr strings.Builder
		cmd.Stderr = &stderr
		code := exitCode(t, cmd.Run())
		if strings.Contains(stderr.String(), v) {
			t.Errorf("the value is in ward's stderr")
		}
		return code, stderr.String()
	}
	for _, status := range []int{0, 3} {
		full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		code, stderr := run(full, fmt.Sprintf(`echo "TOKEN=$TOKEN"; exit %d`, status))
		full.Close()
		if code != 125 || !strings.Contains(stderr, "no space left on device") || !strings.Contains(stderr, "cut off") || !strings.Contains(stderr, fmt.Sprintf("the child's status: %d", status)) {
			t.Errorf("ward run --mask -- (exit %d) > /dev/full: exit code %d, want 125 saying the output was cut off and the child's status\n%s", status, code, stderr)
		}
	}
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	code, stderr := run(wr, "while :; do echo TOKEN=$TOKEN; done")
	wr.Close()
	if code != 128+int(syscall.SIGPIPE) || strings.Contains(stderr, "cut off") {
		t.Errorf("ward run --mask -- (writing for ever) into a pipe nobody reads: exit code %d, want %d (the child's SIGPIPE) and no word of a cut\n%s", code, 128+int(syscall.SIGPIPE), stderr)
	}
}

// TestTypos: a flag or command typed with a typo, and a command's flag
// typed before the command's name. The error names the flag as it was
// typed, and the hint the flag or command meant, or where the flag goes.
// It said "flag provided but not defined: -maks" (for --maks) with "see:
// ward run --help", and for `ward -m ward.yaml run` "see: ward --help", a
// page that has no -m; an unknown command's hint listed the commands.
func TestTypos(t *testing.T) {
	w := newWardEnv(t)
	// ward's lines as a person reads them (newWardEnv logs JSON).
	w.env = append(w.env, "WARD_LOG_FORMAT=text")
	tests := []struct {
		args        []string
		error, hint string
	}{
		{[]string{"run", "--maks", "--", "helper", "exit", "0"}, "unknown flag --maks", "did you mean --mask? (see: ward run --help)"},
		{[]string{"check", "--reslove"}, "unknown flag --reslove", "did you mean --resolve? (see: ward check --help)"},
		{[]string{"local", "rollback", "--too", "3", "a/b"}, "unknown flag --too", "did you mean --to? (see: ward local rollback --help)"},
		{[]string{"run", "-x", "--", "helper", "exit", "0"}, "unknown flag -x", "see: ward run --help"},
		{[]string{"run", "-maks", "--", "helper", "exit", "0"}, "unknown flag -maks", "did you mean --mask? (see: ward run --help)"},
		{[]string{"scan", "-weird.txt"}, "unknown flag -weird.txt", "a file whose name starts with a dash goes after --: ward scan -- -weird.txt"},
		{[]string{"-m", "ward.yaml", "run", "--", "helper", "exit", "0"}, "unknown flag -m", "-m is a flag of ward run, check, scan, import, init: write it after the command's name (ward run -m ...)"},
		{[]string{"--mask", "run", "--", "helper", "exit", "0"}, "unknown flag --mask", "--mask is a flag of ward run: write it after the command's name (ward run --mask ...)"},
		{[]string{"local", "--allow-empty", "set", "a/b"}, "unknown flag --allow-empty", "--allow-empty is a flag of ward local set: write it after the command's name (ward local set --allow-empty ...)"},
		{[]string{"import", "-p", "dev"}, "unknown flag -p", "did you mean --profile? (see: ward import --help)"},
		{[]string{"chek"}, `unknown command "chek"`, "did you mean ward check? the commands are run, check, local, scan, version, import, init, completion (see: ward help)"},
		{[]string{"local", "gte", "a/b"}, `unknown command "gte"`, "did you mean ward local get? the commands of ward local are set, get, list, history, rollback, rm (see: ward help local)"},
		{[]string{"xyz"}, `unknown command "xyz"`, "the commands are run, check, local, scan, version, import, init, completion (see: ward help)"},
	}
	for _, tt := range tests {
		code, stdout, stderr := w.run(tt.args...)
		want := "ward: error: " + tt.error + "\nward: hint: " + tt.hint + "\n"
		if code != 125 || stdout != "" || stderr != want {
			t.Errorf("ward %s: exit code %d, stdout %q, stderr:\n%s\nwant 125 and:\n%s", strings.Join(tt.args, " "), code, stdout, stderr, want)
		}
	}
}

// TestCompletionDescriptions: the descriptions zsh and fish show beside
// each flag read as the help page's do. They showed the backquotes that
// mark a value's placeholder for the help page: "the manifest `FILE`",
// "`PREFIX` of the local store names".
func TestCompletionDescriptions(t *testing.T) {
	w := newWardEnv(t)
	for _, args := range [][]string{{"run", "--"}, {"import", "--"}, {"local", "rollback", "--"}, {"check", "-"}} {
		code, stdout, stderr := w.run(append([]string{"__complete"}, args...)...)
		if code != 0 || stderr != "" || !strings.Contains(stdout, "\t") {
			t.Fatalf("ward __complete %s: exit code %d, stdout %q, stderr %q", strings.Join(args, " "), code, stdout, stderr)
		}
		if strings.Contains(stdout, "`") {
			t.Errorf("ward __complete %s: a description holds a backquote:\n%s", strings.Join(args, " "), stdout)
		}
	}
}

// TestArgumentCounts: a command given the wrong number of arguments
// says how to write it. `ward local get` (or rm, history, rollback) with
// no NAME, or two, said "values are read from stdin or a prompt, never
// from the command line", which is about `ward local set NAME VALUE`
// alone; `ward version extra` printed the version and exited 0.
func TestArgumentCounts(t *testing.T) {
	w := newWardEnv(t)
	tests := []struct {
		args []string
		hint string
	}{
		{[]string{"local", "get"}, "write: ward local get NAME"},
		{[]string{"local", "rm", "a/b", "a/c"}, "write: ward local rm NAME"},
		{[]string{"local", "history"}, "write: ward local history NAME"},
		{[]string{"local", "rollback"}, "write: ward local rollback NAME"},
		{[]string{"local", "set", "a/b", "value"}, `values are read from stdin or a prompt, never from the command line: printf %s "$VALUE" | ward local set NAME`},
		{[]string{"version", "extra"}, "write: ward version"},
	}
	for _, tt := range tests {
		code, stdout, stderr := w.run(tt.args...)
		if code != 125 || stdout != "" || !strings.HasSuffix(stderr, "\nward: hint: "+tt.hint+"\n") {
			t.Errorf("ward %s: exit code %d, stdout %q, stderr:\n%swant 125 and the hint %q", strings.Join(tt.args, " "), code, stdout, stderr, tt.hint)
		}
	}
}

// TestExecFromTheEnvironment: WARD_EXEC=true in a CI job's environment
// (README: --exec for one-shot CI commands) and a step whose manifest
// has files, or WARD_MASK=true beside it. The error names the variable
// and the hint says to unset it; both said "--exec" and "drop --exec",
// which the step's command line does not hold.
func TestExecFromTheEnvironment(t *testing.T) {
	w := newWardEnv(t)
	v := canary("exec")
	w.set("app/key", v)
	files := w.manifest("version: 1\nfiles:\n  - path: key.pem\n    ref: local://app/key\n")
	env := w.manifest("version: 1\nenv:\n  KEY: local://app/key\n")
	tests := []struct {
		env         []string
		args        []string
		error, hint string
	}{
		{[]string{"WARD_EXEC=true"}, []string{"run", "-m", files, "--", "helper", "exit", "0"},
			"$WARD_EXEC cannot deliver secret files", "files need ward to stay the parent: unset WARD_EXEC, or deliver these secrets as env"},
		{nil, []string{"run", "--exec", "-m", files, "--", "helper", "exit", "0"},
			"--exec cannot deliver secret files", "files need ward to stay the parent: drop --exec, or deliver these secrets as env"},
		{[]string{"WARD_EXEC=1", "WARD_MASK=true"}, []string{"run", "-m", env, "--", "helper", "exit", "0"},
			"$WARD_EXEC cannot mask the program's output, which $WARD_MASK asks for", "masking needs ward to stay the parent: unset WARD_EXEC (CI runners' own masking still applies)"},
		{[]string{"WARD_MASK=true"}, []string{"run", "--exec", "-m", env, "--", "helper", "exit", "0"},
			"--exec cannot mask the program's output, which $WARD_MASK asks for", "masking needs ward to stay the parent: drop --exec (CI runners' own masking still applies)"},
	}
	for _, tt := range tests {
		cmd := w.command(tt.args...)
		cmd.Env = append(append(cmd.Env, "WARD_LOG_FORMAT=text"), tt.env...)
		out, err := cmd.CombinedOutput()
		if strings.Contains(string(out), v) {
			t.Errorf("ward %s: the value is in ward's output", strings.Join(tt.args[:2], " "))
		}
		want := "ward: error: " + tt.error + "\nward: hint: " + tt.hint + "\n"
		if code := exitCode(t, err); code != 125 || !strings.Contains(string(out), want) {
			t.Errorf("%s ward %s: exit code %d, output:\n%s\nwant 125 and:\n%s", strings.Join(tt.env, " "), strings.Join(tt.args[:2], " "), code, out, want)
		}
	}
}

// TestFlagWithoutValue: a flag that takes a value followed by another
// flag, or by "--" (`ward import -m "$M" --force` with M unset in a
// script). ward stops with 125 and the flag's form; the parser took the
// next word for the value: import wrote a manifest named --force (and
// did not force), run looked for a profile named "--".
func TestFlagWithoutValue(t *testing.T) {
	w := newWardEnv(t)
	// ward's lines as a person reads them (newWardEnv logs JSON).
	w.env = append(w.env, "WARD_LOG_FORMAT=text")
	if err := os.WriteFile(filepath.Join(w.dir, ".env"), []byte("PORT=8080\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, "ward.yaml"), []byte("version: 1\nenv:\n  A: {value: x}\nprofiles:\n  dev:\n    env:\n      A: {value: y}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args        []string
		error, hint string
	}{
		{[]string{"import", "-m", "--force"}, "-m has no value: the word after it is --force", "write: ward import -m FILE --force (a value that starts with a dash goes after =: -m=--force)"},
		{[]string{"run", "-p", "--", "helper", "exit", "0"}, "-p has no value: the word after it is --", "write: ward run -p NAME --"},
		{[]string{"check", "-p", "--resolve"}, "-p has no value: the word after it is --resolve", "write: ward check -p NAME --resolve (a value that starts with a dash goes after =: -p=--resolve)"},
	}
	for _, tt := range tests {
		code, stdout, stderr := w.run(tt.args...)
		want := "ward: error: " + tt.error + "\nward: hint: " + tt.hint + "\n"
		if code != 125 || stdout != "" || stderr != want {
			t.Errorf("ward %s: exit code %d, stdout %q, stderr:\n%s\nwant 125 and:\n%s", strings.Join(tt.args, " "), code, stdout, stderr, want)
		}
	}
	if _, err := os.Stat(filepath.Join(w.dir, "--force")); err == nil {
		t.Errorf("ward import -m --force wrote a manifest named --force")
	}
	// The program's own words are its own.
	if code, _, stderr := w.run("run", "-p", "dev", "--", "helper", "exit", "0", "-p", "--mask"); code != 0 {
		t.Errorf("ward run -p dev -- helper exit 0 -p --mask: exit code %d, want 0\n%s", code, stderr)
	}
}

// TestCompletionThroughAPath: ward typed as a path the shell expands
// (~/go/bin/ward, $GOBIN/ward: `go install` puts it there, maybe not on
// $PATH), then Tab, in bash, zsh and fish. The scripts ran the first word
// as it stands ("~/bin/ward", which is no file), so nothing was completed,
// and fish printed "Unknown command" errors over the command line. They
// now expand a leading ~, and otherwise ask the ward that printed them.
func TestCompletionThroughAPath(t *testing.T) {
	w := newWardEnv(t)
	ward, err := exec.LookPath("ward")
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(w.dir, "home")
	if err := os.MkdirAll(filepath.Join(home, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(ward, filepath.Join(home, "bin", "ward")); err != nil {
		t.Fatal(err)
	}
	zt := filepath.Join(w.dir, "zt.zsh")
	// zsh's completion functions stubbed to print what they are given.
	if err := os.WriteFile(zt, []byte("compdef() { }\n_describe() { print -rl -- \"${(@P)2}\" }\nsource <(ward completion zsh)\nPATH=/usr/bin:/bin\nwords=(\"$@\")\nCURRENT=$#\n_ward\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	shells := []struct {
		shell string
		args  []string
		want  string
	}{
		{"bash", []string{"-c", `source <(ward completion bash); PATH=/usr/bin:/bin; COMP_WORDS=("~/bin/ward" lo); COMP_CWORD=1; _ward_complete; printf "%s\n" "${COMPREPLY[@]}"`}, "local\n"},
		{"bash", []string{"-c", `source <(ward completion bash); PATH=/usr/bin:/bin; COMP_WORDS=('$HOME/bin/ward' ve); COMP_CWORD=1; _ward_complete; printf "%s\n" "${COMPREPLY[@]}"`}, "version\n"},
		{"zsh", []string{zt, "~/bin/ward", "lo"}, "local:manage the embedded encrypted store (local:// references)\n"},
		{"zsh", []string{zt, "$HOME/bin/ward", "ve"}, "version:print ward's version\n"},
		{"fish", []string{"--no-config", "-c", `ward completion fish | source; set PATH /usr/bin /bin; complete -C "~/bin/ward lo"`}, "local\tmanage the embedded encrypted store (local:// references)\n"},
		{"fish", []string{"--no-config", "-c", `ward completion fish | source; set PATH /usr/bin /bin; complete -C '$HOME/bin/ward ve'`}, "version\tprint ward's version\n"},
	}
	for _, sh := range shells {
		path, err := exec.LookPath(sh.shell)
		if err != nil {
			if os.Getenv("WARD_REQUIRE_INTEGRATION") == "1" {
				t.Fatalf("WARD_REQUIRE_INTEGRATION=1 but %s is not installed (scripts/test.sh installs it)", sh.shell)
			}
			t.Logf("%s is not installed: not tried", sh.shell)
			continue
		}
		cmd := exec.Command(path, sh.args...)
		// ward prints the script from $PATH, as `source <(ward
		// completion bash)` does; then $PATH holds no ward, and the command
		// line names it by a path the shell expands.
		cmd.Env = append(w.env, "HOME="+home, "PATH="+filepath.Dir(ward)+":/usr/bin:/bin")
		cmd.Dir = w.dir
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || string(out) != sh.want || stderr.Len() > 0 {
			t.Errorf("%s %s: %v\nstdout %q, want %q\nstderr %q", sh.shell, sh.args[len(sh.args)-1], err, out, sh.want, stderr.String())
		}
	}
}

// TestCompletionProfilesOfAManifestUnderHome: `ward run -m
// ~/proj/ward.yaml -p <Tab>` (the manifest's path as the shell's own
// file completion leaves it, or written $HOME/...) completes the
// manifest's profiles. ward read the word as typed, found no file named
// "~/proj/ward.yaml", and bash fell back to file names.
func TestCompletionProfilesOfAManifestUnderHome(t *testing.T) {
	w := newWardEnv(t)
	home := filepath.Join(w.dir, "home")
	if err := os.MkdirAll(filepath.Join(home, "proj"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "proj", "ward.yaml"), []byte("version: 1\nenv:\n  A: {value: x}\nprofiles:\n  staging:\n    env:\n      A: {value: y}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"~/proj/ward.yaml", "$HOME/proj/ward.yaml"} {
		cmd := exec.Command("bash", "-c", `source <(ward completion bash); COMP_WORDS=(ward run -m "$1" -p ""); COMP_CWORD=5; _ward_complete; printf "%s\n" "${COMPREPLY[@]}"`, "bash", m)
		cmd.Env = append(w.env, "HOME="+home)
		cmd.Dir = w.dir
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != "staging\n" {
			t.Errorf("ward run -m %s -p <Tab>: %v, got %q, want the manifest's profile, staging", m, err, out)
		}
	}
}

// TestGroupHelp: `ward local help WORD`, as `ward help local WORD`
// reads. A word that names no command said urfave/cli's "No help topic
// for 'nope'" with no hint, and `ward local --help` listed urfave/cli's
// own help command ("Shows a list of commands or help for one
// command"), which neither ward help nor the README shows.
func TestGroupHelp(t *testing.T) {
	w := newWardEnv(t)
	code, stdout, stderr := w.run("local", "help", "nope")
	want := "ward: error: unknown command \"nope\"\nward: hint: the commands of ward local are set, get, list, history, rollback, rm (see: ward help local)\n"
	if code != 125 || stdout != "" || stderr != want {
		t.Errorf("ward local help nope: exit code %d, stdout %q, stderr:\n%s\nwant 125 and:\n%s", code, stdout, stderr, want)
	}
	_, viaGroup, _ := w.run("local", "help", "set")
	_, viaHelp, _ := w.run("help", "local", "set")
	if viaGroup != viaHelp || !strings.Contains(viaGroup, "ward local set - ") {
		t.Errorf("ward local help set shows another page than ward help local set:\n%s\n---\n%s", viaGroup, viaHelp)
	}
	if _, page, _ := w.run("local", "--help"); strings.Contains(page, "Shows a list of commands") {
		t.Errorf("ward local --help lists urfave/cli's help command:\n%s", page)
	}
}

// TestBadSwitchValue: a switch given a value it does not take, from its
// variable (WARD_MASK=yes in a CI job's settings) or on the command line.
// The error names the variable or flag as ward names the others
// (`invalid $WARD_LOG_LEVEL "verbose"`), and the hint the values a switch
// takes; urfave/cli's words said neither: `could not parse "yes" as bool
// value from environment variable "WARD_MASK" for flag mask:
// strconv.ParseBool: parsing "yes": invalid syntax`, `invalid boolean
// value "yes" for -mask: parse error`.
func TestBadSwitchValue(t *testing.T) {
	w := newWardEnv(t)
	// ward's lines as a person reads them (newWardEnv logs JSON).
	w.env = append(w.env, "WARD_LOG_FORMAT=text")
	m := w.manifest("version: 1\nenv:\n  A: {value: x}\n")
	tests := []struct {
		env         string
		args        []string
		error, hint string
	}{
		{"WARD_MASK=yes", []string{"run", "-m", m, "--", "helper", "exit", "0"}, `invalid $WARD_MASK "yes"`, "a switch is true or false (or 1, 0); see: ward run --help"},
		{"WARD_CI_MASK=no", []string{"run", "-m", m, "--", "helper", "exit", "0"}, `invalid $WARD_CI_MASK "no"`, "a switch is true or false (or 1, 0); see: ward run --help"},
		{"", []string{"run", "--exec=on", "-m", m, "--", "helper", "exit", "0"}, `invalid --exec "on"`, "a switch is true or false (or 1, 0); see: ward run --help"},
		{"", []string{"check", "--resolve=yes", "-m", m}, `invalid --resolve "yes"`, "a switch is true or false (or 1, 0); see: ward check --help"},
	}
	for _, tt := range tests {
		cmd := w.command(tt.args...)
		if tt.env != "" {
			cmd.Env = append(cmd.Env, tt.env)
		}
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		code := exitCode(t, cmd.Run())
		want := "ward: error: " + tt.error + "\nward: hint: " + tt.hint + "\n"
		if code != 125 || stdout.Len() > 0 || stderr.String() != want {
			t.Errorf("%s ward %s: exit code %d, stdout %q, stderr:\n%s\nwant 125 and:\n%s", tt.env, strings.Join(tt.args[:2], " "), code, stdout.String(), stderr.String(), want)
		}
	}
}

// TestManifestIsADirectory: `ward init -m config` (or ward import) where
// config is a directory, meaning config/ward.yaml. The error says so, with
// the -m that works, as ward check's does; init said "config already
// exists; nothing was written" and to run again with --force, which then
// failed with "rename ./.config.123.tmp config: file exists"; import said
// "read config: read config: is a directory".
func TestManifestIsADirectory(t *testing.T) {
	w := newWardEnv(t)
	if err := os.Mkdir(filepath.Join(w.dir, "config"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, ".env"), []byte("PORT=8080\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := "ward: error: config is a directory, not a manifest\nward: hint: name the manifest's file: -m config/ward.yaml\n"
	for _, args := range [][]string{{"init", "-m", "config"}, {"init", "-m", "config", "--force"}, {"import", "-m", "config"}} {
		code, stdout, stderr := w.run(args...)
		if code != 125 || stdout != "" || stderr != want {
			t.Errorf("ward %s: exit code %d, stdout %q, stderr:\n%s\nwant 125 and:\n%s", strings.Join(args, " "), code, stdout, stderr, want)
		}
	}
	// A folder not made yet, named with its slash: import made it, and
	// then failed to rename its manifest over it ("file exists").
	for _, args := range [][]string{{"init", "-m", "newdir/"}, {"import", "-m", "newdir/"}, {"init", "-m", "newdir/."}} {
		want := "ward: error: " + args[2] + " names a folder (it ends in /, . or ..), not a manifest\nward: hint: name the manifest's file: -m newdir/ward.yaml\n"
		code, stdout, stderr := w.run(args...)
		if code != 125 || stdout != "" || stderr != want {
			t.Errorf("ward %s: exit code %d, stdout %q, stderr:\n%s\nwant 125 and:\n%s", strings.Join(args, " "), code, stdout, stderr, want)
		}
		if _, err := os.Stat(filepath.Join(w.dir, "newdir")); err == nil {
			t.Errorf("ward %s made the folder", args[0])
		}
	}
}

// TestSwitchWithASpacedValue: `ward run --mask true -- deploy`, or the
// README's `--ci-mask=false` written as `--ci-mask false`: a switch takes
// its value after = only. ward refuses with 125 and the form; it took
// "true" for the program: ward ran true, exited 0, and deploy never ran.
// `ward run --exec true`, with nothing after it, still runs true.
func TestSwitchWithASpacedValue(t *testing.T) {
	w := newWardEnv(t)
	// ward's lines as a person reads them (newWardEnv logs JSON).
	w.env = append(w.env, "WARD_LOG_FORMAT=text")
	m := w.manifest("version: 1\nenv:\n  A: {value: x}\n")
	ran := filepath.Join(w.dir, "deployed")
	tests := []struct {
		args        []string
		error, hint string
	}{
		{[]string{"run", "-m", m, "--mask", "true", "--", "helper", "touch", ran}, `--mask true: a switch takes its value after =, so "true" would be the program to run`, "write --mask=true (--mask alone is --mask=true)"},
		{[]string{"run", "-m", m, "--ci-mask", "false", "--", "helper", "touch", ran}, `--ci-mask false: a switch takes its value after =, so "false" would be the program to run`, "write --ci-mask=false (--ci-mask alone is --ci-mask=true)"},
		{[]string{"check", "-m", m, "--resolve", "true"}, `--resolve true: a switch takes its value after =, so "true" would be an argument`, "write --resolve=true (--resolve alone is --resolve=true)"},
	}
	for _, tt := range tests {
		code, stdout, stderr := w.run(tt.args...)
		want := "ward: error: " + tt.error + "\nward: hint: " + tt.hint + "\n"
		if code != 125 || stdout != "" || stderr != want {
			t.Errorf("ward %s: exit code %d, stdout %q, stderr:\n%s\nwant 125 and:\n%s", strings.Join(tt.args, " "), code, stdout, stderr, want)
		}
	}
	if _, err := os.Stat(ran); err == nil {
		t.Errorf("a refused run ran the program")
	}
	if code, _, stderr := w.run("run", "-m", m, "--exec", "true"); code != 0 {
		t.Errorf("ward run --exec true: exit code %d, want 0 (true run)\n%s", code, stderr)
	}
	if code, _, stderr := w.run("run", "-m", m, "--ci-mask=false", "--", "helper", "touch", ran); code != 0 {
		t.Errorf("ward run --ci-mask=false -- helper touch: exit code %d\n%s", code, stderr)
	} else if _, err := os.Stat(ran); err != nil {
		t.Errorf("ward run --ci-mask=false did not run the program: %v", err)
	}
}

// TestFlagLastWithoutValue: a flag that takes a value, last and without
// it (`ward import config/dev.env --name-prefix`, the prefix forgotten).
// ward stops with 125 and the flag's form; the flag took the argument
// before it (flags go first, so --name-prefix config/dev.env), and ward
// imported .env, another file, into names prefixed "config/dev.env",
// with exit 0.
func TestFlagLastWithoutValue(t *testing.T) {
	w := newWardEnv(t)
	// ward's lines as a person reads them (newWardEnv logs JSON).
	w.env = append(w.env, "WARD_LOG_FORMAT=text")
	prod := canary("prod")
	if err := os.WriteFile(filepath.Join(w.dir, ".env"), []byte("PROD_KEY="+prod+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(w.dir, "config"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, "config", "dev.env"), []byte("PORT=8080\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args        []string
		error, hint string
	}{
		{[]string{"import", "config/dev.env", "--name-prefix"}, "--name-prefix has no value", "write: ward import --name-prefix PREFIX"},
		{[]string{"local", "rollback", "app/a", "--to"}, "--to has no value", "write: ward local rollback --to VERSION"},
		{[]string{"run", "-p"}, "-p has no value", "write: ward run -p NAME"},
	}
	for _, tt := range tests {
		code, stdout, stderr := w.run(tt.args...)
		if strings.Contains(stdout+stderr, prod) {
			t.Errorf("ward %s: .env's value is in ward's output", strings.Join(tt.args, " "))
		}
		want := "ward: error: " + tt.error + "\nward: hint: " + tt.hint + "\n"
		if code != 125 || stdout != "" || stderr != want {
			t.Errorf("ward %s: exit code %d, stdout %q, stderr:\n%s\nwant 125 and:\n%s", strings.Join(tt.args, " "), code, stdout, stderr, want)
		}
	}
	if _, err := os.Stat(filepath.Join(w.dir, "ward.yaml")); err == nil {
		t.Errorf("ward import config/dev.env --name-prefix wrote a manifest")
	}
	if _, stdout, _ := w.run("local", "list"); stdout != "" {
		t.Errorf("ward import config/dev.env --name-prefix stored secrets:\n%s", stdout)
	}
}

// TestUsageErrorsAsJSON: with WARD_LOG_FORMAT=json (or --log-format
// json), a usage error of run, check or scan is a JSON record, as their
// other errors are (README: Logs): a log collector reads it. It was a
// `ward: error:` line, found before the command's action could report it.
func TestUsageErrorsAsJSON(t *testing.T) {
	w := newWardEnv(t) // WARD_LOG_FORMAT=json
	for _, args := range [][]string{
		{"run", "--maks", "--", "helper", "exit", "0"},
		{"run", "-p"},
		{"check", "--bogus"},
		{"scan", "--json", "false"},
	} {
		code, stdout, stderr := w.run(args...)
		var rec struct{ Level, Msg, Hint string }
		if code != 125 || stdout != "" || json.Unmarshal([]byte(stderr), &rec) != nil || rec.Level != "ERROR" || rec.Msg == "" || rec.Hint == "" {
			t.Errorf("ward %s with WARD_LOG_FORMAT=json: exit code %d, stdout %q, stderr %q; want 125 and one JSON error record with a hint", strings.Join(args, " "), code, stdout, stderr)
		}
	}
	// Logs of other commands are not JSON: theirs stay lines.
	code, _, stderr := w.run("local", "get")
	if code != 125 || !strings.HasPrefix(stderr, "ward: error: ") {
		t.Errorf("ward local get: exit code %d, stderr %q", code, stderr)
	}
}

// TestTypographicDash: a command copied from a web page or a document
// whose "--" became an em dash, or "-" an en dash (`ward run —mask --
// npm test`). ward names the character and the flag it stands for; run
// took the word for the program (127, "—mask: executable file not
// found"), check for an argument ("name the manifest with -m: ward check
// -m —resolve"). After "--" the word is the program's own.
func TestTypographicDash(t *testing.T) {
	w := newWardEnv(t)
	w.env = append(w.env, "WARD_LOG_FORMAT=text")
	m := w.manifest("version: 1\nenv:\n  A: {value: x}\n")
	tests := []struct {
		args        []string
		error, hint string
	}{
		{[]string{"run", "-m", m, "—mask", "--", "helper", "exit", "0"}, `—mask starts with '—' (U+2014), not a hyphen`, "type the flag with hyphens: --mask (a dash pasted from a web page or a document is another character)"},
		{[]string{"run", "–p", "dev", "-m", m, "--", "helper", "exit", "0"}, `–p starts with '–' (U+2013), not a hyphen`, "type the flag with hyphens: -p (a dash pasted from a web page or a document is another character)"},
		{[]string{"check", "-m", m, "—resolve"}, `—resolve starts with '—' (U+2014), not a hyphen`, "type the flag with hyphens: --resolve (a dash pasted from a web page or a document is another character)"},
	}
	for _, tt := range tests {
		code, stdout, stderr := w.run(tt.args...)
		want := "ward: error: " + tt.error + "\nward: hint: " + tt.hint + "\n"
		if code != 125 || stdout != "" || stderr != want {
			t.Errorf("ward %s: exit code %d, stdout %q, stderr:\n%s\nwant 125 and:\n%s", strings.Join(tt.args, " "), code, stdout, stderr, want)
		}
	}
	if code, _, stderr := w.run("run", "-m", m, "--", "—x"); code != 127 {
		t.Errorf("ward run -- —x: exit code %d, want 127 (no such program: after -- the word is the program)\n%s", code, stderr)
	}
	made := filepath.Join(w.dir, "—made")
	if code, _, stderr := w.run("run", "-m", m, "--", "helper", "touch", made); code != 0 {
		t.Errorf("ward run -- helper touch —made: exit code %d\n%s", code, stderr)
	} else if _, err := os.Stat(made); err != nil {
		t.Errorf("the program's own word with an em dash did not reach it: %v", err)
	}
}

// TestEmptyProgramName: `ward run -- "$CMD"` with CMD unset. ward stops
// with 127 (as the shell does for "") before it asks any store: it read
// every secret first (here a file:// secret that is missing, so the run
// failed with 125 and that error; with Vault, a dynamic secret's lease
// made and revoked for nothing), and only then found the name empty.
func TestEmptyProgramName(t *testing.T) {
	w := newWardEnv(t)
	w.env = append(w.env, "WARD_LOG_FORMAT=text")
	m := w.manifest("version: 1\nenv:\n  KEY: file://" + filepath.Join(w.dir, "missing") + "\n")
	code, stdout, stderr := w.run("run", "-m", m, "--", "")
	want := "ward: error: \"\": the program's name is empty\nward: hint: a variable that is not set? (ward run -- \"$CMD\" with CMD empty)\n"
	if code != 127 || stdout != "" || stderr != want {
		t.Errorf("ward run -- '': exit code %d, stdout %q, stderr:\n%s\nwant 127 and:\n%s", code, stdout, stderr, want)
	}
}

// TestLocalSetPromptCtrlD: Ctrl-D at `ward local set`'s hidden prompt,
// or at its confirmation, ends ward with 125 and says nothing was
// stored, as Ctrl-D ends input at any prompt. It did nothing: the read
// (golang.org/x/term's ReadPassword) took the end of input for no input
// yet and read again, and ward waited, the screen showing only the
// prompt, until Ctrl-C.
func TestLocalSetPromptCtrlD(t *testing.T) {
	w := newWardEnv(t)
	term := newTerminal(t, w)
	term.send("ward local set app/d; echo code=$?\n")
	term.expect(`value for app/d \(not echoed\): `)
	term.send("\x04")
	term.expect(`ward: error: the input ended \(Ctrl-D\) at the prompt; nothing was stored`)
	if code := term.expect(`code=(\d+)`)[1]; code != "125" {
		t.Errorf("Ctrl-D at the prompt: ward exited %s, want 125", code)
	}
	v := canary("ctrld")
	term.send("ward local set app/d; echo code=$?\n")
	term.expect(`value for app/d \(not echoed\): `)
	term.send(v + "\n")
	term.expect(`again: `)
	term.send("\x04")
	if code := term.expect(`code=(\d+)`)[1]; code != "125" {
		t.Errorf("Ctrl-D at the confirmation: ward exited %s, want 125", code)
	}
	// Two values that differ: 125, and a hint (there was none).
	term.send("ward local set app/d; echo code=$?\n")
	term.expect(`value for app/d \(not echoed\): `)
	term.send(v + "\n")
	term.expect(`again: `)
	term.send(v + "x\n")
	term.expect(`ward: error: the two values differ; nothing was stored`)
	term.expect(`ward: hint: type the same value at both prompts, or read it from a file: ward local set app/d < FILE`)
	if code := term.expect(`code=(\d+)`)[1]; code != "125" {
		t.Errorf("two values that differ: ward exited %s, want 125", code)
	}
	if _, out, _ := w.run("local", "list"); strings.Contains(out, "app/d") {
		t.Errorf("app/d was stored")
	}
}

// TestLocalSetPromptAnsweredAtOnce: a value typed or pasted the moment
// `ward local set`'s prompt shows (a password manager's auto-type, a
// paste ready in the other hand) is not shown on the terminal. ward
// printed the prompt, then turned echo off: what came in between was
// echoed, the secret in clear on the screen and in its scrollback (half
// of the runs of TestLocalSetPromptMultiLinePaste showed its lines).
func TestLocalSetPromptAnsweredAtOnce(t *testing.T) {
	w := newWardEnv(t)
	term := newTerminal(t, w)
	for i := range 5 {
		v := canary(fmt.Sprintf("atonce%d", i))
		w.canaries = append(w.canaries, v)
		term.send("ward local set app/atonce; echo code=$?\n")
		term.expect(`\(not echoed\): `)
		term.send(v + "\n")
		term.expect(`again: `)
		term.send(v + "\n")
		if code := term.expect(`code=(\d+)`)[1]; code != "0" {
			t.Fatalf("ward local set exited %s, want 0", code)
		}
		term.mu.Lock()
		screen := term.out.String()
		term.mu.Unlock()
		if strings.Contains(screen, v) {
			t.Fatalf("run %d: the value typed at the prompt is on the terminal", i+1)
		}
	}
}

// TestManifestLinkFollowedAsTheKernelDoes: a relative link whose file is
// not there yet, in a folder reached through another link, is followed
// from where that folder really is (sub -> ../shared/cfg, and there
// link2 -> ../x/m.yaml leads to shared/x/m.yaml): ward joined the texts,
// dropped sub/.., and wrote proj/x/m.yaml, which ward check then could
// not find. A link of another user's is not written through (in /tmp, or
// a shared checkout, it chose where a file of yours was made or
// replaced), by init, init --force or import.
func TestManifestLinkFollowedAsTheKernelDoes(t *testing.T) {
	w := newWardEnv(t)
	proj := filepath.Join(w.dir, "proj")
	for _, d := range []string{proj, filepath.Join(w.dir, "shared", "cfg"), filepath.Join(w.dir, "shared", "x")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, to := range map[string]string{
		filepath.Join(proj, "sub"):                     "../shared/cfg",
		filepath.Join(proj, "ward.yaml"):               "sub/link2",
		filepath.Join(w.dir, "shared", "cfg", "link2"): "../x/m.yaml",
	} {
		if err := os.Symlink(to, link); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(proj, "q.env"), []byte("Q=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := w.command("import", "--plain", "Q", "q.env")
	cmd.Dir = proj
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ward import: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(w.dir, "shared", "x", "m.yaml")); err != nil || !strings.Contains(string(b), "Q: {value:") {
		t.Errorf("shared/x/m.yaml, where the links lead: %v, want the import there", err)
	}
	if _, err := os.Stat(filepath.Join(proj, "x")); err == nil {
		t.Errorf("the import made proj/x, where the link's text leads without its folder")
	}
	// A ".." after a linked folder, in a link's text (sub/../up.yaml is
	// shared/up.yaml) and in -m (sub/../made/ward.yaml, a folder not made
	// yet, is shared/made): ward took "sub/.." away as text, and wrote in
	// proj, or made proj/made.
	if err := os.Symlink("sub/../up.yaml", filepath.Join(proj, "up.yaml")); err != nil {
		t.Fatal(err)
	}
	for m, want := range map[string]string{"up.yaml": filepath.Join(w.dir, "shared", "up.yaml"), "sub/../made/ward.yaml": filepath.Join(w.dir, "shared", "made", "ward.yaml")} {
		cmd := w.command("import", "-m", m, "--plain", "Q", "q.env")
		cmd.Dir = proj
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ward import -m %s: %v\n%s", m, err, out)
		}
		if b, err := os.ReadFile(want); err != nil || !strings.Contains(string(b), "Q: {value:") {
			t.Errorf("-m %s: %s, where the kernel leads: %v, want the import there", m, want, err)
		}
	}
	for _, wrong := range []string{"made", ".up.yaml"} {
		if _, err := os.Lstat(filepath.Join(proj, wrong)); err == nil {
			t.Errorf("the import made proj/%s", wrong)
		}
	}
	// A link to a named pipe is no manifest for init --force to replace.
	if err := syscall.Mkfifo(filepath.Join(proj, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("fifo", filepath.Join(proj, "piped.yaml")); err != nil {
		t.Fatal(err)
	}
	cmd = w.command("init", "--force", "-m", "piped.yaml")
	cmd.Dir = proj
	if out, err := cmd.CombinedOutput(); exitCode(t, err) != 125 || !strings.Contains(string(out), "a named pipe") {
		t.Errorf("ward init --force through a link to a named pipe: %v, want 125 naming it\n%s", err, out)
	}
	if st, err := os.Stat(filepath.Join(proj, "fifo")); err != nil || st.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("the named pipe was replaced")
	}

	for _, args := range [][]string{{"init"}, {"init", "--force"}, {"import", "q.env"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			dir := t.TempDir()
			victim := filepath.Join(t.TempDir(), "target.yaml")
			link := filepath.Join(dir, "ward.yaml")
			if err := os.Symlink(victim, link); err != nil {
				t.Fatal(err)
			}
			if err := os.Lchown(link, 4321, 4321); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "q.env"), []byte("Q=1\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := w.command(args...)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if code := exitCode(t, err); code != 125 || !strings.Contains(string(out), "is a symbolic link of uid 4321, another user's") {
				t.Errorf("exit %d, want 125 naming the link's owner\n%s", code, out)
			}
			if _, err := os.Lstat(victim); err == nil {
				t.Errorf("the file the link leads to was made")
			}
		})
	}
}

// TestManifestLinkWrittenThrough: ward init and ward import write a
// ward.yaml that is a symbolic link (to a manifest several services
// share) through it, making the file it leads to if need be; a link into
// a folder that is not there is an error naming it. init --force
// replaced the link with a file of its own, and so did both commands
// with a link whose file did not exist yet, saying nothing.
func TestManifestLinkWrittenThrough(t *testing.T) {
	for _, args := range [][]string{{"init"}, {"init", "--force"}, {"import"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			w := newWardEnv(t)
			link := filepath.Join(w.dir, "ward.yaml")
			shared := filepath.Join(w.dir, "shared", "ward.yaml")
			if err := os.Symlink("shared/ward.yaml", link); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(w.dir, ".env"), []byte("PORT=8080\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := w.run(args...)
			if code != 125 || !strings.Contains(stderr, "ward.yaml is a symbolic link to shared/ward.yaml, in a folder that cannot be reached") {
				t.Errorf("a link into a missing folder: exit %d, want 125 naming it\n%s", code, stderr)
			}
			if err := os.Mkdir(filepath.Dir(shared), 0o755); err != nil {
				t.Fatal(err)
			}
			if args[len(args)-1] == "--force" {
				if err := os.WriteFile(shared, []byte("version: 1\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if code, _, stderr := w.run(args...); code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			if st, err := os.Lstat(link); err != nil || st.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("ward.yaml is no longer a link")
			}
			if b, err := os.ReadFile(shared); err != nil || !strings.Contains(string(b), "version: 1") || len(b) < len("version: 1\n")+1 {
				t.Errorf("the file the link leads to was not written: %v", err)
			}
		})
	}
}

// TestEditsKeepTheManifestsOwner: root's ward import and ward init --force
// in a user's project leave the manifest, and .gitignore, the user's (a
// file they edit keeps its mode, and its owner): they were root's after,
// and the user could no longer edit them.
func TestEditsKeepTheManifestsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		vaulttest.RequireIntegration(t, "the test needs root to own files as another user")
	}
	for _, args := range [][]string{{"import", "--plain", "Q", "q.env"}, {"init", "--force"}} {
		t.Run(args[0], func(t *testing.T) {
			w := newWardEnv(t)
			dir := t.TempDir()
			for name, text := range map[string]string{"ward.yaml": "version: 1\n", ".gitignore": "node_modules\n", "q.env": "Q=1\n"} {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte(text), 0o640); err != nil {
					t.Fatal(err)
				}
				if err := os.Chown(p, 4321, 4322); err != nil {
					t.Fatal(err)
				}
			}
			cmd := w.command(args...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("ward %s: %v\n%s", args[0], err, out)
			}
			for _, name := range []string{"ward.yaml", ".gitignore"} {
				st, err := os.Stat(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				if s := st.Sys().(*syscall.Stat_t); s.Uid != 4321 || s.Gid != 4322 || st.Mode().Perm() != 0o640 {
					t.Errorf("%s: owner %d:%d, mode %v after ward %s, want 4321:4322 and 0640 as before", name, s.Uid, s.Gid, st.Mode().Perm(), args[0])
				}
			}
		})
	}
}
