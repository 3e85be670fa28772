package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/wardsecrets/ward/resolve"
)

// The behaviour ward had before history and batches, kept.

func TestSetGetListRemove(t *testing.T) {
	s := newStore(t)
	if got, err := s.List(); err != nil || len(got) != 0 {
		t.Fatalf("list of a store not created yet: got %d entries and %v, want none and no error", len(got), show(err))
	}
	a, b := canary("a"), canary("b")
	mustSet(t, s, "app/a", a)
	mustSet(t, s, "app/b", b)
	wantValue(t, s, "app/a", a)
	sec, err := s.Fetch(context.Background(), resolve.Ref{Scheme: "local", Path: "app/b"})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Version != "v1" {
		t.Errorf("got version %q, want v1", sec.Version)
	}
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "app/a" || list[1].Name != "app/b" || list[0].Version != 1 || list[0].Updated.IsZero() {
		t.Errorf("got list %+v, want app/a and app/b at v1 with a date", list)
	}
	if err := s.Remove("app/a"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get("app/a")
	if !errors.Is(err, resolve.ErrNotFound) {
		t.Errorf("get of a removed entry: got %v, want resolve.ErrNotFound", show(err))
	}
	noLeak(t, "get of a removed entry", err, a, b)
	if err := s.Remove("app/a"); err == nil {
		t.Errorf("removing a missing entry succeeded")
	}
	if mode := statMode(t, s.Path); mode != 0o600 {
		t.Errorf("store file mode %04o, want 0600", mode)
	}
	if mode := statMode(t, s.IdentityPath); mode != 0o600 {
		t.Errorf("identity file mode %04o, want 0600", mode)
	}
}

func statMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// TestConcurrentSetsLoseNothing: Sets through separate Store values (as
// separate processes would be) are serialised by the file lock.
func TestConcurrentSetsLoseNothing(t *testing.T) {
	s := newStore(t)
	mustSet(t, s, "seed", canary("seed"))
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			other := &Store{Path: s.Path, IdentityPath: s.IdentityPath}
			if err := other.Set(fmt.Sprintf("conc/n%02d", i), canary("conc")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 13 {
		t.Errorf("got %d entries, want 13", len(list))
	}
}

func TestWrongIdentity(t *testing.T) {
	s := newStore(t)
	v := canary("wrong")
	mustSet(t, s, "a", v)
	other := &Store{Path: s.Path, IdentityPath: s.IdentityPath + ".other"}
	identityOf(t, other)
	before := fileBytes(t, s.Path)
	_, err := other.Get("a")
	if err == nil || !strings.Contains(err.Error(), "another identity") {
		t.Errorf("get with another identity: got %v, want an error saying so", show(err))
	}
	if err := other.Set("b", canary("b")); err == nil {
		t.Errorf("set with another identity succeeded")
	}
	if fileBytes(t, s.Path) != before {
		t.Errorf("the store was rewritten by a ward with another identity")
	}
}

func TestIdentityReadableByOthers(t *testing.T) {
	s := newStore(t)
	mustSet(t, s, "a", canary("a"))
	// 0640 is open to the group alone: "readable by others" was wrong.
	for _, mode := range []os.FileMode{0o644, 0o640} {
		if err := os.Chmod(s.IdentityPath, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := (&Store{Path: s.Path, IdentityPath: s.IdentityPath}).Get("a"); err == nil || !strings.Contains(err.Error(), "chmod 600") || !strings.Contains(err.Error(), "open to its group or others") {
			t.Errorf("an identity of mode %04o: got %v, want a refusal with the fix", mode, show(err))
		}
	}
}

func TestMissingStore(t *testing.T) {
	s := newStore(t)
	_, err := s.Get("a")
	if err == nil || !strings.Contains(err.Error(), "does not exist yet") {
		t.Errorf("get from a store not created yet: got %v", show(err))
	}
	if err := s.Remove("a"); err == nil {
		t.Errorf("remove from a store not created yet succeeded")
	}
	if _, err := os.Stat(s.Path); err == nil {
		t.Errorf("a failed remove created the store")
	}
}

// A running ward reads its own few names of a store that many projects
// share; what it keeps in memory until the file changes is those names'
// current values, not every project's secrets and their earlier versions
// (a store of 10,000 names kept ward at 44 MB where 11 MB serve, and
// twenty wards on one machine held twenty copies of every secret). A
// later read of another name, and a listing, still see the whole store.
func TestFetchKeepsOnlyTheValuesItRead(t *testing.T) {
	s := newStore(t)
	mine, theirs, old := canary("mine"), canary("theirs"), canary("old")
	mustSet(t, s, "app/token", old)
	mustSet(t, s, "app/token", mine)
	mustSet(t, s, "other/token", theirs)

	run := &Store{Path: s.Path, IdentityPath: s.IdentityPath}
	wantValue(t, run, "app/token", mine)
	run.mu.Lock()
	var kept []string
	history := 0
	for name, e := range run.cached.doc.entries {
		kept = append(kept, name)
		history += len(e.history)
	}
	run.mu.Unlock()
	if len(kept) != 1 || kept[0] != "app/token" || history != 0 {
		t.Errorf("after a fetch of app/token the store keeps the entries %q with %d earlier versions in memory, want only app/token's current value", kept, history)
	}

	wantValue(t, run, "app/token", mine)
	wantValue(t, run, "other/token", theirs)
	list, err := run.List()
	if err != nil {
		t.Fatal(show(err))
	}
	if len(list) != 2 {
		t.Errorf("a list after fetches shows %d entries, want 2", len(list))
	}
	h, err := run.History("app/token")
	if err != nil || len(h) != 2 {
		t.Errorf("history of app/token after fetches: %d versions and %v, want 2", len(h), show(err))
	}
}

// A running ward's read of a big shared store (its file, the plaintext,
// every value it did not ask for) is given back to the system, not held
// as idle heap for the ward's whole life: twenty wards on a store of
// 10,000 names held 900 MB, and 1.4 GB once it had changed.
func TestFetchOfABigStoreGivesItsMemoryBack(t *testing.T) {
	s := newStore(t)
	values := make([]NamedValue, 200)
	for i := range values {
		v := canary("big")
		for len(v) < 40<<10 {
			v = append(v, v...)
		}
		values[i] = NamedValue{Name: fmt.Sprintf("project%02d/KEY_%03d", i%20, i), Value: v}
	}
	if _, err := s.SetMany(values); err != nil {
		t.Fatal(show(err))
	}
	st, err := os.Stat(s.Path)
	if err != nil {
		t.Fatal(err)
	}
	// Only the read counts: what writing the store used goes back first.
	debug.FreeOSMemory()
	run := &Store{Path: s.Path, IdentityPath: s.IdentityPath}
	wantValue(t, run, values[7].Name, values[7].Value)
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	if held := m.HeapSys - m.HeapReleased; held > uint64(st.Size()) {
		t.Errorf("after reading one name of a store of %d bytes, the process holds %d bytes of heap from the system, more than the whole store", st.Size(), held)
	}
}

// TestNearName: the entry a missing name is likely a slip for, when one
// stands out.
func TestNearName(t *testing.T) {
	names := []string{"app/API_TOKEN", "app/DB_PASSWORD", "app/DB_PASSWORD2", "web/API_TOKEN", "svc/key", "t/c", "ab/c1"}
	for _, tc := range []struct{ name, want string }{
		{"app/api_token", "app/API_TOKEN"},         // case
		{"app/API_TOKN", "app/API_TOKEN"},          // one off
		{"app/DB_PASSWRD", "app/DB_PASSWORD"},      // one off from one, two from the other
		{"svc/kez", "svc/key"},                     // one off, short
		{"svc/kxz", ""},                            // two off, too short for two
		{"xyz/API_TOKEN", ""},                      // the last part in two places
		{"app/DB_PASSWORD3", ""},                   // one off from two
		{"other/DB_PASSWORD2", "app/DB_PASSWORD2"}, // in one place
		{"app/unrelated", ""},
		{"zz/c", ""},  // t/c: a last part too short to stand out
		{"ab/c2", ""}, // ab/c1: a name too short
	} {
		if got := nearName(tc.name, slices.Clone(names)); got != tc.want {
			t.Errorf("nearName(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}
