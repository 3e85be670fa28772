package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// GCPStripped are the variables that would make a Google library take its
// credentials from elsewhere than ward's metadata endpoint: a credentials
// file, gcloud's configuration and its overrides, another metadata
// server, the switches that skip the metadata server, and the variables
// tools such as Terraform read a key or a token from. None is inherited
// by the child when ward serves its Google identity; one the manifest
// declares under env: still reaches it.
var GCPStripped = []string{
	"GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_API_CERTIFICATE_CONFIG",
	"CLOUDSDK_CONFIG", "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE",
	"CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT", "CLOUDSDK_CORE_ACCOUNT",
	"GCE_METADATA_HOST", "GCE_METADATA_IP", "GCE_METADATA_ROOT", "NO_GCE_CHECK", "METADATA_SERVER_DETECTION",
	"GOOGLE_CREDENTIALS", "GOOGLE_CLOUD_KEYFILE_JSON", "GCLOUD_KEYFILE_JSON", "GOOGLE_OAUTH_ACCESS_TOKEN",
	"GOOGLE_IMPERSONATE_SERVICE_ACCOUNT",
}

// gcpRoot is the metadata server's API root.
const gcpRoot = "/computeMetadata/v1/"

// GCPConfig is what a Google Cloud endpoint is started with.
type GCPConfig struct {
	// Project is the project id the endpoint serves at
	// project/project-id ("" answers 404 there).
	Project string
	// ConfigDir makes an empty directory in ward's private directory and
	// returns its path: the child's CLOUDSDK_CONFIG, so that gcloud and
	// the libraries that read gcloud's application default credentials
	// from it find none.
	ConfigDir func() (string, error)
	Log       *slog.Logger
}

// GCPEndpoint serves a service account's access token on 127.0.0.1 as
// the GCE metadata server does, to the libraries that GCE_METADATA_HOST
// points at it. It serves the subset Google's libraries read for
// credentials: the token, the account's email, aliases and scopes (one
// by one, or as a recursive directory), the project id and the universe
// domain, and the directory listings that libraries probe. Requests must
// carry Metadata-Flavor: Google, no X-Forwarded-For and no Host but
// 127.0.0.1 (loopbackHost), and, on Linux,
// come from a socket of ward's own user (see samePeerUser).
type GCPEndpoint struct {
	cache     *Cache
	log       *slog.Logger
	ln        net.Listener
	srv       *server
	project   string
	configDir string

	served  atomic.Int64
	refused refusals
}

// ServeGCP serves a cache that Fill filled with a service account's
// token.
func ServeGCP(cache *Cache, cfg GCPConfig) (*GCPEndpoint, error) {
	cur := cache.current()
	if cur == nil {
		return nil, errors.New("serve the gcp endpoint: no token yet")
	}
	if cur.Identity == "" {
		return nil, errors.New("serve the gcp endpoint: the token names no service account")
	}
	dir := ""
	if cfg.ConfigDir != nil {
		var err error
		if dir, err = cfg.ConfigDir(); err != nil {
			return nil, fmt.Errorf("make the child's empty gcloud configuration directory: %w", err)
		}
	}
	ln, err := listenLoopback("gcp")
	if err != nil {
		return nil, err
	}
	log := orDiscard(cfg.Log)
	e := &GCPEndpoint{cache: cache, log: log, ln: ln, project: cfg.Project, configDir: dir}
	e.srv = startServer("gcp", ln, log, e.answer, cache.Run)
	return e, nil
}

// Env is what the child's environment gets: the metadata server's host
// for the libraries that read GCE_METADATA_HOST (Go, Java, Node.js,
// google-auth for Python's requests) and GCE_METADATA_IP (google-auth's
// probe of the server), and an empty gcloud configuration directory.
func (e *GCPEndpoint) Env() []string {
	env := []string{"GCE_METADATA_HOST=" + e.Host(), "GCE_METADATA_IP=" + e.Host()}
	if e.configDir != "" {
		env = append(env, "CLOUDSDK_CONFIG="+e.configDir)
	}
	return env
}

// Host is the endpoint's host:port.
func (e *GCPEndpoint) Host() string { return e.ln.Addr().String() }

// Cache is the token the endpoint serves.
func (e *GCPEndpoint) Cache() *Cache { return e.cache }

// Served counts the requests answered with a token.
func (e *GCPEndpoint) Served() int64 { return e.served.Load() }

// Close stops serving and refreshing, and waits for both to end.
func (e *GCPEndpoint) Close() error { return e.srv.close() }

// metadataHeaders are on every answer: the libraries' probes check the
// flavor.
var metadataHeaders = []string{"Metadata-Flavor: Google", "Server: ward"}

// answer decides the response to a request. Who may ask is checked
// first: the connection's owner, a forwarded request, the flavor header.
func (e *GCPEndpoint) answer(conn net.Conn, req request, err error) response {
	if same, checked, perr := samePeerUser(conn); checked && (!same || perr != nil) {
		reason := "a connection from another user"
		if perr != nil {
			reason = "a connection whose owner cannot be found"
		}
		e.refused.note(e.log, "gcp", reason)
		return metadataText(403, "Forbidden: the metadata endpoint serves only processes of the user ward runs as\n")
	}
	switch {
	case errors.Is(err, errHeadTooLarge):
		return metadataText(431, "Request header fields too large\n")
	case err != nil:
		return metadataText(400, "Bad request: "+err.Error()+"\n")
	case len(req.headers["x-forwarded-for"]) > 0:
		e.refused.note(e.log, "gcp", "a forwarded request (X-Forwarded-For)")
		return metadataText(403, "Forbidden: a forwarded request\n")
	case !loopbackHost(req.headers["host"]):
		// A web page whose name a DNS rebinding pointed at 127.0.0.1 is
		// same-origin with the endpoint: the browser, which runs as
		// ward's user, sends Metadata-Flavor without a preflight and
		// reads the answer. It sends the page's Host, never 127.0.0.1.
		e.refused.note(e.log, "gcp", "a Host header other than 127.0.0.1 (DNS rebinding)")
		return metadataText(403, "Forbidden: the Host header must be 127.0.0.1, as GCE_METADATA_HOST names it\n")
	}
	if flavor, ok := req.header("metadata-flavor"); !ok || flavor != "Google" {
		e.refused.note(e.log, "gcp", "no Metadata-Flavor: Google header")
		return metadataText(403, "Missing Metadata-Flavor:Google header.\n")
	}
	switch {
	case req.method != "GET":
		r := metadataText(405, "GET only\n")
		r.allow = "GET"
		return r
	case req.body:
		return metadataText(400, "a GET with a body\n")
	}
	q, qerr := url.ParseQuery(req.query)
	if qerr != nil {
		return metadataText(400, "Bad request: malformed query\n")
	}
	return e.route(req.path, q)
}

// loopbackHost reports whether a request's Host header values name
// 127.0.0.1, with or without a port, as a client given GCE_METADATA_HOST
// sends: one value, or none (an HTTP/1.0 client's).
func loopbackHost(values []string) bool {
	switch len(values) {
	case 0:
		return true
	case 1:
		host := values[0]
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		return host == "127.0.0.1"
	}
	return false
}

// route answers the paths of the subset ward serves.
func (e *GCPEndpoint) route(path string, q url.Values) response {
	recursive := q.Get("recursive") == "true"
	cur, ok := e.cache.Current()
	if !ok {
		return metadataText(503, "The service account's token expired and ward cannot refresh it yet: see ward's log\n")
	}
	email := cur.Identity
	switch path {
	case "/":
		return metadataText(200, "computeMetadata/\n")
	case "/computeMetadata", "/computeMetadata/":
		return metadataText(200, "v1/\n")
	case "/computeMetadata/v1", gcpRoot:
		if recursive {
			return metadataJSON(map[string]any{"instance": e.instance(cur), "project": e.projectDir(), "universe": map[string]any{"universeDomain": "googleapis.com"}})
		}
		return metadataText(200, "instance/\nproject/\nuniverse/\n")
	case gcpRoot + "instance", gcpRoot + "instance/":
		if recursive {
			return metadataJSON(e.instance(cur))
		}
		return metadataText(200, "service-accounts/\n")
	case gcpRoot + "instance/service-accounts", gcpRoot + "instance/service-accounts/":
		if recursive {
			return metadataJSON(e.instance(cur)["serviceAccounts"])
		}
		return metadataText(200, "default/\n"+email+"/\n")
	case gcpRoot + "project", gcpRoot + "project/":
		if recursive {
			return metadataJSON(e.projectDir())
		}
		if e.project == "" {
			return metadataText(200, "")
		}
		return metadataText(200, "project-id\n")
	case gcpRoot + "project/project-id":
		if e.project == "" {
			return notFound()
		}
		return metadataText(200, e.project)
	case gcpRoot + "universe/universe-domain":
		return metadataText(200, "googleapis.com")
	}
	rest, ok := strings.CutPrefix(path, gcpRoot+"instance/service-accounts/")
	if !ok {
		return notFound()
	}
	account, item, _ := strings.Cut(rest, "/")
	if account != "default" && account != email {
		return notFound()
	}
	switch item {
	case "":
		if recursive {
			return metadataJSON(accountInfo(cur))
		}
		return metadataText(200, "aliases\nemail\nscopes\ntoken\n")
	case "email":
		return metadataText(200, email)
	case "aliases":
		return metadataText(200, "default\n")
	case "scopes":
		return metadataText(200, strings.Join(cur.Scopes, "\n")+"\n")
	case "token":
		return e.token(cur)
	}
	// identity (ID tokens) and the rest of the tree are not served.
	return notFound()
}

// token answers the access token in the metadata server's format. Its
// scopes are the source's whatever the request's scopes= asks for:
// libraries ask for cloud-platform, or for an API's own scopes, which
// cloud-platform covers.
func (e *GCPEndpoint) token(cur Credentials) response {
	left := time.Until(cur.Expires)
	// Seconds left, rounded down and at least one: a library that reads
	// 0 takes the answer for incomplete. The cache serves nothing with
	// less than its margin left, so this is seconds at worst.
	secs := max(int64(left/time.Second), 1)
	body, err := json.Marshal(map[string]any{"access_token": cur.Token, "expires_in": secs, "token_type": "Bearer"})
	if err != nil {
		return metadataText(503, "The token cannot be encoded\n")
	}
	e.served.Add(1)
	e.log.Debug("gcp token served", "identity", cur.Identity, "expires_in", left.Round(time.Second).String())
	return response{status: 200, body: body, headers: metadataHeaders}
}

// instance is the instance directory, recursively: its service accounts.
func (e *GCPEndpoint) instance(cur Credentials) map[string]any {
	info := accountInfo(cur)
	return map[string]any{"serviceAccounts": map[string]any{"default": info, cur.Identity: info}}
}

// projectDir is the project directory, recursively.
func (e *GCPEndpoint) projectDir() map[string]any {
	if e.project == "" {
		return map[string]any{}
	}
	return map[string]any{"projectId": e.project}
}

// accountInfo is a service account's directory, as recursive=true
// answers it (never its token).
func accountInfo(cur Credentials) map[string]any {
	return map[string]any{"aliases": []string{"default"}, "email": cur.Identity, "scopes": cur.Scopes}
}

func metadataText(status int, text string) response {
	return response{status: status, body: []byte(text), contentType: "application/text", headers: metadataHeaders}
}

func metadataJSON(v any) response {
	b, err := json.Marshal(v)
	if err != nil {
		return metadataText(503, "cannot encode the answer\n")
	}
	return response{status: 200, body: b, headers: metadataHeaders}
}

func notFound() response { return metadataText(404, "Not Found\n") }
