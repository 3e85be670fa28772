package local

import (
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/conf"
)

// Scheme is local://NAME.
const Scheme = "local"

// Kind is the local store in ward's registry: local://NAME, served in
// ward's own process and watched for changes.
var Kind = &resolve.Kind{
	Name: Scheme,
	Schemes: []*resolve.Scheme{{
		Name:       Scheme,
		Summary:    "ward's embedded encrypted store (ward local set NAME)",
		Example:    "local://myapp/api_token",
		ExampleVar: "API_TOKEN",
		Check:      checkRef,
		Pattern: func() string {
			return conf.RefPattern(Scheme, conf.Unanchored(nameRE), false)
		},
		Refresh: resolve.Watched,
	}},
	Open: func(_ resolve.Options, env resolve.Env) (resolve.Store, error) {
		return Open(env.Getenv)
	},
}

// nameRE is the grammar of a name, for the schema; ValidName checks it by
// hand.
var nameRE = conf.Lazy(`^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$`)

// ValidName reports whether name can name an entry: slash-separated
// segments of letters, digits, '_', '.' and '-', each beginning with a
// letter, digit or '_' (nameRE). Checked by hand: every run checks every
// local reference, and compiling and running the expression cost more
// than the rest of their resolve.
func ValidName(name string) bool {
	start := true // at the beginning of a segment
	for i := 0; i < len(name); i++ {
		c := name[i]
		word := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'
		switch {
		case start && !word:
			return false
		case c == '/':
			start = true
		case word || c == '.' || c == '-':
			start = false
		default:
			return false
		}
	}
	return !start
}

// NameHint says what a valid name looks like.
const NameHint = "use slash-separated names of letters, digits, '_', '.', '-', each part starting with a letter, digit or '_', e.g. myapp/api_token"

func checkRef(r *resolve.Ref) *resolve.RefError {
	if !ValidName(r.Path) {
		return &resolve.RefError{Msg: "invalid local store name", Hint: NameHint + " (local://myapp/api_token)"}
	}
	return resolve.AllowOptions(r)
}
