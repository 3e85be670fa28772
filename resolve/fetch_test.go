package resolve

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// TestFetchErrorGroups: the report groups variables by reason; a name
// that merely begins like a document's path (secret/db2 for secret/db) is
// not taken for it, so A's reason stays B's.
func TestFetchErrorGroups(t *testing.T) {
	ref := func(s string) Ref {
		r, err := ParseRef(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	denied := func(path string) error {
		return fmt.Errorf("read vault://%s: permission denied (GET secret/data/%s)", path, strings.TrimPrefix(path, "secret/"))
	}
	tests := []struct {
		name     string
		failures []VarError
		want     []string
	}{
		{"one variable", []VarError{{Name: "A", Ref: ref("vault://secret/a#x"), Err: denied("secret/a")}},
			[]string{"A: vault://secret/a#x: read vault://secret/a: permission denied (GET secret/data/a)"}},
		{"one document", []VarError{
			{Name: "A", Ref: ref("vault://secret/a#x"), Err: denied("secret/a")},
			{Name: "B", Ref: ref("vault://secret/a#y"), Err: denied("secret/a")},
		}, []string{"A, B: read vault://secret/a: permission denied (GET secret/data/a)"}},
		{"one reason, paths in several forms", []VarError{
			{Name: "A", Ref: ref("vault://secret/app/a"), Err: denied("secret/app/a")},
			{Name: "B", Ref: ref("vault://secret/app/b"), Err: denied("secret/app/b")},
		}, []string{"A, B: read vault://secret/app/a and 1 more: permission denied (GET secret/data/app/a)"}},
		{"quoted names", []VarError{
			{Name: "A", Ref: ref("vault://kv/one"), Err: errors.New(`read secret "one" in kv: Get "https://kv/secrets/one/?v=1": no such host`)},
			{Name: "B", Ref: ref("vault://kv/two"), Err: errors.New(`read secret "two" in kv: Get "https://kv/secrets/two/?v=1": no such host`)},
		}, []string{`A, B: vault://kv/one and 1 more: read secret "one" in kv: Get "https://kv/secrets/one/?v=1": no such host`}},
		{"a path like another's", []VarError{
			{Name: "A", Ref: ref("vault://secret/db"), Err: errors.New("read vault://secret/db: no mount secret/db2")},
			{Name: "B", Ref: ref("vault://secret/x"), Err: errors.New("read vault://secret/x: no mount secret/db2")},
		}, []string{"A, B: read vault://secret/db and 1 more: no mount secret/db2"}},
		{"missing documents", []VarError{
			{Name: "A", Ref: ref("local://a"), Err: fmt.Errorf("read local://a: %w", ErrNotFound)},
			{Name: "B", Ref: ref("local://b"), Err: fmt.Errorf("read local://b: %w", ErrNotFound)},
		}, []string{"A: local://a: read local://a: not found", "B: local://b: read local://b: not found"}},
		// A store's own failure, met by each of its schemes: one entry
		// (awssm:// and ssm:// were two, with one hint twice).
		{"one store, two schemes", []VarError{
			{Name: "A", Ref: Ref{Raw: "awssm://x/a", Scheme: "awssm", Path: "x/a"}, Err: storeWide{"ward-aws is not installed"}},
			{Name: "B", Ref: Ref{Raw: "ssm:///x/b", Scheme: "ssm", Path: "/x/b"}, Err: storeWide{"ward-aws is not installed"}},
		}, []string{"A, B: awssm://x/a and 1 more: ward-aws is not installed"}},
		{"many", func() []VarError {
			var fs []VarError
			for i := range 12 {
				fs = append(fs, VarError{Name: fmt.Sprintf("V%02d", i), Ref: ref(fmt.Sprintf("local://E%d", i)), Err: errors.New("no helper")})
			}
			return fs
		}(), []string{"V00, V01, V02, V03, V04, V05, V06, V07 and 4 more: local://E0 and 11 more: no helper"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range (&FetchError{Failures: tt.failures}).Unwrap() {
				got = append(got, e.Error())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// storeWide is a store's own failure, as the helpers' MissingError is.
type storeWide struct{ msg string }

func (e storeWide) Error() string     { return e.msg }
func (e storeWide) StoreWide() string { return "ward-aws" }

// TestRefFieldEscapes: a field's name with a '#' or a '?' is written
// %23, %3F, a '%' before them %25; any other '%' is the name's own. A
// bare '#' or '?' in a field is refused with the escape in the hint.
func TestRefFieldEscapes(t *testing.T) {
	for _, tc := range []struct{ ref, field string }{
		{"env://X#token%232", "token#2"},
		{"env://X#ready%3F", "ready?"},
		{"env://X#ready%3f?", "ready?"},
		{"env://X?#a%2523", "a%23"},
		{"env://X#50%off", "50%off"},
		{"env://X#plain", "plain"},
	} {
		r, err := parseRef(tc.ref)
		if err != nil {
			t.Errorf("%s: %v", tc.ref, err)
			continue
		}
		if r.Field != tc.field {
			t.Errorf("%s: field %q, want %q", tc.ref, r.Field, tc.field)
		}
	}
	_, err := parseRef("env://X#a#b")
	if err == nil || !strings.Contains(err.Hint, "%23") {
		t.Errorf("a bare '#' in a field: got %v, want a refusal whose hint gives %%23", err)
	}
}
