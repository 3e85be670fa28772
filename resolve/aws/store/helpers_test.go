package store_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go/middleware"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/aws"
	"github.com/wardsecrets/ward/resolve/aws/awstest"
	awsstore "github.com/wardsecrets/ward/resolve/aws/store"
)

// partialARNPrefix is what a secret's name follows in its ARN: a partial
// ARN is this and the name, without the random suffix.
const partialARNPrefix = "arn:aws:secretsmanager:" + awstest.Region + ":" + awstest.AccountID + ":secret:"

// emulator starts an emulator for the test and points the SDK's default
// chain at it through the environment (AWS_ENDPOINT_URL and friends), as a
// user of ward would.
func emulator(t testing.TB) *awstest.Server {
	t.Helper()
	srv := awstest.New()
	t.Cleanup(srv.Close)
	t.Setenv("HOME", t.TempDir())
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return srv
}

// unsetenv removes k for the rest of the test.
func unsetenv(t *testing.T, k string) {
	t.Helper()
	t.Setenv(k, "")
	if err := os.Unsetenv(k); err != nil {
		t.Fatal(err)
	}
}

// newSession is a session with backoff short enough for retry tests to
// run without waiting.
func newSession() *awsstore.Session {
	return awsstore.NewSession(awsstore.SessionOptions{MaxBackoff: time.Millisecond})
}

func mustRef(t testing.TB, s string) resolve.Ref {
	t.Helper()
	r, err := resolve.NewRegistry(aws.Kind).ParseRef(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustRefs(t testing.TB, ss ...string) []resolve.Ref {
	t.Helper()
	refs := make([]resolve.Ref, len(ss))
	for i, s := range ss {
		refs[i] = mustRef(t, s)
	}
	return refs
}

// fetchVars resolves vars (name to reference) through a resolve.Fetcher,
// as ward does.
func fetchVars(t testing.TB, ctx context.Context, store resolve.Store, vars map[string]string) (map[string]resolve.Value, error) {
	t.Helper()
	refs := map[string]resolve.Ref{}
	for name, s := range vars {
		refs[name] = mustRef(t, s)
	}
	f := &resolve.Fetcher{Stores: func(string) (resolve.Store, error) { return store, nil }}
	return f.Fetch(ctx, refs)
}

// checkError checks that err is not nil, says each of wants, and contains
// none of the canaries. Failure messages never quote a canary.
func checkError(t *testing.T, label string, err error, canaries []string, wants ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error", label)
		return
	}
	msg := err.Error()
	for _, c := range canaries {
		if strings.Contains(msg, c) {
			t.Errorf("%s: the error contains a secret value", label)
			msg = strings.ReplaceAll(msg, c, "<canary>")
		}
	}
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("%s: got error %q, want it to say %q", label, msg, w)
		}
	}
}

func checkNotFound(t *testing.T, label string, err error, want bool) {
	t.Helper()
	if got := errors.Is(err, resolve.ErrNotFound); got != want {
		t.Errorf("%s: got errors.Is(err, resolve.ErrNotFound)=%v, want %v", label, got, want)
	}
}

// inFlight counts the requests a session's clients have in flight and the
// most there ever were.
type inFlight struct {
	mu       sync.Mutex
	now, max int
}

func (f *inFlight) middleware(st *middleware.Stack) error {
	return st.Initialize.Add(middleware.InitializeMiddlewareFunc("wardTestInFlight",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			f.mu.Lock()
			f.now++
			f.max = max(f.max, f.now)
			f.mu.Unlock()
			defer func() {
				f.mu.Lock()
				f.now--
				f.mu.Unlock()
			}()
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
}

func (f *inFlight) peak() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.max
}
