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

// Fetch returns the variable's value; an unset variable is an error, an
// empty one is not.
func (s Store) Fetch(_ context.Context, ref resolve.Ref) (resolve.Secret, error) {
	lookup := s.Lookup
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, ok := lookup(ref.Path)
	if !ok {
		return resolve.Secret{}, fmt.Errorf("$%s is not set in ward's environment: %w", ref.Path, resolve.ErrNotFound)
	}
	return resolve.Secret{Value: []byte(v)}, nil
}
