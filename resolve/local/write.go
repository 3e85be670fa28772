package local

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wardsecrets/ward/resolve"
)

// MaxValueSize is the largest value the store takes: 1 MiB.
const MaxValueSize = 1 << 20

// Option changes how Set and SetMany store values.
type Option int

const (
	// AllowEmpty stores an empty value, which Set and SetMany otherwise
	// refuse: an empty value is nearly always a mistake (an empty stdin,
	// KEY= in a .env file) that would start the program with an empty
	// secret.
	AllowEmpty Option = iota + 1
	// NoReplace makes Set and SetMany refuse, writing nothing, when any of
	// the names already exists; checked under the lock, so no other
	// writer can slip in between the check and the write.
	NoReplace
	// NoOtherValue makes SetMany refuse, writing nothing, when any of the
	// names already holds another value (one that holds the same value is
	// left as it is); checked under the lock, as NoReplace is: `ward
	// import`'s check before it, outside the lock, let two imports at
	// once each replace the other's value, without a word.
	NoOtherValue
)

// NamedValue is one value for SetMany.
type NamedValue struct {
	Name  string
	Value []byte
}

// Written is what SetMany did to one name, for Undo.
type Written struct {
	Name string
	// Previous is the version the name had before, 0 when SetMany
	// created the entry.
	Previous int
	// Version is the name's version after SetMany: Previous+1, or
	// Previous when the entry already held that exact value (SetMany then
	// wrote no new version).
	Version int
}

// ErrEmptyValue matches (with errors.Is) the error for an empty value
// given without AllowEmpty.
var ErrEmptyValue = errors.New("empty value")

// ErrExists matches (with errors.Is) the error for a name that exists
// when NoReplace was given.
var ErrExists = errors.New("entry exists")

// Set stores value under name as a new version (none when the entry
// holds that value already), creating the store and the identity on
// first use. It takes the options SetMany takes, and
// refuses an empty value without AllowEmpty. Concurrent Sets from several
// processes are serialised by a lock, and the file is replaced atomically,
// so no entry is ever lost.
func (s *Store) Set(name string, value []byte, opts ...Option) error {
	_, err := s.SetMany([]NamedValue{{Name: name, Value: value}}, opts...)
	return err
}

// SetMany stores many values at once: one lock, one decryption, one
// encrypted file written and renamed into place. It is all or nothing:
// every name and value is checked first (valid names, each given once,
// values of at most MaxValueSize, no empty value without AllowEmpty, no
// existing name with NoReplace), and a failure or a kill at any point
// leaves the store as it was. Each value becomes a new version of its
// entry, except a value an entry already holds, which leaves that entry
// as it is. It returns what it did to each name, in the order given,
// for Undo. No values is nothing to do and writes nothing.
func (s *Store) SetMany(values []NamedValue, opts ...Option) ([]Written, error) {
	allowEmpty, noReplace, noOther := slices.Contains(opts, AllowEmpty), slices.Contains(opts, NoReplace), slices.Contains(opts, NoOtherValue)
	if err := checkValues(values, allowEmpty); err != nil {
		return nil, err
	}
	if len(values) == 0 {
		return nil, nil
	}
	var written []Written
	err := s.update(true, func(doc *document) (bool, error) {
		if noReplace {
			var exist []string
			for _, v := range values {
				if doc.entries[v.Name] != nil {
					exist = append(exist, v.Name)
				}
			}
			if len(exist) > 0 {
				return false, marked{ErrExists, fmt.Sprintf("nothing was stored: %s already in the local store %s", listNames(exist, "exists", "exist"), s.Path)}
			}
		}
		if noOther {
			var differ []string
			for _, v := range values {
				if e := doc.entries[v.Name]; e != nil && !bytes.Equal(e.current.value, v.Value) {
					differ = append(differ, v.Name)
				}
			}
			if len(differ) > 0 {
				return false, &OtherValueError{Names: differ, Path: s.Path}
			}
		}
		now := time.Now().UTC().Truncate(time.Second)
		written = make([]Written, len(values))
		changed := false
		for i, v := range values {
			e := doc.entries[v.Name]
			switch {
			case e == nil:
				doc.entries[v.Name] = &entry{current: version{value: bytes.Clone(v.Value), number: 1, updated: now}}
				written[i] = Written{Name: v.Name, Version: 1}
			case bytes.Equal(e.current.value, v.Value):
				written[i] = Written{Name: v.Name, Previous: e.current.number, Version: e.current.number}
				continue
			default:
				n := e.current.number
				e.push(version{value: bytes.Clone(v.Value), number: n + 1, updated: now})
				written[i] = Written{Name: v.Name, Previous: n, Version: n + 1}
			}
			changed = true
		}
		return changed, nil
	})
	if err != nil {
		return nil, err
	}
	return written, nil
}

// OtherValueError is SetMany's refusal under NoOtherValue: the names that
// hold another value. It matches ErrExists.
type OtherValueError struct {
	Names []string
	Path  string
}

func (e *OtherValueError) Error() string {
	return fmt.Sprintf("nothing was stored: %s already in the local store %s with another value", listNames(e.Names, "exists", "exist"), e.Path)
}

func (e *OtherValueError) Is(target error) bool { return target == ErrExists }

// Undo takes back what a SetMany did, in one write: an entry it created
// is removed, an entry it gave a new version goes back to the version
// before, and the value it stored is gone from the file. An entry that
// changed since (another Set, a Rollback, a Remove) is left as it is and
// named in the error, after the others were undone. A version the
// SetMany pushed out of a full history does not come back.
func (s *Store) Undo(written []Written) error {
	var changed []string
	err := s.update(false, func(doc *document) (bool, error) {
		undone := false
		for _, w := range written {
			if w.Version == w.Previous {
				continue
			}
			e := doc.entries[w.Name]
			if e == nil || e.current.number != w.Version {
				changed = append(changed, w.Name)
				continue
			}
			if w.Previous == 0 {
				e.wipe()
				delete(doc.entries, w.Name)
				undone = true
				continue
			}
			n := len(e.history)
			if n == 0 || e.history[n-1].number != w.Previous {
				changed = append(changed, w.Name)
				continue
			}
			clear(e.current.value)
			e.current, e.history = e.history[n-1], e.history[:n-1]
			undone = true
		}
		return undone, nil
	})
	if err != nil {
		return err
	}
	if len(changed) > 0 {
		return fmt.Errorf("undo: %s left as they are in the local store %s: they changed since", listNames(changed, "was", "were"), s.Path)
	}
	return nil
}

// ErrNoSuchVersion is why a rollback to a version the store does not hold
// (never made, or older than it keeps) failed.
var ErrNoSuchVersion = errors.New("no such version")

// noVersion is an error that is ErrNoSuchVersion, in its own words.
type noVersion struct{ error }

func (noVersion) Is(target error) bool { return target == ErrNoSuchVersion }

// Rollback makes version to of an entry its current value again, as a new
// version (so history only grows forward, and a rollback can itself be
// rolled back); to 0 steps back one set, as entry.before says.
func (s *Store) Rollback(name string, to int) error {
	if to < 0 {
		return fmt.Errorf("roll back %s: no version %d (versions count from 1)", name, to)
	}
	return s.update(false, func(doc *document) (bool, error) {
		e := doc.entries[name]
		if e == nil {
			return false, s.notFoundIn(doc, name)
		}
		var from version
		restored := 0
		switch {
		case to == 0 && len(e.history) == 0:
			return false, fmt.Errorf("roll back %s: it has no earlier version in the local store", name)
		case to == 0:
			var ok bool
			if from, restored, ok = e.before(); !ok {
				return false, noVersion{fmt.Errorf("roll back %s: its current value is v%d's, and the local store keeps no version before v%d (it holds %s); to undo the last rollback itself, give --to the version it replaced", name, e.origin(e.current), e.origin(e.current), versionList(e))}
			}
		case to == e.current.number:
			return false, fmt.Errorf("roll back %s: v%d is already its current version", name, to)
		default:
			v, ok := e.find(to)
			if !ok {
				return false, noVersion{fmt.Errorf("roll back %s: the local store holds no v%d of it (it holds %s)", name, to, versionList(e))}
			}
			from, restored = v, v.number
		}
		now := time.Now().UTC().Truncate(time.Second)
		e.push(version{value: bytes.Clone(from.value), number: e.current.number + 1, updated: now, restoredFrom: restored})
		return true, nil
	})
}

// Remove deletes an entry with every earlier version of it: what was
// removed cannot be rolled back. That is the point of removing a secret
// (one that leaked, one no longer used): no copy of it stays in the file.
func (s *Store) Remove(name string) error {
	return s.update(false, func(doc *document) (bool, error) {
		e, ok := doc.entries[name]
		if !ok {
			return false, fmt.Errorf("no entry %q in the local store %s: %w", name, s.Path, resolve.ErrNotFound)
		}
		e.wipe()
		delete(doc.entries, name)
		return true, nil
	})
}

// storePlaces is where the store may be, the hint for a place the user
// cannot have it.
const storePlaces = "the store is $WARD_LOCAL_STORE, else $XDG_DATA_HOME/ward/store.age, else ~/.local/share/ward/store.age: set one to a place this user can write"

// update runs change on the current document under an exclusive lock and,
// when change reports a change, writes the result atomically. With create
// a missing store (and identity) is created; without, it is an error.
func (s *Store) update(create bool, change func(*document) (bool, error)) error {
	if err := s.notAnotherUsers(); err != nil {
		return err
	}
	if err := mkdirAllSync(filepath.Dir(s.Path)); err != nil {
		return placeHint(fmt.Errorf("create the local store's directory: %w", err), "the local store", s.Path, storePlaces)
	}
	target, unlock, err := s.lockTarget()
	if err != nil {
		return err
	}
	defer unlock()
	removeStaleTemps(target)

	doc, id, err := s.readFile(target)
	switch {
	case errors.Is(err, ErrNoStore):
		if !create {
			return fmt.Errorf("the local store %s does not exist yet", s.Path)
		}
		ids, err := s.identity(true)
		if err != nil {
			return err
		}
		id, doc = ids[0], newDocument()
	case err != nil:
		return err
	}
	changed, err := change(doc)
	if err != nil || !changed {
		return err
	}
	return writeDocument(target, id.recipient, doc)
}

// notAnotherUsers refuses root a write to a store that is another
// user's, or that would be made in another user's directory, and the
// making of an identity there. Root with that user's $HOME (sudo -E, su
// without -) would otherwise replace their store with a file of root's,
// mode 0600, that they can no longer read, or make the store, its lock,
// the identity and their directories root's, so that the user's own
// first write fails. Reading stays allowed: it changes nothing.
func (s *Store) notAnotherUsers() error {
	if os.Geteuid() != 0 {
		return nil
	}
	store, err := s.target()
	if errors.Is(err, fs.ErrNotExist) {
		// A directory of the path is missing: the one that exists decides.
		store, err = s.Path, nil
	}
	if err != nil {
		return err
	}
	for _, p := range []string{store, s.IdentityPath} {
		if p == s.IdentityPath {
			if _, err := os.Stat(p); err == nil {
				continue // only read
			}
		}
		if at, owner := nearestOwner(p); owner > 0 {
			return fmt.Errorf("the local store %s: %s belongs to uid %d, and a write by root would leave that user files they cannot read: run ward as that user (sudo -u '#%d' ward ...), or give root its own $HOME (sudo -H, su -)", s.Path, at, owner, owner)
		}
	}
	return nil
}

// nearestOwner returns p, or its nearest parent that exists, and its
// owner (-1 when none can be found).
func nearestOwner(p string) (string, int) {
	for {
		if st, err := os.Stat(p); err == nil {
			return p, ownerOf(st)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return p, -1
		}
		p = parent
	}
}

// checkValues says everything wrong with a batch at once, so that one
// run of an import shows every line to fix.
func checkValues(values []NamedValue, allowEmpty bool) error {
	var invalid, twice, large, empty []string
	seen := make(map[string]bool, len(values))
	for _, v := range values {
		switch {
		case !ValidName(v.Name):
			invalid = append(invalid, v.Name)
			continue
		case seen[v.Name]:
			twice = append(twice, v.Name)
		case len(v.Value) > MaxValueSize:
			large = append(large, v.Name)
		case len(v.Value) == 0 && !allowEmpty:
			empty = append(empty, v.Name)
		}
		seen[v.Name] = true
	}
	var errs problems
	if len(invalid) > 0 {
		errs = append(errs, fmt.Errorf("invalid %s %s: %s", plural(len(invalid), "name", "names"), quoteNames(invalid), NameHint))
	}
	if len(twice) > 0 {
		errs = append(errs, fmt.Errorf("%s given more than once", listNames(twice, "is", "are")))
	}
	if len(large) > 0 {
		errs = append(errs, fmt.Errorf("the %s of %s over the 1 MiB limit", plural(len(large), "value", "values"), listNames(large, "is", "are")))
	}
	if len(empty) > 0 {
		errs = append(errs, marked{ErrEmptyValue, fmt.Sprintf("refusing to store an empty value as %s: an empty value is usually a mistake (an empty stdin, KEY= in a .env file); to store one on purpose, use --allow-empty", quoteNames(empty))})
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errs
}

// marked is an error whose message says it all and that matches a
// sentinel (errors.Is), without the sentinel's text tacked on.
type marked struct {
	mark error
	msg  string
}

func (m marked) Error() string { return m.msg }
func (m marked) Unwrap() error { return m.mark }

// problems is several errors shown on one line.
type problems []error

func (p problems) Error() string {
	msgs := make([]string, len(p))
	for i, err := range p {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (p problems) Unwrap() []error { return p }

// listNames quotes names followed by the verb that agrees with them.
func listNames(names []string, one, many string) string {
	return quoteNames(names) + " " + plural(len(names), one, many)
}

// quoteNames quotes up to ten names, and counts the rest.
func quoteNames(names []string) string {
	const show = 10
	q := make([]string, 0, min(len(names), show))
	for _, n := range names[:min(len(names), show)] {
		q = append(q, strconv.Quote(n))
	}
	s := strings.Join(q, ", ")
	if len(names) > show {
		s += fmt.Sprintf(" and %d more", len(names)-show)
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func versionList(e *entry) string {
	vs := []string{"v" + strconv.Itoa(e.current.number)}
	for i := len(e.history) - 1; i >= 0; i-- {
		vs = append(vs, "v"+strconv.Itoa(e.history[i].number))
	}
	return strings.Join(vs, ", ")
}
