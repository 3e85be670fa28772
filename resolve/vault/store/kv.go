package store

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/bodylimit"
	"github.com/wardsecrets/ward/resolve/certerr"
)

// kind is what a mount holds, as far as reading it goes.
type kind int

const (
	kindUnknown kind = iota // the mount lookup was denied: probe
	kindKV1
	kindKV2
	kindOther // any other engine: a plain logical read, maybe leased
)

// mountInfo is what sys/internal/ui/mounts said about a mount.
type mountInfo struct {
	path string // with its trailing '/'
	typ  string
	kind kind
}

// mountProbe is a mount lookup in flight; fetches under the same first
// path segment wait for it rather than asking again.
type mountProbe struct{ done chan struct{} }

// reply is one answer from Vault: 2xx and 4xx answers alike (5xx and
// connection errors are errors, once the client's retries are spent).
type reply struct {
	status int
	secret *api.Secret
	msgs   []string
	gen    int // the generation of the token that made the request
}

func (r reply) err() error { return &apiError{status: r.status, msgs: r.msgs} }

// mountFor returns the mount ref's path lies in, looking it up once per
// mount.
func (s *Store) mountFor(ctx context.Context, ref resolve.Ref) (mountInfo, error) {
	for _, seg := range strings.Split(ref.Path, "/") {
		if seg == "." || seg == ".." {
			return mountInfo{}, fmt.Errorf("read %s: the path has a %q segment", ref.Raw, seg)
		}
	}
	first := ref.Path[:strings.IndexByte(ref.Path, '/')+1]
	waited := false
	for {
		s.mountsMu.Lock()
		if m, ok := s.cachedMount(ref.Path); ok {
			s.mountsMu.Unlock()
			return m, nil
		}
		p := s.probing[first]
		if p == nil || waited {
			break
		}
		s.mountsMu.Unlock()
		select {
		case <-p.done:
			waited = true
		case <-ctx.Done():
			return mountInfo{}, fmt.Errorf("read %s: %w", ref.Raw, ctx.Err())
		}
	}
	p := &mountProbe{done: make(chan struct{})}
	s.probing[first] = p
	s.mountsMu.Unlock()

	m, err := s.lookupMount(ctx, ref, first)

	s.mountsMu.Lock()
	if s.probing[first] == p {
		delete(s.probing, first)
	}
	// An unknown mount is not remembered: the probe that reads it learns
	// what the mount is (learn), and a path that only this token may not
	// look up says nothing about its neighbours.
	if err == nil && m.kind != kindUnknown {
		s.mounts[m.path] = m
	}
	s.mountsMu.Unlock()
	close(p.done)
	return m, err
}

// cachedMount finds the mount holding path. Vault refuses overlapping
// mounts, so at most one cached mount is a prefix of path. Callers hold
// mountsMu.
func (s *Store) cachedMount(path string) (mountInfo, bool) {
	for p := path + "/"; ; {
		i := strings.LastIndexByte(strings.TrimSuffix(p, "/"), '/')
		if i < 0 {
			return mountInfo{}, false
		}
		p = p[:i+1]
		if m, ok := s.mounts[p]; ok {
			return m, true
		}
	}
}

// lookupMount asks sys/internal/ui/mounts what the mount of ref is. When
// Vault refuses to say, the mount is unknown and the read probes the v2
// then the v1 path, taking ref's first segment for the mount.
func (s *Store) lookupMount(ctx context.Context, ref resolve.Ref, first string) (mountInfo, error) {
	rep, err := s.get(ctx, "sys/internal/ui/mounts/"+ref.Path, nil)
	if err == nil && rep.status == http.StatusTooManyRequests {
		// Too many requests, not a refusal to say: trying the KV v2
		// path, then the v1 path, spent a timeout on each, and named
		// the v1 path of a v2 mount.
		err = rep.err()
	}
	if err != nil {
		return mountInfo{}, fmt.Errorf("read %s: look up its mount: %w", ref.Raw, err)
	}
	if rep.status != http.StatusOK || rep.secret == nil || rep.secret.Data == nil {
		s.log.Debug("vault mount lookup refused; trying the KV v2 path, then v1", "ref", ref.Raw, "status", rep.status)
		return mountInfo{path: first, kind: kindUnknown}, nil
	}
	d := rep.secret.Data
	m := mountInfo{typ: str(d["type"])}
	m.path = str(d["path"])
	if m.path == "" || !strings.HasPrefix(ref.Path+"/", m.path) {
		// Not an answer for this path (an old server): probe instead.
		return mountInfo{path: first, kind: kindUnknown}, nil
	}
	switch m.typ {
	case "kv", "generic":
		m.kind = kindKV1
		if opts, ok := d["options"].(map[string]any); ok && str(opts["version"]) == "2" {
			m.kind = kindKV2
		}
	default:
		m.kind = kindOther
	}
	s.log.Debug("vault mount found", "mount", m.path, "type", m.typ, "kv_version", kvVersion(m.kind))
	return m, nil
}

// readKV2 reads mount/data/path, at a version when one is given.
func (s *Store) readKV2(ctx context.Context, ref resolve.Ref, m mountInfo, version string) (resolve.Secret, error) {
	rel, err := relPath(ref, m)
	if err != nil {
		return resolve.Secret{}, err
	}
	apiPath := m.path + "data/" + rel
	var q url.Values
	if version != "" {
		q = url.Values{"version": {version}}
	}
	rep, err := s.get(ctx, apiPath, q)
	if err != nil {
		return resolve.Secret{}, fmt.Errorf("read %s: %w", ref.Raw, err)
	}
	return s.kv2Secret(ref, m, apiPath, version, rep)
}

// kv2Secret turns a KV v2 data read into a Secret or an error.
func (s *Store) kv2Secret(ref resolve.Ref, m mountInfo, apiPath, version string, rep reply) (resolve.Secret, error) {
	switch rep.status {
	case http.StatusOK, http.StatusNotFound:
	case http.StatusForbidden:
		// The data refused too: the metadata's refusal (see Version) said
		// nothing of a policy that grants the one and not the other (a
		// policy that denied the path for a moment, a token revoked), and
		// the next poll asks for the version again. Kept, a poll read the
		// value every time to the run's end once the path was granted back.
		s.mountsMu.Lock()
		delete(s.metadataRefused, m.path)
		s.mountsMu.Unlock()
		return resolve.Secret{}, denied(ref, m.path, apiPath)
	default:
		return resolve.Secret{}, fmt.Errorf("read %s (GET %s): %w", ref.Raw, apiPath, rep.err())
	}
	var data, meta map[string]any
	if rep.secret != nil {
		data, _ = rep.secret.Data["data"].(map[string]any)
		meta, _ = rep.secret.Data["metadata"].(map[string]any)
	}
	if meta != nil && (data == nil || rep.status == http.StatusNotFound) {
		v := str(meta["version"])
		if b, _ := meta["destroyed"].(bool); b {
			return resolve.Secret{}, fmt.Errorf("read %s: version %s was destroyed and cannot be read again: %w", ref.Raw, v, resolve.ErrNotFound)
		}
		if str(meta["deletion_time"]) != "" {
			return resolve.Secret{}, fmt.Errorf("read %s: version %s was deleted (vault kv undelete -mount=%s -versions=%s %s brings it back): %w",
				ref.Raw, v, strings.TrimSuffix(m.path, "/"), v, strings.TrimPrefix(ref.Path, m.path), resolve.ErrNotFound)
		}
	}
	if rep.status == http.StatusNotFound || data == nil {
		if version != "" {
			return resolve.Secret{}, fmt.Errorf("read %s: no version %s at %s (vault kv metadata get -mount=%s %s lists the versions): %w",
				ref.Raw, version, apiPath, strings.TrimSuffix(m.path, "/"), strings.TrimPrefix(ref.Path, m.path), resolve.ErrNotFound)
		}
		rel := strings.TrimPrefix(ref.Path, m.path)
		for _, api := range []string{"data/", "metadata/"} {
			if rest, ok := strings.CutPrefix(rel, api); ok && rest != "" {
				// The API path, as envconsul and consul-template take it.
				return resolve.Secret{}, fmt.Errorf("read %s: no secret at %s: %s is a KV v2 mount and ward adds data/ itself: write vault://%s%s: %w",
					ref.Raw, apiPath, m.path, m.path, rest, resolve.ErrNotFound)
			}
		}
		return resolve.Secret{}, fmt.Errorf("read %s: no secret at %s: check the path (vault kv list -mount=%s): %w",
			ref.Raw, apiPath, strings.TrimSuffix(m.path, "/"), resolve.ErrNotFound)
	}
	sec, err := secretFrom(ref, data)
	if err != nil {
		return resolve.Secret{}, err
	}
	if v := str(meta["version"]); v != "" {
		sec.Version = "v" + v
		if at := str(meta["created_time"]); at != "" && version == "" {
			s.mountsMu.Lock()
			s.written[apiPath] = v + " " + at
			s.mountsMu.Unlock()
		}
	}
	return sec, nil
}

// readPlain reads a KV v1 secret or a dynamic secret: one logical read.
func (s *Store) readPlain(ctx context.Context, ref resolve.Ref, m mountInfo) (resolve.Secret, error) {
	if _, err := relPath(ref, m); err != nil {
		return resolve.Secret{}, err
	}
	rep, err := s.get(ctx, ref.Path, nil)
	if err != nil {
		return resolve.Secret{}, readErr(ref, m.path, err)
	}
	if rep.secret != nil && hasWarning(rep.secret, "versioned K/V") {
		// A probe took this mount for KV v1, and a KV v2 mount says it
		// is not: correct what was learned.
		v2 := mountInfo{path: m.path, typ: "kv", kind: kindKV2}
		s.learn(v2, ref, "the KV v1 path was refused as versioned")
		return s.readKV2(ctx, ref, v2, "")
	}
	return s.plainSecret(ref, m, rep)
}

// plainSecret turns a logical read into a Secret or an error, and keeps
// its lease.
func (s *Store) plainSecret(ref resolve.Ref, m mountInfo, rep reply) (resolve.Secret, error) {
	switch rep.status {
	case http.StatusOK:
	case http.StatusNoContent:
		return resolve.Secret{}, fmt.Errorf("read %s: no secret at %s: %w", ref.Raw, ref.Path, resolve.ErrNotFound)
	case http.StatusNotFound:
		return resolve.Secret{}, notFound(ref, ref.Path, m, rep)
	case http.StatusForbidden:
		return resolve.Secret{}, denied(ref, m.path, ref.Path)
	case http.StatusMethodNotAllowed:
		// An engine that issues on a write (PKI's issue and sign, SSH's
		// creds, Kubernetes' creds, transit): what it issues depends on
		// what is written, and a read is not one.
		return resolve.Secret{}, fmt.Errorf("read %s (GET %s): %w: Vault issues this on a write (vault write %s ...), and ward only reads: have Vault Agent render it to a file (a template), and give the child that file with a file:// reference",
			ref.Raw, ref.Path, rep.err(), ref.Path)
	default:
		return resolve.Secret{}, fmt.Errorf("read %s (GET %s): %w", ref.Raw, ref.Path, rep.err())
	}
	if rep.secret == nil || (rep.secret.Data == nil && rep.secret.LeaseID == "") {
		return resolve.Secret{}, fmt.Errorf("read %s: no secret at %s: %w", ref.Raw, ref.Path, resolve.ErrNotFound)
	}
	data := rep.secret.Data
	left, static := staticTTL(rep.secret)
	if static {
		// The seconds left to Vault's next rotation of a static
		// credential, less at every read: the credential is the same
		// until last_vault_rotation moves.
		data = maps.Clone(data)
		delete(data, "ttl")
	}
	sec, err := secretFrom(ref, data)
	if err != nil {
		return resolve.Secret{}, err
	}
	if life, ok := issuedTTL(ref, rep.secret); ok {
		// A new token at each read, good for its ttl: read again two
		// thirds into it, not at each poll.
		sec.Expires = time.Now().Add(life).UTC()
	}
	if static {
		// Vault replaces the password then, and the old one stops
		// working: it is read again as it nears that time, not at the
		// next poll, and after it as soon as Vault has rotated it.
		sec.Expires = time.Now().Add(s.staticWait(ref.Path, left)).UTC()
		// Its version: polls read it too (an operator's rotate-role
		// replaces it at once), and a read that finds the same one is
		// not a new credential.
		sec.Version = str(data["last_vault_rotation"])
	}
	if id := rep.secret.LeaseID; id != "" {
		sec.Lease = &resolve.Lease{
			ID:        id,
			TTL:       time.Duration(rep.secret.LeaseDuration) * time.Second,
			Renewable: rep.secret.Renewable,
		}
		s.remember(sec.Lease, rep.gen)
	}
	return sec, nil
}

// readErr is the error of a read of ref, in mount, that got no reply.
func readErr(ref resolve.Ref, mount string, err error) error {
	if ae := (*apiError)(nil); errors.As(err, &ae) && ae.raw != "" {
		// PKI's ca/pem, crl, cert/SERIAL/raw: the same certificates
		// come in its JSON answers too.
		return fmt.Errorf("read %s: %w: ward reads Vault's JSON answers; for a PKI certificate, read vault://%scert/ca#certificate or vault://%sissuer/default#certificate", ref.Raw, err, mount, mount)
	}
	return fmt.Errorf("read %s: %w", ref.Raw, err)
}

// readUnknown reads ref when its mount could not be looked up: the KV v2
// path first, then the path as written (KV v1 or another engine). What
// worked is remembered for the mount and logged at debug.
func (s *Store) readUnknown(ctx context.Context, ref resolve.Ref, version string) (resolve.Secret, error) {
	first := ref.Path[:strings.IndexByte(ref.Path, '/')+1]
	v2 := mountInfo{path: first, typ: "kv", kind: kindKV2}
	v2Path := first + "data/" + strings.TrimPrefix(ref.Path, first)
	var q url.Values
	if version != "" {
		q = url.Values{"version": {version}}
	}
	rep2, err := s.get(ctx, v2Path, q)
	if err != nil {
		return resolve.Secret{}, fmt.Errorf("read %s: %w", ref.Raw, err)
	}
	if isKV2Answer(rep2) {
		s.learn(v2, ref, "the KV v2 path answered")
		return s.kv2Secret(ref, v2, v2Path, version, rep2)
	}
	if version != "" {
		if rep2.status == http.StatusForbidden {
			return resolve.Secret{}, denied(ref, first, v2Path)
		}
		return resolve.Secret{}, fmt.Errorf("read %s: ?version= needs a KV v2 mount, and %s answered %d: %w", ref.Raw, v2Path, rep2.status, resolve.ErrNotFound)
	}

	rep1, err := s.get(ctx, ref.Path, nil)
	if err != nil {
		return resolve.Secret{}, readErr(ref, first, err)
	}
	if rep1.secret != nil && hasWarning(rep1.secret, "versioned K/V") {
		// A KV v2 mount refusing the v1 path: the v2 answer stands.
		s.learn(v2, ref, "the KV v1 path was refused as versioned")
		if rep2.status == http.StatusForbidden {
			return resolve.Secret{}, denied(ref, first, v2Path)
		}
		return s.kv2Secret(ref, v2, v2Path, version, rep2)
	}
	plain := mountInfo{path: first, typ: "unknown", kind: kindKV1}
	if rep1.status == http.StatusOK && rep1.secret != nil {
		if rep1.secret.LeaseID != "" {
			plain.kind = kindOther
		}
		s.learn(plain, ref, "the path as written answered")
		return s.plainSecret(ref, plain, rep1)
	}
	if rep1.status == http.StatusForbidden && rep2.status == http.StatusForbidden {
		return resolve.Secret{}, denied(ref, first, v2Path, ref.Path)
	}
	if rep1.status == http.StatusNotFound || rep2.status == http.StatusNotFound {
		return resolve.Secret{}, notFound(ref, ref.Path, mountInfo{path: first, kind: kindUnknown}, rep1)
	}
	return s.plainSecret(ref, plain, rep1)
}

// learn records what a probe found out about a mount.
func (s *Store) learn(m mountInfo, ref resolve.Ref, why string) {
	s.mountsMu.Lock()
	s.mounts[m.path] = m
	s.mountsMu.Unlock()
	s.log.Debug("vault mount detected by trying paths", "mount", m.path, "kv_version", kvVersion(m.kind), "ref", ref.Raw, "how", why)
}

// get reads path with the store's token.
func (s *Store) get(ctx context.Context, path string, q url.Values) (reply, error) {
	return s.auth.do(ctx, func(ctx context.Context) (reply, error) {
		ctx, cancel := context.WithTimeout(ctx, s.set.Timeout)
		defer cancel()
		last := &lastAnswer{}
		resp, err := s.client.Logical().ReadRawWithDataWithContext(context.WithValue(ctx, lastAnswerKey{}, last), path, q)
		rep, err := toReply(resp, err)
		if ae := last.err(); ae != nil && errors.Is(err, context.DeadlineExceeded) {
			// Vault answered, and the retries ran out of time: what it
			// answered, not "no answer" (a sealed Vault at a timeout of
			// 3 s, whose retries' waits passed it).
			return rep, fmt.Errorf("%w, again until the timeout of %s, retries included (stores.vault.timeout, VAULT_CLIENT_TIMEOUT; vault at %s): %w", ae, s.set.Timeout, s.set.Address, err)
		}
		return rep, s.unreachable(err)
	})
}

// lastAnswer is the last failed answer among a request's tries, which
// checkRetry keeps.
type lastAnswer struct {
	mu sync.Mutex
	ae *apiError
}

// lastAnswerKey is the context key of a request's *lastAnswer.
type lastAnswerKey struct{}

// keep records resp, an answer of 400 or more, reading the start of its
// body and putting it back.
func (l *lastAnswer) keep(resp *http.Response) {
	ae := &apiError{status: resp.StatusCode}
	if resp.Body != nil {
		head := peekBody(resp)
		var body struct {
			Errors []string `json:"errors"`
		}
		if json.Unmarshal(head, &body) != nil || body.Errors == nil {
			ae.foreign = true
		}
		ae.msgs = body.Errors
	}
	l.mu.Lock()
	l.ae = ae
	l.mu.Unlock()
}

func (l *lastAnswer) err() *apiError {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ae
}

// unreachable says, of a request that failed for good, that the client
// retried it.
func (s *Store) unreachable(err error) error {
	if ae := (*apiError)(nil); errors.As(err, &ae) && ae.plainToTLS {
		// The scheme in any case, as the address takes it: HTTP://h
		// was written https://HTTP://h.
		host := s.set.Address
		if len(host) >= len("http://") && strings.EqualFold(host[:len("http://")], "http://") {
			host = host[len("http://"):]
		}
		return fmt.Errorf("%w: write %s (VAULT_ADDR, stores.vault.address)", err, "https://"+host)
	} else if ae != nil && ae.raw != "" {
		// Answered: no retry, no outage.
		return err
	}
	if err == nil {
		return err
	}
	if ue, ok := err.(*url.Error); ok {
		// Not the request's URL: the failure is the address's, which
		// is named below, and the requests queued behind it fail with
		// it too (outage), each naming a document of its own.
		err = ue.Err
	}
	at := "vault at " + s.set.Address
	if s.set.defaultAddress {
		at += ", Vault's default: VAULT_ADDR is not set"
	}
	if s.via != "" {
		at += ", through the proxy " + s.via
	}
	if pr := (*proxyRefusedError)(nil); errors.As(err, &pr) {
		// Never retried (checkRetry).
		return fmt.Errorf("%w (%s)", err, at)
	}
	if errors.Is(err, http.ErrSchemeMismatch) {
		// Never retried (checkRetry) either. Never "write http://" alone:
		// the token would cross in the clear.
		return fmt.Errorf("%w (%s): the server there speaks plain HTTP, not TLS: check the port; if it is Vault's and its listener has TLS off (tls_disable), the token and the secrets cross the network in the clear, and only an http:// address reaches it", err, at)
	}
	if oe := (*net.OpError)(nil); errors.As(err, &oe) && oe.Op == "proxyconnect" {
		hint := "check the proxy, or add Vault's host to NO_PROXY"
		if s.set.proxy != nil {
			// Every request goes through it, as for the CLI.
			hint = "check the proxy"
		}
		return fmt.Errorf("cannot reach the proxy: %w (%s): %s", err, at, hint)
	}
	if cv := (*tls.CertificateVerificationError)(nil); errors.As(err, &cv) {
		// Never retried: say what to set instead.
		return fmt.Errorf("%w (%s)%s", err, at, s.certHint(cv))
	}
	if host, ok := certerr.NoSuchHost(err); ok {
		// Never retried (checkRetry) either.
		return fmt.Errorf("%w (%s): DNS says %s does not exist: check VAULT_ADDR (stores.vault.address)", err, at, host)
	}
	if tl := (*bodylimit.TooLargeError)(nil); errors.As(err, &tl) {
		// Never retried: the same answer would come again.
		return fmt.Errorf("%w (%s): Vault takes requests of at most 32 MiB, so it sends no secret larger; check that the address is Vault's, and what is between ward and Vault", err, at)
	}
	if co := (*cutOffError)(nil); errors.As(err, &co) {
		// Never the body's fault: not "not a Vault response".
		if errors.Is(co, context.DeadlineExceeded) {
			return fmt.Errorf("%w within %s (stores.vault.timeout, VAULT_CLIENT_TIMEOUT; %s): a proxy or the network between ward and Vault held it back", err, s.set.Timeout, at)
		}
		return fmt.Errorf("%w (%s): a proxy or the network between ward and Vault closed it", err, at)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// A Vault that takes the connection and never answers (a
		// stalled proxy, a sealed node behind a load balancer that
		// holds it): "context deadline exceeded" said neither.
		return fmt.Errorf("no answer within %s, retries included (stores.vault.timeout, VAULT_CLIENT_TIMEOUT; %s): check that Vault is reachable and answers: %w", s.set.Timeout, at, err)
	}
	if s.set.maxRetries == 0 {
		if s.set.defaultAddress || s.via != "" {
			return fmt.Errorf("%w (%s)", err, at)
		}
		return err
	}
	return fmt.Errorf("%w (%s, with up to %d retries)", err, at, s.set.maxRetries)
}

// certHint says what to set when Vault's certificate cannot be verified.
func (s *Store) certHint(cv *tls.CertificateVerificationError) string {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	switch {
	case errors.As(cv, &unknown):
		hint := ": set VAULT_CACERT (stores.vault.ca_cert) to the PEM file of the CA that signed Vault's certificate"
		if cas := strings.Trim(s.set.CACert+" "+s.set.CAPath, " "); cas != "" {
			hint = ": " + cas + " does not hold it" + hint
		} else if s.set.caCertBytes == "" && certerr.NoSystemRoots() {
			// A Vault with a public CA's certificate (HCP Vault) from an
			// image without CA certificates.
			hint = ": " + certerr.NoRootsHint + "; if a CA of your own signed it, set VAULT_CACERT (stores.vault.ca_cert) to its PEM file"
		}
		return hint
	case errors.As(cv, &host) && s.set.TLSServerName != "":
		return ": check VAULT_TLS_SERVER_NAME (stores.vault.tls_server_name)"
	case errors.As(cv, &host):
		return ": write a name the certificate holds in the address, or set VAULT_TLS_SERVER_NAME (stores.vault.tls_server_name)"
	}
	return ""
}

// toReply reads an answer: 4xx answers are replies, with their body when
// it parses; 5xx answers (after the retries) and failed requests are
// errors.
func toReply(resp *api.Response, err error) (reply, error) {
	if resp != nil {
		defer resp.Body.Close()
	}
	var re *api.ResponseError
	if errors.As(err, &re) && re.StatusCode < 500 && !foreignBody(re) {
		rep := reply{status: re.StatusCode, msgs: re.Errors}
		if resp != nil {
			if sec, perr := api.ParseSecret(resp.Body); perr == nil {
				rep.secret = sec
			}
		}
		return rep, nil
	}
	if err != nil {
		return reply{}, compact(err)
	}
	rep := reply{status: resp.StatusCode}
	body, err := io.ReadAll(resp.Body)
	if tl := (*bodylimit.TooLargeError)(nil); errors.As(err, &tl) {
		return reply{}, err
	}
	if err != nil {
		// The answer began and did not end: a proxy or the link in
		// between stalled or closed it. Its body is not at fault.
		return reply{}, &cutOffError{status: resp.StatusCode, read: len(body), err: err}
	}
	sec, err := api.ParseSecret(bytes.NewReader(body))
	if ct, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";"); err != nil && rawTypes[strings.TrimSpace(ct)] {
		// The path's own answer, not Vault's outage nor a proxy's.
		return reply{}, &apiError{status: resp.StatusCode, raw: strings.TrimSpace(ct)}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return reply{}, fmt.Errorf("vault answered %d with a body that is not a Vault response", resp.StatusCode)
	}
	rep.secret = sec
	return rep, nil
}

// cutOffError is an answer whose body stopped before its end: no more
// of it came within the request timeout, or the connection ended.
type cutOffError struct {
	status int
	read   int
	err    error
}

func (e *cutOffError) Error() string {
	if errors.Is(e.err, context.DeadlineExceeded) {
		return fmt.Sprintf("vault's answer (%d) did not end: %s of its body came", e.status, byteCount(e.read))
	}
	return fmt.Sprintf("vault's answer (%d) was cut off after %s of its body: the connection ended before the answer did (%v)", e.status, byteCount(e.read), e.err)
}

func (e *cutOffError) Unwrap() error { return e.err }

// byteCount is n bytes, in words.
func byteCount(n int) string {
	if n == 1 {
		return "1 byte"
	}
	return strconv.Itoa(n) + " bytes"
}

// rawTypes are the content types of the PKI engine's raw endpoints, whose
// answers are a certificate or a CRL as it is, not Vault's JSON.
var rawTypes = map[string]bool{
	"application/pem-certificate-chain": true,
	"application/x-pem-file":            true,
	"application/pkix-cert":             true,
	"application/pkix-crl":              true,
}

// denied is the error for a 403 on apiPaths.
func denied(ref resolve.Ref, mount string, apiPaths ...string) error {
	quoted := make([]string, len(apiPaths))
	for i, p := range apiPaths {
		quoted[i] = strconv.Quote(p)
	}
	return fmt.Errorf("read %s: %w (GET %s): check that the token's policy grants \"read\" on %s and that the mount %q exists",
		ref.Raw, ErrPermissionDenied, strings.Join(apiPaths, ", "), strings.Join(quoted, " or "), mount)
}

// notFound is the error for a 404 on apiPath.
func notFound(ref resolve.Ref, apiPath string, m mountInfo, rep reply) error {
	if strings.Contains(strings.Join(rep.msgs, " "), "no handler for route") {
		return fmt.Errorf("read %s: no secrets engine is mounted at %s: check the mount (vault secrets list): %w", ref.Raw, m.path, resolve.ErrNotFound)
	}
	hint := "check that the path exists"
	switch m.kind {
	case kindKV1:
		hint = fmt.Sprintf("check the path (vault kv list -mount=%s)", strings.TrimSuffix(m.path, "/"))
	case kindOther:
		hint = fmt.Sprintf("check that the %s mount %s has this role or path", m.typ, m.path)
	}
	return fmt.Errorf("read %s: no secret at %s: %s: %w", ref.Raw, apiPath, hint, resolve.ErrNotFound)
}

// relPath is ref's path inside mount m.
func relPath(ref resolve.Ref, m mountInfo) (string, error) {
	rel := strings.TrimPrefix(ref.Path, m.path)
	if rel == "" || rel == ref.Path && m.path != "" {
		return "", fmt.Errorf("read %s: %s is a mount, not a secret in it: add the secret's path", ref.Raw, m.path)
	}
	return rel, nil
}

// staticRecheck is the least time ward gives a static credential before
// it reads it again, and staticOverdue the most it gives one whose
// rotation is overdue.
const (
	staticRecheck = 3 * time.Second
	staticOverdue = time.Minute
)

// staticWait is how long the static credential at path, read with left
// until Vault's next rotation of it, is given before it is read again:
// left, and at least staticRecheck. Vault's rotation queue runs every 5 s,
// so a rotation due is seen within seconds; one that fails (the database
// down, its role dropped) leaves ttl at 0 until it works, and each read
// that finds it still overdue doubles the wait, up to staticOverdue: it
// was read, and logged, every 2 s for as long as the rotation failed.
func (s *Store) staticWait(path string, left time.Duration) time.Duration {
	s.mountsMu.Lock()
	defer s.mountsMu.Unlock()
	if left > 0 {
		delete(s.overdue, path)
		return max(left, staticRecheck)
	}
	n := s.overdue[path]
	s.overdue[path] = n + 1
	return min(staticRecheck<<min(n, 5), staticOverdue)
}

// staticTTL is what is left, as Vault answers it, of a static credential
// that Vault rotates on a schedule and hands out without a lease (a
// database static role's static-creds, LDAP's static-cred): its data's
// ttl, beside last_vault_rotation. ok is false for anything else.
func staticTTL(sec *api.Secret) (left time.Duration, ok bool) {
	if sec.LeaseID != "" || sec.Data == nil {
		return 0, false
	}
	if _, rotated := sec.Data["last_vault_rotation"]; !rotated {
		return 0, false
	}
	return dataTTL(sec)
}

// issuedTTL is the lifetime of a token Vault signs anew at each read,
// without a lease: the identity engine's identity/oidc/token/ROLE (token,
// client_id and ttl; the engine is always at identity/). ok is false for
// anything else.
func issuedTTL(ref resolve.Ref, sec *api.Secret) (life time.Duration, ok bool) {
	if !strings.HasPrefix(ref.Path, "identity/oidc/token/") || sec.LeaseID != "" || sec.Data == nil {
		return 0, false
	}
	_, token := sec.Data["token"].(string)
	_, client := sec.Data["client_id"].(string)
	if !token || !client {
		return 0, false
	}
	life, ok = dataTTL(sec)
	return life, ok && life > 0
}

// dataTTL is the ttl field of sec's data, in seconds as Vault writes it
// (not the lease's): ok is false when there is none.
func dataTTL(sec *api.Secret) (time.Duration, bool) {
	n, ok := sec.Data["ttl"].(json.Number)
	if !ok {
		return 0, false
	}
	secs, err := n.Int64()
	if err != nil {
		return 0, false
	}
	return time.Duration(secs) * time.Second, true
}

func isKV2Answer(rep reply) bool {
	if rep.secret == nil || (rep.status != http.StatusOK && rep.status != http.StatusNotFound) {
		return false
	}
	_, ok := rep.secret.Data["metadata"].(map[string]any)
	return ok
}

func hasWarning(sec *api.Secret, sub string) bool {
	for _, w := range sec.Warnings {
		if strings.Contains(w, sub) {
			return true
		}
	}
	return false
}

func kvVersion(k kind) string {
	switch k {
	case kindKV1:
		return "1"
	case kindKV2:
		return "2"
	}
	return "none"
}

// str renders a JSON scalar from the API (a string or a json.Number).
func str(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}
