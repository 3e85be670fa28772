package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"unicode/utf8"
)

// MinLen is the shortest value ward masks or scans for, in bytes. Shorter
// values ("80", "yes") would mask or report ordinary text everywhere.
const MinLen = 4

// minShiftedLen is the shortest unaligned base64 fragment kept as a form:
// shorter fragments of a base64 blob would match unrelated base64 text.
const minShiftedLen = 8

// Encoding names the form in which a value appears.
type Encoding string

// The encodings Forms produces.
const (
	Plain  Encoding = "plain"
	Base64 Encoding = "base64"
	URL    Encoding = "url"
	JSON   Encoding = "json"
)

// Form is one way a value can appear in output or in a file.
type Form struct {
	Encoding Encoding
	Bytes    []byte
}

// Forms returns value and its encoded forms, deduplicated, the value first.
// It is what a CI runner must be told to mask (see WriteAddMask).
func Forms(value []byte) [][]byte {
	forms := FormsOf(value)
	out := make([][]byte, len(forms))
	for i, f := range forms {
		out[i] = f.Bytes
	}
	return out
}

// FormsOf returns value and its encoded forms with their encodings,
// deduplicated (a form equal to an earlier one is dropped), the value first:
//
//   - plain: the value; without its trailing line break, if it has one; with
//     "\r\n" line endings, if it has "\n" ones (a terminal's output
//     translation makes them so)
//   - base64: standard and URL-safe alphabets, with and without padding, and
//     the fragments that stay the same when the value sits at any offset inside
//     a longer encoded text (as in "Basic dXNlcjpwYXNz")
//   - url: url.QueryEscape and url.PathEscape
//   - json: the inside of a JSON string, with and without HTML escaping
//     (valid UTF-8 only)
//
// Values shorter than MinLen give no forms.
func FormsOf(value []byte) []Form {
	if len(value) < MinLen {
		return nil
	}
	var fs formSet
	variants := [][]byte{value}
	if t := bytes.TrimRight(value, "\r\n"); len(t) != len(value) && len(t) >= MinLen {
		variants = append(variants, t)
	}
	for _, v := range variants {
		fs.add(Plain, v)
		if crlf := toCRLF(v); crlf != nil {
			fs.add(Plain, crlf)
		}
	}
	for _, v := range variants {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			fs.add(Base64, []byte(enc.EncodeToString(v)))
		}
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			for shift := range 3 {
				if f := shiftedBase64(enc, v, shift); len(f) >= minShiftedLen {
					fs.add(Base64, f)
				}
			}
		}
	}
	for _, v := range variants {
		fs.add(URL, []byte(url.QueryEscape(string(v))))
		fs.add(URL, []byte(url.PathEscape(string(v))))
	}
	for _, v := range variants {
		if !utf8.Valid(v) {
			continue
		}
		for _, html := range []bool{true, false} {
			fs.add(JSON, jsonInside(v, html))
		}
	}
	return fs.forms
}

// formSet collects forms in order, dropping repeats.
type formSet struct {
	forms []Form
	seen  map[string]bool
}

func (s *formSet) add(enc Encoding, b []byte) {
	if len(b) < MinLen || s.seen[string(b)] {
		return
	}
	if s.seen == nil {
		s.seen = make(map[string]bool)
	}
	s.seen[string(b)] = true
	s.forms = append(s.forms, Form{Encoding: enc, Bytes: b})
}

// toCRLF returns v with each lone "\n" made "\r\n", or nil if that changes
// nothing.
func toCRLF(v []byte) []byte {
	var out []byte
	changed := false
	for i, c := range v {
		if c == '\n' && (i == 0 || v[i-1] != '\r') {
			out = append(out, '\r')
			changed = true
		}
		out = append(out, c)
	}
	if !changed {
		return nil
	}
	return out
}

// shiftedBase64 returns the characters of the base64 encoding of v, placed
// shift bytes into a longer text, that depend on v alone: the characters
// at either end that mix in the neighbouring bytes are cut off.
func shiftedBase64(enc *base64.Encoding, v []byte, shift int) []byte {
	padded := make([]byte, shift+len(v))
	copy(padded[shift:], v)
	s := enc.EncodeToString(padded)
	first := (8*shift + 5) / 6       // first character made only of v's bits
	last := 8 * (shift + len(v)) / 6 // characters before it end within v
	if last <= first {
		return nil
	}
	return []byte(s[first:last])
}

// jsonInside returns v as it appears between the quotes of a JSON string.
func jsonInside(v []byte, escapeHTML bool) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(escapeHTML)
	// A string always encodes; the error is for other types.
	_ = e.Encode(string(v))
	out := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	return out[1 : len(out)-1]
}
