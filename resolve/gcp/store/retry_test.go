package store_test

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wardsecrets/ward/internal/logbuf"
	"github.com/wardsecrets/ward/resolve/gcp"
	"github.com/wardsecrets/ward/resolve/gcp/gcptest"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

func TestRetries(t *testing.T) {
	srv := emulator(t)
	v := resolvetest.Canary("retry")
	srv.AddVersion(secretName("r"), []byte(v))
	logs := &logbuf.Buffer{}
	s := newStore(t, srv, debugLogger(logs))
	ref := mustRef(t, "gcpsm://"+project+"/r")

	tests := []struct {
		name   string
		fault  func(int)
		times  int
		call   func() error
		method string
	}{
		{"throttled access", srv.Throttle, 3, func() error { _, err := s.Fetch(t.Context(), ref); return err }, gcptest.MethodAccess},
		{"unavailable access", srv.FailUnavailable, 2, func() error { _, err := s.Fetch(t.Context(), ref); return err }, gcptest.MethodAccess},
		{"unavailable get", srv.FailUnavailable, 1, func() error { _, err := s.Version(t.Context(), ref); return err }, gcptest.MethodGet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.Calls(tt.method)
			tt.fault(tt.times)
			if err := tt.call(); err != nil {
				t.Fatalf("failed %d times, then fine: got %v", tt.times, err)
			}
			if n := srv.Calls(tt.method) - before; n != tt.times+1 {
				t.Errorf("got %d calls, want %d: each failure retried once", n, tt.times+1)
			}
		})
	}

	// A version check that meets the read quota (versions.get, 600 a
	// minute per project) is not retried, and none is made for the
	// quota's minute: the caller reads the value instead, under the
	// access quota.
	before := srv.Calls(gcptest.MethodGet)
	srv.ThrottleReads(1)
	for i := range 2 {
		_, err := s.Version(t.Context(), ref)
		checkError(t, "read quota", err, []string{v}, "read quota", "polls read the values for a minute")
		if n := srv.Calls(gcptest.MethodGet) - before; n != 1 {
			t.Errorf("version check %d under the read quota: got %d versions.get calls in all, want 1", i+1, n)
		}
	}
	if _, err := s.Fetch(t.Context(), ref); err != nil {
		t.Errorf("a read under the read quota: %v", err)
	}

	// Other 4xx answers are final: one call.
	srv.Deny(secretName("r"))
	before = srv.Calls(gcptest.MethodAccess)
	_, err := s.Fetch(t.Context(), ref)
	checkError(t, "denied", err, []string{v}, "403 PERMISSION_DENIED")
	if n := srv.Calls(gcptest.MethodAccess) - before; n != 1 {
		t.Errorf("a 403 was sent %d times, want 1", n)
	}
	if !strings.Contains(logs.String(), "retrying") {
		t.Errorf("the log has no line about the retries")
	}
	if leaks(logs.String(), []string{v}) || strings.Contains(logs.String(), tokenPrefix) {
		t.Errorf("the retry log holds the secret value or a token")
	}
}

// TestRetriesGiveUp throttles for good: the store retries within
// stores.gcp.timeout, then says it was throttled. Each fault has an
// emulator of its own: the last attempt of one, cut off by the deadline,
// may reach its emulator after the next has started counting.
func TestRetriesGiveUp(t *testing.T) {
	const forever = 1 << 30
	for _, tt := range []struct {
		name  string
		fault func(*gcptest.Server, int)
		wants []string
	}{
		{"throttled", (*gcptest.Server).Throttle, []string{"secret manager kept throttling ward", "raise the project's Secret Manager quota", "429 RESOURCE_EXHAUSTED"}},
		{"unavailable", (*gcptest.Server).FailUnavailable, []string{"secret manager stayed unavailable", "503 UNAVAILABLE"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := emulator(t)
			v := resolvetest.Canary("giveup")
			srv.AddVersion(secretName("g"), []byte(v))
			opts := srv.Options()
			opts.Timeout = 300 * time.Millisecond
			s := newStoreWith(t, opts, nil)
			ref := mustRef(t, "gcpsm://"+project+"/g")
			// Set the credentials up first, so that the timeout is all the API's.
			if _, err := s.Fetch(t.Context(), ref); err != nil {
				t.Fatal(err)
			}
			before := srv.Calls(gcptest.MethodAccess)
			tt.fault(srv, forever)
			_, err := s.Fetch(t.Context(), ref)
			checkError(t, tt.name, err, []string{v}, tt.wants...)
			m := regexp.MustCompile(`\((\d+) attempts? over `).FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("the error does not say how many attempts were made: %v", err)
			}
			attempts, _ := strconv.Atoi(m[1])
			calls := srv.Calls(gcptest.MethodAccess) - before
			// The deadline may cut the last attempt off before it
			// reaches the emulator.
			if calls < 2 || calls > attempts || calls < attempts-1 {
				t.Errorf("got %d attempts reported and %d calls at the emulator, want at least 2 calls and one attempt at most that did not arrive", attempts, calls)
			}
		})
	}
}

// TestCertificateNotRetried: an endpoint whose certificate ward cannot
// verify (a TLS-inspecting proxy's, a private endpoint's without its CA)
// fails at the first attempt: a retry meets the same certificate. It was
// taken for a broken connection and retried for all of stores.gcp.timeout.
func TestCertificateNotRetried(t *testing.T) {
	srv := emulator(t)
	srv.AddVersion(secretName("c"), []byte(resolvetest.Canary("cert")))
	endpoint, conns := resolvetest.UntrustedEndpoint(t)
	opts := srv.Options()
	opts.Endpoint = endpoint
	opts.Timeout = 5 * time.Second
	t.Setenv(gcp.EndpointsVar, os.Getenv(gcp.EndpointsVar)+" "+endpoint)
	s := newStoreWith(t, opts, nil)
	_, err := s.Fetch(t.Context(), mustRef(t, "gcpsm://"+project+"/c"))
	checkError(t, "untrusted certificate", err, nil, "certificate", "(1 attempt)", "SSL_CERT_FILE")
	if n := conns(); n != 1 {
		t.Errorf("the endpoint saw %d connections, want 1: a certificate error is final", n)
	}
}
