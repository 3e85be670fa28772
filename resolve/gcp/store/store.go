// Package store reads gcpsm:// references from Google Cloud Secret Manager
// with Google's official REST client, google.golang.org/api/secretmanager/v1,
// and Application Default Credentials: a service account key file or an
// external_account (workload identity federation) file named by
// GOOGLE_APPLICATION_CREDENTIALS, gcloud's application default
// credentials, or the metadata server on Compute Engine, GKE and Cloud Run.
//
// The REST client was chosen over cloud.google.com/go/secretmanager's
// NewRESTClient by measurement: an otherwise empty program that links it
// is 1.7 MB smaller and its package initialisers take about 1 ms less.
// Either is too heavy for ward's core, which is why this package runs in
// a helper program and the reference grammar and settings live in the
// light package gcp.
//
// A read is projects.secrets.versions.access (a regional secret's at the
// regional endpoint); Version is a versions.get, a metadata read without
// the payload. The IAM roles ward's identity needs:
// roles/secretmanager.secretAccessor on each secret (or its project) to
// read, and roles/secretmanager.viewer (or any role with
// secretmanager.versions.get) for the rotation poll's version checks.
package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/api/option"
	secretmanager "google.golang.org/api/secretmanager/v1"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/bodylimit"
	"github.com/wardsecrets/ward/resolve/gcp"
	"github.com/wardsecrets/ward/resolve/proxyconnect"
)

// Store reads secret versions from Secret Manager. It is safe for
// concurrent use.
type Store struct {
	opts gcp.Options
	log  *slog.Logger
	// backoff paces retries; tests shorten it.
	backoff backoff

	setup lazy

	mu       sync.Mutex
	services map[string]*secretmanager.Service // by location, "" for global
	closed   bool
	// readsThrottled is when version checks may be made again, after
	// the read quota ran out.
	readsThrottled time.Time
	// versionsDenied is, by secret name, when its versions may be asked
	// for again after Google refused versions.get.
	versionsDenied map[string]time.Time
	// read is when each version (by the API's name for it, with the
	// project number) was last read: Version tells a version recreated
	// since, under the same number, by its createTime.
	read map[string]time.Time
}

var (
	_ resolve.Store     = (*Store)(nil)
	_ resolve.Versioner = (*Store)(nil)
	_ resolve.Closer    = (*Store)(nil)
)

// New returns a store that has done nothing yet: credentials are found and
// the client made on the first read, so a manifest without gcpsm://
// references, or ward check, never touches the network. log receives
// debug lines about credentials and retries, never a value or a token;
// nil discards them.
func New(opts gcp.Options, log *slog.Logger) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := gcp.TrustedEndpoints(opts, os.Getenv); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{opts: opts, log: log, backoff: defaultBackoff, services: map[string]*secretmanager.Service{}, read: map[string]time.Time{}, versionsDenied: map[string]time.Time{}}, nil
}

// Fetch reads a secret version's payload with
// projects.secrets.versions.access. Secret.Version is the number of the
// version read, also when the reference names latest.
func (s *Store) Fetch(ctx context.Context, ref resolve.Ref) (resolve.Secret, error) {
	if ref.Scheme == gcp.TokenScheme {
		return s.accessToken(ctx, ref)
	}
	res, err := resource(ref)
	if err != nil {
		return resolve.Secret{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.ReadTimeout())
	defer cancel()
	svc, c, err := s.service(ctx, res.Location)
	if err != nil {
		return resolve.Secret{}, err
	}
	var out *secretmanager.AccessSecretVersionResponse
	start := time.Now()
	attempts, err := s.retry(ctx, res, false, func(ctx context.Context) (err error) {
		if res.Location != "" {
			out, err = svc.Projects.Locations.Secrets.Versions.Access(res.Name()).Context(ctx).Do()
		} else {
			out, err = svc.Projects.Secrets.Versions.Access(res.Name()).Context(ctx).Do()
		}
		return err
	})
	if err != nil {
		return resolve.Secret{}, failure{op: opAccess, res: res, creds: c, attempts: attempts, elapsed: time.Since(start)}.wrap(err)
	}
	if out.Payload == nil {
		return resolve.Secret{}, fmt.Errorf("read %s: secret manager answered without a payload", describe(res))
	}
	value, err := decodeData(out.Payload.Data)
	if err != nil {
		return resolve.Secret{}, fmt.Errorf("read %s: secret manager sent data that is not base64: %w", describe(res), err)
	}
	// Google recommends checking the CRC32C it sends. An int64 field
	// reads 0 when it is absent; a true checksum of 0 then goes
	// unchecked, one payload in four billion.
	if out.Payload.DataCrc32c != 0 && int64(crc32.Checksum(value, crc32c)) != out.Payload.DataCrc32c {
		clear(value)
		return resolve.Secret{}, fmt.Errorf("read %s: the data failed its CRC32C check, so it was corrupted on the way and is not used: try again", describe(res))
	}
	version, err := versionNumber(out.Name)
	if err != nil {
		return resolve.Secret{}, fmt.Errorf("read %s: %w", describe(res), err)
	}
	s.mu.Lock()
	s.read[out.Name] = start
	s.mu.Unlock()
	return resolve.Secret{Value: value, Version: version}, nil
}

// Version tells which version the reference names now, with a
// versions.get: a metadata read that never carries the payload, so it
// needs secretmanager.versions.get (roles/secretmanager.viewer) and not
// the accessor role. It returns what Fetch puts in Secret.Version. A
// disabled or destroyed version is an error, as reading it would be.
func (s *Store) Version(ctx context.Context, ref resolve.Ref) (string, error) {
	if ref.Scheme == gcp.TokenScheme {
		return "", errors.New("access tokens have no versions: every read is a new token")
	}
	res, err := resource(ref)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.ReadTimeout())
	defer cancel()
	svc, c, err := s.service(ctx, res.Location)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	until, denied := s.readsThrottled, s.versionsDenied[res.SecretName()]
	s.mu.Unlock()
	switch now := time.Now(); {
	case now.Before(until):
		return "", fmt.Errorf("read the metadata of %s: not asked: %w", describe(res), errReadQuota)
	case now.Before(denied):
		return "", fmt.Errorf("read the metadata of %s: not asked: %w", describe(res), errVersionsDenied)
	}
	var v *secretmanager.SecretVersion
	start := time.Now()
	// A version check is an optimisation, and it counts against Secret
	// Manager's read quota (600 a minute per project, shared by every
	// metadata read in the project), not the access quota (90,000): when
	// the read quota runs out it is not retried, and no more version
	// checks are made for the quota's minute: polls read the values.
	attempts, err := s.retry(ctx, res, true, func(ctx context.Context) (err error) {
		if res.Location != "" {
			v, err = svc.Projects.Locations.Secrets.Versions.Get(res.Name()).Context(ctx).Do()
		} else {
			v, err = svc.Projects.Secrets.Versions.Get(res.Name()).Context(ctx).Do()
		}
		return err
	})
	if throttled(err) {
		s.mu.Lock()
		s.readsThrottled = time.Now().Add(readQuotaWindow)
		s.mu.Unlock()
		s.log.Debug("secret manager's read quota ran out: no version checks for a minute; polls read the values", "store", "gcp", "secret", res.Name())
		api, _ := asAPIError(err)
		return "", fmt.Errorf("read the metadata of %s: %w (%w)", describe(res), errReadQuota, api)
	}
	if api, ok := asAPIError(err); ok && api.code == http.StatusForbidden {
		// The identity may read payloads but not metadata (the accessor
		// role alone, as least privilege has it): asking at every poll
		// changes nothing and costs a request against the read quota.
		s.mu.Lock()
		s.versionsDenied[res.SecretName()] = time.Now().Add(versionsDeniedWindow)
		s.mu.Unlock()
	}
	if err != nil {
		return "", failure{op: opGet, res: res, creds: c, attempts: attempts, elapsed: time.Since(start)}.wrap(err)
	}
	number, err := versionNumber(v.Name)
	if err != nil {
		return "", fmt.Errorf("read the metadata of %s: %w", describe(res), err)
	}
	if v.State != "ENABLED" {
		res.Version = number
		return "", unusable(res, v.State, nil)
	}
	// A secret deleted and created again numbers its versions from 1
	// again: a version created after ward read the one of that number is
	// another, though its number is the same. Its number with its
	// creation time differs from what Fetch returned, so the poll reads
	// it; the next poll finds it read. A local clock behind Google's
	// costs reads of a version younger than the gap, never a restart:
	// the data read is the same.
	s.mu.Lock()
	at, ok := s.read[v.Name]
	s.mu.Unlock()
	if created, err := time.Parse(time.RFC3339Nano, v.CreateTime); ok && err == nil && created.After(at) {
		s.log.Debug("the version was created after ward read the one of its number: the secret was created again", "store", "gcp", "secret", v.Name, "created", v.CreateTime)
		return number + "@" + v.CreateTime, nil
	}
	return number, nil
}

// Close releases the store's idle connections. Reads after Close fail.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.services = map[string]*secretmanager.Service{}
	s.mu.Unlock()
	if c := s.setup.done(); c != nil {
		c.client.CloseIdleConnections()
	}
	return nil
}

// service returns the API client of location's endpoint, setting the
// credentials up on first use.
func (s *Store) service(ctx context.Context, location string) (*secretmanager.Service, *credentials, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, nil, errors.New("the gcp store is closed")
	}
	c, err := s.setup.get(ctx, func(ctx context.Context) (*credentials, error) {
		ctx, cancel := context.WithTimeout(ctx, s.opts.ReadTimeout())
		defer cancel()
		return s.findCredentials(ctx)
	})
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if svc := s.services[location]; svc != nil {
		return svc, c, nil
	}
	// The services share one authenticated client: one token cache and
	// one connection pool for every endpoint.
	svc, err := secretmanager.NewService(ctx, option.WithHTTPClient(c.client), option.WithEndpoint(c.inUniverse(s.opts.BaseURL(location))), option.WithLogger(discard))
	if err != nil {
		return nil, nil, fmt.Errorf("make the secret manager client: %w", err)
	}
	s.services[location] = svc
	return svc, c, nil
}

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// readQuotaWindow is how long version checks pause when Secret Manager's
// read quota, counted per minute, runs out.
const readQuotaWindow = time.Minute

// versionsDeniedWindow is how long a secret's versions are not asked for
// after Google refused versions.get: a role granted meanwhile is used
// from then on.
const versionsDeniedWindow = time.Hour

// errVersionsDenied says why a version check was not made.
var errVersionsDenied = errors.New("secret manager refused ward's identity the secret's metadata (secretmanager.versions.get) within the last hour, so polls read the value")

// errReadQuota says why a version check was not made, or failed.
var errReadQuota = errors.New("secret manager's read quota (600 metadata reads a minute per project) ran out, so polls read the values for a minute")

// resource checks ref (a store may be handed one that was not) and
// returns the version it names.
func resource(ref resolve.Ref) (gcp.Resource, error) {
	if err := gcp.CheckRef(&ref); err != nil {
		err.Ref = ref.Raw
		return gcp.Resource{}, err
	}
	return gcp.ParseResource(ref), nil
}

// decodeData decodes a bytes field: standard base64, as Google sends it,
// or the URL alphabet, which its JSON mapping also allows.
func decodeData(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.URLEncoding.DecodeString(s)
}

// versionNumber is the version number at the end of a version's resource
// name, as the API answers it whatever alias was asked for.
func versionNumber(name string) (string, error) {
	i := strings.LastIndex(name, "/versions/")
	if i < 0 {
		return "", fmt.Errorf("secret manager answered with a version name %q that has no version", name)
	}
	n := name[i+len("/versions/"):]
	if n == "" || strings.Trim(n, "0123456789") != "" {
		return "", fmt.Errorf("secret manager answered with a version name %q that has no version number", name)
	}
	return n, nil
}

// discard is the logger of Google's libraries here (the API client, the
// credentials, the transport): given none, they log to stderr when
// GOOGLE_SDK_GO_LOGGING_LEVEL=debug is set, and their debug lines hold
// response bodies (a secret's payload) and tokens.
var discard = slog.New(slog.DiscardHandler)

// baseTransport is the HTTP transport under the authentication layer.
func baseTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// Enough idle connections for the fetcher's concurrency; over
	// HTTP/2 (Google's endpoints) one connection carries them all.
	t.MaxIdleConnsPerHost = 2 * resolve.DefaultConcurrency
	t.OnProxyConnectResponse = proxyconnect.Check
	return bodylimit.Transport(t, bodylimit.Max)
}

// Open is the helper's way in: it opens the store from its decoded
// stores.gcp settings.
func Open(opts resolve.Options, env resolve.Env) (resolve.Store, error) {
	o, _ := opts.(*gcp.Options)
	if o == nil {
		o = &gcp.Options{}
	}
	return New(*o, env.Log)
}
