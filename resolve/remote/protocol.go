// Package remote runs a store in a helper program and talks to it over
// pipes, so that ward's own process links no store SDK: Go runs every
// linked package's initialisers before main, and the Vault, AWS, Google
// and Azure SDKs cost milliseconds each on every start. A Client is the
// store as ward sees it; Serve is the helper's side.
//
// The protocol (version 2) is one JSON object per line. ward writes
// requests to the helper's stdin; the helper writes responses, and its
// log records, to its stdout; its stderr is ward's log too. Requests carry
// an id; the response carries the same id, and requests are answered in
// any order, so fetches run concurrently. Operations:
//
//	open        first, once: the protocol version, the store's settings
//	            (its stores.<name> block as JSON), concurrency,
//	            revoke_on_exit, the log level and the helper's
//	            environment, which a helper started by ward (remote.Main)
//	            takes for its own before it opens the store: it is
//	            started with the Go runtime's settings alone, so that its
//	            /proc/PID/environ, readable until the helper makes itself
//	            non-dumpable, holds no credential. Answer: the helper's
//	            protocol and ward version, the schemes it serves and what
//	            it can do (leases, versions). A helper of another
//	            protocol answers with its protocol and version alone.
//	fetch       refs (whole documents, no field): one secret or one
//	            error per ref, in order. A secret's value travels as
//	            base64; errors say whether the document was not found,
//	            and may carry a hint (what the user can do about them).
//	version     one ref: the version it names now (a metadata read).
//	keep_lease  a lease: answered when it can no longer be renewed, with
//	            when it ends where the store knows. A
//	            lease a helper that died created is taken in at once
//	            (renewed, and revoked on close), where the store can.
//	cancel      stop the keep_lease request `target`; no answer.
//	revoke      a lease: end it now.
//	resume      nothing: sent to a helper started in place of one that
//	            died; its store makes ready now what it keeps alive
//	            between requests (logs in, renews its token), not at the
//	            next request (see resolve.Resumer). A helper that does not
//	            know it answers with an error, which ward ignores.
//	ping        nothing: answered at once, even before open, to show
//	            that the helper runs (a helper that answers no ping
//	            within ward's answer timeout is killed). A helper that
//	            does not know it answers with an error, as alive.
//	close       give back what the store holds (leases, when
//	            revoke_on_exit) and exit. End of input means the same, so
//	            a ward killed with SIGKILL still gets its leases revoked.
//
// Secret values cross only the pipe, never argv, the environment, a log
// record or an error.
package remote

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/wardsecrets/ward/resolve"
)

// Protocol is the version of the protocol this package speaks.
const Protocol = 2

// op names a request.
type op string

const (
	opOpen      op = "open"
	opFetch     op = "fetch"
	opVersion   op = "version"
	opKeepLease op = "keep_lease"
	opCancel    op = "cancel"
	opRevoke    op = "revoke"
	opClose     op = "close"
	opPing      op = "ping"
	opResume    op = "resume"
)

// request is one line ward writes.
type request struct {
	ID     uint64       `json:"id"`
	Op     op           `json:"op"`
	Open   *openRequest `json:"open,omitempty"`
	Refs   []wireRef    `json:"refs,omitempty"`
	Lease  *wireLease   `json:"lease,omitempty"`
	Target uint64       `json:"target,omitempty"`
}

type openRequest struct {
	Protocol     int             `json:"protocol"`
	Store        string          `json:"store"`
	Options      json.RawMessage `json:"options,omitempty"`
	Concurrency  int             `json:"concurrency"`
	RevokeOnExit bool            `json:"revoke_on_exit"`
	LogLevel     string          `json:"log_level"`
	// Environ is the helper's environment (KEY=VALUE), for Main to set;
	// none leaves it as it is.
	Environ []string `json:"environ,omitempty"`
}

// response is one line the helper writes: an answer (ID set) or a log
// record (Log set).
type response struct {
	ID     uint64          `json:"id,omitempty"`
	Error  *wireError      `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Log    *wireLog        `json:"log,omitempty"`
}

type openResult struct {
	Protocol int `json:"protocol"`
	// Ward is the version of ward the helper was built from, when its
	// build says (see buildVersion); ward names it when the protocols
	// differ.
	Ward     string   `json:"ward,omitempty"`
	Schemes  []string `json:"schemes"`
	Leases   bool     `json:"leases"`
	Versions bool     `json:"versions"`
}

type fetchResult struct {
	Secrets []*wireSecret `json:"secrets"`
	Errors  []*wireError  `json:"errors"`
}

type versionResult struct {
	Version string `json:"version"`
}

type leaseResult struct {
	// Ended: the lease can no longer be renewed; read the secret again.
	Ended bool `json:"ended"`
	// Ends is when the lease ends, when the store knows (a helper
	// without it sends none).
	Ends time.Time `json:"ends,omitzero"`
}

type wireRef struct {
	Raw     string            `json:"raw"`
	Scheme  string            `json:"scheme"`
	Path    string            `json:"path"`
	Options map[string]string `json:"options,omitempty"`
}

func toWireRef(r resolve.Ref) wireRef {
	return wireRef{Raw: r.Raw, Scheme: r.Scheme, Path: r.Path, Options: r.Options}
}

func (w wireRef) ref() resolve.Ref {
	return resolve.Ref{Raw: w.Raw, Scheme: w.Scheme, Path: w.Path, Options: w.Options}
}

type wireSecret struct {
	Value   []byte            `json:"value"`
	Fields  map[string][]byte `json:"fields,omitempty"`
	Version string            `json:"version,omitempty"`
	Updated time.Time         `json:"updated,omitzero"`
	Lease   *wireLease        `json:"lease,omitempty"`
	Expires time.Time         `json:"expires,omitzero"`
}

func toWireSecret(s resolve.Secret) *wireSecret {
	return &wireSecret{Value: s.Value, Fields: s.Fields, Version: s.Version, Updated: s.Updated, Lease: toWireLease(s.Lease), Expires: s.Expires}
}

func (w *wireSecret) secret() resolve.Secret {
	return resolve.Secret{Value: w.Value, Fields: w.Fields, Version: w.Version, Updated: w.Updated, Lease: w.Lease.lease(), Expires: w.Expires}
}

type wireLease struct {
	ID        string        `json:"id"`
	TTL       time.Duration `json:"ttl"`
	Renewable bool          `json:"renewable"`
	Check     time.Duration `json:"check,omitempty"`
}

func toWireLease(l *resolve.Lease) *wireLease {
	if l == nil {
		return nil
	}
	return &wireLease{ID: l.ID, TTL: l.TTL, Renewable: l.Renewable, Check: l.Check}
}

func (w *wireLease) lease() *resolve.Lease {
	if w == nil {
		return nil
	}
	return &resolve.Lease{ID: w.ID, TTL: w.TTL, Renewable: w.Renewable, Check: w.Check}
}

// wireError is an error as it crosses the pipe: its message (which, like
// every store error, never holds a value), whether it means "not found",
// and what the user can do about it (resolve.WithHint's hint).
type wireError struct {
	Msg      string `json:"msg"`
	NotFound bool   `json:"not_found,omitempty"`
	Hint     string `json:"hint,omitempty"`
}

func toWireError(err error) *wireError {
	if err == nil {
		return nil
	}
	w := &wireError{Msg: err.Error(), NotFound: resolve.IsNotFound(err)}
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		w.Hint = h.Hint()
	}
	return w
}

// Error is an error the helper reported.
type Error struct {
	Msg      string
	NotFound bool
	hint     string
}

func (e *Error) Error() string { return e.Msg }

// Hint is what the helper said the user can do about the error, "" for
// nothing.
func (e *Error) Hint() string { return e.hint }

// Is makes errors.Is(err, resolve.ErrNotFound) hold across the pipe.
func (e *Error) Is(target error) bool { return e.NotFound && target == resolve.ErrNotFound }

func (w *wireError) err() error {
	if w == nil {
		return nil
	}
	return &Error{Msg: w.Msg, NotFound: w.NotFound, hint: w.Hint}
}

// wireLog is one log record of the helper.
type wireLog struct {
	Level string            `json:"level"`
	Msg   string            `json:"msg"`
	Attrs map[string]string `json:"attrs,omitempty"`
}
