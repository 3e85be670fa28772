// Package local is ward's embedded encrypted store: one age-encrypted file
// of named values, each with its last few earlier versions, for local
// development without a server and without a plaintext .env file.
package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wardsecrets/ward/internal/home"
	"github.com/wardsecrets/ward/resolve"
)

// Store is the local encrypted store: a file encrypted to one age
// identity (X25519, or the post-quantum hybrid of age-keygen -pq) kept in the user's config directory.
type Store struct {
	// Path is the encrypted store file. When it is a symbolic link, writes
	// go through it: the file it leads to is replaced, the link is kept.
	Path string
	// IdentityPath is the age identity file (mode 0600).
	IdentityPath string
	// IdentityNamed: $WARD_IDENTITY names IdentityPath, which may then
	// be a pipe (WARD_IDENTITY=<(op read ...), an identity kept in a
	// password manager) where one found in its usual place may not.
	IdentityNamed bool
	// usual is where the store is when neither $WARD_LOCAL_STORE nor
	// $XDG_DATA_HOME says otherwise, when Path is elsewhere: a store there
	// is named when Path has none (see missing).
	usual string
	// passwdHome is set when the store's place came from the password
	// database's home directory because no $HOME was set (`env -i`, cron,
	// a systemd unit without User=): a missing store is then most likely
	// the one made under the $HOME of a shell (see missing).
	passwdHome string
	// Waiting, when set, is called with the lock file's path when a
	// write finds another writer holding the store's lock, before it
	// waits for it: an import into a store of thousands of names, a
	// writer stopped with Ctrl-Z or one on a hung network filesystem
	// holds it for long, and a wait with nothing said looks like a hang.
	Waiting func(lock string)

	mu     sync.Mutex
	cached *snapshot
}

var _ resolve.BatchStore = (*Store)(nil)

// Entry describes one version of a stored value, without the value.
type Entry struct {
	Name    string
	Version int
	Updated time.Time
	// RestoredFrom is the version Rollback copied this one from; 0 when
	// the value was set.
	RestoredFrom int
}

// ErrDamaged matches (with errors.Is) the error for a store file ward
// cannot use: empty, not age, damaged, decrypting to something that is not
// a ward store, or written by a newer ward. Such a file is never
// overwritten, and the error never quotes its content.
var ErrDamaged = errors.New("the local store is damaged")

// ErrNoStore matches (with errors.Is) the error for a store that does not
// exist yet: nothing was ever set.
var ErrNoStore = errors.New("no local store yet")

type snapshot struct {
	stat fs.FileInfo
	doc  *document
	// partial is a doc that holds only the current values FetchBatch
	// was asked for: a running ward keeps its own names, not every
	// project's secrets of a shared store.
	partial bool
}

// Open returns the store at the default location: $WARD_LOCAL_STORE or
// $XDG_DATA_HOME/ward/store.age (~/.local/share/ward/store.age), with the
// identity at $WARD_IDENTITY or $XDG_CONFIG_HOME/ward/identity.txt
// (~/.config/ward/identity.txt).
func Open(getenv func(string) string) (*Store, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	path := getenv("WARD_LOCAL_STORE")
	if path == "" {
		dir, err := xdgDir(getenv, "XDG_DATA_HOME", ".local/share")
		if err != nil {
			return nil, err
		}
		path = filepath.Join(dir, "ward", "store.age")
	}
	id := getenv("WARD_IDENTITY")
	if id == "" {
		dir, err := xdgDir(getenv, "XDG_CONFIG_HOME", ".config")
		if err != nil {
			return nil, err
		}
		id = filepath.Join(dir, "ward", "identity.txt")
	}
	// A tilde no shell expanded (a quoted export, systemd's Environment=,
	// a compose file) is the home directory: as a relative path it made a
	// directory named "~", and a store, in every directory ward ran in.
	var err error
	if path, err = expandHome(getenv, path); err != nil {
		return nil, err
	}
	if id, err = expandHome(getenv, id); err != nil {
		return nil, err
	}
	// Absolute now: ward leaves its working directory once the child runs,
	// and a relative $WARD_LOCAL_STORE must still name the same file.
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if abs, err := filepath.Abs(id); err == nil {
		id = abs
	}
	usual := ""
	if home, err := homeDir(getenv); err == nil {
		if u := filepath.Join(home, ".local", "share", "ward", "store.age"); u != path {
			usual = u
		}
	}
	st := &Store{Path: path, IdentityPath: id, IdentityNamed: getenv("WARD_IDENTITY") != "", usual: usual}
	if getenv("WARD_LOCAL_STORE") == "" && getenv("XDG_DATA_HOME") == "" && getenv("HOME") == "" {
		st.passwdHome = home.Dir(getenv)
	}
	return st, nil
}

// expandHome returns p with a leading ~ or ~/ made the home directory.
func expandHome(getenv func(string) string, p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := homeDir(getenv)
	if err != nil {
		return "", fmt.Errorf("cannot place the local store at %s: $HOME is not set", p)
	}
	return filepath.Join(home, p[1:]), nil
}

// homeDir is home.Dir (a systemd system unit without User= has no $HOME,
// and its ward failed to find the store that `sudo ward local set` had
// made in /root: "neither $XDG_DATA_HOME nor $HOME is set").
func homeDir(getenv func(string) string) (string, error) {
	if d := home.Dir(getenv); d != "" {
		return d, nil
	}
	return "", errors.New("$HOME is not set")
}

func xdgDir(getenv func(string) string, name, fallback string) (string, error) {
	if d := getenv(name); d != "" && filepath.IsAbs(d) {
		return d, nil
	}
	home, err := homeDir(getenv)
	if err != nil {
		return "", fmt.Errorf("cannot place the local store: neither $%s nor $HOME is set, and uid %d has no home directory in /etc/passwd", name, os.Getuid())
	}
	return filepath.Join(home, fallback), nil
}

// Fetch returns one entry's current value; ref.Path is the entry's name.
func (s *Store) Fetch(ctx context.Context, ref resolve.Ref) (resolve.Secret, error) {
	secrets, errs := s.FetchBatch(ctx, []resolve.Ref{ref})
	return secrets[0], errs[0]
}

// FetchBatch returns the current values of entries from one read of the
// store: a run's local references cost one stat, one decryption (while
// the file is unchanged, none) and no goroutine each.
func (s *Store) FetchBatch(_ context.Context, refs []resolve.Ref) ([]resolve.Secret, []error) {
	names := make([]string, len(refs))
	for i, ref := range refs {
		names[i] = ref.Path
	}
	doc, st, err := s.loadNames(names)
	if err != nil {
		return resolve.BatchFailed(len(refs), err)
	}
	secrets := make([]resolve.Secret, len(refs))
	errs := make([]error, len(refs))
	// Rotation watches the file writes replace (a symlinked store's
	// target), and reads again when its stamp, taken before this read,
	// changes.
	watch := s.Path
	if t, err := s.Target(); err == nil {
		watch = t
	}
	stamp := resolve.Stamp(st)
	for i, ref := range refs {
		e, ok := doc.entries[ref.Path]
		if !ok {
			errs[i] = s.notFoundIn(doc, ref.Path)
			continue
		}
		secrets[i] = resolve.Secret{
			Value:   bytes.Clone(e.current.value),
			Version: "v" + strconv.Itoa(e.current.number),
			File:    &resolve.FileStamp{Path: watch, Stamp: stamp},
		}
	}
	return secrets, errs
}

// Get returns one value.
func (s *Store) Get(name string) ([]byte, error) {
	sec, err := s.Fetch(context.Background(), resolve.Ref{Scheme: Scheme, Path: name})
	return sec.Value, err
}

// List returns the entries' current versions, sorted by name, without
// values. A store that does not exist yet has none.
func (s *Store) List() ([]Entry, error) {
	doc, err := s.load()
	if err != nil {
		if errors.Is(err, ErrNoStore) {
			return nil, nil
		}
		return nil, err
	}
	out := make([]Entry, 0, len(doc.entries))
	for name, e := range doc.entries {
		out = append(out, entryOf(name, e.current))
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Absent says why the store holds nothing, when it does not exist (see
// missing: one elsewhere, where ward keeps it by default, is named); nil
// when it exists.
func (s *Store) Absent() error {
	if _, err := os.Stat(s.Path); errors.Is(err, fs.ErrNotExist) {
		return s.missing()
	}
	return nil
}

// Existing returns the names, of those given, that the store holds, in
// the order given. A store that does not exist yet holds none.
func (s *Store) Existing(names []string) ([]string, error) {
	doc, err := s.load()
	if err != nil {
		if errors.Is(err, ErrNoStore) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, name := range names {
		if _, ok := doc.entries[name]; ok {
			out = append(out, name)
		}
	}
	return out, nil
}

// History returns the versions the store holds of one entry, newest (the
// current one) first, without values: the current version and up to the
// ten before it. An entry that does not exist is an error that is
// resolve.ErrNotFound.
func (s *Store) History(name string) ([]Entry, error) {
	doc, err := s.load()
	if err != nil {
		if errors.Is(err, ErrNoStore) {
			return nil, s.notFound(name)
		}
		return nil, err
	}
	e, ok := doc.entries[name]
	if !ok {
		return nil, s.notFoundIn(doc, name)
	}
	out := make([]Entry, 0, len(e.history)+1)
	out = append(out, entryOf(name, e.current))
	for i := len(e.history) - 1; i >= 0; i-- {
		out = append(out, entryOf(name, e.history[i]))
	}
	return out, nil
}

// Target returns the file that holds the store: Path, or the file its
// symbolic links lead to (which may not exist yet). Writes replace that
// file, in its own directory; a watcher of changes watches it, and Path
// too (its link may be pointed elsewhere).
func (s *Store) Target() (string, error) {
	return s.target()
}

func entryOf(name string, v version) Entry {
	return Entry{Name: name, Version: v.number, Updated: v.updated, RestoredFrom: v.restoredFrom}
}

func (s *Store) notFound(name string) error {
	return &missingError{name: name, path: s.Path}
}

// notFoundIn is notFound for a name doc does not hold, naming the one it
// holds that the name is most likely a slip for.
func (s *Store) notFoundIn(doc *document, name string) error {
	names := slices.Clone(doc.others)
	for n := range doc.entries {
		names = append(names, n)
	}
	return &missingError{name: name, path: s.Path, near: nearName(name, names)}
}

// nearName returns the one name of names that name is most likely a
// slip for: the same but for case (myapp/stripe_key for ward import's
// myapp/STRIPE_KEY), else one or two characters off (a typo in the
// manifest), else the same last part under another prefix (imported from
// a folder of another name); "" when none is, or more than one is as
// near.
func nearName(name string, names []string) string {
	slices.Sort(names)
	base := func(n string) string { return n[strings.LastIndexByte(n, '/')+1:] }
	for _, near := range []func(n string) bool{
		func(n string) bool { return strings.EqualFold(n, name) },
		// A name of a few characters is one or two off many others
		// (ab/c2 from ab/c1), a short last part the same as many
		// (zz/c and t/c): not slips that stand out.
		func(n string) bool { return len(name) >= 6 && editDistance(n, name, 1) <= 1 },
		func(n string) bool { return len(name) >= 8 && editDistance(n, name, 2) <= 2 },
		func(n string) bool { return len(base(name)) >= 4 && strings.EqualFold(base(n), base(name)) },
	} {
		found := ""
		for _, n := range names {
			if n != name && near(n) {
				if found != "" {
					return ""
				}
				found = n
			}
		}
		if found != "" {
			return found
		}
	}
	return ""
}

// editDistance is the Levenshtein distance of a and b, counted up to
// limit+1.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		low := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			low = min(low, cur[j])
		}
		if low > limit {
			return limit + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// missingError is an entry the store does not hold; its hint says how to
// set it, once, or names the entry it holds that name is likely a slip
// for.
type missingError struct{ name, path, near string }

func (e *missingError) Error() string {
	return fmt.Sprintf("no entry %q in the local store %s: not found", e.name, e.path)
}

// Hint says how to add the entry, or which one was meant.
func (e *missingError) Hint() string {
	if e.near != "" {
		// Setting the name asked for would make a second entry that
		// nothing else reads.
		return fmt.Sprintf("the store has %s: is that the one meant? (ward local list shows its names); else set this one with: ward local set %s", e.near, e.name)
	}
	return "set it with: ward local set " + e.name
}

// Is makes the error resolve.ErrNotFound.
func (e *missingError) Is(target error) bool { return target == resolve.ErrNotFound }

// load returns the document, reusing the last decryption while the file
// is unchanged. Callers only read it.
func (s *Store) load() (*document, error) {
	doc, _, err := s.loadStat()
	return doc, err
}

// loadStat is load, with the file's metadata as it was before the read.
func (s *Store) loadStat() (*document, fs.FileInfo, error) {
	return s.loadNames(nil)
}

// loadNames is loadStat for FetchBatch: with names, the document it
// returns, and keeps until the file changes, holds only those entries'
// current values; the other entries' values and every earlier version,
// freshly read, are wiped. A store that many projects share holds
// thousands of names, and a running ward would otherwise keep all of
// them, with their histories, in memory for its whole life.
func (s *Store) loadNames(names []string) (*document, fs.FileInfo, error) {
	st, err := os.Stat(s.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, s.missing()
		}
		if errors.Is(err, syscall.ENOTDIR) {
			return nil, nil, resolve.WithHint(notDirectory(err, "read the local store", s.Path), storePlaces)
		}
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.cached; c != nil && os.SameFile(c.stat, st) && c.stat.ModTime().Equal(st.ModTime()) && c.stat.Size() == st.Size() && c.holds(names) {
		return c.doc, c.stat, nil
	}
	doc, _, err := s.readFile(s.Path)
	if err != nil {
		return nil, nil, err
	}
	if names == nil {
		s.cached = &snapshot{stat: st, doc: doc}
		return doc, st, nil
	}
	kept := newDocument()
	for _, name := range names {
		if e, ok := doc.entries[name]; ok {
			kept.entries[name] = &entry{current: e.current}
		}
	}
	for name, e := range doc.entries {
		if _, ok := kept.entries[name]; ok {
			e.current.value = nil
		} else {
			kept.others = append(kept.others, name)
		}
		e.wipe()
	}
	s.cached = &snapshot{stat: st, doc: kept, partial: true}
	if st.Size() > bigStore {
		// The file, its plaintext and every other value read are garbage
		// now: give their memory back at once. The runtime would keep it
		// for the ward's whole life (a forced collection comes every two
		// minutes, and returns little to the system).
		debug.FreeOSMemory()
	}
	return kept, st, nil
}

// bigStore is the size of a store file past which a read by FetchBatch
// gives the memory it used back to the system: a collection costs a
// small store's read more than it saves.
const bigStore = 1 << 20

// holds reports whether the snapshot can answer for names: a whole
// document answers anything; a partial one only the names it was read
// for (nil names ask for the whole document).
func (c *snapshot) holds(names []string) bool {
	if !c.partial {
		return true
	}
	if names == nil {
		return false
	}
	for _, name := range names {
		if _, ok := c.doc.entries[name]; !ok {
			return false
		}
	}
	return true
}

// missing is the error for a store file that is not there. A link into a
// folder that is missing is not a store never made: the folder is a
// synced or mounted one, not there yet, and its store must not look
// empty, nor be replaced by a new one.
func (s *Store) missing() error {
	if st, err := os.Lstat(s.Path); err == nil && st.Mode()&fs.ModeSymlink != 0 {
		if _, err := s.target(); errors.Is(err, fs.ErrNotExist) {
			link, _ := os.Readlink(s.Path)
			return fmt.Errorf("the local store %s is a symbolic link to %s, in a folder that is not there: mount or sync that folder (or point the link at the store)", s.Path, link)
		}
	}
	if s.usual != "" {
		// XDG_DATA_HOME set since (a new shell profile, a container
		// image), or WARD_LOCAL_STORE: the store made before looked gone.
		if st, err := os.Stat(s.usual); err == nil && st.Mode().IsRegular() {
			return fmt.Errorf("the local store %s does not exist yet, but one is at %s, where ward keeps it when neither WARD_LOCAL_STORE nor XDG_DATA_HOME says otherwise (point WARD_LOCAL_STORE at it, or move it here; or create an entry here with: ward local set NAME): %w", s.Path, s.usual, ErrNoStore)
		}
	}
	if s.passwdHome != "" {
		return fmt.Errorf("the local store %s does not exist: $HOME is not set (env -i, cron, a systemd unit without User=), so ward looked under %s, uid %d's home in /etc/passwd; pass the HOME of the shell that made the store, or WARD_LOCAL_STORE with its path: %w", s.Path, s.passwdHome, os.Getuid(), ErrNoStore)
	}
	return fmt.Errorf("the local store %s does not exist yet (create an entry with: ward local set NAME): %w", s.Path, ErrNoStore)
}
