// Package manifest reads ward.yaml: a positioned parse in which every
// problem names file:line:col, the field and a hint, validation of
// references (each store's grammar, from the registry), templates and
// profiles, the JSON Schema of the format, the starter manifest `ward
// init` writes and the edits `ward import` makes.
package manifest

import (
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/conf"
)

// Manifest is a parsed and validated ward.yaml.
type Manifest struct {
	// File is where the manifest was read from, for messages.
	File     string
	Version  int
	Stores   Stores
	Env      []*EnvVar
	Files    []*FileSpec
	Inherit  Inherit
	Deny     []string
	Rotation Rotation
	Mask     bool
	Profiles map[string]*Profile
	// Identity is what ward serves the child on its identity endpoints.
	Identity Identity
}

// EnvVar is one declared variable: a reference, a plain value or a
// template over other variables.
type EnvVar struct {
	Name string
	// Exactly one of Ref, Value (with IsValue) and Template is set.
	Ref      *resolve.Ref
	Value    string
	IsValue  bool
	Template *Template
	// NoMask (mask: false) says the value is not a secret (a database
	// user name read beside its password): --mask shows it, the CI
	// runner is not told to hide it, and ward scan does not search for it.
	NoMask bool
	Pos    Pos
	// Field names the entry in messages: env.NAME, or
	// profiles.PROFILE.env.NAME for a profile's.
	Field string
}

// FileSpec is one secret file under the private tmpfs directory.
type FileSpec struct {
	// Path is relative to the private directory.
	Path     string
	Ref      *resolve.Ref
	Template *Template
	Mode     fs.FileMode
	// Encoding is how the value is stored: "" as the file's bytes,
	// EncodingBase64 as their base64 text, which ward decodes.
	Encoding string
	// Env, when set, names the variable that gives the child the path.
	Env string
	Pos Pos
	// EnvPos is where Env is written.
	EnvPos Pos
	// Field names the entry in messages: files[N], or
	// profiles.PROFILE.files[N] for a profile's, N its index there.
	Field string
}

// EncodingBase64 is the files' encoding for a value stored as base64
// text: a binary keystore in a store that holds text (Vault KV, a Key
// Vault certificate's PFX).
const EncodingBase64 = "base64"

// Key is the name a file's value is delivered under, beside the
// variables: "file:PATH".
func (f *FileSpec) Key() string { return "file:" + f.Path }

// Inherit says which variables of ward's environment the child gets.
type Inherit struct {
	All      bool
	Patterns []string
}

// Profile overrides or adds variables and files.
type Profile struct {
	Env   []*EnvVar
	Files []*FileSpec
	// Identity replaces, cloud by cloud, the manifest's identities; the
	// clouds in Unserved (written null) are not served at all.
	Identity Identity
	Unserved []string
	Pos      Pos
}

// Stores holds the stores block: each store's decoded settings, by its
// name, and the fetch concurrency.
type Stores struct {
	Concurrency int
	Options     map[string]resolve.Options
}

// OnChange is what rotation does when the child's view changes.
type OnChange string

// The rotation.on_change choices.
const (
	Restart     OnChange = "restart"
	SignalChild OnChange = "signal"
	DoNothing   OnChange = "none"
)

// OnExpired is what happens when a lease, or credentials that expire
// without one, expire while their store is down.
type OnExpired string

// The rotation.on_expired choices.
const (
	KeepRunning OnExpired = "keep"
	StopChild   OnExpired = "stop"
)

// Rotation configures what happens when a secret changes.
type Rotation struct {
	OnChange     OnChange
	Signal       syscall.Signal
	Poll         time.Duration
	Jitter       float64
	Debounce     time.Duration
	StopSignal   syscall.Signal
	StopTimeout  time.Duration
	OnExpired    OnExpired
	RevokeOnExit bool
}

// DefaultStopTimeout is how long ward waits for the child to stop
// before it kills its group: below docker stop's 10 s and Kubernetes' 30 s
// grace period, so that ward has time, after the child, to revoke its
// leases and remove its files before the manager kills ward itself.
const DefaultStopTimeout = 7 * time.Second

// DefaultRotation returns the rotation settings used where the manifest is
// silent.
func DefaultRotation() Rotation {
	return Rotation{
		OnChange:     Restart,
		Signal:       syscall.SIGHUP,
		Poll:         5 * time.Minute,
		Jitter:       0.1,
		Debounce:     2 * time.Second,
		StopSignal:   syscall.SIGTERM,
		StopTimeout:  DefaultStopTimeout,
		OnExpired:    KeepRunning,
		RevokeOnExit: true,
	}
}

// Pos is a place in the manifest.
type Pos struct{ Line, Col int }

// EnvFor returns the variables with a profile's overrides applied (nil
// profile: the base manifest).
func (m *Manifest) EnvFor(prof *Profile) []*EnvVar {
	if prof == nil {
		return m.Env
	}
	return overlay(m.Env, prof.Env, func(v *EnvVar) string { return v.Name })
}

// FilesFor returns the files with a profile's applied: a profile file with
// the same path replaces the base one.
func (m *Manifest) FilesFor(prof *Profile) []*FileSpec {
	if prof == nil {
		return m.Files
	}
	return overlay(m.Files, prof.Files, func(f *FileSpec) string { return f.Path })
}

// IdentityFor returns the identities a start with prof serves: a cloud
// the profile names replaces the manifest's, and one it writes null is
// not served.
func (m *Manifest) IdentityFor(prof *Profile) Identity {
	id := m.Identity
	if prof == nil {
		return id
	}
	if prof.Identity.AWS != nil {
		id.AWS = prof.Identity.AWS
	}
	if prof.Identity.GCP != nil {
		id.GCP = prof.Identity.GCP
	}
	if prof.Identity.Azure != nil {
		id.Azure = prof.Identity.Azure
	}
	for _, c := range prof.Unserved {
		switch c {
		case "aws":
			id.AWS = nil
		case "gcp":
			id.GCP = nil
		case "azure":
			id.Azure = nil
		}
	}
	return id
}

// Refs returns every reference a start with prof needs, keyed by the name
// its value is delivered under: the variable, or FileSpec.Key for a file.
func (m *Manifest) Refs(prof *Profile) map[string]resolve.Ref {
	refs := map[string]resolve.Ref{}
	for _, v := range m.EnvFor(prof) {
		if v.Ref != nil {
			refs[v.Name] = *v.Ref
		}
	}
	for _, f := range m.FilesFor(prof) {
		if f.Ref != nil {
			refs[f.Key()] = *f.Ref
		}
	}
	return refs
}

// Schemes lists the reference schemes a start with prof uses, the
// identity's source included.
func (m *Manifest) Schemes(prof *Profile) []string {
	var out []string
	for _, r := range m.Refs(prof) {
		if !slices.Contains(out, r.Scheme) {
			out = append(out, r.Scheme)
		}
	}
	for _, r := range m.IdentityFor(prof).Refs() {
		if !slices.Contains(out, r.Scheme) {
			out = append(out, r.Scheme)
		}
	}
	sort.Strings(out)
	return out
}

// overlay replaces the base items that over has a key for, in place, and
// appends the rest of over in its order.
func overlay[T any](base, over []T, key func(T) string) []T {
	if len(over) == 0 {
		return base
	}
	pending := map[string]T{}
	for _, o := range over {
		pending[key(o)] = o
	}
	out := make([]T, 0, len(base)+len(over))
	for _, b := range base {
		if o, ok := pending[key(b)]; ok {
			out = append(out, o)
			delete(pending, key(b))
		} else {
			out = append(out, b)
		}
	}
	for _, o := range over {
		if _, ok := pending[key(o)]; ok {
			out = append(out, o)
		}
	}
	return out
}

// Profile returns the named profile; "" is the base manifest. from names
// what chose the profile (the -p flag, $WARD_PROFILE), for the error.
func (m *Manifest) Profile(name, from string) (*Profile, error) {
	if name == "" {
		return nil, nil
	}
	prof, ok := m.Profiles[name]
	if ok {
		return prof, nil
	}
	if from == "" {
		from = "the profile"
	}
	return nil, &ProfileError{Name: name, From: from, Hints: m.ProfilesHint()}
}

// ProfilesHint lists the profiles the manifest defines.
func (m *Manifest) ProfilesHint() string {
	if len(m.Profiles) == 0 {
		return m.File + " defines no profiles"
	}
	var names []string
	for _, name := range slices.Sorted(maps.Keys(m.Profiles)) {
		names = append(names, conf.Printable(name))
	}
	return "profiles in " + m.File + ": " + strings.Join(names, ", ")
}

// ProfileError is a profile the manifest does not define.
type ProfileError struct {
	Name, From, Hints string
}

func (e *ProfileError) Error() string {
	return fmt.Sprintf("%s names profile %q, which the manifest does not define", e.From, e.Name)
}

// Hint lists the profiles there are.
func (e *ProfileError) Hint() string { return e.Hints }
