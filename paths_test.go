package main

// The file system and the process's surroundings as users have them: the
// working directory moved under a running ward, relative program paths
// at a restart, the umask, odd paths.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"github.com/wardsecrets/ward/testdata/helper"
)

// startedIn is the child of the restart tests: a script that says where
// it runs, then waits (helper sleep prints "ready").
const startedIn = "#!/bin/sh\necho \"started in $(pwd -P)\"\nexec helper sleep\n"

// TestPathsRestartWorkdirGone: the directory ward was started in is
// removed, or renamed, while the child runs; a rotation's restart cannot
// start the new child there. ward says so, naming the directory, and
// exits 125; it said "/usr/bin/sh: no such file or directory" (or the
// program's own name) and exited 127, of a program that is there.
func TestPathsRestartWorkdirGone(t *testing.T) {
	for _, how := range []string{"removed", "renamed"} {
		t.Run(how, func(t *testing.T) {
			w := newWardEnv(t)
			w.set("app/a", canary("wd1"))
			m := w.manifest("version: 1\nenv:\n  A: local://app/a\nrotation:\n  debounce: 100ms\n  stop_timeout: 5s\n")
			wd := filepath.Join(w.dir, "work dir")
			if err := os.Mkdir(wd, 0o755); err != nil {
				t.Fatal(err)
			}
			script := filepath.Join(w.dir, "app")
			if err := os.WriteFile(script, []byte(startedIn), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := w.command("run", "-m", m, "--", script)
			cmd.Dir = wd
			stdout, stderr := startedLines(t, cmd)
			if got := stdout.next("the first start"); got != "started in "+wd {
				t.Fatalf("the child says %q, want it started in %s", got, wd)
			}
			stdout.waitFor("ready")
			var err error
			if how == "removed" {
				err = os.Remove(wd)
			} else {
				err = os.Rename(wd, wd+".old")
			}
			if err != nil {
				t.Fatal(err)
			}
			w.set("app/a", canary("wd2"))
			code := exitWithin(t, cmd, time.Minute)
			var all []string
			for line := range stderr.ch {
				all = append(all, line)
			}
			text := strings.Join(all, "\n")
			if code != 125 {
				t.Errorf("ward exited %d, want 125 (ward could not start the child)", code)
			}
			want := "the child cannot be restarted: the working directory " + wd + " is gone: removed, or renamed, since ward was started there"
			if !strings.Contains(text, want) || !strings.Contains(text, `"hint":"a restarted child starts where the first one did`) {
				t.Errorf("ward's error does not name the directory the child cannot start in, with a hint:\n%s", text)
			}
			if strings.Contains(text, "no such file or directory") {
				t.Errorf("ward's error says a file is missing, of a program that is there:\n%s", text)
			}
			for line := range stdout.ch {
				if strings.HasPrefix(line, "started in") {
					t.Errorf("a second child started: %q", line)
				}
			}
		})
	}
}

// TestPathsRestartRelativeProgram: `ward run -- ./app` restarts ./app of
// the directory it was started in, and what ward says of a restart that
// fails is about that file: ward itself is in / by then, and read /app
// (it said the program's ELF loader was missing, of a script saved with
// Windows line endings since the first start).
func TestPathsRestartRelativeProgram(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/a", canary("rel1"))
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\nrotation:\n  debounce: 100ms\n  stop_timeout: 5s\n")
	wd := filepath.Join(w.dir, "proj")
	if err := os.Mkdir(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(wd, "app")
	if err := os.WriteFile(script, []byte(startedIn), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := w.command("run", "-m", m, "--", "./app")
	cmd.Dir = wd
	stdout, stderr := startedLines(t, cmd)
	if got := stdout.next("the first start"); got != "started in "+wd {
		t.Fatalf("the child says %q, want it started in %s", got, wd)
	}
	stdout.waitFor("ready")

	// A restart with the script as it was: ./app of the child's directory.
	w.set("app/a", canary("rel2"))
	if got := stdout.next("the restart"); got != "started in "+wd {
		t.Fatalf("the restarted child says %q, want it started in %s", got, wd)
	}
	stdout.waitFor("ready")
	stderr.waitForContaining("child restarted with the new secrets")

	// The script saved again with CRLF line endings: the next restart fails,
	// and ward says why.
	crlf := strings.ReplaceAll(startedIn, "\n", "\r\n")
	tmp := script + ".new"
	if err := os.WriteFile(tmp, []byte(crlf), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, script); err != nil {
		t.Fatal(err)
	}
	w.set("app/a", canary("rel3"))
	code := exitWithin(t, cmd, time.Minute)
	var all []string
	for line := range stderr.ch {
		all = append(all, line)
	}
	text := strings.Join(all, "\n")
	if code != 127 {
		t.Errorf("ward exited %d, want 127", code)
	}
	if !strings.Contains(text, `./app: its #! line ends in a carriage return`) {
		t.Errorf("ward's error does not say the script has Windows line endings:\n%s", text)
	}
}

// TestPathsLocalStoreUmask277: the first `ward local set` of a user under
// `umask 277` (a script's before it writes a key: files r--------) made
// the store's lock file 0400, and every later write of that user failed
// for good ("lock the local store: open .../store.age.lock: permission
// denied"). The lock is 0600 whatever the umask, and one left 0400 by an
// earlier ward is taken and mended. As uid 65534: root writes anyway.
func TestPathsLocalStoreUmask277(t *testing.T) {
	if os.Geteuid() != 0 {
		vaulttest.RequireIntegration(t, "the umask test switches to uid 65534 and needs root")
	}
	bin := nobodyBin(t)
	home := filepath.Join(bin, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(home, ".local/share/ward/store.age.lock")
	var values []string
	set := func(umask, value string) (int, string) {
		t.Helper()
		values = append(values, value)
		cmd := exec.Command("/bin/sh", "-c", "umask "+umask+" && exec ward local set app/key")
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + home}
		cmd.Dir = home
		cmd.Stdin = strings.NewReader(value)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		for _, v := range values {
			if strings.Contains(string(out), v) {
				t.Errorf("a canary is in ward's output")
			}
		}
		return exitCode(t, err), redactAll(string(out), values...)
	}
	for i, umask := range []string{"277", "277", "022"} {
		if i == 2 {
			// The lock as an earlier ward left it.
			if err := os.Chmod(lock, 0o400); err != nil {
				t.Fatal(err)
			}
		}
		if code, out := set(umask, canary("um")); code != 0 {
			t.Fatalf("ward local set #%d under umask %s: exit %d\n%s", i+1, umask, code, out)
		}
		st, err := os.Stat(lock)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("after set #%d under umask %s the lock has mode %#o, want 0600", i+1, umask, st.Mode().Perm())
		}
	}
	for _, v := range values {
		if found := scanForValue(bin, []byte(v)); len(found) > 0 {
			t.Errorf("a canary is on disk: %v", found)
		}
	}
}

// TestPathsProjectFilesUmask: the manifest and .gitignore that `ward init`
// and `ward import` create are as private as the user's umask says, and
// writable by the group where it lets them be: ward made them 0644
// whatever the umask, readable by everyone under `umask 077` and not
// writable by a team sharing the repository under `umask 002`. Never
// writable by everyone, `umask 000` included.
func TestPathsProjectFilesUmask(t *testing.T) {
	w := newWardEnv(t)
	for _, c := range []struct {
		umask string
		want  os.FileMode
	}{{"077", 0o600}, {"027", 0o640}, {"002", 0o664}, {"022", 0o644}, {"000", 0o664}} {
		for _, command := range []string{"init", "import"} {
			dir := filepath.Join(w.dir, command+"-"+c.umask)
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if command == "import" {
				if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("PORT=8080\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command("/bin/sh", "-c", "umask "+c.umask+" && exec ward "+command)
			cmd.Env = w.env
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("ward %s under umask %s: %v\n%s", command, c.umask, err, out)
			}
			names := []string{"ward.yaml", ".gitignore"}
			if command == "import" {
				// A .env of plain values alone: no .gitignore line.
				names = names[:1]
			}
			for _, name := range names {
				st, err := os.Stat(filepath.Join(dir, name))
				if err != nil {
					t.Errorf("ward %s under umask %s: %v", command, c.umask, err)
					continue
				}
				if got := st.Mode().Perm(); got != c.want {
					t.Errorf("ward %s under umask %s made %s mode %#o, want %#o", command, c.umask, name, got, c.want)
				}
			}
		}
	}
}

// TestPathsHelperRelativePathEntry: a store helper is never taken from an
// empty or relative entry of $PATH (`PATH=:$PATH`, `.`): it gets the
// store's credentials, and the directory ward runs in (a cloned
// repository) may hold anyone's `ward-vault`. ward takes the one
// installed further along $PATH; it said "ward-vault is not installed"
// (exec.LookPath stops at the relative find with ErrDot). With none
// installed, the error says which file it did not run.
func TestPathsHelperRelativePathEntry(t *testing.T) {
	w := newWardEnv(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	// ward alone in one directory, its Vault helper in another (a
	// package's ward in /usr/bin, `go install`'s helpers in ~/go/bin).
	wardDir, helperDir := filepath.Join(w.dir, "bin"), filepath.Join(w.dir, "helpers")
	for _, f := range []string{filepath.Join(wardDir, "ward"), filepath.Join(helperDir, "ward-vault")} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	repo := filepath.Join(w.dir, "repo")
	if err := os.Mkdir(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(w.dir, "planted-ran")
	if err := os.WriteFile(filepath.Join(repo, "ward-vault"), []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := w.manifest("version: 1\nenv:\n  A: vault://secret/app#a\n")
	addr := "http://127.0.0.1:" + freePort(t)
	for _, c := range []struct{ path, want string }{
		// The installed helper runs, and finds no Vault there.
		{":" + helperDir + ":/usr/bin:/bin", "vault at " + addr},
		{".:" + helperDir + ":/usr/bin:/bin", "vault at " + addr},
		{"/usr/bin:/bin:", "./ward-vault, found through an empty entry (the working directory) of $PATH, is not run"},
		{"repo:/usr/bin:/bin", "./repo/ward-vault, found through the relative entry \"repo\" of $PATH, is not run"},
	} {
		cmd := exec.Command(filepath.Join(wardDir, "ward"), "run", "-m", m, "--", "true")
		cmd.Env = append(w.env, "PATH="+c.path, "VAULT_ADDR="+addr, "VAULT_TOKEN=unused", "WARD_LOG_FORMAT=text")
		cmd.Dir = repo
		if strings.HasPrefix(c.path, "repo:") {
			cmd.Dir = w.dir
		}
		out, err := cmd.CombinedOutput()
		if code := exitCode(t, err); code != 125 {
			t.Errorf("PATH=%s: ward exited %d, want 125", c.path, code)
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("PATH=%s: ward's error does not say %q:\n%s", c.path, c.want, out)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("PATH=%s: ward ran the ward-vault of the working directory", c.path)
		}
	}
}

// TestPathsManifestPathQuoted: a manifest in a directory whose name holds
// a line break, an escape sequence or bytes that are not UTF-8 (a cloned
// repository's) is named quoted, as ward scan names such files: the line
// break split `ward: error:` in two, and the escape sequence reached the
// terminal. A name with spaces or unicode is printed as it is.
func TestPathsManifestPathQuoted(t *testing.T) {
	w := newWardEnv(t)
	for _, c := range []struct{ dir, shown string }{
		{"nl\nx", `"nl\nx/ward.yaml"`},
		{"esc\x1b[31mred", `"esc\x1b[31mred/ward.yaml"`},
		{"bad\xff\xfe", `"bad\xff\xfe/ward.yaml"`},
		{"with space ünï", `with space ünï/ward.yaml`},
	} {
		if err := os.Mkdir(filepath.Join(w.dir, c.dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(w.dir, c.dir, "ward.yaml"), []byte("version: 1\nenv:\n  B: nope\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := w.command("run", "-m", c.dir+"/ward.yaml", "--", "true")
		cmd.Env = append(cmd.Env, "WARD_LOG_FORMAT=text")
		out, err := cmd.CombinedOutput()
		if code := exitCode(t, err); code != 125 {
			t.Errorf("%q: ward exited %d, want 125", c.dir, code)
		}
		lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
		want := "ward: error: " + c.shown + ":3:6: env.B: not a secret reference"
		if len(lines) != 2 || lines[0] != want || !strings.HasPrefix(lines[1], "ward: hint: ") {
			t.Errorf("%q: ward printed\n%q\nwant the line %q and its hint", c.dir, out, want)
		}
		if strings.Contains(string(out), "\x1b") {
			t.Errorf("%q: an escape character reached ward's output", c.dir)
		}
	}
}

// TestPathsHomeIsAFile: a HOME that is a file (/dev/null, a service
// user's) gives the local store's commands and `ward run` an error naming
// it, with the hint of where the store and identity may be instead; they
// said "stat /dev/null/.local/share/ward/store.age: not a directory" with
// no hint (HOME=/ and /nonexistent had one).
func TestPathsHomeIsAFile(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\n")
	for _, c := range []struct {
		args      []string
		extra     []string
		want, why string
	}{
		{[]string{"local", "set", "app/a"}, nil, "the local store /dev/null/.local/share/ward/store.age: /dev/null ($HOME) is not a directory", "the store is $WARD_LOCAL_STORE"},
		{[]string{"local", "get", "app/a"}, nil, "cannot read the local store /dev/null/.local/share/ward/store.age: /dev/null ($HOME) is not a directory", "the store is $WARD_LOCAL_STORE"},
		{[]string{"run", "-m", m, "--", "true"}, nil, "A: local://app/a: cannot read the local store /dev/null/.local/share/ward/store.age: /dev/null ($HOME) is not a directory", "the store is $WARD_LOCAL_STORE"},
		// The store elsewhere, the identity under HOME.
		{[]string{"local", "set", "app/a"}, []string{"XDG_DATA_HOME=" + filepath.Join(w.dir, "data")}, "cannot read the identity file /dev/null/.config/ward/identity.txt: /dev/null ($HOME) is not a directory", "the identity is $WARD_IDENTITY"},
	} {
		cmd := w.command(c.args...)
		cmd.Env = append(cmd.Env, "HOME=/dev/null", "XDG_DATA_HOME=", "XDG_CONFIG_HOME=", "WARD_LOG_FORMAT=text")
		cmd.Env = append(cmd.Env, c.extra...)
		cmd.Stdin = strings.NewReader(canary("home"))
		out, err := cmd.CombinedOutput()
		if code := exitCode(t, err); code != 125 {
			t.Errorf("ward %s: exit %d, want 125", strings.Join(c.args, " "), code)
		}
		if !strings.Contains(string(out), c.want+"\n") || !strings.Contains(string(out), "ward: hint: "+c.why) {
			t.Errorf("ward %s with HOME=/dev/null printed\n%s\nwant %q and the hint %q", strings.Join(c.args, " "), out, c.want, c.why)
		}
	}
	// A HOME where no folder can be made (under /proc): the hint too.
	cmd := w.command("local", "set", "app/a")
	cmd.Env = append(cmd.Env, "HOME=/proc/1/ward-no-such-home", "XDG_DATA_HOME=", "XDG_CONFIG_HOME=", "WARD_LOG_FORMAT=text", "WARD_IDENTITY="+filepath.Join(w.dir, "id.txt"))
	cmd.Stdin = strings.NewReader(canary("home"))
	out, err := cmd.CombinedOutput()
	if code := exitCode(t, err); code != 125 || !strings.Contains(string(out), "ward: hint: the store is $WARD_LOCAL_STORE") {
		t.Errorf("ward local set with HOME under /proc: exit %d, printed\n%s\nwant 125 and the hint of where the store may be", code, out)
	}
}

// TestPathsUnsearchablePathEntry: a directory of $PATH that cannot be
// searched (mode 0700, another user's) before the one holding the
// program is passed over; with the program nowhere, ward exits 126 as
// execvp and env do (bash says 127, "command not found"), and says the
// program was not found and which directory could not be searched. It
// named DIR/PROGRAM "stat DIR/PROGRAM: permission denied", as if the
// program were there. As uid 65534: root searches any directory.
func TestPathsUnsearchablePathEntry(t *testing.T) {
	if os.Geteuid() != 0 {
		vaulttest.RequireIntegration(t, "the test switches to uid 65534 and needs root")
	}
	bin := nobodyBin(t)
	locked := filepath.Join(bin, "locked")
	if err := os.Mkdir(locked, 0o700); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(bin, "ward.yaml")
	if err := os.WriteFile(manifest, []byte(emptyManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		program string
		code    int
		want    string
	}{
		{"true", 0, ""},
		{"no-such-program", 126, "ward: error: no-such-program: not found in $PATH, whose directory " + locked + " cannot be searched: permission denied\n"},
	} {
		cmd := exec.Command(filepath.Join(bin, "ward"), "run", "-m", manifest, "--", c.program)
		cmd.Env = []string{"PATH=" + locked + ":/usr/bin:/bin", "HOME=/"}
		cmd.Dir = bin
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if code := exitCode(t, err); code != c.code {
			t.Errorf("%s: exit %d, want %d\n%s", c.program, code, c.code, out)
		}
		if string(out) != c.want {
			t.Errorf("%s: ward printed\n%q\nwant\n%q", c.program, out, c.want)
		}
	}
}

// TestPathsEmptyProgram: an empty executable file (`touch run.sh; chmod
// +x run.sh`, a download cut short) gives 126 saying it is empty, as a
// script without a #! line is told of; it said "exec format error" and
// no more. (bash and env run it with sh, as a script doing nothing:
// exec does not, and neither does ward, as for any file without #!.)
func TestPathsEmptyProgram(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	if err := os.WriteFile(filepath.Join(w.dir, "run.sh"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := w.run("run", "-m", m, "--", "./run.sh")
	if code != 126 {
		t.Errorf("exit %d, want 126", code)
	}
	if !strings.Contains(stderr, "./run.sh: it is empty (a shell would run it as a script that does nothing, exec does not): give it a #! line") {
		t.Errorf("ward's error does not say the program is empty:\n%s", stderr)
	}
}

// TestPathsWorkingDirRemoved: ward started in a directory that was
// removed since the shell entered it (a build directory made again, a
// branch checked out without it) says so, and how to go on; it said
// "getwd: no such file or directory". With -m, ward run goes on.
func TestPathsWorkingDirRemoved(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	gone := filepath.Join(w.dir, "build")
	for _, c := range []struct {
		args string
		code int
		want string
	}{
		{"run -- true", 125, "ward: error: the current directory no longer exists: it was removed since the shell entered it\nward: hint: cd into it again if it was made again (cd \"$PWD\"), or to another directory; or name the manifest with -m\n"},
		{"check", 125, "ward: error: the current directory no longer exists: it was removed since the shell entered it\nward: hint: cd into it again if it was made again (cd \"$PWD\"), or to another directory; or name the manifest with -m\n"},
		{"init", 125, "ward: error: the current directory no longer exists: it was removed since the shell entered it\nward: hint: cd into it again if it was made again (cd \"$PWD\"), or to another directory\n"},
		{"run -m '" + m + "' -- true", 0, ""},
	} {
		if err := os.Mkdir(gone, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("/bin/sh", "-c", "cd '"+gone+"' && rmdir '"+gone+"' && exec ward "+c.args)
		cmd.Env = append(w.env, "WARD_LOG_FORMAT=text")
		out, err := cmd.CombinedOutput()
		if code := exitCode(t, err); code != c.code {
			t.Errorf("ward %s: exit %d, want %d\n%s", c.args, code, c.code, out)
		}
		if string(out) != c.want {
			t.Errorf("ward %s printed\n%s\nwant\n%s", c.args, out, c.want)
		}
	}
}

// TestPathsNoHomeUsesPasswd: with no $HOME (a systemd system unit
// without User=, `env -i`), the local store and its identity are under
// the home directory of the user's /etc/passwd entry, as a shell's ~ and
// systemd's %h are: the unit's ward found the store `sudo ward local
// set` had made in /root. It said "cannot place the local store: neither
// $XDG_DATA_HOME nor $HOME is set". As root, in a mount namespace of its
// own whose /etc/passwd gives root a home in the test's directory.
func TestPathsNoHomeUsesPasswd(t *testing.T) {
	w := newWardEnv(t)
	home, ward := wardWithoutHome(t, w)
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\n")
	value := canary("nohome")
	w.canaries = append(w.canaries, value)
	if code, _, stderr := ward(value, "local", "set", "app/a"); code != 0 {
		t.Fatalf("ward local set without $HOME: exit %d\n%s", code, stderr)
	}
	for _, f := range []string{".local/share/ward/store.age", ".config/ward/identity.txt"} {
		if _, err := os.Stat(filepath.Join(home, f)); err != nil {
			t.Errorf("not in the passwd entry's home: %v", err)
		}
	}
	code, stdout, stderr := ward("", "run", "-m", m, "--", "helper", "env")
	if code != 0 {
		t.Fatalf("ward run without $HOME: exit %d\n%s", code, stderr)
	}
	if !strings.Contains("\n"+stdout, "\nA "+helper.Hash(value)+"\n") {
		t.Errorf("the child did not get the value stored without $HOME:\n%s", stdout)
	}
}

// TestPathsNoHomeNamesWhereItLooked: `env -i ward run` (or cron, or a
// systemd unit without User=) for a store made in a shell's $HOME: ward
// looks under the passwd entry's home, finds no store there, and said
// "does not exist yet (create an entry with: ward local set NAME)", which
// would make a second, empty store beside the real one. It says $HOME is
// not set, where it looked, and to pass HOME or WARD_LOCAL_STORE.
func TestPathsNoHomeNamesWhereItLooked(t *testing.T) {
	w := newWardEnv(t)
	home, ward := wardWithoutHome(t, w)
	w.set("app/a", canary("nohome-where"))
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\n")
	code, _, stderr := ward("", "run", "-m", m, "--", "true")
	if code != 125 {
		t.Fatalf("ward run without $HOME, the store under another home: exit %d, want 125\n%s", code, stderr)
	}
	for _, want := range []string{"$HOME is not set", home, "WARD_LOCAL_STORE"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the error does not say %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "create an entry") {
		t.Errorf("the error sends the user to make a second store:\n%s", stderr)
	}
}

// wardWithoutHome makes a home directory for root in a passwd file of its
// own, and returns it with a function that runs ward as root without
// $HOME (nor the XDG variables) in a mount namespace where that file is
// /etc/passwd, failing the test if a canary of w's is in ward's output.
func wardWithoutHome(t *testing.T, w *wardEnv) (string, func(stdin string, args ...string) (int, string, string)) {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil || os.Geteuid() != 0 {
		vaulttest.RequireIntegration(t, "the test needs root and unshare (util-linux) for a mount namespace")
	}
	home := filepath.Join(w.dir, "root home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	passwd := filepath.Join(w.dir, "passwd")
	if err := os.WriteFile(passwd, []byte("root:x:0:0:root:"+home+":/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return home, func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		cmd := exec.Command("unshare", append([]string{"--mount", "sh", "-c", `mount --bind "$0" /etc/passwd && exec ward "$@"`, passwd}, args...)...)
		cmd.Env = append(withoutEnv(w.env, "HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"), "WARD_LOG_FORMAT=text")
		cmd.Dir = w.dir
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		code := exitCode(t, cmd.Run())
		for _, c := range w.canaries {
			if strings.Contains(stdout.String()+stderr.String(), c) {
				t.Errorf("ward %s: a canary is in ward's output", args[0])
			}
		}
		if strings.Contains(stderr.String(), "unshare failed") || strings.Contains(stderr.String(), "mount: ") {
			vaulttest.RequireIntegration(t, "cannot make a mount namespace here: "+stderr.String())
		}
		return code, stdout.String(), stderr.String()
	}
}

// TestPathsNoHomeVaultToken: without $HOME (a systemd system unit without
// User=), ward-vault finds ~/.vault-token in the passwd entry's home, as
// the Vault CLI's token helper does; it used to take os.UserHomeDir's
// error for no home and find no token.
func TestPathsNoHomeVaultToken(t *testing.T) {
	_, addr, token := testVault(t)
	w := newWardEnv(t)
	home, ward := wardWithoutHome(t, w)
	value := canary("nohome-vault")
	w.canaries = append(w.canaries, value)
	kvPut(t, "secret", "nohome/app", map[string]any{"a": value})
	if err := os.WriteFile(filepath.Join(home, ".vault-token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.env = append(withoutEnv(w.env, "VAULT_TOKEN", "VAULT_ADDR"), "VAULT_ADDR="+addr)
	m := w.manifest("version: 1\nenv:\n  A: vault://secret/nohome/app#a\n")
	code, stdout, stderr := ward("", "run", "-m", m, "--", "helper", "env")
	if code != 0 {
		t.Fatalf("ward run without $HOME, ~/.vault-token in the passwd home: exit %d\n%s", code, strings.ReplaceAll(stderr, token, "TOKEN"))
	}
	if strings.Contains(stdout+stderr, token) {
		t.Error("the Vault token is in ward's output")
	}
	if !strings.Contains("\n"+stdout, "\nA "+helper.Hash(value)+"\n") {
		t.Errorf("the child did not get the Vault value:\n%s", stdout)
	}
}
