package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/azure"
	"github.com/wardsecrets/ward/resolve/azure/azuretest"
	"github.com/wardsecrets/ward/resolve/azure/store"
)

// testCA signs every emulator's certificates. Go reads SSL_CERT_FILE once,
// when something first loads the system roots, so TestMain sets it before
// any test runs.
var testCA *azuretest.CA

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "azure-store-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if testCA, err = azuretest.NewCA(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Setenv("SSL_CERT_FILE", testCA.File())
	os.Unsetenv("SSL_CERT_DIR")
	return m.Run()
}

// emulatorOptions are the settings a user of a vault on a private
// endpoint in a disconnected cloud would give, and the emulator needs:
//   - DisableInstanceDiscovery: MSAL validates an authority host it does
//     not know by asking login.microsoftonline.com, which the tests cannot
//     reach (and must not try to); azidentity documents the option for
//     private clouds such as Azure Stack.
//   - DisableChallengeResourceVerification: azsecrets sends a token only
//     to a vault whose host lies under the domain its challenge names
//     (https://vault.azure.net); 127.0.0.1:PORT cannot, whatever the
//     emulator's challenge says. azsecrets documents the option for vaults
//     reached through other host names.
var emulatorOptions = azure.Options{DisableInstanceDiscovery: true, DisableChallengeResourceVerification: true}

// emulator starts an emulator for the test and points azidentity's
// default chain at it through the environment, as a user would: the
// service principal with a client secret unless env is given.
func emulator(t testing.TB, env ...func(*azuretest.Server) []string) *azuretest.Server {
	t.Helper()
	srv := azuretest.New(t, testCA)
	t.Setenv("HOME", t.TempDir())
	for _, k := range azuretest.ClearEnv {
		unsetenv(t, k)
	}
	vars := srv.Env()
	if len(env) > 0 {
		vars = env[0](srv)
	}
	for _, kv := range vars {
		k, v, _ := strings.Cut(kv, "=")
		if k == "SSL_CERT_FILE" {
			continue // set once, in TestMain
		}
		t.Setenv(k, v)
	}
	return srv
}

// unsetenv removes k for the rest of the test: azidentity tells an empty
// variable from an absent one.
func unsetenv(t testing.TB, k string) {
	t.Helper()
	t.Setenv(k, "")
	if err := os.Unsetenv(k); err != nil {
		t.Fatal(err)
	}
}

// newStore makes a store with the emulator's settings and opts' others.
func newStore(t testing.TB, opts azure.Options) *store.Store {
	t.Helper()
	opts.DisableInstanceDiscovery = true
	opts.DisableChallengeResourceVerification = true
	s, err := store.New(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ref(t testing.TB, srv *azuretest.Server, rest string) resolve.Ref {
	t.Helper()
	return azuretest.MustRef(t, "azkv://"+srv.VaultHost()+"/"+rest)
}

// fetchVars resolves vars (name to reference) through a resolve.Fetcher,
// as ward does.
func fetchVars(t testing.TB, ctx context.Context, s resolve.Store, vars map[string]resolve.Ref) (map[string]resolve.Value, error) {
	t.Helper()
	f := &resolve.Fetcher{Stores: func(string) (resolve.Store, error) { return s, nil }}
	return f.Fetch(ctx, vars)
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
		if c != "" && strings.Contains(msg, c) {
			t.Errorf("%s: the error contains a secret value or credential", label)
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
