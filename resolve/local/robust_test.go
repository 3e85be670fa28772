package local

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/internal/atomicfile"
	"github.com/wardsecrets/ward/resolve"
)

// TestSymlinkWrittenThrough: a store.age that is a symbolic link stays
// one; the file it leads to is replaced.
func TestSymlinkWrittenThrough(t *testing.T) {
	tests := []struct {
		name string
		// link returns what the link in dir/home points to, given the
		// real directory dir/real.
		link  func(dir string) string
		exist bool
	}{
		{name: "relative link to a store", link: func(string) string { return "../real/store.age" }, exist: true},
		{name: "absolute link to a store", link: func(dir string) string { return filepath.Join(dir, "real", "store.age") }, exist: true},
		{name: "link to a store not created yet", link: func(string) string { return "../real/new.age" }},
		{name: "link to a link", link: func(dir string) string {
			if err := os.Symlink("store.age", filepath.Join(dir, "real", "hop.age")); err != nil {
				t.Fatal(err)
			}
			return "../real/hop.age"
		}, exist: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, d := range []string{"real", "home"} {
				if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			id := filepath.Join(dir, "identity.txt")
			real := &Store{Path: filepath.Join(dir, "real", "store.age"), IdentityPath: id}
			first := canary("first")
			if tt.exist {
				mustSet(t, real, "app/first", first)
			}
			link := filepath.Join(dir, "home", "store.age")
			if err := os.Symlink(tt.link(dir), link); err != nil {
				t.Fatal(err)
			}
			s := &Store{Path: link, IdentityPath: id}
			v := canary("through")
			mustSet(t, s, "app/second", v)
			mustSet(t, s, "app/second", canary("again"))
			st, err := os.Lstat(link)
			if err != nil || st.Mode()&os.ModeSymlink == 0 {
				t.Fatalf("the link %s was replaced (mode %v, %v)", link, st.Mode(), show(err))
			}
			through, err := filepath.EvalSymlinks(link)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := s.Target(); err != nil || got != through {
				t.Errorf("got target %s (%v), want %s", got, show(err), through)
			}
			behind := &Store{Path: through, IdentityPath: id}
			if _, err := behind.Get("app/second"); err != nil {
				t.Errorf("the file behind the link does not hold the new entry: %v", show(err))
			}
			if tt.exist {
				wantValue(t, behind, "app/first", first)
			}
			if names, _ := filepath.Glob(filepath.Join(dir, "home", ".*")); len(names) > 0 {
				t.Errorf("files left beside the link: %v", names)
			}
		})
	}
}

// TestNotRegularFileRefused: a store path that leads to a directory or a
// FIFO is refused with its name, and left alone.
func TestNotRegularFileRefused(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "adir")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "store.age")
	if err := os.Symlink("adir", link); err != nil {
		t.Fatal(err)
	}
	s := &Store{Path: link, IdentityPath: filepath.Join(dir, "identity.txt")}
	err := s.Set("a", canary("a"))
	if err == nil || !strings.Contains(err.Error(), link) || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("got %v, want a refusal naming %s", show(err), link)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced")
	}
	if st, err := os.Stat(sub); err != nil || !st.IsDir() {
		t.Errorf("the directory was replaced")
	}
}

// hostile are decrypted plaintexts a store file must be refused for.
// Every one is ErrDamaged, never a panic, and leaves the file as it is.
var hostile = []struct{ name, plain string }{
	{"null entry", `{"format":"ward-local-store/1","entries":{"a":null}}`},
	{"entry is a number", `{"format":"ward-local-store/1","entries":{"a":5}}`},
	{"entry is a string", `{"format":"ward-local-store/1","entries":{"a":"CANARY"}}`},
	{"entry is a list", `{"format":"ward-local-store/1","entries":{"a":["CANARY"]}}`},
	{"entry without value", `{"format":"ward-local-store/1","entries":{"a":{"version":1}}}`},
	{"entry without version", `{"format":"ward-local-store/1","entries":{"a":{"value":""}}}`},
	{"value not base64", `{"format":"ward-local-store/1","entries":{"a":{"value":"CANARY!","version":1}}}`},
	{"value a number", `{"format":"ward-local-store/1","entries":{"a":{"value":7,"version":1}}}`},
	{"value an object", `{"format":"ward-local-store/1","entries":{"a":{"value":{"CANARY":1},"version":1}}}`},
	{"version a string", `{"format":"ward-local-store/1","entries":{"a":{"value":"","version":"1"}}}`},
	{"version zero", `{"format":"ward-local-store/1","entries":{"a":{"value":"","version":0}}}`},
	{"version negative", `{"format":"ward-local-store/1","entries":{"a":{"value":"","version":-3}}}`},
	{"version fractional", `{"format":"ward-local-store/1","entries":{"a":{"value":"","version":1.5}}}`},
	{"version huge", `{"format":"ward-local-store/1","entries":{"a":{"value":"","version":1e999}}}`},
	{"updated a number", `{"format":"ward-local-store/1","entries":{"a":{"value":"","version":1,"updated":5}}}`},
	{"updated not a time", `{"format":"ward-local-store/1","entries":{"a":{"value":"","version":1,"updated":"CANARY"}}}`},
	{"history an object", `{"format":"ward-local-store/1","entries":{"a":{"value":"","version":2,"history":{}}}}`},
	{"history with null", `{"format":"ward-local-store/1","entries":{"a":{"value":"","version":2,"history":[null]}}}`},
	{"history ahead of current", `{"format":"ward-local-store/1","entries":{"a":{"value":"","version":2,"history":[{"value":"","version":2}]}}}`},
	{"history out of order", `{"format":"ward-local-store/1","entries":{"a":{"value":"","version":5,"history":[{"value":"","version":3},{"value":"","version":2}]}}}`},
	{"restored_from negative", `{"format":"ward-local-store/1","entries":{"a":{"value":"","version":1,"restored_from":-1}}}`},
	{"entries a list", `{"format":"ward-local-store/1","entries":["CANARY"]}`},
	{"entries a string", `{"format":"ward-local-store/1","entries":"CANARY"}`},
	{"top null", `null`},
	{"top a list", `["ward-local-store/1"]`},
	{"top a string", `"CANARY"`},
	{"empty object", `{}`},
	{"no format", `{"entries":{}}`},
	{"format a number", `{"format":1,"entries":{}}`},
	{"other format", `{"format":"CANARY","entries":{}}`},
	{"newer format", `{"format":"ward-local-store/2","entries":{}}`},
	{"trailing text", `{"format":"ward-local-store/1","entries":{}} CANARY`},
	{"broken JSON", `{"format":"ward-local-store/1","entries":{"a":{"value":"CANARY`},
	{"deep nesting", `{"format":"ward-local-store/1","entries":{"a":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}`},
	{"empty", ``},
	{"not JSON", `CANARY=1`},
}

// TestHostilePlaintext: a store that decrypts to anything but a ward
// store is reported as damaged by every method, never with a panic or
// its content, and never rewritten.
func TestHostilePlaintext(t *testing.T) {
	for _, tt := range hostile {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			c := canary("hostile")
			seal(t, s, strings.ReplaceAll(tt.plain, "CANARY", string(c)))
			before := fileBytes(t, s.Path)
			calls := []struct {
				name string
				call func() error
			}{
				{"list", func() error { _, err := s.List(); return err }},
				{"fetch", func() error {
					_, err := s.Fetch(context.Background(), resolve.Ref{Scheme: "local", Path: "a"})
					return err
				}},
				{"set", func() error { return s.Set("b", canary("b")) }},
				{"remove", func() error { return s.Remove("a") }},
				{"history", func() error { _, err := s.History("a"); return err }},
			}
			for _, c2 := range calls {
				err := func() (err error) {
					defer func() {
						if p := recover(); p != nil {
							err = fmt.Errorf("panic: %T", p)
						}
					}()
					return c2.call()
				}()
				if !errors.Is(err, ErrDamaged) {
					t.Errorf("%s: got %v, want ErrDamaged", c2.name, show(err))
				}
				noLeak(t, c2.name, err, c)
			}
			if fileBytes(t, s.Path) != before {
				t.Errorf("the store file was rewritten")
			}
		})
	}
}

// TestUnknownMembersKept: what a newer ward added to the format, at the
// top, in an entry or in an earlier version, survives a rewrite.
func TestUnknownMembersKept(t *testing.T) {
	s := newStore(t)
	a1, a2 := base64.StdEncoding.EncodeToString(canary("a1")), base64.StdEncoding.EncodeToString(canary("a2"))
	seal(t, s, `{"format":"ward-local-store/1","future":{"k":[1,"two",null]},"entries":{`+
		`"app/a":{"value":"`+a2+`","version":2,"updated":"2024-05-01T10:00:00Z","labels":["x","y"],`+
		`"history":[{"value":"`+a1+`","version":1,"updated":"2024-04-01T10:00:00Z","note":"first"}]}}}`)
	mustSet(t, s, "app/b", canary("b"))
	mustSet(t, s, "app/a", canary("a3"))

	var doc struct {
		Future  json.RawMessage `json:"future"`
		Entries map[string]struct {
			Labels  json.RawMessage `json:"labels"`
			History []struct {
				Version int             `json:"version"`
				Note    json.RawMessage `json:"note"`
			} `json:"history"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(unseal(t, s), &doc); err != nil {
		t.Fatal("the rewritten store does not parse")
	}
	if string(doc.Future) != `{"k":[1,"two",null]}` {
		t.Errorf("the top-level member: got %s", doc.Future)
	}
	a := doc.Entries["app/a"]
	if string(a.Labels) != `["x","y"]` {
		t.Errorf("the entry's member: got %s", a.Labels)
	}
	if len(a.History) != 2 || a.History[0].Version != 1 || string(a.History[0].Note) != `"first"` || a.History[1].Note != nil {
		t.Errorf("the earlier versions' members: got %+v, want v1 with its note, then v2 without", a.History)
	}
}

// TestFsyncs: the identity file, the store file and every directory that
// got a new name (the new directories' parents, the files' directories
// after the rename) are fsynced, each directory after the name it got.
func TestFsyncs(t *testing.T) {
	root := t.TempDir()
	root, _ = filepath.EvalSymlinks(root)
	s := &Store{Path: filepath.Join(root, "data", "ward", "store.age"), IdentityPath: filepath.Join(root, "config", "ward", "identity.txt")}
	var events []string
	atomicfile.Hooks.Synced = func(kind, path string) { events = append(events, kind+" "+path) }
	atomicfile.Hooks.Commit = func(path string) error { events = append(events, "commit "+path); return nil }
	t.Cleanup(func() { atomicfile.Hooks.Synced, atomicfile.Hooks.Commit = nil, nil })
	mustSet(t, s, "a", canary("a"))

	order := func(steps ...string) {
		t.Helper()
		at := -1
		for _, step := range steps {
			i := slices.Index(events[at+1:], step)
			if i < 0 {
				t.Errorf("no %q after step %d in %q", step, at, events)
				return
			}
			at += 1 + i
		}
	}
	order("dir "+root, "dir "+filepath.Join(root, "config"), "file "+s.IdentityPath, "commit "+s.IdentityPath, "dir "+filepath.Dir(s.IdentityPath))
	order("dir "+root, "dir "+filepath.Join(root, "data"), "file "+s.Path, "commit "+s.Path, "dir "+filepath.Dir(s.Path))
}

// TestStaleTempsRemoved: a write removes what killed writers of this
// store left in its directory, and nothing else.
func TestStaleTempsRemoved(t *testing.T) {
	s := newStore(t)
	mustSet(t, s, "a", canary("a"))
	dir := filepath.Dir(s.Path)
	other := t.TempDir()
	files := map[string]bool{ // name: removed
		".store.age.123.tmp":        true,
		".store.age.4294967295.tmp": true,
		".store-77.tmp":             false, // an older ward's, fresh: may be another store's live writer
		".store-78.tmp":             true,  // an older ward's, an hour old
		".store.age.12x.tmp":        false,
		".store.age..tmp":           false,
		".store.age.123.tmp.keep":   false,
		".other.age.123.tmp":        false, // another store's
		".store.age.5.123.tmp":      false, // the store store.age.5's
		"store.age.123.tmp":         false,
		"notes.txt":                 false,
	}
	for name := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hour := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, ".store-78.tmp"), hour, hour); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, ".store.age.999.tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(other, ".store.age.123.tmp")
	if err := os.WriteFile(elsewhere, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	mustSet(t, s, "b", canary("b"))
	for name, removed := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		if gone := errors.Is(err, os.ErrNotExist); gone != removed {
			t.Errorf("%s: removed %v, want %v", name, gone, removed)
		}
	}
	for _, keep := range []string{filepath.Join(dir, ".store.age.999.tmp"), elsewhere} {
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("%s was removed", keep)
		}
	}
}

// TestKilledWriterCleanedUp: a writer killed with its temporary file
// complete leaves it behind; the next write removes it.
func TestKilledWriterCleanedUp(t *testing.T) {
	s := newStore(t)
	mustSet(t, s, "seed", canary("seed"))
	target, _ := filepath.EvalSymlinks(s.Path)
	killMidWrite(t, s, target, 3)
	pattern := filepath.Join(filepath.Dir(s.Path), ".store*.tmp")
	left, _ := filepath.Glob(pattern)
	if len(left) != 1 {
		t.Fatalf("got %d temporary files after the kill, want 1", len(left))
	}
	mustSet(t, s, "after", canary("after"))
	if left, _ := filepath.Glob(pattern); len(left) != 0 {
		t.Errorf("the killed writer's temporary file is still there after a write: %v", left)
	}
}

// TestAgeErrorsHideContent: a store.age that is not age (a plaintext file
// put there by mistake) or a damaged one gives ward's own error, never a
// byte of the file.
func TestAgeErrorsHideContent(t *testing.T) {
	tests := []struct {
		name    string
		content func(s *Store, c []byte) []byte
	}{
		{"plaintext", func(_ *Store, c []byte) []byte { return c }},
		{"dotenv", func(_ *Store, c []byte) []byte { return []byte("API_KEY=" + string(c) + "\n") }},
		{"short plaintext", func(_ *Store, c []byte) []byte { return c[:12] }},
		{"armored", func(_ *Store, c []byte) []byte {
			return []byte("-----BEGIN AGE ENCRYPTED FILE-----\n" + string(c) + "\n-----END AGE ENCRYPTED FILE-----\n")
		}},
		{"bad stanza", func(_ *Store, c []byte) []byte {
			return []byte("age-encryption.org/v1\n-> " + string(c) + "\n" + string(c) + "\n--- x\n")
		}},
		{"bad closing line", func(_ *Store, c []byte) []byte {
			return []byte("age-encryption.org/v1\n-> X25519 abc\nabc\n--- " + string(c) + "\n")
		}},
		{"bad body line", func(_ *Store, c []byte) []byte {
			return []byte("age-encryption.org/v1\n-> X25519 abc\n" + string(c) + string(c) + string(c) + "\n--- x\n")
		}},
		{"truncated", func(s *Store, c []byte) []byte {
			b := realStore(s, c)
			return b[:len(b)-20]
		}},
		{"flipped byte", func(s *Store, c []byte) []byte {
			b := realStore(s, c)
			b[len(b)-5] ^= 1
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			identityOf(t, s)
			c := canary("plain")
			content := tt.content(s, c)
			if err := os.WriteFile(s.Path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, call := range []func() error{
				func() error { _, err := s.Get("a"); return err },
				func() error { _, err := s.List(); return err },
				func() error { return s.Set("a", canary("a")) },
			} {
				err := call()
				if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "is not a ward store or is damaged") {
					t.Errorf("got %v, want ErrDamaged saying the store is not a ward store or is damaged", show(err))
				}
				noLeak(t, tt.name, err, c, c[:12], c[len(c)-8:])
			}
			if fileBytes(t, s.Path) != string(content) {
				t.Errorf("the file was rewritten")
			}
		})
	}
}

// realStore returns a store file holding value as "a", encrypted to s's
// identity.
func realStore(s *Store, value []byte) []byte {
	tmp := &Store{Path: s.Path + ".real", IdentityPath: s.IdentityPath}
	if err := tmp.Set("a", value); err != nil {
		panic("realStore: " + err.Error())
	}
	b, err := os.ReadFile(tmp.Path)
	if err != nil {
		panic(err)
	}
	return b
}

// TestIdentityNeverPartial: the identity is written through the atomic
// helper, so a ward killed while creating it leaves no identity file (a
// half-written one would lock the user out of every store made after).
func TestIdentityNeverPartial(t *testing.T) {
	s := newStore(t)
	killMidWrite(t, s, s.IdentityPath, 1)
	if _, err := os.Stat(s.IdentityPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a killed creation left an identity file (%v)", show(err))
	}
	if _, err := os.Stat(s.Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a killed creation left a store file (%v)", show(err))
	}
	v := canary("after")
	mustSet(t, s, "a", v)
	wantValue(t, s, "a", v)
}

// TestFailedWriteLeavesStore: a write that fails before the rename leaves
// the store and no temporary file.
func TestFailedWriteLeavesStore(t *testing.T) {
	s := newStore(t)
	old := canary("old")
	mustSet(t, s, "a", old)
	before := fileBytes(t, s.Path)
	atomicfile.Hooks.Commit = func(string) error { return errors.New("disk full") }
	t.Cleanup(func() { atomicfile.Hooks.Commit = nil })
	if err := s.Set("a", canary("new")); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("got %v, want the write's error", show(err))
	}
	if fileBytes(t, s.Path) != before {
		t.Errorf("the store file changed")
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(s.Path), ".*.tmp")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	atomicfile.Hooks.Commit = nil
	wantValue(t, s, "a", old)
}

// TestLinksOfAnotherUserNotFollowed: root running ward with another
// user's $HOME (su keeps it) wrote its store, and created its lock,
// wherever that user's symbolic links pointed: a root-owned file at a
// path of the user's choosing (/etc/nologin locks every other user out).
// A link another user owns is now refused, and the lock is never opened
// through a link. (A home of another user's is now refused before its
// links are looked at, so the links here are in a directory of root's.)
func TestLinksOfAnotherUserNotFollowed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the links belong to uid 65534")
	}
	const attacker = 65534
	tests := []struct {
		name string
		// link is the name of the attacker's link in its home.
		link string
	}{
		{"store.age", "store.age"},
		{"store.age.lock", "store.age.lock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			home, victim := filepath.Join(dir, "home"), filepath.Join(dir, "etc")
			for _, d := range []string{home, victim} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			target, link := filepath.Join(victim, "nologin"), filepath.Join(home, tt.link)
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			if err := os.Lchown(link, attacker, attacker); err != nil {
				t.Fatal(err)
			}
			s := &Store{Path: filepath.Join(home, "store.age"), IdentityPath: filepath.Join(dir, "identity.txt")}
			err := s.Set("db", canary("root"))
			if _, serr := os.Lstat(target); serr == nil {
				t.Errorf("root created %s through the link uid %d planted (Set: %v)", target, attacker, show(err))
			}
			if err == nil || !strings.Contains(err.Error(), link) || !strings.Contains(err.Error(), "uid 65534") {
				t.Errorf("got %v, want a refusal naming the link and its owner", show(err))
			}
		})
	}
}

// TestLockLinkRefusedWithHint: a lock that is a link (the user's own, say
// from a dotfiles repository) is refused, the file it points at left
// alone, and the error says what to do; it said only that ward opens its
// lock as a file.
func TestLockLinkRefusedWithHint(t *testing.T) {
	s := newStore(t)
	mustSet(t, s, "a", canary("a"))
	elsewhere := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(elsewhere, []byte("kept\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lock := s.Path + ".lock"
	if err := errors.Join(os.Remove(lock), os.Symlink(elsewhere, lock)); err != nil {
		t.Fatal(err)
	}
	err := s.Set("a", canary("b"))
	if err == nil || !strings.Contains(err.Error(), "remove the link") {
		t.Errorf("got %v, want the link refused, saying to remove it", show(err))
	}
	if b, _ := os.ReadFile(elsewhere); string(b) != "kept\n" {
		t.Errorf("the file the link points at was changed")
	}
}

// TestStrictUmaskDirectories: the first `ward local set` under `umask 177`
// created ~/.local, ~/.local/share and ~/.local/share/ward with mode 0600,
// which no one can enter: the set failed, and so did every later one and
// every other program using ~/.local. The directories ward creates are
// 0700 whatever the umask.
func TestStrictUmaskDirectories(t *testing.T) {
	home := t.TempDir()
	s := &Store{Path: filepath.Join(home, ".local", "share", "ward", "store.age"), IdentityPath: filepath.Join(home, ".config", "ward", "identity.txt")}
	old := syscall.Umask(0o177)
	err := s.Set("a", canary("umask"))
	syscall.Umask(old)
	if err != nil {
		t.Fatalf("Set under umask 0177: %v", show(err))
	}
	for _, d := range []string{".local", ".local/share", ".local/share/ward", ".config", ".config/ward"} {
		if st, err := os.Stat(filepath.Join(home, d)); err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("%s has mode %v, want 0700 (%v)", d, st.Mode().Perm(), err)
		}
	}
}
