package identity

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/wardsecrets/ward/internal/logbuf"
	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

// fakeSource issues credentials that live life, with canary keys and a
// lease, and records what is released.
type fakeSource struct {
	life time.Duration

	mu       sync.Mutex
	fail     error
	issued   []Credentials
	released []string
}

func (f *fakeSource) String() string { return "fake://aws/creds/test" }

func (f *fakeSource) Fetch(ctx context.Context) (Credentials, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return Credentials{}, f.fail
	}
	now := time.Now().Round(0)
	n := len(f.issued) + 1
	c := Credentials{
		AccessKeyID:     fmt.Sprintf("ASIAFAKEKEY%09d", n),
		SecretAccessKey: resolvetest.Canary("secret"),
		SessionToken:    resolvetest.Canary("token"),
		Issued:          now,
		Expires:         now.Add(f.life),
		Identity:        "arn:aws:sts::123456789012:assumed-role/test/ward",
		Lease:           &resolve.Lease{ID: fmt.Sprintf("aws/creds/test/%d", n), TTL: f.life},
	}
	f.issued = append(f.issued, c)
	return c, nil
}

func (f *fakeSource) Release(ctx context.Context, c Credentials) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = append(f.released, c.Lease.ID)
	return nil
}

func (f *fakeSource) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

// secrets lists every key and token the source issued, for leak audits.
func (f *fakeSource) secrets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.issued {
		out = append(out, c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
	}
	return out
}

type testEndpoint struct {
	*AWSEndpoint
	src   *fakeSource
	token string
	logs  *logbuf.Buffer
}

func startTest(t *testing.T, life, before time.Duration) *testEndpoint {
	t.Helper()
	dir := t.TempDir()
	src := &fakeSource{life: life}
	logs := &logbuf.Buffer{}
	e, err := StartAWS(t.Context(), AWSConfig{
		Source:        src,
		RefreshBefore: before,
		Log:           slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		WriteToken: func(tok []byte) (string, error) {
			p := filepath.Join(dir, manifest.AWSTokenFile)
			return p, os.WriteFile(p, tok, 0o400)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	te := &testEndpoint{AWSEndpoint: e, src: src, logs: logs}
	tok, err := os.ReadFile(e.tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	te.token = string(tok)
	t.Cleanup(func() {
		e.Close()
		te.audit(t)
	})
	return te
}

// audit asserts that no key, secret key, session token or the endpoint's
// token is in the endpoint's log.
func (e *testEndpoint) audit(t *testing.T) {
	t.Helper()
	logs := e.logs.String()
	for _, s := range append(e.src.secrets(), e.token) {
		if strings.Contains(logs, s) {
			t.Errorf("the endpoint's log holds a key or a token (%d bytes)", len(s))
		}
	}
}

// raw sends head as it is and returns the status and body.
func (e *testEndpoint) raw(t *testing.T, head string) (int, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	// ReadResponse reads "Connection: close" into Close.
	if !resp.Close || resp.ContentLength != int64(len(body)) || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("got close=%v Content-Length=%d (body %d) Cache-Control=%q Content-Type=%q, want close, the body's length, no-store, application/json",
			resp.Close, resp.ContentLength, len(body), resp.Header.Get("Cache-Control"), resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, body
}

func get(path, auth string) string {
	h := "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	if auth != "" {
		h += "Authorization: " + auth + "\r\n"
	}
	return h + "\r\n"
}

// TestIdentityEndpointAnswers covers each answer the endpoint gives, the
// token checked before anything else.
func TestIdentityEndpointAnswers(t *testing.T) {
	e := startTest(t, time.Hour, 15*time.Minute)
	tests := []struct {
		name   string
		head   string
		status int
		code   string
	}{
		{"no token", get(AWSPath, ""), 401, "Unauthorized"},
		{"wrong token", get(AWSPath, "x"+e.token), 401, "Unauthorized"},
		{"token prefix", get(AWSPath, e.token[:len(e.token)-1]), 401, "Unauthorized"},
		{"bearer scheme", get(AWSPath, "Bearer "+e.token), 401, "Unauthorized"},
		{"two tokens", "GET " + AWSPath + " HTTP/1.1\r\nAuthorization: " + e.token + "\r\nAuthorization: " + e.token + "\r\n\r\n", 401, "Unauthorized"},
		{"wrong path, no token", get("/latest/meta-data/", ""), 401, "Unauthorized"},
		{"wrong path", get("/latest/meta-data/", e.token), 404, "NotFound"},
		{"post", "POST " + AWSPath + " HTTP/1.1\r\nAuthorization: " + e.token + "\r\nContent-Length: 0\r\n\r\n", 405, "MethodNotAllowed"},
		{"get with a body", "GET " + AWSPath + " HTTP/1.1\r\nAuthorization: " + e.token + "\r\nContent-Length: 2\r\n\r\n{}", 400, "BadRequest"},
		{"malformed", "GET " + AWSPath + " HTTP/9\r\n\r\n", 400, "BadRequest"},
		{"too large", "GET " + AWSPath + " HTTP/1.1\r\nX: " + strings.Repeat("a", maxHead) + "\r\n\r\n", 431, "BadRequest"},
		// Read past what the endpoint reads: closed with it unread, the
		// connection was reset, and the client lost the answer.
		{"far too large", "GET " + AWSPath + " HTTP/1.1\r\nX: " + strings.Repeat("a", 4<<20) + "\r\n\r\n", 431, "BadRequest"},
		{"get with a large body", "GET " + AWSPath + " HTTP/1.1\r\nAuthorization: " + e.token + "\r\nContent-Length: 4194304\r\n\r\n" + strings.Repeat("a", 4<<20), 400, "BadRequest"},
		{"query ignored", get(AWSPath+"?x=1", e.token), 200, ""},
		{"ok", get(AWSPath, e.token), 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.raw(t, tt.head)
			if status != tt.status {
				t.Fatalf("got %d, want %d", status, tt.status)
			}
			var doc map[string]string
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatalf("the body is not JSON: %v", err)
			}
			if tt.code != "" {
				if doc["code"] != tt.code || doc["message"] == "" {
					t.Errorf("got code %q message %q, want %q and a message", doc["code"], doc["message"], tt.code)
				}
				if _, leaked := doc["AccessKeyId"]; leaked {
					t.Errorf("a refused request got credentials")
				}
				return
			}
			cur, _ := e.Cache().Current()
			exp, err := time.Parse(time.RFC3339, doc["Expiration"])
			if doc["AccessKeyId"] != cur.AccessKeyID || doc["SecretAccessKey"] != cur.SecretAccessKey || doc["Token"] != cur.SessionToken || err != nil || !exp.Equal(cur.Expires.Truncate(time.Second)) {
				t.Errorf("the answer is not the current credentials in the container-credentials format (fields %v)", slices.Sorted(maps.Keys(doc)))
			}
		})
	}
	if n := e.Served(); n != 2 {
		t.Errorf("served credentials %d times, want 2", n)
	}
	if !strings.Contains(e.logs.String(), "aws endpoint refused a request") {
		t.Errorf("refused requests were not logged")
	}
}

// TestIdentityEndpointLoopbackOnly checks the endpoint listens on 127.0.0.1
// and nowhere else: a connection to another address of the host fails.
func TestIdentityEndpointLoopbackOnly(t *testing.T) {
	e := startTest(t, time.Hour, 15*time.Minute)
	addr := e.Addr().(*net.TCPAddr)
	if !addr.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("listens on %s, want 127.0.0.1", addr.IP)
	}
	if !strings.HasPrefix(e.URL(), "http://127.0.0.1:") || !strings.HasSuffix(e.URL(), AWSPath) {
		t.Errorf("got URL %s", e.URL())
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	tried := 0
	for _, a := range addrs {
		ipnet, ok := a.(*net.IPNet)
		if !ok || ipnet.IP.IsLoopback() {
			continue
		}
		tried++
		target := net.JoinHostPort(ipnet.IP.String(), fmt.Sprint(addr.Port))
		if c, err := net.DialTimeout("tcp", target, 2*time.Second); err == nil {
			c.Close()
			t.Errorf("the endpoint answers on %s", target)
		}
	}
	t.Logf("tried %d non-loopback addresses", tried)
	st, err := os.Stat(e.tokenPath)
	if err != nil || st.Mode().Perm() != 0o400 {
		t.Errorf("token file: %v, mode %v, want 0400", err, st.Mode().Perm())
	}
	for _, kv := range e.Env() {
		if strings.Contains(kv, e.token) {
			t.Errorf("the token is in the child's environment")
		}
	}
}

// TestIdentityEndpointWithSDK has aws-sdk-go-v2 read the endpoint the way the
// child's SDK does: through the environment, its default chain, the token
// from the file.
func TestIdentityEndpointWithSDK(t *testing.T) {
	e := startTest(t, time.Hour, 15*time.Minute)
	t.Setenv("HOME", t.TempDir())
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, name := range AWSStripped {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	for _, kv := range e.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(t.Context(), config.WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.Credentials.Retrieve(t.Context())
	if err != nil {
		t.Fatalf("the SDK cannot read the endpoint: %v", err)
	}
	cur, _ := e.Cache().Current()
	if got.AccessKeyID != cur.AccessKeyID || got.SecretAccessKey != cur.SecretAccessKey || got.SessionToken != cur.SessionToken || !got.CanExpire {
		t.Errorf("the SDK got other credentials than the endpoint serves")
	}
	// The account of the assumed role, which the SDKs need for
	// account-based endpoints (AWS_ACCOUNT_ID_ENDPOINT_MODE=required).
	if got.AccountID != "123456789012" {
		t.Errorf("the SDK got account %q, want the assumed role's, 123456789012", got.AccountID)
	}
	if got.Source != "CredentialsEndpointProvider" && !strings.Contains(got.Source, "Endpoint") {
		t.Logf("credentials source: %s", got.Source)
	}
}

// TestIdentityEnvNames checks the variables the endpoint sets are the ones the
// manifest forbids declaring, and all are stripped from what the child
// inherits.
func TestIdentityEnvNames(t *testing.T) {
	e := &AWSEndpoint{ln: mustListen(t), tokenPath: "/x"}
	var names []string
	for _, kv := range e.Env() {
		k, _, _ := strings.Cut(kv, "=")
		names = append(names, k)
		if !slices.Contains(AWSStripped, k) {
			t.Errorf("%s is set by ward but not stripped from the inherited environment", k)
		}
	}
	if !slices.Equal(names, manifest.AWSIdentityVars) {
		t.Errorf("the endpoint sets %v, the manifest reserves %v", names, manifest.AWSIdentityVars)
	}
}

func mustListen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// TestIdentityEndpointStartFails checks nothing is served without first
// credentials, and the error names the source's failure.
func TestIdentityEndpointStartFails(t *testing.T) {
	src := &fakeSource{life: time.Hour, fail: errors.New("vault://aws/creds/test: permission denied")}
	_, err := StartAWS(t.Context(), AWSConfig{Source: src, RefreshBefore: time.Minute, WriteToken: func([]byte) (string, error) {
		t.Fatal("a token was written without credentials")
		return "", nil
	}})
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("got %v, want the source's error", err)
	}
}
