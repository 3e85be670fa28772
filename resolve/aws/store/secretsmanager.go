package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/wardsecrets/ward/resolve"
)

// maxBatchSecrets is the most secrets one BatchGetSecretValue call takes.
const maxBatchSecrets = 20

// SecretsManager reads awssm://NAME-OR-ARN references: a secret by name,
// full ARN or partial ARN, its AWSCURRENT version unless ?stage= or
// ?version_id= says otherwise, in the region of its ARN when it is one
// (else the session's). A SecretString is the document (so #field
// reads a JSON field); a SecretBinary is delivered as its raw bytes.
type SecretsManager struct {
	// Concurrency bounds the requests one FetchBatch has in flight; 0
	// means resolve.DefaultConcurrency.
	Concurrency int
	// NoBatch makes FetchBatch send one GetSecretValue per reference, as if
	// BatchGetSecretValue did not exist.
	NoBatch bool

	clients regional[secretsmanager.Client]

	// batchDenied remembers that IAM refused BatchGetSecretValue, so later
	// fetches go straight to GetSecretValue.
	batchDenied atomic.Bool
}

var _ resolve.BatchStore = (*SecretsManager)(nil)

// NewSecretsManager returns the store. It loads nothing until a fetch.
func NewSecretsManager(s *Session) *SecretsManager {
	return &SecretsManager{clients: regional[secretsmanager.Client]{session: s, open: func(cfg awssdk.Config, region string) *secretsmanager.Client {
		return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.Region = region })
	}}}
}

// Fetch reads one secret with GetSecretValue.
func (sm *SecretsManager) Fetch(ctx context.Context, ref resolve.Ref) (resolve.Secret, error) {
	c, region, err := sm.clients.client(ctx, arnRegion(ref.Path))
	if err != nil {
		return resolve.Secret{}, err
	}
	in := &secretsmanager.GetSecretValueInput{SecretId: awssdk.String(ref.Path)}
	if v, ok := ref.Options["stage"]; ok {
		in.VersionStage = awssdk.String(v)
	}
	if v, ok := ref.Options["version_id"]; ok {
		in.VersionId = awssdk.String(v)
	}
	out, err := c.GetSecretValue(ctx, in)
	if err != nil {
		return resolve.Secret{}, sm.target(ref, region).fail(err)
	}
	return secretOf(out.SecretString, out.SecretBinary, out.VersionId), nil
}

// FetchBatch reads refs with BatchGetSecretValue, 20 secrets of one
// region a call, and with GetSecretValue those that select a stage or a
// version id (a batch cannot). Calls run concurrently, at most
// Concurrency at a time. An error is reported for the reference it
// concerns, leaving the others valid.
func (sm *SecretsManager) FetchBatch(ctx context.Context, refs []resolve.Ref) ([]resolve.Secret, []error) {
	home, err := sm.clients.home(ctx)
	if err != nil {
		return resolve.BatchFailed(len(refs), err)
	}
	secrets := make([]resolve.Secret, len(refs))
	errs := make([]error, len(refs))

	var batched, single []int
	for i, r := range refs {
		if sm.NoBatch || sm.batchDenied.Load() || len(r.Options) > 0 {
			single = append(single, i)
		} else {
			batched = append(batched, i)
		}
	}
	var batches [][]int
	for _, group := range byRegion(batched, func(i int) string { return refs[i].Path }, home) {
		batches = append(batches, chunks(group, maxBatchSecrets)...)
	}
	leftovers := make([][]int, len(batches))
	fanOut(len(batches)+len(single), sm.Concurrency, func(k int) {
		if k < len(batches) {
			leftovers[k] = sm.batch(ctx, refs, batches[k], secrets, errs)
			return
		}
		i := single[k-len(batches)]
		secrets[i], errs[i] = sm.Fetch(ctx, refs[i])
	})

	// What a batch could not answer is asked for alone.
	rest := slices.Concat(leftovers...)
	fanOut(len(rest), sm.Concurrency, func(k int) {
		i := rest[k]
		secrets[i], errs[i] = sm.Fetch(ctx, refs[i])
	})
	return secrets, errs
}

// batch reads the secrets refs[idx], all of one region, with one
// BatchGetSecretValue call, filling secrets and errs, and returns the
// indices it has no answer for: all of them when IAM refuses the batch
// call itself, or those the response does not mention in a way that can
// be matched.
func (sm *SecretsManager) batch(ctx context.Context, refs []resolve.Ref, idx []int, secrets []resolve.Secret, errs []error) []int {
	c, region, err := sm.clients.client(ctx, arnRegion(refs[idx[0]].Path))
	if err != nil {
		for _, i := range idx {
			errs[i] = err
		}
		return nil
	}
	ids := make([]string, len(idx))
	for k, i := range idx {
		ids[k] = refs[i].Path
	}
	out, err := c.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{SecretIdList: ids})
	if err != nil {
		if deniedBatch(err) {
			sm.batchDenied.Store(true)
			return idx
		}
		for _, i := range idx {
			errs[i] = sm.target(refs[i], region).fail(err)
		}
		return nil
	}
	var rest []int
	for _, i := range idx {
		id := refs[i].Path
		if e, ok := findValue(out.SecretValues, id); ok {
			secrets[i] = secretOf(e.SecretString, e.SecretBinary, e.VersionId)
		} else if e, ok := findError(out.Errors, id); ok {
			api := batchEntryError(e.ErrorCode, e.Message)
			errs[i] = sm.target(refs[i], region).failAPI(api, api)
		} else {
			rest = append(rest, i)
		}
	}
	return rest
}

// target names a reference read in region for error messages.
func (sm *SecretsManager) target(ref resolve.Ref, region string) target {
	what := fmt.Sprintf("secret %q", ref.Path)
	if v, ok := ref.Options["stage"]; ok {
		what += fmt.Sprintf(" (stage %q)", v)
	}
	if v, ok := ref.Options["version_id"]; ok {
		what += fmt.Sprintf(" (version id %q)", v)
	}
	return target{service: "secrets manager", what: what, action: "secretsmanager:GetSecretValue", region: region, secret: ref.Path,
		endpointEnv: "AWS_ENDPOINT_URL_SECRETS_MANAGER", byName: arnRegion(ref.Path) == "" && len(ref.Options) == 0}
}

// secretOf makes the document of a secret version: the string, else the
// binary as it is.
func secretOf(str *string, bin []byte, versionID *string) resolve.Secret {
	s := resolve.Secret{Version: awssdk.ToString(versionID)}
	if str != nil {
		s.Value = []byte(*str)
	} else {
		s.Value = bin
	}
	return s
}

// findValue finds the entry of the secret id names: id is the secret's
// name, its full ARN, or its partial ARN (the full ARN without the "-"
// and six random characters AWS appends).
func findValue(entries []types.SecretValueEntry, id string) (types.SecretValueEntry, bool) {
	for _, e := range entries {
		name, arn := awssdk.ToString(e.Name), awssdk.ToString(e.ARN)
		switch {
		case id == name, id == arn:
			return e, true
		case strings.HasPrefix(id, "arn:") && len(arn) == len(id)+7 && strings.HasPrefix(arn, id+"-"):
			return e, true
		}
	}
	return types.SecretValueEntry{}, false
}

// findError finds the error entry for id. AWS names the secret as it was
// asked for; an entry named otherwise is left for GetSecretValue to
// explain.
func findError(entries []types.APIErrorType, id string) (types.APIErrorType, bool) {
	for _, e := range entries {
		if awssdk.ToString(e.SecretId) == id {
			return e, true
		}
	}
	return types.APIErrorType{}, false
}

// deniedBatch reports whether IAM refused the BatchGetSecretValue call as
// a whole: the identity may still be allowed GetSecretValue, which is all
// many policies grant.
func deniedBatch(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && classify(api) == denied
}
