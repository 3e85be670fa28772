package resolve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// DefaultConcurrency bounds the fetches in flight at once.
const DefaultConcurrency = 16

// Value is one resolved variable.
type Value struct {
	// Name is the variable (or file) the value is for.
	Name string
	// Ref is the reference it came from.
	Ref Ref
	// Bytes is the value.
	Bytes []byte
	// Version, Updated, Lease, Expires and File come from the document
	// it was read from.
	Version string
	Updated time.Time
	Lease   *Lease
	Expires time.Time
	File    *FileStamp
	// Read is when the fetch that read it began.
	Read time.Time
}

// StoreFor returns the store for a scheme.
type StoreFor func(scheme string) (Store, error)

// Fetcher resolves many references with one fetch per document, a bound
// on concurrency, and all-or-nothing results.
type Fetcher struct {
	Stores      StoreFor
	Concurrency int
	Log         *slog.Logger
}

// FetchError is the failure of one or more variables. Each entry names the
// variable and the reference, never a value.
type FetchError struct {
	Failures []VarError
}

// VarError is the failure of one variable.
type VarError struct {
	Name string
	Ref  Ref
	Err  error
}

func (e *FetchError) Error() string {
	groups := e.Unwrap()
	if len(groups) == 1 {
		return groups[0].Error()
	}
	msg := fmt.Sprintf("%d secrets could not be resolved:", len(e.Failures))
	for _, g := range groups {
		msg += "\n  " + g.Error()
	}
	return msg
}

// Unwrap lists the failures as a report shows them, one entry per reason:
// the variables of one document that failed together share an entry, and
// so do those of a store that failed every document alike (no token, an
// unreachable server, a helper not installed), which would otherwise
// repeat one message hundreds of times. errors.Is and errors.As see each
// entry's cause; a variable that failed alone is its *VarError.
func (e *FetchError) Unwrap() []error {
	var order []string
	groups := map[string]*failureGroup{}
	for i := range e.Failures {
		f := &e.Failures[i]
		doc := f.Ref.Document().Raw
		reason := reasonOf(f, doc)
		g := groups[reason]
		if g == nil {
			g = &failureGroup{first: f}
			groups[reason] = g
			order = append(order, reason)
		}
		g.names = append(g.names, f.Name)
		if !slices.Contains(g.docs, doc) {
			g.docs = append(g.docs, doc)
		}
	}
	errs := make([]error, len(order))
	for i, reason := range order {
		if g := groups[reason]; len(g.names) > 1 {
			errs[i] = g
		} else {
			errs[i] = g.first
		}
	}
	return errs
}

// reasonOf is f's message with the names of its document taken out: the
// same for every document a store-wide fault failed. Stores name a
// document in several forms (vault://secret/app/db, the API path
// secret/data/app/db, a URL ending in secret/app/db, Key Vault's
// secret "db"), so each tail of its path that follows a slash or a quote
// goes too. Missing documents are not grouped.
func reasonOf(f *VarError, doc string) string {
	if IsNotFound(f.Err) {
		// Each missing document is one to create: named, never "and N more".
		return doc + "\x00" + f.Err.Error()
	}
	var wide interface{ StoreWide() string }
	if errors.As(f.Err, &wide) {
		// The store's own failure (its helper not installed), which each
		// scheme it serves (awssm://, ssm://) met alike: one entry.
		return "store\x00" + wide.StoreWide() + "\x00" + f.Err.Error()
	}
	msg := strings.ReplaceAll(f.Err.Error(), doc, "\x00")
	segs := strings.Split(f.Ref.Path, "/")
	for i := 1; i < len(segs); i++ {
		if tail := strings.Join(segs[i:], "/"); tail != "" {
			msg = replaceTail(msg, tail)
		}
	}
	return f.Ref.Scheme + "\x00" + msg
}

// replaceTail replaces each tail in msg that follows a slash or a quote
// and ends a name: "app/db" in "secret/data/app/db:" and db in
// `secret "db"`, not in "myapp/db2".
func replaceTail(msg, tail string) string {
	var b strings.Builder
	for {
		i := strings.Index(msg, tail)
		if i < 0 {
			b.WriteString(msg)
			return b.String()
		}
		end := i + len(tail)
		if i > 0 && strings.IndexByte(`/"'`, msg[i-1]) >= 0 && (end == len(msg) || !nameByte(msg[end])) {
			b.WriteString(msg[:i])
			b.WriteByte(0)
		} else {
			b.WriteString(msg[:end])
		}
		msg = msg[end:]
	}
}

func nameByte(c byte) bool {
	return c == '_' || c == '-' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// failureGroup is variables that failed for one reason.
type failureGroup struct {
	first *VarError
	names []string
	docs  []string
}

// shownNames is how many variables a group's line names before "and N
// more": the debug log and `ward check --resolve` list each.
const shownNames = 8

func (g *failureGroup) Error() string {
	names := strings.Join(g.names[:min(len(g.names), shownNames)], ", ")
	if n := len(g.names) - shownNames; n > 0 {
		names += fmt.Sprintf(" and %d more", n)
	}
	docs := g.docs[0]
	if len(g.docs) > 1 {
		docs += fmt.Sprintf(" and %d more", len(g.docs)-1)
	}
	msg := g.first.Err.Error()
	if !strings.Contains(msg, g.docs[0]) {
		return names + ": " + docs + ": " + msg
	}
	return names + ": " + strings.ReplaceAll(msg, g.docs[0], docs)
}

// Unwrap returns the first variable's failure, which stands for the rest.
func (g *failureGroup) Unwrap() error { return g.first }

func (e *VarError) Error() string { return fmt.Sprintf("%s: %s: %v", e.Name, e.Ref.Raw, e.Err) }

// Unwrap returns the cause.
func (e *VarError) Unwrap() error { return e.Err }

type fetchResult struct {
	secret Secret
	err    error
}

// Fetch resolves refs (variable name to reference). It returns every value
// or none: on any failure the error lists each failed variable.
func (f *Fetcher) Fetch(ctx context.Context, refs map[string]Ref) (map[string]Value, error) {
	out, failures := f.FetchAvailable(ctx, refs)
	if failures != nil {
		return nil, &FetchError{Failures: failures}
	}
	return out, nil
}

// FetchAvailable resolves refs as Fetch does, each document read once, and
// returns the values it could read beside the variables it could not
// (sorted by name), for a caller that can use part: a rotation gives the
// child what changed and keeps what it has for the rest, and scan searches
// for what it could read. A start uses Fetch.
func (f *Fetcher) FetchAvailable(ctx context.Context, refs map[string]Ref) (map[string]Value, []VarError) {
	read := time.Now()
	results := f.fetchDocuments(ctx, refs)
	out := make(map[string]Value, len(refs))
	var failures []VarError
	for name, r := range refs {
		res := results[r.Key()]
		b, err := res.secret.Value, res.err
		if err == nil && r.Field != "" {
			b, err = res.secret.Field(r.Field)
		}
		if err != nil {
			failures = append(failures, VarError{Name: name, Ref: r, Err: err})
			continue
		}
		s := res.secret
		out[name] = Value{Name: name, Ref: r, Bytes: b, Version: s.Version, Updated: s.Updated, Lease: s.Lease, Expires: s.Expires, File: s.File, Read: read}
	}
	sort.Slice(failures, func(i, j int) bool { return failures[i].Name < failures[j].Name })
	return out, failures
}

// fetchDocuments reads each document refs name once: a batch per store
// that batches, one fetch per document otherwise, at most Concurrency
// requests at once.
func (f *Fetcher) fetchDocuments(ctx context.Context, refs map[string]Ref) map[Key]fetchResult {
	log := f.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	limit := f.Concurrency
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	docs := map[Key]Ref{}
	byScheme := map[string][]Key{}
	readers := map[Key][]string{} // the variables each document is read for
	for name, r := range refs {
		k := r.Key()
		readers[k] = append(readers[k], name)
		if _, ok := docs[k]; !ok {
			docs[k] = r.Document()
			byScheme[r.Scheme] = append(byScheme[r.Scheme], k)
		}
	}

	results := make(map[Key]fetchResult, len(docs))
	var mu sync.Mutex
	set := func(k Key, r fetchResult) {
		mu.Lock()
		results[k] = r
		mu.Unlock()
	}
	var g errgroup.Group
	g.SetLimit(limit)
	for _, scheme := range slices.Sorted(maps.Keys(byScheme)) {
		keys := byScheme[scheme]
		store, err := f.Stores(scheme)
		if err != nil {
			for _, k := range keys {
				set(k, fetchResult{err: err})
			}
			continue
		}
		if bs, ok := store.(BatchStore); ok && len(keys) > 1 {
			g.Go(func() error {
				batch := make([]Ref, len(keys))
				for i, k := range keys {
					batch[i] = docs[k]
				}
				start := time.Now()
				secrets, errs := bs.FetchBatch(ctx, batch)
				for i, k := range keys {
					audit(log, docs[k], readers[k], secrets[i], errs[i], time.Since(start))
					set(k, fetchResult{secret: secrets[i], err: errs[i]})
				}
				return nil
			})
			continue
		}
		for _, k := range keys {
			g.Go(func() error {
				if err := ctx.Err(); err != nil {
					set(k, fetchResult{err: err})
					return nil
				}
				start := time.Now()
				s, err := store.Fetch(ctx, docs[k])
				audit(log, docs[k], readers[k], s, err, time.Since(start))
				set(k, fetchResult{secret: s, err: err})
				return nil
			})
		}
	}
	g.Wait()
	return results
}

// audit logs one line per document read: store, reference, the variables
// it was read for, version or lease, duration. Never the value.
func audit(log *slog.Logger, ref Ref, vars []string, s Secret, err error, d time.Duration) {
	slices.Sort(vars)
	attrs := []any{"store", ref.Scheme, "ref", ref.Raw, "vars", strings.Join(vars, ","), "duration", d.Round(time.Microsecond).String()}
	if err != nil {
		log.Debug("secret fetch failed", append(attrs, "error", err.Error())...)
		return
	}
	if s.Version != "" {
		attrs = append(attrs, "version", s.Version)
	}
	if s.Lease != nil {
		attrs = append(attrs, "lease_ttl", s.Lease.TTL.String(), "renewable", s.Lease.Renewable)
	}
	log.Info("secret fetched", attrs...)
}

// IsNotFound reports whether err says a secret does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
