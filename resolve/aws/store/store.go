package store

import (
	"context"
	"fmt"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/aws"
)

// Stores is the AWS stores behind one session: awssm:// references go to
// Secrets Manager, ssm:// to Parameter Store, awssts:// to STS AssumeRole.
type Stores struct {
	SecretsManager *SecretsManager
	Parameters     *ParameterStore
	AssumeRole     *AssumeRole
}

var _ resolve.BatchStore = (*Stores)(nil)

// New returns the AWS stores for the stores.aws settings. It loads
// nothing until the first fetch.
func New(opts aws.Options, env resolve.Env) *Stores {
	sess := NewSession(SessionOptions{Region: opts.Region, Profile: opts.Profile, Timeout: opts.Timeout})
	s := &Stores{SecretsManager: NewSecretsManager(sess), Parameters: NewParameterStore(sess), AssumeRole: NewAssumeRole(sess)}
	s.SecretsManager.Concurrency, s.Parameters.Concurrency, s.AssumeRole.Concurrency = env.Concurrency, env.Concurrency, env.Concurrency
	return s
}

// Fetch reads one reference from the store of its scheme.
func (s *Stores) Fetch(ctx context.Context, ref resolve.Ref) (resolve.Secret, error) {
	b, err := s.of(ref.Scheme)
	if err != nil {
		return resolve.Secret{}, err
	}
	return b.Fetch(ctx, ref)
}

// FetchBatch reads references of one scheme in batches.
func (s *Stores) FetchBatch(ctx context.Context, refs []resolve.Ref) ([]resolve.Secret, []error) {
	if len(refs) == 0 {
		return nil, nil
	}
	b, err := s.of(refs[0].Scheme)
	if err != nil {
		return resolve.BatchFailed(len(refs), err)
	}
	return b.FetchBatch(ctx, refs)
}

func (s *Stores) of(scheme string) (resolve.BatchStore, error) {
	switch scheme {
	case "awssm":
		return s.SecretsManager, nil
	case "ssm":
		return s.Parameters, nil
	case "awssts":
		return s.AssumeRole, nil
	}
	return nil, fmt.Errorf("unknown scheme %q", scheme)
}

// Open is the helper's way in: it opens the stores from their decoded
// stores.aws settings.
func Open(opts resolve.Options, env resolve.Env) (resolve.Store, error) {
	o, _ := opts.(*aws.Options)
	if o == nil {
		o = &aws.Options{}
	}
	return New(*o, env), nil
}
