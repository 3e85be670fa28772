package main

// The seventeenth run's part on neighbours: what a cloned repository's
// files, or another user of the machine, can make ward do.

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"golang.org/x/sys/unix"
)

// TestFoundManifestThatIsNoFile: a ward.yaml that is a named pipe, or a
// symbolic link to one or to a device (a cloned repository's ward.yaml ->
// /dev/tty), is refused with 125 by the commands that find it, and a
// shell's completion of `ward run -p` offers nothing, at once. ward
// opened it: ward check, ward run, ward scan and ward import waited for
// a writer (or read the terminal, taking what the user typed for the
// manifest), and so did the completion, and the shell with it.
func TestFoundManifestThatIsNoFile(t *testing.T) {
	w := newWardEnv(t)
	outside := filepath.Join(t.TempDir(), "pipe")
	if err := unix.Mkfifo(outside, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		make func(p string) error
		says string
	}{
		{"a named pipe", func(p string) error { return unix.Mkfifo(p, 0o600) }, "it is a named pipe (FIFO), not a file"},
		{"a link to a named pipe", func(p string) error { return os.Symlink(outside, p) }, "it is a symbolic link to " + outside + ", a named pipe (FIFO), not a file"},
		{"a link to /dev/null", func(p string) error { return os.Symlink("/dev/null", p) }, "it is a symbolic link to /dev/null, a character device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := filepath.Join(t.TempDir(), "repo")
			if err := os.MkdirAll(filepath.Join(repo, ".git"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(repo, "src"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := tc.make(filepath.Join(repo, "ward.yaml")); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(repo, ".env"), []byte("A=1\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"check"}, {"run", "--", "true"}, {"scan"}, {"import", "--secret", "A"}} {
				cmd := w.command(args...)
				cmd.Dir = repo
				var stderr strings.Builder
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				code := exitWithin(t, cmd, 10*time.Second)
				if code != 125 || !strings.Contains(stderr.String(), tc.says) {
					t.Errorf("ward %s: exit %d, want 125 saying %q:\n%s", args[0], code, tc.says, stderr.String())
				}
			}
			// A completion, from the repository and from a directory
			// below it, and of a manifest named on the line.
			for _, c := range []struct {
				dir  string
				args []string
			}{
				{repo, []string{"__complete", "run", "-p", ""}},
				{filepath.Join(repo, "src"), []string{"__complete", "check", "-p", ""}},
				{repo, []string{"__complete", "run", "-m", outside, "-p", ""}},
			} {
				cmd := w.command(c.args...)
				cmd.Dir = c.dir
				var stdout, stderr strings.Builder
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				if code := exitWithin(t, cmd, 10*time.Second); code != 0 || stderr.String() != "" {
					t.Errorf("ward %s: exit %d, stdout %q, stderr %q", strings.Join(c.args, " "), code, stdout.String(), stderr.String())
				}
			}
		})
	}
}

// TestInitDotenvTakenBack: ward init in a repository whose .gitignore has
// a .env line that a later !.env takes back warns that .env is not
// ignored, and leaves .gitignore as it is (a .env committed on purpose, a
// framework's defaults, is the team's choice). It said nothing, having
// seen the .env line.
func TestInitDotenvTakenBack(t *testing.T) {
	w := newWardEnv(t)
	repo := t.TempDir()
	if out, err := exec.Command("git", "init", "-q", repo).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	const ignore = ".env\n!.env\n"
	if err := os.WriteFile(filepath.Join(repo, ".gitignore"), []byte(ignore), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := w.command("init")
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	if code := exitCode(t, err); code != 0 || !strings.Contains(string(out), "ward: warning: .gitignore has a .env line, but git does not ignore .env") {
		t.Errorf("ward init: exit %d, want 0 and the warning\n%s", code, out)
	}
	if b, _ := os.ReadFile(filepath.Join(repo, ".gitignore")); string(b) != ignore {
		t.Errorf(".gitignore was changed: %q", b)
	}
}

// TestInitDotenvIgnoredByOwnRulesOrTracked: a .env that only the user's
// own rules ignore (.git/info/exclude, a core.excludesFile) gets its
// .gitignore line, which a teammate's clone has too; ward init added
// nothing and said nothing. A .env that git tracks is said to be tracked
// (the .env line does not apply to it), not blamed on a !.env that is
// not there, whether .gitignore had the line or is given it.
func TestInitDotenvIgnoredByOwnRulesOrTracked(t *testing.T) {
	git := func(t *testing.T, dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	// excludesFile makes a file of that name, ignoring .env, the
	// repository's core.excludesFile.
	excludesFile := func(name string) func(t *testing.T, repo string) {
		return func(t *testing.T, repo string) {
			global := filepath.Join(t.TempDir(), name)
			if err := os.WriteFile(global, []byte(".env\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			git(t, repo, "config", "core.excludesFile", global)
		}
	}
	for _, tc := range []struct {
		name, ignore string
		setup        func(t *testing.T, repo string)
		want         string // .gitignore after
		warning      string
	}{
		{"info/exclude", "", func(t *testing.T, repo string) {
			if err := os.WriteFile(filepath.Join(repo, ".git", "info", "exclude"), []byte(".env\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, ".env\n", ""},
		// Named as a repository's is, in the user's home.
		{"core.excludesFile ~/.gitignore", "", excludesFile(".gitignore"), ".env\n", ""},
		{"core.excludesFile", "node_modules\n", excludesFile("ignore"), "node_modules\n.env\n", ""},
		{"tracked, with the line", ".env\n", func(t *testing.T, repo string) {
			if err := os.WriteFile(filepath.Join(repo, ".env"), []byte("PORT=1\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			git(t, repo, "add", "-f", ".env")
			git(t, repo, "commit", "-q", "-m", "env")
		}, ".env\n", "ward: warning: .env is tracked by git"},
		{"tracked, without it", "", func(t *testing.T, repo string) {
			if err := os.WriteFile(filepath.Join(repo, ".env"), []byte("PORT=1\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			git(t, repo, "add", ".env")
			git(t, repo, "commit", "-q", "-m", "env")
		}, ".env\n", "ward: warning: .env is tracked by git"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWardEnv(t)
			repo := t.TempDir()
			git(t, repo, "init", "-q")
			if tc.ignore != "" {
				if err := os.WriteFile(filepath.Join(repo, ".gitignore"), []byte(tc.ignore), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tc.setup(t, repo)
			cmd := w.command("init")
			cmd.Dir = repo
			out, err := cmd.CombinedOutput()
			if code := exitCode(t, err); code != 0 {
				t.Fatalf("ward init: exit %d\n%s", code, out)
			}
			if b, _ := os.ReadFile(filepath.Join(repo, ".gitignore")); string(b) != tc.want {
				t.Errorf(".gitignore: %q, want %q", b, tc.want)
			}
			if tc.warning != "" && !strings.Contains(string(out), tc.warning) || tc.warning == "" && strings.Contains(string(out), "warning") {
				t.Errorf("ward init said:\n%s\nwant the warning %q", out, tc.warning)
			}
			if strings.Contains(string(out), "!.env") {
				t.Errorf("the warning blames a !.env line that is not there:\n%s", out)
			}
		})
	}
}

// TestInitGitignoreLink: ward init in a cloned repository whose
// .gitignore is a symbolic link to a file of the user's (git checks one
// out as it was committed: .gitignore -> ../.ssh/id_ed25519) writes the
// manifest, leaves the link and its target as they were, and warns that
// .env was not added. It read the target through the link and replaced
// the link with a file of the target's bytes and a .env line: the
// user's private key, in the repository, for the next commit.
func TestInitGitignoreLink(t *testing.T) {
	w := newWardEnv(t)
	home := t.TempDir()
	secret := canary("sshkey")
	key := "-----BEGIN OPENSSH PRIVATE KEY-----\n" + secret + "\n-----END OPENSSH PRIVATE KEY-----\n"
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519"), []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(home, "proj")
	if out, err := exec.Command("git", "init", "-q", repo).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	link := filepath.Join(repo, ".gitignore")
	if err := os.Symlink("../.ssh/id_ed25519", link); err != nil {
		t.Fatal(err)
	}
	cmd := w.command("init")
	cmd.Dir = repo
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	code := exitWithin(t, cmd, 30*time.Second)
	if strings.Contains(stdout.String()+stderr.String(), secret) {
		t.Fatal("the key is in ward init's output")
	}
	if code != 0 || !strings.Contains(stderr.String(), "ward: warning: .gitignore was left as it is, and .env was not added to it: it is a symbolic link to ../.ssh/id_ed25519, which git does not read") {
		t.Errorf("ward init: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	if target, err := os.Readlink(link); err != nil || target != "../.ssh/id_ed25519" {
		t.Errorf(".gitignore is no longer the repository's link: %q, %v", target, err)
	}
	if b, err := os.ReadFile(filepath.Join(home, ".ssh", "id_ed25519")); err != nil || string(b) != key {
		t.Errorf("the key was changed (%v)", err)
	}
	if found := scanForValue(repo, []byte(secret)); len(found) > 0 {
		t.Errorf("the key is in the repository: %v", found)
	}
	if _, err := os.Stat(filepath.Join(repo, "ward.yaml")); err != nil {
		t.Errorf("no manifest written: %v", err)
	}
}

// TestCompletionOfHostileProfiles: `ward run -p <Tab>` in bash, in a
// cloned repository whose manifest names its profiles as it likes,
// offers each profile quoted as the shell reads it back: the line the
// user then runs holds the profile's name, and nothing else runs. The
// script expanded each reply as a glob (a profile "/*/*/*" offered
// thousands of the machine's file names, and a deeper one hung the
// shell at the Tab for minutes), and bash inserted a reply as it was:
// `ward run -p $(touch FILE)` on the line, run at Enter.
func TestCompletionOfHostileProfiles(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("bash is not installed")
	}
	w := newWardEnv(t)
	repo := t.TempDir()
	mark := filepath.Join(t.TempDir(), "ran")
	names := []string{"$(touch " + mark + ")", "/*/*/*", "a b;c`true`", "dev"}
	body := "version: 1\nenv:\n  A: {value: x}\nprofiles:\n"
	for _, n := range names {
		body += fmt.Sprintf("  %q:\n    env:\n      A: {value: y}\n", n)
	}
	if err := os.WriteFile(filepath.Join(repo, "ward.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	// Each reply as the user's Enter runs the line it completed.
	cmd := exec.Command(bash, "-c", `source <(ward completion bash); COMP_WORDS=(ward run -p ""); COMP_CWORD=3; _ward_complete; for r in "${COMPREPLY[@]}"; do eval "set -- $r"; printf "%s|%s\n" "$#" "$1"; done`)
	cmd.Env, cmd.Dir = w.env, repo
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exitWithin(t, cmd, 30*time.Second)
	var want strings.Builder
	for _, n := range slices.Sorted(slices.Values(names)) {
		fmt.Fprintf(&want, "1|%s\n", n)
	}
	if got := stdout.String(); got != want.String() || stderr.Len() > 0 {
		if len(got) > 2000 {
			got = got[:2000] + "..."
		}
		t.Errorf("the profiles bash offers, each read back as one word:\n%s\nwant:\n%s\nstderr: %s", got, want.String(), stderr.String())
	}
	if _, err := os.Stat(mark); err == nil {
		t.Error("a profile's name ran as a command on the completed line")
	}
}

// TestScanNestedRepositoryConfig: ward scan searches a repository nested
// in the work tree (an unpacked archive's vendored dependency, with its
// .git) without running the command its .git/config names as
// core.fsmonitor; git status in the outer repository runs none. ward ran
// it at every scan, listing the nested repository's files.
func TestScanNestedRepositoryConfig(t *testing.T) {
	w := newWardEnv(t)
	value := canary("nested")
	w.set("app/a", value)
	repo := t.TempDir()
	mark := filepath.Join(t.TempDir(), "ran")
	nested := filepath.Join(repo, "vendor", "dep")
	for _, c := range [][]string{
		{"git", "init", "-q", repo},
		{"git", "init", "-q", nested},
		{"git", "-C", nested, "config", "core.fsmonitor", "touch " + mark + "; false"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(repo, "ward.yaml"), []byte("version: 1\nenv:\n  A: local://app/a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(nested, "config.js"), []byte("token = '"+value+"'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("git", "-C", repo, "status", "--short").CombinedOutput(); err != nil || !strings.Contains(string(out), "vendor/") {
		t.Fatalf("git status: %v\n%s", err, out)
	}
	if _, err := os.Stat(mark); err == nil {
		t.Fatal("git status ran the nested repository's core.fsmonitor: the premise is wrong")
	}
	cmd := w.command("scan")
	cmd.Dir = repo
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	code := exitWithin(t, cmd, 60*time.Second)
	if code != 1 || stdout.String() != "vendor/dep/config.js:1: A (plain)\n" {
		t.Errorf("ward scan: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	if strings.Contains(stdout.String()+stderr.String(), value) {
		t.Error("the value is in ward scan's output")
	}
	if _, err := os.Stat(mark); err == nil {
		t.Error("ward scan ran the command a nested repository's .git/config names")
	}
}

// TestLocalStoreThatIsAPipe: a local store file, or an identity file,
// that is a named pipe (made where the user's directories are shared, or
// by mistake) is refused with 125 naming it, and the shell's completion
// of `ward local get` offers nothing, at once. ward opened it and waited
// for a writer: ward run, ward local list and the completion hung.
func TestLocalStoreThatIsAPipe(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/a", canary("pipe"))
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\n")
	for _, tc := range []struct {
		file string
		says string
	}{
		{filepath.Join(w.dir, "data", "ward", "store.age"), "store.age is a named pipe (FIFO), not a regular file"},
		{filepath.Join(w.dir, "config", "ward", "identity.txt"), "identity.txt is a named pipe (FIFO), not an age identity file"},
	} {
		if err := os.Rename(tc.file, tc.file+".aside"); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mkfifo(tc.file, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"local", "list"}, {"run", "-m", m, "--", "true"}, {"__complete", "local", "get", ""}} {
			cmd := w.command(args...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			code := exitWithin(t, cmd, 10*time.Second)
			if args[0] == "__complete" {
				if code != 0 || stdout.String() != "" {
					t.Errorf("ward %s with %s a pipe: exit %d, stdout %q", strings.Join(args, " "), filepath.Base(tc.file), code, stdout.String())
				}
			} else if code != 125 || !strings.Contains(stderr.String(), tc.says) {
				t.Errorf("ward %s: exit %d, want 125 saying %q:\n%s", args[0], code, tc.says, stderr.String())
			}
		}
		if err := os.Remove(tc.file); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tc.file+".aside", tc.file); err != nil {
			t.Fatal(err)
		}
	}
	if code, stdout, stderr := w.run("local", "list"); code != 0 || !strings.HasPrefix(stdout, "app/a\t") {
		t.Errorf("ward local list, the files back: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestImportFoundDotenvThatIsNoFile: `ward import` with no file named,
// in a cloned repository whose .env is a symbolic link to a named pipe
// or a device (.env -> /dev/tty), is refused with 125, at once; it read
// the terminal (or waited for a writer), and imported what the user
// typed next as the repository's secrets.
func TestImportFoundDotenvThatIsNoFile(t *testing.T) {
	w := newWardEnv(t)
	fifo := filepath.Join(t.TempDir(), "pipe")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{fifo, "/dev/null"} {
		repo := t.TempDir()
		if err := os.Symlink(target, filepath.Join(repo, ".env")); err != nil {
			t.Fatal(err)
		}
		cmd := w.command("import")
		cmd.Dir = repo
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		want := ".env is not a dotenv file ward can read: it is a symbolic link to " + target
		if code := exitWithin(t, cmd, 10*time.Second); code != 125 || !strings.Contains(stderr.String(), want) {
			t.Errorf("ward import, .env -> %s: exit %d, want 125 saying %q:\n%s", target, code, want, stderr.String())
		}
		if _, err := os.Stat(filepath.Join(repo, "ward.yaml")); err == nil {
			t.Errorf("ward import, .env -> %s: a manifest was written", target)
		}
	}
}

// TestHelperChannelsCannotBeReopened: a store helper's stdin and stdout,
// which carry the store's credentials (the open request's environment)
// and the values, cannot be opened again through /proc/PID/fd. The
// helper is dumpable from its exec until its main hardens it, and
// meanwhile any process of ward's user may open its /proc/PID/fd/0 and
// 1: they were pipes, which open again as pipes, and such a process
// (Yama's ptrace_scope 1 stops none of it) watching for ward-vault opened
// the helper's stdin at 10 of the 10 starts it saw in 30, and read
// VAULT_TOKEN from it: what the helper's /proc/PID/environ no longer
// shows. A socket never opens through /proc. (Opened here as root,
// whom non-dumpable does not stop.)
func TestHelperChannelsCannotBeReopened(t *testing.T) {
	if os.Geteuid() != 0 {
		vaulttest.RequireIntegration(t, "opening a non-dumpable helper's /proc/PID/fd needs root")
	}
	srv, w := awsWard(t)
	pid, stop := awsHelperRun(t, srv, w, "aws-channel")
	for fd := range 2 {
		p := fmt.Sprintf("/proc/%d/fd/%d", pid, fd)
		what, _ := os.Readlink(p)
		if f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NONBLOCK, 0); err == nil {
			f.Close()
			t.Errorf("the helper's %s (%s) opens again: another process of ward's user reads what crosses it", p, what)
		}
	}
	stop()
}

// impostor is a server in a Vault's place that refuses every request,
// counting them, and those that carry a Vault token.
type impostor struct {
	*httptest.Server
	mu               sync.Mutex
	requests, tokens int
}

// newImpostor starts an impostor, over TLS (httptest's certificate, for
// 127.0.0.1 and example.com) when useTLS is set, closed with the test.
func newImpostor(t *testing.T, useTLS bool) *impostor {
	s := &impostor{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests++
		if r.Header.Get("X-Vault-Token") != "" {
			s.tokens++
		}
		s.mu.Unlock()
		http.Error(rw, `{"errors":["permission denied"]}`, http.StatusForbidden)
	}))
	if useTLS {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

// heard is how many requests the impostor was sent, and how many of them
// carried a token.
func (s *impostor) heard() (requests, tokens int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.tokens
}

// reset forgets the requests heard so far.
func (s *impostor) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.tokens = 0, 0
}

// TestManifestCannotRedirectVaultCredentials: a cloned repository's (or
// a pull request's) ward.yaml naming a Vault of its own in
// stores.vault.address, where the user's environment names their Vault
// and holds its token. ward check --resolve and ward scan (which run
// none of the repository's code) and ward run sent the environment's
// token to the manifest's server. They now exit 125 naming both
// addresses, and the server hears nothing; with no Vault in the
// environment, the manifest's address is the one used, as before.
func TestManifestCannotRedirectVaultCredentials(t *testing.T) {
	token := canary("redirect-token")
	other := newImpostor(t, false)
	heard := other.heard
	w := newWardEnv(t)
	m := w.manifest(fmt.Sprintf("version: 1\nstores:\n  vault:\n    address: %s\nenv:\n  DB_PASSWORD: vault://secret/app#password\n", other.URL))
	if err := os.WriteFile(filepath.Join(w.dir, "notes.txt"), []byte("nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The user's Vault: nothing listens there, and nothing needs to.
	w.env = append(w.env, "VAULT_ADDR=https://vault.internal.example:8200", "VAULT_TOKEN="+token, "WARD_LOG_FORMAT=text")
	for _, args := range [][]string{
		{"check", "--resolve", "-m", m},
		{"scan", "-m", m, filepath.Join(w.dir, "notes.txt")},
		{"run", "-m", m, "--", "helper", "touch", filepath.Join(w.dir, "started")},
	} {
		code, stdout, stderr := w.run(args...)
		if code != 125 {
			t.Errorf("ward %s: exit %d, want 125", args[0], code)
		}
		if !strings.Contains(stderr, "stores.vault.address is "+other.URL+", but the environment names the Vault at https://vault.internal.example:8200 (VAULT_ADDR)") {
			t.Errorf("ward %s: the error does not name both Vaults:\n%s", args[0], redactAll(stderr, token))
		}
		if !strings.Contains(stderr, "set VAULT_ADDR to "+other.URL+" or unset it") {
			t.Errorf("ward %s: the hint does not say what to do:\n%s", args[0], redactAll(stderr, token))
		}
		if strings.Contains(stdout+stderr, token) {
			t.Errorf("ward %s: the token is in ward's output", args[0])
		}
	}
	if n, withToken := heard(); n != 0 {
		t.Errorf("the manifest's server was sent %d requests, %d of them with a token", n, withToken)
	}
	if _, err := os.Stat(filepath.Join(w.dir, "started")); err == nil {
		t.Error("the child started")
	}
	// Without a Vault in the environment, check --resolve and scan, which
	// run none of the repository's code, still send it nothing; ward run
	// (a deployment's manifest names its Vault) uses the manifest's.
	w.env = slices.DeleteFunc(w.env, func(kv string) bool { return strings.HasPrefix(kv, "VAULT_ADDR=") })
	for _, args := range [][]string{
		{"check", "--resolve", "-m", m},
		{"scan", "-m", m, filepath.Join(w.dir, "notes.txt")},
	} {
		code, _, stderr := w.run(args...)
		if code != 125 || !strings.Contains(stderr, "stores.vault.address is "+other.URL+" and the environment names no Vault") || !strings.Contains(stderr, "export VAULT_ADDR="+other.URL) {
			t.Errorf("ward %s with no VAULT_ADDR: exit %d, want 125 and the refusal of a Vault only the manifest names:\n%s", args[0], code, redactAll(stderr, token))
		}
	}
	// Beside a reference it can read, scan searches for that one and
	// warns of the Vault's, with what to do.
	w.set("app/other", canary("redirect-other"))
	mm := w.manifest(fmt.Sprintf("version: 1\nstores:\n  vault:\n    address: %s\nenv:\n  DB_PASSWORD: vault://secret/app#password\n  OTHER: local://app/other\n", other.URL))
	if code, _, stderr := w.run("scan", "-m", mm, filepath.Join(w.dir, "notes.txt")); code != 0 || !strings.Contains(stderr, "cannot resolve a secret, so it is not searched for") || !strings.Contains(stderr, "export VAULT_ADDR="+other.URL) {
		t.Errorf("ward scan of a Vault and a local reference with no VAULT_ADDR: exit %d, want 0 and the warning with its hint:\n%s", code, redactAll(stderr, token))
	}
	// The same where only the identity endpoint's source reads Vault.
	mi := w.manifest(fmt.Sprintf("version: 1\nstores:\n  vault:\n    address: %s\nidentity:\n  aws:\n    from: vault://aws/creds/deploy\n", other.URL))
	if code, _, stderr := w.run("check", "--resolve", "-m", mi); code != 125 || !strings.Contains(stderr, "the environment names no Vault") {
		t.Errorf("ward check of an identity from Vault with no VAULT_ADDR: exit %d, want 125 and the refusal:\n%s", code, redactAll(stderr, token))
	}
	if n, withToken := heard(); n != 0 {
		t.Errorf("with no VAULT_ADDR, check and scan sent the manifest's server %d requests, %d of them with a token", n, withToken)
	}
	if code, _, stderr := w.run("run", "-m", m, "--", "helper", "true"); code != 125 || strings.Contains(stderr, "environment names") {
		t.Errorf("ward run with no VAULT_ADDR: exit %d, want 125 from the manifest's Vault's refusal:\n%s", code, redactAll(stderr, token))
	}
	if n, _ := heard(); n == 0 {
		t.Error("with no VAULT_ADDR, ward run did not ask the manifest's server: the test cannot tell a refusal from a server never asked")
	}
}

// TestManifestCannotWeakenVaultTLS: where the environment names the
// Vault (VAULT_ADDR) and holds its token, a cloned repository's (or a
// pull request's) ward.yaml turned off or redirected the TLS check that
// tells the Vault from whoever answers in its place on the network:
// `skip_verify: true`, a `ca_cert` or `ca_path` of the repository's (its
// own CA), a `tls_server_name` its certificate is for. ward check
// --resolve and ward scan, which run none of the repository's code, sent
// the token to that server. They now exit 125 naming the settings, with
// the exports that would say the environment trusts them; where the
// environment does say so, or for ward run, the settings are used.
func TestManifestCannotWeakenVaultTLS(t *testing.T) {
	token := canary("tls-token")
	// Whoever answers at the Vault's address: a certificate for
	// 127.0.0.1 and example.com that no one but the repository vouches for.
	other := newImpostor(t, true)
	heard := other.heard
	w := newWardEnv(t)
	certs := filepath.Join(w.dir, "certs")
	if err := os.Mkdir(certs, 0o700); err != nil {
		t.Fatal(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(certs, "ca.pem"), caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	notes := filepath.Join(w.dir, "notes.txt")
	if err := os.WriteFile(notes, []byte("nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(strings.TrimPrefix(other.URL, "https://"), ":")
	base := slices.Clone(w.env)
	for _, tc := range []struct {
		name, stores, vaultAddr string
		env                     []string
		says, export            string
	}{
		{"skip_verify", "    skip_verify: true\n", other.URL, nil,
			"skip_verify: true (VAULT_SKIP_VERIFY not set)", "export VAULT_SKIP_VERIFY=true"},
		{"ca_cert", "    ca_cert: certs/ca.pem\n", other.URL, nil,
			"ca_cert: certs/ca.pem (VAULT_CACERT not set)", "certs/ca.pem"},
		{"ca_path", "    ca_path: certs\n", other.URL, nil,
			"ca_path: certs (VAULT_CAPATH not set)", "export VAULT_CAPATH="},
		// The user trusts the CA (as the system trusts a public one), and
		// the Vault's name is not on the certificate.
		{"tls_server_name", "    tls_server_name: example.com\n", "https://localhost:" + port, []string{"VAULT_CACERT=" + filepath.Join(certs, "ca.pem")},
			"tls_server_name: example.com (VAULT_TLS_SERVER_NAME not set)", "export VAULT_TLS_SERVER_NAME=example.com"},
	} {
		m := w.manifest("version: 1\nstores:\n  vault:\n" + tc.stores + "env:\n  DB_PASSWORD: vault://secret/app#password\n")
		w.env = append(slices.Clone(base), append([]string{"VAULT_ADDR=" + tc.vaultAddr, "VAULT_TOKEN=" + token, "WARD_LOG_FORMAT=text"}, tc.env...)...)
		for _, args := range [][]string{{"check", "--resolve", "-m", m}, {"scan", "-m", m, notes}} {
			code, stdout, stderr := w.run(args...)
			if code != 125 || !strings.Contains(stderr, "stores.vault has "+tc.says+" for the environment's Vault at "+tc.vaultAddr) || !strings.Contains(stderr, tc.export) {
				t.Errorf("%s: ward %s: exit %d, want 125 naming the setting with %q:\n%s", tc.name, args[0], code, tc.export, redactAll(stderr, token))
			}
			if strings.Contains(stdout+stderr, token) {
				t.Errorf("%s: ward %s: the token is in ward's output", tc.name, args[0])
			}
		}
		if n, withToken := heard(); n != 0 {
			t.Errorf("%s: the server in the Vault's place was sent %d requests, %d of them with a token", tc.name, n, withToken)
		}
		// ward run runs the repository's program anyway, and uses them: the
		// server hears it (the test tells a refusal from a server that
		// could not be reached).
		if code, _, stderr := w.run("run", "-m", m, "--", "helper", "true"); code != 125 || strings.Contains(stderr, "stores.vault has") {
			t.Errorf("%s: ward run: exit %d, want 125 from the server's refusal:\n%s", tc.name, code, redactAll(stderr, token))
		}
		if n, _ := heard(); n == 0 {
			t.Errorf("%s: ward run did not reach the server", tc.name)
		}
		other.reset()
	}
	// Where the environment says the same, check --resolve uses it.
	m := w.manifest("version: 1\nstores:\n  vault:\n    skip_verify: true\nenv:\n  DB_PASSWORD: vault://secret/app#password\n")
	w.env = append(slices.Clone(base), "VAULT_ADDR="+other.URL, "VAULT_TOKEN="+token, "VAULT_SKIP_VERIFY=true")
	if code, _, stderr := w.run("check", "--resolve", "-m", m); code != 125 || strings.Contains(stderr, "stores.vault has") {
		t.Errorf("check --resolve with VAULT_SKIP_VERIFY=true: exit %d, want 125 from the server's refusal:\n%s", code, redactAll(stderr, token))
	}
	if n, withToken := heard(); n == 0 || withToken == 0 {
		t.Errorf("check --resolve with VAULT_SKIP_VERIFY=true sent the server %d requests, %d with the token; want the read", n, withToken)
	}
}

// TestNamedIdentityPipe: an identity $WARD_IDENTITY names may be a pipe,
// as a shell's process substitution makes one (an identity kept in a
// password manager: WARD_IDENTITY=<(op read ...)); only a pipe found in
// the identity's usual place is refused (TestLocalStoreThatIsAPipe).
func TestNamedIdentityPipe(t *testing.T) {
	w := newWardEnv(t)
	value := canary("named-pipe")
	w.set("app/a", value)
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\n")
	identity := filepath.Join(w.dir, "config", "ward", "identity.txt")
	aside := filepath.Join(w.dir, "identity.aside")
	if err := os.Rename(identity, aside); err != nil {
		t.Fatal(err)
	}
	cmd := w.command()
	cmd.Path = "/bin/bash"
	cmd.Args = []string{"bash", "-c", `WARD_IDENTITY=<(cat "$0") exec ward run -m "$1" -- sh -c 'printf %s "$A" | wc -c'`, aside, m}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if code := exitWithin(t, cmd, 10*time.Second); code != 0 || strings.TrimSpace(stdout.String()) != fmt.Sprint(len(value)) {
		t.Errorf("WARD_IDENTITY=<(...): exit %d, the child read %q bytes, want %d:\n%s", code, strings.TrimSpace(stdout.String()), len(value), redactAll(stderr.String(), value))
	}
}
