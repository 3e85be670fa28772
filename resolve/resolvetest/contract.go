// Package resolvetest is the contract every store passes: the same
// assertions, run against local, file, env, Vault and the AWS stores.
package resolvetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/wardsecrets/ward/resolve"
)

// Harness adapts one store to the contract.
type Harness struct {
	// Store is the store under test.
	Store resolve.Store
	// Put stores value under a fresh name and returns the reference that
	// reads it back whole (a field reference for stores whose documents
	// are always structured).
	Put func(t *testing.T, name string, value []byte) resolve.Ref
	// PutFields stores a structured document and returns the reference of
	// the whole document (no field). Nil when the store has no structure
	// of its own; the contract then stores the fields as a JSON object.
	PutFields func(t *testing.T, name string, fields map[string]string) resolve.Ref
	// Missing returns a reference to a document that does not exist.
	Missing func(t *testing.T) resolve.Ref
}

// Canary returns a unique value to store: any sighting of it in an error is
// a leak.
func Canary(tag string) string {
	b := make([]byte, 10)
	rand.Read(b)
	return "canary-" + tag + "-" + hex.EncodeToString(b)
}

// Run runs the contract.
func Run(t *testing.T, h Harness) {
	fetcher := &resolve.Fetcher{Stores: func(string) (resolve.Store, error) { return h.Store, nil }}
	ctx := context.Background()

	t.Run("value round trip", func(t *testing.T) {
		v := Canary("whole")
		ref := h.Put(t, "contract/whole", []byte(v))
		got, err := fetcher.Fetch(ctx, map[string]resolve.Ref{"X": ref})
		if err != nil {
			t.Fatalf("fetch %s: %v", ref.Raw, err)
		}
		if !bytes.Equal(got["X"].Bytes, []byte(v)) {
			t.Errorf("fetch %s: got a different value (%d bytes, want %d)", ref.Raw, len(got["X"].Bytes), len(v))
		}
	})

	t.Run("fields", func(t *testing.T) {
		user, pass := Canary("user"), Canary("pass")
		var ref resolve.Ref
		if h.PutFields != nil {
			ref = h.PutFields(t, "contract/fields", map[string]string{"username": user, "password": pass})
		} else {
			ref = h.Put(t, "contract/fields", []byte(`{"username":"`+user+`","password":"`+pass+`"}`))
			ref.Field = ""
		}
		u, p := ref, ref
		u.Field, p.Field = "username", "password"
		u.Raw, p.Raw = ref.Raw+"#username", ref.Raw+"#password"
		got, err := fetcher.Fetch(ctx, map[string]resolve.Ref{"U": u, "P": p})
		if err != nil {
			t.Fatalf("fetch fields: %v", err)
		}
		if string(got["U"].Bytes) != user || string(got["P"].Bytes) != pass {
			t.Errorf("fields: got wrong values for username or password")
		}
		missing := ref
		missing.Field, missing.Raw = "nope", ref.Raw+"#nope"
		_, err = fetcher.Fetch(ctx, map[string]resolve.Ref{"N": missing})
		if err == nil {
			t.Fatalf("a missing field resolved")
		}
		msg := err.Error()
		if !strings.Contains(msg, `"password"`) || !strings.Contains(msg, `"username"`) {
			t.Errorf("a missing field's error does not list the field names: %s", redact(msg, user, pass))
		}
		if strings.Contains(msg, user) || strings.Contains(msg, pass) {
			t.Errorf("a missing field's error contains a value")
		}
	})

	t.Run("missing document", func(t *testing.T) {
		ref := h.Missing(t)
		_, err := fetcher.Fetch(ctx, map[string]resolve.Ref{"M": ref})
		if err == nil {
			t.Fatalf("fetch %s: a missing document resolved", ref.Raw)
		}
		if !errors.Is(err, resolve.ErrNotFound) {
			t.Errorf("fetch %s: got %v, want an error that is resolve.ErrNotFound", ref.Raw, err)
		}
		if !strings.Contains(err.Error(), "M: "+ref.Raw) {
			t.Errorf("the error does not name the variable and reference: %v", err)
		}
	})

	t.Run("all or nothing", func(t *testing.T) {
		v := Canary("good")
		good := h.Put(t, "contract/good", []byte(v))
		got, err := fetcher.Fetch(ctx, map[string]resolve.Ref{"GOOD": good, "BAD": h.Missing(t)})
		if err == nil || got != nil {
			t.Fatalf("one missing reference: got %d values and error %v, want no values and an error", len(got), err)
		}
		if strings.Contains(err.Error(), v) {
			t.Errorf("the error contains a value")
		}
	})

	t.Run("concurrent fetches agree", func(t *testing.T) {
		v := Canary("conc")
		ref := h.Put(t, "contract/concurrent", []byte(v))
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := h.Store.Fetch(ctx, ref.Document())
				if err != nil {
					errs <- err
					return
				}
				b := s.Value
				if ref.Field != "" {
					if b, err = s.Field(ref.Field); err != nil {
						errs <- err
						return
					}
				}
				if string(b) != v {
					errs <- errors.New("a concurrent fetch got a different value")
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(redact(err.Error(), v))
		}
	})
}

func redact(s string, values ...string) string {
	for _, v := range values {
		s = strings.ReplaceAll(s, v, "<redacted>")
	}
	return s
}
