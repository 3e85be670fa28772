package store

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/vault"
)

func TestSettings(t *testing.T) {
	yes, three := true, 3
	tests := []struct {
		name  string
		opts  Options
		env   map[string]string
		check func(t *testing.T, s settings)
		err   string
	}{
		{
			name: "defaults",
			check: func(t *testing.T, s settings) {
				if s.Address != vault.DefaultAddress || s.Timeout != vault.DefaultTimeout || s.maxRetries != vault.DefaultMaxRetries || s.Auth.Method != "token" {
					t.Errorf("got address %q timeout %s retries %d method %q, want Vault's defaults", s.Address, s.Timeout, s.maxRetries, s.Auth.Method)
				}
			},
		},
		{
			name: "the Vault CLI's variables",
			env: map[string]string{
				"VAULT_ADDR": "https://vault.test:8200", "VAULT_NAMESPACE": "team", "VAULT_CACERT": "/ca.pem",
				"VAULT_CAPATH": "/cas", "VAULT_CLIENT_CERT": "/c.pem", "VAULT_CLIENT_KEY": "/k.pem",
				"VAULT_TLS_SERVER_NAME": "vault", "VAULT_SKIP_VERIFY": "true", "VAULT_CLIENT_TIMEOUT": "7",
				"VAULT_MAX_RETRIES": "5", "VAULT_RATE_LIMIT": "12.5:20",
			},
			check: func(t *testing.T, s settings) {
				got := []string{s.Address, s.Namespace, s.CACert, s.CAPath, s.ClientCert, s.ClientKey, s.TLSServerName}
				want := []string{"https://vault.test:8200", "team", "/ca.pem", "/cas", "/c.pem", "/k.pem", "vault"}
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("got %v, want %v", got, want)
				}
				if !s.skipVerify || s.Timeout != 7*time.Second || s.maxRetries != 5 {
					t.Errorf("got skipVerify=%v timeout=%s retries=%d, want true, 7s, 5", s.skipVerify, s.Timeout, s.maxRetries)
				}
				if s.limiter == nil || s.limiter.Limit() != 12.5 || s.limiter.Burst() != 20 {
					t.Errorf("got limiter %v, want 12.5 requests a second, bursts of 20 (VAULT_RATE_LIMIT)", s.limiter)
				}
			},
		},
		{
			name: "options win over the environment",
			opts: Options{Address: "https://manifest:8200", SkipVerify: new(bool), MaxRetries: &three, Timeout: time.Second},
			env:  map[string]string{"VAULT_ADDR": "HTTPS://Manifest:8200/", "VAULT_SKIP_VERIFY": "1", "VAULT_MAX_RETRIES": "9"},
			check: func(t *testing.T, s settings) {
				if s.Address != "https://manifest:8200" || s.skipVerify || s.maxRetries != 3 || s.Timeout != time.Second {
					t.Errorf("got %q skipVerify=%v retries=%d timeout=%s, want the options'", s.Address, s.skipVerify, s.maxRetries, s.Timeout)
				}
			},
		},
		{
			name: "method defaults",
			opts: Options{Auth: Auth{Method: "kubernetes", Role: "app"}},
			check: func(t *testing.T, s settings) {
				if s.Auth.Mount != "kubernetes" || s.Auth.JWTFile != vault.DefaultKubernetesJWTFile {
					t.Errorf("got mount %q file %q", s.Auth.Mount, s.Auth.JWTFile)
				}
			},
		},
		// A manifest's address the environment does not name: the
		// environment's credentials would go to it.
		{
			name: "manifest's Vault is not the environment's",
			opts: Options{Address: "https://vault.attacker.example"},
			env:  map[string]string{"VAULT_ADDR": "https://vault.internal:8200", "VAULT_TOKEN": "t"},
			err:  "stores.vault.address is https://vault.attacker.example, but the environment names the Vault at https://vault.internal:8200 (VAULT_ADDR)",
		},
		{
			name: "manifest's Vault is neither of the environment's",
			opts: Options{Address: "https://vault.attacker.example:8200"},
			env:  map[string]string{"VAULT_ADDR": "https://vault.internal:8200", "VAULT_AGENT_ADDR": "unix:///run/agent.sock"},
			err:  "unix:///run/agent.sock (VAULT_AGENT_ADDR) and https://vault.internal:8200 (VAULT_ADDR)",
		},
		{
			name: "manifest's Vault is the environment's agent",
			opts: Options{Address: "unix:///run/agent.sock"},
			env:  map[string]string{"VAULT_ADDR": "https://vault.internal:8200", "VAULT_AGENT_ADDR": "unix:///run//agent.sock"},
			check: func(t *testing.T, s settings) {
				if s.Address != "unix:///run/agent.sock" || !s.agent {
					t.Errorf("got %q agent=%v, want the manifest's socket, an agent", s.Address, s.agent)
				}
			},
		},
		{
			name: "https's own port",
			opts: Options{Address: "https://vault.internal"},
			env:  map[string]string{"VAULT_ADDR": "https://vault.internal:443"},
			check: func(t *testing.T, s settings) {
				if s.Address != "https://vault.internal" {
					t.Errorf("got %q", s.Address)
				}
			},
		},
		{name: "another port", opts: Options{Address: "https://vault.internal:8201"}, env: map[string]string{"VAULT_ADDR": "https://vault.internal:8200"}, err: "stores.vault.address is https://vault.internal:8201"},
		{name: "another scheme", opts: Options{Address: "http://vault.internal:8200"}, env: map[string]string{"VAULT_ADDR": "https://vault.internal:8200"}, err: "stores.vault.address is http://vault.internal:8200"},
		{
			name: "no Vault in the environment",
			opts: Options{Address: "https://vault.internal:8200"},
			env:  map[string]string{"VAULT_TOKEN": "t"},
			check: func(t *testing.T, s settings) {
				if s.Address != "https://vault.internal:8200" {
					t.Errorf("got %q, want the manifest's", s.Address)
				}
			},
		},
		{name: "bad skip verify", env: map[string]string{"VAULT_SKIP_VERIFY": "maybe"}, err: "VAULT_SKIP_VERIFY"},
		{name: "bad retries", env: map[string]string{"VAULT_MAX_RETRIES": "-1"}, err: "VAULT_MAX_RETRIES"},
		{name: "bad rate limit", env: map[string]string{"VAULT_RATE_LIMIT": "fast"}, err: "VAULT_RATE_LIMIT"},
		{name: "bad proxy", env: map[string]string{"VAULT_PROXY_ADDR": "http://user:pa ss@proxy"}, err: "VAULT_PROXY_ADDR is not a URL"},
		{name: "unknown method", opts: Options{Auth: Auth{Method: "ldap"}}, err: `unknown vault auth method "ldap"`},
		{name: "jwt without role", opts: Options{Auth: Auth{Method: "jwt"}}, err: "needs role"},
		{name: "token_file without file", opts: Options{Auth: Auth{Method: "token_file"}}, err: "needs token_file"},
		{
			name: "skip verify from options",
			opts: Options{SkipVerify: &yes},
			check: func(t *testing.T, s settings) {
				if !s.skipVerify {
					t.Errorf("skip_verify is off")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := resolveSettings(tt.opts, resolve.Env{Getenv: func(k string) string { return tt.env[k] }}, retryWaits{})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got error %v, want it to say %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

func TestSkipVerifyWarns(t *testing.T) {
	tc := newCase(t)
	s := tc.store(Options{Address: "https://127.0.0.1:1"}, map[string]string{"VAULT_SKIP_VERIFY": "true"})
	if !s.set.skipVerify {
		t.Fatal("skip verify is off")
	}
	if !strings.Contains(tc.logs.String(), "level=WARN") || !strings.Contains(tc.logs.String(), "verification is off") {
		t.Errorf("no warning about skip_verify in the log")
	}
}

func TestCredentialEnv(t *testing.T) {
	got := (&Options{Auth: Auth{Method: "approle", RoleIDEnv: "APP_ROLE", SecretIDEnv: "APP_SECRET", JWTEnv: "VAULT_JWT"}}).CredentialEnv()
	want := "VAULT_TOKEN VAULT_ROLE_ID VAULT_SECRET_ID VAULT_WRAPPED_SECRET_ID VAULT_JWT VAULT_CLIENT_KEY VAULT_CLIENT_CERT APP_ROLE APP_SECRET"
	if strings.Join(got, " ") != want {
		t.Errorf("got CredentialEnv()=%v, want %s", got, want)
	}
}

// fakeVault answers like a Vault server with one KV v2 secret at
// secret/app, failing with 503 the first fails requests. The background
// token lookup (for renewing a static token) is answered as a
// non-renewable token and not counted: the counts are about reads.
type fakeVault struct {
	requests atomic.Int32
	fails    int32
}

func (f *fakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1/auth/token/lookup-self" {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"data":{"renewable":false,"ttl":0}}`)
		return
	}
	n := f.requests.Add(1)
	w.Header().Set("Content-Type", "application/json")
	if n <= f.fails {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"errors":["Vault is sealed"]}`)
		return
	}
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, "/v1/sys/internal/ui/mounts/secret/"):
		io.WriteString(w, `{"data":{"path":"secret/","type":"kv","options":{"version":"2"}}}`)
	case p == "/v1/secret/data/app":
		io.WriteString(w, `{"data":{"data":{"k":"fake-value"},"metadata":{"version":4}}}`)
	case p == "/v1/secret/data/denied":
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"errors":["1 error occurred:\n\t* permission denied\n\n"]}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"errors":[]}`)
	}
}

func TestLazy(t *testing.T) {
	tc := newCase(t)
	f := &fakeVault{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	s := tc.store(Options{Address: srv.URL}, map[string]string{"VAULT_TOKEN": "fake-token"})
	if n := f.requests.Load(); n != 0 {
		t.Fatalf("New made %d requests, want none", n)
	}
	sec, err := s.Fetch(context.Background(), mustRef(t, "vault://secret/app"))
	if err != nil {
		t.Fatalf("fetch: %s", tc.text(err))
	}
	if string(sec.Value) != `{"k":"fake-value"}` || sec.Version != "v4" {
		t.Errorf("got value %s version %q", sec.Value, sec.Version)
	}
}

func TestRetries(t *testing.T) {
	tc := newCase(t)

	t.Run("5xx then success", func(t *testing.T) {
		f := &fakeVault{fails: 2}
		srv := httptest.NewServer(f)
		defer srv.Close()
		s := tc.store(Options{Address: srv.URL}, map[string]string{"VAULT_TOKEN": "fake-token"})
		if _, err := s.Fetch(context.Background(), mustRef(t, "vault://secret/app")); err != nil {
			t.Fatalf("fetch: %s", tc.text(err))
		}
		if n := f.requests.Load(); n != 4 {
			t.Errorf("got %d requests, want 4 (2 failures, the mount lookup, the read)", n)
		}
	})
	t.Run("5xx beyond the retries", func(t *testing.T) {
		f := &fakeVault{fails: 100}
		srv := httptest.NewServer(f)
		defer srv.Close()
		one := 1
		s := tc.store(Options{Address: srv.URL, MaxRetries: &one}, map[string]string{"VAULT_TOKEN": "fake-token"})
		_, err := s.Fetch(context.Background(), mustRef(t, "vault://secret/app"))
		tc.wantErr("sealed", err, "vault://secret/app", "vault answered 503: Vault is sealed", "up to 1 retries")
		if n := f.requests.Load(); n != 2 {
			t.Errorf("got %d requests, want 2", n)
		}
	})
	// Retries whose waits pass the timeout (a sealed Vault at a timeout
	// of a few seconds): the error says what Vault answered, not "no
	// answer within".
	t.Run("5xx until the timeout", func(t *testing.T) {
		f := &fakeVault{fails: 100}
		srv := httptest.NewServer(f)
		defer srv.Close()
		s := tc.storeWaiting(Options{Address: srv.URL, Timeout: 300 * time.Millisecond}, map[string]string{"VAULT_TOKEN": "fake-token"}, true, retryWaits{500 * time.Millisecond, time.Second})
		_, err := s.Fetch(context.Background(), mustRef(t, "vault://secret/app"))
		tc.wantErr("sealed", err, "vault://secret/app", "vault answered 503: Vault is sealed, again until the timeout of 300ms")
		if strings.Contains(err.Error(), "no answer") {
			t.Errorf("got %s, which says Vault did not answer", tc.text(err))
		}
	})
	// A 429 to the mount's lookup is an answer, not a refusal to say:
	// the KV v2 then the v1 path were tried, a timeout each, and the
	// error named the v1 path of a v2 mount.
	t.Run("429 to the mount lookup", func(t *testing.T) {
		var others atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasPrefix(r.URL.Path, "/v1/sys/internal/ui/mounts/") {
				others.Add(1)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"errors":["request path \"secret/app\": rate limit quota exceeded"]}`)
		}))
		defer srv.Close()
		zero := 0
		s := tc.store(Options{Address: srv.URL, MaxRetries: &zero, Timeout: time.Second}, map[string]string{"VAULT_TOKEN": "fake-token"})
		_, err := s.Fetch(context.Background(), mustRef(t, "vault://secret/app"))
		tc.wantErr("429", err, "vault://secret/app", "look up its mount: vault answered 429")
		if n := others.Load(); n != 0 {
			t.Errorf("got %d requests besides the mount's lookup, want none", n)
		}
	})
	t.Run("403 is not retried", func(t *testing.T) {
		f := &fakeVault{}
		srv := httptest.NewServer(f)
		defer srv.Close()
		s := tc.store(Options{Address: srv.URL}, map[string]string{"VAULT_TOKEN": "fake-token"})
		_, err := s.Fetch(context.Background(), mustRef(t, "vault://secret/denied"))
		if !errors.Is(err, ErrPermissionDenied) {
			t.Errorf("got %s, want ErrPermissionDenied", tc.text(err))
		}
		if n := f.requests.Load(); n != 2 {
			t.Errorf("got %d requests, want 2 (the mount lookup, one read)", n)
		}
	})
	t.Run("404 is not retried", func(t *testing.T) {
		f := &fakeVault{}
		srv := httptest.NewServer(f)
		defer srv.Close()
		s := tc.store(Options{Address: srv.URL}, map[string]string{"VAULT_TOKEN": "fake-token"})
		_, err := s.Fetch(context.Background(), mustRef(t, "vault://secret/app/missing"))
		if !errors.Is(err, resolve.ErrNotFound) {
			t.Errorf("got %s, want resolve.ErrNotFound", tc.text(err))
		}
		if n := f.requests.Load(); n != 2 {
			t.Errorf("got %d requests, want 2", n)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := "http://" + l.Addr().String()
		l.Close()
		s := tc.store(Options{Address: addr}, map[string]string{"VAULT_TOKEN": "fake-token"})
		start := time.Now()
		_, err = s.Fetch(context.Background(), mustRef(t, "vault://secret/app"))
		tc.wantErr("refused", err, "vault://secret/app", "connection refused", "up to 2 retries")
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("a refused connection took %s to fail", d)
		}
	})
	// A typo in VAULT_ADDR's host: DNS says it does not exist, and every
	// retry asked again (seconds of them) before the error, which said
	// nothing of the address. The host is under .invalid, which DNS never
	// resolves (RFC 6761).
	t.Run("host that does not exist", func(t *testing.T) {
		const host = "valt.example.invalid"
		var de *net.DNSError
		if _, err := net.LookupHost(host); !errors.As(err, &de) || !de.IsNotFound {
			t.Fatalf("this machine's resolver does not answer that %s does not exist (RFC 6761), which the test needs: %v", host, err)
		}
		s := tc.store(Options{Address: "http://" + host + ":8200"}, map[string]string{"VAULT_TOKEN": "fake-token"})
		_, err := s.Fetch(context.Background(), mustRef(t, "vault://secret/app"))
		tc.wantErr("no such host", err, "vault://secret/app", "DNS says "+host+" does not exist", "check VAULT_ADDR")
		if strings.Contains(tc.text(err), "retries") {
			t.Errorf("the error says the request was retried: %s", tc.text(err))
		}
	})
	// No address anywhere: Vault's default, https://127.0.0.1:8200, which
	// the error named as if it had been chosen.
	t.Run("no address set", func(t *testing.T) {
		zero := 0
		env := map[string]string{"VAULT_TOKEN": "fake-token", "HOME": t.TempDir()}
		s, err := New(Options{MaxRetries: &zero}, resolve.Env{Getenv: func(k string) string { return env[k] }})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		_, err = s.Fetch(context.Background(), mustRef(t, "vault://secret/app"))
		tc.wantErr("no address", err, "vault at https://127.0.0.1:8200", "VAULT_ADDR is not set")
	})
	t.Run("timeout", func(t *testing.T) {
		block := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
		defer srv.Close()
		defer close(block)
		zero := 0
		s := tc.store(Options{Address: srv.URL, Timeout: 200 * time.Millisecond, MaxRetries: &zero}, map[string]string{"VAULT_TOKEN": "fake-token"})
		_, err := s.Fetch(context.Background(), mustRef(t, "vault://secret/app"))
		tc.wantErr("timeout", err, "vault://secret/app", "deadline exceeded")
	})
}

// TestProxyAddr: VAULT_PROXY_ADDR (and the older VAULT_HTTP_PROXY) send
// every request through the proxy they name, as for the Vault CLI,
// loopback addresses included; ward went straight to Vault.
func TestProxyAddr(t *testing.T) {
	tc := newCase(t)
	vaultSrv := httptest.NewServer(&fakeVault{})
	defer vaultSrv.Close()
	var proxied atomic.Int32
	forward := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.Out.URL = r.In.URL }}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Host != strings.TrimPrefix(vaultSrv.URL, "http://") {
			http.Error(w, "not a proxy request", http.StatusBadRequest)
			return
		}
		proxied.Add(1)
		forward.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	for _, name := range []string{"VAULT_PROXY_ADDR", "VAULT_HTTP_PROXY"} {
		t.Run(name, func(t *testing.T) {
			before := proxied.Load()
			s := tc.store(Options{Address: vaultSrv.URL}, map[string]string{"VAULT_TOKEN": "fake-token", name: proxy.URL})
			if _, err := s.Fetch(context.Background(), mustRef(t, "vault://secret/app")); err != nil {
				t.Fatalf("fetch: %s", tc.text(err))
			}
			if n := proxied.Load() - before; n < 2 {
				t.Errorf("%d requests went through the proxy, want the mount lookup and the read", n)
			}
		})
	}
}

// TestLeaseCountQuota: Vault Enterprise's lease-count quota answers 429
// too, but waiting for it does not help (leases end when they end): the
// read fails at once, saying so, while a rate limit's 429 is waited out.
func TestLeaseCountQuota(t *testing.T) {
	tc := newCase(t)
	var reads atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/v1/auth/token/lookup-self":
			io.WriteString(w, `{"data":{"renewable":false,"ttl":0}}`)
		case strings.HasPrefix(r.URL.Path, "/v1/sys/internal/ui/mounts/"):
			io.WriteString(w, `{"data":{"path":"database/","type":"database"}}`)
		case r.URL.Path == "/v1/database/creds/quota":
			reads.Add(1)
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"errors":["request path \"database/creds/quota\": lease count quota exceeded"]}`)
		case r.URL.Path == "/v1/database/creds/rate":
			if reads.Add(1) <= 2 {
				w.WriteHeader(http.StatusTooManyRequests)
				io.WriteString(w, `{"errors":["request path \"database/creds/rate\": rate limit quota exceeded"]}`)
				return
			}
			io.WriteString(w, `{"data":{"username":"u"}}`)
		}
	}))
	defer srv.Close()
	zero := 0
	s := tc.store(Options{Address: srv.URL, MaxRetries: &zero}, map[string]string{"VAULT_TOKEN": "fake-token"})
	_, err := s.Fetch(context.Background(), mustRef(t, "vault://database/creds/quota"))
	tc.wantErr("lease count", err, "vault answered 429", "lease count quota exceeded")
	if n := reads.Load(); n != 1 {
		t.Errorf("a lease-count quota's 429 was read %d times, want once", n)
	}
	reads.Store(0)
	if _, err := s.Fetch(context.Background(), mustRef(t, "vault://database/creds/rate")); err != nil {
		t.Errorf("a rate limit's 429 twice, then an answer: got %s, want it waited out", tc.text(err))
	}
}

// TestOutageStandsForQueuedReads: a read that found Vault sealed (or
// down) stands, for a moment, for the reads queued behind it, which fail
// with its error at once; a secrets engine's own 500 (its database down)
// is its path's alone, and the next read goes to Vault.
func TestOutageStandsForQueuedReads(t *testing.T) {
	tc := newCase(t)
	var sealed atomic.Bool
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/v1/auth/token/lookup-self":
			io.WriteString(w, `{"data":{"renewable":false,"ttl":0}}`)
			return
		case sealed.Load():
			requests.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"errors":["Vault is sealed"]}`)
			return
		}
		requests.Add(1)
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, "/v1/sys/internal/ui/mounts/database/"):
			io.WriteString(w, `{"data":{"path":"database/","type":"database"}}`)
		case strings.HasPrefix(p, "/v1/sys/internal/ui/mounts/secret/"):
			io.WriteString(w, `{"data":{"path":"secret/","type":"kv","options":{"version":"2"}}}`)
		case p == "/v1/database/creds/app":
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"errors":["failed to verify connection: dial tcp 127.0.0.1:5432: connect: connection refused"]}`)
		case p == "/v1/secret/data/app":
			io.WriteString(w, `{"data":{"data":{"k":"fake-value"},"metadata":{"version":4}}}`)
		}
	}))
	defer srv.Close()
	zero := 0
	s := tc.store(Options{Address: srv.URL, MaxRetries: &zero}, map[string]string{"VAULT_TOKEN": "fake-token"})
	_, err := s.Fetch(context.Background(), mustRef(t, "vault://database/creds/app"))
	tc.wantErr("the engine's 500", err, "vault answered 500")
	if _, err := s.Fetch(context.Background(), mustRef(t, "vault://secret/app")); err != nil {
		t.Errorf("a read after another path's 500: got %s, want the value", tc.text(err))
	}
	sealed.Store(true)
	_, err = s.Fetch(context.Background(), mustRef(t, "vault://secret/app"))
	tc.wantErr("sealed", err, "Vault is sealed")
	before := requests.Load()
	_, err = s.Fetch(context.Background(), mustRef(t, "vault://database/creds/app"))
	tc.wantErr("queued behind the seal", err, "read vault://database/creds/app", "Vault is sealed")
	if n := requests.Load() - before; n != 0 {
		t.Errorf("a read queued behind one that found Vault sealed made %d requests, want none", n)
	}
}

// TestLoginWhileSealed: a login that Vault cannot answer (sealed, here;
// down, restarting) says so, and sends no one to check credentials that
// are fine. It said "check role_id and secret_id (a secret_id can expire
// or run out of uses)", and an operator would issue a new one.
func TestLoginWhileSealed(t *testing.T) {
	tc := newCase(t)
	f := &fakeVault{fails: 100}
	srv := httptest.NewServer(f)
	defer srv.Close()
	zero := 0
	s := tc.store(Options{Address: srv.URL, MaxRetries: &zero, Auth: Auth{Method: "approle", RoleID: "role"}}, map[string]string{"VAULT_SECRET_ID": "fake-secret-id"})
	_, err := s.Fetch(context.Background(), mustRef(t, "vault://secret/app"))
	tc.wantErr("sealed", err, "log in to vault with approle", "vault answered 503: Vault is sealed")
	if err != nil && strings.Contains(err.Error(), "check role_id") {
		t.Errorf("got error %q, want no hint about the credentials: Vault did not look at them", tc.text(err))
	}
}

func TestTLS(t *testing.T) {
	tc := newCase(t)
	srv := httptest.NewUnstartedServer(&fakeVault{})
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	yes := true
	other := otherCA(t)
	tests := []struct {
		name string
		opts Options
		env  map[string]string
		err  string
	}{
		{name: "ca_cert", opts: Options{CACert: ca}},
		{name: "VAULT_CACERT", env: map[string]string{"VAULT_CACERT": ca}},
		{name: "skip_verify", opts: Options{SkipVerify: &yes}},
		// The API client does not retry a certificate it cannot verify:
		// the error said "with up to 2 retries", and not what to set.
		{name: "unknown CA", err: "signed by unknown authority (vault at " + srv.URL + "): set VAULT_CACERT"},
		{name: "another CA", opts: Options{CACert: other}, err: "signed by unknown authority (vault at " + srv.URL + "): " + other + " does not hold it: set VAULT_CACERT"},
		{name: "wrong server name", opts: Options{CACert: ca, TLSServerName: "vault.internal"}, err: "not vault.internal (vault at " + srv.URL + "): check VAULT_TLS_SERVER_NAME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"VAULT_TOKEN": "fake-token"}
			for k, v := range tt.env {
				env[k] = v
			}
			tt.opts.Address = srv.URL
			s := tc.store(tt.opts, env)
			_, err := s.Fetch(context.Background(), mustRef(t, "vault://secret/app"))
			if tt.err == "" {
				if err != nil {
					t.Fatalf("fetch: %s", tc.text(err))
				}
				return
			}
			tc.wantErr(tt.name, err, "vault://secret/app", tt.err)
		})
	}
	// A VAULT_ADDR of http:// for a Vault that serves TLS: Go's server
	// answers 400 with a text of its own, which was reported as an
	// address that is not Vault's.
	// Upper-case too: it was written https://HTTP://HOST.
	for _, scheme := range []string{"http://", "HTTP://"} {
		t.Run(scheme+" for a TLS server", func(t *testing.T) {
			zero := 0
			s := tc.store(Options{Address: strings.Replace(srv.URL, "https://", scheme, 1), MaxRetries: &zero}, map[string]string{"VAULT_TOKEN": "fake-token"})
			_, err := s.Fetch(context.Background(), mustRef(t, "vault://secret/app"))
			tc.wantErr(scheme+" for a TLS server", err, "vault://secret/app", "vault answered 400", "the server speaks HTTPS: write "+srv.URL+" ")
		})
	}
	// The CA as text in VAULT_CACERT_BYTES (a CI variable), as the CLI
	// takes it: it was ignored, and the certificate unknown.
	t.Run("VAULT_CACERT_BYTES", func(t *testing.T) {
		b, err := os.ReadFile(ca)
		if err != nil {
			t.Fatal(err)
		}
		s := tc.store(Options{Address: srv.URL}, map[string]string{"VAULT_TOKEN": "fake-token", "VAULT_CACERT_BYTES": string(b)})
		if _, err := s.Fetch(context.Background(), mustRef(t, "vault://secret/app")); err != nil {
			t.Fatalf("fetch: %s", tc.text(err))
		}
	})
	t.Run("missing CA file", func(t *testing.T) {
		_, err := New(Options{Address: srv.URL, CACert: filepath.Join(t.TempDir(), "none.pem")}, resolve.Env{Getenv: func(string) string { return "" }})
		tc.wantErr("missing CA file", err, "configure TLS", "none.pem")
	})
}

// otherCA writes a CA certificate of its own: a CA file that did not sign
// Vault's certificate (a company's other CA, last year's).
func otherCA(t *testing.T) string {
	ca := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: newTestCA(t).der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestCredsPath(t *testing.T) {
	s, err := resolveSettings(Options{}, resolve.Env{Getenv: func(k string) string {
		if k == "CREDENTIALS_DIRECTORY" {
			return "/run/credentials/app.service"
		}
		return ""
	}}, retryWaits{})
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{"creds://role-id": "/run/credentials/app.service/role-id", "/etc/role-id": "/etc/role-id"} {
		if got, err := s.credsPath(in); got != want || err != nil {
			t.Errorf("credsPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestForeignBodyNotRepeated: an answer that is not Vault's (VAULT_ADDR
// naming a proxy, a load balancer's error page, a server that echoes the
// request) is never repeated in an error: it may hold the token ward
// sent. The API client puts such a body whole in its error, and the
// store's errors repeated it, token included.
func TestForeignBodyNotRepeated(t *testing.T) {
	tc := newCase(t)
	tok := tc.canary("token")
	for _, status := range []int{http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusBadGateway} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(status)
				fmt.Fprintf(w, "<html><pre>%s %s\nX-Vault-Token: %s</pre></html>", r.Method, r.URL, r.Header.Get("X-Vault-Token"))
			}))
			defer echo.Close()
			zero := 0
			s := tc.store(Options{Address: echo.URL, MaxRetries: &zero}, map[string]string{"VAULT_TOKEN": tok})
			_, err := s.Fetch(context.Background(), mustRef(t, "vault://secret/app"))
			tc.wantErr("a foreign answer", err, "vault://secret/app", fmt.Sprintf("vault answered %d", status), "not a Vault response")
			// A 5xx of its own is what a load balancer in front of Vault
			// says while Vault is down or restarting behind it: the
			// address is right.
			if status >= 500 {
				tc.wantErr("a proxy's 5xx", err, "a proxy or load balancer in front of Vault answered for it")
			}
		})
	}
}
