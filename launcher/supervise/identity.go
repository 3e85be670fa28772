package supervise

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"

	"github.com/wardsecrets/ward/launcher/identity"
	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/launcher/secretdir"
	"github.com/wardsecrets/ward/resolve"
)

// newIdentity returns the cache of the AWS identity the manifest serves
// the child (nil when it serves none), empty until the first resolve
// fills it.
func newIdentity(o Options) (*identity.Cache, error) {
	a := o.Manifest.Identity.AWS
	if a == nil {
		return nil, nil
	}
	if o.Exec {
		return nil, errors.New("--exec cannot serve identity.aws")
	}
	return identity.NewCache(&identity.RefSource{Fetcher: o.Fetcher, Ref: a.From}, a.RefreshBefore, o.Log), nil
}

// fetchWithIdentity resolves the child's references and, at the same
// time, the identity's first credentials: nothing starts unless both
// succeed.
func fetchWithIdentity(ctx context.Context, o Options) (map[string]resolve.Value, error) {
	id := o.identity
	if id == nil {
		return o.Fetcher.Fetch(ctx, o.Manifest.Refs(o.Profile))
	}
	var idErr error
	var wg sync.WaitGroup
	wg.Go(func() { idErr = id.Fill(ctx) })
	values, err := o.Fetcher.Fetch(ctx, o.Manifest.Refs(o.Profile))
	wg.Wait()
	if err != nil || idErr != nil {
		return nil, errors.Join(err, idErr)
	}
	return values, nil
}

// identityRun is the identity endpoint of one run: the variables it
// gives the child, those the child must not inherit, and its stop.
type identityRun struct {
	endpoint *identity.AWSEndpoint
	env      []string
	drop     []string
}

// serveIdentity starts the endpoint of the filled identity, its token in
// the private directory dir. A run without an identity serves nothing.
func serveIdentity(o Options, dir *secretdir.Dir) (*identityRun, error) {
	id := o.identity
	if id == nil {
		return &identityRun{}, nil
	}
	e, err := identity.ServeAWS(id, identity.AWSConfig{
		Log: o.Log,
		WriteToken: func(token []byte) (string, error) {
			if err := dir.Write([]secretdir.File{{Path: manifest.AWSTokenFile, Mode: 0o400, Data: token}}); err != nil {
				return "", err
			}
			return filepath.Join(dir.Path, manifest.AWSTokenFile), nil
		},
	})
	if err != nil {
		return nil, err
	}
	// A credential variable the manifest declares still reaches the
	// child, and every SDK's chain prefers it to the endpoint.
	for _, v := range o.Manifest.EnvFor(o.Profile) {
		if slices.Contains(identity.AWSStripped, v.Name) {
			o.Log.Warn("the manifest declares an AWS credential variable: the child's SDK will use it, not the identity endpoint", "name", v.Name)
		}
	}
	return &identityRun{endpoint: e, env: e.Env(), drop: identity.AWSStripped}, nil
}

// stop stops the endpoint; the store that issued the last credentials
// revokes their lease when ward closes it.
func (r *identityRun) stop() {
	if r != nil && r.endpoint != nil {
		r.endpoint.Close()
	}
}
