package store

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestAnswersCutOffOrEndless: an answer whose body a proxy or the link
// cut off, or one that never ends, is said to be so, naming Vault's
// address; the first was "a body that is not a Vault response", and the
// second was read into memory without end.
func TestAnswersCutOffOrEndless(t *testing.T) {
	tests := []struct {
		name  string
		serve func(w http.ResponseWriter)
		want  string
	}{
		{"cut off", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "1000")
			io.WriteString(w, `{"data":`)
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}, "was cut off after 8 bytes of its body: the connection ended before the answer did"},
		{"endless", func(w http.ResponseWriter) {
			io.WriteString(w, `{"data":{"v":"`)
			chunk := bytes.Repeat([]byte("A"), 64<<10)
			for {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}, "larger than 64 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				tt.serve(w)
			}))
			defer srv.Close()
			tc := newCase(t)
			// Long enough for 64 MiB under the race detector (over 2 s
			// there); an answer read without end fails at it.
			s := tc.store(Options{Address: srv.URL, Timeout: 30 * time.Second}, map[string]string{"VAULT_TOKEN": "ward-test-token"})
			_, err := fetch(t, s, map[string]string{"V": "vault://secret/app#v"})
			tc.wantErr("fetch", err, tt.want, "vault at "+srv.URL)
			if err != nil && strings.Contains(err.Error(), "not a Vault response") {
				t.Errorf("got %q, want no word of the body not being Vault's", tc.text(err))
			}
		})
	}
}

// TestProxyRefusalNamed: a proxy (VAULT_PROXY_ADDR) that refuses the
// CONNECT to an https:// Vault is named, its password hidden, as the one
// that refused, and the refusal is not retried; the error was Go's
// status text alone ("Forbidden"), which reads as Vault's.
func TestProxyRefusalNamed(t *testing.T) {
	var connects atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		connects.Add(1)
		w.WriteHeader(http.StatusForbidden)
	}))
	defer proxy.Close()
	tc := newCase(t)
	password := tc.canary("proxy-password")
	s := tc.store(Options{Address: "https://vault.corp.invalid:8200", Timeout: 5 * time.Second},
		map[string]string{"VAULT_TOKEN": "ward-test-token", "VAULT_PROXY_ADDR": "http://alice:" + password + "@" + proxy.Listener.Addr().String()})
	_, err := fetch(t, s, map[string]string{"V": "vault://secret/app#v"})
	tc.wantErr("fetch", err, "the proxy refused the connection to Vault: it answered 403 Forbidden",
		"through the proxy http://alice:xxxxx@"+proxy.Listener.Addr().String()+" (VAULT_PROXY_ADDR)")
	if n := connects.Load(); n != 1 {
		t.Errorf("the proxy was asked %d times, want once (a refusal is not retried)", n)
	}
}

// TestPlainHTTPAtTLSAddress: an https:// address where a server speaks
// plain HTTP (the port of another listener, a Vault with tls_disable) is
// said to be so, once, without the retries that meet the same answer:
// it was Go's "server gave HTTP response to HTTPS client", after two
// retries, and nothing on what to check.
func TestPlainHTTPAtTLSAddress(t *testing.T) {
	var asked atomic.Int32
	plain := httptest.NewUnstartedServer(http.NotFoundHandler())
	plain.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			asked.Add(1)
		}
	}
	plain.Start()
	defer plain.Close()
	tc := newCase(t)
	addr := "https://" + plain.Listener.Addr().String()
	s := tc.store(Options{Address: addr, Timeout: 5 * time.Second}, map[string]string{"VAULT_TOKEN": "ward-test-token"})
	_, err := fetch(t, s, map[string]string{"V": "vault://secret/app#v"})
	tc.wantErr("fetch", err, "vault at "+addr, "the server there speaks plain HTTP, not TLS: check the port")
	if n := asked.Load(); n != 1 {
		t.Errorf("the server was asked %d times, want once (the same answer comes again)", n)
	}
}
