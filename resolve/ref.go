// Package resolve turns secret references into values: it parses the
// reference syntax, defines the Store interface every backend implements,
// and fetches references concurrently with one fetch per document.
package resolve

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Schemes lists every reference scheme ward knows, in the order help texts
// show them.
var Schemes = []string{"vault", "awssm", "ssm", "local", "file", "creds", "env"}

// Ref is a parsed secret reference: SCHEME://PATH[#FIELD][?OPTIONS].
type Ref struct {
	// Raw is the reference as the user wrote it.
	Raw string
	// Scheme selects the store: vault, awssm, ssm, local, file, creds, env.
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
	d.Raw = r.Scheme + "://" + r.Path
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
}

func (e *RefError) Error() string {
	if e.Ref == "" {
		return e.Msg
	}
	return fmt.Sprintf("reference %q: %s", e.Ref, e.Msg)
}

var (
	envNameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	localNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$`)
	credNameRE  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.\-@:]*$`)
)

// ValidEnvName reports whether name is a valid environment variable name.
func ValidEnvName(name string) bool { return envNameRE.MatchString(name) }

// ValidLocalName reports whether name can name an entry of the local store:
// slash-separated segments of letters, digits, '_', '.' and '-'.
func ValidLocalName(name string) bool { return localNameRE.MatchString(name) }

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

// ParseRef parses a reference and validates it for its scheme.
func ParseRef(s string) (Ref, error) {
	r := Ref{Raw: s}
	bad := func(msg, hint string) (Ref, error) {
		return Ref{}, &RefError{Ref: s, Msg: msg, Hint: hint}
	}
	i := strings.Index(s, "://")
	if i <= 0 {
		return bad("not a reference: want SCHEME://PATH", "write one of "+schemeList()+", or {value: ...} for a plain value")
	}
	r.Scheme = s[:i]
	if !knownScheme(r.Scheme) {
		return bad(fmt.Sprintf("unknown scheme %q", r.Scheme), "known schemes are "+schemeList())
	}
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
		return bad("field contains '#' or '?'", "write SCHEME://PATH#FIELD?OPTIONS")
	}

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
	if err := validateForScheme(&r); err != nil {
		err.Ref = s
		return Ref{}, err
	}
	return r, nil
}

func validateForScheme(r *Ref) *RefError {
	allow := func(names ...string) *RefError {
		for k := range r.Options {
			ok := false
			for _, n := range names {
				ok = ok || k == n
			}
			if !ok {
				hint := r.Scheme + " references take no options"
				if len(names) > 0 {
					hint = r.Scheme + " references take " + strings.Join(names, ", ")
				}
				return &RefError{Msg: fmt.Sprintf("unknown option %q", k), Hint: hint}
			}
		}
		return nil
	}
	positiveInt := func(name string) *RefError {
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
	if r.Path == "" {
		return &RefError{Msg: "empty path", Hint: "name the secret after " + r.Scheme + "://"}
	}
	switch r.Scheme {
	case "vault":
		if strings.HasPrefix(r.Path, "/") {
			return &RefError{Msg: "path starts with '/'", Hint: "write vault://MOUNT/PATH, e.g. vault://secret/myapp/db#password"}
		}
		if strings.Contains(r.Path, "//") || strings.HasSuffix(r.Path, "/") || !strings.Contains(r.Path, "/") {
			return &RefError{Msg: "want MOUNT/PATH with no empty segment", Hint: "e.g. vault://secret/myapp/db#password"}
		}
		if err := allow("version"); err != nil {
			return err
		}
		return positiveInt("version")
	case "awssm":
		if err := allow("stage", "version_id"); err != nil {
			return err
		}
		if _, ok := r.Options["stage"]; ok {
			if _, ok := r.Options["version_id"]; ok {
				return &RefError{Msg: "both stage and version_id given", Hint: "choose one: ?stage=AWSCURRENT or ?version_id=..."}
			}
		}
		for k, v := range r.Options {
			if v == "" {
				return &RefError{Msg: fmt.Sprintf("option %s is empty", k), Hint: "e.g. ?stage=AWSPREVIOUS"}
			}
		}
		return nil
	case "ssm":
		if strings.Contains(r.Path, "//") || strings.HasSuffix(r.Path, "/") {
			return &RefError{Msg: "parameter name has an empty segment", Hint: "write ssm:///path/to/param"}
		}
		if err := allow("version"); err != nil {
			return err
		}
		return positiveInt("version")
	case "local":
		if !ValidLocalName(r.Path) {
			return &RefError{Msg: "invalid local store name", Hint: "use slash-separated names of letters, digits, '_', '.', '-', e.g. local://myapp/api_token"}
		}
		return allow()
	case "file":
		if !strings.HasPrefix(r.Path, "/") {
			return &RefError{Msg: "file references need an absolute path", Hint: "write file:///run/secrets/name (three slashes)"}
		}
		return allow()
	case "creds":
		if !credNameRE.MatchString(r.Path) {
			return &RefError{Msg: "invalid credential name", Hint: "write creds://NAME as given to LoadCredential=NAME:..."}
		}
		return allow()
	case "env":
		if !ValidEnvName(r.Path) {
			return &RefError{Msg: "invalid environment variable name", Hint: "write env://NAME with NAME matching [A-Za-z_][A-Za-z0-9_]*"}
		}
		return allow()
	}
	return &RefError{Msg: fmt.Sprintf("unknown scheme %q", r.Scheme), Hint: "known schemes are " + schemeList()}
}

func knownScheme(s string) bool {
	for _, k := range Schemes {
		if s == k {
			return true
		}
	}
	return false
}

func schemeList() string {
	parts := make([]string, len(Schemes))
	for i, s := range Schemes {
		parts[i] = s + "://"
	}
	return strings.Join(parts, ", ")
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
