package store_test

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wardsecrets/ward/internal/logbuf"
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/gcp"
	"github.com/wardsecrets/ward/resolve/gcp/gcptest"
	"github.com/wardsecrets/ward/resolve/gcp/store"
)

// project is where the tests' secrets live.
const project = gcptest.Project

// tokenPrefix starts every access token the emulator issues, as "ya29."
// starts Google's.
const tokenPrefix = "ya29."

// registry parses references as ward does.
var registry = resolve.NewRegistry(&resolve.Kind{Name: "gcp", Schemes: []*resolve.Scheme{{Name: gcp.Scheme, Check: gcp.CheckRef}}})

// emulator starts an emulator and points Application Default Credentials
// at it as a user would: a service account key file in
// GOOGLE_APPLICATION_CREDENTIALS whose token_uri is the emulator, the
// metadata server in GCE_METADATA_HOST (so nothing ever probes
// 169.254.169.254), and a HOME without gcloud's files.
func emulator(t testing.TB) *gcptest.Server {
	t.Helper()
	srv := gcptest.New()
	t.Cleanup(srv.Close)
	t.Setenv("HOME", t.TempDir())
	if _, err := srv.WriteKeyFile(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return srv
}

// newStore is a store for srv whose retries do not wait long, logging
// to log (nil: nowhere).
func newStore(t testing.TB, srv *gcptest.Server, log *slog.Logger) *store.Store {
	t.Helper()
	return newStoreWith(t, srv.Options(), log)
}

func newStoreWith(t testing.TB, opts gcp.Options, log *slog.Logger) *store.Store {
	t.Helper()
	s, err := store.New(opts, log)
	if err != nil {
		t.Fatal(err)
	}
	store.SetBackoffForTest(s, time.Millisecond, 4*time.Millisecond)
	t.Cleanup(func() { s.Close() })
	return s
}

// secretName is the API name of a global secret of the test project.
func secretName(id string) string { return "projects/" + project + "/secrets/" + id }

func mustRef(t testing.TB, s string) resolve.Ref {
	t.Helper()
	r, err := registry.ParseRef(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fetchVars resolves vars (name to reference) through a resolve.Fetcher,
// as ward does.
func fetchVars(t testing.TB, ctx context.Context, s resolve.Store, vars map[string]string) (map[string]resolve.Value, error) {
	t.Helper()
	refs := map[string]resolve.Ref{}
	for name, r := range vars {
		refs[name] = mustRef(t, r)
	}
	f := &resolve.Fetcher{Stores: func(string) (resolve.Store, error) { return s, nil }}
	return f.Fetch(ctx, refs)
}

// leaks reports whether text holds a canary, as it is or base64-encoded
// (as Secret Manager sends payloads).
func leaks(text string, canaries []string) bool {
	for _, c := range canaries {
		if strings.Contains(text, c) || strings.Contains(text, base64.StdEncoding.EncodeToString([]byte(c))) {
			return true
		}
	}
	return false
}

// checkError checks that err is not nil, says each of wants, and holds no
// canary and no access token. Failure messages never quote a canary.
func checkError(t *testing.T, label string, err error, canaries []string, wants ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error", label)
		return
	}
	msg := err.Error()
	if leaks(msg, canaries) {
		t.Errorf("%s: the error holds a secret value", label)
		return
	}
	if strings.Contains(msg, tokenPrefix) {
		t.Errorf("%s: the error holds an access token", label)
		return
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

// unsetenv removes k for the rest of the test.
func unsetenv(t *testing.T, k string) {
	t.Helper()
	t.Setenv(k, "")
	if err := os.Unsetenv(k); err != nil {
		t.Fatal(err)
	}
}

// debugLogger logs at debug and up to b.
func debugLogger(b *logbuf.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
