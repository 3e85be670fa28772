// Package awstest is an in-process emulator of the parts of AWS Secrets
// Manager and AWS Systems Manager Parameter Store that ward reads secrets
// from, and of the AWS Security Token Service that issues the short-lived
// credentials ward serves to its child. It speaks the real wire protocols
// (AWS JSON 1.1 and, for STS, the Query protocol with XML answers, over
// HTTP, SigV4 signed requests) so that ward's tests can point the real
// SDKs (aws-sdk-go-v2, boto3, the JavaScript v3 SDK, and Vault's AWS
// secrets engine) at it through AWS_ENDPOINT_URL or an endpoint setting;
// AWS itself cannot be reached from the test machines.
//
// It is imported by tests only and never by ward's non-test code.
//
// Requests are accepted only when they carry a valid AWS Signature Version 4
// made with AccessKeyID / SecretAccessKey for Region (or a region AddRegion
// added), or with temporary credentials that STS AssumeRole issued (and
// their session token) before they expire. Responses and errors use
// the member names, error codes and HTTP statuses of the AWS API references
// (secretsmanager-2017-10-17, ssm-2014-11-06).
//
// Typical use from a test that runs ward as a child process:
//
//	srv := awstest.New()
//	defer srv.Close()
//	srv.PutSecretString("prod/db", `{"password":"x"}`)
//	srv.PutParameter("/app/token", "t0k", true)
//	cmd := exec.Command(wardBinary, ...)
//	cmd.Env = append(os.Environ(), srv.Env()...)
//
// and from a test that uses the SDK in-process, set BaseEndpoint to URL()
// and use static credentials AccessKeyID / SecretAccessKey.
//
// Emulated: Secrets Manager GetSecretValue, BatchGetSecretValue (SecretIdList
// only), DescribeSecret, CreateSecret, PutSecretValue; SSM GetParameter,
// GetParameters, PutParameter; STS AssumeRole (with ExternalId, roles added
// by AddRole) and GetCallerIdentity; a secret scheduled for deletion
// (ScheduleDeletion); a KMS key the caller may not use (DenyKMS); other
// regions of the account at the same URL (AddRegion); a rotation
// function's steps (StageSecretString, MoveStage, RemoveStage); the EC2 instance metadata service as a container
// on an IMDSv2 instance with a hop limit of 1 sees it (NewIMDS). Not emulated: other operations (they get
// UnknownOperationException), BatchGetSecretValue Filters and paging, SSM
// parameter labels, /aws/reference/secretsmanager/ parameters, DeleteSecret,
// RestoreSecret, RotateSecret and UpdateSecretVersionStage as operations, replication, resource policies, any IAM logic
// beyond Deny, and STS's other actions, session policies and tags.
package awstest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fixed identity of the emulated account. Env hands these to child
// processes; tests using the SDK directly configure static credentials with
// them.
const (
	Region          = "us-east-1"
	AccountID       = "123456789012"
	AccessKeyID     = "AKIAAWSEMUTESTKEY001"
	SecretAccessKey = "awsemu+TestSecretAccessKey/0000000000000"
	// CallerARN is the IAM identity named in AccessDeniedException messages.
	CallerARN = "arn:aws:iam::" + AccountID + ":user/awsemu-test"
)

// Target prefixes (the part of X-Amz-Target before the dot) and the SigV4
// signing names of the emulated services.
const (
	smTargetPrefix  = "secretsmanager"
	ssmTargetPrefix = "AmazonSSM"
	smSigningName   = "secretsmanager"
	ssmSigningName  = "ssm"
)

const maxRequestBody = 16 << 20

// Server is a running emulator. All methods are safe for concurrent use.
type Server struct {
	ts *httptest.Server

	// region is the region whose requests this server answers; regions
	// are the others AddRegion added, answered at the same URL, and home
	// is the server whose URL that is (nil for itself).
	region  string
	regions map[string]*Server
	home    *Server

	mu       sync.Mutex
	secrets  map[string]*secret    // by secret name
	params   map[string]*parameter // by parameter name
	calls    map[string]int        // by X-Amz-Target
	throttle int
	internal int
	deny     []string
	noDecr   []string
	noKMS    []string
	now      func() time.Time

	// STS: the roles AssumeRole may assume, the sessions it issued (by
	// access key id), and the access keys that signed each operation's
	// calls and the error codes they got (by target).
	roles      map[string]*Role
	sessions   map[string]*session
	minSession time.Duration
	// sessionLifetime cuts sessions short (SetSessionLifetime).
	sessionLifetime time.Duration
	offset          atomic.Int64 // added to the time, by Advance
	signed          map[string]map[string]int
	failed          map[string]map[string]int
}

// New starts an emulator on 127.0.0.1 on a random port. Close it when done.
func New() *Server {
	s := newServer(Region)
	s.ts = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// AddRegion returns the emulator of another region of the same account,
// at s's URL: a request signed for region (its SigV4 credential scope) is
// that region's. It stands in for the regional endpoint
// (secretsmanager.REGION.amazonaws.com, ssm.REGION.amazonaws.com) that the
// SDK would pick for that region without AWS_ENDPOINT_URL. Each region has
// its own secrets and parameters, with ARNs in that region, as in AWS;
// neither answers for the other's. Credentials are s's, valid in both.
func (s *Server) AddRegion(region string) *Server {
	r := newServer(region)
	r.home = s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.regions[region] = r
	return r
}

func newServer(region string) *Server {
	s := &Server{
		region:  region,
		regions: map[string]*Server{},
		secrets: map[string]*secret{},
		params:  map[string]*parameter{},
		calls:   map[string]int{},

		roles:      map[string]*Role{},
		sessions:   map[string]*session{},
		minSession: AWSMinSessionDuration,
		signed:     map[string]map[string]int{},
		failed:     map[string]map[string]int{},
	}
	s.now = func() time.Time { return time.Now().Add(time.Duration(s.offset.Load())) }
	return s
}

// URL is the endpoint, e.g. "http://127.0.0.1:41234", for both services.
func (s *Server) URL() string {
	if s.home != nil {
		return s.home.URL()
	}
	return s.ts.URL
}

// Close shuts the server down (for a region AddRegion added, the server it
// was added to).
func (s *Server) Close() {
	if s.home != nil {
		s.home.Close()
		return
	}
	s.ts.Close()
}

// Env returns the environment a child process needs to reach the emulator
// with the default AWS credential and config chain: the endpoint (global and
// per service), region, static test credentials, and settings that keep a
// developer's own AWS configuration (profiles, shared files, session tokens,
// instance metadata) out of the way. Later entries win in os/exec, so append
// it after os.Environ() and append overrides after it.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.URL(),
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + s.URL(),
		"AWS_ENDPOINT_URL_SSM=" + s.URL(),
		"AWS_REGION=" + Region,
		"AWS_DEFAULT_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
		"AWS_SESSION_TOKEN=",
		"AWS_PROFILE=",
		"AWS_DEFAULT_PROFILE=",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=",
		"AWS_WEB_IDENTITY_TOKEN_FILE=",
		"AWS_ROLE_ARN=",
	}
}

// Throttle makes the next n requests (of any operation, after signature
// verification) fail with ThrottlingException, HTTP 400, as AWS does when a
// request rate quota is exceeded. The SDK's standard retryer retries them.
func (s *Server) Throttle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = n
}

// FailInternal makes the next n requests fail with the service's internal
// error: InternalServiceError (Secrets Manager) or InternalServerError (SSM),
// HTTP 500.
func (s *Server) FailInternal(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.internal = n
}

// Deny makes every request that touches the named secret or parameter fail
// as an IAM denial would: AccessDeniedException (HTTP 400) for single-item
// operations and SSM GetParameters, a per-secret AccessDeniedException entry
// in Errors for BatchGetSecretValue. nameOrPath matches a secret or
// parameter name or ARN exactly; a pattern ending in "/" or "*", or a plain
// path, also matches everything below it ("/app" matches "/app/db").
func (s *Server) Deny(nameOrPath string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny = append(s.deny, nameOrPath)
}

// FailDecrypt makes reading the value of matching secrets and SecureString
// parameters fail as a KMS failure would: DecryptionFailure for Secrets
// Manager (a per-secret error entry in BatchGetSecretValue), and for SSM an
// AccessDeniedException passed on from KMS, only when WithDecryption is true.
// Patterns are matched as for Deny.
func (s *Server) FailDecrypt(nameOrPath string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noDecr = append(s.noDecr, nameOrPath)
}

// DenyKMS makes reading the value of matching secrets and SecureString
// parameters fail as it does when the caller may read them but not use
// their KMS key (a customer managed key whose key policy or IAM grants no
// kms:Decrypt): Secrets Manager answers AccessDeniedException "Access to
// KMS is not allowed" (an Errors entry in BatchGetSecretValue), and SSM,
// with WithDecryption, passes on KMS's AccessDeniedException for a key the
// caller cannot see. Patterns are matched as for Deny.
func (s *Server) DenyKMS(nameOrPath string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noKMS = append(s.noKMS, nameOrPath)
}

// ClearFaults removes all Deny, FailDecrypt and DenyKMS patterns and pending
// Throttle / FailInternal counts.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny, s.noDecr, s.noKMS, s.throttle, s.internal = nil, nil, nil, 0, 0
}

// Calls reports how many requests for op the server received, counting
// throttled, failed and rejected (badly signed) ones. op is the X-Amz-Target
// value, e.g. "secretsmanager.BatchGetSecretValue" or "AmazonSSM.GetParameter";
// a bare operation name ("GetSecretValue") sums it over both services, and ""
// counts every request.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for target, c := range s.calls {
		switch {
		case op == "", target == op:
			n += c
		case !strings.Contains(op, ".") && strings.HasSuffix(target, "."+op):
			n += c
		}
	}
	return n
}

// ---------------------------------------------------------------------------
// HTTP plumbing.

// serves reports whether AddRegion added region to s.
func (s *Server) serves(region string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.regions[region] != nil
}

// regionOf returns the server AddRegion added for the region r is signed
// for, or nil when that is s's own or none AddRegion added (then the
// signature check refuses it, as a regional endpoint does), or r is for
// STS, whose roles and sessions are global: s answers for every region.
func (s *Server) regionOf(r *http.Request) *Server {
	if isQueryRequest(r) {
		return nil
	}
	_, rest, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	cred, _, _ := strings.Cut(rest, ",")
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[2] == s.region {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.regions[parts[2]]
}

// apiError is an AWS JSON protocol error response.
type apiError struct {
	status  int
	code    string // __type and X-Amzn-ErrorType
	msgKey  string // "message" or "Message", as the service model spells it; "" for none
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// Errors raised by the AWS request layer (authentication, throttling,
// input validation) rather than by a service model spell the message
// member in lower case.
func coralError(code, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, msgKey: "message", message: fmt.Sprintf(format, args...)}
}

func validationError(format string, args ...any) *apiError {
	return coralError("ValidationException", format, args...)
}

type handlerFunc func(s *Server, body []byte) (any, error)

type service struct {
	signingName string
	ops         map[string]handlerFunc
	internal    *apiError
	throttled   *apiError
}

var services = map[string]*service{
	smTargetPrefix: {
		signingName: smSigningName,
		ops:         smOps,
		internal: &apiError{status: http.StatusInternalServerError, code: "InternalServiceError", msgKey: "Message",
			message: "An error occurred on the server side."},
		throttled: coralError("ThrottlingException", "Rate exceeded"),
	},
	ssmTargetPrefix: {
		signingName: ssmSigningName,
		ops:         ssmOps,
		internal: &apiError{status: http.StatusInternalServerError, code: "InternalServerError", msgKey: "Message",
			message: "An error occurred on the server side."},
		throttled: &apiError{status: http.StatusBadRequest, code: "ThrottlingException", msgKey: "Message", message: "Rate exceeded"},
	},
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if other := s.regionOf(r); other != nil {
		other.serveHTTP(w, r)
		return
	}
	w.Header().Set("X-Amzn-RequestId", newUUID())
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		writeError(w, coralError("SerializationException", "could not read request body: %v", err))
		return
	}
	if len(body) > maxRequestBody {
		writeError(w, &apiError{status: http.StatusRequestEntityTooLarge, code: "RequestEntityTooLargeException", msgKey: "message", message: "Request is too large."})
		return
	}

	if isQueryRequest(r) {
		s.serveQuery(w, r, body)
		return
	}
	target := r.Header.Get("X-Amz-Target")
	prefix, op, _ := strings.Cut(target, ".")
	svc := services[prefix]
	if target != "" {
		s.mu.Lock()
		s.calls[target]++
		s.mu.Unlock()
	}
	if r.Method != http.MethodPost || svc == nil || op == "" {
		writeError(w, coralError("UnknownOperationException", ""))
		return
	}
	caller, aerr := s.verifySigV4(r, body, svc.signingName)
	if aerr != nil {
		s.countFailure(target, aerr.code)
		writeError(w, aerr)
		return
	}
	if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.TrimSpace(ct) != "application/x-amz-json-1.1" {
		writeError(w, coralError("UnknownOperationException", ""))
		return
	}
	h := svc.ops[op]
	if h == nil {
		writeError(w, coralError("UnknownOperationException", ""))
		return
	}
	s.countSigned(target, caller.accessKeyID)

	s.mu.Lock()
	var fault *apiError
	switch {
	case s.throttle > 0:
		s.throttle--
		fault = svc.throttled
	case s.internal > 0:
		s.internal--
		fault = svc.internal
	}
	s.mu.Unlock()
	if fault != nil {
		s.countFailure(target, fault.code)
		writeError(w, fault)
		return
	}

	out, err := h(s, body)
	if err != nil {
		var aerr *apiError
		if !errors.As(err, &aerr) {
			aerr = svc.internal
		}
		s.countFailure(target, aerr.code)
		writeError(w, aerr)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		writeError(w, svc.internal)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, e *apiError) {
	doc := map[string]string{"__type": e.code}
	if e.msgKey != "" && e.message != "" {
		doc[e.msgKey] = e.message
	}
	b, _ := json.Marshal(doc)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.code)
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

// decodeInput parses a JSON request body. An empty body is an empty object.
func decodeInput(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return coralError("SerializationException", "could not parse request body: %v", err)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Helpers shared by both services.

// epochSeconds marshals as the awsJson timestamp format: seconds since the
// epoch as a JSON number with millisecond precision.
type epochSeconds time.Time

func (t epochSeconds) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(fmt.Sprintf("%d.%03d", ms/1000, ms%1000)), nil
}

func epoch(t time.Time) *epochSeconds {
	e := epochSeconds(t)
	return &e
}

// matches reports whether pattern (see Deny) selects any of names.
func matches(patterns []string, names ...string) bool {
	for _, p := range patterns {
		for _, n := range names {
			if n == "" {
				continue
			}
			switch {
			case p == n:
				return true
			case strings.HasSuffix(p, "*") && strings.HasPrefix(n, strings.TrimSuffix(p, "*")):
				return true
			case strings.HasSuffix(p, "/") && strings.HasPrefix(n, p):
				return true
			case strings.HasPrefix(n, p+"/"):
				return true
			}
		}
	}
	return false
}

func accessDenied(msgKey, action, resource string) *apiError {
	return &apiError{
		status: http.StatusBadRequest,
		code:   "AccessDeniedException",
		msgKey: msgKey,
		message: fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action",
			CallerARN, action, resource, action),
	}
}

func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// listForMessage renders a list the way AWS validation messages do.
func listForMessage(items []string) string {
	return "[" + strings.Join(items, ", ") + "]"
}
