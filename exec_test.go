package main

// The program ward starts, as people name, build and replace it: its
// #! line, its file system, its environment's size, the file being
// rewritten at a restart, and what a shell would have run itself.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"golang.org/x/sys/unix"
)

// TestExecRotatedValueTooLarge: a secret rotated to a value larger than
// an environment variable may hold (a certificate bundle put in a
// variable). ward stopped the running child for the restart, then could
// not start the new one: "/usr/bin/sh: argument list too long", exit
// 126, naming nothing, the service down. The refresh now fails as a
// store outage does: the child keeps running on what it has, the warning
// names the variable, and a value that fits again restarts it.
func TestExecRotatedValueTooLarge(t *testing.T) {
	w := newWardEnv(t)
	first := canary("big1")
	w.set("app/big", first)
	m := w.manifest("version: 1\nenv:\n  BIG: local://app/big\nrotation:\n  debounce: 100ms\n  stop_timeout: 5s\n")
	script := filepath.Join(w.dir, "app")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"started ${#BIG}\"\nexec helper sleep\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := w.command("run", "-m", m, "--", script)
	stdout, stderr := startedLines(t, cmd)
	if got := stdout.next("the first start"); got != "started "+itoa(len(first)) {
		t.Fatalf("the child says %q", got)
	}
	stdout.waitFor("ready")

	big := canary("big2") + strings.Repeat("x", 150000)
	w.set("app/big", big)
	line := stderr.waitForContaining("cannot refresh secrets; the child keeps running on what it has")
	if !strings.Contains(line, "BIG: the value is "+itoa(len(big))+" bytes, more than the") || !strings.Contains(line, "as a file (files: in the manifest)") {
		t.Errorf("the warning does not name the variable, its size and the remedy:\n%s", line)
	}
	if strings.Contains(line, "canary-") {
		t.Fatal("a value is in ward's warning")
	}

	// A value that fits again: the child restarts with it.
	third := canary("big3x")
	w.set("app/big", third)
	if got := stdout.waitFor("started"); got != "started "+itoa(len(third)) {
		t.Fatalf("the restarted child says %q, want the third value's length %d", got, len(third))
	}
	stdout.waitFor("ready")
	stderr.waitForContaining("child restarted with the new secrets")
	if code := stopAndAudit(t, cmd, stderr, first, big, third); code != 143 {
		t.Errorf("ward exited %d, want 143", code)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// stopAndAudit stops ward with SIGTERM and returns its exit code, failing
// the test if a canary is in what is left of its stderr.
func stopAndAudit(t *testing.T, cmd *exec.Cmd, stderr *lines, canaries ...string) int {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	code := exitWithin(t, cmd, time.Minute)
	stderr.noCanary(t, canaries...)
	return code
}

// TestExecShebangLines: scripts whose #! line the kernel will not run,
// with ward run and ward run --exec. A virtualenv's (or node_modules')
// script made in a deep directory, a CI workspace's, has a #! line longer
// than the 256 bytes the kernel reads, and the kernel runs no interpreter
// whose path it may have cut; a #! line naming nothing; an interpreter
// that is itself a script without #!. Each is ENOEXEC, and ward said
// "it has no #! line naming its interpreter", of a file that has one.
func TestExecShebangLines(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	// The virtualenv: its python a link to a real interpreter.
	venv := filepath.Join(w.dir, strings.Repeat("w", 100), strings.Repeat("o", 100), strings.Repeat("r", 60), "venv")
	if err := os.MkdirAll(filepath.Join(venv, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	python := filepath.Join(venv, "bin", "python3")
	if err := os.Symlink("/bin/sh", python); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, "interp"), []byte("echo not a program\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, line, want string }{
		{"too long", "#!" + python, "./script: its #! line is " + itoa(len(python)+2) + " bytes long, more than the 255 the kernel reads of it, so the path of its interpreter \\\"" + python + "\\\" would be cut short, and the kernel runs none: make that path shorter (a virtualenv made in a shallower directory), or name the interpreter: ward run -- INTERPRETER ./script: exec format error"},
		{"no interpreter", "#!  ", "./script: its #! line names no interpreter: write one after the #!, such as #!/bin/sh: exec format error"},
		{"interpreter a script", "#!" + filepath.Join(w.dir, "interp") + " -e", "./script: its interpreter " + filepath.Join(w.dir, "interp") + " (its #! line) is not a program the kernel can run: exec format error"},
	} {
		if err := os.WriteFile(filepath.Join(w.dir, "script"), []byte(c.line+"\necho ran\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, exec := range []bool{false, true} {
			args := []string{"run", "-m", m, "--", "./script"}
			if exec {
				args = []string{"run", "--exec", "-m", m, "--", "./script"}
			}
			code, stdout, stderr := w.run(args...)
			if code != 126 {
				t.Errorf("%s, --exec=%v: exit %d, want 126", c.name, exec, code)
			}
			if stdout != "" {
				t.Errorf("%s, --exec=%v: something ran: %q", c.name, exec, stdout)
			}
			if !strings.Contains(stderr, c.want) || strings.Contains(stderr, "no #! line") {
				t.Errorf("%s, --exec=%v: ward's error does not say what is wrong with the #! line; want\n%s\ngot\n%s", c.name, exec, c.want, stderr)
			}
		}
	}
}

// noexecTmpfs mounts a tmpfs noexec (as /tmp and /dev/shm are on
// hardened hosts) for the test, and unmounts it after.
func noexecTmpfs(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		vaulttest.RequireIntegration(t, "mounting a noexec tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "noexec")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOEXEC|syscall.MS_NOSUID|syscall.MS_NODEV, "size=16m"); err != nil {
		t.Fatalf("mount a noexec tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestExecNoexecMount: a program on a file system mounted noexec, with
// its x bits (a binary, a script), found by path or on $PATH, and a
// script whose interpreter is there (a virtualenv made in /tmp); and a
// script without the x bit. Each gives 126 saying why, and what to do;
// ward said "permission denied" and no more, and the user's chmod +x
// changed nothing.
func TestExecNoexecMount(t *testing.T) {
	nx := noexecTmpfs(t)
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	bin, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	sh, err := os.ReadFile("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		body []byte
		mode os.FileMode
	}{
		filepath.Join(nx, "tool"):        {bin, 0o755},
		filepath.Join(nx, "run.sh"):      {[]byte("#!/bin/sh\necho ran\n"), 0o755},
		filepath.Join(nx, "sh"):          {sh, 0o755},
		filepath.Join(w.dir, "venv.sh"):  {[]byte("#!" + filepath.Join(nx, "sh") + "\necho ran\n"), 0o755},
		filepath.Join(w.dir, "plain.sh"): {[]byte("#!/bin/sh\necho ran\n"), 0o644},
	} {
		if err := os.WriteFile(name, c.body, c.mode); err != nil {
			t.Fatal(err)
		}
	}
	onNoexec := "it is on a file system mounted noexec (" + nx + "), where the kernel runs no program, whatever its mode: keep it on another file system"
	for _, c := range []struct {
		name, program, path, want string
	}{
		{"binary", filepath.Join(nx, "tool"), "", filepath.Join(nx, "tool") + ": " + onNoexec + ": permission denied"},
		{"binary on PATH", "tool", nx, filepath.Join(nx, "tool") + ": " + onNoexec + ": permission denied"},
		{"script", filepath.Join(nx, "run.sh"), "", filepath.Join(nx, "run.sh") + ": " + onNoexec + ", or run it with its interpreter (ward run -- /bin/sh " + filepath.Join(nx, "run.sh") + "): permission denied"},
		{"interpreter", "./venv.sh", "", "./venv.sh: its interpreter " + filepath.Join(nx, "sh") + " (its #! line) is on a file system mounted noexec (" + nx + "), where the kernel runs no program: keep it on another file system: permission denied"},
		{"no x bit", "./plain.sh", "", "./plain.sh: it is not executable (mode 0644): chmod +x ./plain.sh, or run it with its interpreter (ward run -- /bin/sh ./plain.sh): permission denied"},
	} {
		for _, exec := range []bool{false, true} {
			args := []string{"run", "-m", m, "--", c.program}
			if exec {
				args = []string{"run", "--exec", "-m", m, "--", c.program}
			}
			if c.path != "" {
				w.env = append(w.env, "PATH="+c.path+":"+os.Getenv("PATH"))
			}
			code, stdout, stderr := w.run(args...)
			if c.path != "" {
				w.env = w.env[:len(w.env)-1]
			}
			if code != 126 {
				t.Errorf("%s, --exec=%v: exit %d, want 126", c.name, exec, code)
			}
			if stdout != "" {
				t.Errorf("%s, --exec=%v: something ran: %q", c.name, exec, stdout)
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("%s, --exec=%v: ward's error does not say why the program may not run; want\n%s\ngot\n%s", c.name, exec, c.want, stderr)
			}
		}
	}
}

// TestExecShellCommandLines: what a shell's command line runs that is no
// program: a builtin (`ward run -- cd`, `-- source x`, `-- export`,
// `-- . x`), a variable assignment before the command (`-- TOKEN=...
// deploy`), a whole command quoted as one word (`-- "npm test"`, with
// an assignment in it: `-- "export TOKEN=..."`, named without its value,
// which ward's error printed). ward
// said "executable file not found in $PATH" (of `.`, "/usr/local/go/bin:
// is a directory", the first directory of $PATH), and printed the
// assignment's value, a token typed on the command line, in its error.
// Now each says it ran no shell, and how to; the value is not printed.
func TestExecShellCommandLines(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	token, token2 := canary("argv"), canary("argvtwo")
	for _, c := range []struct {
		argv []string
		code int
		want string
	}{
		{[]string{"cd", "/"}, 127, "cd: executable file not found in $PATH: it is a shell builtin, not a program, and ward runs the program after -- itself, with no shell: ward run -- sh -c 'cd DIR && exec PROGRAM'"},
		{[]string{"source", ".env"}, 127, "source: executable file not found in $PATH: it is a shell builtin, not a program, and ward runs the program after -- itself, with no shell: ward run -- sh -c '. ./FILE && exec PROGRAM'"},
		{[]string{"export", "A=1"}, 127, "export: executable file not found in $PATH: it is a shell builtin, not a program, and ward runs the program after -- itself, with no shell: ward run -- env NAME=VALUE PROGRAM; or declare the variable in the manifest's env"},
		{[]string{".", ".env"}, 126, ".: a directory, not a program: . is a shell builtin (source), and ward runs the program after -- itself, with no shell: ward run -- sh -c '. ./FILE && exec PROGRAM'"},
		{[]string{"API_TOKEN=" + token, "env"}, 127, "API_TOKEN=...: no program of that name: it is a variable assignment, which a shell reads, and ward runs the program after -- itself, with no shell: declare API_TOKEN in the manifest's env, or ward run -- env API_TOKEN=VALUE PROGRAM"},
		{[]string{"API_TOKEN=" + token + "/x", "env"}, 127, "API_TOKEN=...: no program of that name"},
		{[]string{"export API_TOKEN=" + token}, 127, "export ...: executable file not found in $PATH: the program's name holds a space"},
		{[]string{"sudo API_TOKEN=" + token + " deploy"}, 127, "sudo ...: executable file not found in $PATH: the program's name holds a space"},
		// Quoted, after a shell's ";", a flag's, after a line break or
		// a no-break space, in a URL, a quoted name: the rest of each
		// was printed, and a secret with no "=" before it is named by
		// the command's first word alone too.
		{[]string{"export API_TOKEN='" + token2 + " " + token + "' deploy"}, 127, "export ...: executable file not found in $PATH: the program's name holds a space"},
		{[]string{"cd app;API_TOKEN=" + token + " npm"}, 127, "cd ...: executable file not found in $PATH"},
		{[]string{"deploy --token=" + token}, 127, "deploy ...: executable file not found in $PATH"},
		{[]string{"export\nAPI_TOKEN=" + token}, 127, "export ...: executable file not found in $PATH"},
		{[]string{"export\u00a0API_TOKEN=" + token}, 127, "export ...: executable file not found in $PATH"},
		{[]string{"psql postgres://u:" + token + "@db/app"}, 127, "psql ...: no such file or directory"},
		{[]string{"deploy 'TOKEN'=" + token}, 127, "deploy ...: executable file not found in $PATH"},
		{[]string{"T\\=" + token}, 127, "T ...: executable file not found in $PATH"},
		{[]string{"./deploy API_TOKEN=" + token}, 127, "./deploy ...: no such file or directory"},
		{[]string{"npm test"}, 127, "npm ...: executable file not found in $PATH: the program's name holds a space, a whole command written as one word? ward runs the program after -- itself, with no shell: give it its words apart (ward run -- npm test, not ward run -- \\\"npm test\\\"), or a shell's command line as ward run -- sh -c 'COMMAND'"},
	} {
		for _, exec := range []bool{false, true} {
			args := append([]string{"run", "-m", m, "--"}, c.argv...)
			if exec {
				args = append([]string{"run", "--exec", "-m", m, "--"}, c.argv...)
			}
			code, stdout, stderr := w.run(args...)
			name := strings.ReplaceAll(strings.ReplaceAll(c.argv[0], token, "<canary>"), token2, "<canary2>")
			if code != c.code {
				t.Errorf("%s, --exec=%v: exit %d, want %d", name, exec, code, c.code)
			}
			if stdout != "" {
				t.Errorf("%s, --exec=%v: something ran", name, exec)
			}
			if strings.Contains(stderr, token) || strings.Contains(stderr, token2) {
				t.Errorf("%s, --exec=%v: the value typed on the command line is in ward's error", name, exec)
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("%s, --exec=%v: ward's error does not say that it runs no shell, and how to; want\n%s\ngot\n%s", name, exec, c.want, redactAll(stderr, token, token2))
			}
		}
	}
}

// writing creates path (mode 0755) with the start of body, and returns
// the open file: a build or a copy of the program under way.
func writing(t *testing.T, path, body string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.WriteString(body); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestExecProgramBeingWritten: the program's file is being written (a
// `go build -o app`, a `cp`, a deploy's rsync) as a rotation restarts
// the child, or as `ward run --exec` starts it: the kernel runs no file
// open for writing (ETXTBSY). ward stopped the running child, then gave
// up at once, "./app: text file busy", 126: the service down for a copy
// that was done a moment later. It now waits for the writer, saying so,
// and starts the new program once it is written.
func TestExecProgramBeingWritten(t *testing.T) {
	const v2 = "#!/bin/sh\necho \"started v2 $A\"\n"
	t.Run("restart", func(t *testing.T) {
		w := newWardEnv(t)
		w.set("app/a", canary("busy1"))
		m := w.manifest("version: 1\nenv:\n  A: local://app/a\nrotation:\n  debounce: 100ms\n  stop_timeout: 5s\n")
		app := filepath.Join(w.dir, "app")
		if err := os.WriteFile(app, []byte("#!/bin/sh\necho started v1\nexec helper sleep\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := w.command("run", "-m", m, "--", "./app")
		stdout, stderr := startedLines(t, cmd)
		if got := stdout.next("the first start"); got != "started v1" {
			t.Fatalf("the child says %q", got)
		}
		stdout.waitFor("ready")
		// The new version is written beside the running one's file.
		if err := os.Rename(app, app+".old"); err != nil {
			t.Fatal(err)
		}
		f := writing(t, app, v2)
		second := canary("busy2")
		w.set("app/a", second)
		stderr.waitForContaining("the program's file is open for writing (a build or a copy of it under way?)")
		if _, err := f.WriteString("exec helper sleep\n"); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if got := stdout.next("the restart"); got != "started v2 "+second {
			t.Fatalf("the restarted child says %q, want the new program with the new value", strings.ReplaceAll(got, second, "<canary>"))
		}
		stdout.waitFor("ready")
		stderr.waitForContaining("child restarted with the new secrets")
		if code := stopAndAudit(t, cmd, stderr, second); code != 143 {
			t.Errorf("ward exited %d, want 143", code)
		}
	})
	t.Run("exec", func(t *testing.T) {
		w := newWardEnv(t)
		value := canary("busy3")
		w.set("app/a", value)
		m := w.manifest("version: 1\nenv:\n  A: local://app/a\n")
		f := writing(t, filepath.Join(w.dir, "app"), v2)
		cmd := w.command("run", "--exec", "-m", m, "--", "./app")
		stdout, stderr := startedLines(t, cmd)
		stderr.waitForContaining("the program's file is open for writing (a build or a copy of it under way?)")
		f.Close()
		if got := stdout.next("the program"); got != "started v2 "+value {
			t.Fatalf("the program says %q", strings.ReplaceAll(got, value, "<canary>"))
		}
		if code := exitWithin(t, cmd, time.Minute); code != 0 {
			t.Errorf("ward exited %d, want 0", code)
		}
	})
	// Under --mask on a terminal, where the pty session's leader starts
	// the program.
	t.Run("mask", func(t *testing.T) {
		w := newWardEnv(t)
		value := canary("busy4")
		w.set("app/a", value)
		m := w.manifest("version: 1\nenv:\n  A: local://app/a\n")
		f := writing(t, filepath.Join(w.dir, "app"), v2)
		cmd := w.command("run", "--mask", "-m", m, "--", "./app")
		_, out := onPty(t, cmd)
		out.waitForContaining("the program's file is open for writing (a build or a copy of it under way?)")
		f.Close()
		if got := out.waitForContaining("started v2"); !strings.Contains(got, "started v2 <ward:A>") {
			t.Fatalf("the program says %q", strings.ReplaceAll(got, value, "<canary>"))
		}
		if code := exitWithin(t, cmd, time.Minute); code != 0 {
			t.Errorf("ward exited %d, want 0", code)
		}
	})
}

// TestExecEnvironmentTooLarge: an environment larger than execve takes,
// many large values (certificate bundles, JSON documents) that each fit
// in a variable, under `ulimit -s unlimited` (which some CI runners and
// HPC hosts set): the kernel still takes no more than 6 MiB. ward checked
// only a quarter of the stack, nothing under an unlimited one, and the
// program's start failed with "/usr/bin/true: argument list too long",
// 126, naming nothing. It is 125 now, naming the largest variables, as
// with the default stack, where they were not named either.
func TestExecEnvironmentTooLarge(t *testing.T) {
	w := newWardEnv(t)
	secret := canary("huge")
	w.set("app/s", secret)
	var b strings.Builder
	b.WriteString("version: 1\nenv:\n  SECRET: local://app/s\n")
	// Mounted files (a Kubernetes secret's keys, /run/secrets).
	mounted := func(name string, n int) {
		p := filepath.Join(w.dir, "mounted", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.Repeat("b", n)), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "  %s: file://%s\n", name, p)
	}
	for i := range 60 {
		mounted(fmt.Sprintf("BUNDLE_%02d", i), 110000)
	}
	// One larger than the others, named first.
	mounted("CA_CHAIN", 120000)
	m := w.manifest(b.String())
	for _, stack := range []string{"unlimited", "8192"} {
		for _, exec := range []bool{false, true} {
			args := []string{"run", "-m", m, "--", "true"}
			if exec {
				args = []string{"run", "--exec", "-m", m, "--", "true"}
			}
			cmd := w.command(append([]string{"-c", `ulimit -s "$0" && exec ward "$@"`, stack}, args...)...)
			cmd.Path, cmd.Args[0] = "/bin/sh", "sh"
			out, err := cmd.CombinedOutput()
			code := exitCode(t, err)
			if strings.Contains(string(out), secret) {
				t.Fatalf("ulimit -s %s, --exec=%v: the secret is in ward's output", stack, exec)
			}
			if code != 125 {
				t.Errorf("ulimit -s %s, --exec=%v: exit %d, want 125", stack, exec, code)
			}
			want := "more than the " + map[string]string{"unlimited": "6291456", "8192": "2097152"}[stack] + " the kernel passes to a program (a quarter of the stack limit, at most 6 MiB): the largest are CA_CHAIN (120010 bytes), BUNDLE_00 (110011 bytes), BUNDLE_01 (110011 bytes), of "
			if !strings.Contains(string(out), want) {
				t.Errorf("ulimit -s %s, --exec=%v: ward's error does not name the largest variables; want\n%s\ngot\n%s", stack, exec, want, out)
			}
		}
	}
}

// TestExecWindowsLineEndings: a script saved with Windows line endings
// whose interpreter exists, so that the kernel runs it with the #! line's
// last word ending in a carriage return: `#!/usr/bin/env bash` (env
// looks for "bash\r", and says to use -S), `#!/bin/sh -e` (sh: "Illegal
// option -"). The program failed, and nothing said why. ward now says
// the line ends in a carriage return and how to convert the file: at
// the child's failure, and before the exec of --exec; the child's status
// is ward's, as before. A script that fails otherwise is not told of.
func TestExecWindowsLineEndings(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	const said = "the program's #! line ends in a carriage return: the file has Windows (CRLF) line endings"
	for _, c := range []struct {
		name, body, word string
		code             int
	}{
		{"env", "#!/usr/bin/env sh\r\necho ran\r\n", `"word":"sh\r"`, 127},
		{"option", "#!/bin/sh -e\r\necho ran\r\n", `"word":"-e\r"`, 2},
		{"unix", "#!/bin/sh -e\nexit 3\n", "", 3},
	} {
		if err := os.WriteFile(filepath.Join(w.dir, "run.sh"), []byte(c.body), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, exec := range []bool{false, true} {
			args := []string{"run", "-m", m, "--", "./run.sh"}
			if exec {
				args = []string{"run", "--exec", "-m", m, "--", "./run.sh"}
			}
			code, _, stderr := w.run(args...)
			if code != c.code {
				t.Errorf("%s, --exec=%v: exit %d, want the program's %d", c.name, exec, code, c.code)
			}
			if c.word == "" {
				if strings.Contains(stderr, said) {
					t.Errorf("%s, --exec=%v: ward speaks of line endings the script does not have:\n%s", c.name, exec, stderr)
				}
				continue
			}
			if !strings.Contains(stderr, said) || !strings.Contains(stderr, c.word) {
				t.Errorf("%s, --exec=%v: ward does not say the #! line ends in a carriage return:\n%s", c.name, exec, stderr)
			}
		}
	}
}

// TestExecSecureExecution: a program the kernel runs in secure execution
// for ward's user, set-group-ID or given file capabilities (setcap
// cap_net_bind_service+ep, for a server to listen on port 443 without
// root). Its C library drops LD_*, TMPDIR and a few more from the
// environment it gets: the manifest's TMPDIR and LD_LIBRARY_PATH
// vanished without a word, while its secrets arrived. ward now warns,
// naming them; with --exec too. As uid 65534, with root's program.
func TestExecSecureExecution(t *testing.T) {
	if os.Geteuid() != 0 {
		vaulttest.RequireIntegration(t, "the secure-execution test switches to uid 65534 and needs root")
	}
	bin := nobodyBin(t)
	secret := canary("secure")
	manifest := filepath.Join(bin, "ward.yaml")
	if err := os.WriteFile(manifest, []byte("version: 1\nenv:\n  SECRET_X: {value: "+secret+"}\n  TMPDIR: {value: /var/tmp/app}\n  LD_LIBRARY_PATH: {value: /opt/oracle/instantclient}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile("/usr/bin/env")
	if err != nil {
		t.Fatal(err)
	}
	setgid := filepath.Join(bin, "setgid-env")
	if err := os.WriteFile(setgid, env, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(setgid, 0o755|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	capped := filepath.Join(bin, "capped-env")
	if err := os.WriteFile(capped, env, 0o755); err != nil {
		t.Fatal(err)
	}
	// struct vfs_cap_data, revision 2, effective: CAP_NET_BIND_SERVICE
	// permitted, as setcap cap_net_bind_service+ep writes it.
	capData := []byte{1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if err := unix.Setxattr(capped, "security.capability", capData, 0); err != nil {
		t.Fatalf("set file capabilities: %v", err)
	}
	for _, c := range []struct{ program, why string }{
		{setgid, "set-group-ID"},
		{capped, "given file capabilities (setcap)"},
	} {
		for _, exec := range []bool{false, true} {
			args := []string{"run", "-m", manifest, "--", c.program}
			if exec {
				args = []string{"run", "--exec", "-m", manifest, "--", c.program}
			}
			cmd := execCommand(filepath.Join(bin, "ward"), args...)
			cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/", "WARD_LOG_FORMAT=json"}
			cmd.Dir = bin
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if code := exitCode(t, cmd.Run()); code != 0 {
				t.Fatalf("%s, --exec=%v: exit %d\n%s", c.why, exec, code, stderr.String())
			}
			if strings.Contains(stderr.String(), secret) {
				t.Fatalf("%s, --exec=%v: the secret is in ward's stderr", c.why, exec)
			}
			// What the kernel and the C library do, with or without ward.
			if !strings.Contains(stdout.String(), "SECRET_X="+secret+"\n") || strings.Contains(stdout.String(), "TMPDIR=") {
				t.Fatalf("%s, --exec=%v: the program is not run in secure execution (SECRET_X there, TMPDIR dropped)", c.why, exec)
			}
			want := `"msg":"the program is ` + c.why + `, so its C library runs it in secure execution and drops these variables the manifest gives it: they will not reach it; give the program what they say another way (a flag, a file), or run it without the privilege","app":"ward","program":"` + c.program + `","vars":"TMPDIR,LD_LIBRARY_PATH"`
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("%s, --exec=%v: ward does not warn of the variables the program will not get; want\n%s\ngot\n%s", c.why, exec, want, stderr.String())
			}
		}
	}
}

// execCommand is exec.Command, for tests whose loop variable is named exec.
var execCommand = exec.Command

// TestExecMissingLoader: a program built against musl (Alpine's C
// library) copied to a glibc system, or the other way: the dynamic
// loader its ELF header names is not there, and the kernel says ENOENT
// of a program that is (bash: "cannot execute: required file not
// found"). ward said "a file it needs to run (its ELF interpreter or
// loader) was not found", not which; it now names the loader and the C
// library. The program here is /usr/bin/true with musl's loader written
// in place of glibc's.
func TestExecMissingLoader(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	musl := alpineTrue(t, filepath.Join(w.dir, "alpine-true"))
	for _, exec := range []bool{false, true} {
		args := []string{"run", "-m", m, "--", "./alpine-true"}
		if exec {
			args = []string{"run", "--exec", "-m", m, "--", "./alpine-true"}
		}
		code, _, stderr := w.run(args...)
		if code != 127 {
			t.Errorf("--exec=%v: exit %d, want 127", exec, code)
		}
		want := "./alpine-true: its dynamic loader " + musl + " (the ELF interpreter it names) was not found (the program was built against musl, Alpine's C library: build it for this system's, or run it on Alpine; a static build needs none): no such file or directory"
		if !strings.Contains(stderr, want) {
			t.Errorf("--exec=%v: ward's error does not name the missing loader; want\n%s\ngot\n%s", exec, want, stderr)
		}
	}
}

// alpineTrue writes to path /usr/bin/true with musl's dynamic loader
// named in place of glibc's, as a program built on Alpine is, and
// returns the loader it names (which is not there).
func alpineTrue(t *testing.T, path string) string {
	t.Helper()
	bin, err := os.ReadFile("/usr/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	const glibc, musl = "/lib64/ld-linux-x86-64.so.2", "/lib/ld-musl-x86_64.so.1"
	i := bytes.Index(bin, []byte(glibc+"\x00"))
	if i < 0 {
		vaulttest.RequireIntegration(t, "/usr/bin/true does not name "+glibc+" (not an amd64 glibc system)")
	}
	copy(bin[i:], append([]byte(musl), make([]byte, len(glibc)-len(musl))...))
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	return musl
}

// TestExecSocketActivationStartFailures: under systemd's socket
// activation (LISTEN_FDS), a trampoline (ward itself) execs the program
// so that LISTEN_PID names it, and it ran the bare exec: a script whose
// #! interpreter is missing gave "./app.sh: no such file or directory"
// and 126, a #! line too long "exec format error". They now read as
// without socket activation: 127 naming the interpreter, 126 saying the
// line is too long.
func TestExecSocketActivationStartFailures(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	_, lf := activationSocket(t)
	long := "#!/" + strings.Repeat("x", 300) + "/python3"
	for _, c := range []struct {
		line, want string
		code       int
	}{
		{"#!/nonexistent/interp", "./app.sh: its interpreter /nonexistent/interp (its #! line) was not found: no such file or directory", 127},
		{long, "./app.sh: its #! line is 311 bytes long, more than the 255 the kernel reads of it", 126},
	} {
		if err := os.WriteFile(filepath.Join(w.dir, "app.sh"), []byte(c.line+"\necho ran\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		// As systemd does: LISTEN_PID is the pid that execs ward.
		cmd := w.command()
		cmd.Path = "/bin/sh"
		cmd.Args = []string{"sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec ward run -m "$0" -- ./app.sh`, m}
		cmd.ExtraFiles = []*os.File{lf}
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		code := exitCode(t, cmd.Run())
		if code != c.code {
			t.Errorf("%.30s: exit %d, want %d", c.line, code, c.code)
		}
		if stdout.String() != "" {
			t.Errorf("%.30s: something ran", c.line)
		}
		if !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%.30s: ward's error does not say why the program did not start; want\n%s\ngot\n%s", c.line, c.want, stderr.String())
		}
	}
}
