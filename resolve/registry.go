package resolve

import (
	"fmt"
	"log/slog"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/wardsecrets/ward/resolve/conf"
)

// Refresh says how ward learns, while the child runs, that a scheme's
// secrets changed.
type Refresh int

const (
	// Static secrets do not change while ward runs (env://).
	Static Refresh = iota
	// Watched secrets live in local files: ward watches them and reads a
	// secret again when its file's Stamp changes.
	Watched
	// Polled secrets live in a remote store that cannot push changes:
	// ward asks again every rotation.poll (a Versioner first, where the
	// store is one).
	Polled
)

// Scheme is one reference scheme: its grammar and how its secrets change.
type Scheme struct {
	// Name is what comes before ://.
	Name string
	// Summary names the store in one line, for help and the schema.
	Summary string
	// Example is a valid reference, for hints, the schema and the starter
	// manifest; ExampleVar a variable it would fill.
	Example    string
	ExampleVar string
	// Check validates a parsed reference's path and options; r.Raw is
	// set by the caller. Its error never needs the reference repeated.
	Check func(r *Ref) *RefError
	// Pattern returns a regular expression (ECMA-262, as in JSON Schema)
	// that every valid reference of the scheme matches. It is a function
	// so that the pattern is built when the schema or a hint needs it,
	// not by the store package's initialiser on every start.
	Pattern func() string
	Refresh Refresh
	// Foreign, when set, tells a value that is another tool's reference
	// to a secret of this store (secrets-init's ARNs), which `ward import`
	// refuses rather than storing the reference as the secret: it
	// returns that tool and the form of this scheme's reference to write
	// instead (never the value), "" when value is not one.
	Foreign func(value []byte) (tool, instead string)
}

// Kind is one store ward can read from: the schemes it serves, its
// stores.<Name> settings, and how ward reaches it. Adding a store is a
// new package that declares its Kind and one line in the registry
// (package resolve/stores).
type Kind struct {
	// Name is the key of its settings block (stores.<Name>) and names its
	// helper program (ward-<Name>).
	Name    string
	Schemes []*Scheme
	// NewOptions returns the store's settings with their defaults; nil
	// when the store takes no stores.<Name> block.
	NewOptions func() Options
	// Open opens the store inside ward's own process. Nil means the store
	// is served by its helper program (see Helper), so that ward's own
	// start-up never pays for the store's SDK.
	Open func(opts Options, env Env) (Store, error)
}

// Helper is the program that serves the store, "" when ward serves it
// itself.
func (k *Kind) Helper() string {
	if k.Open != nil {
		return ""
	}
	return "ward-" + k.Name
}

// Options are a store's stores.<name> settings. They travel to the
// store's helper program as JSON, so they hold settings, never a secret.
type Options interface {
	// Decode reads the settings block n (named field) into the options,
	// reporting each problem to d.
	Decode(d *conf.Decoder, n *yaml.Node, field string)
	// Schema describes the block for the manifest's JSON Schema.
	Schema() *conf.Shape
	// CredentialEnv lists the environment variables the store reads a
	// credential from under these settings: they never reach the child
	// unless the manifest declares them.
	CredentialEnv() []string
}

// Env is what a store is opened with.
type Env struct {
	Getenv func(string) string
	Log    *slog.Logger
	// Concurrency bounds the requests a batch has in flight.
	Concurrency int
	// RevokeOnExit says whether Close gives back the leases the store
	// created.
	RevokeOnExit bool
}

// Registry is the set of stores ward knows, by scheme.
type Registry struct {
	kinds   []*Kind
	schemes map[string]*Scheme
	kindOf  map[string]*Kind
	order   []string
}

// NewRegistry makes the registry of kinds; two kinds may not serve one
// scheme.
func NewRegistry(kinds ...*Kind) *Registry {
	r := &Registry{kinds: kinds, schemes: map[string]*Scheme{}, kindOf: map[string]*Kind{}}
	for _, k := range kinds {
		for _, s := range k.Schemes {
			if _, dup := r.schemes[s.Name]; dup {
				panic("resolve: scheme " + s.Name + " registered twice")
			}
			r.schemes[s.Name] = s
			r.kindOf[s.Name] = k
			r.order = append(r.order, s.Name)
		}
	}
	return r
}

// Kinds returns the stores in registry order.
func (r *Registry) Kinds() []*Kind { return r.kinds }

// KindOf returns the store that serves scheme, or nil.
func (r *Registry) KindOf(scheme string) *Kind { return r.kindOf[scheme] }

// Scheme returns the scheme named name, or nil.
func (r *Registry) Scheme(name string) *Scheme { return r.schemes[name] }

// SchemeNames lists the schemes in registry order.
func (r *Registry) SchemeNames() []string { return r.order }

// ParseRef parses a reference and validates it for its scheme.
func (r *Registry) ParseRef(s string) (Ref, error) {
	ref, err := parseRef(s)
	if err != nil {
		if err.Hint == "" {
			err.Hint = "write one of " + r.schemeList() + ", or {value: ...} for a plain value"
		}
		return Ref{}, err
	}
	sch := r.schemes[ref.Scheme]
	if sch == nil {
		return Ref{}, &RefError{Ref: s, Msg: fmt.Sprintf("unknown scheme %q", ref.Scheme), Hint: "known schemes are " + r.schemeList(), UnknownScheme: true}
	}
	if err := sch.Check(&ref); err != nil {
		err.Ref = s
		return Ref{}, err
	}
	return ref, nil
}

func (r *Registry) schemeList() string {
	parts := make([]string, len(r.order))
	for i, s := range r.order {
		parts[i] = s + "://"
	}
	return strings.Join(parts, ", ")
}
