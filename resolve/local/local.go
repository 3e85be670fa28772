// Package local is ward's embedded encrypted store: one age-encrypted file
// of named values, for local development without a server and without a
// plaintext .env file.
package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"golang.org/x/sys/unix"

	"github.com/wardsecrets/ward/resolve"
)

// Store is the local encrypted store: a file encrypted to one age X25519
// identity kept in the user's config directory.
type Store struct {
	// Path is the encrypted store file.
	Path string
	// IdentityPath is the age identity file (mode 0600).
	IdentityPath string

	mu     sync.Mutex
	cached *snapshot
}

var _ resolve.Store = (*Store)(nil)

// Entry describes one stored value without the value.
type Entry struct {
	Name    string
	Version int
	Updated time.Time
}

type record struct {
	Value   []byte    `json:"value"`
	Version int       `json:"version"`
	Updated time.Time `json:"updated"`
}

type document struct {
	Format  string             `json:"format"`
	Entries map[string]*record `json:"entries"`
}

const formatName = "ward-local-store/1"

type snapshot struct {
	stat    fs.FileInfo
	entries map[string]*record
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
	return &Store{Path: path, IdentityPath: id}, nil
}

func xdgDir(getenv func(string) string, name, fallback string) (string, error) {
	if d := getenv(name); d != "" && filepath.IsAbs(d) {
		return d, nil
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("cannot place the local store: neither $%s nor $HOME is set", name)
		}
		home = h
	}
	return filepath.Join(home, fallback), nil
}

// Fetch returns one entry; ref.Path is the entry's name.
func (s *Store) Fetch(_ context.Context, ref resolve.Ref) (resolve.Secret, error) {
	entries, err := s.load()
	if err != nil {
		return resolve.Secret{}, err
	}
	r, ok := entries[ref.Path]
	if !ok {
		return resolve.Secret{}, fmt.Errorf("no entry %q in the local store %s (set it with: ward local set %s): %w", ref.Path, s.Path, ref.Path, resolve.ErrNotFound)
	}
	return resolve.Secret{Value: bytes.Clone(r.Value), Version: "v" + strconv.Itoa(r.Version)}, nil
}

// Get returns one value.
func (s *Store) Get(name string) ([]byte, error) {
	sec, err := s.Fetch(context.Background(), resolve.Ref{Scheme: "local", Path: name})
	return sec.Value, err
}

// List returns the entries, sorted by name, without values.
func (s *Store) List() ([]Entry, error) {
	entries, err := s.load()
	if err != nil {
		if errors.Is(err, errNoStore) {
			return nil, nil
		}
		return nil, err
	}
	out := make([]Entry, 0, len(entries))
	for name, r := range entries {
		out = append(out, Entry{Name: name, Version: r.Version, Updated: r.Updated})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Set stores value under name, creating the store and the identity on first
// use. Concurrent Sets from several processes are serialised by a lock, and
// the file is replaced atomically, so no entry is ever lost.
func (s *Store) Set(name string, value []byte) error {
	if !resolve.ValidLocalName(name) {
		return fmt.Errorf("invalid name %q: use slash-separated names of letters, digits, '_', '.', '-'", name)
	}
	return s.update(true, func(entries map[string]*record) error {
		r := entries[name]
		if r == nil {
			r = &record{}
			entries[name] = r
		}
		r.Value = bytes.Clone(value)
		r.Version++
		r.Updated = time.Now().UTC().Truncate(time.Second)
		return nil
	})
}

// Remove deletes an entry.
func (s *Store) Remove(name string) error {
	return s.update(false, func(entries map[string]*record) error {
		if _, ok := entries[name]; !ok {
			return fmt.Errorf("no entry %q in the local store %s", name, s.Path)
		}
		delete(entries, name)
		return nil
	})
}

var errNoStore = errors.New("no local store yet")

// update runs change on the current entries under an exclusive lock and
// writes the result atomically.
func (s *Store) update(create bool, change func(map[string]*record) error) error {
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o700); err != nil {
		return fmt.Errorf("create the local store's directory: %w", err)
	}
	unlock, err := lockFile(s.Path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()

	var ids []age.Identity
	entries, err := s.read()
	switch {
	case errors.Is(err, errNoStore):
		if !create {
			return fmt.Errorf("the local store %s does not exist yet", s.Path)
		}
		id, err := s.identity(true)
		if err != nil {
			return err
		}
		ids = []age.Identity{id}
		entries = map[string]*record{}
	case err != nil:
		return err
	default:
		id, err := s.identity(false)
		if err != nil {
			return err
		}
		ids = []age.Identity{id}
	}
	if err := change(entries); err != nil {
		return err
	}
	recipient := ids[0].(*age.X25519Identity).Recipient()
	return s.write(recipient, entries)
}

// load returns the entries, reusing the last decryption while the file is
// unchanged.
func (s *Store) load() (map[string]*record, error) {
	st, err := os.Stat(s.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the local store %s does not exist yet (create an entry with: ward local set NAME): %w", s.Path, errNoStore)
		}
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.cached; c != nil && os.SameFile(c.stat, st) && c.stat.ModTime().Equal(st.ModTime()) && c.stat.Size() == st.Size() {
		return c.entries, nil
	}
	entries, err := s.read()
	if err != nil {
		return nil, err
	}
	s.cached = &snapshot{stat: st, entries: entries}
	return entries, nil
}

// read decrypts the store file. A file that is not a ward store is an error,
// and update never overwrites it.
func (s *Store) read() (map[string]*record, error) {
	f, err := os.Open(s.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the local store %s does not exist yet: %w", s.Path, errNoStore)
		}
		return nil, fmt.Errorf("open the local store: %w", err)
	}
	defer f.Close()
	id, err := s.identity(false)
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(f, id)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return nil, fmt.Errorf("the local store %s is not encrypted to the identity %s: it was made with another identity (restore that identity file, or point $WARD_IDENTITY at it)", s.Path, s.IdentityPath)
		}
		return nil, fmt.Errorf("the local store %s is not a ward store or is damaged (age: %v); it was left as it is", s.Path, err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("the local store %s is damaged (age: %v); it was left as it is", s.Path, err)
	}
	var doc document
	err = json.Unmarshal(plain, &doc)
	clear(plain)
	if err != nil || doc.Format != formatName {
		return nil, fmt.Errorf("the local store %s decrypts but is not a ward store; it was left as it is", s.Path)
	}
	if doc.Entries == nil {
		doc.Entries = map[string]*record{}
	}
	return doc.Entries, nil
}

func (s *Store) write(recipient age.Recipient, entries map[string]*record) error {
	plain, err := json.Marshal(document{Format: formatName, Entries: entries})
	if err != nil {
		return err
	}
	defer clear(plain)
	dir := filepath.Dir(s.Path)
	tmp, err := os.CreateTemp(dir, ".store-*.tmp")
	if err != nil {
		return fmt.Errorf("write the local store: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w, err := age.Encrypt(tmp, recipient)
	if err != nil {
		return err
	}
	if _, err := w.Write(plain); err != nil {
		return fmt.Errorf("write the local store: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write the local store: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write the local store: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write the local store: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.Path); err != nil {
		return fmt.Errorf("write the local store: %w", err)
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// identity reads the age identity, creating it when create is set and it
// does not exist. An identity readable by others is refused.
func (s *Store) identity(create bool) (*age.X25519Identity, error) {
	b, err := readPrivate(s.IdentityPath)
	if errors.Is(err, fs.ErrNotExist) && create {
		return s.newIdentity()
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the identity file %s is missing: without it the local store %s cannot be decrypted (restore it, or point $WARD_IDENTITY at it)", s.IdentityPath, s.Path)
		}
		return nil, err
	}
	defer clear(b)
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, err := age.ParseX25519Identity(line)
		if err != nil {
			// The age error could echo key material: say only where.
			return nil, fmt.Errorf("the identity file %s does not hold an age X25519 identity", s.IdentityPath)
		}
		return id, nil
	}
	return nil, fmt.Errorf("the identity file %s is empty", s.IdentityPath)
}

func (s *Store) newIdentity() (*age.X25519Identity, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(s.IdentityPath), 0o700); err != nil {
		return nil, fmt.Errorf("create the identity's directory: %w", err)
	}
	f, err := os.OpenFile(s.IdentityPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another ward created it first: use theirs.
			return s.identity(false)
		}
		return nil, fmt.Errorf("create the identity file: %w", err)
	}
	content := fmt.Sprintf("# ward local store identity, created %s\n# public key: %s\n%s\n",
		time.Now().UTC().Format(time.RFC3339), id.Recipient(), id)
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		os.Remove(s.IdentityPath)
		return nil, fmt.Errorf("write the identity file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write the identity file: %w", err)
	}
	return id, nil
}

// readPrivate reads a file that must not be readable by group or others.
func readPrivate(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("the identity file %s has mode %04o, readable by others: refusing to use it (run: chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	return io.ReadAll(f)
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the local store: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock the local store: %w", err)
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}
