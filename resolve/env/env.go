// Package env resolves env://NAME references from ward's own environment,
// for secrets a CI system already injects.
package env

import (
	"context"
	"fmt"
	"os"

	"github.com/wardsecrets/ward/resolve"
)

// Store reads ward's environment.
type Store struct {
	// Lookup defaults to os.LookupEnv.
	Lookup func(string) (string, bool)
}

var _ resolve.Store = Store{}

// Fetch returns the variable's value; an unset variable is an error, and
// so is an empty one unless the reference allows it (resolve.AllowEmpty):
// GitHub Actions expands a secret that is not defined to "".
func (s Store) Fetch(_ context.Context, ref resolve.Ref) (resolve.Secret, error) {
	lookup := s.Lookup
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, ok := lookup(ref.Path)
	if !ok {
		return resolve.Secret{}, resolve.WithHint(fmt.Errorf("$%s is not set in ward's environment: %w", ref.Path, resolve.ErrNotFound),
			"set $"+ref.Path+" where ward runs (in CI, map the secret to it in the step's env)")
	}
	if err := resolve.RefuseEmpty(ref, []byte(v), "$"+ref.Path+" in ward's environment"); err != nil {
		return resolve.Secret{}, err
	}
	return resolve.Secret{Value: []byte(v)}, nil
}
