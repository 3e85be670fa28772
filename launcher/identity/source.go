package identity

import (
	"context"
	"fmt"
	"time"

	"github.com/wardsecrets/ward/resolve"
)

// The names an identity's document is read under, in audit lines and
// errors: no variable of the child's.
const (
	SourceVar      = "identity.aws"
	GCPSourceVar   = "identity.gcp"
	AzureSourceVar = "identity.azure"
)

// RefSource reads credentials from a reference through ward's stores: for
// AWS a role of Vault's AWS secrets engine (vault://MOUNT/creds/ROLE) or
// STS AssumeRole made by ward's AWS helper (awssts://ROLE_ARN); for Google
// Cloud a service account's token (gcpsa://EMAIL); for Azure a resource's
// token (aztoken://HOST).
type RefSource struct {
	Fetcher *resolve.Fetcher
	Ref     resolve.Ref
	// Var names the identity in errors and audit lines; SourceVar when
	// empty.
	Var string
	// Parse reads the credentials from the document; FromDocument (AWS)
	// when nil.
	Parse func(doc []byte, issued time.Time, lease *resolve.Lease) (Credentials, error)
}

var _ Source = (*RefSource)(nil)

// NewTokenSource is the source of an OAuth access token (gcpsa://,
// aztoken://), named v in errors.
func NewTokenSource(f *resolve.Fetcher, ref resolve.Ref, v string) *RefSource {
	return &RefSource{Fetcher: f, Ref: ref, Var: v, Parse: func(doc []byte, issued time.Time, _ *resolve.Lease) (Credentials, error) {
		return TokenFromDocument(doc, issued)
	}}
}

// String names the source: its reference.
func (s *RefSource) String() string { return s.Ref.Raw }

// Fetch reads the document and the credentials in it.
func (s *RefSource) Fetch(ctx context.Context) (Credentials, error) {
	name := s.Var
	if name == "" {
		name = SourceVar
	}
	parse := s.Parse
	if parse == nil {
		parse = FromDocument
	}
	// The lifetime is counted from before the request: a lease's TTL runs
	// from when Vault issued it. Round(0) drops the monotonic reading, so
	// that expiry is judged by the wall clock, which a suspend moves on.
	issued := time.Now().Round(0)
	values, err := s.Fetcher.Fetch(ctx, map[string]resolve.Ref{name: s.Ref})
	if err != nil {
		return Credentials{}, err
	}
	v := values[name]
	c, err := parse(v.Bytes, issued, v.Lease)
	if err != nil {
		s.Release(ctx, Credentials{Lease: v.Lease})
		return Credentials{}, fmt.Errorf("%s: %s: %w", name, s.Ref.Raw, err)
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
