package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/wardsecrets/ward/internal/atomicfile"
	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
)

// TestLocalConcurrentSets: 20 `ward local set` processes at once lose
// nothing: the lock serialises them and each write keeps the others'.
func TestLocalConcurrentSets(t *testing.T) {
	w := newWardEnv(t)
	w.set("seed/first", canary("seed"))
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := w.command("local", "set", fmt.Sprintf("concurrent/n%02d", i))
			cmd.Stdin = strings.NewReader(canary("conc"))
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Sprintf("set %d: %v: %s", i, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	code, stdout, stderr := w.run("local", "list")
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, stderr)
	}
	for i := 0; i < n; i++ {
		if !strings.Contains(stdout, fmt.Sprintf("concurrent/n%02d\t", i)) {
			t.Errorf("entry concurrent/n%02d was lost", i)
		}
	}
	if !strings.Contains(stdout, "seed/first\t") {
		t.Errorf("the entry set before was lost")
	}
}

// TestLocalSetKeepsMultiLineValue: `ward local set NAME < key` stores a
// value of several lines (a PEM or OpenSSH key) as the file holds it, its
// last line's newline included, as `vault kv put k=@file` and `file://`
// do: OpenSSH refuses a private key without it ("error in libcrypto"). A
// one-line value still loses its newline, LF or CRLF (`echo tok |`). The
// key is a PEM one, which ward writes to a file as it is (an OpenSSH key
// gets LF line ends there: see TestFileOpenSSHKeyAsSSHReadsIt).
func TestLocalSetKeepsMultiLineValue(t *testing.T) {
	w := newWardEnv(t)
	c := canary("pem")
	key := "-----BEGIN PRIVATE KEY-----\n" + c + "\n" + c + "\n-----END PRIVATE KEY-----\n"
	w.set("key", key)
	crlf := strings.ReplaceAll(key, "\n", "\r\n")
	w.set("keycrlf", crlf)
	tok := canary("tok")
	w.set("tok", tok+"\n")
	tokCRLF := canary("tokcrlf")
	w.set("tokcrlf", tokCRLF+"\r\n")
	m := w.manifest(`version: 1
env:
  KEY: local://key
  TOK: local://tok
  TOK_CRLF: local://tokcrlf
files:
  - {path: id, ref: local://key, env: KEY_FILE}
  - {path: idcrlf, ref: local://keycrlf, env: KEY_CRLF_FILE}
`)
	code, stdout, stderr := w.run("run", "-m", m, "--", "sh", "-c",
		`for f in "$KEY_FILE" "$KEY_CRLF_FILE"; do sha256sum < "$f"; done; for v in "$KEY" "$TOK" "$TOK_CRLF"; do printf %s "$v" | sha256sum; done`)
	if code != 0 {
		t.Fatalf("ward run: exit %d: %s", code, stderr)
	}
	sum := func(s string) string { return fmt.Sprintf("%x  -", sha256.Sum256([]byte(s))) }
	got := strings.Split(strings.TrimSpace(stdout), "\n")
	want := []struct{ what, sum string }{
		{"KEY_FILE", sum(key)}, {"KEY_CRLF_FILE", sum(crlf)}, {"KEY", sum(key)}, {"TOK", sum(tok)}, {"TOK_CRLF", sum(tokCRLF)},
	}
	if len(got) != len(want) {
		t.Fatalf("the child printed %d lines, want %d", len(got), len(want))
	}
	for i, x := range want {
		if got[i] != x.sum {
			t.Errorf("%s: the child got another value than the one set (a newline lost or added)", x.what)
		}
	}
}

// TestLocalStoreOfAnotherUserNotTakenByRoot: root running `ward local
// set` with another user's $HOME (sudo -E, su without -, a root shell
// that kept it) replaced that user's store with a file of root's, mode
// 0600: the user's every later `ward local` and `ward run` failed with
// "permission denied", and the values were theirs no more. Root is now
// refused a write where the store, or the directory it would be made in,
// is another user's; reading it is still allowed.
func TestLocalStoreOfAnotherUserNotTakenByRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		vaulttest.RequireIntegration(t, "giving the store to uid 65534 needs root")
	}
	const other = 65534
	chownAll := func(dir string) {
		t.Helper()
		err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, other, other)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	owner := func(p string) int {
		t.Helper()
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return int(st.Sys().(*syscall.Stat_t).Uid)
	}

	t.Run("existing store", func(t *testing.T) {
		w := newWardEnv(t)
		w.set("db", canary("theirs"))
		data, config := filepath.Join(w.dir, "data"), filepath.Join(w.dir, "config")
		chownAll(data)
		chownAll(config)
		store := filepath.Join(data, "ward", "store.age")
		before, err := os.ReadFile(store)
		if err != nil {
			t.Fatal(err)
		}
		root := canary("root")
		w.canaries = append(w.canaries, root)
		for _, args := range [][]string{{"local", "set", "db"}, {"local", "rm", "db"}} {
			cmd := w.command(args...)
			cmd.Stdin = strings.NewReader(root)
			out, err := cmd.CombinedOutput()
			if code := exitCode(t, err); code != 125 || !strings.Contains(string(out), "uid 65534") {
				t.Errorf("ward %s as root: exit %d, %q; want 125 naming the store's owner", strings.Join(args, " "), code, out)
			}
			if strings.Contains(string(out), root) {
				t.Errorf("ward %s: the value is in its output", strings.Join(args, " "))
			}
		}
		after, err := os.ReadFile(store)
		if err != nil {
			t.Fatal(err)
		}
		if got := owner(store); got != other || !bytes.Equal(before, after) {
			t.Errorf("the store of uid %d was replaced (now of uid %d)", other, got)
		}
		if code, stdout, stderr := w.run("local", "list"); code != 0 || !strings.HasPrefix(stdout, "db\tv1\t") {
			t.Errorf("root reading the store: exit %d, %q: %s", code, stdout, stderr)
		}
	})

	t.Run("no store yet", func(t *testing.T) {
		w := newWardEnv(t)
		home := filepath.Join(w.dir, "home")
		if err := os.Mkdir(home, 0o700); err != nil {
			t.Fatal(err)
		}
		chownAll(home)
		w.env = append(w.env, "XDG_DATA_HOME="+filepath.Join(home, ".local", "share"), "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
		root := canary("root")
		w.canaries = append(w.canaries, root)
		cmd := w.command("local", "set", "db")
		cmd.Stdin = strings.NewReader(root)
		out, err := cmd.CombinedOutput()
		if code := exitCode(t, err); code != 125 || !strings.Contains(string(out), "uid 65534") {
			t.Errorf("ward local set as root: exit %d, %q; want 125 naming the directory's owner", code, out)
		}
		if des, err := os.ReadDir(home); err != nil || len(des) > 0 {
			t.Errorf("root made %d files in the home of uid %d (%v)", len(des), other, err)
		}
	})
}

// TestLocalDamageSaysWhatToDo: a store file cut short (a copy or a sync
// that stopped half-way), emptied, or with a byte changed, and an empty
// identity file, gave an error that said what was wrong and nothing of
// what to do: no backup to restore, no way to start again. Each now has a
// hint, in `ward local` and in `ward run`, and the files are left as they
// are.
func TestLocalDamageSaysWhatToDo(t *testing.T) {
	w := newWardEnv(t)
	w.set("db", canary("damage"))
	store := filepath.Join(w.dir, "data", "ward", "store.age")
	identity := filepath.Join(w.dir, "config", "ward", "identity.txt")
	good := map[string][]byte{}
	for _, p := range []string{store, identity} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		good[p] = b
	}
	m := w.manifest("version: 1\nenv:\n  DB: local://db\n")
	tests := []struct {
		name, file string
		damage     func([]byte) []byte
		hint       string
	}{
		{"store cut short", store, func(b []byte) []byte { return b[:len(b)/2] }, "backup"},
		{"store emptied", store, func([]byte) []byte { return nil }, "backup"},
		{"store byte changed", store, func(b []byte) []byte { b[len(b)-20] ^= 1; return b }, "backup"},
		{"identity emptied", identity, func([]byte) []byte { return nil }, "backup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			damaged := tt.damage(bytes.Clone(good[tt.file]))
			if err := os.WriteFile(tt.file, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.WriteFile(tt.file, good[tt.file], 0o600) })
			for _, args := range [][]string{{"local", "list"}, {"local", "rm", "db"}, {"run", "-m", m, "--", "true"}} {
				code, _, stderr := w.run(args...)
				if code != 125 || !strings.Contains(stderr, tt.hint) {
					t.Errorf("ward %s: exit %d; want 125 and a hint with %q:\n%s", strings.Join(args, " "), code, tt.hint, stderr)
				}
			}
			if b, _ := os.ReadFile(tt.file); !bytes.Equal(b, damaged) {
				t.Errorf("the damaged file was changed")
			}
		})
	}
}

// TestLocalIdentityFileOfSeveralKeys: an age identity file may hold
// several identities, one a line, and age tries each (SOPS's keys.txt
// collects a key per line; a restored old key added to a new file). ward
// read only the first: a store encrypted to another key of the file was
// "not encrypted to the identity", though the file held its key. Every
// key is tried now, and a write stays encrypted to the key that read it.
func TestLocalIdentityFileOfSeveralKeys(t *testing.T) {
	w := newWardEnv(t)
	v1 := canary("first")
	w.set("db", v1)
	identity := filepath.Join(w.dir, "config", "ward", "identity.txt")
	old, err := os.ReadFile(identity)
	if err != nil {
		t.Fatal(err)
	}
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	several := fmt.Appendf(nil, "# created: 2026-01-01T00:00:00Z\n# public key: %s\n%s\n%s", other.Recipient(), other, old)
	if err := os.WriteFile(identity, several, 0o600); err != nil {
		t.Fatal(err)
	}
	m := w.manifest("version: 1\nenv:\n  DB: local://db\n")
	check := func(when string, want string) {
		t.Helper()
		code, stdout, stderr := w.run("run", "-m", m, "--", "sh", "-c", `printf %s "$DB" | sha256sum`)
		if code != 0 || stdout != fmt.Sprintf("%x  -\n", sha256.Sum256([]byte(want))) {
			t.Fatalf("%s: ward run: exit %d, the child did not get the value set:\n%s", when, code, stderr)
		}
	}
	check("with a second key before the store's", v1)
	v2 := canary("second")
	w.set("db", v2)
	check("after a set", v2)
	// The set wrote to the store's own key, not to the file's first.
	if err := os.WriteFile(identity, old, 0o600); err != nil {
		t.Fatal(err)
	}
	check("with the store's key alone", v2)
}

// TestLocalStoreLinkedIntoMissingFolder: a store.age linked into a
// synced or mounted folder that is not there (the sync not done on a new
// machine, the share not mounted) was "no store yet": `ward local list`
// listed nothing and succeeded, and `ward run` said to create an entry.
// It is now an error naming the link and the missing folder; once the
// folder is there, the first set makes the store through the link.
func TestLocalStoreLinkedIntoMissingFolder(t *testing.T) {
	w := newWardEnv(t)
	dir := filepath.Join(w.dir, "data", "ward")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	synced := filepath.Join(w.dir, "Sync", "ward")
	if err := os.Symlink(filepath.Join(synced, "store.age"), filepath.Join(dir, "store.age")); err != nil {
		t.Fatal(err)
	}
	m := w.manifest("version: 1\nenv:\n  DB: local://db\n")
	for _, args := range [][]string{{"local", "list"}, {"run", "-m", m, "--", "true"}, {"local", "set", "--allow-empty", "db"}} {
		code, _, stderr := w.run(args...)
		if code != 125 || !strings.Contains(stderr, synced) || strings.Contains(stderr, "does not exist yet") {
			t.Errorf("ward %s: exit %d; want 125 naming the missing folder %s:\n%s", strings.Join(args, " "), code, synced, stderr)
		}
	}
	if err := os.MkdirAll(synced, 0o700); err != nil {
		t.Fatal(err)
	}
	v := canary("linked")
	w.set("db", v)
	code, stdout, stderr := w.run("run", "-m", m, "--", "sh", "-c", `printf %s "$DB" | sha256sum`)
	if code != 0 || stdout != fmt.Sprintf("%x  -\n", sha256.Sum256([]byte(v))) {
		t.Errorf("after the folder came: ward run: exit %d, the child did not get the value set:\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(synced, "store.age")); err != nil {
		t.Errorf("the store was not made through the link: %v", err)
	}
}

// TestLocalStorePathsWithTilde: WARD_LOCAL_STORE=~/... where no shell
// expands the tilde (a quoted export, systemd's Environment=, a compose
// file) made a directory named "~" in the current directory, and a new
// store in it: the secrets went into the project's tree, and the store
// in use was another in every directory. A leading ~/ is now the home
// directory, in WARD_LOCAL_STORE and WARD_IDENTITY.
func TestLocalStorePathsWithTilde(t *testing.T) {
	w := newWardEnv(t)
	home := filepath.Join(w.dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	w.env = append(w.env, "HOME="+home, "WARD_LOCAL_STORE=~/secrets/store.age", "WARD_IDENTITY=~/secrets/identity.txt")
	v := canary("tilde")
	w.canaries = append(w.canaries, v)
	set := w.command("local", "set", "db")
	set.Stdin = strings.NewReader(v)
	if out, err := set.CombinedOutput(); err != nil {
		t.Fatalf("ward local set: %v: %s", err, out)
	}
	if _, err := os.Lstat(filepath.Join(w.dir, "~")); err == nil {
		t.Errorf("ward made a directory named ~ in its working directory")
	}
	for _, f := range []string{"store.age", "identity.txt"} {
		if _, err := os.Stat(filepath.Join(home, "secrets", f)); err != nil {
			t.Errorf("%s is not in the home directory: %v", f, err)
		}
	}
	m := w.manifest("version: 1\nenv:\n  DB: local://db\n")
	code, stdout, stderr := w.run("run", "-m", m, "--", "sh", "-c", `printf %s "$DB" | sha256sum`)
	if code != 0 || stdout != fmt.Sprintf("%x  -\n", sha256.Sum256([]byte(v))) {
		t.Errorf("ward run: exit %d, the child did not get the value set:\n%s", code, stderr)
	}
}

// TestLocalIdentityOfAnotherUser: a store and identity made by one user
// (root here) and read by another (a service's user, `sudo` without -u):
// the identity file cannot be read. The error was a bare "permission
// denied"; it names the file's owner and mode, ward's user, and what to
// do.
func TestLocalIdentityOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		vaulttest.RequireIntegration(t, "the test reads root's identity as uid 65534 and needs root")
	}
	bin := nobodyBin(t)
	data, config := filepath.Join(bin, "data"), filepath.Join(bin, "config")
	env := []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=/", "XDG_DATA_HOME=" + data, "XDG_CONFIG_HOME=" + config, "WARD_LOG_FORMAT=json"}
	v := canary("identity-other")
	set := exec.Command(filepath.Join(bin, "ward"), "local", "set", "db")
	set.Env, set.Stdin = env, strings.NewReader(v)
	if out, err := set.CombinedOutput(); err != nil {
		t.Fatalf("ward local set as root: %v: %s", err, out)
	}
	// Only the identity stops the other user: the directories are open
	// and the (encrypted) store readable.
	for _, d := range []string{data, filepath.Join(data, "ward"), config, filepath.Join(config, "ward")} {
		os.Chmod(d, 0o755)
	}
	os.Chmod(filepath.Join(data, "ward", "store.age"), 0o644)
	list := exec.Command(filepath.Join(bin, "ward"), "local", "list")
	list.Env, list.Dir = env, bin
	list.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := list.CombinedOutput()
	if code := exitCode(t, err); code != 125 {
		t.Errorf("ward local list as uid 65534: exit %d, want 125: %s", code, out)
	}
	for _, want := range []string{"cannot read the identity file", "owned by uid 0", "ward runs as uid 65534", "sudo -u"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the error does not say %q: %s", want, out)
		}
	}
	if strings.Contains(string(out), v) {
		t.Errorf("a canary is in the output")
	}
}

// TestLocalStoreElsewhereNamed: a store made where ward keeps it by
// default (~/.local/share/ward/store.age), then XDG_DATA_HOME set (a new
// shell profile, a container image) or WARD_LOCAL_STORE: ward looked
// where those say, said the store "does not exist yet", and the one made
// before looked gone. The error names it and how to use it.
func TestLocalStoreElsewhereNamed(t *testing.T) {
	w := newWardEnv(t)
	home := filepath.Join(w.dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	base := w.env
	w.env = append(slices.Clone(base), "HOME="+home, "XDG_DATA_HOME=")
	w.set("db", canary("elsewhere"))
	usual := filepath.Join(home, ".local", "share", "ward", "store.age")
	if _, err := os.Stat(usual); err != nil {
		t.Fatalf("the store is not where ward keeps it by default: %v", err)
	}
	w.env = append(slices.Clone(base), "HOME="+home)
	m := w.manifest("version: 1\nenv:\n  DB: local://db\n")
	code, _, stderr := w.run("run", "-m", m, "--", "true")
	if code != 125 {
		t.Errorf("ward run: exit %d, want 125", code)
	}
	for _, want := range []string{"one is at " + usual, "WARD_LOCAL_STORE"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the error does not say %q:\n%s", want, stderr)
		}
	}
	// `ward local list` lists nothing, exit 0, and says why: it said
	// nothing, and the store looked empty.
	code, stdout, stderr := w.run("local", "list")
	if code != 0 || stdout != "" || !strings.Contains(stderr, "one is at "+usual) {
		t.Errorf("ward local list: exit %d, stdout %q, stderr %q; want 0, nothing listed, and where the store is", code, stdout, stderr)
	}
}

// TestLocalWriteSaysItWaitsForTheLock: a `ward local set` (or import,
// rollback, rm) that finds another writer holding the store's lock (an
// import into a store of thousands of names, a writer stopped with
// Ctrl-Z, one on a hung network filesystem) says on stderr that it waits,
// and for what, then stores its value once the lock is free; it waited
// in silence, which looks like a hang.
func TestLocalWriteSaysItWaitsForTheLock(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/token", canary("first"))
	lockPath := filepath.Join(w.dir, "data", "ward", "store.age.lock")
	lock, err := os.OpenFile(lockPath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	second := canary("second")
	w.canaries = append(w.canaries, second)
	cmd := w.command("local", "set", "app/token")
	cmd.Stdin = strings.NewReader(second)
	_, stderr := startedLines(t, cmd)
	line := stderr.waitForContaining("waiting")
	if !strings.Contains(line, lockPath) || !strings.Contains(line, "another") {
		t.Errorf("the waiting line %q does not name the lock %s and who holds it", line, lockPath)
	}
	if strings.Contains(line, second) {
		t.Fatal("the waiting line holds the value")
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	if code := exitWithin(t, cmd, 10*time.Second); code != 0 {
		t.Fatalf("ward local set exited %d once the lock was free, want 0", code)
	}
	out, err := w.command("local", "get", "app/token").Output()
	if err != nil || string(out) != second {
		t.Errorf("ward local get app/token after the wait: %v, not the value set (%d bytes, want %d)", err, len(out), len(second))
	}
}

// TestImportOverThousandsOfNamesNamesTen: `ward import` of a .env of
// thousands of keys that the store holds already with other values (a
// team's shared file, fetched again) is refused in one short line that
// names ten of them and counts the rest, then the hint; the line named
// every one, 2,000 names (50 KB), with the hint after them.
func TestImportOverThousandsOfNamesNamesTen(t *testing.T) {
	w := newWardEnv(t)
	const n = 2000
	write := func(round string) (string, []string) {
		var b strings.Builder
		var values []string
		for i := range n {
			v := canary(round)
			values = append(values, v)
			fmt.Fprintf(&b, "API_TOKEN_%04d=%s\n", i, v)
		}
		// Outside the test's directory, whose files the audit searches.
		p := filepath.Join(t.TempDir(), round+".env")
		if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		return p, values
	}
	first, _ := write("first")
	if code, _, stderr := w.run("import", "--name-prefix", "team/", first); code != 0 {
		t.Fatalf("the first import exited %d: %s", code, stderr)
	}
	again, values := write("again")
	code, _, stderr := w.run("import", "--name-prefix", "team/", "-m", filepath.Join(w.dir, "other.yaml"), again)
	if code != 125 {
		t.Fatalf("the import over existing names exited %d, want 125", code)
	}
	for _, v := range values[:3] {
		if strings.Contains(stderr, v) {
			t.Fatal("the refusal holds a value")
		}
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 2 || len(lines[0]) > 500 || !strings.Contains(lines[0], "team/API_TOKEN_0009 and 1990 more") || !strings.HasPrefix(lines[1], "ward: hint: ") {
		t.Errorf("the refusal is %d lines, the first of %d bytes (%.200q...), want an error naming ten names and 1990 more, then the hint", len(lines), len(lines[0]), lines[0])
	}
}

// TestImportsAtOnceLoseNothing: imports of several dotenv files into one
// manifest at once (a script's, in parallel) each add their variables:
// each read the manifest, added its own and renamed its edit in place,
// so the last rename dropped the others' variables, in 10 of 10 tries,
// though every import said it had imported, and the store held them all.
//
// Into a manifest in a folder not made yet (-m cfg/ward.yaml), they
// locked nothing, and 20 of 20 tries lost variables.
func TestImportsAtOnceLoseNothing(t *testing.T) {
	for _, where := range []string{"ward.yaml", "cfg/ward.yaml"} {
		t.Run(where, func(t *testing.T) { importsAtOnce(t, where) })
	}
}

// TestImportRefusesAValueStoredMeanwhile: a name stored with another
// value after the import looked at the store (another project's import,
// a `ward local set`), before it took the store's lock, is refused as one
// stored before it would be: nothing imported, 125. The look was made
// outside the lock and not again under it: two imports at once into
// different projects each replaced the other's value, exit 0 both.
func TestImportRefusesAValueStoredMeanwhile(t *testing.T) {
	w := newWardEnv(t)
	w.set("seed/x", canary("meanwhile-seed"))
	mine, theirs := canary("meanwhile-mine"), canary("meanwhile-theirs")
	dir := filepath.Join(w.dir, "one", "api")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("API_TOKEN="+mine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The store's lock, held by the test as another writer would.
	lock, err := os.OpenFile(filepath.Join(w.dir, "data", "ward", "store.age.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	cmd := w.command("import")
	cmd.Dir = dir
	_, stderr := startedLines(t, cmd)
	stderr.waitForContaining("waiting for the local store's lock")
	// Stored by another writer while the import waits.
	w.setTogether("api/API_TOKEN", theirs)
	syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if code := exitWithin(t, cmd, 30*time.Second); code != 125 {
		t.Errorf("ward import exited %d, want 125 (the name holds another value now)", code)
	}
	out, err := w.command("local", "history", "api/API_TOKEN").Output()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(out), "\n"); n != 1 {
		t.Errorf("api/API_TOKEN has %d versions, want the other writer's alone:\n%s", n, out)
	}
	stderr.noCanary(t, mine, theirs)
}

// TestFailedImportSparesAnothersFolder: an import into nn/app/sub that
// fails (its store is damaged) beside one into nn/app that succeeds,
// both making the folders at once: the failing one removes only the
// folders no other import holds. It removed nn/app, which the other
// had locked and was writing in (14 of 40 good imports failed: "no such
// file or directory").
func TestFailedImportSparesAnothersFolder(t *testing.T) {
	w := newWardEnv(t)
	dotenv := filepath.Join(w.dir, "good.env")
	if err := os.WriteFile(dotenv, []byte("API_TOKEN="+canary("spared")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(w.dir, "damaged.age")
	if err := os.WriteFile(damaged, []byte("age-encryption.org/v1\nnot a store\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		os.RemoveAll(filepath.Join(w.dir, "nn"))
		good := w.command("import", "--force", "-m", "nn/app/ward.yaml", "--name-prefix", "app/", dotenv)
		bad := w.command("import", "-m", "nn/app/sub/ward.yaml", "--name-prefix", "bad/", dotenv)
		bad.Env = append(bad.Env, "WARD_LOCAL_STORE="+damaged)
		var goodOut, badOut strings.Builder
		good.Stdout, good.Stderr = &goodOut, &goodOut
		bad.Stdout, bad.Stderr = &badOut, &badOut
		if err := good.Start(); err != nil {
			t.Fatal(err)
		}
		if err := bad.Start(); err != nil {
			t.Fatal(err)
		}
		goodErr, badErr := good.Wait(), bad.Wait()
		if code := exitCode(t, badErr); code != 125 {
			t.Fatalf("try %d: the import into a damaged store exited %d, want 125:\n%s", i, code, badOut.String())
		}
		if code := exitCode(t, goodErr); code != 0 {
			t.Fatalf("try %d: the import beside a failing one exited %d, want 0:\n%s", i, code, goodOut.String())
		}
		if _, err := os.Stat(filepath.Join(w.dir, "nn", "app", "ward.yaml")); err != nil {
			t.Fatalf("try %d: the manifest the good import wrote: %v", i, err)
		}
	}
}

func importsAtOnce(t *testing.T, where string) {
	w := newWardEnv(t)
	m := filepath.Join(w.dir, where)
	base := where == "ward.yaml"
	if base {
		if err := os.WriteFile(m, []byte("version: 1\nenv:\n  BASE: {value: \"1\"}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const n = 8
	var wg sync.WaitGroup
	codes := make([]int, n)
	outs := make([]string, n)
	for i := range n {
		file := filepath.Join(w.dir, fmt.Sprintf("%d.env", i))
		if err := os.WriteFile(file, []byte(fmt.Sprintf("TOKEN_%d=%s\n", i, canary(fmt.Sprintf("together%d", i)))), 0o600); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := w.command("import", "-m", where, "--name-prefix", "app/", file)
			out, err := cmd.CombinedOutput()
			if cmd.ProcessState == nil {
				codes[i], outs[i] = -1, err.Error()
				return
			}
			codes[i], outs[i] = cmd.ProcessState.ExitCode(), string(out)
		}()
	}
	wg.Wait()
	text, err := os.ReadFile(m)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if codes[i] != 0 {
			t.Errorf("import %d: exit %d\n%s", i, codes[i], outs[i])
		}
		if !strings.Contains(string(text), fmt.Sprintf("TOKEN_%d: local://app/TOKEN_%d", i, i)) {
			t.Errorf("TOKEN_%d is not in the manifest:\n%s", i, text)
		}
	}
	if base && !strings.Contains(string(text), "BASE:") {
		t.Errorf("the manifest lost its own variable")
	}
	if code, _, stderr := w.run("check", "-m", m); code != 0 {
		t.Errorf("ward check of the manifest: exit %d\n%s", code, stderr)
	}
}

// TestInitAfterAnImportKeepsIt: a ward init that found no manifest,
// and waits for the manifest folder's lock while an import makes one,
// refuses once it has the lock, as it refuses a manifest that is there;
// it wrote its starter over the import's, both saying they had written
// ward.yaml (15 of 30 tries). A wait of over a second is said.
func TestInitAfterAnImportKeepsIt(t *testing.T) {
	w := newWardEnv(t)
	unlock, err := atomicfile.LockDir(w.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	cmd := w.command("init")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := readLines(t, stderr)
	if line := lines.next("init's wait for the lock"); !strings.Contains(line, "waiting for the folder") || !strings.Contains(line, "another ward import or ward init is editing a manifest there") {
		t.Fatalf("init's line: %q, want that it waits for the folder's lock", line)
	}
	imported := "version: 1\nenv:\n  TOKEN: local://app/TOKEN\n"
	m := filepath.Join(w.dir, "ward.yaml")
	if err := os.WriteFile(m, []byte(imported), 0o644); err != nil {
		t.Fatal(err)
	}
	unlock()
	if code := exitWithin(t, cmd, 10*time.Second); code != 125 {
		t.Errorf("init: exit %d, want 125", code)
	}
	if line := lines.next("init's error"); !strings.Contains(line, "already exists; nothing was written") {
		t.Errorf("init's error: %q, want that the manifest already exists", line)
	}
	if b, _ := os.ReadFile(m); string(b) != imported {
		t.Errorf("the manifest the import made was replaced")
	}
}

// TestKilledEditsLeaveNoTemporaryManifest: the temporary manifest an
// import or init killed before its rename left beside ward.yaml (it held
// the new references, for the next `git add -A` to commit) is removed by
// the next import or init, which edit the manifest in turn; a file that
// only looks alike is left.
func TestKilledEditsLeaveNoTemporaryManifest(t *testing.T) {
	for _, args := range [][]string{{"import"}, {"init", "--force"}} {
		t.Run(args[0], func(t *testing.T) {
			w := newWardEnv(t)
			if err := os.WriteFile(filepath.Join(w.dir, "ward.yaml"), []byte("version: 1\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(w.dir, ".env"), []byte("PORT=8080\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			left := filepath.Join(w.dir, ".ward.yaml.2905528661.tmp")
			alike := filepath.Join(w.dir, ".ward.yaml.mine.tmp")
			for _, f := range []string{left, alike} {
				if err := os.WriteFile(f, []byte("version: 1\nenv:\n  A: local://app/A\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if code, _, stderr := w.run(args...); code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			if _, err := os.Stat(left); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the killed edit's temporary file is still there (%v)", err)
			}
			if _, err := os.Stat(alike); err != nil {
				t.Errorf("a file that only looks like a temporary one was removed: %v", err)
			}
		})
	}
}
