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
	if len(e.Failures) == 1 {
		return e.Failures[0].Error()
	}
	msg := fmt.Sprintf("%d secrets could not be resolved:", len(e.Failures))
	for _, f := range e.Failures {
		msg += "\n  " + f.Error()
	}
	return msg
}

// Unwrap lists the failures, one per variable; errors.Is sees their
// causes through them.
func (e *FetchError) Unwrap() []error {
	errs := make([]error, len(e.Failures))
	for i := range e.Failures {
		errs[i] = &e.Failures[i]
	}
	return errs
}

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
	if failures != nil {
		sort.Slice(failures, func(i, j int) bool { return failures[i].Name < failures[j].Name })
		return nil, &FetchError{Failures: failures}
	}
	return out, nil
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
