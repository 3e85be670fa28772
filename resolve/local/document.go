package local

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"time"
)

// formatName is written in every store. History, restored_from and members
// this ward does not know were added without changing it: a reader of
// ward-local-store/1 ignores members it does not know, so an older ward
// still reads a store written by this one (it drops the history when it
// writes, which loses old versions, never a current value).
const formatName = "ward-local-store/1"

// keepVersions is how many earlier versions each entry keeps. Every Fetch
// decrypts and parses the whole file, and a value may be 1 MiB, so history
// multiplies both the file and ward's start-up by up to keepVersions+1;
// and an old secret kept is one more secret a stolen store and identity
// give away. Ten covers undoing a few mistaken sets or rotations without
// keeping every value the entry ever held.
const keepVersions = 10

// document is the decrypted store file:
//
//	{"format": "ward-local-store/1",
//	 "entries": {NAME: {"value": BASE64, "version": N, "updated": TIME,
//	                    "restored_from": N, "history": [VERSION...]}}}
//
// where each VERSION of "history" has value, version, updated and
// restored_from, oldest first. Members this ward does not know, at the top,
// in an entry or in a version, are kept as they are on rewrite: an
// entry's stay with the entry from version to version, an earlier
// version's with that version.
type document struct {
	entries map[string]*entry
	extra   map[string]json.RawMessage
	// others, in a document kept for some names only (see loadNames),
	// are the names of the entries left out: for an error's "did you
	// mean", never read for values.
	others []string
}

// entry is one name: its current version and the earlier ones.
type entry struct {
	current version
	// history holds earlier versions, oldest first, numbers increasing
	// and below current.number.
	history []version
	extra   map[string]json.RawMessage
}

// version is one value an entry held.
type version struct {
	value        []byte
	number       int
	updated      time.Time
	restoredFrom int
	extra        map[string]json.RawMessage
}

func newDocument() *document {
	return &document{entries: map[string]*entry{}}
}

// push makes next the current version, keeping the current one in the
// history and dropping (and wiping) what falls beyond keepVersions.
func (e *entry) push(next version) {
	e.history = append(e.history, e.current)
	if over := len(e.history) - keepVersions; over > 0 {
		for i := range over {
			clear(e.history[i].value)
		}
		e.history = slices.Delete(e.history, 0, over)
	}
	e.current = next
}

// wipe zeroes every value the entry holds, before it is dropped.
func (e *entry) wipe() {
	clear(e.current.value)
	for _, v := range e.history {
		clear(v.value)
	}
}

// before returns the version a rollback without --to restores, and the
// version that value was first set as: the one before the current, or,
// when the current was itself restored, the one before the version it
// restored. So rollbacks one after another step back through the sets,
// as undo does, rather than swap the last two values: after two mistaken
// sets, two rollbacks give the value before both, not the second mistake
// again; and a set made after rollbacks, rolled back, leaves the history
// where those rollbacks had left it.
func (e *entry) before() (version, int, bool) {
	base := e.origin(e.current)
	for i := len(e.history) - 1; i >= 0; i-- {
		if v := e.history[i]; v.number < base {
			return v, e.origin(v), true
		}
	}
	return version{}, 0, false
}

// origin follows a restored version back to the version it copies, as far
// as the versions are kept.
func (e *entry) origin(v version) int {
	for n := 0; v.restoredFrom > 0 && n <= len(e.history); n++ {
		from, ok := e.find(v.restoredFrom)
		if !ok {
			return v.restoredFrom
		}
		v = from
	}
	return v.number
}

// find returns the version numbered n, from the history or the current.
func (e *entry) find(n int) (version, bool) {
	if e.current.number == n {
		return e.current, true
	}
	for _, v := range e.history {
		if v.number == n {
			return v, true
		}
	}
	return version{}, false
}

// encode returns the document's JSON. The buffer is sized up front so that
// no copy of a value is left behind in a grown-out buffer; the caller
// wipes the result.
func (d *document) encode() []byte {
	size := 64
	for name, e := range d.entries {
		size += len(name) + 16 + versionSize(e.current) + extraSize(e.extra)
		for _, v := range e.history {
			size += versionSize(v)
		}
	}
	size += extraSize(d.extra)
	b := bytes.NewBuffer(make([]byte, 0, size))

	b.WriteString(`{"format":"` + formatName + `","entries":{`)
	names := make([]string, 0, len(d.entries))
	for name := range d.entries {
		names = append(names, name)
	}
	slices.Sort(names)
	for i, name := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(b, name)
		b.WriteByte(':')
		e := d.entries[name]
		writeVersion(b, e.current, e.history, e.extra)
	}
	b.WriteByte('}')
	writeExtra(b, d.extra)
	b.WriteByte('}')
	return b.Bytes()
}

func writeVersion(b *bytes.Buffer, v version, history []version, extra map[string]json.RawMessage) {
	b.WriteString(`{"value":"`)
	b.Write(base64.StdEncoding.AppendEncode(b.AvailableBuffer(), v.value))
	b.WriteString(`","version":`)
	b.WriteString(strconv.Itoa(v.number))
	b.WriteString(`,"updated":`)
	t, err := v.updated.MarshalJSON()
	if err != nil {
		// A year outside 0-9999: the date is lost, the value is not.
		t = []byte("null")
	}
	b.Write(t)
	if v.restoredFrom > 0 {
		b.WriteString(`,"restored_from":`)
		b.WriteString(strconv.Itoa(v.restoredFrom))
	}
	if len(history) > 0 {
		b.WriteString(`,"history":[`)
		for i, h := range history {
			if i > 0 {
				b.WriteByte(',')
			}
			writeVersion(b, h, nil, h.extra)
		}
		b.WriteByte(']')
	}
	writeExtra(b, extra)
	b.WriteByte('}')
}

// writeExtra writes the members this ward does not know, in a stable order.
func writeExtra(b *bytes.Buffer, extra map[string]json.RawMessage) {
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteByte(',')
		writeString(b, k)
		b.WriteByte(':')
		b.Write(extra[k])
	}
}

func writeString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // a string always marshals
	b.Write(q)
}

func versionSize(v version) int {
	return base64.StdEncoding.EncodedLen(len(v.value)) + 96 + extraSize(v.extra)
}

func extraSize(extra map[string]json.RawMessage) int {
	n := 0
	for k, v := range extra {
		n += len(k) + len(v) + 8
	}
	return n
}
