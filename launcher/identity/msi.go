package identity

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wardsecrets/ward/resolve/azure"
)

// AzurePath is the endpoint's path: the request target of
// IDENTITY_ENDPOINT.
const AzurePath = "/ward/azure/msi/token"

// azureAPIVersion is the managed identity API version App Service serves
// on IDENTITY_ENDPOINT and the SDKs ask for.
const azureAPIVersion = "2019-08-01"

// AzureStripped are the variables that would make azidentity's default
// chain (or MSAL, or the Azure CLI) take a credential from elsewhere than
// ward's endpoint: a service principal's secret, certificate or password,
// a workload identity token file, another managed identity endpoint
// (App Service, Service Fabric, Azure ML, Cloud Shell, Arc) and a
// user-assigned identity's id, which ward's endpoint does not serve, and
// the chain's narrowing to other credentials. None is inherited by the
// child when ward serves its Azure identity; one the manifest declares
// under env: still reaches it.
var AzureStripped = []string{
	"AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN",
	"AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_ID", "AZURE_TENANT_ID",
	"AZURE_TOKEN_CREDENTIALS", "AZURE_ADDITIONALLY_ALLOWED_TENANTS",
	"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET",
	"IMDS_ENDPOINT", "DEFAULT_IDENTITY_CLIENT_ID",
}

// AzureConfig is what an Azure endpoint is started with.
type AzureConfig struct {
	Log *slog.Logger
}

// AzureEndpoint serves access tokens on 127.0.0.1 as App Service's
// managed identity endpoint does (API version 2019-08-01): GET
// IDENTITY_ENDPOINT?resource=R&api-version=2019-08-01 with the header
// X-IDENTITY-HEADER: IDENTITY_HEADER. It serves the resources it has a
// cache for, each token refreshed ahead of expiry.
type AzureEndpoint struct {
	caches map[string]*Cache // by resource, without a trailing "/"
	log    *slog.Logger
	ln     net.Listener
	srv    *server
	// header is IDENTITY_HEADER; headerSum its SHA-256, compared in
	// constant time.
	header    string
	headerSum [32]byte

	served  atomic.Int64
	refused refusals
}

// ServeAzure serves the filled caches, one per resource (keyed by the
// resource, e.g. https://vault.azure.net).
func ServeAzure(caches map[string]*Cache, cfg AzureConfig) (*AzureEndpoint, error) {
	if len(caches) == 0 {
		return nil, errors.New("serve the azure endpoint: no resource")
	}
	byResource := map[string]*Cache{}
	var loops []func(context.Context)
	for r, c := range caches {
		if c.current() == nil {
			return nil, fmt.Errorf("serve the azure endpoint: no token for %s yet", r)
		}
		byResource[azure.ResourceKey(r)] = c
		loops = append(loops, c.Run)
	}
	secret, err := newSecret()
	if err != nil {
		return nil, fmt.Errorf("make the azure endpoint's IDENTITY_HEADER: %w", err)
	}
	ln, err := listenLoopback("azure")
	if err != nil {
		return nil, err
	}
	log := orDiscard(cfg.Log)
	e := &AzureEndpoint{caches: byResource, log: log, ln: ln, header: string(secret), headerSum: sha256.Sum256(secret)}
	e.srv = startServer("azure", ln, log, func(_ net.Conn, req request, err error) response { return e.answer(req, err) }, loops...)
	return e, nil
}

// Env is what the child's environment gets: the endpoint and its header.
// The header is a secret, and the protocol wants it in the environment:
// azidentity, MSAL and the other SDKs read IDENTITY_HEADER and nothing
// else (there is no file form, as AWS has), so the child's environment,
// which only its user and root can read (/proc/PID/environ), holds it.
func (e *AzureEndpoint) Env() []string {
	return []string{"IDENTITY_ENDPOINT=" + e.URL(), "IDENTITY_HEADER=" + e.header}
}

// Header is IDENTITY_HEADER, the secret a request must carry.
func (e *AzureEndpoint) Header() string { return e.header }

// URL is the endpoint's address.
func (e *AzureEndpoint) URL() string { return "http://" + e.ln.Addr().String() + AzurePath }

// Addr is where the endpoint listens.
func (e *AzureEndpoint) Addr() net.Addr { return e.ln.Addr() }

// Caches are the tokens the endpoint serves, by resource.
func (e *AzureEndpoint) Caches() map[string]*Cache { return e.caches }

// Served counts the requests answered with a token.
func (e *AzureEndpoint) Served() int64 { return e.served.Load() }

// Close stops serving and refreshing, and waits for both to end.
func (e *AzureEndpoint) Close() error { return e.srv.close() }

// answer decides the response to a request. The header is checked first:
// without it, a client learns nothing, not even which resources ward
// serves.
func (e *AzureEndpoint) answer(req request, err error) response {
	switch {
	case errors.Is(err, errHeadTooLarge):
		return msiError(431, "request head larger than 8 KiB")
	case err != nil:
		return msiError(400, err.Error())
	case !e.authorized(req.headers["x-identity-header"]):
		e.refused.note(e.log, "azure", reasonToken(len(req.headers["x-identity-header"]) == 0))
		return msiError(401, "The X-IDENTITY-HEADER header is missing or invalid: it must hold IDENTITY_HEADER.")
	case req.method != "GET":
		r := msiError(405, "GET only")
		r.allow = "GET"
		return r
	case req.path != AzurePath:
		return msiError(404, "no such path: use IDENTITY_ENDPOINT")
	case req.body:
		return msiError(400, "a GET with a body")
	}
	q, qerr := url.ParseQuery(req.query)
	if qerr != nil {
		return msiError(400, "malformed query")
	}
	if v := q.Get("api-version"); v != azureAPIVersion {
		return msiError(400, "The api-version is missing or not supported: ward serves "+azureAPIVersion+".")
	}
	for _, id := range []string{"client_id", "mi_res_id", "object_id", "principal_id"} {
		if q.Get(id) != "" {
			return msiError(400, "Unable to load the proper Managed Identity: ward serves its own identity only, not a user-assigned one named by "+id+" (drop AZURE_CLIENT_ID from the program's environment)")
		}
	}
	resource := q.Get("resource")
	if resource == "" {
		return msiError(400, "The resource parameter is missing.")
	}
	cache := e.caches[azure.ResourceKey(resource)]
	if base, scope := azure.ScopeResource(resource); cache == nil && scope {
		return msiError(400, fmt.Sprintf("%q is a scope: ask for its resource, %q (served: %s)", resource, base, strings.Join(e.resources(), ", ")))
	}
	if cache == nil {
		return msiError(400, fmt.Sprintf("ward serves no token for resource %q: list it in identity.azure.resources (serves %s)", resource, strings.Join(e.resources(), ", ")))
	}
	cur, ok := cache.Current()
	if !ok {
		return msiError(503, "the token expired and ward cannot refresh it yet: see ward's log")
	}
	doc := map[string]string{
		"access_token": cur.Token,
		"expires_on":   strconv.FormatInt(cur.Expires.Unix(), 10),
		"resource":     resource,
		"token_type":   "Bearer",
	}
	if cur.ClientID != "" {
		doc["client_id"] = cur.ClientID
	}
	body, jerr := json.Marshal(doc)
	if jerr != nil {
		return msiError(503, "the token cannot be encoded")
	}
	e.served.Add(1)
	e.log.Debug("azure token served", "resource", resource, "identity", cur.Identity, "expires_in", time.Until(cur.Expires).Round(time.Second).String())
	return response{status: 200, body: body}
}

// authorized compares the one X-IDENTITY-HEADER value with the secret,
// in constant time.
func (e *AzureEndpoint) authorized(values []string) bool {
	if len(values) != 1 {
		return false
	}
	sum := sha256.Sum256([]byte(values[0]))
	return subtle.ConstantTimeCompare(sum[:], e.headerSum[:]) == 1
}

func (e *AzureEndpoint) resources() []string { return slices.Sorted(maps.Keys(e.caches)) }

// msiError is an error in App Service's shape: statusCode and message.
func msiError(status int, msg string) response {
	b, _ := json.Marshal(map[string]any{"statusCode": status, "message": msg})
	return response{status: status, body: b}
}
