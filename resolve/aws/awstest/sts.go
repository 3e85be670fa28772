package awstest

// AWS Security Token Service (sts-2011-06-15): AssumeRole and
// GetCallerIdentity, in the Query protocol every SDK speaks to STS: a
// form-encoded Action=...&Version=2011-06-15 body (or query string),
// signed with SigV4 for the service "sts", answered in XML.
//
// The temporary credentials AssumeRole issues are accepted for SigV4 by
// every emulated service, with their X-Amz-Security-Token, until their
// Expiration (ExpiredToken after it) or until RevokeSession
// (InvalidClientTokenId after it). So that tests can watch credentials
// expire in seconds, sessions may be shorter than AWS's 900-second
// minimum: asked for, once SetMinSessionDuration allows it, or cut short
// by SetSessionLifetime whatever the client asked.

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const (
	stsSigningName = "sts"
	stsVersion     = "2011-06-15"
	stsNamespace   = "https://sts.amazonaws.com/doc/2011-06-15/"

	// AWSMinSessionDuration is the shortest session AssumeRole grants on
	// AWS (DurationSeconds >= 900); the emulator's default.
	AWSMinSessionDuration = 15 * time.Minute
	// DefaultMaxSessionDuration is a role's MaxSessionDuration when AddRole
	// is given none, as IAM creates roles.
	DefaultMaxSessionDuration = time.Hour
	// defaultSessionDuration is AssumeRole's DurationSeconds when the
	// request has none.
	defaultSessionDuration = time.Hour
)

// Role is an IAM role that AssumeRole can assume.
type Role struct {
	// ARN is the role's ARN, arn:aws:iam::ACCOUNT:role/NAME.
	ARN string
	// ExternalID, when set, must be sent as ExternalId, as a trust policy's
	// sts:ExternalId condition demands.
	ExternalID string
	// MaxSessionDuration bounds DurationSeconds; 0 means one hour.
	MaxSessionDuration time.Duration
}

// session is one set of temporary credentials AssumeRole issued.
type session struct {
	accessKeyID string
	secret      string
	token       string
	expires     time.Time
	revoked     bool
	role        string // the role's ARN
	arn         string // the assumed-role ARN
	userID      string // AROA...:SESSION
}

var stsOps = map[string]func(s *Server, caller *principal, form url.Values) (any, *apiError){
	"AssumeRole":        (*Server).stsAssumeRole,
	"GetCallerIdentity": (*Server).stsGetCallerIdentity,
}

// principal is who signed a request: the emulator's IAM user or a session.
type principal struct {
	accessKeyID string
	session     *session
}

// AddRole makes a role assumable.
func (s *Server) AddRole(r Role) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.MaxSessionDuration == 0 {
		r.MaxSessionDuration = DefaultMaxSessionDuration
	}
	s.roles[r.ARN] = &r
}

// SetMinSessionDuration sets the shortest session AssumeRole grants
// (default AWSMinSessionDuration, AWS's own 900 seconds). Tests lower it
// to watch credentials expire within seconds; AWS itself never issues
// credentials that live less than 15 minutes.
func (s *Server) SetMinSessionDuration(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.minSession = d
}

// SetSessionLifetime makes every session AssumeRole issues from now on
// end d after it is issued when DurationSeconds asked for longer (0: as
// asked). AWS never cuts a session short; tests do, to watch credentials
// expire within seconds while their client asks for AWS's 900-second
// minimum, as Vault's AWS secrets engine must: the aws-sdk-go it is built
// on refuses a shorter DurationSeconds before sending the request.
func (s *Server) SetSessionLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessionLifetime = d
}

// Advance moves the emulator's clock forward by d: temporary credentials
// expire by it, and signatures are dated against it (within 15 minutes,
// as AWS allows).
func (s *Server) Advance(d time.Duration) { s.offset.Add(int64(d)) }

// RevokeSession makes the temporary credentials with accessKeyID invalid
// at once (InvalidClientTokenId), as deleting the role's session would.
// It reports whether the emulator issued that key.
func (s *Server) RevokeSession(accessKeyID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[accessKeyID]
	if ok {
		sess.revoked = true
	}
	return ok
}

// Sessions counts the temporary credentials AssumeRole has issued.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// SessionKey reports whether accessKeyID names temporary credentials the
// emulator issued.
func (s *Server) SessionKey(accessKeyID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.sessions[accessKeyID]
	return ok
}

// RoleSessions lists the access key ids of the temporary credentials
// issued for the role roleARN.
func (s *Server) RoleSessions(roleARN string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k, sess := range s.sessions {
		if sess.role == roleARN {
			keys = append(keys, k)
		}
	}
	return keys
}

// IssuedSecrets lists every access key id, secret access key and session
// token AssumeRole issued, for tests that audit logs for leaks.
func (s *Server) IssuedSecrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, sess := range s.sessions {
		out = append(out, sess.accessKeyID, sess.secret, sess.token)
	}
	return out
}

// SignedBy counts, by access key id, the requests for op that passed
// signature verification; op is matched as for Calls
// ("sts.GetCallerIdentity", or "GetCallerIdentity" for any service).
func (s *Server) SignedBy(op string) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for target, keys := range s.signed {
		if op == "" || target == op || !strings.Contains(op, ".") && strings.HasSuffix(target, "."+op) {
			for k, n := range keys {
				out[k] += n
			}
		}
	}
	return out
}

// Failures counts, by error code, the requests for op that the emulator
// refused (bad or expired credentials, throttling, validation...); op is
// matched as for Calls.
func (s *Server) Failures(op string) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for target, codes := range s.failed {
		if op == "" || target == op || !strings.Contains(op, ".") && strings.HasSuffix(target, "."+op) {
			for c, n := range codes {
				out[c] += n
			}
		}
	}
	return out
}

// serveQuery answers an STS request in the Query protocol.
func (s *Server) serveQuery(w http.ResponseWriter, r *http.Request, body []byte) {
	form := r.URL.Query()
	if r.Method == http.MethodPost {
		f, err := url.ParseQuery(string(body))
		if err != nil {
			writeQueryError(w, &apiError{status: http.StatusBadRequest, code: "MalformedQueryString", message: "The query string is malformed"})
			return
		}
		for k, v := range f {
			form[k] = v
		}
	}
	action := form.Get("Action")
	target := "sts." + action
	s.mu.Lock()
	s.calls[target]++
	s.mu.Unlock()
	fail := func(e *apiError) {
		s.countFailure(target, e.code)
		writeQueryError(w, e)
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		fail(&apiError{status: http.StatusBadRequest, code: "InvalidAction", message: "Only GET and POST are supported"})
		return
	}
	caller, aerr := s.verifySigV4(r, body, stsSigningName)
	if aerr != nil {
		fail(toQueryError(aerr))
		return
	}
	op := stsOps[action]
	switch {
	case action == "":
		fail(&apiError{status: http.StatusBadRequest, code: "MissingAction", message: "Missing Action"})
		return
	case form.Get("Version") != stsVersion:
		fail(&apiError{status: http.StatusBadRequest, code: "InvalidAction", message: fmt.Sprintf("Could not find operation %s for version %s", action, form.Get("Version"))})
		return
	case op == nil:
		fail(&apiError{status: http.StatusBadRequest, code: "InvalidAction", message: fmt.Sprintf("Could not find operation %s for version %s", action, stsVersion)})
		return
	}
	s.countSigned(target, caller.accessKeyID)

	s.mu.Lock()
	var fault *apiError
	switch {
	case s.throttle > 0:
		s.throttle--
		fault = &apiError{status: http.StatusBadRequest, code: "Throttling", message: "Rate exceeded"}
	case s.internal > 0:
		s.internal--
		fault = &apiError{status: http.StatusInternalServerError, code: "InternalFailure", message: "An internal error occurred"}
	}
	s.mu.Unlock()
	if fault != nil {
		fail(fault)
		return
	}
	out, aerr := op(s, caller, form)
	if aerr != nil {
		fail(aerr)
		return
	}
	b, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		fail(&apiError{status: http.StatusInternalServerError, code: "InternalFailure", message: "An internal error occurred"})
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append([]byte(xml.Header), b...))
}

func (s *Server) countSigned(target, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.signed[target] == nil {
		s.signed[target] = map[string]int{}
	}
	s.signed[target][key]++
}

func (s *Server) countFailure(target, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed[target] == nil {
		s.failed[target] = map[string]int{}
	}
	s.failed[target][code]++
}

type stsResponseMetadata struct {
	RequestID string `xml:"RequestId"`
}

type stsCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type stsAssumedRoleUser struct {
	Arn           string `xml:"Arn"`
	AssumedRoleID string `xml:"AssumedRoleId"`
}

type assumeRoleResponse struct {
	XMLName xml.Name `xml:"AssumeRoleResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		AssumedRoleUser  stsAssumedRoleUser `xml:"AssumedRoleUser"`
		Credentials      stsCredentials     `xml:"Credentials"`
		PackedPolicySize int                `xml:"PackedPolicySize"`
	} `xml:"AssumeRoleResult"`
	Metadata stsResponseMetadata `xml:"ResponseMetadata"`
}

type getCallerIdentityResponse struct {
	XMLName xml.Name `xml:"GetCallerIdentityResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	} `xml:"GetCallerIdentityResult"`
	Metadata stsResponseMetadata `xml:"ResponseMetadata"`
}

var (
	roleARNRE     = regexp.MustCompile(`^arn:aws:iam::[0-9]{12}:role/(?:[\x21-\x7e]*/)?([\w+=,.@-]{1,64})$`)
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	externalIDRE  = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
)

func stsValidation(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "ValidationError", message: fmt.Sprintf(format, args...)}
}

func (s *Server) stsAssumeRole(caller *principal, form url.Values) (any, *apiError) {
	arn, name, extID := form.Get("RoleArn"), form.Get("RoleSessionName"), form.Get("ExternalId")
	var problems []string
	if arn == "" {
		problems = append(problems, "Value null at 'roleArn' failed to satisfy constraint: Member must not be null")
	} else if len(arn) < 20 || len(arn) > 2048 {
		problems = append(problems, fmt.Sprintf("Value '%s' at 'roleArn' failed to satisfy constraint: Member must have length between 20 and 2048", arn))
	}
	if name == "" {
		problems = append(problems, "Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null")
	} else if !sessionNameRE.MatchString(name) {
		problems = append(problems, fmt.Sprintf("Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", name))
	}
	if form.Has("ExternalId") && (len(extID) < 2 || len(extID) > 1224 || !externalIDRE.MatchString(extID)) {
		problems = append(problems, fmt.Sprintf("Value '%s' at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]*", extID))
	}
	s.mu.Lock()
	minSession := s.minSession
	s.mu.Unlock()
	duration := defaultSessionDuration
	if v := form.Get("DurationSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, &apiError{status: http.StatusBadRequest, code: "MalformedInput", message: "Invalid value for DurationSeconds"}
		}
		duration = time.Duration(n) * time.Second
		if minSecs := int(minSession / time.Second); n < minSecs {
			problems = append(problems, fmt.Sprintf("Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to %d", n, minSecs))
		} else if n > 43200 {
			problems = append(problems, fmt.Sprintf("Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200", n))
		}
	}
	if len(problems) > 0 {
		return nil, stsValidation("%d validation error%s detected: %s", len(problems), plural(len(problems)), strings.Join(problems, "; "))
	}
	m := roleARNRE.FindStringSubmatch(arn)
	if m == nil {
		return nil, stsValidation("%s is invalid", arn)
	}
	roleName := m[1]

	s.mu.Lock()
	defer s.mu.Unlock()
	role := s.roles[arn]
	if role == nil || role.ExternalID != "" && role.ExternalID != extID {
		who := CallerARN
		if caller.session != nil {
			who = caller.session.arn
		}
		return nil, &apiError{status: http.StatusForbidden, code: "AccessDenied",
			message: fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", who, arn)}
	}
	if caller.session != nil && duration > time.Hour {
		// Role chaining is limited to one hour.
		return nil, stsValidation("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	}
	if duration > role.MaxSessionDuration {
		return nil, stsValidation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	if s.sessionLifetime > 0 {
		duration = min(duration, s.sessionLifetime)
	}
	// The Expiration AWS returns has whole seconds; the session ends then.
	expires := s.now().UTC().Add(duration).Truncate(time.Second)
	roleID := "AROA" + randomID(16)
	sess := &session{
		accessKeyID: "ASIA" + randomID(16),
		secret:      base64.StdEncoding.EncodeToString(randomBytes(30)),
		token:       base64.StdEncoding.EncodeToString(randomBytes(240)),
		expires:     expires,
		role:        arn,
		arn:         "arn:aws:sts::" + AccountID + ":assumed-role/" + roleName + "/" + name,
		userID:      roleID + ":" + name,
	}
	s.sessions[sess.accessKeyID] = sess

	out := &assumeRoleResponse{Xmlns: stsNamespace}
	out.Result.AssumedRoleUser = stsAssumedRoleUser{Arn: sess.arn, AssumedRoleID: sess.userID}
	out.Result.Credentials = stsCredentials{AccessKeyID: sess.accessKeyID, SecretAccessKey: sess.secret, SessionToken: sess.token, Expiration: expires.Format(time.RFC3339)}
	out.Metadata.RequestID = newUUID()
	return out, nil
}

func (s *Server) stsGetCallerIdentity(caller *principal, _ url.Values) (any, *apiError) {
	out := &getCallerIdentityResponse{Xmlns: stsNamespace}
	out.Result.Account = AccountID
	if caller.session != nil {
		out.Result.Arn, out.Result.UserID = caller.session.arn, caller.session.userID
	} else {
		out.Result.Arn, out.Result.UserID = CallerARN, "AIDAAWSEMUTESTUSER01"
	}
	out.Metadata.RequestID = newUUID()
	return out, nil
}

// credentialsFor finds the secret key of accessKeyID and checks the
// session token a request carries with it: the emulator's IAM user takes
// none, temporary credentials need theirs, unexpired and not revoked.
// Codes are the JSON protocol's; toQueryError renames them for STS.
func (s *Server) credentialsFor(accessKeyID, token string) (*principal, string, *apiError) {
	if s.home != nil {
		// STS credentials are good in every region.
		return s.home.credentialsFor(accessKeyID, token)
	}
	invalid := coralError("UnrecognizedClientException", "The security token included in the request is invalid.")
	if accessKeyID == AccessKeyID {
		if token != "" {
			// Long-term keys take no session token; AWS refuses one.
			return nil, "", invalid
		}
		return &principal{accessKeyID: accessKeyID}, SecretAccessKey, nil
	}
	s.mu.Lock()
	sess, ok := s.sessions[accessKeyID]
	now := s.now()
	s.mu.Unlock()
	switch {
	case !ok, sess.token != token, sess.revoked:
		return nil, "", invalid
	case !now.Before(sess.expires):
		return nil, "", coralError("ExpiredTokenException", "The security token included in the request is expired")
	}
	return &principal{accessKeyID: accessKeyID, session: sess}, sess.secret, nil
}

// toQueryError renames an authentication error of the JSON protocol to
// what STS answers in its place, with its HTTP status.
func toQueryError(e *apiError) *apiError {
	code, status := e.code, e.status
	switch e.code {
	case "UnrecognizedClientException":
		code, status = "InvalidClientTokenId", http.StatusForbidden
	case "InvalidSignatureException":
		code, status = "SignatureDoesNotMatch", http.StatusForbidden
	case "IncompleteSignatureException":
		code = "IncompleteSignature"
	case "MissingAuthenticationTokenException":
		code, status = "MissingAuthenticationToken", http.StatusForbidden
	case "ExpiredTokenException":
		code = "ExpiredToken"
	}
	return &apiError{status: status, code: code, message: e.message}
}

type stsErrorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

// writeQueryError writes an STS error document.
func writeQueryError(w http.ResponseWriter, e *apiError) {
	doc := stsErrorResponse{Xmlns: stsNamespace, RequestID: newUUID()}
	doc.Error.Type = "Sender"
	if e.status >= 500 {
		doc.Error.Type = "Receiver"
	}
	doc.Error.Code, doc.Error.Message = e.code, e.message
	b, _ := xml.MarshalIndent(doc, "", "  ")
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.status)
	_, _ = w.Write(append([]byte(xml.Header), b...))
}

// isQueryRequest reports whether r is in the Query protocol (STS): no
// X-Amz-Target, and a form body or an Action in the query string.
func isQueryRequest(r *http.Request) bool {
	if r.Header.Get("X-Amz-Target") != "" {
		return false
	}
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.TrimSpace(ct) == "application/x-www-form-urlencoded" || r.URL.Query().Has("Action")
}

// randomID is n characters of A-Z and 2-7, as AWS key ids are.
func randomID(n int) string {
	return base32.StdEncoding.EncodeToString(randomBytes(n))[:n]
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
