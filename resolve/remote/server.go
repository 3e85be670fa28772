package remote

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/wardsecrets/ward/internal/owngc"
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/signals"
)

// OpenFunc opens a helper's store from its decoded settings.
type OpenFunc func(opts resolve.Options, env resolve.Env) (resolve.Store, error)

// Main is a helper program's whole main: it serves kind's store on stdin
// and stdout when ward starts it, and explains itself to a person who
// runs it by hand. It returns the exit code.
func Main(kind *resolve.Kind, open OpenFunc) int {
	if len(os.Args) != 2 || os.Args[1] != ServeArg {
		fmt.Fprintf(os.Stderr, "%s serves ward's %s store; ward starts it when a manifest names %s references.\n", kind.Helper(), kind.Name, schemeNames(kind))
		return 2
	}
	// What ward was started with beyond its stdio is the child's.
	signals.CloseInherited()
	// GOGC and GOMEMLIMIT, if set, are the child's.
	owngc.Reset()
	// The helper holds the store's credentials and values: no core dump,
	// no ptrace by the same user, as for ward itself.
	if err := signals.Harden(); err != nil {
		fmt.Fprintf(os.Stderr, "cannot harden the helper process: %v\n", err)
	}
	// Its life is ward's: it ends at the end of its stdin, after giving
	// back its leases. A stop signal sent to every process of ward's
	// cgroup or name (systemd's KillMode=control-group, pkill ward) would
	// otherwise kill it before ward asks it to close, and the leases it
	// holds would outlive ward by their TTL. Caught rather than ignored,
	// so that a program the store runs (a credential process) gets the
	// default dispositions.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	if err := serve(os.Stdin, os.Stdout, kind, open, true); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func schemeNames(k *resolve.Kind) string {
	s := ""
	for i, sc := range k.Schemes {
		if i > 0 {
			s += ", "
		}
		s += sc.Name + "://"
	}
	return s
}

// Serve answers ward's requests from in on out until a close request or
// the end of in; then it closes the store (revoking its leases when asked
// to) and returns.
func Serve(in io.Reader, out io.Writer, kind *resolve.Kind, open OpenFunc) error {
	return serve(in, out, kind, open, false)
}

// serve is Serve; with setenv, the environment an open request carries
// becomes the process's own (see openRequest.Environ).
func serve(in io.Reader, out io.Writer, kind *resolve.Kind, open OpenFunc, setenv bool) error {
	s := &server{kind: kind, open: open, out: out, keeps: map[uint64]context.CancelFunc{}, setenv: setenv}
	s.log = slog.New(&recordHandler{s: s, level: slog.LevelInfo})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	var closing *request
	var unreadable error
	for sc.Scan() {
		var req request
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			// Stop, but as at the end of input: the leases go back.
			unreadable = fmt.Errorf("%s: a request it cannot read: protocol mismatch with ward?", kind.Helper())
			break
		}
		if req.Op == opClose {
			closing = &req
			break
		}
		if req.Op == opOpen {
			res, err := s.doOpen(req.Open)
			s.reply(req.ID, res, err)
			continue
		}
		if req.Op == opPing {
			s.reply(req.ID, struct{}{}, nil)
			continue
		}
		if s.store == nil {
			s.reply(req.ID, nil, fmt.Errorf("the store is not open"))
			continue
		}
		s.handle(ctx, req)
	}
	// Closing, asked or because ward is gone: stop renewing, finish what
	// is under way, then give back the leases.
	cancel()
	s.inflight.Wait()
	var err error
	if c, ok := s.store.(resolve.Closer); ok {
		err = c.Close()
	}
	if closing != nil {
		s.reply(closing.ID, struct{}{}, err)
	}
	return unreadable
}

// server is the helper's side of one connection.
type server struct {
	kind  *resolve.Kind
	open  OpenFunc
	store resolve.Store
	limit int
	log   *slog.Logger
	// setenv: the open request's environment becomes the process's.
	setenv bool

	wmu sync.Mutex
	out io.Writer

	inflight sync.WaitGroup
	mu       sync.Mutex
	keeps    map[uint64]context.CancelFunc
}

func (s *server) doOpen(o *openRequest) (any, error) {
	if s.store != nil {
		return nil, fmt.Errorf("the store is open already")
	}
	if o == nil || o.Protocol != Protocol {
		return openResult{Protocol: Protocol, Ward: buildVersion()}, nil
	}
	if s.setenv && o.Environ != nil {
		// Before anything reads it: the store's client, its credentials,
		// the programs it runs (a credential_process) get it from here.
		os.Clearenv()
		for _, kv := range o.Environ {
			if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
				os.Setenv(k, v)
			}
		}
	}
	var level slog.Level
	if level.UnmarshalText([]byte(o.LogLevel)) == nil {
		s.log = slog.New(&recordHandler{s: s, level: level})
	}
	var opts resolve.Options
	if s.kind.NewOptions != nil {
		opts = s.kind.NewOptions()
		if len(o.Options) > 0 {
			if err := json.Unmarshal(o.Options, opts); err != nil {
				return nil, fmt.Errorf("read the store's settings: %w", err)
			}
		}
	}
	s.limit = o.Concurrency
	if s.limit <= 0 {
		s.limit = resolve.DefaultConcurrency
	}
	st, err := s.open(opts, resolve.Env{Getenv: os.Getenv, Log: s.log, Concurrency: s.limit, RevokeOnExit: o.RevokeOnExit})
	if err != nil {
		return nil, err
	}
	s.store = st
	res := openResult{Protocol: Protocol, Ward: buildVersion()}
	for _, sc := range s.kind.Schemes {
		res.Schemes = append(res.Schemes, sc.Name)
	}
	_, res.Leases = st.(resolve.LeaseKeeper)
	_, res.Versions = st.(resolve.Versioner)
	return res, nil
}

// leaseAdopter is a store that can take over a lease another helper
// created, to renew it and give it back when it closes.
type leaseAdopter interface {
	AdoptLease(*resolve.Lease)
}

// handle answers one request in the background.
func (s *server) handle(ctx context.Context, req request) {
	switch req.Op {
	case opCancel:
		s.mu.Lock()
		if cancel, ok := s.keeps[req.Target]; ok {
			cancel()
		}
		s.mu.Unlock()
		return
	case opKeepLease:
		// A lease of a helper that died is taken in at once, before the
		// requests that follow (a close revokes it).
		if a, ok := s.store.(leaseAdopter); ok && req.Lease != nil {
			a.AdoptLease(req.Lease.lease())
		}
		// Renewing runs until the lease ends or ward cancels; it must not
		// hold a close up, so it is not counted in flight.
		kctx, cancel := context.WithCancel(ctx)
		s.mu.Lock()
		s.keeps[req.ID] = cancel
		s.mu.Unlock()
		go func() {
			defer func() {
				s.mu.Lock()
				delete(s.keeps, req.ID)
				s.mu.Unlock()
				cancel()
			}()
			res, err := s.keepLease(kctx, req.Lease)
			if kctx.Err() != nil {
				// Cancelled by ward, or closing: nobody waits for it.
				return
			}
			s.reply(req.ID, res, err)
		}()
		return
	}
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		var res any
		var err error
		switch req.Op {
		case opFetch:
			res = s.fetch(ctx, req.Refs)
		case opVersion:
			res, err = s.version(ctx, req.Refs)
		case opRevoke:
			res, err = s.revoke(ctx, req.Lease)
		case opResume:
			if r, ok := s.store.(resolve.Resumer); ok {
				err = r.Resume(ctx)
			}
		default:
			err = fmt.Errorf("unknown request %q", req.Op)
		}
		s.reply(req.ID, res, err)
	}()
}

func (s *server) fetch(ctx context.Context, refs []wireRef) fetchResult {
	res := fetchResult{Secrets: make([]*wireSecret, len(refs)), Errors: make([]*wireError, len(refs))}
	byScheme := map[string][]int{}
	var schemes []string
	for i, r := range refs {
		if _, ok := byScheme[r.Scheme]; !ok {
			schemes = append(schemes, r.Scheme)
		}
		byScheme[r.Scheme] = append(byScheme[r.Scheme], i)
	}
	set := func(i int, sec resolve.Secret, err error) {
		if err != nil {
			res.Errors[i] = toWireError(err)
			return
		}
		res.Secrets[i] = toWireSecret(sec)
	}
	var one []int // the references read one at a time
	for _, scheme := range schemes {
		idx := byScheme[scheme]
		if bs, ok := s.store.(resolve.BatchStore); ok && len(idx) > 1 {
			batch := make([]resolve.Ref, len(idx))
			for k, i := range idx {
				batch[k] = refs[i].ref()
			}
			secrets, errs := bs.FetchBatch(ctx, batch)
			for k, i := range idx {
				set(i, secrets[k], errs[k])
			}
			continue
		}
		one = append(one, idx...)
	}
	// A few workers take the references in turn rather than a goroutine
	// each: a store client's call chain is deep (vault/api, retries,
	// net/http), and each new goroutine grows its stack again, copying it
	// several times (measured: a tenth of the Vault helper's CPU for 50
	// reads).
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(s.limit, len(one)) {
		wg.Go(func() {
			for k := int(next.Add(1)) - 1; k < len(one); k = int(next.Add(1)) - 1 {
				i := one[k]
				sec, err := s.store.Fetch(ctx, refs[i].ref())
				set(i, sec, err)
			}
		})
	}
	wg.Wait()
	return res
}

func (s *server) version(ctx context.Context, refs []wireRef) (any, error) {
	v, ok := s.store.(resolve.Versioner)
	if !ok || len(refs) != 1 {
		return nil, fmt.Errorf("the %s store cannot tell versions", s.kind.Name)
	}
	ver, err := v.Version(ctx, refs[0].ref())
	return versionResult{Version: ver}, err
}

func (s *server) keepLease(ctx context.Context, l *wireLease) (any, error) {
	k, ok := s.store.(resolve.LeaseKeeper)
	if !ok {
		return nil, fmt.Errorf("the %s store has no leases", s.kind.Name)
	}
	ends, err := k.KeepLease(ctx, l.lease())
	if err != nil {
		return nil, err
	}
	return leaseResult{Ended: true, Ends: ends}, nil
}

func (s *server) revoke(ctx context.Context, l *wireLease) (any, error) {
	k, ok := s.store.(resolve.LeaseKeeper)
	if !ok {
		return nil, fmt.Errorf("the %s store has no leases", s.kind.Name)
	}
	return struct{}{}, k.Revoke(ctx, l.lease())
}

// reply answers request id with a result or an error.
func (s *server) reply(id uint64, result any, err error) {
	r := response{ID: id, Error: toWireError(err)}
	if err == nil {
		b, merr := json.Marshal(result)
		if merr != nil {
			r.Error = toWireError(fmt.Errorf("encode the answer: %w", merr))
		} else {
			r.Result = b
		}
	}
	s.write(&r)
}

func (s *server) write(r *response) {
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	b = append(b, '\n')
	s.wmu.Lock()
	defer s.wmu.Unlock()
	// A failed write means ward is gone; the end of stdin follows.
	s.out.Write(b)
}

// recordHandler sends log records to ward, which logs them in its own
// format at its own level.
type recordHandler struct {
	s      *server
	level  slog.Level
	attrs  []slog.Attr
	prefix string
}

func (h *recordHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	l := &wireLog{Level: r.Level.String(), Msg: r.Message, Attrs: map[string]string{}}
	for _, a := range h.attrs {
		l.Attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		l.Attrs[h.prefix+a.Key] = a.Value.String()
		return true
	})
	h.s.write(&response{Log: l})
	return nil
}

func (h *recordHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr{}, h.attrs...), prefixed(h.prefix, attrs)...)
	return &n
}

func (h *recordHandler) WithGroup(name string) slog.Handler {
	n := *h
	n.prefix = h.prefix + name + "."
	return &n
}

func prefixed(prefix string, attrs []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = slog.Attr{Key: prefix + a.Key, Value: a.Value}
	}
	return out
}

// version is the helper's ward version, set at build time as ward's own
// is: -ldflags "-X github.com/wardsecrets/ward/resolve/remote.version=v1.2.3"
// beside "-X github.com/wardsecrets/ward/launcher.version=v1.2.3", which
// the helpers do not link. A build that sets ward's alone (an image
// built with its VERSION) gave helpers of no version, and a helper of
// another protocol left in an image (one `COPY --from` of two updated)
// was "of an unknown version" beside ward's.
var version = ""

// buildVersion is the version set at build time, else the module version
// the helper was built from (go install ...@v1.2.3), or "" when the build
// records neither.
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return ""
}
