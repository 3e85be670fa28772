package identity

import (
	"context"
	"fmt"
	"time"

	"github.com/wardsecrets/ward/resolve"
)

// SourceVar is the name the identity's document is read under, in audit
// lines and errors: it is no variable of the child's.
const SourceVar = "identity.aws"

// RefSource reads credentials from a reference through ward's stores: a
// role of Vault's AWS secrets engine (vault://MOUNT/creds/ROLE), or STS
// AssumeRole made by ward's AWS helper (awssts://ROLE_ARN).
type RefSource struct {
	Fetcher *resolve.Fetcher
	Ref     resolve.Ref
}

var _ Source = (*RefSource)(nil)

// String names the source: its reference.
func (s *RefSource) String() string { return s.Ref.Raw }

// Fetch reads the document and the credentials in it.
func (s *RefSource) Fetch(ctx context.Context) (Credentials, error) {
	// The lifetime is counted from before the request: a lease's TTL runs
	// from when Vault issued it. Round(0) drops the monotonic reading, so
	// that expiry is judged by the wall clock, which a suspend moves on.
	issued := time.Now().Round(0)
	values, err := s.Fetcher.Fetch(ctx, map[string]resolve.Ref{SourceVar: s.Ref})
	if err != nil {
		return Credentials{}, err
	}
	v := values[SourceVar]
	c, err := FromDocument(v.Bytes, issued, v.Lease)
	if err != nil {
		s.Release(ctx, Credentials{Lease: v.Lease})
		return Credentials{}, fmt.Errorf("%s: %s: %w", SourceVar, s.Ref.Raw, err)
	}
	if c.Identity == "" && s.Ref.Scheme == "awssts" {
		c.Identity = s.Ref.Path
	}
	return c, nil
}

// Release revokes the credentials' lease, when their store keeps leases.
func (s *RefSource) Release(ctx context.Context, c Credentials) error {
	if c.Lease == nil || c.Lease.ID == "" {
		return nil
	}
	store, err := s.Fetcher.Stores(s.Ref.Scheme)
	if err != nil {
		return err
	}
	keeper, ok := store.(resolve.LeaseKeeper)
	if !ok {
		return nil
	}
	return keeper.Revoke(ctx, c.Lease)
}
