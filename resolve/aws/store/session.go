// Package store resolves awssm:// references from AWS Secrets Manager,
// ssm:// references from AWS Systems Manager Parameter Store and
// awssts:// references with STS AssumeRole, with aws-sdk-go-v2.
//
// The stores share one Session, which loads the SDK's default
// configuration (environment, shared config and profiles, web identity,
// ECS and EC2 instance credentials, AWS_ENDPOINT_URL and the per-service
// AWS_ENDPOINT_URL_SECRETS_MANAGER / AWS_ENDPOINT_URL_SSM /
// AWS_ENDPOINT_URL_STS) on the first fetch, never before, so a manifest
// without AWS references pays nothing.
//
// The IAM permissions ward needs: secretsmanager:GetSecretValue on each
// secret and secretsmanager:BatchGetSecretValue (without it ward falls back
// to one GetSecretValue per secret); ssm:GetParameters on each parameter;
// kms:Decrypt on the KMS keys that encrypt them; sts:AssumeRole on each
// role an awssts:// reference names.
package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/wardsecrets/ward/resolve/aws"
	"github.com/wardsecrets/ward/resolve/bodylimit"
	"github.com/wardsecrets/ward/resolve/certerr"
	"github.com/wardsecrets/ward/resolve/proxyconnect"
)

// DefaultMaxAttempts bounds the attempts at one request, the first
// included, when it is throttled or meets a server error.
const DefaultMaxAttempts = 5

// SessionOptions configures how the AWS stores reach AWS. The zero SessionOptions follow
// the SDK's default chain for everything.
type SessionOptions struct {
	// Region overrides AWS_REGION and the profile's region.
	Region string
	// Profile overrides AWS_PROFILE.
	Profile string
	// MaxAttempts bounds the attempts at one request; 0 means
	// DefaultMaxAttempts. AWS_MAX_ATTEMPTS, when set, still wins.
	MaxAttempts int
	// MaxBackoff caps the delay between attempts before jitter; 0 means the
	// SDK's default (20s).
	MaxBackoff time.Duration
	// Timeout bounds each request, its retries and the credentials' fetch
	// included; 0 means aws.DefaultTimeout.
	Timeout time.Duration
}

// Session loads the AWS SDK configuration once, on first use, and shares it
// between the stores.
type Session struct {
	opts SessionOptions

	mu  sync.Mutex
	cfg *awssdk.Config
	// failed is the last load's failure and when it came: callers that
	// waited for that load (an awssm:// and an ssm:// read of one start)
	// take it, and do not spend stores.aws.timeout on a load of their
	// own (a credentials endpoint that never answered made a start take
	// the timeout twice).
	failed   error
	failedAt time.Time

	// apiOptions are added to every client's middleware stack; tests use
	// them to observe and inject failures.
	apiOptions []func(*middleware.Stack) error
}

// NewSession returns a session that has loaded nothing yet.
func NewSession(opts SessionOptions) *Session {
	return &Session{opts: opts}
}

// Config returns the SDK configuration, loading it on the first call. A
// failed load is not remembered past the calls that waited for it: the
// next call tries again.
func (s *Session) Config(ctx context.Context) (awssdk.Config, error) {
	asked := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg != nil {
		return *s.cfg, nil
	}
	if s.failed != nil && s.failedAt.After(asked) {
		return awssdk.Config{}, s.failed
	}
	cfg, err := s.load(ctx)
	if err != nil {
		if ctx.Err() == nil {
			// Not this caller's own end, which the others need not share.
			s.failed, s.failedAt = err, time.Now()
		}
		return awssdk.Config{}, err
	}
	s.cfg, s.failed = &cfg, nil
	return cfg, nil
}

// load loads the SDK configuration and fetches its credentials.
func (s *Session) load(ctx context.Context) (awssdk.Config, error) {
	// A credential source can hang as an endpoint can (a stalled
	// credential_process, an STS endpoint that never answers). Its
	// requests are bounded at the timeout (bound); the load gets a
	// moment more, so that their own error, which names them, comes
	// first.
	ctx, cancel := context.WithTimeout(ctx, s.timeout()+loadSlack)
	defer cancel()
	// The bound goes in during the load: the credential providers it
	// builds (the container endpoint, IMDS, STS for web identity and
	// assume-role, SSO) take the APIOptions it has by then, and none of
	// them takes a client of ward's.
	process := newProcessBound()
	// The time bound too: the SDK's credentials cache fetches with a
	// context whose cancellation it suppresses, so a credentials endpoint
	// that took the request and never answered held that fetch for good,
	// and every later read waited on it, the endpoint back or not.
	load := []func(*config.LoadOptions) error{config.WithRetryer(s.retryer), config.WithAPIOptions([]func(*middleware.Stack) error{s.bound, boundBody, plainRequestBody}),
		config.WithAssumeRoleCredentialOptions(process.assumeRole)}
	if s.opts.Region != "" {
		load = append(load, config.WithRegion(s.opts.Region))
	}
	if s.opts.Profile != "" {
		load = append(load, config.WithSharedConfigProfile(s.opts.Profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return awssdk.Config{}, fmt.Errorf("load the AWS configuration: %w", err)
	}
	process.bind(&cfg)
	// The first request would fetch the credentials anyway (and cache
	// them); fetching them here lets a failure say what to set.
	if cfg.Credentials != nil {
		if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
			switch tl, po := (*bodylimit.TooLargeError)(nil), (*ProcessOutputError)(nil); {
			case errors.As(err, &tl), errors.As(err, &po):
				// Not the hints below: the source is there, and
				// something else answered for it.
				return awssdk.Config{}, fmt.Errorf("no usable AWS credentials: %w", hideProcessOutput(err))
			case imdsFailed(err):
				return awssdk.Config{}, fmt.Errorf("no usable AWS credentials: %s: %w", imdsHint, err)
			case ssoFailed(err):
				profile := cmp.Or(s.opts.Profile, os.Getenv("AWS_PROFILE"), "default")
				return awssdk.Config{}, fmt.Errorf("no usable AWS credentials: the IAM Identity Center (SSO) login of AWS profile %q has expired or was never made: run aws sso login --profile %s: %w", profile, profile, err)
			case containerFailed(err):
				return awssdk.Config{}, fmt.Errorf("no usable AWS credentials: %s: %w", containerHint, hideProcessOutput(err))
			}
			if cfg.Region == "" {
				// Web identity and SSO call STS and the portal in a region.
				return awssdk.Config{}, fmt.Errorf("no usable AWS credentials, and %w: %w", errNoRegion, hideProcessOutput(err))
			}
			return awssdk.Config{}, fmt.Errorf("no usable AWS credentials (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run with an IAM role): %w", hideProcessOutput(err))
		}
	}
	if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		bc = bc.WithTransportOptions(func(t *http.Transport) { t.OnProxyConnectResponse = proxyconnect.Check })
		cfg.HTTPClient = bc
	}
	cfg.APIOptions = append(cfg.APIOptions, s.apiOptions...)
	return cfg, nil
}

// loadSlack is how much longer than a request's bound the load of the
// configuration, with the credentials' fetch, may take.
const loadSlack = time.Second

// errNoRegion is the error for a request with no region to go to: one
// for a name, or an STS call, when neither the environment, the profile
// nor the manifest gives one. An ARN holds its own.
var errNoRegion = errors.New("no AWS region: set AWS_REGION, a region in the AWS profile, or stores.aws.region in the manifest")

// timeout is how long one request may take, retries included.
func (s *Session) timeout() time.Duration {
	if s.opts.Timeout > 0 {
		return s.opts.Timeout
	}
	return aws.DefaultTimeout
}

// bound puts a deadline on each operation, around its retries: the SDK's
// HTTP client has none, and an endpoint that takes the connection and
// never answers held a read, and so ward's start or every later poll, for
// ever.
func (s *Session) bound(st *middleware.Stack) error {
	if _, own := st.Initialize.Get("OperationTimeout"); own {
		// The EC2 metadata client's: a deadline of ward's would stand
		// in for its 5 s (it sets one only when there is none), and a
		// hop limit's unanswered token waited the whole stores.aws.timeout.
		return nil
	}
	return st.Initialize.Add(middleware.InitializeMiddlewareFunc("wardTimeout",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			ctx, cancel := context.WithTimeoutCause(ctx, s.timeout(), errNoAnswer)
			defer cancel()
			out, md, err := next.HandleInitialize(ctx, in)
			if err != nil && context.Cause(ctx) == errNoAnswer {
				err = fmt.Errorf("no answer within %s, retries included (stores.aws.timeout): check that the endpoint is reachable and answers: %w", s.timeout(), err)
			}
			return out, md, err
		}), middleware.Before)
}

// boundBody bounds the body of each answer at bodylimit.Max, in every
// client of the SDK ward's configuration makes: the stores' and the
// credential providers'. The SDK reads an answer whole into memory: a
// container-credentials endpoint, IMDS or STS that answered 200 with a
// body that never ends (a proxy gone wrong, a process that is not the
// endpoint on that port) grew ward-aws by gigabytes until the timeout.
// Innermost in the Deserialize step, it wraps the body before any
// deserializer reads it; the load wants the SDK's own HTTP client (for
// AWS_CA_BUNDLE), and the container endpoint's provider makes a client
// of its own, so a client of ward's would not reach them.
func boundBody(st *middleware.Stack) error {
	return st.Deserialize.Add(middleware.DeserializeMiddlewareFunc("wardBodyLimit",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			resp, ok := out.RawResponse.(*smithyhttp.Response)
			req, reqOK := in.Request.(*smithyhttp.Request)
			if ok && reqOK && resp.Response != nil {
				bodylimit.Bound(resp.Response, req.Request, bodylimit.Max)
			}
			return out, md, err
		}), middleware.After)
}

// plainRequestBody hides the WriteTo of a request's body (a bytes.Reader
// for every operation ward calls), in every client of the SDK ward's
// configuration makes. The SDK closes the body once the answer's headers
// have come (smithy's ClientHandler), and its closed body's WriteTo
// answers io.EOF as an error, where a Read answers it as the end. When
// the answer came before net/http's transport had read past the body's
// end (the check that it holds no more than its Content-Length, which
// goes through WriteTo), the transport took that for a failure to read
// the body and closed the connection under the answer: its read failed
// with "use of closed network connection", which the SDK retries (a
// second request, for STS in about half of the runs against an endpoint
// that answers before it has read the request), and which failed the
// request with stores.aws.max_attempts 1. Through Read the transport sees
// the end.
func plainRequestBody(st *middleware.Stack) error {
	return st.Deserialize.Add(middleware.DeserializeMiddlewareFunc("wardPlainRequestBody",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			if req, ok := in.Request.(*smithyhttp.Request); ok {
				if stream, ok := req.GetStream().(io.ReadSeeker); ok {
					if _, ok := stream.(io.WriterTo); ok {
						if plain, err := req.SetStream(readSeeker{stream}); err == nil {
							in.Request = plain
						}
					}
				}
			}
			return next.HandleDeserialize(ctx, in)
		}), middleware.After)
}

// readSeeker is an io.ReadSeeker and no more.
type readSeeker struct{ io.ReadSeeker }

// errNoAnswer is the cause of an operation's deadline.
var errNoAnswer = errors.New("no answer within stores.aws.timeout")

// retryer is the SDK's standard retryer (exponential backoff with jitter;
// throttling, 5xx and connection errors retried; other 4xx not), bounded.
func (s *Session) retryer() awssdk.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = DefaultMaxAttempts
		if s.opts.MaxAttempts > 0 {
			o.MaxAttempts = s.opts.MaxAttempts
		}
		if s.opts.MaxBackoff > 0 {
			o.MaxBackoff = s.opts.MaxBackoff
		}
		// The retry quota, a bucket shared by the client's requests that
		// failed attempts drain and only first-attempt successes refill
		// (one token each), runs dry in a long outage: for hundreds of
		// polls after it nothing was retried. ward's requests are few and
		// bounded already (Concurrency, MaxAttempts).
		o.RateLimiter = ratelimit.None
		// A certificate that does not verify is final: the SDK takes it
		// for a connection error, and retried it.
		o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) awssdk.Ternary {
			if certerr.Is(err) {
				return awssdk.FalseTernary
			}
			if pr := (*proxyconnect.RefusedError)(nil); errors.As(err, &pr) {
				// Nor is a proxy's refusal of the way to the endpoint.
				return awssdk.FalseTernary
			}
			return awssdk.UnknownTernary
		})}, o.Retryables...)
	})
}

// imdsHint is what to do when the EC2 instance metadata service, the last
// source of the SDK's chain, gave no credentials: off EC2 it is not there
// and the SDK waits 5 s for it; in a container on an instance that
// requires IMDSv2 with a hop limit of 1 (the default), the session token's
// answer is dropped one hop short, and the SDK waits as long.
const imdsHint = "none in the environment or the shared files, and the EC2 instance metadata service, the last place the AWS SDK looks, gave none: " +
	"off EC2, set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (AWS_EC2_METADATA_DISABLED=true skips the metadata service); " +
	"on EC2, check that the instance has an IAM role, and in a container there, that the instance's hop limit lets IMDSv2's session token reach it " +
	"(aws ec2 modify-instance-metadata-options --instance-id ID --http-put-response-hop-limit 2)"

// containerHint says what to look at when the container credentials
// endpoint failed: it is named, so there is an IAM role to be had.
const containerHint = "the container credentials endpoint the environment names (AWS_CONTAINER_CREDENTIALS_FULL_URI or AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: ECS, EKS Pod Identity, a ward run's identity: aws) gave none: check that it answers from here, and that the task or pod has its role"

// containerFailed reports whether err is the SDK's failure at the
// container credentials endpoint: an operation of it, or its provider's
// "failed to load credentials" (a request that timed out carries no
// operation) when the environment names the endpoint. Not an SSO
// profile's or web identity's, which the chain takes before it.
func containerFailed(err error) bool {
	var op *smithy.OperationError
	if errors.As(err, &op) {
		return op.ServiceID == "endpoint-credentials"
	}
	named := os.Getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI") != "" || os.Getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != ""
	return named && strings.Contains(err.Error(), "failed to load credentials, ")
}

// imdsFailed reports whether err is the SDK's failure at the EC2 instance
// metadata service.
func imdsFailed(err error) bool {
	var op *smithy.OperationError
	return errors.As(err, &op) && op.ServiceID == "ec2imds"
}

// ssoFailed reports whether err is the SDK's failure to use the cached
// token of an IAM Identity Center (SSO) profile: expired, missing, or
// refused by the portal. The SDK gives a type to some of these only.
func ssoFailed(err error) bool {
	var invalid *ssocreds.InvalidTokenError
	var op *smithy.OperationError
	return errors.As(err, &invalid) || strings.Contains(err.Error(), "SSO token") ||
		errors.As(err, &op) && (op.ServiceID == "SSO" || op.ServiceID == "SSO OIDC")
}
