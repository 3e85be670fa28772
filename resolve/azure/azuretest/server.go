// Package azuretest is an in-process emulator of the parts of Azure that
// ward's Azure Key Vault store talks to, for tests only: a key vault, the
// Microsoft identity platform (v2.0) token endpoint that azidentity reaches
// through AZURE_AUTHORITY_HOST, and an App Service managed identity
// endpoint. Azure cannot be reached from the test machines; the real
// azsecrets and azidentity packages talk to this emulator unmodified,
// configured only through environment variables, a trusted CA file and
// ward's own settings.
//
// It follows the documented wire protocols: Key Vault's REST API
// (GET /secrets/{name}[/{version}], the JSON secret bundle with
// attributes in Unix seconds, nbf and exp among them: a version outside
// their window is served, as Key Vault documents; the
// {"error":{"code","message","innererror"}} error bodies, 401 bearer
// challenges, 403 refusals by RBAC and by the vault's network settings,
// 429 with Retry-After), the OAuth 2.0
// client credentials grant of Microsoft Entra ID with a client secret or a
// client assertion (RFC 7523; the federated tokens of workload identity),
// the tenant's OpenID configuration and AAD instance discovery, and the
// App Service managed identity protocol (IDENTITY_ENDPOINT and
// IDENTITY_HEADER, API version 2019-08-01).
//
// Not emulated: writing secrets through the API, the versions list and
// other operations (400 BadParameter), certificates and keys, client
// certificates as credentials, access tokens as JWTs (they are opaque
// strings the emulator remembers), IMDS, and any RBAC beyond Deny.
//
// Typical use:
//
//	ca, _ := azuretest.NewCA(dir)          // in TestMain
//	os.Setenv("SSL_CERT_FILE", ca.File())  // before anything loads the roots
//	...
//	srv := azuretest.New(t, ca)
//	version := srv.SetSecret("db-password", "s3cret")
//	ref := "azkv://" + srv.VaultHost() + "/db-password"
//	cmd.Env = append(os.Environ(), srv.Env()...)
package azuretest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/azure"
)

// Fixed identities of the emulated directory.
const (
	// TenantID is the directory's tenant.
	TenantID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	// ClientID is the application that authenticates with ClientSecret().
	ClientID = "0b9d3a6e-1f4c-4c4e-9b3e-5a1e2d7c8f01"
	// WorkloadClientID is the application that trusts FederatedIssuer's
	// tokens for FederatedSubject (workload identity).
	WorkloadClientID = "3c8e5f2a-7d61-4b0a-8e4f-9a2b1c0d3e02"
	// FederatedIssuer is the OIDC issuer of the federated tokens
	// FederatedToken makes (an AKS cluster's issuer URL, say).
	FederatedIssuer = "https://oidc.azuretest.invalid/7f3c9a1e/"
	// FederatedSubject is the subject the workload application's federated
	// credential accepts.
	FederatedSubject = "system:serviceaccount:default:ward"
	// FederatedAudience is the audience Entra ID requires of a federated
	// token.
	FederatedAudience = "api://AzureADTokenExchange"
	// VaultResource is the resource (audience) of Key Vault tokens.
	VaultResource = "https://vault.azure.net"
	// VaultName is the name the emulated vault gives itself in messages.
	VaultName = "azuretest"
)

// Routes, as Calls and AuthorizedCalls name them.
const (
	RouteGetSecret         = "GET /secrets/{name}"
	RouteGetSecretVersion  = "GET /secrets/{name}/{version}"
	RouteToken             = "POST /{tenant}/oauth2/v2.0/token"
	RouteOpenIDConfig      = "GET /{tenant}/v2.0/.well-known/openid-configuration"
	RouteInstanceDiscovery = "GET /common/discovery/instance"
	RouteManagedIdentity   = "GET /msi/token"
	RouteOther             = "other"
)

// ClearEnv lists the variables a test must remove before applying one of
// the Env functions' lists: azidentity treats some of them as set even
// when empty (AZURE_FEDERATED_TOKEN_FILE, AZURE_TOKEN_CREDENTIALS,
// AZURE_CLIENT_ID).
var ClearEnv = []string{
	"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
	"AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN",
	"AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST",
	"AZURE_TOKEN_CREDENTIALS", "AZURE_ADDITIONALLY_ALLOWED_TENANTS", "AZURE_REGIONAL_AUTHORITY_NAME",
	"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT",
	"MSI_ENDPOINT", "MSI_SECRET", "MSAL_FORCE_REGION",
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	ca    *CA
	vault *httptest.Server // Key Vault, HTTPS
	entra *httptest.Server // Microsoft Entra ID, HTTPS
	msi   *httptest.Server // App Service managed identity, HTTP on loopback

	clientSecret   string
	identityHeader string
	miClientID     string
	federationKey  *rsa.PrivateKey

	mu         sync.Mutex
	now        func() time.Time
	secrets    map[string]*secret // by lower-case name
	tokens     map[string]grant   // access tokens issued
	used       map[string]int     // by access token, the vault reads it authorised
	rejected   int                // vault reads with an unknown or expired token
	lifetime   time.Duration      // of the access tokens issued from now on
	calls      map[string]int     // by route
	authorized map[string]int     // by route, requests with a valid token
	deny       map[string]bool    // lower-case secret names; "" denies all
	network    string             // a network refusal's inner code, or ""
	throttle   int
	retryAfter time.Duration
	miAssigned bool
	latency    time.Duration
}

// grant is what an access token stands for.
type grant struct {
	resource, tenant, appID string
	expires                 time.Time
}

// New starts an emulator whose HTTPS listeners present certificates ca
// signed; nil makes a CA of its own in a temporary directory (enough for
// child processes, which read SSL_CERT_FILE from Env afresh). The
// emulator closes when tb's test ends.
func New(tb testing.TB, ca *CA) *Server {
	tb.Helper()
	if ca == nil {
		var err error
		if ca, err = NewCA(tb.TempDir()); err != nil {
			tb.Fatal(err)
		}
	}
	cert, err := ca.serverCert()
	if err != nil {
		tb.Fatalf("issue the emulator's certificate: %v", err)
	}
	s := &Server{
		ca:             ca,
		clientSecret:   "azuretest-client-secret-" + randomHex(16),
		identityHeader: randomHex(16),
		miClientID:     newUUID(),
		federationKey:  federationKey(),
		now:            time.Now,
		secrets:        map[string]*secret{},
		tokens:         map[string]grant{},
		used:           map[string]int{},
		lifetime:       tokenLifetime,
		calls:          map[string]int{},
		authorized:     map[string]int{},
		deny:           map[string]bool{},
	}
	s.vault = startTLS(http.HandlerFunc(s.serveVault), cert)
	s.entra = startTLS(http.HandlerFunc(s.serveEntra), cert)
	s.msi = httptest.NewServer(http.HandlerFunc(s.serveManagedIdentity))
	tb.Cleanup(s.Close)
	return s
}

func startTLS(h http.Handler, cert tls.Certificate) *httptest.Server {
	ts := httptest.NewUnstartedServer(h)
	// An HTTP/2 client dials several connections at once and drops the
	// spares mid-handshake; the server would log each one.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ts.StartTLS()
	return ts
}

// Close shuts the listeners down.
func (s *Server) Close() {
	s.vault.Close()
	s.entra.Close()
	s.msi.Close()
}

// VaultHost is the vault's host and port, for azkv://HOST/SECRET.
func (s *Server) VaultHost() string { return strings.TrimPrefix(s.vault.URL, "https://") }

// VaultURL is the vault's URL, https://127.0.0.1:PORT.
func (s *Server) VaultURL() string { return s.vault.URL }

// AuthorityHost is the Entra endpoint, for AZURE_AUTHORITY_HOST.
func (s *Server) AuthorityHost() string { return s.entra.URL + "/" }

// CAFile is the CA certificate file, for SSL_CERT_FILE.
func (s *Server) CAFile() string { return s.ca.File() }

// ClientSecret is the secret of application ClientID.
func (s *Server) ClientSecret() string { return s.clientSecret }

// Env returns the environment that makes azidentity's default chain
// authenticate as application ClientID with its client secret: the
// tenant, the client, the secret, the authority host and the CA file. It
// also points the managed identity credential at the emulator's App
// Service endpoint, so that a chain that gets that far never probes the
// real IMDS address. Remove ClearEnv from the inherited environment first
// (later entries win in os/exec, but an empty AZURE_FEDERATED_TOKEN_FILE
// is not an absent one).
func (s *Server) Env() []string {
	return append(s.baseEnv(), "AZURE_CLIENT_ID="+ClientID, "AZURE_CLIENT_SECRET="+s.clientSecret)
}

// WorkloadIdentityEnv returns the environment the Azure workload identity
// webhook (AKS) or a CI job's OIDC step sets up: application
// WorkloadClientID, with its federated token in tokenFile (write one from
// FederatedToken there).
func (s *Server) WorkloadIdentityEnv(tokenFile string) []string {
	return append(s.baseEnv(), "AZURE_CLIENT_ID="+WorkloadClientID, "AZURE_FEDERATED_TOKEN_FILE="+tokenFile)
}

// ManagedIdentityEnv returns the environment of an App Service app with a
// managed identity and nothing else; AssignManagedIdentity makes its token
// requests succeed, for the system-assigned identity or, with
// AZURE_CLIENT_ID=ManagedIdentityClientID() added, the user-assigned one.
// MSAL caches managed identity tokens per process and identity, across
// emulators: each emulator's user-assigned identity is new, but the
// system-assigned one is the same in every emulator, so a token for it
// that one emulator issued is offered, and refused, at the next.
func (s *Server) ManagedIdentityEnv() []string {
	return []string{
		"SSL_CERT_FILE=" + s.CAFile(),
		"AZURE_AUTHORITY_HOST=" + s.AuthorityHost(),
		"IDENTITY_ENDPOINT=" + s.msi.URL + "/msi/token",
		"IDENTITY_HEADER=" + s.identityHeader,
		// The vault, 127.0.0.1:PORT, is outside the domain of its
		// challenge (https://vault.azure.net), as a private endpoint's
		// custom name is: the environment lists it for ward.
		azure.VaultHostsVar + "=" + s.VaultHost(),
	}
}

func (s *Server) baseEnv() []string {
	return append(s.ManagedIdentityEnv(), "AZURE_TENANT_ID="+TenantID)
}

// SetClock replaces the emulator's clock (time.Now), which stamps the
// created and updated times of secrets.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// Deny makes the vault refuse the caller any read of the named secret
// ("" for every secret) as Azure RBAC does when no role grants
// Microsoft.KeyVault/vaults/secrets/getSecret/action: 403 Forbidden,
// inner error ForbiddenByRbac.
func (s *Server) Deny(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny[strings.ToLower(name)] = true
}

// The network refusals RefuseNetwork emulates: the vault's inner error
// codes.
const (
	// ForbiddenByFirewall: the vault's firewall allows selected networks,
	// and the caller's address is not among them.
	ForbiddenByFirewall = "ForbiddenByFirewall"
	// ForbiddenByConnection: the vault's public network access is
	// disabled, and the call did not come through its private endpoint.
	ForbiddenByConnection = "ForbiddenByConnection"
)

// RefuseNetwork makes the vault refuse every authenticated read as its
// network settings do: code is ForbiddenByFirewall or
// ForbiddenByConnection, "" to allow every network again. Key Vault
// answers 403 Forbidden with the code as the inner error, after it has
// authenticated the caller (the message names it).
func (s *Server) RefuseNetwork(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.network = code
}

// Throttle makes the vault answer the next n authorized secret reads with
// 429 Too Many Requests (code Throttled) and Retry-After, in whole
// seconds, of retryAfter rounded up.
func (s *Server) Throttle(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle, s.retryAfter = n, retryAfter
}

// SetLatency makes the vault wait d before answering each request, as a
// vault in another region would.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// RevokeTokens makes the vault reject every access token issued so far,
// as it does a token whose identity was deleted: 401 Unauthorized with a
// new challenge.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// SetTokenLifetime sets how long the access tokens issued from now on
// last (an hour by default): Entra ID's lifetime policies allow as little
// as ten minutes, tests less.
func (s *Server) SetTokenLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lifetime = d
}

// TokensUsedBy reports, for each access token of application appID that
// authorised vault reads, how many it authorised: a client that
// refreshes its token shows several.
func (s *Server) TokensUsedBy(appID string) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for tok, n := range s.used {
		if s.tokens[tok].appID == appID {
			out[tok] = n
		}
	}
	return out
}

// RejectedTokens counts the vault reads that presented an access token
// the vault refused: one the emulator did not issue, an expired one, or
// one for another audience or tenant (the SDK then fetches a new token
// and sends the read again, so the caller may not see it).
func (s *Server) RejectedTokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected
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

// tokenLife is the lifetime of a token issued now.
func (s *Server) tokenLife() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lifetime
}

// ManagedIdentityClientID is the client id of the emulator's managed
// identity, a new one for each emulator.
func (s *Server) ManagedIdentityClientID() string { return s.miClientID }

// AssignManagedIdentity gives the emulated App Service its managed
// identity, ManagedIdentityClientID(), both as the system-assigned identity
// and by client id; without it the managed identity endpoint answers as
// App Service does for an identity it cannot load.
func (s *Server) AssignManagedIdentity() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.miAssigned = true
}

// Calls reports how many requests a route received, counting refused and
// failed ones (the unauthenticated first request that draws Key Vault's
// challenge included).
func (s *Server) Calls(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[route]
}

// AuthorizedCalls reports how many requests to a Key Vault route carried
// an access token the emulator accepted: the reads the vault answered,
// throttled or refused ones included.
func (s *Server) AuthorizedCalls(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authorized[route]
}

func (s *Server) count(route string) {
	s.mu.Lock()
	s.calls[route]++
	s.mu.Unlock()
}

// issueToken records and returns a new opaque access token.
func (s *Server) issueToken(g grant) string {
	tok := "azuretest-at-" + randomHex(24)
	s.mu.Lock()
	s.tokens[tok] = g
	s.mu.Unlock()
	return tok
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

var (
	federationKeyOnce sync.Once
	federationRSA     *rsa.PrivateKey
)

// federationKey is the OIDC issuer's signing key, made once per process:
// RSA key generation is slow enough to notice in every test.
func federationKey() *rsa.PrivateKey {
	federationKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		federationRSA = k
	})
	return federationRSA
}
