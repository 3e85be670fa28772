package azuretest

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/azure"
)

// ParseRef splits an azkv:// reference the way resolve.ParseRef splits
// every reference (SCHEME://PATH, #FIELD and ?OPTIONS in either order)
// and validates it with azure.CheckRef, for tests written before
// resolve.ParseRef knows the azkv scheme.
func ParseRef(s string) (resolve.Ref, error) {
	r := resolve.Ref{Raw: s}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return resolve.Ref{}, &resolve.RefError{Ref: s, Msg: "not a reference: want SCHEME://PATH"}
	}
	r.Scheme = scheme
	var query string
	hash, q := strings.IndexByte(rest, '#'), strings.IndexByte(rest, '?')
	switch {
	case hash >= 0 && (q < 0 || hash < q):
		r.Path = rest[:hash]
		r.Field, query, _ = strings.Cut(rest[hash+1:], "?")
	case q >= 0:
		r.Path = rest[:q]
		query, r.Field, _ = strings.Cut(rest[q+1:], "#")
	default:
		r.Path = rest
	}
	if query != "" {
		vals, err := url.ParseQuery(query)
		if err != nil {
			return resolve.Ref{}, &resolve.RefError{Ref: s, Msg: "malformed options"}
		}
		r.Options = map[string]string{}
		for k, v := range vals {
			if len(v) != 1 {
				return resolve.Ref{}, &resolve.RefError{Ref: s, Msg: fmt.Sprintf("option %q given %d times", k, len(v))}
			}
			r.Options[k] = v[0]
		}
	}
	if err := azure.CheckRef(&r); err != nil {
		return resolve.Ref{}, err
	}
	return r, nil
}

// MustRef is ParseRef for references a test knows to be valid.
func MustRef(tb testing.TB, s string) resolve.Ref {
	tb.Helper()
	r, err := ParseRef(s)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}
