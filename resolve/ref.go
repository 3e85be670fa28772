// Package resolve turns secret references into values: it parses the
// reference syntax, defines the Store interfaces every backend implements
// and the Registry that says which store serves which scheme, and fetches
// references concurrently with one fetch per document.
package resolve

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/wardsecrets/ward/resolve/conf"
)

// Ref is a parsed secret reference: SCHEME://PATH[#FIELD][?OPTIONS].
type Ref struct {
	// Raw is the reference as the user wrote it.
	Raw string
	// Scheme selects the store (see Registry).
	Scheme string
	// Path names the document inside the store.
	Path string
	// Field selects one field of a structured document; empty means the
	// whole value.
	Field string
	// Options holds the query options (version, stage, version_id).
	Options map[string]string
}

// Key identifies one fetch: references that differ only in their field
// share a Key and so share one read from the store.
type Key struct {
	Scheme  string
	Path    string
	Options string
}

// Key returns the fetch key of r.
func (r Ref) Key() Key {
	return Key{Scheme: r.Scheme, Path: r.Path, Options: encodeOptions(r.Options)}
}

// Document returns r without its field: the reference of the whole document
// a store is asked for.
func (r Ref) Document() Ref {
	d := r
	d.Field = ""
	d.Raw = r.Scheme + "://" + EscapeName(r.Path)
	if o := encodeOptions(r.Options); o != "" {
		d.Raw += "?" + o
	}
	return d
}

// String returns the reference as written.
func (r Ref) String() string { return r.Raw }

// RefError is a malformed reference. It never holds a secret value: a
// reference only names where a secret lives.
type RefError struct {
	Ref  string
	Msg  string
	Hint string
	// UnknownScheme marks a scheme this ward does not know (which a
	// later ward may).
	UnknownScheme bool
}

func (e *RefError) Error() string {
	if e.Ref == "" {
		return e.Msg
	}
	return fmt.Sprintf("reference %q: %s", e.Ref, e.Msg)
}

// ValidEnvName reports whether name is a valid environment variable name:
// ^[A-Za-z_][A-Za-z0-9_]*$, checked by hand because every run checks every
// name, and compiling the expression was 0.45 M instructions, a fifth of a
// 0-ref `ward run`'s own work.
func ValidEnvName(name string) bool {
	for i, c := range name {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return name != ""
}

// LooksLikeRef reports whether s has the SCHEME:// shape of a reference, so
// a plain string can be told apart from a reference with a typo in it.
func LooksLikeRef(s string) bool {
	i := strings.Index(s, "://")
	if i <= 0 {
		return false
	}
	for _, c := range s[:i] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// nameEscapes are the escapes a path or a #field may hold, as in a URL:
// a name with a '#' or a '?' (a JSON key "token#2", "ready?", a Vault
// path "team#2/db") could not be named at all. Only these three: any
// other '%' is the name's own, as it was before (a key "50%off" stays
// so).
var nameEscapes = strings.NewReplacer("%23", "#", "%3F", "?", "%3f", "?", "%25", "%")

// EscapeName writes a path or a field as a reference holds it: '#' as
// %23, '?' as %3F, and a '%' that would read as one of nameEscapes as
// %25; any other '%' as it is. Parsing it gives name back.
func EscapeName(name string) string {
	if !strings.ContainsAny(name, "#?%") {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '#':
			b.WriteString("%23")
		case c == '?':
			b.WriteString("%3F")
		case c == '%' && i+3 <= len(name) && isNameEscape(name[i+1:i+3]):
			b.WriteString("%25")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// isNameEscape reports whether the two characters after a '%' make it
// one of nameEscapes.
func isNameEscape(s string) bool {
	return s == "23" || s == "3F" || s == "3f" || s == "25"
}

// parseRef splits a reference into its parts; the registry checks the
// scheme and the scheme checks the rest.
func parseRef(s string) (Ref, *RefError) {
	r := Ref{Raw: s}
	bad := func(msg, hint string) (Ref, *RefError) {
		return Ref{}, &RefError{Ref: s, Msg: msg, Hint: hint}
	}
	i := strings.Index(s, "://")
	if i <= 0 {
		return bad("not a reference: want SCHEME://PATH", "")
	}
	r.Scheme = s[:i]
	rest := s[i+3:]

	// The design writes the field before the options (#field?opts); URLs
	// write them the other way round. Accept both.
	var query string
	hash := strings.IndexByte(rest, '#')
	q := strings.IndexByte(rest, '?')
	switch {
	case hash >= 0 && (q < 0 || hash < q):
		r.Path = rest[:hash]
		tail := rest[hash+1:]
		if j := strings.IndexByte(tail, '?'); j >= 0 {
			r.Field, query = tail[:j], tail[j+1:]
		} else {
			r.Field = tail
		}
		if r.Field == "" {
			return bad("empty field after '#'", "drop the '#' to use the whole value")
		}
	case q >= 0:
		r.Path = rest[:q]
		tail := rest[q+1:]
		if j := strings.IndexByte(tail, '#'); j >= 0 {
			query, r.Field = tail[:j], tail[j+1:]
			if r.Field == "" {
				return bad("empty field after '#'", "drop the '#' to use the whole value")
			}
		} else {
			query = tail
		}
	default:
		r.Path = rest
	}
	if strings.ContainsAny(r.Field, "#?") {
		return bad("field contains '#' or '?'", "write SCHEME://PATH#FIELD?OPTIONS, and a '#' in the field's name as %23, a '?' as %3F")
	}
	r.Field = nameEscapes.Replace(r.Field)

	if query != "" {
		vals, err := url.ParseQuery(query)
		if err != nil {
			return bad("malformed options: "+err.Error(), "write options as ?name=value&name=value")
		}
		r.Options = map[string]string{}
		for k, v := range vals {
			if len(v) != 1 {
				return bad(fmt.Sprintf("option %q given %d times", k, len(v)), "give each option once")
			}
			r.Options[k] = v[0]
		}
	}
	if r.Path == "" {
		return bad("empty path", "name the secret after "+r.Scheme+"://")
	}
	r.Path = nameEscapes.Replace(r.Path)
	return r, nil
}

// AllowOptions is a check for a scheme's references: only the named
// options may be given.
func AllowOptions(r *Ref, names ...string) *RefError {
	for k := range r.Options {
		if !slices.Contains(names, k) {
			hint := r.Scheme + " references take no options"
			if len(names) > 0 {
				hint = r.Scheme + " references take " + strings.Join(names, ", ")
			}
			return &RefError{Msg: fmt.Sprintf("unknown option %q", k), Hint: hint}
		}
	}
	return nil
}

// WithHint is err with what to do about it, which ward prints as its
// hint line; errors.Is and errors.As see err through it.
func WithHint(err error, hint string) error { return &hinted{err: err, hint: hint} }

type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }
func (h *hinted) Hint() string  { return h.hint }

// Retold is err told by msg instead of its own message, which would
// quote a secret (an SDK error that repeats a credential program's
// output); errors.Is and errors.As see err through it.
func Retold(msg string, err error) error { return &retold{msg: msg, err: err} }

type retold struct {
	msg string
	err error
}

func (r *retold) Error() string { return r.msg }
func (r *retold) Unwrap() error { return r.err }

// AllowEmpty is the option of env://, file:// and creds:// references
// that lets them resolve to an empty value: an empty one is refused
// otherwise, as a secret that was never set (a CI secret that is not
// defined expands to an empty variable; a mounted file may be written
// empty).
const AllowEmpty = "allow_empty"

// AllowEmptyOption is the schema's pattern of the option.
var AllowEmptyOption = conf.RefOption{Name: AllowEmpty, Value: "(true|false)"}

// CheckAllowEmpty is a check for a scheme's references: the option, when
// given, is true or false.
func CheckAllowEmpty(r *Ref) *RefError {
	if v, ok := r.Options[AllowEmpty]; ok && v != "true" && v != "false" {
		return &RefError{Msg: fmt.Sprintf("option %s=%q is not true or false", AllowEmpty, v), Hint: "write ?" + AllowEmpty + "=true to accept an empty value"}
	}
	return nil
}

// RefuseEmpty is the error for an empty value of ref read from what,
// nil when the value is not empty or ref allows an empty one.
func RefuseEmpty(ref Ref, value []byte, what string) error {
	if len(value) > 0 || ref.Options[AllowEmpty] == "true" {
		return nil
	}
	return fmt.Errorf("%s is empty, as a secret that was never set is: write ?%s=true after the reference if an empty value is meant", what, AllowEmpty)
}

// PositiveIntOption is a check for a scheme's references: the option, when
// given, is a whole number from 1 (a version).
func PositiveIntOption(r *Ref, name string) *RefError {
	v, ok := r.Options[name]
	if !ok {
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return &RefError{Msg: fmt.Sprintf("option %s=%q is not a positive whole number", name, v), Hint: "versions count from 1"}
	}
	return nil
}

func encodeOptions(o map[string]string) string {
	if len(o) == 0 {
		return ""
	}
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(k) + "=" + url.QueryEscape(o[k]))
	}
	return b.String()
}
