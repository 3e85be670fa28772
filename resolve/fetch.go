package resolve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
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
	// Version and Lease come from the document it was read from.
	Version string
	Lease   *Lease
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
		f := e.Failures[0]
		return fmt.Sprintf("%s: %s: %v", f.Name, f.Ref.Raw, f.Err)
	}
	msg := fmt.Sprintf("%d secrets could not be resolved:", len(e.Failures))
	for _, f := range e.Failures {
		msg += fmt.Sprintf("\n  %s: %s: %v", f.Name, f.Ref.Raw, f.Err)
	}
	return msg
}

// Unwrap lets errors.Is see the causes.
func (e *FetchError) Unwrap() []error {
	errs := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		errs[i] = f.Err
	}
	return errs
}

type fetchResult struct {
	secret Secret
	err    error
}

// Fetch resolves refs (variable name to reference). It returns every value
// or none: on any failure the error lists each failed variable.
func (f *Fetcher) Fetch(ctx context.Context, refs map[string]Ref) (map[string]Value, error) {
	log := f.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	limit := f.Concurrency
	if limit <= 0 {
		limit = DefaultConcurrency
	}

	// Group the documents by store, one entry per key.
	docs := map[Key]Ref{}
	byScheme := map[string][]Key{}
	for _, r := range refs {
		k := r.Key()
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
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	schemes := make([]string, 0, len(byScheme))
	for s := range byScheme {
		schemes = append(schemes, s)
	}
	sort.Strings(schemes)
	for _, scheme := range schemes {
		keys := byScheme[scheme]
		store, err := f.Stores(scheme)
		if err != nil {
			for _, k := range keys {
				set(k, fetchResult{err: err})
			}
			continue
		}
		if bs, ok := store.(BatchStore); ok && len(keys) > 1 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				batch := make([]Ref, len(keys))
				for i, k := range keys {
					batch[i] = docs[k]
				}
				start := time.Now()
				secrets, errs := bs.FetchBatch(ctx, batch)
				for i, k := range keys {
					audit(log, docs[k], secrets[i], errs[i], time.Since(start))
					set(k, fetchResult{secret: secrets[i], err: errs[i]})
				}
			}()
			continue
		}
		for _, k := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					set(k, fetchResult{err: ctx.Err()})
					return
				}
				defer func() { <-sem }()
				start := time.Now()
				s, err := store.Fetch(ctx, docs[k])
				audit(log, docs[k], s, err, time.Since(start))
				set(k, fetchResult{secret: s, err: err})
			}()
		}
	}
	wg.Wait()

	out := make(map[string]Value, len(refs))
	var failures []VarError
	for name, r := range refs {
		res := results[r.Key()]
		if res.err != nil {
			failures = append(failures, VarError{Name: name, Ref: r, Err: res.err})
			continue
		}
		b := res.secret.Value
		if r.Field != "" {
			v, err := res.secret.Field(r.Field)
			if err != nil {
				failures = append(failures, VarError{Name: name, Ref: r, Err: err})
				continue
			}
			b = v
		}
		out[name] = Value{Name: name, Ref: r, Bytes: b, Version: res.secret.Version, Lease: res.secret.Lease}
	}
	if failures != nil {
		sort.Slice(failures, func(i, j int) bool { return failures[i].Name < failures[j].Name })
		return nil, &FetchError{Failures: failures}
	}
	return out, nil
}

// audit logs one line per document read: store, reference, version or
// lease, duration. Never the value.
func audit(log *slog.Logger, ref Ref, s Secret, err error, d time.Duration) {
	attrs := []any{"store", ref.Scheme, "ref", ref.Raw, "duration", d.Round(time.Microsecond).String()}
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
