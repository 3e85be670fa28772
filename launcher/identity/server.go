package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// AWSPath is the endpoint's path: the request target of the URL in
// AWS_CONTAINER_CREDENTIALS_FULL_URI.
const AWSPath = "/ward/aws/credentials"

// AWSStripped are the variables that would make an AWS SDK take its
// credentials from elsewhere than ward's endpoint: static keys, profiles,
// the shared credentials file, another container endpoint or its token,
// web identity. AWS_ACCESS_KEY and AWS_SECRET_KEY are the EC2 API tools'
// names, which aws-sdk-go-v2 (and the Java SDK v1) read when the usual
// ones are unset. None is inherited by the child when ward serves its AWS
// identity; one the manifest declares under env: still reaches it (and
// then wins in every SDK's chain).
var AWSStripped = []string{
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CREDENTIAL_EXPIRATION",
	"AWS_ACCESS_KEY", "AWS_SECRET_KEY",
	"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CREDENTIAL_FILE",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
}

// AWSConfig is what an AWS endpoint is started with.
type AWSConfig struct {
	Source Source
	// RefreshBefore is the manifest's refresh_before.
	RefreshBefore time.Duration
	// WriteToken stores the endpoint's token in a file only ward's user
	// can read (mode 0400, in ward's private directory) and returns its
	// path: the token never goes in the child's environment.
	WriteToken func(token []byte) (path string, err error)
	Log        *slog.Logger
}

// AWSEndpoint serves AWS credentials in the container-credentials format
// on 127.0.0.1.
type AWSEndpoint struct {
	cache *Cache
	log   *slog.Logger
	ln    net.Listener
	srv   *server
	// tokenSum is the SHA-256 of the token: requests are compared with it
	// in constant time, whatever the length they present.
	tokenSum  [32]byte
	tokenPath string

	served  atomic.Int64
	refused refusals
}

// StartAWS fetches the first credentials, writes the token and starts
// serving. Close stops it.
func StartAWS(ctx context.Context, cfg AWSConfig) (*AWSEndpoint, error) {
	cache := NewCache(cfg.Source, cfg.RefreshBefore, cfg.Log)
	if err := cache.Fill(ctx); err != nil {
		return nil, err
	}
	return ServeAWS(cache, cfg)
}

// ServeAWS serves a cache that Fill filled (cfg.Source and
// cfg.RefreshBefore are the cache's already).
func ServeAWS(cache *Cache, cfg AWSConfig) (*AWSEndpoint, error) {
	if cache.current() == nil {
		return nil, errors.New("serve the aws endpoint: no credentials yet")
	}
	token, err := newSecret()
	if err != nil {
		return nil, fmt.Errorf("make the aws endpoint's token: %w", err)
	}
	path, err := cfg.WriteToken(token)
	if err != nil {
		return nil, fmt.Errorf("write the aws endpoint's token: %w", err)
	}
	ln, err := listenLoopback("aws")
	if err != nil {
		return nil, err
	}
	log := orDiscard(cfg.Log)
	e := &AWSEndpoint{cache: cache, log: log, ln: ln, tokenSum: sha256.Sum256(token), tokenPath: path}
	e.srv = startServer("aws", ln, log, func(_ net.Conn, req request, err error) response { return e.answer(req, err) }, cache.Run)
	return e, nil
}

// newSecret makes an endpoint's token: 32 random bytes, base64url.
func newSecret() ([]byte, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	return []byte(base64.RawURLEncoding.EncodeToString(raw)), nil
}

// Env is what the child's environment gets: the endpoint, its token's
// file, and an empty shared credentials file, so that no [default]
// profile's keys win over the endpoint in the SDK's chain.
func (e *AWSEndpoint) Env() []string {
	return []string{
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + e.URL(),
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=" + e.tokenPath,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
	}
}

// URL is the endpoint's address.
func (e *AWSEndpoint) URL() string { return "http://" + e.ln.Addr().String() + AWSPath }

// Addr is where the endpoint listens.
func (e *AWSEndpoint) Addr() net.Addr { return e.ln.Addr() }

// Cache is the credentials the endpoint serves.
func (e *AWSEndpoint) Cache() *Cache { return e.cache }

// Served counts the requests answered with credentials.
func (e *AWSEndpoint) Served() int64 { return e.served.Load() }

// Close stops serving and refreshing, and waits for both to end.
func (e *AWSEndpoint) Close() error { return e.srv.close() }

// answer decides the response to a request (err: it could not be read).
// The token is checked first: without it, a client learns nothing.
func (e *AWSEndpoint) answer(req request, err error) response {
	switch {
	case errors.Is(err, errHeadTooLarge):
		return errorResponse(431, "BadRequest", "request head larger than 8 KiB")
	case err != nil:
		return errorResponse(400, "BadRequest", err.Error())
	case !e.authorized(req.headers["authorization"]):
		e.refused.note(e.log, "aws", reasonToken(len(req.headers["authorization"]) == 0))
		return errorResponse(401, "Unauthorized", "the Authorization header must hold the token of AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
	case req.method != "GET":
		return response{status: 405, body: errorBody("MethodNotAllowed", "GET only"), allow: "GET"}
	case req.path != AWSPath:
		return errorResponse(404, "NotFound", "no such path")
	case req.body:
		return errorResponse(400, "BadRequest", "a GET with a body")
	}
	cr, ok := e.cache.Current()
	if !ok {
		return errorResponse(503, "CredentialsUnavailable", "the credentials expired and ward cannot refresh them yet: see ward's log")
	}
	body, jerr := json.Marshal(containerCredentials{
		AccessKeyID:     cr.AccessKeyID,
		SecretAccessKey: cr.SecretAccessKey,
		Token:           cr.SessionToken,
		Expiration:      cr.Expires.UTC().Format(time.RFC3339),
		AccountID:       accountOf(cr.Identity),
	})
	if jerr != nil {
		return errorResponse(503, "CredentialsUnavailable", "the credentials cannot be encoded")
	}
	e.served.Add(1)
	e.log.Debug("aws credentials served", "identity", cr.Identity, "expires_in", time.Until(cr.Expires).Round(time.Second).String())
	return response{status: 200, body: body}
}

// authorized compares the one Authorization value with the token, in
// constant time.
func (e *AWSEndpoint) authorized(values []string) bool {
	if len(values) != 1 {
		return false
	}
	sum := sha256.Sum256([]byte(values[0]))
	return subtle.ConstantTimeCompare(sum[:], e.tokenSum[:]) == 1
}

// containerCredentials is the container-credentials format: what ECS and
// EKS Pod Identity agents answer, and every AWS SDK reads.
type containerCredentials struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	Expiration      string `json:"Expiration"`
	// AccountID is the account the credentials act in, as EKS Pod
	// Identity's agent says it: the SDKs take it for account-based
	// endpoints, and with AWS_ACCOUNT_ID_ENDPOINT_MODE=required refuse
	// credentials without it.
	AccountID string `json:"AccountId,omitempty"`
}

// accountOf is the account of an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:...),
// or "" when identity is not one with a 12-digit account.
func accountOf(identity string) string {
	parts := strings.SplitN(identity, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" || len(parts[4]) != 12 {
		return ""
	}
	for _, c := range parts[4] {
		if c < '0' || c > '9' {
			return ""
		}
	}
	return parts[4]
}

// errorResponse is an error in the shape the SDKs read: code and
// message.
func errorResponse(status int, code, msg string) response {
	return response{status: status, body: errorBody(code, msg)}
}

func errorBody(code, msg string) []byte {
	b, _ := json.Marshal(map[string]string{"code": code, "message": msg})
	return b
}

// refusals rate-limits the warning about refused requests: a local
// process probing the endpoint must not flood ward's log.
type refusals struct {
	mu       sync.Mutex
	quiet    int
	total    int
	warnedAt time.Time
}

// refusalInterval is the least time between two warnings.
const refusalInterval = 30 * time.Second

// reasonToken is why a request without the right token was refused.
func reasonToken(missing bool) string {
	if missing {
		return "no token"
	}
	return "a wrong token"
}

// note logs that the endpoint name refused a request for reason, at most
// once a refusalInterval, with the count of those it kept quiet about.
func (r *refusals) note(log *slog.Logger, name, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	now := time.Now()
	if !r.warnedAt.IsZero() && now.Sub(r.warnedAt) < refusalInterval {
		r.quiet++
		return
	}
	log.Warn(name+" endpoint refused a request", "reason", reason, "refused_since_last_warning", r.quiet, "refused_total", r.total)
	r.warnedAt, r.quiet = now, 0
}

// orDiscard is log, or a logger that drops everything when log is nil.
func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
