// Package conf reads ward.yaml's YAML nodes with their positions: a
// Decoder walks mappings, lists and scalars and records every problem at
// its line and column with the field it concerns and a hint, so that the
// manifest and each store's stores.<name> block report errors the same
// way. It also holds Shape, the small description of those nodes from
// which the manifest's JSON Schema is built.
package conf

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Problem is one error in a YAML document, at a place, about a field. It
// never holds a secret value: messages quote keys and settings, and
// callers never pass a value that could be a secret.
type Problem struct {
	Line, Col int
	// Field is the dotted path of the field, e.g. stores.vault.auth.role.
	Field string
	Msg   string
	Hint  string
	// Unknown is "field" or "scheme" when the problem is a name this
	// ward does not know (which a later ward may), else empty.
	Unknown string
}

// Decoder collects the problems found while decoding.
type Decoder struct {
	Problems []*Problem
}

// Fail records a problem at n.
func (d *Decoder) Fail(n *yaml.Node, field, hint, format string, args ...any) {
	d.Problems = append(d.Problems, &Problem{Line: n.Line, Col: n.Column, Field: field, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// Failed reports whether any problem was recorded.
func (d *Decoder) Failed() bool { return len(d.Problems) > 0 }

// Fields walks a mapping with known keys, calling known[key] for each and
// reporting unknown and duplicate keys.
func (d *Decoder) Fields(n *yaml.Node, field string, known map[string]func(k, v *yaml.Node)) {
	d.Pairs(n, field, func(k, v *yaml.Node) {
		h, ok := known[k.Value]
		if !ok {
			names := make([]string, 0, len(known))
			for n := range known {
				names = append(names, n)
			}
			sort.Strings(names)
			if !fieldLike(k.Value) {
				d.Fail(k, field, "known fields here: "+strings.Join(names, ", ")+"; for a plain value write {value: \"...\"}, and if this is a secret, it is now in this file: rotate it", "an unknown field of %d characters, not shown: it is no field's name, and may be a value written where one goes", utf8.RuneCountInString(k.Value))
				return
			}
			d.Fail(k, Join(field, k.Value), "known fields here: "+strings.Join(names, ", "), "unknown field %q", k.Value)
			d.Problems[len(d.Problems)-1].Unknown = "field"
			return
		}
		h(k, v)
	})
}

// fieldLike reports whether key reads as a field's name, one a later
// ward may know or a misspelt one (`vaule`, `stop_timout`, `Env`, a
// variable's name at the wrong level, API_TOKEN): letters, '_' and '-',
// as every field's name is, and not long. Such a key is quoted in the
// error. Any other key may be a value written where a field's name goes:
// `{ghp_...}` (a token in braces, as `${...}` is written elsewhere),
// `{value s3cr3t}` and `{value=s3cr3t}` (a colon missed or mistyped),
// whose key is the value; ward printed it twice, in the field and in the
// message, in the log of the CI job that checked the manifest.
//
// Invisible characters (a byte order mark at the start of a line of
// files joined with cat, a zero-width space from a paste) are not
// counted: the key is quoted with them escaped, which shows where they
// are.
func fieldLike(key string) bool {
	key = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, key)
	if key == "" || len(key) > 48 {
		return false
	}
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// ValueLike reports whether a key where a name goes (a variable's, a
// profile's) may be a value pasted there, and so is not to be quoted in
// an error: it holds '=' or ':' (`DB_PASS=...`), a blank, is longer than
// a name is, or holds a run of 16 letters and digits mixed, as a token
// does (`ghp_...`, `sk-proj-...`, a JWT).
func ValueLike(key string) bool {
	if len(key) > 64 || strings.ContainsAny(key, "=: \t") {
		return true
	}
	return MixedRun(key, 16)
}

// MixedRun reports whether s has a run of at least n ASCII letters and
// digits with both in it, as a token has and a word, a number or a
// name made of them (api_v2, eu-west-1) has not.
func MixedRun(s string, n int) bool {
	for _, run := range strings.FieldsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		if len(run) >= n && strings.ContainsAny(run, "0123456789") && strings.Trim(run, "0123456789") != "" {
			return true
		}
	}
	return false
}

// Pairs walks a mapping whose keys are the user's names (variables,
// profiles), reporting duplicates.
func (d *Decoder) Pairs(n *yaml.Node, field string, each func(k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		d.Fail(n, field, mappingHint, "want a mapping, got %s", KindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!null" && k.Value == "" {
			// A complex key (`? [a, b]`, `{[A]: x}`) or none (`? ` alone):
			// its Value is "", which was "invalid variable name \"\"", an
			// unknown field "", or a profile named "" that no -p can ask
			// for.
			d.Fail(k, field, "write a name before the colon", "a key that is %s: a key here is a name", KindName(k))
			continue
		}
		if seen[k.Value] {
			if ValueLike(k.Value) {
				d.Fail(k, field, "remove one of them; if it is a secret, it is now in this file: rotate it", "a duplicate key of %d characters, not shown: it may be a value written where a name goes", utf8.RuneCountInString(k.Value))
				continue
			}
			d.Fail(k, Join(field, k.Value), "remove one of them", "duplicate key")
			continue
		}
		seen[k.Value] = true
		each(k, v)
	}
}

// Str reads a string scalar. An unquoted number or boolean is not one:
// YAML tools disagree on what `0400` or `yes` are, and the JSON Schema,
// which sees what they made of it, says string.
func (d *Decoder) Str(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" && n.Tag != "!!timestamp" {
		d.Fail(n, field, "write a string; quote it if YAML reads it as something else", "want a string, got %s", KindName(n))
		return "", false
	}
	return n.Value, true
}

// SetStr returns a Fields handler that stores a string setting in dst.
func (d *Decoder) SetStr(dst *string, field string) func(k, v *yaml.Node) {
	return func(_, v *yaml.Node) {
		if s, ok := d.Str(v, field); ok {
			*dst = s
		}
	}
}

// CredName is a systemd credential's name, as LoadCredential=NAME:...
// takes it: what creds://NAME names, as a reference or as a setting's
// file.
var CredName = Lazy(`^[A-Za-z0-9_][A-Za-z0-9_.\-@:]*$`)

// SetFile reads a setting that names a file, a path or creds://NAME (a
// systemd credential), into dst.
func (d *Decoder) SetFile(dst *string, field string) func(k, v *yaml.Node) {
	return func(_, v *yaml.Node) {
		s, ok := d.Str(v, field)
		if !ok {
			return
		}
		if name, creds := strings.CutPrefix(s, "creds://"); creds && !CredName.MatchString(name) {
			d.Fail(v, field, "write creds://NAME as given to LoadCredential=NAME:...", "invalid credential name %q", name)
			return
		}
		*dst = s
	}
}

// Bool reads true or false.
func (d *Decoder) Bool(n *yaml.Node, field string) (bool, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		var b bool
		if n.Decode(&b) == nil {
			return b, true
		}
	}
	d.Fail(n, field, "write true or false", "want a boolean, got %s", KindName(n))
	return false, false
}

// Int reads a whole number (3, or 3.0, which JSON counts as the same).
func (d *Decoder) Int(n *yaml.Node, field string) (int, bool) {
	if NotDecimal(n) {
		d.Fail(n, field, NotDecimalHint, "want a whole number in decimal, got %s", n.Value)
		return 0, false
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		var i int
		if n.Decode(&i) == nil {
			return i, true
		}
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!float" {
		var f float64
		if n.Decode(&f) == nil && f == float64(int(f)) {
			return int(f), true
		}
	}
	d.Fail(n, field, "write a whole number, unquoted, such as 1", "want a whole number, got %s", KindName(n))
	return 0, false
}

// NotDecimal reports whether n is a number that YAML's versions read
// differently: written with leading zeros (0400: octal, 256, to YAML 1.1
// readers, ward's among them; 400 to YAML 1.2 readers, a JSON Schema
// validator's and an editor's), with underscores (1_000) or in binary
// (0b10), which YAML 1.2 reads as a string; in 1.2's octal (0o400), with
// an exponent but no dot or no sign in it (1e3, 2.56e2), which YAML 1.1
// reads as a string (PyYAML's, an Ansible or pre-commit check's), or in
// hexadecimal with a sign (+0x10), which 1.2 reads as a string. The
// manifest would say one thing to ward and another to its reader. 0x100
// and 2.56e+2 are the same number to both.
func NotDecimal(n *yaml.Node) bool {
	// Plain, or tagged (!!int 012, which ward reads as octal too).
	if n.Kind != yaml.ScalarNode || n.Style&^yaml.TaggedStyle != 0 || n.Tag != "!!int" && n.Tag != "!!float" {
		return false
	}
	v := strings.TrimLeft(n.Value, "+-")
	switch {
	case len(v) > 1 && v[0] == '0' && v[1] >= '0' && v[1] <= '9', strings.HasPrefix(v, "0b"), strings.HasPrefix(v, "0o"), strings.Contains(v, "_"):
		return true
	case len(v) > 1 && v[0] == '0' && strings.IndexByte("XOB", v[1]) >= 0:
		// 0X10, 0O10, 0B1: strings to YAML 1.1 and 1.2 both, whose
		// prefixes are lower-case; numbers to ward's reader.
		return true
	case strings.HasPrefix(v, "0x"):
		return len(v) < len(n.Value)
	}
	if e := strings.IndexAny(v, "eE"); e >= 0 {
		return !strings.Contains(v[:e], ".") || e+1 == len(v) || v[e+1] != '+' && v[e+1] != '-'
	}
	return false
}

// NotDecimalHint is NotDecimal's advice.
const NotDecimalHint = "write the number in decimal, without leading zeros, underscores, 0o or an exponent: YAML 1.1 readers, ward's among them, read 0400 as octal (256), and YAML 1.2 readers as 400"

// IntIn reads a whole number between lo and hi.
func (d *Decoder) IntIn(n *yaml.Node, field string, lo, hi int, hint string) (int, bool) {
	i, ok := d.Int(n, field)
	if !ok {
		return 0, false
	}
	if i < lo || i > hi {
		d.Fail(n, field, hint, "out of range: %d", i)
		return 0, false
	}
	return i, true
}

// Duration reads a positive Go duration such as 30s.
func (d *Decoder) Duration(n *yaml.Node, field string) (time.Duration, bool) {
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float") {
		// `timeout: 10`: the hint to write a string led to "10", then
		// "invalid duration".
		d.Fail(n, field, unitHint(n.Value), "a number without a unit, not a duration")
		return 0, false
	}
	s, ok := d.Str(n, field)
	if !ok {
		return 0, false
	}
	dur, err := time.ParseDuration(s)
	switch {
	case err == nil && dur <= 0:
		d.Fail(n, field, aboveZeroHint, "a duration of %q: it must be above zero", s)
		return 0, false
	case err != nil && (isDigits(s) || isNumber(s)):
		d.Fail(n, field, unitHint(s), "a number without a unit, not a duration")
		return 0, false
	case err != nil:
		d.Fail(n, field, "write a duration such as 30s, 5m or 1h", "invalid duration %q", s)
		return 0, false
	}
	return dur, true
}

// aboveZeroHint is the advice for a duration of zero or less.
const aboveZeroHint = "write a duration above zero, such as 30s, 5m or 1h"

// unitHint is the advice for a number written as a duration: v with a
// unit, unless v is zero or less, which no unit makes a duration ward
// takes (`timeout: 0` was told to write 0s, which was then refused).
func unitHint(v string) string {
	if f, err := strconv.ParseFloat(v, 64); err == nil && f <= 0 {
		return aboveZeroHint
	}
	if _, err := time.ParseDuration(v + "s"); err != nil {
		// 0x10, 1_000, 1e3: no unit makes them a duration either.
		return "write a duration such as 30s, 5m or 1h (decimal digits and a unit)"
	}
	return fmt.Sprintf("write the unit: %ss for seconds, %sm for minutes", v, v)
}

// isNumber reports whether s reads as a number (-5, 1.5, 1e3).
func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// isDigits reports whether s is a number of decimal digits.
func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// OneOf reads a string that must be one of choices.
func (d *Decoder) OneOf(n *yaml.Node, field string, choices ...string) (string, bool) {
	s, ok := d.Str(n, field)
	if !ok {
		return "", false
	}
	for _, c := range choices {
		if s == c {
			return s, true
		}
	}
	d.Fail(n, field, "choose one of: "+strings.Join(choices, ", "), "invalid value %q", s)
	return "", false
}

// mappingHint says what a mapping looks like.
const mappingHint = "write NAME: VALUE lines, indented under the field"

// Join makes the dotted path of key under field. A key that is not
// printable is quoted, as Printable does.
func Join(field, key string) string {
	if field == "" {
		return Printable(key)
	}
	return field + "." + Printable(key)
}

// Printable returns a name the user wrote as it is, or Go-quoted when it
// holds a character that is not printable: a quoted YAML key can hold
// escape sequences and line breaks, which a terminal showing the error
// would obey (clearing the screen, forging `ward: error:` lines).
func Printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// KindName says what a node is, for "want X, got Y" messages.
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing"
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		}
		return "a string"
	}
	return "nothing"
}
