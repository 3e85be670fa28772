package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/auth"
	googlecreds "cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/auth/httptransport"
	"cloud.google.com/go/compute/metadata"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/bodylimit"
)

// scope is the OAuth scope of Secret Manager.
const scope = "https://www.googleapis.com/auth/cloud-platform"

// credentials is what Application Default Credentials found, and the
// authenticated HTTP client made from it.
type credentials struct {
	client *http.Client
	// source says where the credentials came from, for messages: never
	// a key or a token, at most a file's path.
	source string
	// identity names the principal where the credentials say (a service
	// account's email); empty otherwise.
	identity string
	// kind is the credential file's type, or "metadata".
	kind string
	// universe is the domain of the universe the credentials belong to:
	// googleapis.com, or a sovereign cloud's.
	universe string
}

// findCredentials runs Application Default Credentials and fetches a
// first access token, so that a credential that cannot work fails here
// with a message saying what was found and what it needs.
//
// Credentials are detected with scopes and without UseSelfSignedJWT, the
// way google.golang.org/api's own clients do: a service account key then
// goes through the OAuth token exchange at its token_uri (a JWT bearer
// assertion signed with the key, RFC 7523) rather than signing JWTs for
// the API itself. That is the flow every Google token endpoint, private
// or emulated, serves, and it fails here, at set-up, when the key is
// revoked, rather than at the first call.
func (s *Store) findCredentials(ctx context.Context) (*credentials, error) {
	c := &credentials{}
	c.source, c.kind = adcSource()
	var creds *auth.Credentials
	var err error
	if c.kind == "metadata" {
		creds = metadataCredentials()
	} else {
		creds, err = googlecreds.DetectDefault(&googlecreds.DetectOptions{
			Scopes: []string{scope},
			Logger: discard,
		})
		if err == nil {
			creds, err = boundExecutable(creds)
		}
	}
	if err != nil {
		if c.kind == "" {
			return nil, fmt.Errorf("no Google credentials found: set GOOGLE_APPLICATION_CREDENTIALS to a service account key or workload identity federation file, run \"gcloud auth application-default login\", or run on Google Cloud with a service account attached: %w", err)
		}
		return nil, fmt.Errorf("load the Google credentials in %s: %w", c.source, err)
	}
	if c.kind != "metadata" {
		c.kind, c.identity = describeJSON(creds.JSON())
	}
	// The endpoint the library talked to last, for the message when
	// the token fails: the auth library's errors name it only for a
	// connection that failed.
	var host lastHost
	if _, err := creds.Token(httptrace.WithClientTrace(ctx, host.trace())); err != nil {
		if tl, eo := (*bodylimit.TooLargeError)(nil), (*ExecutableOutputError)(nil); errors.As(err, &tl) || errors.As(err, &eo) {
			// Not the hint: the source is there, and something
			// else answered for it.
			return nil, fmt.Errorf("get a Google access token with %s: %w", c.source, err)
		}
		return nil, fmt.Errorf("get a Google access token with %s: %s", c.source, authFailure(err, host.get(), c.kind))
	}
	// Credentials of another universe (a sovereign cloud) work only at
	// that universe's endpoints; the transport refuses to send them
	// elsewhere.
	c.universe, err = creds.UniverseDomain(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the universe domain of the Google credentials in %s: %w", c.source, err)
	}
	headers := http.Header{}
	if s.opts.QuotaProject != "" {
		headers.Set("X-Goog-User-Project", s.opts.QuotaProject)
	}
	c.client, err = httptransport.NewClient(&httptransport.Options{
		Credentials:      creds,
		Headers:          headers,
		UniverseDomain:   c.universe,
		BaseRoundTripper: baseTransport(),
		DisableTelemetry: true,
		Logger:           discard,
	})
	if err != nil {
		return nil, fmt.Errorf("make the Google API client: %w", err)
	}
	s.log.Debug("google credentials ready", "store", "gcp", "source", c.source, "identity", c.identity)
	return c, nil
}

// lastHost is the host:port of the last connection an HTTP client asked
// for under its trace.
type lastHost struct {
	mu   sync.Mutex
	host string
}

func (h *lastHost) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{GetConn: func(hostPort string) {
		h.mu.Lock()
		h.host = hostPort
		h.mu.Unlock()
	}}
}

func (h *lastHost) get() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.host
}

// metadataCredentials are the credentials of the service account
// attached to the VM, pod or service, from the metadata server, as
// googlecreds.DetectDefault makes them there, but through a metadata
// client of ward's: DetectDefault's reads each answer whole, unbounded
// (5 s at most): a metadata server, or something at GCE_METADATA_HOST,
// that answered 200 with a body that never ends grew ward-gcp by
// gigabytes, and DetectDefault takes no client for it.
func metadataCredentials() *auth.Credentials {
	mc := metadata.NewWithOptions(&metadata.Options{Client: &http.Client{
		// The metadata library's own client: no proxy (the server is
		// link-local), a short dial, 5 s a request.
		Transport: bodylimit.Transport(&http.Transport{
			DialContext:     (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			IdleConnTimeout: 60 * time.Second,
		}, bodylimit.Max),
		Timeout: 5 * time.Second,
	}, Logger: discard})
	return auth.NewCredentials(&auth.CredentialsOptions{
		TokenProvider:     auth.NewCachedTokenProvider(metadataToken{mc}, nil),
		ProjectIDProvider: auth.CredentialsPropertyFunc(mc.ProjectIDWithContext),
		UniverseDomainProvider: auth.CredentialsPropertyFunc(func(ctx context.Context) (string, error) {
			ctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			u, err := mc.GetWithContext(ctx, "universe/universe-domain")
			if _, ok := err.(metadata.NotDefinedError); ok {
				return defaultUniverse, nil
			}
			return u, err
		}),
	})
}

// metadataToken is the default service account's access token, for the
// cloud-platform scope, as the auth library's compute provider asks it.
type metadataToken struct{ mc *metadata.Client }

func (m metadataToken) Token(ctx context.Context) (*auth.Token, error) {
	body, err := m.mc.GetWithContext(ctx, "instance/service-accounts/default/token?"+url.Values{"scopes": {scope}}.Encode())
	if err != nil {
		return nil, fmt.Errorf("credentials: cannot fetch token: %w", err)
	}
	var res struct {
		AccessToken  string `json:"access_token"`
		ExpiresInSec int    `json:"expires_in"`
		TokenType    string `json:"token_type"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		// Not the error: it may quote the answer, a token.
		return nil, errors.New("credentials: the metadata server's token answer is not JSON")
	}
	if res.ExpiresInSec == 0 || res.AccessToken == "" {
		return nil, errors.New("credentials: incomplete token received from metadata")
	}
	return &auth.Token{
		Value:  res.AccessToken,
		Type:   res.TokenType,
		Expiry: time.Now().Add(time.Duration(res.ExpiresInSec) * time.Second),
	}, nil
}

// inUniverse is url, an endpoint of Google's public cloud or one the
// manifest gives, moved to the universe of the credentials: the default
// universe's domain, googleapis.com, replaced by theirs.
func (c *credentials) inUniverse(url string) string {
	if c.universe == "" || c.universe == defaultUniverse {
		return url
	}
	return strings.Replace(url, "."+defaultUniverse+"/", "."+c.universe+"/", 1)
}

// defaultUniverse is the universe domain of Google's public cloud.
const defaultUniverse = "googleapis.com"

// adcSource says which credentials Application Default Credentials will
// pick, in its own order, without reading them: the message when they
// fail names where they came from.
func adcSource() (source, kind string) {
	if f := os.Getenv("GOOGLE_APPLICATION_CREDENTIALS"); f != "" {
		return "the credentials file GOOGLE_APPLICATION_CREDENTIALS=" + f, "file"
	}
	if f := wellKnownFile(); f != "" {
		if _, err := os.Stat(f); err == nil {
			return "gcloud's application default credentials (" + f + ")", "file"
		}
	}
	if h := os.Getenv("GCE_METADATA_HOST"); h != "" {
		return "the metadata server at GCE_METADATA_HOST=" + h, "metadata"
	}
	if googlecreds.OnGCE() {
		return "the metadata server (the service account attached to this VM, pod or service)", "metadata"
	}
	return "", ""
}

// wellKnownFile is where "gcloud auth application-default login" writes
// its credentials.
func wellKnownFile() string {
	if runtime.GOOS == "windows" {
		return filepath.Join(os.Getenv("APPDATA"), "gcloud", "application_default_credentials.json")
	}
	home := os.Getenv("HOME")
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".config", "gcloud", "application_default_credentials.json")
}

// describeJSON reads the type of a credentials file and the principal it
// names, and nothing else: the file holds a key or a refresh token.
func describeJSON(b []byte) (kind, identity string) {
	var f struct {
		Type          string `json:"type"`
		ClientEmail   string `json:"client_email"`
		Impersonation string `json:"service_account_impersonation_url"`
		Audience      string `json:"audience"`
	}
	if json.Unmarshal(b, &f) != nil {
		return "", ""
	}
	switch {
	case f.ClientEmail != "":
		identity = "service account " + f.ClientEmail
	case f.Impersonation != "":
		// .../projects/-/serviceAccounts/NAME@PROJECT.iam.gserviceaccount.com:generateAccessToken
		sa := f.Impersonation[strings.LastIndex(f.Impersonation, "/")+1:]
		identity = "service account " + strings.TrimSuffix(sa, ":generateAccessToken")
	case f.Type == "external_account":
		identity = "the workload identity pool principal of " + f.Audience
	case f.Type == "authorized_user":
		identity = "the user who ran gcloud auth application-default login"
	}
	return f.Type, identity
}

// tokenHint says what to check when a credential of kind could not get a
// token.
func tokenHint(kind string) string {
	switch kind {
	case "service_account":
		return "check that the service account and its key exist and are enabled, and that the machine's clock is right"
	case "external_account":
		return "check the subject token (is the file fresh, is it the identity provider's token?) and that the workload identity pool provider accepts it (audience, attribute condition)"
	case "authorized_user":
		return "run \"gcloud auth application-default login\" again"
	case "impersonated_service_account":
		return "check that the source identity holds roles/iam.serviceAccountTokenCreator on the target service account"
	case "metadata":
		return "check that a service account is attached to the VM, pod or service, with the cloud-platform scope"
	}
	return "check the credentials Application Default Credentials found"
}

// authFailure renders a failure to get an access token, and what to
// check. host is the endpoint the library's last request went to, when
// ward knows it ("" else).
func authFailure(err error, host, kind string) string {
	msg, status := sanitizeAuth(err, host)
	if status >= 500 {
		return msg + ": the endpoint failed on its side: try again later, and check that the token URL of the credentials is the token endpoint's"
	}
	if status == 404 {
		// No token endpoint at that URL: the key is not at fault.
		return msg + ": check the token URL the credentials name (token_uri, token_url), and a proxy between"
	}
	if status == 0 && errors.Is(err, context.DeadlineExceeded) {
		// Taken and never answered: neither the key nor the account
		// is at fault.
		if kind == "metadata" {
			return msg + ": the metadata server did not answer within stores.gcp.timeout: check that it is reachable (GCE_METADATA_HOST) and not behind a proxy that holds the request"
		}
		return msg + ": the token endpoint did not answer within stores.gcp.timeout: check the network, a proxy (HTTPS_PROXY), and the token URL the credentials name"
	}
	var ne net.Error
	var oe *net.OpError
	if status == 0 && kind != "metadata" && (errors.As(err, &oe) || errors.As(err, &ne)) {
		// No answer at all: the key is not at fault (it was said to be,
		// of a refused connection).
		return msg + ": the token endpoint could not be reached: check the network, a proxy (HTTPS_PROXY), and the token URL the credentials name"
	}
	return msg + ": " + tokenHint(kind)
}

// statusFailed is how the auth library says that the Security Token
// Service or IAM Credentials answered with an error status, going on
// with the whole answer (up to 1 MiB).
var statusFailed = regexp.MustCompile(`(?s)credentials: status code (\d+): (.*)$`)

// sanitizeAuth renders an authentication error without what a token
// endpoint's answer may hold: for an OAuth error only its status, error
// code and description, naming the endpoint's host; and the status. host
// is the endpoint the library's last request went to, when ward knows it.
func sanitizeAuth(err error, host string) (string, int) {
	var ae *auth.Error
	var status int
	var body []byte
	msg := hideExecutableOutput(err).Error()
	switch m := statusFailed.FindStringSubmatchIndex(msg); {
	case errors.As(err, &ae):
		if ae.Response != nil {
			status = ae.Response.StatusCode
			if ae.Response.Request != nil && ae.Response.Request.URL != nil {
				host = ae.Response.Request.URL.Host
			}
		}
		body = ae.Body
		msg = ""
	case m != nil:
		status, _ = strconv.Atoi(msg[m[2]:m[3]])
		body = []byte(msg[m[4]:m[5]])
		msg = strings.TrimSuffix(strings.TrimPrefix(msg[:m[0]], "credentials: "), ": ")
		if msg != "" {
			msg += ": "
		}
	default:
		if host != "" && !strings.Contains(msg, host) {
			msg += " (at " + host + ")"
		}
		return msg, 0
	}
	endpoint := "the token endpoint"
	if host != "" {
		endpoint += " at " + host
	}
	msg += endpoint + " refused"
	if status != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", status)
	}
	var answer struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	switch {
	case json.Unmarshal(body, &answer) == nil && answer.Error != "":
		msg += ": " + answer.Error
		if answer.Description != "" {
			msg += ": " + truncate(answer.Description)
		}
	case ae == nil && len(bytes.TrimSpace(body)) > 0:
		// Not an OAuth error: a proxy's page, a server's word. Its
		// first line, and no more: the library quoted all of it.
		line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
		msg += ": " + truncate(line)
	}
	return msg, status
}

// executableParseFailed is how the auth library starts its message for an
// executable-sourced subject token's output it cannot parse, which it goes
// on to quote whole.
const executableParseFailed = "credentials: unable to parse "

// hideExecutableOutput is err without the output of an external_account
// file's executable (pluggable auth) that the library could not parse (a
// log line before the JSON): the library's message quotes all of it, the
// subject token among them. errors.Is and errors.As still see err.
func hideExecutableOutput(err error) error {
	msg := err.Error()
	i := strings.Index(msg, executableParseFailed)
	if i < 0 {
		return err
	}
	return resolve.Retold(msg[:i]+"the executable's output is not the JSON Google documents for executable-sourced credentials (only that JSON on stdout: version, success, token_type, id_token or saml_response, expiration_time); ward does not repeat it, as it holds the subject token", err)
}

func truncate(s string) string {
	const max = 300
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
