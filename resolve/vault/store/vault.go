// Package store resolves vault://MOUNT/PATH[#FIELD][?version=N] references
// from HashiCorp Vault with github.com/hashicorp/vault/api.
//
// KV v1 and v2 are told apart per mount (sys/internal/ui/mounts, or by
// trying the v2 path then the v1 path when that call is refused);
// any other engine (database/creds/ROLE, aws/creds/ROLE...) is read as a
// dynamic secret whose lease the store keeps, renews on request
// (KeepLease) and revokes on Close. The store logs in with a token,
// a Vault Agent token file, AppRole, Kubernetes or a JWT, renews its own
// token in the background and logs in again when it cannot.
//
// Nothing touches the network before the first Fetch. No token, secret_id,
// JWT or value is ever logged or put in an error.
package store

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-rootcerts"
	"github.com/hashicorp/vault/api"
	"golang.org/x/sync/errgroup"

	"github.com/wardsecrets/ward/resolve/bodylimit"
	"github.com/wardsecrets/ward/resolve/certerr"
	"github.com/wardsecrets/ward/resolve/vault"

	"github.com/wardsecrets/ward/resolve"
)

// ErrPermissionDenied marks a read Vault refused (HTTP 403).
var ErrPermissionDenied = errors.New("permission denied")

// Store reads vault:// references.
type Store struct {
	set    settings
	getenv func(string) string
	client *api.Client
	log    *slog.Logger

	auth *authState

	mountsMu sync.Mutex
	mounts   map[string]mountInfo   // by mount path, with its trailing '/'
	probing  map[string]*mountProbe // lookups in flight, by first segment
	// metadataRefused are the KV v2 mounts whose metadata the token may
	// not read (Version stops asking).
	metadataRefused map[string]int
	// written is the version a read of a KV v2 document's latest version
	// found, and when it was written (its created_time), by data path:
	// Version tells a version number that a secret deleted with its
	// metadata and written again uses a second time. One entry a
	// document, however often it changes.
	written map[string]string
	// overdue counts, by path, the reads in a row of a static credential
	// whose rotation Vault has not made though it is due (staticWait).
	overdue map[string]int

	leasesMu sync.Mutex
	leases   map[string]*heldLease // by lease id
	// revoked are the leases Vault revoked before ward did (an operator's
	// vault lease revoke): revoking them is done, whatever the policy
	// would say of sys/leases/revoke.
	revoked map[string]bool
	// lookedUp holds the token generations whose lease lookups Vault
	// answered: only such a token's 403 says it has died (see
	// leaseRevoked).
	lookedUp map[int]bool

	outage outage

	// via is the proxy requests to Vault go through, its password
	// hidden, and the variable that names it; "" for none.
	via string

	closeOnce sync.Once
	// renewDeniedSaid warns once that the token may not renew leases.
	renewDeniedSaid sync.Once
	closeErr        error
}

var (
	_ resolve.Store       = (*Store)(nil)
	_ resolve.LeaseKeeper = (*Store)(nil)
	_ resolve.Closer      = (*Store)(nil)
	_ resolve.Versioner   = (*Store)(nil)
)

// outage remembers the last request that failed with no answer from
// Vault (a connection error, a 5xx once its retries were spent: Vault
// down, sealed, restarting): the requests that queued behind it fail at
// once with its error, rather than each spending the retries again. A
// start with 60 secrets while Vault was down took 23 s to fail, 16 reads
// at a time, where one takes 4 s. It holds for less than the rotation's
// first retry (1 s, less 20% jitter), so a retry always asks Vault.
type outage struct {
	mu  sync.Mutex
	err error
	at  time.Time
}

// vaultWide reports whether a request's failure is Vault's as a whole (no
// answer, a sealed or standby 503, a proxy's page in front of it) rather
// than the path's: a secrets engine's own 500 (its database down) says
// nothing of the other paths.
func vaultWide(err error) bool {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.foreign || ae.status == http.StatusServiceUnavailable
	}
	return true
}

// outageHold is how long a failure stands for the requests after it.
const outageHold = 500 * time.Millisecond

// recent returns the last failure, when it is recent enough to stand.
func (o *outage) recent() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil && time.Since(o.at) < outageHold {
		return o.err
	}
	return nil
}

// note records a request's failure.
func (o *outage) note(err error) {
	o.mu.Lock()
	o.err, o.at = err, time.Now()
	o.mu.Unlock()
}

// heldLease is a lease the store created and has not given back.
type heldLease struct {
	lease    resolve.Lease
	obtained time.Time
	gen      int // the token generation that created it
	// adopted is set for a lease taken over from a helper that died
	// (AdoptLease) until Vault has said what is left of it: its
	// renewals moved its end, which the lease handed over does not tell.
	adopted bool
}

// New returns a store configured from opts and, where opts is silent, from
// getenv (the Vault CLI's variables). It reads local files (CA
// certificates, client certificates) but makes no request: the first Fetch
// logs in.
func New(opts Options, env resolve.Env) (*Store, error) {
	return newStore(opts, env, retryWaits{})
}

func newStore(opts Options, env resolve.Env, retry retryWaits) (*Store, error) {
	getenv := env.Getenv
	if getenv == nil {
		return nil, errors.New("vault store: getenv is nil")
	}
	set, err := resolveSettings(opts, env, retry)
	if err != nil {
		return nil, fmt.Errorf("vault store: %w", err)
	}
	s := &Store{
		set:     set,
		getenv:  getenv,
		log:     set.log,
		mounts:  map[string]mountInfo{},
		probing: map[string]*mountProbe{},

		metadataRefused: map[string]int{},
		written:         map[string]string{},
		overdue:         map[string]int{},
		leases:          map[string]*heldLease{},
		revoked:         map[string]bool{},
		lookedUp:        map[int]bool{},
	}
	if set.skipVerify {
		s.log.Warn("vault TLS certificate verification is off (skip_verify or VAULT_SKIP_VERIFY): anyone on the path to Vault can read the secrets", "address", set.Address)
	}
	s.client, err = s.newClient()
	if err != nil {
		return nil, fmt.Errorf("vault store: %w", err)
	}
	if s.auth, err = newAuthState(s); err != nil {
		return nil, fmt.Errorf("vault store: %w", err)
	}
	return s, nil
}

// newClient builds an API client from the settings alone: unlike
// api.DefaultConfig it never reads VAULT_* from the process environment,
// so getenv is the only source.
func (s *Store) newClient() (*api.Client, error) {
	transport := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   resolve.DefaultConcurrency * 2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	if s.set.proxy != nil {
		// As the CLI: every request, loopback included.
		transport.Proxy = http.ProxyURL(s.set.proxy)
	}
	if u, err := url.Parse(s.set.Address); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		if p, err := transport.Proxy(&http.Request{URL: u}); err == nil && p != nil {
			// Named in every error: a proxy that is down or refuses
			// the way to Vault is no fault of Vault's.
			s.via = p.Redacted() + " (" + s.proxyVariable(u.Scheme) + ")"
			if u.Scheme == "http" {
				// Plain HTTP through a proxy (HTTP_PROXY set for the
				// whole machine, NO_PROXY not naming Vault): the proxy
				// reads the token and the values. The CLI sends them
				// the same way; say so.
				s.log.Warn("vault is reached over plain HTTP through a proxy in the clear: the proxy sees the token and the secrets; use https://, or add Vault's host to NO_PROXY", "address", s.set.Address, "proxy", p.Redacted())
			}
		}
	}
	transport.OnProxyConnectResponse = func(_ context.Context, _ *url.URL, _ *http.Request, resp *http.Response) error {
		if resp.StatusCode != http.StatusOK {
			// Go's own error is the status text alone ("Forbidden"),
			// which reads as Vault's refusal.
			return &proxyRefusedError{status: resp.Status, code: resp.StatusCode}
		}
		return nil
	}
	hc := &http.Client{
		Transport: transport,
		// The API client follows Vault's redirects itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	cfg := &api.Config{
		Address:      s.set.Address,
		HttpClient:   hc,
		Timeout:      s.set.Timeout,
		MaxRetries:   s.set.maxRetries,
		MinRetryWait: s.set.retry.min,
		MaxRetryWait: s.set.retry.max,
		CheckRetry:   checkRetry,
		Limiter:      s.set.limiter,
	}
	err := cfg.ConfigureTLS(&api.TLSConfig{
		CACert:        s.set.CACert,
		CACertBytes:   []byte(s.set.caCertBytes),
		CAPath:        s.set.CAPath,
		ClientCert:    s.set.ClientCert,
		ClientKey:     s.set.ClientKey,
		TLSServerName: s.set.TLSServerName,
		Insecure:      s.set.skipVerify,
	})
	if err != nil {
		return nil, fmt.Errorf("configure TLS for %s: %w", s.set.Address, err)
	}
	if s.set.ClientCert != "" && s.set.ClientKey != "" {
		// ConfigureTLS loaded the pair once (and said what is wrong with
		// it); each handshake takes it from the files as they are now.
		cc := &clientCert{certFile: s.set.ClientCert, keyFile: s.set.ClientKey, log: s.log}
		transport.TLSClientConfig.GetClientCertificate = cc.get
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("configure the client for %s: %w", s.set.Address, err)
	}
	if (s.set.CACert != "" || s.set.CAPath != "") && s.set.caCertBytes == "" && !s.set.skipVerify {
		// After NewClient and ConfigureTLS, which want the bare transport.
		hc.Transport = newTrustedCAs(transport, s.set.CACert, s.set.CAPath, s.log)
	}
	if !strings.HasPrefix(s.set.Address, "unix://") {
		// Not for an agent's socket: each clone of the client (the
		// logins') wants the bare transport there, to dial the socket.
		hc.Transport = bodylimit.Transport(hc.Transport, maxAnswer)
	}
	// NewClient reads VAULT_TOKEN and VAULT_NAMESPACE from the process
	// environment; only the settings count.
	c.ClearToken()
	// Each request would read VAULT_WRAP_TTL from the process
	// environment, as for the CLI, and Vault would answer every read and
	// login with a wrapping token instead of the secret (leaving a copy
	// of it in that token's cubbyhole): ward reads values, never wraps.
	c.SetWrappingLookupFunc(func(string, string) string { return "" })
	if s.set.Namespace != "" {
		c.SetNamespace(s.set.Namespace)
	} else {
		c.ClearNamespace()
	}
	return c, nil
}

// proxyVariable names the variable that set the proxy for scheme.
func (s *Store) proxyVariable(scheme string) string {
	if s.set.proxy != nil {
		if strings.TrimSpace(s.getenv("VAULT_PROXY_ADDR")) == "" && strings.TrimSpace(s.getenv("VAULT_HTTP_PROXY")) != "" {
			return "VAULT_HTTP_PROXY"
		}
		return "VAULT_PROXY_ADDR"
	}
	name := strings.ToUpper(scheme) + "_PROXY"
	if s.getenv(name) == "" && s.getenv(strings.ToLower(name)) != "" {
		return strings.ToLower(name)
	}
	return name
}

// proxyRefusedError is a proxy's answer other than 200 to the CONNECT
// that opens the way to an https:// Vault.
type proxyRefusedError struct {
	status string
	code   int
}

func (e *proxyRefusedError) Error() string {
	msg := "the proxy refused the connection to Vault: it answered " + e.status
	if e.code == http.StatusProxyAuthRequired {
		msg += " (check the user and password in the proxy's URL)"
	}
	return msg
}

// maxAnswer bounds the body of one answer. Vault takes requests of at
// most 32 MiB (max_request_size), so no secret it stores is larger; the
// API client reads a body whole (twice over, for a secret) into memory,
// and an endless one (a proxy's, a server that is not Vault) grew the
// helper by gigabytes until the request timed out, or the machine ran
// out of memory.
const maxAnswer = 64 << 20

// checkRetry is the API client's retry policy, but for DNS's answer that
// Vault's host name does not exist (a typo in VAULT_ADDR): a retry asks
// again in vain, and the start waited seconds for the error.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if last, ok := ctx.Value(lastAnswerKey{}).(*lastAnswer); ok && resp != nil && resp.StatusCode >= 400 {
		last.keep(resp)
	}
	if _, ok := certerr.NoSuchHost(err); ok {
		return false, err
	}
	if pr := (*proxyRefusedError)(nil); errors.As(err, &pr) {
		// The proxy's rules or credentials: a retry meets them again.
		return false, err
	}
	if errors.Is(err, http.ErrSchemeMismatch) {
		// Plain HTTP at an https:// address: so it answers again.
		return false, err
	}
	if pastMaxTTL(resp) {
		// Vault's final word on a renewal (a token's is a 500): a
		// retry, 1 to 1.5 s later, is refused again, or finds the
		// token gone, and a 2 s token's renewer learnt that it had to
		// log in again after the token had ended, and the leases it
		// created with it.
		return false, nil
	}
	return api.DefaultRetryPolicy(ctx, resp, err)
}

// pastMaxTTL reports whether resp is Vault's 500 refusing a renewal past
// the max TTL. It reads the body's start and puts it back.
func pastMaxTTL(resp *http.Response) bool {
	if resp == nil || resp.StatusCode != http.StatusInternalServerError || resp.Body == nil {
		return false
	}
	return bytes.Contains(peekBody(resp), []byte("past the max TTL, cannot renew"))
}

// peekBody returns the first 4 KiB of resp's body and puts them back.
func peekBody(resp *http.Response) []byte {
	head := make([]byte, 4096)
	n, _ := io.ReadFull(resp.Body, head)
	head = head[:n]
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	return head
}

// clientCert presents the TLS client certificate in its files as they are
// at each handshake: a certificate manager (cert-manager in Kubernetes)
// replaces them before they expire, and a ward that runs for longer than
// one certificate lives must not go on presenting the first, which Vault
// refuses once it has expired.
type clientCert struct {
	certFile, keyFile string
	log               *slog.Logger

	mu    sync.Mutex
	stamp string
	cert  *tls.Certificate
}

func (c *clientCert) get(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	stamp := resolve.StampFile(c.certFile) + " " + resolve.StampFile(c.keyFile)
	if stamp == c.stamp && c.cert != nil {
		return c.cert, nil
	}
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		if c.cert == nil {
			return nil, fmt.Errorf("load the vault client certificate: %w", err)
		}
		// Half replaced (the certificate written, not yet its key): the
		// pair in hand, until both are new.
		c.log.Debug("vault client certificate changed but cannot be loaded yet; presenting the one in hand", "cert", c.certFile, "error", err.Error())
		return c.cert, nil
	}
	if c.cert != nil {
		c.log.Info("vault client certificate replaced; presenting the new one", "cert", c.certFile)
	}
	c.cert, c.stamp = &pair, stamp
	return c.cert, nil
}

// trustedCAs gives each new connection to Vault the CA certificates in
// VAULT_CACERT or VAULT_CAPATH as those are now: an operator rotating
// Vault's CA first adds the new one to the bundle (cert-manager's
// trust-manager, a ConfigMap), then has Vault present a certificate it
// signed. A ward that loaded the bundle once refused every new
// connection from then on, until it was restarted: the child's leases
// ran out meanwhile. The files are looked at, at most once a second,
// when a request is made; a change gives a new transport (Go's own
// verification, proxies and HTTP/2 as before) and closes the old one's
// idle connections.
type trustedCAs struct {
	file, dir string
	log       *slog.Logger

	mu      sync.Mutex
	cur     *http.Transport
	stamp   string
	checked time.Time
}

func newTrustedCAs(t *http.Transport, file, dir string, log *slog.Logger) *trustedCAs {
	c := &trustedCAs{file: file, dir: dir, log: log, cur: t, checked: time.Now()}
	c.stamp = c.stampNow()
	return c
}

// stampNow is the stamp of the CA file, or of the directory and each
// file in it.
func (c *trustedCAs) stampNow() string {
	if c.file != "" {
		// rootcerts reads the file and ignores the directory when both
		// are set, as ConfigureTLS did.
		return resolve.StampFile(c.file)
	}
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(resolve.StampFile(c.dir))
	for _, e := range entries {
		b.WriteString(" " + resolve.StampFile(filepath.Join(c.dir, e.Name())))
	}
	return b.String()
}

func (c *trustedCAs) transport() *http.Transport {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) < time.Second {
		return c.cur
	}
	c.checked = time.Now()
	stamp := c.stampNow()
	if stamp == c.stamp {
		return c.cur
	}
	pool, err := rootcerts.LoadCACerts(&rootcerts.Config{CAFile: c.file, CAPath: c.dir})
	if err != nil || stamp == "" {
		// Half written, or removed to be written again: the certificates
		// in hand, until the files can be read.
		c.log.Debug("vault CA certificates changed but cannot be loaded yet; trusting the ones in hand", "ca_cert", c.file, "ca_path", c.dir)
		return c.cur
	}
	next := c.cur.Clone()
	next.TLSClientConfig.RootCAs = pool
	c.cur.CloseIdleConnections()
	c.cur, c.stamp = next, stamp
	c.log.Info("vault CA certificates changed; new connections to vault trust the new ones", "ca_cert", c.file, "ca_path", c.dir)
	return c.cur
}

func (c *trustedCAs) RoundTrip(r *http.Request) (*http.Response, error) {
	return c.transport().RoundTrip(r)
}

// CloseIdleConnections is what http.Client's calls.
func (c *trustedCAs) CloseIdleConnections() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur.CloseIdleConnections()
}

// Fetch reads one document: a KV secret (v1 or v2) or a dynamic secret.
// Fields hold the data map (strings as they are, anything else as JSON
// text) and Value the JSON of the whole map.
func (s *Store) Fetch(ctx context.Context, ref resolve.Ref) (resolve.Secret, error) {
	sec, err := s.fetch(ctx, ref)
	if errors.Is(err, ErrPermissionDenied) && !s.set.loginMethod() && s.auth.tokenInvalid(ctx) {
		// Vault refuses a token it does not know as it refuses a path
		// the policy does not grant. A login method has logged in again
		// already; a token handed to ward may be what to check (or it
		// lacks the default policy: both are said).
		err = fmt.Errorf("%w; and the token cannot look itself up either: it may have expired, been revoked, spent its uses if it has a use limit (num_uses), or be bound to addresses (token_bound_cidrs) that do not hold the one Vault sees for ward (check %s)", err, s.auth.source())
	}
	return sec, err
}

func (s *Store) fetch(ctx context.Context, ref resolve.Ref) (resolve.Secret, error) {
	version := ref.Options["version"]
	// Log in (or find the token) first, so a login failure reads as one
	// and not as a failed mount lookup.
	if _, err := s.auth.current(ctx); err != nil {
		return resolve.Secret{}, fmt.Errorf("read %s: %w", ref.Raw, err)
	}
	m, err := s.mountFor(ctx, ref)
	if err != nil {
		return resolve.Secret{}, err
	}
	switch m.kind {
	case kindKV2:
		return s.readKV2(ctx, ref, m, version)
	case kindKV1, kindOther:
		if version != "" {
			what := "a KV v1 mount, which keeps no versions"
			if m.kind == kindOther {
				what = fmt.Sprintf("a %s mount, not KV v2", m.typ)
			}
			return resolve.Secret{}, fmt.Errorf("read %s: ?version= needs a KV v2 mount, and %s is %s", ref.Raw, m.path, what)
		}
		return s.readPlain(ctx, ref, m)
	}
	return s.readUnknown(ctx, ref, version)
}

// Revoke ends a lease now and forgets it.
func (s *Store) Revoke(ctx context.Context, lease *resolve.Lease) error {
	if lease == nil || lease.ID == "" {
		return nil
	}
	s.leasesMu.Lock()
	gone := s.revoked[lease.ID]
	delete(s.revoked, lease.ID)
	s.leasesMu.Unlock()
	if gone {
		return nil
	}
	err := s.revoke(ctx, lease.ID)
	if err == nil {
		s.leasesMu.Lock()
		delete(s.leases, lease.ID)
		s.leasesMu.Unlock()
	}
	return err
}

// revokeTries is how many times a revocation that the secret engine
// failed is asked for. A database's revocation statements can fail for a
// moment: PostgreSQL answers "tuple concurrently updated" when several of
// its roles are dropped at once, as a ward that exits with eight leases
// does. A lease left unrevoked lives on, with its credentials, until Vault
// revokes it at the end of its TTL, which for a service may be hours.
const revokeTries = 4

func (s *Store) revoke(ctx context.Context, id string) error {
	for try := 1; ; try++ {
		rep, err := s.leaseCall(ctx, "revoke", id)
		switch {
		case err != nil:
			return fmt.Errorf("revoke the vault lease of %s: %w", leaseSource(id), err)
		case rep.status == http.StatusForbidden && s.auth.tokenInvalid(ctx):
			// The token expired or was revoked: Vault revoked the leases
			// it read with it, this one among them. It was "permission
			// denied: check that the policy grants update", of a
			// policy that did.
			s.log.Info("vault lease gone with the token that read it: the token has expired or was revoked, and Vault revokes a token's leases with it", "lease", leaseSource(id))
			return nil
		case rep.status == http.StatusForbidden:
			return fmt.Errorf("revoke the vault lease of %s: %w: check that the token's policy grants \"update\" on sys/leases/revoke", leaseSource(id), ErrPermissionDenied)
		case rep.leaseUnknown():
			// Already gone: expired, or revoked with its token.
		case rep.status >= 400:
			if try < revokeTries && resolve.Sleep(ctx, time.Duration(try)*100*time.Millisecond) {
				s.log.Debug("vault lease revocation failed; asking again", "lease", leaseSource(id), "error", rep.err().Error())
				continue
			}
			return fmt.Errorf("revoke the vault lease of %s: %w", leaseSource(id), rep.err())
		}
		s.log.Info("vault lease revoked", "lease", leaseSource(id))
		return nil
	}
}

// KeepLease renews lease with an api.LifetimeWatcher until it can no
// longer be renewed (it nears its max TTL, or renewal keeps failing until
// it nears its end) and then returns nil, with when the lease ends: the
// caller reads the secret again. It returns ctx's error when ctx ends
// first.
func (s *Store) KeepLease(ctx context.Context, lease *resolve.Lease) (time.Time, error) {
	revoked, err := s.keepLease(ctx, lease)
	if err != nil {
		return time.Time{}, err
	}
	if revoked {
		return time.Now(), nil
	}
	return s.leaseEnd(lease.ID), nil
}

// leaseEnd is when a held lease ends: its last renewal (or its read) and
// the TTL Vault gave it then, or the end of the token that created it
// when that comes first; zero when the store does not hold it. Renewals
// that fail (Vault down or sealed) move it no further.
func (s *Store) leaseEnd(id string) time.Time {
	s.leasesMu.Lock()
	h, ok := s.leases[id]
	var end time.Time
	var gen int
	if ok && h.lease.TTL > 0 {
		end, gen = h.obtained.Add(h.lease.TTL), h.gen
	}
	s.leasesMu.Unlock()
	if end.IsZero() {
		return end
	}
	if tokenEnd, replaced, _ := s.auth.tokenEnd(gen); replaced && !tokenEnd.IsZero() && tokenEnd.Before(end) {
		return tokenEnd
	}
	return end
}

func (s *Store) keepLease(ctx context.Context, lease *resolve.Lease) (revoked bool, err error) {
	if lease == nil || lease.ID == "" {
		return false, errors.New("keep a vault lease: the secret has no lease")
	}
	ttl, renewable, gen, adopted := lease.TTL, lease.Renewable, 0, false
	s.leasesMu.Lock()
	h, held := s.leases[lease.ID]
	if held {
		ttl = h.lease.TTL - time.Since(h.obtained)
		renewable, gen, adopted = h.lease.Renewable, h.gen, h.adopted
	}
	s.leasesMu.Unlock()
	if !held {
		// A lease this store did not create, nor adopt (AdoptLease): one
		// a helper that died read with a login of its own, and that dies
		// with that login's token. Read it again.
		s.log.Info("vault lease of another login; the secret must be read again", "lease", leaseSource(lease.ID))
		return false, nil
	}
	// The token first: a helper that took the lease over from one that
	// died has read nothing yet, and its renewals went without one,
	// which the watcher took for a lease it may not renew; the lease
	// ended with no renewal, the child still using its credentials.
	if _, err := s.auth.current(ctx); err != nil {
		return false, fmt.Errorf("keep the vault lease of %s: %w", leaseSource(lease.ID), err)
	}
	if adopted {
		left, ok := s.leaseLeft(ctx, lease.ID)
		switch {
		case ok:
			s.leasesMu.Lock()
			h.lease.TTL, h.obtained, h.adopted = left, time.Now(), false
			s.leasesMu.Unlock()
			ttl = left
			s.log.Debug("vault lease taken over from a helper that died", "lease", leaseSource(lease.ID), "ttl", left.String())
		case renewable:
			// A token whose policy does not grant the lookup: the
			// watcher's renewal, at once, says what is left. Read
			// again instead, the lease the child uses was given up,
			// and under on_change: none it ended in silence.
			s.leasesMu.Lock()
			h.adopted = false
			s.leasesMu.Unlock()
			ttl = time.Second
			s.log.Debug("vault lease taken over from a helper that died, not looked up: renewed at once", "lease", leaseSource(lease.ID))
		default:
			s.log.Info("vault lease taken over from a helper that died cannot be looked up nor renewed; the secret must be read again", "lease", leaseSource(lease.ID))
			return false, nil
		}
	}
	if ttl <= 0 {
		return false, nil
	}
	// Renewals ask for the lease's own duration again; one that comes
	// back shorter has hit the role's max TTL.
	increment := lease.TTL.Round(time.Second)
	if increment < time.Second {
		increment = time.Second
	}
	w, err := s.client.NewLifetimeWatcher(&api.LifetimeWatcherInput{
		Secret: &api.Secret{
			LeaseID:       lease.ID,
			LeaseDuration: int(ttl.Round(time.Second) / time.Second),
			Renewable:     renewable,
		},
		Increment: int(increment / time.Second),
	})
	if err != nil {
		return false, fmt.Errorf("keep the vault lease of %s: %w", leaseSource(lease.ID), err)
	}
	go w.Start()
	defer w.Stop()
	var reread <-chan time.Time
	if !renewable {
		delay := freshRereadDelay(ttl)
		s.log.Debug("vault lease is not renewable; reading the secret again before it ends", "lease", leaseSource(lease.ID), "ends_in", ttl.String(), "reread_in", delay.Round(time.Millisecond).String())
		reread = time.After(delay)
	}
	// The token that created the lease: once its end is known and a newer
	// token is in use, the lease is read again before that end, as Vault
	// revokes it then.
	var tokenReread <-chan time.Time
	tokenEnd, replaced, tokenChanged := s.auth.tokenEnd(gen)
	armToken := func() {
		if tokenReread != nil || tokenEnd.IsZero() || !replaced {
			return
		}
		left := max(time.Until(tokenEnd), 0)
		delay := rereadDelay(left)
		s.log.Info("vault lease ends with the token that created it; reading the secret again before then", "lease", leaseSource(lease.ID), "ends_in", left.Round(time.Second).String(), "reread_in", delay.Round(time.Second).String())
		tokenReread = time.After(delay)
	}
	armToken()
	// A token file is looked at now and then, as its new token (an
	// agent's new login) is what ends the old one's renewal.
	var fileCheck <-chan time.Time
	if s.auth.fromFile() {
		t := time.NewTicker(tokenFileCheck)
		defer t.Stop()
		fileCheck = t.C
	}
	var leaseCheck <-chan time.Time
	if lease.Check > 0 {
		t := time.NewTicker(lease.Check)
		defer t.Stop()
		leaseCheck = t.C
	}
	// A renewal that Vault takes and never answers (a stalled proxy, a
	// partitioned network) holds the watcher for the request timeout,
	// past the lease's end: the secret is read again before the end all
	// the same, so that ward knows the end in time (a lease of 8 s was
	// reported expired two minutes after it ended).
	var unrenewed <-chan time.Time
	armUnrenewed := func() {
		if end := s.leaseEnd(lease.ID); !end.IsZero() {
			// After the watcher's renewal, which comes at about two
			// thirds of what is left, has had its time to answer.
			left := time.Until(end)
			unrenewed = time.After(max(left-min(unrenewedMargin, left/10), 0))
		}
	}
	armUnrenewed()
	// The poll's lookup runs beside the loop: one that Vault takes and
	// never answers held the loop for the request timeout, and the lease
	// ended meanwhile without a word (unrenewed could not fire): the
	// child made logins with dead credentials for 55 s, and on_expired
	// acted that late.
	var checked chan [2]bool
	renewedOnce := false
	lookups, stopLookups := context.WithCancel(ctx)
	defer stopLookups()
	for {
		select {
		case <-unrenewed:
			s.log.Warn("vault lease was not renewed before its end: no answer from Vault; the secret must be read again", "lease", leaseSource(lease.ID), "ends_in", max(time.Until(s.leaseEnd(lease.ID)), 0).Round(time.Millisecond).String())
			return false, nil
		case <-leaseCheck:
			if checked != nil {
				continue // the last one still waits for its answer
			}
			checked = make(chan [2]bool, 1)
			go func(answer chan<- [2]bool) {
				gone, withToken := s.leaseRevoked(lookups, lease.ID)
				answer <- [2]bool{gone, withToken}
			}(checked)
		case answer := <-checked:
			checked = nil
			if gone, withToken := answer[0], answer[1]; gone {
				if withToken {
					s.log.Warn("vault lease gone with the token that read it: the token has expired or was revoked, and Vault revokes a token's leases with it; the secret must be read again", "lease", leaseSource(lease.ID))
				} else {
					s.log.Warn("vault lease was revoked before its end (vault lease revoke, or its token revoked); the secret must be read again", "lease", leaseSource(lease.ID))
				}
				s.leasesMu.Lock()
				delete(s.leases, lease.ID)
				s.revoked[lease.ID] = true
				s.leasesMu.Unlock()
				return true, nil
			}
		case <-fileCheck:
			s.auth.current(ctx)
		case <-tokenChanged:
			tokenEnd, replaced, tokenChanged = s.auth.tokenEnd(gen)
			armToken()
		case <-tokenReread:
			return false, nil
		case err := <-w.DoneCh():
			if err != nil {
				s.log.Warn("vault lease renewal failed; the secret must be read again", "lease", leaseSource(lease.ID), "error", compact(err).Error())
				return false, nil
			}
			if renewable && !renewedOnce && s.renewDenied(ctx, lease.ID, increment) {
				// The watcher takes a refusal for a passing error, and
				// ends quietly near the lease's end: the child was
				// restarted at each lease's end, for good, and nothing
				// said why.
				s.renewDeniedSaid.Do(func() {
					s.log.Warn("vault refuses to renew this token's leases (permission denied): each is read again before it ends, and the child restarted each time; grant \"update\" on sys/leases/renew in the token's policy (Vault's default policy does)", "lease", leaseSource(lease.ID))
				})
			}
			s.log.Info("vault lease can no longer be renewed; the secret must be read again", "lease", leaseSource(lease.ID))
			return false, nil
		case r := <-w.RenewCh():
			if r == nil || r.Secret == nil {
				continue
			}
			renewedOnce = true
			d := time.Duration(r.Secret.LeaseDuration) * time.Second
			s.leasesMu.Lock()
			if h, ok := s.leases[lease.ID]; ok {
				h.lease.TTL, h.obtained = d, r.RenewedAt
			}
			s.leasesMu.Unlock()
			armUnrenewed()
			s.log.Debug("vault lease renewed", "lease", leaseSource(lease.ID), "ttl", d.String())
			if d < increment && reread == nil {
				// Capped at the max TTL: the lease ends in d, whatever
				// ward does. The secret is read again early enough that
				// the new child runs before then. Vault answers the
				// increment asked for in whole seconds, or less when
				// capped (as vault/api's renewer reads it too): a second
				// short is a cap. A 2 s lease's last renewal, 1 s left,
				// was not taken for one, and the renewer's own end came
				// 0.8 s later, the restart after the lease had ended.
				delay := rereadDelay(d)
				s.log.Info("vault lease reaches its max TTL; reading the secret again before it ends", "lease", leaseSource(lease.ID), "ends_in", d.String(), "reread_in", delay.String())
				reread = time.After(delay)
			}
		case <-reread:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// leaseRevoked reports whether Vault no longer knows lease id, which the
// store has not revoked: an operator's `vault lease revoke`, or the
// revocation of the token that created it. The lookup is in Vault's
// default policy; any other answer, or none, says nothing, but a 403 of
// a token that Vault no longer takes at all (auth/token/lookup-self
// refused too, where lease lookups were answered before): a token handed
// to ward that expired (non-renewable, or
// at its max TTL) or was revoked, whose leases Vault revoked with it
// (withToken). The lookup was refused at each poll, and ward said
// nothing until its exit while the child ran on with credentials that no
// longer existed, and rotation.on_expired never acted.
func (s *Store) leaseRevoked(ctx context.Context, id string) (gone, withToken bool) {
	gen, err := s.auth.current(ctx)
	if err != nil {
		return false, false
	}
	rep, err := s.leaseCall(ctx, "lookup", id)
	if err != nil {
		s.log.Debug("vault lease lookup failed", "lease", leaseSource(id), "error", err.Error())
		return false, false
	}
	s.leasesMu.Lock()
	worked := s.lookedUp[gen]
	if rep.status != http.StatusForbidden {
		s.lookedUp[gen] = true
	}
	s.leasesMu.Unlock()
	// A token without Vault's default policy (-no-default-policy, a
	// role's token_no_default_policy) is refused both lookups from its
	// first poll on, alive: it read its leases again at every poll, and
	// the child was restarted each time. Its end is not seen here.
	if rep.status == http.StatusForbidden && worked {
		lctx, cancel := context.WithTimeout(ctx, s.set.Timeout)
		defer cancel()
		_, err := s.client.Auth().Token().LookupSelfWithContext(lctx)
		var re *api.ResponseError
		return errors.As(err, &re) && re.StatusCode == http.StatusForbidden, true
	}
	return rep.leaseUnknown(), false
}

// leaseCall writes lease id to sys/leases/OP (revoke, lookup) with the
// store's token, within the request timeout.
func (s *Store) leaseCall(ctx context.Context, op, id string) (reply, error) {
	body, err := json.Marshal(map[string]any{"lease_id": id})
	if err != nil {
		return reply{}, err
	}
	return s.auth.do(ctx, func(ctx context.Context) (reply, error) {
		ctx, cancel := context.WithTimeout(ctx, s.set.Timeout)
		defer cancel()
		resp, err := s.client.Logical().WriteRawWithContext(ctx, "sys/leases/"+op, body)
		rep, err := toReply(resp, err)
		return rep, s.unreachable(err)
	})
}

// renewDenied reports whether Vault refuses the token a renewal of lease
// id (403): asked once more, to say why the watcher gave up.
func (s *Store) renewDenied(ctx context.Context, id string, increment time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, s.set.Timeout)
	defer cancel()
	_, err := s.client.Sys().RenewWithContext(ctx, id, int(increment/time.Second))
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusForbidden
}

// leaseUnknown reports whether Vault answered that it knows no such
// lease: expired, or revoked with its token or by an operator.
func (r reply) leaseUnknown() bool {
	return r.status == http.StatusBadRequest && strings.Contains(strings.Join(r.msgs, " "), "invalid lease")
}

// tokenFileCheck is how often a lease's renewal looks at the token file.
const tokenFileCheck = 5 * time.Second

// AdoptLease takes in a lease a helper that died created, to renew it
// (KeepLease) and revoke it on Close. Only a token handed to ward
// outlives the helper that used it: a lease of another helper's login
// dies with that login's token and is not taken in.
func (s *Store) AdoptLease(lease *resolve.Lease) {
	if lease == nil || lease.ID == "" || s.set.loginMethod() {
		return
	}
	s.leasesMu.Lock()
	_, held := s.leases[lease.ID]
	s.leasesMu.Unlock()
	if !held {
		s.remember(lease, 0)
		s.leasesMu.Lock()
		s.leases[lease.ID].adopted = true
		s.leasesMu.Unlock()
	}
}

// leaseLeft is how long Vault keeps lease id still, by its lookup;
// false when Vault does not know it or does not say.
func (s *Store) leaseLeft(ctx context.Context, id string) (time.Duration, bool) {
	rep, err := s.leaseCall(ctx, "lookup", id)
	if err != nil || rep.status != http.StatusOK || rep.secret == nil {
		return 0, false
	}
	var secs float64
	switch v := rep.secret.Data["ttl"].(type) {
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return 0, false
		}
		secs = f
	case float64:
		secs = v
	default:
		return 0, false
	}
	if secs <= 0 {
		return 0, false
	}
	return time.Duration(secs * float64(time.Second)), true
}

// unrenewedMargin is how long before a lease's end, with no renewal
// answered, keepLease gives it up for a re-read (a tenth of the lease's
// time left, for a shorter lease).
const unrenewedMargin = time.Second

// rereadRoom is the least time left on a lease when its secret is read
// again: room for the read, the debounce-free restart and the child's
// start.
const rereadRoom = 30 * time.Second

// rereadDelay is when to read again a secret whose lease ends in left: at
// two thirds of it, as Vault Agent does, or at once when the last third
// would leave less than rereadRoom.
func rereadDelay(left time.Duration) time.Duration {
	if left-left*2/3 < rereadRoom {
		return 0
	}
	return left * 2 / 3
}

// freshRereadDelay is rereadDelay for a lease that cannot be renewed, of
// which ttl is all there is: each re-read gives a new one as short. Read
// at once, a lease under 90 s (3 x rereadRoom) restarted the child about
// every second, its new lease no longer than the old; it is read again
// rereadRoom before its end, or halfway through a lease under 60 s.
func freshRereadDelay(ttl time.Duration) time.Duration {
	if d := rereadDelay(ttl); d > 0 {
		return d
	}
	return max(ttl-rereadRoom, ttl/2)
}

// Resume gets the token now (logs in, or takes VAULT_TOKEN) and has it
// renewed, for a helper started in place of one that died while no
// request waited: the token's renewal died with the old helper, and the
// next request, a poll minutes away, found a token that had expired for
// good when its TTL was shorter.
func (s *Store) Resume(ctx context.Context) error {
	if _, err := s.auth.current(ctx); err != nil {
		return err
	}
	// No first answer will come to start the renewal of a VAULT_TOKEN
	// (see renewStatic): this is one.
	s.auth.firstAnswer.Do(func() { close(s.auth.answered) })
	return nil
}

// Close revokes the leases the store still holds (unless RevokeOnExit is
// false) and stops renewing its own token. It is safe to call more than
// once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.set.revoke {
			errs = s.revokeAll()
		}
		s.auth.stop()
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// revokeAll revokes every held lease, a few at a time, within a bound.
// When the policy denies sys/leases/revoke and the store logged in itself,
// it revokes its own token instead (auth/token/revoke-self, in Vault's
// default policy), which revokes the leases that token created.
func (s *Store) revokeAll() []error {
	s.leasesMu.Lock()
	ids := make([]string, 0, len(s.leases))
	for id := range s.leases {
		ids = append(ids, id)
	}
	s.leasesMu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	sort.Strings(ids)
	ctx, cancel := context.WithTimeout(context.Background(), s.set.Timeout)
	defer cancel()
	var (
		mu     sync.Mutex
		errs   = map[string]error{}
		denied bool
		g      errgroup.Group
	)
	g.SetLimit(4)
	for _, id := range ids {
		g.Go(func() error {
			if err := s.Revoke(ctx, &resolve.Lease{ID: id}); err != nil {
				mu.Lock()
				errs[id] = err
				denied = denied || errors.Is(err, ErrPermissionDenied)
				mu.Unlock()
			}
			return nil
		})
	}
	g.Wait()
	if denied && s.set.loginMethod() {
		if gen, err := s.revokeSelf(ctx); err != nil {
			s.log.Warn("vault token could not revoke itself", "error", err.Error())
		} else {
			s.leasesMu.Lock()
			for id := range errs {
				if h, ok := s.leases[id]; ok && h.gen == gen {
					delete(errs, id)
					delete(s.leases, id)
				}
			}
			s.leasesMu.Unlock()
			s.log.Info("vault token revoked, and with it the leases it created (the policy denies sys/leases/revoke)")
		}
	}
	out := make([]error, 0, len(errs))
	for _, id := range ids {
		if err, ok := errs[id]; ok {
			out = append(out, err)
		}
	}
	return out
}

// revokeSelf revokes the store's own token and returns its generation.
func (s *Store) revokeSelf(ctx context.Context) (int, error) {
	s.auth.mu.Lock()
	defer s.auth.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.set.Timeout)
	defer cancel()
	resp, err := s.client.Logical().WriteRawWithContext(ctx, "auth/token/revoke-self", nil)
	rep, err := toReply(resp, err)
	if err != nil {
		return 0, err
	}
	if rep.status >= 400 {
		return 0, rep.err()
	}
	return s.auth.gen, nil
}

// remember records a lease the store created with the token of
// generation gen.
func (s *Store) remember(l *resolve.Lease, gen int) {
	now := time.Now()
	s.leasesMu.Lock()
	defer s.leasesMu.Unlock()
	for id, h := range s.leases {
		// Expired leases are gone from Vault: nothing to revoke.
		if h.lease.TTL > 0 && now.Sub(h.obtained) > h.lease.TTL {
			delete(s.leases, id)
		}
	}
	s.leases[l.ID] = &heldLease{lease: *l, obtained: now, gen: gen}
}

// secretFrom builds a resolve.Secret from a data map.
func secretFrom(ref resolve.Ref, data map[string]any) (resolve.Secret, error) {
	if data == nil {
		data = map[string]any{}
	}
	value, err := json.Marshal(data)
	if err != nil {
		// The error could describe the data: say only what failed.
		return resolve.Secret{}, fmt.Errorf("read %s: vault returned data that cannot be encoded as JSON", ref.Raw)
	}
	fields := make(map[string][]byte, len(data))
	for k, v := range data {
		if str, ok := v.(string); ok {
			fields[k] = []byte(str)
			continue
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return resolve.Secret{}, fmt.Errorf("read %s: field %q cannot be encoded as JSON", ref.Raw, k)
		}
		fields[k] = resolve.FieldText(raw)
	}
	return resolve.Secret{Value: value, Fields: fields}, nil
}

// leaseSource is what a lease id says about where it came from, without
// the id itself (database/creds/app/XYZ -> database/creds/app).
func leaseSource(id string) string {
	if i := strings.LastIndexByte(id, '/'); i > 0 {
		return id[:i]
	}
	return "a lease"
}

// compact turns an API error into one line: Vault's own messages, without
// the multi-line framing of api.ResponseError. Vault's messages name paths
// and reasons, never request bodies. A body that is not Vault's JSON (a
// proxy's page, a server that echoes the request, token included) is
// never repeated: the API client puts it whole in its error.
func compact(err error) error {
	var re *api.ResponseError
	if !errors.As(err, &re) {
		return err
	}
	if foreignBody(re) {
		// Go's own answer (Vault's listener is net/http) to plain HTTP
		// on a TLS port: a fixed text, safe to recognise.
		plain := re.StatusCode == http.StatusBadRequest && strings.Contains(strings.Join(re.Errors, ""), "Client sent an HTTP request to an HTTPS server")
		return &apiError{status: re.StatusCode, foreign: true, plainToTLS: plain}
	}
	return &apiError{status: re.StatusCode, msgs: re.Errors}
}

// foreignBody reports whether an error answer's body is not Vault's JSON
// (an empty body is Vault's: there is nothing to repeat).
func foreignBody(re *api.ResponseError) bool {
	return re.RawError && strings.TrimSpace(strings.Join(re.Errors, "")) != ""
}

// apiError is an error answer from Vault, on one line.
type apiError struct {
	status int
	msgs   []string
	// foreign: the body was not Vault's, and is not repeated.
	foreign bool
	// plainToTLS: the request was plain HTTP to a server that speaks
	// TLS (VAULT_ADDR=http:// for an https:// Vault).
	plainToTLS bool
	// raw: the answer was a file of this content type, not JSON (PKI's
	// ca/pem).
	raw string
}

func (e *apiError) Error() string {
	if e.plainToTLS {
		return fmt.Sprintf("vault answered %d: the server speaks HTTPS", e.status)
	}
	if e.raw != "" {
		return fmt.Sprintf("vault answered %d with %s, not JSON", e.status, e.raw)
	}
	if e.foreign && e.status >= 500 {
		// A load balancer's or proxy's own page (nginx's 502, an ALB's
		// 503): Vault is down or restarting behind it, far more often
		// than the address is wrong.
		return fmt.Sprintf("vault answered %d with a body that is not a Vault response: a proxy or load balancer in front of Vault answered for it (Vault down or restarting behind it?), or the address is not Vault's", e.status)
	}
	if e.foreign {
		return fmt.Sprintf("vault answered %d with a body that is not a Vault response: check that the address is Vault's, not a proxy's or another server's", e.status)
	}
	var parts []string
	for _, m := range e.msgs {
		m = strings.Join(strings.Fields(strings.ReplaceAll(m, "1 error occurred:", "")), " ")
		m = strings.TrimPrefix(m, "* ")
		if m != "" {
			parts = append(parts, m)
		}
	}
	msg := strings.Join(parts, "; ")
	if msg == "" {
		msg = http.StatusText(e.status)
	}
	if e.status == http.StatusTooManyRequests && strings.Contains(msg, "rate limit quota") {
		// Still refused after waiting for it as long as a request may
		// take.
		msg += ": Vault's rate-limit quotas (vault list sys/quotas/rate-limit) refused the reads for the whole request timeout; raise the quota's rate or stores.vault.timeout"
	}
	return fmt.Sprintf("vault answered %d: %s", e.status, msg)
}

// Open is the helper's way in: it opens the store from its decoded
// stores.vault settings.
func Open(opts resolve.Options, env resolve.Env) (resolve.Store, error) {
	o, _ := opts.(*vault.Options)
	if o == nil {
		o = &vault.Options{}
	}
	return New(*o, env)
}
