package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/aws"
)

// AssumeRole reads awssts://ROLE_ARN references: it calls STS AssumeRole
// with ward's own AWS credentials (the session's default chain) for the
// role, with the reference's session_name, duration and external_id, and
// returns the temporary credentials as a document with the fields
// access_key_id, secret_access_key, session_token, expiration (RFC 3339)
// and assumed_role_arn. Every read is a new session: the document never
// repeats.
//
// The IAM permission ward's identity needs is sts:AssumeRole on the role,
// and the role's trust policy must allow ward's identity (with
// sts:ExternalId when the reference names one).
type AssumeRole struct {
	// Concurrency bounds the requests one FetchBatch has in flight; 0
	// means resolve.DefaultConcurrency.
	Concurrency int

	session *Session

	mu     sync.Mutex
	client *sts.Client
	region string
}

var _ resolve.BatchStore = (*AssumeRole)(nil)

// NewAssumeRole returns the store. It loads nothing until a fetch.
func NewAssumeRole(s *Session) *AssumeRole {
	return &AssumeRole{session: s}
}

// Fetch assumes the role ref names.
func (a *AssumeRole) Fetch(ctx context.Context, ref resolve.Ref) (resolve.Secret, error) {
	c, err := a.api(ctx)
	if err != nil {
		return resolve.Secret{}, err
	}
	in := &sts.AssumeRoleInput{
		RoleArn:         awssdk.String(ref.Path),
		RoleSessionName: awssdk.String(aws.SessionName(ref)),
		DurationSeconds: awssdk.Int32(int32(aws.SessionDuration(ref) / time.Second)),
	}
	if v, ok := ref.Options["external_id"]; ok {
		in.ExternalId = awssdk.String(v)
	}
	out, err := c.AssumeRole(ctx, in)
	if err != nil {
		return resolve.Secret{}, a.fail(ref, err)
	}
	if out.Credentials == nil || out.Credentials.Expiration == nil {
		return resolve.Secret{}, fmt.Errorf("assume role %s: sts answered without credentials", ref.Path)
	}
	return credentialsDocument(ref.Path, out)
}

// FetchBatch assumes each role, at most Concurrency at once: STS has no
// batch call.
func (a *AssumeRole) FetchBatch(ctx context.Context, refs []resolve.Ref) ([]resolve.Secret, []error) {
	secrets := make([]resolve.Secret, len(refs))
	errs := make([]error, len(refs))
	fanOut(len(refs), a.Concurrency, func(i int) {
		secrets[i], errs[i] = a.Fetch(ctx, refs[i])
	})
	return secrets, errs
}

// api returns the client, creating it (and loading the session) on first
// use.
func (a *AssumeRole) api(ctx context.Context) (*sts.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.client == nil {
		cfg, err := a.session.Config(ctx)
		if err != nil {
			return nil, err
		}
		if cfg.Region == "" {
			return nil, errNoRegion
		}
		a.client, a.region = sts.NewFromConfig(cfg), cfg.Region
	}
	return a.client, nil
}

// fail names the role and what to check; STS's messages name roles and
// constraints, never a credential.
func (a *AssumeRole) fail(ref resolve.Ref, err error) error {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return fmt.Errorf("assume role %s with sts (%s): %w", ref.Path, a.region, brief(err))
	}
	kind := classify(api)
	switch api.ErrorCode() {
	case "SignatureDoesNotMatch", "InvalidClientTokenId", "ExpiredToken", "MissingAuthenticationToken", "IncompleteSignature":
		// STS's own names for what the JSON services call otherwise.
		kind = badCredentials
	}
	switch kind {
	case denied:
		hint := "check that ward's AWS identity is allowed sts:AssumeRole on it and that the role's trust policy allows ward's identity"
		if _, ok := ref.Options["external_id"]; ok {
			hint += " with this external_id"
		}
		return fmt.Errorf("sts refused to let ward assume role %s: %s: %w", ref.Path, hint, brief(api))
	case badCredentials:
		return fmt.Errorf("sts rejected ward's AWS credentials assuming role %s: check the access key, session token and clock: %w", ref.Path, brief(api))
	}
	if api.ErrorCode() == "ValidationError" {
		return fmt.Errorf("sts refused the session asked for role %s (duration, session_name or external_id; AWS grants 15m to the role's maximum session duration): %w", ref.Path, brief(api))
	}
	return fmt.Errorf("assume role %s with sts (%s): %w", ref.Path, a.region, brief(err))
}

// stsDocument is the document an awssts:// reference reads.
type stsDocument struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	SessionToken    string `json:"session_token"`
	Expiration      string `json:"expiration"`
	// RoleARN is the role assumed, as the reference names it;
	// AssumedRoleARN the session STS says it made, when it says.
	RoleARN        string `json:"role_arn"`
	AssumedRoleARN string `json:"assumed_role_arn,omitempty"`
}

// credentialsDocument makes the document of AssumeRole's answer, with its
// fields, so that #access_key_id and the like select without a parse.
func credentialsDocument(roleARN string, out *sts.AssumeRoleOutput) (resolve.Secret, error) {
	c := out.Credentials
	doc := stsDocument{
		AccessKeyID:     awssdk.ToString(c.AccessKeyId),
		SecretAccessKey: awssdk.ToString(c.SecretAccessKey),
		SessionToken:    awssdk.ToString(c.SessionToken),
		Expiration:      c.Expiration.UTC().Format(time.RFC3339),
		RoleARN:         roleARN,
	}
	if out.AssumedRoleUser != nil {
		doc.AssumedRoleARN = awssdk.ToString(out.AssumedRoleUser.Arn)
	}
	value, err := json.Marshal(doc)
	if err != nil {
		return resolve.Secret{}, errors.New("encode the temporary credentials as JSON")
	}
	fields := map[string][]byte{
		"access_key_id":     []byte(doc.AccessKeyID),
		"secret_access_key": []byte(doc.SecretAccessKey),
		"session_token":     []byte(doc.SessionToken),
		"expiration":        []byte(doc.Expiration),
		"role_arn":          []byte(roleARN),
	}
	if doc.AssumedRoleARN != "" {
		fields["assumed_role_arn"] = []byte(doc.AssumedRoleARN)
	}
	return resolve.Secret{Value: value, Fields: fields, Expires: c.Expiration.UTC().Truncate(time.Second)}, nil
}
