package local

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve"
)

func versionsOf(h []Entry) string {
	vs := make([]string, len(h))
	for i, e := range h {
		vs[i] = fmt.Sprintf("v%d", e.Version)
		if e.RestoredFrom > 0 {
			vs[i] += fmt.Sprintf("<v%d", e.RestoredFrom)
		}
	}
	return strings.Join(vs, " ")
}

func TestHistory(t *testing.T) {
	s := newStore(t)
	v1, v2, v3 := canary("v1"), canary("v2"), canary("v3")
	mustSet(t, s, "app/a", v1)
	mustSet(t, s, "app/a", v2)
	mustSet(t, s, "app/a", v3)
	mustSet(t, s, "app/other", canary("other"))
	h, err := s.History("app/a")
	if err != nil {
		t.Fatal(err)
	}
	if got := versionsOf(h); got != "v3 v2 v1" {
		t.Errorf("got versions %s, want v3 v2 v1", got)
	}
	for _, e := range h {
		if e.Name != "app/a" || e.Updated.IsZero() || time.Since(e.Updated) > time.Hour {
			t.Errorf("got entry %+v, want app/a with today's date", e)
		}
	}
	wantValue(t, s, "app/a", v3)
	_, err = s.History("app/missing")
	if !errors.Is(err, resolve.ErrNotFound) {
		t.Errorf("history of a missing entry: got %v, want resolve.ErrNotFound", show(err))
	}
}

// TestHistoryKeepsTen: an entry keeps its current version and the ten
// before; older values are gone from the file.
func TestHistoryKeepsTen(t *testing.T) {
	s := newStore(t)
	values := make([][]byte, 15)
	for i := range values {
		values[i] = canary(fmt.Sprintf("v%d", i+1))
		mustSet(t, s, "app/a", values[i])
	}
	h, err := s.History("app/a")
	if err != nil {
		t.Fatal(err)
	}
	if got := versionsOf(h); got != "v15 v14 v13 v12 v11 v10 v9 v8 v7 v6 v5" {
		t.Errorf("got versions %s, want v15 down to v5", got)
	}
	for i, v := range values {
		if kept := inFile(t, s, v); kept != (i >= 4) {
			t.Errorf("v%d in the store file: %v, want %v", i+1, kept, i >= 4)
		}
	}
}

func TestRollback(t *testing.T) {
	s := newStore(t)
	v1, v2, v3 := canary("v1"), canary("v2"), canary("v3")
	for _, v := range [][]byte{v1, v2, v3} {
		mustSet(t, s, "app/a", v)
	}
	if err := s.Rollback("app/a", 0); err != nil {
		t.Fatal(err)
	}
	wantValue(t, s, "app/a", v2)
	if err := s.Rollback("app/a", 1); err != nil {
		t.Fatal(err)
	}
	wantValue(t, s, "app/a", v1)
	h, err := s.History("app/a")
	if err != nil {
		t.Fatal(err)
	}
	if got := versionsOf(h); got != "v5<v1 v4<v2 v3 v2 v1" {
		t.Errorf("got versions %s, want v5<v1 v4<v2 v3 v2 v1", got)
	}

	tests := []struct {
		name string
		to   int
		want string
		is   error
	}{
		{name: "the current version", to: 5, want: "already its current version"},
		{name: "a version not held", to: 9, want: "v5, v4, v3, v2, v1"},
		{name: "a negative version", to: -1, want: "no version -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Rollback("app/a", tt.to)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("rollback to %d: got %v, want an error saying %q", tt.to, show(err), tt.want)
			}
			noLeak(t, "rollback", err, v1, v2, v3)
		})
	}
	if err := s.Rollback("app/missing", 0); !errors.Is(err, resolve.ErrNotFound) {
		t.Errorf("rollback of a missing entry: got %v, want resolve.ErrNotFound", show(err))
	}
	mustSet(t, s, "app/new", canary("new"))
	if err := s.Rollback("app/new", 0); err == nil || !strings.Contains(err.Error(), "no earlier version") {
		t.Errorf("rollback of an entry with one version: got %v", show(err))
	}
}

// TestRollbackStepsBack: rollbacks one after another undo one set each,
// back to the value before every mistake; a second rollback does not bring
// the newest mistake back, as swapping the last two versions would.
func TestRollbackStepsBack(t *testing.T) {
	s := newStore(t)
	good, bad1, bad2, later := canary("good"), canary("bad1"), canary("bad2"), canary("later")
	for _, v := range [][]byte{good, bad1, bad2} {
		mustSet(t, s, "app/a", v)
	}
	mustRollback := func(want []byte) {
		t.Helper()
		if err := s.Rollback("app/a", 0); err != nil {
			t.Fatal(show(err))
		}
		wantValue(t, s, "app/a", want)
	}
	mustRollback(bad1)
	mustRollback(good)
	noEarlier := func() {
		t.Helper()
		err := s.Rollback("app/a", 0)
		if err == nil || !strings.Contains(err.Error(), "no version before v1") || !errors.Is(err, ErrNoSuchVersion) {
			t.Errorf("a rollback past the first set: got %v, want an error saying no version before v1 is kept", show(err))
		}
		noLeak(t, "rollback", err, good, bad1, bad2, later)
	}
	noEarlier()
	// A set after rollbacks, rolled back, is back where they had left it.
	mustSet(t, s, "app/a", later)
	mustRollback(good)
	noEarlier()
	h, err := s.History("app/a")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := versionsOf(h), "v7<v1 v6 v5<v1 v4<v2 v3 v2 v1"; got != want {
		t.Errorf("got versions %s, want %s", got, want)
	}
	// An explicit --to is kept as given, and the next rollback steps back
	// from the version it copies.
	if err := s.Rollback("app/a", 4); err != nil {
		t.Fatal(show(err))
	}
	wantValue(t, s, "app/a", bad1)
	mustRollback(good)
}

// TestRemoveErasesHistory: Remove drops an entry's every version, and a
// new entry of the same name starts again at v1.
func TestRemoveErasesHistory(t *testing.T) {
	s := newStore(t)
	v1, v2 := canary("v1"), canary("v2")
	mustSet(t, s, "app/a", v1)
	mustSet(t, s, "app/a", v2)
	mustSet(t, s, "app/b", canary("b"))
	if err := s.Remove("app/a"); err != nil {
		t.Fatal(err)
	}
	if inFile(t, s, v1) || inFile(t, s, v2) {
		t.Errorf("a removed entry's values are still in the store file")
	}
	if _, err := s.History("app/a"); !errors.Is(err, resolve.ErrNotFound) {
		t.Errorf("history of a removed entry: got %v, want resolve.ErrNotFound", show(err))
	}
	mustSet(t, s, "app/a", canary("again"))
	if h, err := s.History("app/a"); err != nil || versionsOf(h) != "v1" {
		t.Errorf("got %v and %v, want v1 alone", h, show(err))
	}
}

// TestFormat1Compatible: a store written by the ward before history is
// read, and what this ward writes back is still ward-local-store/1 that
// the older ward's reader takes.
func TestFormat1Compatible(t *testing.T) {
	s := newStore(t)
	a, b := canary("a"), canary("b")
	seal(t, s, `{"format":"ward-local-store/1","entries":{`+
		`"app/a":{"value":"`+base64.StdEncoding.EncodeToString(a)+`","version":3,"updated":"2024-05-01T10:00:00Z"},`+
		`"app/b":{"value":"`+base64.StdEncoding.EncodeToString(b)+`","version":1,"updated":"2024-05-02T10:00:00Z"},`+
		`"app/nil":{"value":null,"version":1,"updated":"2024-05-02T10:00:00Z"}}}`)
	wantValue(t, s, "app/a", a)
	wantValue(t, s, "app/nil", nil)
	if h, err := s.History("app/a"); err != nil || versionsOf(h) != "v3" || !h[0].Updated.Equal(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("history of an old store's entry: got %+v and %v, want v3 of 2024-05-01", h, show(err))
	}
	a2 := canary("a2")
	mustSet(t, s, "app/a", a2)

	// The older ward's reader, as it was.
	type record struct {
		Value   []byte    `json:"value"`
		Version int       `json:"version"`
		Updated time.Time `json:"updated"`
	}
	var old struct {
		Format  string             `json:"format"`
		Entries map[string]*record `json:"entries"`
	}
	if err := json.Unmarshal(unseal(t, s), &old); err != nil {
		t.Fatal("the older ward cannot parse the store")
	}
	if old.Format != "ward-local-store/1" || len(old.Entries) != 3 {
		t.Fatalf("the older ward sees format %q and %d entries, want ward-local-store/1 and 3", old.Format, len(old.Entries))
	}
	if r := old.Entries["app/a"]; string(r.Value) != string(a2) || r.Version != 4 {
		t.Errorf("the older ward sees app/a at v%d with a different value, want v4 and the new value", r.Version)
	}
	if r := old.Entries["app/b"]; string(r.Value) != string(b) || r.Version != 1 {
		t.Errorf("the older ward sees app/b at v%d with a different value, want v1 and the same value", r.Version)
	}
}
