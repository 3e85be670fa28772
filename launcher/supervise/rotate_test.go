package supervise

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/launcher/plan"
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/remote"
)

// fakeStore is a store of function fields, counting what it is asked.
type fakeStore struct {
	mu      sync.Mutex
	reads   []string
	fetch   func(ref resolve.Ref) (resolve.Secret, error)
	version func(ref resolve.Ref) (string, error)
}

func (f *fakeStore) Fetch(_ context.Context, ref resolve.Ref) (resolve.Secret, error) {
	f.mu.Lock()
	f.reads = append(f.reads, ref.Raw)
	f.mu.Unlock()
	return f.fetch(ref)
}

// versionedStore is a fakeStore that answers Version.
type versionedStore struct{ *fakeStore }

func (v versionedStore) Version(_ context.Context, ref resolve.Ref) (string, error) {
	return v.version(ref)
}

func (f *fakeStore) taken() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append([]string(nil), f.reads...)
	f.reads = nil
	sort.Strings(out)
	return out
}

// testRegistry has a polled scheme (pol://), a watched one (wat://) and a
// static one (sta://).
var testRegistry = resolve.NewRegistry(&resolve.Kind{Name: "test", Schemes: []*resolve.Scheme{
	{Name: "pol", Check: func(*resolve.Ref) *resolve.RefError { return nil }, Refresh: resolve.Polled},
	{Name: "pol2", Check: func(*resolve.Ref) *resolve.RefError { return nil }, Refresh: resolve.Polled},
	{Name: "wat", Check: func(*resolve.Ref) *resolve.RefError { return nil }, Refresh: resolve.Watched},
	{Name: "sta", Check: func(*resolve.Ref) *resolve.RefError { return nil }, Refresh: resolve.Static},
}})

// rotatorFor builds a rotator over a manifest whose variables name refs,
// with store answering every scheme, and the values of a first resolve.
func rotatorFor(t *testing.T, store resolve.Store, vars map[string]string) *rotator {
	t.Helper()
	m := &manifest.Manifest{Rotation: manifest.DefaultRotation(), Inherit: manifest.Inherit{}}
	for name, raw := range vars {
		ref, err := testRegistry.ParseRef(raw)
		if err != nil {
			t.Fatal(err)
		}
		m.Env = append(m.Env, &manifest.EnvVar{Name: name, Ref: &ref})
	}
	f := &resolve.Fetcher{Stores: func(string) (resolve.Store, error) { return store, nil }}
	values, err := f.Fetch(context.Background(), m.Refs(nil))
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Build(m, nil, values, plan.Input{})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Manifest: m, Fetcher: f, Registry: testRegistry, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return newRotator(o, plan.Input{}, p, values)
}

// TestRefreshReadsOnlyWhatMayHaveChanged: each trigger reads the
// documents it concerns and no other.
func TestRefreshReadsOnlyWhatMayHaveChanged(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "watched")
	os.WriteFile(file, []byte("one"), 0o600)
	lease := &resolve.Lease{ID: "pol/leased/1", TTL: 60e9, Renewable: true}
	store := &fakeStore{fetch: func(ref resolve.Ref) (resolve.Secret, error) {
		switch ref.Scheme {
		case "wat":
			st, _ := os.Stat(file)
			b, _ := os.ReadFile(file)
			return resolve.Secret{Value: b, File: &resolve.FileStamp{Path: file, Stamp: resolve.Stamp(st)}}, nil
		case "pol":
			if ref.Path == "leased" {
				return resolve.Secret{Value: []byte("l"), Lease: lease}, nil
			}
			return resolve.Secret{Value: []byte("p"), Version: "1"}, nil
		}
		return resolve.Secret{Value: []byte("s")}, nil
	}}
	r := rotatorFor(t, store, map[string]string{"P": "pol://polled", "L": "pol://leased", "W": "wat://file", "S": "sta://x"})
	store.taken()
	ctx := context.Background()
	tests := []struct {
		name    string
		trigger trigger
		change  func()
		want    []string
	}{
		{"watch start, nothing changed", trigger{kind: watchStarted}, nil, nil},
		{"poll reads the polled, not the leased", trigger{kind: poll}, nil, []string{"pol://polled"}},
		{"a lease ending reads its secret", trigger{kind: leaseEnding, lease: lease.ID}, nil, []string{"pol://leased"}},
		{"a file changed reads what it holds", trigger{kind: fileChanged, path: file}, func() { os.WriteFile(file, []byte("two!"), 0o600) }, []string{"wat://file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.change != nil {
				tt.change()
			}
			if _, _, err := r.refresh(ctx, nil, tt.trigger); err != nil {
				t.Fatal(err)
			}
			got := store.taken()
			if len(got) != len(tt.want) || len(got) > 0 && got[0] != tt.want[0] {
				t.Errorf("read %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPollRoundGathers: a poll reads each scheme's store beside the
// others', and what they read comes back together when they all answer
// within pollGather (sent one by one, changes of two stores in one poll
// restarted the child twice); a store slower than that holds back no
// other's: what came back goes on, and the slow one follows alone.
func TestPollRoundGathers(t *testing.T) {
	release := make(chan struct{})
	slow := false
	store := &fakeStore{fetch: func(ref resolve.Ref) (resolve.Secret, error) {
		if ref.Scheme == "pol2" && slow {
			<-release
		}
		return resolve.Secret{Value: []byte(ref.Path), Version: "1"}, nil
	}}
	r := rotatorFor(t, store, map[string]string{"A": "pol://a", "B": "pol2://b"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	round := func() chan polledRead {
		parts := slices.Collect(maps.Values(r.startRead(nil, trigger{kind: poll}).byScheme()))
		if len(parts) != 2 {
			t.Fatalf("got %d parts, want one for each scheme", len(parts))
		}
		polls := make(chan polledRead, 2)
		go r.pollRound(ctx, parts, false, polls)
		return polls
	}
	next := func(polls chan polledRead, within time.Duration) *aRead {
		t.Helper()
		select {
		case pr := <-polls:
			return pr.a
		case <-time.After(within):
			t.Fatalf("no read came back within %s", within)
		}
		return nil
	}
	a := next(round(), 10*time.Second)
	if slices.Sort(a.schemes); !slices.Equal(a.schemes, []string{"pol", "pol2"}) || len(a.fetched) != 2 {
		t.Errorf("both stores answering at once: got a read of %v with %d values, want one of both", a.schemes, len(a.fetched))
	}
	slow = true
	polls := round()
	a = next(polls, 10*time.Second)
	if !slices.Equal(a.schemes, []string{"pol"}) || len(a.fetched) != 1 {
		t.Errorf("one store slow: got a read of %v first, want the other's alone", a.schemes)
	}
	close(release)
	if a = next(polls, 10*time.Second); !slices.Equal(a.schemes, []string{"pol2"}) {
		t.Errorf("one store slow: got a read of %v last, want the slow one's", a.schemes)
	}
}

// TestPollAsksVersionsFirst: a store that tells versions cheaply is asked
// first; an unchanged version is not read, a new one is.
func TestPollAsksVersionsFirst(t *testing.T) {
	current := "3"
	base := &fakeStore{
		fetch: func(ref resolve.Ref) (resolve.Secret, error) {
			return resolve.Secret{Value: []byte("v" + current), Version: current}, nil
		},
		version: func(resolve.Ref) (string, error) { return current, nil },
	}
	r := rotatorFor(t, versionedStore{base}, map[string]string{"P": "pol://secret"})
	base.taken()
	if p, _, err := r.refresh(context.Background(), nil, trigger{kind: poll}); err != nil || p != nil {
		t.Fatalf("unchanged version: got a proposal: %v, error %v", p != nil, err)
	}
	if got := base.taken(); len(got) != 0 {
		t.Errorf("unchanged version: read %v, want no read", got)
	}
	current = "4"
	p, _, err := r.refresh(context.Background(), nil, trigger{kind: poll})
	if err != nil || p == nil || !p.envChanged {
		t.Fatalf("new version: got a proposal: %v, error %v, want one that changes the env", p != nil, err)
	}
	if got := base.taken(); len(got) != 1 {
		t.Errorf("new version: read %v, want one read", got)
	}
}

// TestVersionReadFailures: a version read that fails because the store's
// helper died is an outage, not a store that cannot tell versions: it is
// not logged as that, and a failure that comes later, such as a missing
// permission, still is.
func TestVersionReadFailures(t *testing.T) {
	fail := fmt.Errorf("version of pol://secret: %w", remote.ErrHelperDied)
	base := &fakeStore{
		fetch: func(resolve.Ref) (resolve.Secret, error) {
			return resolve.Secret{Value: []byte("v"), Version: "3"}, nil
		},
		version: func(resolve.Ref) (string, error) { return "", fail },
	}
	r := rotatorFor(t, versionedStore{base}, map[string]string{"P": "pol://secret"})
	var logs bytes.Buffer
	r.log = slog.New(slog.NewTextHandler(&logs, nil))
	const refused = "cannot read secret versions"
	if _, _, err := r.refresh(context.Background(), nil, trigger{kind: poll}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), refused) {
		t.Errorf("a helper that died was logged as a store that cannot tell versions: %s", logs.String())
	}
	fail = errors.New("permission denied: versions.get")
	if _, _, err := r.refresh(context.Background(), nil, trigger{kind: poll}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), refused) || !strings.Contains(logs.String(), "permission denied") {
		t.Errorf("a version read refused after an outage was not logged: %s", logs.String())
	}
}

// TestVersionReadFailsWithTheRead: a version read that fails as the
// poll's reads do (Vault sealed, down) is the outage's, which the failed
// refresh reports: it is not logged as a store that cannot tell versions
// (which said polls read values from now on), and a refusal that comes
// with a poll that works, later, still is. The outage's line was logged,
// once for the run, and the refusal's never.
func TestVersionReadFailsWithTheRead(t *testing.T) {
	sealed := errors.New("vault answered 503: Vault is sealed")
	readErr, versionErr := sealed, sealed
	base := &fakeStore{
		fetch: func(resolve.Ref) (resolve.Secret, error) {
			if readErr != nil {
				return resolve.Secret{}, readErr
			}
			return resolve.Secret{Value: []byte("v"), Version: "3"}, nil
		},
		version: func(resolve.Ref) (string, error) { return "", versionErr },
	}
	readErr = nil
	r := rotatorFor(t, versionedStore{base}, map[string]string{"P": "pol://secret"})
	readErr = sealed
	var logs bytes.Buffer
	r.log = slog.New(slog.NewTextHandler(&logs, nil))
	const refused = "cannot read secret versions"
	if _, _, err := r.refresh(context.Background(), nil, trigger{kind: poll}); err == nil {
		t.Fatal("a poll of a sealed store succeeded")
	}
	if strings.Contains(logs.String(), refused) {
		t.Errorf("a sealed store was logged as a store that cannot tell versions: %s", logs.String())
	}
	readErr, versionErr = nil, errors.New("permission denied (GET secret/metadata/app)")
	if _, _, err := r.refresh(context.Background(), nil, trigger{kind: poll}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), refused) || !strings.Contains(logs.String(), "permission denied") {
		t.Errorf("a version read refused after an outage was not logged: %s", logs.String())
	}
}

// TestExpiringValues: a value that expires without a lease (an access
// token: each read is a new one) is read again two thirds into its
// lifetime, not at each poll or retry; a source that hands the same token
// back is asked again two thirds into what is left.
func TestExpiringValues(t *testing.T) {
	var n int
	var exp time.Time
	same := false
	store := &fakeStore{fetch: func(ref resolve.Ref) (resolve.Secret, error) {
		if !same {
			n++
			exp = time.Now().Add(time.Hour)
		}
		return resolve.Secret{Value: []byte(fmt.Sprintf("token-%d", n)), Expires: exp}, nil
	}}
	r := rotatorFor(t, store, map[string]string{"T": "pol://token"})
	store.taken()
	ctx := context.Background()
	for _, k := range []triggerKind{poll, retry, expiring} {
		if p, _, err := r.refresh(ctx, nil, trigger{kind: k}); err != nil || p != nil {
			t.Fatalf("%v before two thirds of the lifetime: got a proposal: %v, error %v", trigger{kind: k}, p != nil, err)
		}
		if got := store.taken(); len(got) != 0 {
			t.Errorf("%v before two thirds of the lifetime read %v, want nothing", trigger{kind: k}, got)
		}
	}

	// Read 50 minutes ago, expiring in 10: due since 10 minutes.
	age := func() {
		v := r.values["T"]
		v.Read, v.Expires = time.Now().Add(-50*time.Minute), time.Now().Add(10*time.Minute)
		r.values["T"] = v
	}
	for _, k := range []triggerKind{poll, expiring} {
		age()
		p, _, err := r.refresh(ctx, nil, trigger{kind: k})
		if err != nil || p == nil || !p.envChanged {
			t.Fatalf("%v when due: got a proposal: %v, error %v, want the new token", trigger{kind: k}, p != nil, err)
		}
		if got := store.taken(); len(got) != 1 {
			t.Errorf("%v when due read %v, want the token once", trigger{kind: k}, got)
		}
		// As propose does once the child runs with it.
		r.current, r.values = p.plan, p.values
	}

	// A source that caches its token: the same one comes back, and it is
	// next asked two thirds into the 10 minutes left, not at once.
	age()
	same, exp = true, r.values["T"].Expires
	if p, _, err := r.refresh(ctx, nil, trigger{kind: expiring}); err != nil || p != nil {
		t.Fatalf("the same token again: got a proposal: %v, error %v, want none", p != nil, err)
	}
	store.taken()
	if at := refreshAt(r.values["T"]); time.Until(at) < 6*time.Minute || time.Until(at) > 7*time.Minute {
		t.Errorf("after the same token came back, the next read is in %v, want about 6m40s", time.Until(at))
	}
	if p, _, err := r.refresh(ctx, nil, trigger{kind: expiring}); err != nil || p != nil || len(store.taken()) != 0 {
		t.Errorf("right after the same token came back: read again (a proposal: %v, error %v)", p != nil, err)
	}
}

// TestExpiryAfterSuspend: a laptop's suspend stops the monotonic clock
// (Go's timers, and its comparisons of times read with time.Now), not the
// wall clock credentials expire by. When to read a value again is a wall
// time, and the wait for it is looked at again at least every minute: a
// value that expired during the suspend is read at most a minute after
// the resume, not as long after it as the suspend lasted.
func TestExpiryAfterSuspend(t *testing.T) {
	v := resolve.Value{Read: time.Now(), Expires: time.Now().Add(time.Hour)}
	if at := refreshAt(v); at != at.Round(0) {
		t.Errorf("the refresh time %v carries a monotonic reading, which does not advance while the machine sleeps", at)
	}
	if d, ok := expiryWait(map[string]resolve.Value{"A": v}, time.Time{}); !ok || d > expiryRecheck {
		t.Errorf("the wait for a value due in 40 minutes is %v (%v), want at most %v", d, ok, expiryRecheck)
	}
}

// TestExpiryTimer: the timer is the first expiring value's refresh time,
// not before its floor, and there is none without expiring values.
func TestExpiryTimer(t *testing.T) {
	now := time.Now()
	if expiryTimer(map[string]resolve.Value{"A": {Read: now}, "L": {Read: now, Expires: now.Add(time.Second), Lease: &resolve.Lease{ID: "x"}}}, time.Time{}) != nil {
		t.Error("a timer without values that expire without a lease")
	}
	overdue := map[string]resolve.Value{"A": {Read: now.Add(-time.Hour), Expires: now.Add(-time.Minute)}}
	start := time.Now()
	<-expiryTimer(overdue, start.Add(50*time.Millisecond))
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("an overdue value's timer fired after %v, before its floor of 50ms", d)
	}
	select {
	case <-expiryTimer(map[string]resolve.Value{"A": {Read: now, Expires: now.Add(time.Hour)}}, time.Time{}):
		t.Error("the timer of a value read now, expiring in an hour, fired at once")
	default:
	}
}

// TestSignalsHoldNoLeaselessValues: after each signal the values the
// child had were held for stop_timeout, in a goroutine of their own,
// for leases to give back later, whether they had any or not: a file
// rotated 300 times within stop_timeout held 300 goroutines, each with a
// copy of every secret. Only values with a lease are held now.
func TestSignalsHoldNoLeaselessValues(t *testing.T) {
	store := &fakeStore{fetch: func(resolve.Ref) (resolve.Secret, error) {
		return resolve.Secret{Value: []byte("v"), Version: "1"}, nil
	}}
	r := rotatorFor(t, store, map[string]string{"A": "wat://a"})
	r.rot.StopTimeout = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	before := runtime.NumGoroutine()
	for range 300 {
		r.dropLater(ctx, maps.Clone(r.values))
	}
	if held := runtime.NumGoroutine() - before; held > 10 {
		t.Errorf("300 signals without leases hold %d goroutines until stop_timeout, want none", held)
	}
	r.rot.StopTimeout = time.Millisecond
	leased := maps.Clone(r.values)
	for k, v := range leased {
		v.Lease = &resolve.Lease{ID: "lease-1"}
		leased[k] = v
	}
	r.dropLater(ctx, leased)
	select {
	case old := <-r.drops:
		if len(old) != 1 {
			t.Errorf("the leases to give back come with %d values, want 1", len(old))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the leased values were not given back after stop_timeout")
	}
}

// TestGather: a lease's restart waits gatherWait for the others that end
// with it, under the debounce, and never more than half of what is left
// of the lease.
func TestGather(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		name     string
		debounce time.Duration
		ends     time.Time
		want     time.Duration
	}{
		{"end not known", 2 * time.Second, time.Time{}, gatherWait},
		{"end far off", 2 * time.Second, now.Add(time.Minute), gatherWait},
		{"debounce shorter", 100 * time.Millisecond, now.Add(time.Minute), 100 * time.Millisecond},
		{"0.2 s left", 2 * time.Second, now.Add(200 * time.Millisecond), 100 * time.Millisecond},
		{"ended already", 2 * time.Second, now.Add(-time.Second), 0},
	} {
		if got := gather(c.debounce, c.ends, now); got != c.want {
			t.Errorf("%s: gather = %v, want %v", c.name, got, c.want)
		}
	}
}

// envOf is the value of name in p's environment.
func envOf(p *plan.Plan, name string) string {
	for _, kv := range p.Env {
		if k, v, _ := strings.Cut(kv, "="); k == name {
			return v
		}
	}
	return "(unset)"
}

// TestUndeliverableValueHoldsBackNoOther: a new value the child cannot be
// given (a NUL byte) fails the refresh, but the others read with it reach
// the child, which keeps what it has of that one, and of the other fields
// of its document (a username goes with its password). The whole refresh
// failed: a second secret's change waited for as long as the first stayed
// undeliverable.
func TestUndeliverableValueHoldsBackNoOther(t *testing.T) {
	docs := map[string]string{"a": "a1", "b": "b1", "c": `{"user":"u1","pass":"p1"}`}
	store := &fakeStore{fetch: func(ref resolve.Ref) (resolve.Secret, error) {
		return resolve.Secret{Value: []byte(docs[ref.Path])}, nil
	}}
	r := rotatorFor(t, store, map[string]string{"A": "pol://a", "B": "pol://b", "U": "pol://c#user", "P": "pol://c#pass"})
	docs = map[string]string{"a": "a2", "b": "b2\x00", "c": `{"user":"u2","pass":"p2\u0000"}`}
	p, _, err := r.refresh(context.Background(), nil, trigger{kind: poll})
	if err == nil || !strings.Contains(err.Error(), "B: the value holds a NUL byte") || !strings.Contains(err.Error(), "P: the value holds a NUL byte") {
		t.Fatalf("error %v, want one that names B's and P's NUL bytes", err)
	}
	if p == nil {
		t.Fatal("no proposal: A's change was held back by B's and P's")
	}
	for name, want := range map[string]string{"A": "a2", "B": "b1", "U": "u1", "P": "p1"} {
		if got := envOf(p.plan, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if !slices.Equal(p.changed, []string{"A"}) {
		t.Errorf("changed %v, want [A]", p.changed)
	}
}

// TestUndeliverableValueKeepsTheChilds: a value pending from earlier in
// the debounce (A: a2) that a value the child cannot be given replaces
// (a3 with a NUL) is not what the child keeps: it keeps its own (a1), and
// with nothing else changed there is no restart. The proposal kept a2,
// which the store no longer held, and the child was restarted with it.
// Another change pending beside it (B) still goes through.
func TestUndeliverableValueKeepsTheChilds(t *testing.T) {
	docs := map[string]string{"a": "a1", "b": "b1"}
	store := &fakeStore{fetch: func(ref resolve.Ref) (resolve.Secret, error) {
		return resolve.Secret{Value: []byte(docs[ref.Path])}, nil
	}}
	r := rotatorFor(t, store, map[string]string{"A": "pol://a", "B": "pol://b"})
	docs["a"] = "a2"
	pending, _, err := r.refresh(context.Background(), nil, trigger{kind: poll})
	if err != nil || pending == nil || envOf(pending.plan, "A") != "a2" {
		t.Fatalf("the first change: proposal %v, error %v, want A's a2", pending != nil, err)
	}
	docs["a"] = "a3\x00"
	p, _, err := r.refresh(context.Background(), pending, trigger{kind: poll})
	if err == nil || !strings.Contains(err.Error(), "A: the value holds a NUL byte") {
		t.Fatalf("error %v, want A's NUL byte", err)
	}
	if p != nil {
		t.Errorf("a proposal of %v (A = %q): the child keeps a1, and nothing else changed", p.changed, envOf(p.plan, "A"))
	}
	docs["b"] = "b2"
	p, _, _ = r.refresh(context.Background(), pending, trigger{kind: poll})
	if p == nil {
		t.Fatal("no proposal: B's change was held back by A's")
	}
	for name, want := range map[string]string{"A": "a1", "B": "b2"} {
		if got := envOf(p.plan, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if !slices.Equal(p.changed, []string{"B"}) {
		t.Errorf("changed %v, want [B]", p.changed)
	}
}

// TestExpiryNamesWhyItWasNotReplaced: a lease that ended while its
// refreshes failed is reported with the reason: its store could not be
// read, or its new value could not be given to the child (and the
// error). Both were "cannot be replaced while its store is down", of a
// store that answered.
func TestExpiryNamesWhyItWasNotReplaced(t *testing.T) {
	for _, tc := range []struct {
		failure      error
		want, reason string
	}{
		{&resolve.FetchError{Failures: []resolve.VarError{{Name: "A", Err: errors.New("connection refused")}}}, "cannot be replaced: its store cannot be read", "the lease of pol://a expired and its store cannot be read (on_expired: stop)"},
		{errors.New("A: the value holds a NUL byte"), "cannot be replaced: the new value cannot be given to the child", "the lease of pol://a expired and its new value cannot be given to the child (on_expired: stop)"},
	} {
		store := &fakeStore{fetch: func(resolve.Ref) (resolve.Secret, error) {
			return resolve.Secret{Value: []byte("a1"), Lease: &resolve.Lease{ID: "pol/a/1", TTL: 60e9}}, nil
		}}
		r := rotatorFor(t, store, map[string]string{"A": "pol://a"})
		var log strings.Builder
		r.log = slog.New(slog.NewTextHandler(&log, nil))
		r.ending["pol/a/1"] = time.Now().Add(-time.Second)
		r.failure = tc.failure
		r.rot.OnExpired = manifest.StopChild
		r.stops = make(chan string, 1)
		r.checkExpired(context.Background())
		if !strings.Contains(log.String(), tc.want) || !strings.Contains(log.String(), tc.failure.Error()) {
			t.Errorf("logged %q, want %q and the error", log.String(), tc.want)
		}
		if reason := <-r.stops; reason != tc.reason {
			t.Errorf("the stop's reason: %q, want %q", reason, tc.reason)
		}
	}
}

// TestExpiryLoggedOncePerEnd: each failed retry of an outage checks the
// child's leases again; one that ended is an error once, then debug
// (an hour's outage logged it at every retry). A lease that replaced it
// and ends in turn is an error again.
func TestExpiryLoggedOncePerEnd(t *testing.T) {
	store := &fakeStore{fetch: func(resolve.Ref) (resolve.Secret, error) {
		return resolve.Secret{Value: []byte("a1"), Lease: &resolve.Lease{ID: "pol/a/1", TTL: 60e9}}, nil
	}}
	r := rotatorFor(t, store, map[string]string{"A": "pol://a"})
	var log strings.Builder
	r.log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.failure = &resolve.FetchError{Failures: []resolve.VarError{{Name: "A", Err: errors.New("connection refused")}}}
	r.ending["pol/a/1"] = time.Now().Add(-time.Second)
	for range 3 {
		r.checkExpired(context.Background())
	}
	if errs, debug := strings.Count(log.String(), "level=ERROR"), strings.Count(log.String(), "level=DEBUG"); errs != 1 || debug != 2 {
		t.Errorf("three checks of one ended lease: %d errors and %d debug lines, want 1 and 2", errs, debug)
	}
	log.Reset()
	r.values["A"].Lease.ID = "pol/a/2"
	r.ending["pol/a/2"] = time.Now().Add(-time.Second)
	r.checkExpired(context.Background())
	if !strings.Contains(log.String(), "level=ERROR") {
		t.Errorf("the next lease's end was not logged as an error: %q", log.String())
	}
}

// TestExpiryNamesItsOwnFailure: a lease's end is logged with the failure
// of its own variable's read, not with another's (a KV poll that failed
// in the same refresh was quoted).
func TestExpiryNamesItsOwnFailure(t *testing.T) {
	store := &fakeStore{fetch: func(ref resolve.Ref) (resolve.Secret, error) {
		if ref.Path == "a" {
			return resolve.Secret{Value: []byte("a1"), Lease: &resolve.Lease{ID: "pol/a/1", TTL: 60e9}}, nil
		}
		return resolve.Secret{Value: []byte("b1")}, nil
	}}
	r := rotatorFor(t, store, map[string]string{"A": "pol://a", "B": "sta://b"})
	var log strings.Builder
	r.log = slog.New(slog.NewTextHandler(&log, nil))
	r.failure = &resolve.FetchError{Failures: []resolve.VarError{{Name: "B", Err: errors.New("the poll of b failed")}, {Name: "A", Err: errors.New("the read of a failed")}}}
	r.ending["pol/a/1"] = time.Now().Add(-time.Second)
	r.checkExpired(context.Background())
	if !strings.Contains(log.String(), "the read of a failed") || strings.Contains(log.String(), "the poll of b failed") {
		t.Errorf("logged %q, want A's own failure alone", log.String())
	}
	// A later refresh that failed reading B alone: A's end is still
	// told with A's own last failure.
	log.Reset()
	r.log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.failure = &resolve.FetchError{Failures: []resolve.VarError{{Name: "B", Err: errors.New("the poll of b failed")}}}
	r.checkExpired(context.Background())
	if !strings.Contains(log.String(), "the read of a failed") || strings.Contains(log.String(), "the poll of b failed") {
		t.Errorf("a later refresh: logged %q, want A's own last failure", log.String())
	}
}

// TestPollReadsADocumentOfMixedVersions: a field removed from a document
// whose other field the child uses leaves the two variables at different
// versions (the field that could be read takes the new one). Every poll
// reads the document again, and fails while the field stays removed: the
// version compared was whichever of the two the map gave first, and a
// poll that took the new one read nothing and reported the failure mended.
func TestPollReadsADocumentOfMixedVersions(t *testing.T) {
	doc, version := `{"user":"u1","pass":"p1"}`, "1"
	base := &fakeStore{
		fetch: func(resolve.Ref) (resolve.Secret, error) {
			return resolve.Secret{Value: []byte(doc), Version: version}, nil
		},
		version: func(resolve.Ref) (string, error) { return version, nil },
	}
	r := rotatorFor(t, versionedStore{base}, map[string]string{"U": "pol://d#user", "P": "pol://d#pass"})
	doc, version = `{"pass":"p1"}`, "2"
	for i := range 20 {
		if _, _, err := r.refresh(context.Background(), nil, trigger{kind: poll}); err == nil || !strings.Contains(err.Error(), `no field "user"`) {
			t.Fatalf("poll %d with the field removed: error %v, want the missing field", i+1, err)
		}
	}
	doc, version = `{"user":"u3","pass":"p1"}`, "3"
	p, _, err := r.refresh(context.Background(), nil, trigger{kind: poll})
	if err != nil || p == nil || envOf(p.plan, "U") != "u3" {
		t.Fatalf("the field back: proposal %v, error %v, want U's new value", p != nil, err)
	}
}
