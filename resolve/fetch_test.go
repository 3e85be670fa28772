package resolve

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// testRefs parses references of the schemes these tests use, with no
// checks of their own.
var testRefs = NewRegistry(&Kind{Name: "test", Schemes: []*Scheme{
	{Name: "vault", Check: func(*Ref) *RefError { return nil }},
	{Name: "local", Check: func(*Ref) *RefError { return nil }},
}})

// ParseRef parses a test reference.
func ParseRef(s string) (Ref, error) { return testRefs.ParseRef(s) }

// countingStore is a fake store: a struct of function fields, as the
// tests need it.
type countingStore struct {
	fetch func(ctx context.Context, ref Ref) (Secret, error)
}

func (s countingStore) Fetch(ctx context.Context, ref Ref) (Secret, error) { return s.fetch(ctx, ref) }

func TestFetchDedupesPerDocument(t *testing.T) {
	var calls sync.Map
	store := countingStore{fetch: func(_ context.Context, ref Ref) (Secret, error) {
		n, _ := calls.LoadOrStore(ref.Raw, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		return Secret{Value: []byte(`{"username":"u","password":"p"}`), Version: "1"}, nil
	}}
	refs := map[string]Ref{}
	for i, s := range []string{"vault://db/creds/app#username", "vault://db/creds/app#password", "vault://db/creds/app#username", "vault://kv/other#x"} {
		r, _ := ParseRef(s)
		refs[fmt.Sprintf("V%d", i)] = r
	}
	// V3 asks a field the document lacks; drop it for the dedupe check.
	delete(refs, "V3")
	f := &Fetcher{Stores: func(string) (Store, error) { return store, nil }}
	got, err := f.Fetch(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	if string(got["V0"].Bytes) != "u" || string(got["V1"].Bytes) != "p" || string(got["V2"].Bytes) != "u" {
		t.Errorf("got wrong field values")
	}
	n, _ := calls.Load("vault://db/creds/app")
	if c := n.(*atomic.Int32).Load(); c != 1 {
		t.Errorf("got %d fetches of one document, want 1", c)
	}
}

func TestFetchBoundsConcurrency(t *testing.T) {
	var inFlight, peak atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{}, 100)
	store := countingStore{fetch: func(ctx context.Context, ref Ref) (Secret, error) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		started <- struct{}{}
		<-release
		inFlight.Add(-1)
		return Secret{Value: []byte("v")}, nil
	}}
	refs := map[string]Ref{}
	for i := 0; i < 40; i++ {
		r, _ := ParseRef(fmt.Sprintf("local://doc/n%d", i))
		refs[fmt.Sprintf("V%d", i)] = r
	}
	f := &Fetcher{Stores: func(string) (Store, error) { return store, nil }, Concurrency: 4}
	done := make(chan error, 1)
	go func() {
		_, err := f.Fetch(context.Background(), refs)
		done <- err
	}()
	// Let exactly 4 start, then release them one at a time.
	for i := 0; i < 4; i++ {
		<-started
	}
	for i := 0; i < 40; i++ {
		release <- struct{}{}
		if i < 36 {
			<-started
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p != 4 {
		t.Errorf("got %d fetches in flight at once, want 4", p)
	}
}

func TestFetchAllOrNothing(t *testing.T) {
	store := countingStore{fetch: func(_ context.Context, ref Ref) (Secret, error) {
		if strings.HasSuffix(ref.Path, "bad") {
			return Secret{}, fmt.Errorf("%s: %w", ref.Path, ErrNotFound)
		}
		return Secret{Value: []byte("secret-value-canary")}, nil
	}}
	good, _ := ParseRef("local://x/good")
	bad, _ := ParseRef("local://x/bad")
	f := &Fetcher{Stores: func(string) (Store, error) { return store, nil }}
	got, err := f.Fetch(context.Background(), map[string]Ref{"GOOD": good, "BAD": bad})
	if got != nil {
		t.Errorf("got %d values, want none", len(got))
	}
	var fe *FetchError
	if !errors.As(err, &fe) || len(fe.Failures) != 1 || fe.Failures[0].Name != "BAD" {
		t.Fatalf("got %v, want one failure naming BAD", err)
	}
	if !IsNotFound(err) {
		t.Errorf("the error is not ErrNotFound")
	}
	if strings.Contains(err.Error(), "secret-value-canary") {
		t.Errorf("the error contains a value")
	}
}

func TestFieldTextForNonStrings(t *testing.T) {
	fields, err := JSONFields([]byte(`{"n": 5432, "b": true, "o": {"a": [1, 2]}, "s": "x", "z": null}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"n": "5432", "b": "true", "o": `{"a":[1,2]}`, "s": "x", "z": ""}
	for k, v := range want {
		if string(fields[k]) != v {
			t.Errorf("field %s: got %q, want %q", k, fields[k], v)
		}
	}
	if _, err := JSONFields([]byte("not json secret-canary")); err == nil || strings.Contains(err.Error(), "secret-canary") {
		t.Errorf("got %v, want an error without the input", err)
	}
}
