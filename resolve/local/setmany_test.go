package local

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wardsecrets/ward/internal/atomicfile"
)

func TestSetManyStoresEveryValue(t *testing.T) {
	s := newStore(t)
	old := canary("old")
	mustSet(t, s, "app/a", old)
	a, b := canary("a"), canary("b")
	written, err := s.SetMany([]NamedValue{{"app/a", a}, {"app/b", b}, {"app/c", old}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Written{{"app/a", 1, 2}, {"app/b", 0, 1}, {"app/c", 0, 1}}
	if fmt.Sprint(written) != fmt.Sprint(want) {
		t.Errorf("got written %v, want %v", written, want)
	}
	wantValue(t, s, "app/a", a)
	wantValue(t, s, "app/b", b)
	wantValue(t, s, "app/c", old)

	// A value the entry already holds is no new version.
	written, err = s.SetMany([]NamedValue{{"app/a", a}, {"app/b", canary("b2")}})
	if err != nil {
		t.Fatal(err)
	}
	want = []Written{{"app/a", 2, 2}, {"app/b", 1, 2}}
	if fmt.Sprint(written) != fmt.Sprint(want) {
		t.Errorf("got written %v, want %v", written, want)
	}
}

// TestSetManyAllOrNothing: one bad value anywhere in a batch, and nothing
// at all is written; the error names every bad entry and no value.
func TestSetManyAllOrNothing(t *testing.T) {
	big := bytes.Repeat([]byte("x"), MaxValueSize+1)
	tests := []struct {
		name  string
		bad   NamedValue
		extra []NamedValue
		want  string
		is    error
	}{
		{name: "invalid name", bad: NamedValue{"bad name!", canary("v")}, want: `invalid name "bad name!"`},
		{name: "name given twice", bad: NamedValue{"batch/n0", canary("v")}, want: `"batch/n0" is given more than once`},
		{name: "value over 1 MiB", bad: NamedValue{"batch/big", big}, want: `"batch/big" is over the 1 MiB limit`},
		{name: "empty value", bad: NamedValue{"batch/empty", nil}, want: "--allow-empty", is: ErrEmptyValue},
		{name: "empty, not nil", bad: NamedValue{"batch/empty", []byte{}}, want: `"batch/empty"`, is: ErrEmptyValue},
		{name: "several at once", bad: NamedValue{"batch/empty", nil}, extra: []NamedValue{{"no good", canary("v")}},
			want: `invalid name "no good"`, is: ErrEmptyValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			kept := canary("kept")
			mustSet(t, s, "batch/kept", kept)
			before := fileBytes(t, s.Path)
			values := []NamedValue{{"batch/kept", canary("new")}}
			for i := range 5 {
				values = append(values, NamedValue{fmt.Sprintf("batch/n%d", i), canary("v")})
			}
			values = append(values, tt.extra...)
			values = append(values, tt.bad)
			_, err := s.SetMany(values)
			if err == nil {
				t.Fatal("the batch was stored")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %q, want it to say %q", show(err), tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("got error %q, want one that is %v", show(err), tt.is)
			}
			for _, v := range values {
				noLeak(t, "the batch", err, v.Value)
			}
			if fileBytes(t, s.Path) != before {
				t.Errorf("the store file changed")
			}
			wantValue(t, s, "batch/kept", kept)
		})
	}
}

// TestSetLimits: Set checks what SetMany checks.
func TestSetLimits(t *testing.T) {
	s := newStore(t)
	if err := s.Set("max", bytes.Repeat([]byte("x"), MaxValueSize)); err != nil {
		t.Errorf("a value of exactly 1 MiB: %v", show(err))
	}
	if err := s.Set("over", bytes.Repeat([]byte("x"), MaxValueSize+1)); err == nil || !strings.Contains(err.Error(), "1 MiB") {
		t.Errorf("a value over 1 MiB: got %v, want a refusal naming the limit", show(err))
	}
	if err := s.Set("../up", canary("v")); err == nil || !strings.Contains(err.Error(), "invalid name") {
		t.Errorf("an invalid name: got %v, want a refusal", show(err))
	}
}

// TestEmptyValueRefused: an empty value is refused unless asked for, and
// the error says how to ask.
func TestEmptyValueRefused(t *testing.T) {
	s := newStore(t)
	for _, v := range [][]byte{nil, {}} {
		err := s.Set("app/empty", v)
		if !errors.Is(err, ErrEmptyValue) || !strings.Contains(err.Error(), "--allow-empty") {
			t.Errorf("set of an empty value: got %v, want ErrEmptyValue saying --allow-empty", show(err))
		}
	}
	if _, err := os.Stat(s.Path); err == nil {
		t.Errorf("a refused empty value created the store")
	}
	if _, err := s.SetMany([]NamedValue{{"app/empty", nil}, {"app/full", canary("full")}}, AllowEmpty); err != nil {
		t.Fatalf("SetMany with AllowEmpty: %v", show(err))
	}
	wantValue(t, s, "app/empty", nil)
}

// TestSetManyWritesOnce: a batch of 100 is one file written and renamed
// into place, not one per value.
func TestSetManyWritesOnce(t *testing.T) {
	s := newStore(t)
	mustSet(t, s, "seed", canary("seed"))
	var commits []string
	atomicfile.Hooks.Commit = func(path string) error { commits = append(commits, path); return nil }
	t.Cleanup(func() { atomicfile.Hooks.Commit = nil })
	values := make([]NamedValue, 100)
	for i := range values {
		values[i] = NamedValue{fmt.Sprintf("many/k%03d", i), canary("many")}
	}
	if _, err := s.SetMany(values); err != nil {
		t.Fatal(err)
	}
	if len(commits) != 1 || filepath.Base(commits[0]) != "store.age" {
		t.Errorf("got %d files committed (%v), want the store once", len(commits), commits)
	}
}

// TestSetManyKilled: a writer killed just before its file takes the
// store's place leaves the old store whole, with none of the batch.
func TestSetManyKilled(t *testing.T) {
	s := newStore(t)
	old := canary("old")
	mustSet(t, s, "helper/k001", old)
	before := fileBytes(t, s.Path)
	target, _ := filepath.EvalSymlinks(s.Path)
	killMidWrite(t, s, target, 200)
	if fileBytes(t, s.Path) != before {
		t.Errorf("the store file changed")
	}
	wantValue(t, s, "helper/k001", old)
	if names, err := s.Existing([]string{"helper/k000", "helper/k002", "helper/k199"}); err != nil || len(names) != 0 {
		t.Errorf("got %v and %v, want none of the killed batch", names, show(err))
	}
}

func TestExisting(t *testing.T) {
	s := newStore(t)
	if got, err := s.Existing([]string{"a"}); err != nil || got != nil {
		t.Errorf("a store not created yet: got %v and %v, want none", got, show(err))
	}
	mustSet(t, s, "a", canary("a"))
	mustSet(t, s, "c", canary("c"))
	got, err := s.Existing([]string{"c", "b", "a"})
	if err != nil || strings.Join(got, ",") != "c,a" {
		t.Errorf("got %v and %v, want [c a]", got, show(err))
	}
}

// TestNoReplace: with NoReplace, a batch naming an existing entry stores
// nothing and says which exist.
func TestNoReplace(t *testing.T) {
	s := newStore(t)
	mustSet(t, s, "app/a", canary("a"))
	before := fileBytes(t, s.Path)
	_, err := s.SetMany([]NamedValue{{"app/new", canary("n")}, {"app/a", canary("a2")}}, NoReplace)
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), `"app/a" exists`) {
		t.Errorf("got %v, want ErrExists naming app/a", show(err))
	}
	if fileBytes(t, s.Path) != before {
		t.Errorf("the store file changed")
	}
	if _, err := s.SetMany([]NamedValue{{"app/new", canary("n")}}, NoReplace); err != nil {
		t.Errorf("a new name with NoReplace: %v", show(err))
	}
}

// TestNoOtherValue: with NoOtherValue, a batch naming an entry that holds
// another value stores nothing and says which; one that holds the same
// value (an interrupted import run again) is left as it is, and the rest
// is stored.
func TestNoOtherValue(t *testing.T) {
	s := newStore(t)
	a, b := canary("a"), canary("b")
	mustSet(t, s, "app/a", a)
	mustSet(t, s, "app/b", b)
	before := fileBytes(t, s.Path)
	_, err := s.SetMany([]NamedValue{{"app/new", canary("n")}, {"app/a", a}, {"app/b", canary("b2")}}, NoOtherValue)
	var other *OtherValueError
	if !errors.Is(err, ErrExists) || !errors.As(err, &other) || !slices.Equal(other.Names, []string{"app/b"}) {
		t.Errorf("got %v, want ErrExists naming app/b alone", show(err))
	}
	if fileBytes(t, s.Path) != before {
		t.Errorf("the store file changed")
	}
	written, err := s.SetMany([]NamedValue{{"app/new", canary("n")}, {"app/a", a}}, NoOtherValue)
	if err != nil || len(written) != 2 || written[1].Version != 1 {
		t.Errorf("a new name and one holding the same value: got %v, %v, want both taken, app/a at version 1", written, show(err))
	}
}

// TestUndo: Undo takes a batch back, values and all, and leaves what
// changed since.
func TestUndo(t *testing.T) {
	s := newStore(t)
	a1, b1 := canary("a1"), canary("b1")
	mustSet(t, s, "a", a1)
	mustSet(t, s, "b", b1)
	a2, b2, c1 := canary("a2"), canary("b2"), canary("c1")
	written, err := s.SetMany([]NamedValue{{"a", a2}, {"b", b2}, {"c", c1}})
	if err != nil {
		t.Fatal(err)
	}
	b3 := canary("b3")
	mustSet(t, s, "b", b3) // changed since: Undo leaves it
	err = s.Undo(written)
	if err == nil || !strings.Contains(err.Error(), `"b"`) || strings.Contains(err.Error(), `"a"`) {
		t.Errorf("undo: got %v, want an error naming b alone", show(err))
	}
	noLeak(t, "undo", err, a1, a2, b1, b2, b3, c1)
	wantValue(t, s, "a", a1)
	wantValue(t, s, "b", b3)
	if got, _ := s.Existing([]string{"c"}); len(got) != 0 {
		t.Errorf("the entry the batch created is still there")
	}
	h, err := s.History("a")
	if err != nil || len(h) != 1 || h[0].Version != 1 {
		t.Errorf("history of a after undo: got %+v and %v, want v1 alone", h, show(err))
	}
	if inFile(t, s, a2) || inFile(t, s, c1) {
		t.Errorf("an undone value is still in the store file")
	}
}
