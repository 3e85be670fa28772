package local

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/wardsecrets/ward/resolve/conf"
)

// damage is a reason a decrypted store is refused. It is built only from
// ward's own words and entry names, never from the plaintext's content
// (encoding/json's errors quote it), so it can go into an error as is.
type damage string

func (d damage) Error() string { return string(d) }

// newerFormatDamage is a store of a format this ward does not read yet:
// a damage, though nothing in the file is wrong.
type newerFormatDamage struct{ damage }

func (d newerFormatDamage) Unwrap() error { return d.damage }

var newerFormat = conf.Lazy(`^ward-local-store/[0-9]{1,6}$`)

// decodeDocument parses a decrypted store. Any structural problem is a
// damage, never a panic. encoding/json validates the syntax; the walk
// that follows is by hand, in one pass, because encoding/json keeps
// unknown members only by decoding each object twice (into a map, then
// each member), several times slower on ward's start path. The fuzz test
// holds it to what that slower decoding reads.
func decodeDocument(plain []byte) (*document, error) {
	if !json.Valid(plain) {
		return nil, damage("decrypts but is not a ward store")
	}
	p := &parser{b: plain}
	if p.peek() != '{' {
		return nil, damage("decrypts but is not a ward store")
	}
	doc := newDocument()
	var format string
	var problem damage
	for p.open(); p.more(); {
		key := p.key()
		switch {
		case problem != "":
			p.value()
		case string(key) == "format":
			format, _ = p.str()
		case string(key) == "entries":
			doc.entries, problem = p.entries()
		default:
			if doc.extra == nil {
				doc.extra = map[string]json.RawMessage{}
			}
			doc.extra[string(key)] = bytes.Clone(p.value())
		}
	}
	switch {
	case format != formatName && newerFormat.MatchString(format):
		return nil, newerFormatDamage{damage(fmt.Sprintf("was written by a newer ward (format %s): upgrade ward to use it", format))}
	case format != formatName:
		return nil, damage("decrypts but is not a ward store")
	case problem != "":
		return nil, problem
	}
	return doc, nil
}

// entries parses the "entries" object (or null).
func (p *parser) entries() (map[string]*entry, damage) {
	entries := map[string]*entry{}
	switch p.peek() {
	case 'n':
		p.value()
		return entries, ""
	case '{':
	default:
		p.value()
		return nil, damage(`is damaged: its "entries" is not an object`)
	}
	var problem damage
	for p.open(); p.more(); {
		name := string(p.key())
		if problem != "" {
			p.value()
			continue
		}
		e, why := p.entry()
		if why != "" {
			problem = damage(fmt.Sprintf("is damaged: %s %s", entryName(name), why))
			continue
		}
		entries[name] = e
	}
	return entries, problem
}

// entryName names an entry in a damage: quoted when it is a valid name,
// which says nothing a list would not; anything else is not quoted, since
// a name that is not a name could be any text.
func entryName(name string) string {
	if ValidName(name) {
		return fmt.Sprintf("the entry %q", name)
	}
	return "an entry with an invalid name"
}

// entry parses one entry; a non-empty problem says what is wrong.
func (p *parser) entry() (*entry, string) {
	e := &entry{}
	hist, problem := p.version(&e.current, true)
	if problem != "" {
		return nil, problem
	}
	e.extra, e.current.extra = e.current.extra, nil
	if hist == nil {
		return e, ""
	}
	h := &parser{b: hist}
	switch h.peek() {
	case 'n':
		return e, ""
	case '[':
	default:
		return nil, `has a "history" that is not a list`
	}
	for h.open(); h.more(); {
		if problem != "" {
			h.value()
			continue
		}
		var v version
		_, why := h.version(&v, false)
		switch {
		case why != "":
			problem = fmt.Sprintf("has an earlier version (#%d) that %s", len(e.history)+1, why)
		case len(e.history) > 0 && v.number <= e.history[len(e.history)-1].number || v.number >= e.current.number:
			problem = "has earlier versions out of order"
		default:
			e.history = append(e.history, v)
		}
	}
	if problem != "" {
		return nil, problem
	}
	return e, ""
}

// version parses one version object into v. With top set, it is an
// entry, and its "history" is returned (raw) instead of kept as an
// unknown member.
func (p *parser) version(v *version, top bool) (history []byte, problem string) {
	if p.peek() != '{' {
		p.value()
		return nil, "is not an object"
	}
	var hasValue, hasNumber bool
	for p.open(); p.more(); {
		key := p.key()
		if problem != "" {
			p.value()
			continue
		}
		switch {
		case string(key) == "value":
			v.value, problem = p.bytes()
			hasValue = true
		case string(key) == "version":
			var ok bool
			v.number, ok = p.count()
			hasNumber = true
			if !ok || v.number < 1 {
				problem = "has a version that is not a whole number from 1 to " + maxCount
			}
		case string(key) == "updated":
			raw := p.value()
			if raw[0] != '"' && string(raw) != "null" || v.updated.UnmarshalJSON(raw) != nil {
				problem = "has an update time that is not a time"
			}
		case string(key) == "restored_from" && p.peek() == 'n':
			p.value()
		case string(key) == "restored_from":
			var ok bool
			if v.restoredFrom, ok = p.count(); !ok {
				problem = "has a restored_from that is not a version (a whole number up to " + maxCount + ")"
			}
		case string(key) == "history" && top:
			history = p.value()
		default:
			if v.extra == nil {
				v.extra = map[string]json.RawMessage{}
			}
			v.extra[string(key)] = bytes.Clone(p.value())
		}
	}
	switch {
	case problem != "":
		return nil, problem
	case !hasValue:
		return nil, "has no value"
	case !hasNumber:
		return nil, "has no version"
	}
	return history, ""
}

// parser walks JSON that json.Valid accepted, so it never meets a syntax
// error, or the end of its input where a value should be.
type parser struct {
	b []byte
	i int
}

// peek returns the first byte of the next value (or of the next ',', ':'
// or closing bracket).
func (p *parser) peek() byte {
	for p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r' {
		p.i++
	}
	return p.b[p.i]
}

// open moves into the object or array that comes next. Its members are
// read with: for p.open(); p.more(); { key := p.key(); ...p.value()... }
// (no key for an array), each member's value consumed in the loop.
func (p *parser) open() {
	p.peek()
	p.i++
}

// more reports whether the object or array has another member, and moves
// past the comma before it, or past the closing bracket.
func (p *parser) more() bool {
	switch p.peek() {
	case '}', ']':
		p.i++
		return false
	case ',':
		p.i++
	}
	return true
}

// key returns an object member's key and moves past the colon after it.
// The bytes are the input's unless the key has escapes.
func (p *parser) key() []byte {
	raw := p.value()
	k := raw[1 : len(raw)-1]
	if !plainText(raw) {
		var s string
		json.Unmarshal(raw, &s) // valid JSON: a string key always decodes
		k = []byte(s)
	}
	p.peek()
	p.i++
	return k
}

// value returns the raw text of the next value and moves past it.
func (p *parser) value() []byte {
	c := p.peek()
	start := p.i
	switch c {
	case '"':
		p.skipString()
	case '{', '[':
		for depth := 0; ; {
			switch p.b[p.i] {
			case '"':
				p.skipString()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			p.i++
			if depth == 0 {
				break
			}
		}
	default: // a number, true, false or null
		for p.i < len(p.b) && !isDelimiter(p.b[p.i]) {
			p.i++
		}
	}
	return p.b[start:p.i]
}

func isDelimiter(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ']' || c == '}'
}

// skipString moves past the string that starts at p.i.
func (p *parser) skipString() {
	p.i++
	for p.b[p.i] != '"' {
		if p.b[p.i] == '\\' {
			p.i++
		}
		p.i++
	}
	p.i++
}

// str returns the next value as a string; ok is false (and the value
// consumed) when it is not a string.
func (p *parser) str() (s string, ok bool) {
	raw := p.value()
	if raw[0] != '"' {
		return "", false
	}
	if plainText(raw) {
		return string(raw[1 : len(raw)-1]), true
	}
	// Escapes, or bytes beyond ASCII (which encoding/json makes valid
	// UTF-8, as everywhere else in ward).
	err := json.Unmarshal(raw, &s)
	return s, err == nil
}

// plainText reports whether a JSON string is its own text: no escapes,
// nothing beyond ASCII.
func plainText(raw []byte) bool {
	for _, c := range raw {
		if c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

// bytes returns the next value as base64-decoded bytes, as encoding/json
// decodes a []byte: null is nil.
func (p *parser) bytes() ([]byte, string) {
	const problem = "has a value that is not base64 text"
	raw := p.value()
	switch {
	case string(raw) == "null":
		return nil, ""
	case raw[0] != '"':
		return nil, problem
	case !plainText(raw):
		var b []byte
		if json.Unmarshal(raw, &b) != nil {
			return nil, problem
		}
		return b, ""
	}
	text := raw[1 : len(raw)-1]
	b := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Decode(b, text)
	if err != nil {
		return nil, problem
	}
	return b[:n], ""
}

// maxCount is the largest number count reads: 15 digits, or math.MaxInt
// where that is less (2147483647 on 386 and arm).
var maxCount = strconv.Itoa(min(999999999999999, math.MaxInt))

// count returns the next value as a whole number from 0 up; ok is false
// for anything else (a fraction, an exponent, a sign, a string, null, a
// number of more than 15 digits), and for a number over math.MaxInt,
// which only a 32-bit build (386, arm) has below 15 digits: it wrapped
// there, 4294967297 read as 1, a store written by a 64-bit ward read as
// another one.
func (p *parser) count() (n int, ok bool) {
	raw := p.value()
	if len(raw) == 0 || len(raw) > 15 {
		return 0, false
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int(c - '0')
		if n > (math.MaxInt-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}
