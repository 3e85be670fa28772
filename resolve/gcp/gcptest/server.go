// Package gcptest is an in-process emulator, for tests only, of the parts
// of Google Cloud that ward's GCP store talks to: the Secret Manager REST
// API v1 (projects.secrets.versions.access and .get, global and regional),
// the OAuth 2.0 token endpoint that turns a service account's signed JWT
// into an access token (RFC 7523), the Security Token Service that
// exchanges a workload identity federation subject token (RFC 8693), and
// the GCE metadata server's token endpoint, and the IAM Credentials API's
// generateAccessToken (service account impersonation, with the
// iam.serviceAccounts.getAccessToken permission checked). It follows the documented wire
// shapes (JSON field names, int64 as decimal strings, bytes as base64, the
// {"error":{"code","message","status"}} error body) so that Google's own
// libraries talk to it unmodified, configured only as a user could:
// endpoint options, GOOGLE_APPLICATION_CREDENTIALS and GCE_METADATA_HOST.
// Google itself cannot be reached from the test machines.
//
// The API endpoints accept only access tokens the emulator issued and that
// have not expired. Typical use:
//
//	srv := gcptest.New()
//	defer srv.Close()
//	srv.AddVersion("projects/"+gcptest.Project+"/secrets/db", []byte(`{"password":"x"}`))
//	keyFile, _ := srv.WriteKeyFile(t.TempDir())
//	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", keyFile)
//	store, _ := store.New(srv.Options(), nil)
//
// Not emulated: writes through the API (tests add versions with the
// methods here), listing, version aliases other than latest, IAM beyond
// Deny and token creators, CMEK, replication, delegation chains and ID
// tokens. DisableAPI answers as for an API not enabled, and
// EnforcePerimeter as a VPC Service Controls perimeter does, nothing more.
//
// Never import this package from non-test code.
package gcptest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/wardsecrets/ward/resolve/gcp"
)

// The emulated identity.
const (
	// Project is the project id tests put their secrets in.
	Project = "ward-test-project"
	// ClientEmail is the service account of the key file WriteKeyFile
	// writes and of the metadata server.
	ClientEmail = "ward-test@" + Project + ".iam.gserviceaccount.com"
	// Scope is the OAuth scope Secret Manager accepts.
	Scope = "https://www.googleapis.com/auth/cloud-platform"
	// DefaultTokenLifetime is how long an issued access token is valid,
	// as Google's are.
	DefaultTokenLifetime = time.Hour
)

// The methods Calls counts, by their REST method ids.
const (
	MethodAccess         = "projects.secrets.versions.access"
	MethodGet            = "projects.secrets.versions.get"
	MethodRegionalAccess = "projects.locations.secrets.versions.access"
	MethodRegionalGet    = "projects.locations.secrets.versions.get"
	// MethodToken is the OAuth 2.0 token endpoint (JWT bearer grant).
	MethodToken = "oauth2.token"
	// MethodSTS is the Security Token Service's token exchange.
	MethodSTS = "sts.token"
	// MethodMetadataToken is the metadata server's token endpoint.
	MethodMetadataToken = "metadata.token"
	// MethodGenerateAccessToken is the IAM Credentials API's
	// projects.serviceAccounts.generateAccessToken.
	MethodGenerateAccessToken = "iamcredentials.generateAccessToken"
)

// Server is a running emulator. All methods are safe for concurrent use.
type Server struct {
	api, regional, oauth, metadata, iam *httptest.Server

	mu            sync.Mutex
	secrets       map[string]*secret  // by name, projects/ID[/locations/L]/secrets/S
	deny          map[string][]string // by secret name: denied permissions, nil for all
	tokens        map[string]*grant   // by access token
	serviceAccts  map[string][]string // service account to its token creators
	iamDenied     int
	rejected      int                 // API calls with an unknown or expired token
	accounts      map[string]*account // by client email
	subjects      map[string]string   // STS audience to subject token
	calls         map[string]int
	throttle      int
	throttleReads int
	perimeter     map[string]bool // restricted services, by name
	unavailable   int
	disabled      map[string]string // by service (secretmanager.googleapis.com): the consumer project without it
	corrupt       int
	hangTokens    int
	closing       chan struct{}
	tokenLifetime time.Duration
	latency       time.Duration
	userProject   string
	keyFile       string
	now           func() time.Time
}

// New starts an emulator on 127.0.0.1: four listeners, standing for the
// global API, the regional API, the OAuth endpoints and the metadata
// server. Close it when done.
func New() *Server {
	s := &Server{
		secrets:       map[string]*secret{},
		deny:          map[string][]string{},
		disabled:      map[string]string{},
		perimeter:     map[string]bool{},
		tokens:        map[string]*grant{},
		serviceAccts:  map[string][]string{},
		accounts:      map[string]*account{},
		subjects:      map[string]string{},
		calls:         map[string]int{},
		tokenLifetime: DefaultTokenLifetime,
		closing:       make(chan struct{}),
		now:           time.Now,
	}
	s.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveAPI(w, r, false) }))
	s.regional = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveAPI(w, r, true) }))
	s.oauth = httptest.NewServer(http.HandlerFunc(s.serveOAuth))
	s.metadata = httptest.NewServer(http.HandlerFunc(s.serveMetadata))
	s.iam = httptest.NewServer(http.HandlerFunc(s.serveIAM))
	return s
}

// URL is the global API endpoint, e.g. "http://127.0.0.1:41234/".
func (s *Server) URL() string { return s.api.URL + "/" }

// RegionalURL is the endpoint of regional secrets (every location).
func (s *Server) RegionalURL() string { return s.regional.URL + "/" }

// TokenURL is the OAuth 2.0 token endpoint, the token_uri of the key
// files WriteKeyFile writes.
func (s *Server) TokenURL() string { return s.oauth.URL + "/token" }

// STSURL is the Security Token Service's token exchange endpoint.
func (s *Server) STSURL() string { return s.oauth.URL + "/v1/token" }

// MetadataHost is the metadata server's host:port, for GCE_METADATA_HOST.
func (s *Server) MetadataHost() string { return strings.TrimPrefix(s.metadata.URL, "http://") }

// Options are the store settings that point at the emulator.
func (s *Server) Options() gcp.Options {
	return gcp.Options{Endpoint: s.URL(), RegionalEndpoint: s.RegionalURL()}
}

// Close shuts the listeners down.
func (s *Server) Close() {
	// httptest waits for the requests under way: the hung ones end.
	close(s.closing)
	s.api.Close()
	s.regional.Close()
	s.oauth.Close()
	s.metadata.Close()
	s.iam.Close()
}

// Env returns the environment a child process needs to reach the emulator
// with Application Default Credentials: the key file WriteKeyFile wrote
// last (none before: the metadata server then answers), the metadata
// server, and settings that keep a developer's own Google configuration
// (certificates, mTLS, universe, logging) out of the way. The child must
// also have a HOME without gcloud's application_default_credentials.json.
// The endpoints are store settings (see Options) that ward takes from a
// manifest only when the environment lists them, as gcp.EndpointsVar
// does here. Later entries win in os/exec, so append it after
// os.Environ().
func (s *Server) Env() []string {
	s.mu.Lock()
	keyFile := s.keyFile
	s.mu.Unlock()
	return []string{
		"GOOGLE_APPLICATION_CREDENTIALS=" + keyFile,
		"GCE_METADATA_HOST=" + s.MetadataHost(),
		"GOOGLE_CLOUD_PROJECT=" + Project,
		"GOOGLE_CLOUD_QUOTA_PROJECT=",
		"GOOGLE_CLOUD_UNIVERSE_DOMAIN=",
		"GOOGLE_API_USE_CLIENT_CERTIFICATE=false",
		"GOOGLE_API_USE_MTLS_ENDPOINT=never",
		"GOOGLE_API_CERTIFICATE_CONFIG=",
		"GOOGLE_SDK_GO_LOGGING_LEVEL=",
		// On, it would look up the credential's allowed locations at
		// iamcredentials.googleapis.com.
		"GOOGLE_AUTH_TRUST_BOUNDARY_ENABLED=",
		gcp.EndpointsVar + "=" + s.URL() + " " + s.RegionalURL() + " " + s.IAMURL(),
	}
}

// ProjectNumber is the number of a project id, stable for the id. The API
// names versions with it, as Google does.
func ProjectNumber(id string) string {
	h := fnv.New32a()
	h.Write([]byte(id))
	return fmt.Sprintf("%d", 100000000000+uint64(h.Sum32()))
}

// Throttle makes the next n API calls fail with 429 RESOURCE_EXHAUSTED,
// as a per-minute quota does.
func (s *Server) Throttle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = n
}

// ThrottleReads makes the next n versions.get calls (metadata reads)
// fail with 429 RESOURCE_EXHAUSTED, as Secret Manager's read quota does
// when it runs out: 600 read requests a minute per project, shared by
// every call but access that does not modify anything, against 90,000
// for access. Access calls are not affected.
func (s *Server) ThrottleReads(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttleReads = n
}

// Services the emulator serves, for DisableAPI.
const (
	ServiceSecretManager  = "secretmanager.googleapis.com"
	ServiceIAMCredentials = "iamcredentials.googleapis.com"
)

// serviceTitles are the services' names in Google's messages.
var serviceTitles = map[string]string{
	ServiceSecretManager:  "Secret Manager API",
	ServiceIAMCredentials: "IAM Service Account Credentials API",
}

// DisableAPI makes every call to service fail as Google answers a call
// billed to a project (the consumer: the resource's, the caller's or the
// quota project) where the API is not enabled: 403 PERMISSION_DENIED with
// an ErrorInfo detail whose reason is SERVICE_DISABLED. gcloud's user
// credentials without a quota project are billed to gcloud's own
// project, where Secret Manager is not. consumer is a project id.
func (s *Server) DisableAPI(service, consumer string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.disabled[service] = consumer
}

// answerDisabled answers a call to service as DisableAPI says, and
// reports whether it did.
func (s *Server) answerDisabled(w http.ResponseWriter, service string) bool {
	s.mu.Lock()
	consumer, ok := s.disabled[service]
	s.mu.Unlock()
	if !ok {
		return false
	}
	n := ProjectNumber(consumer)
	writeJSON(w, http.StatusForbidden, map[string]any{"error": map[string]any{
		"code":   http.StatusForbidden,
		"status": "PERMISSION_DENIED",
		"message": serviceTitles[service] + " has not been used in project " + n + " before or it is disabled. Enable it by visiting " +
			"https://console.developers.google.com/apis/api/" + service + "/overview?project=" + n +
			" then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry.",
		"details": []any{map[string]any{
			"@type":    "type.googleapis.com/google.rpc.ErrorInfo",
			"reason":   "SERVICE_DISABLED",
			"domain":   "googleapis.com",
			"metadata": map[string]string{"consumer": "projects/" + n, "service": service},
		}},
	}})
	return true
}

// EnforcePerimeter makes every call to service (a restricted service of
// the perimeter: ServiceSecretManager, ServiceIAMCredentials) fail as a
// VPC Service Controls perimeter around the project refuses a request
// from outside it: 403 PERMISSION_DENIED, "Request is prohibited by organization's
// policy", with a PreconditionFailure detail (VPC_SERVICE_CONTROLS) and
// an ErrorInfo detail whose reason is SECURITY_POLICY_VIOLATED, both
// carrying the violation's unique id. The token was valid and IAM would
// have allowed the call.
func (s *Server) EnforcePerimeter(service string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perimeter[service] = true
}

// answerPerimeter answers a call as EnforcePerimeter says, and reports
// whether it did.
func (s *Server) answerPerimeter(w http.ResponseWriter, service string) bool {
	s.mu.Lock()
	on := s.perimeter[service]
	s.mu.Unlock()
	if !on {
		return false
	}
	uid := PerimeterViolation
	writeJSON(w, http.StatusForbidden, map[string]any{"error": map[string]any{
		"code":    http.StatusForbidden,
		"status":  "PERMISSION_DENIED",
		"message": "Request is prohibited by organization's policy. vpcServiceControlsUniqueIdentifier: " + uid,
		"details": []any{
			map[string]any{
				"@type":      "type.googleapis.com/google.rpc.PreconditionFailure",
				"violations": []any{map[string]string{"type": "VPC_SERVICE_CONTROLS", "description": uid}},
			},
			map[string]any{
				"@type":    "type.googleapis.com/google.rpc.ErrorInfo",
				"reason":   "SECURITY_POLICY_VIOLATED",
				"domain":   "googleapis.com",
				"metadata": map[string]string{"service": service, "uid": uid, "consumer": "projects/" + ProjectNumber(Project)},
			},
		},
	}})
	return true
}

// PerimeterViolation is the unique id of the violations EnforcePerimeter
// answers with, which the perimeter's audit log records.
const PerimeterViolation = "Zq3kP8vXWd0uJt7LrN2mYh5aBcE4fGsT1oRiUyKpMjVnQw9xHl6"

// FailUnavailable makes the next n API calls fail with 503 UNAVAILABLE.
func (s *Server) FailUnavailable(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unavailable = n
}

// CorruptChecksums makes the next n access responses carry a dataCrc32c
// that does not match their data.
func (s *Server) CorruptChecksums(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.corrupt = n
}

// Deny makes calls on a secret (projects/P[/locations/L]/secrets/S) fail
// with 403 PERMISSION_DENIED, as IAM does when the caller lacks a
// permission: the named ones (secretmanager.versions.access,
// secretmanager.versions.get), or all when none is named.
func (s *Server) Deny(secretName string, permissions ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny[s.canonical(secretName)] = permissions
}

// SetLatency makes every API call take at least d, as a call to Google
// does (tens of milliseconds), so that benchmarks show what concurrency
// buys.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// UserProject is the X-Goog-User-Project header (the quota project) of
// the last API call, "" when it had none.
func (s *Server) UserProject() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userProject
}

// SetTokenLifetime sets the lifetime of the access tokens issued from now
// on.
func (s *Server) SetTokenLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenLifetime = d
}

// ExpireTokens makes every access token issued so far expired.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	past := s.now().Add(-time.Second)
	for _, g := range s.tokens {
		g.expires = past
	}
}

// Calls reports how many requests for method the server received,
// rejected ones included. method is one of the Method constants; a
// suffix of them ("versions.access") sums every method it ends, and ""
// counts every request.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for m, c := range s.calls {
		if method == "" || m == method || strings.HasSuffix(m, "."+method) {
			n += c
		}
	}
	return n
}

func (s *Server) count(method string) {
	s.mu.Lock()
	s.calls[method]++
	s.mu.Unlock()
}

// HangTokens makes the next n token requests (the OAuth endpoint, STS,
// the metadata server's token) be taken and never answered, as behind a
// firewall that drops the answers: each ends when its client gives up.
func (s *Server) HangTokens(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hangTokens = n
}

// hangToken holds a token request that HangTokens says to hang until its
// client gives up, and reports whether it did.
func (s *Server) hangToken(r *http.Request) bool {
	s.mu.Lock()
	hang := s.hangTokens > 0
	if hang {
		s.hangTokens--
	}
	s.mu.Unlock()
	if hang {
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
	}
	return hang
}

// grant is what an access token stands for: who it acts as, until when,
// and how many API calls it authorised.
type grant struct {
	principal string
	expires   time.Time
	used      int
}

// issueToken makes a new opaque access token of ClientEmail, the
// identity of the key file and the metadata server. Call with s.mu held.
func (s *Server) issueToken() (string, time.Duration) {
	return s.issueTokenFor(ClientEmail, s.tokenLifetime), s.tokenLifetime
}

// issueTokenFor makes a new opaque access token of principal that lives
// life. Call with s.mu held.
func (s *Server) issueTokenFor(principal string, life time.Duration) string {
	tok := "ya29.emu." + randomHex(24)
	s.tokens[tok] = &grant{principal: principal, expires: s.now().Add(life)}
	return tok
}

// validToken reports whether tok was issued here and has not expired,
// and whom it acts as.
func (s *Server) validToken(tok string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.tokens[tok]
	if !ok || !s.now().Before(g.expires) {
		return "", false
	}
	return g.principal, true
}

// useToken counts an API call tok authorised.
func (s *Server) useToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.tokens[tok]; g != nil {
		g.used++
	}
}

// TokensUsedBy reports, for each access token of principal that
// authorised Secret Manager calls, how many it authorised: a client that
// refreshes its token shows several.
func (s *Server) TokensUsedBy(principal string) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for tok, g := range s.tokens {
		if g.principal == principal && g.used > 0 {
			out[tok] = g.used
		}
	}
	return out
}

// RejectedTokens counts the Secret Manager calls that presented an
// access token the emulator did not issue or that had expired.
func (s *Server) RejectedTokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected
}

// IssuedTokensOf lists the access tokens the emulator issued to
// principal.
func (s *Server) IssuedTokensOf(principal string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for tok, g := range s.tokens {
		if g.principal == principal {
			out = append(out, tok)
		}
	}
	return out
}

// ExpiryOf returns when the access token tok expires, to the nanosecond
// (the IAM answer's expireTime is in whole seconds), and whether the
// emulator issued it.
func (s *Server) ExpiryOf(tok string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.tokens[tok]
	if !ok {
		return time.Time{}, false
	}
	return g.expires, true
}

// IssuedTokens lists every access token the emulator issued, for leak
// audits.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tokens))
	for tok := range s.tokens {
		out = append(out, tok)
	}
	return out
}

// writeJSON sends v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
