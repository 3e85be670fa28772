package main

// The network between ward's store helpers and their stores, as it is
// where a proxy, a load balancer or a flaky link sits in between: a TCP
// proxy written here forwards to the real Vault and fails on command.

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/azure"
	"github.com/wardsecrets/ward/resolve/azure/azuretest"
	"github.com/wardsecrets/ward/resolve/gcp"
	"github.com/wardsecrets/ward/resolve/gcp/gcptest"
	"github.com/wardsecrets/ward/resolve/resolvetest"
	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"github.com/wardsecrets/ward/testdata/helper"
)

// Modes of a faultProxy.
const (
	// proxyPass forwards both ways.
	proxyPass = "pass"
	// proxyStallBody forwards an answer's headers and its first byte of
	// body, then nothing more, holding the connection open.
	proxyStallBody = "stall-body"
	// proxyCutBody forwards an answer's headers and its first byte of
	// body, then closes the connection.
	proxyCutBody = "cut-body"
	// proxyBlackhole takes the requests and answers none, on the
	// connections it holds too.
	proxyBlackhole = "blackhole"
	// proxyEndlessBody answers every request itself: 200, JSON, and a
	// body that never ends.
	proxyEndlessBody = "endless-body"
)

// faultProxy is a TCP proxy in front of target that fails as its mode
// says, for the connections it accepts from then on and for the answers
// that start from then on on the ones it holds.
type faultProxy struct {
	t      *testing.T
	l      net.Listener
	target string
	mode   atomic.Value
	conns  atomic.Int32
	// sent counts the bytes clients sent through the proxy, answered
	// or not.
	sent atomic.Int64

	mu   sync.Mutex
	open []net.Conn
}

// newFaultProxy listens on a loopback port for target (host:port).
func newFaultProxy(t *testing.T, target, mode string) *faultProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{t: t, l: l, target: target}
	p.mode.Store(mode)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

// addr is the proxy's address, as a URL.
func (p *faultProxy) addr() string { return "http://" + p.l.Addr().String() }

func (p *faultProxy) setMode(m string) { p.mode.Store(m) }

func (p *faultProxy) close() {
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.open {
		c.Close()
	}
}

func (p *faultProxy) keep(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.open = append(p.open, c)
	return true
}

func (p *faultProxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.conns.Add(1)
		p.keep(c)
		go p.handle(c)
	}
}

func (p *faultProxy) handle(c net.Conn) {
	defer c.Close()
	if p.mode.Load() == proxyEndlessBody {
		buf := make([]byte, 64<<10)
		c.Read(buf)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"data\":{\"data\":{\"v\":\"")
		chunk := bytes.Repeat([]byte("A"), 64<<10)
		for {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}
	if p.mode.Load() == proxyBlackhole {
		io.Copy(countingWriter{io.Discard, &p.sent}, c)
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.keep(up)
	defer up.Close()
	go func() { io.Copy(countingWriter{up, &p.sent}, c); up.Close() }()
	buf := make([]byte, 64<<10)
	for {
		n, err := up.Read(buf)
		b := buf[:n]
		if mode := p.mode.Load(); n > 0 && (mode == proxyStallBody || mode == proxyCutBody) {
			if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 && i+5 <= n {
				c.Write(b[:i+5])
				if mode == proxyCutBody {
					return
				}
				// Held open until the test ends (close).
				io.Copy(io.Discard, c)
				return
			}
		}
		if n > 0 && p.mode.Load() == proxyBlackhole {
			continue
		}
		if n > 0 {
			if _, werr := c.Write(b); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// countingWriter adds what it writes to n.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// TestVaultAnswerCutOffMidBody: Vault's answer stops after its headers,
// a proxy or a link between them stalling it (or closing the connection).
// ward fails the start with 125 saying that the answer was cut off, with
// Vault's address and the timeout it waited; no child starts. ward said
// "vault answered 200 with a body that is not a Vault response", which
// sends the operator to check that the address is Vault's.
func TestVaultAnswerCutOffMidBody(t *testing.T) {
	srv := vaulttest.Require(t)
	mount := srv.MountKV(t, 2)
	value := canary("cutoff")
	kvPut(t, mount, "app", map[string]any{"token": value})
	tests := []struct {
		mode string
		want string
	}{
		{proxyStallBody, "did not end: 1 byte of its body came within 3s"},
		{proxyCutBody, "the connection ended before the answer did"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			p := newFaultProxy(t, strings.TrimPrefix(srv.Addr, "http://"), tt.mode)
			w := newWardEnv(t)
			w.canaries = append(w.canaries, value)
			w.env = append(w.env, "VAULT_ADDR="+p.addr(), "VAULT_TOKEN="+srv.Token)
			m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  TOKEN: vault://%s/app#token\nstores:\n  vault:\n    timeout: 3s\n", mount))
			code, stdout, stderr := w.run("run", "-m", m, "--", "helper", "exit", "0")
			if code != 125 {
				t.Fatalf("got exit %d, want 125; stderr:\n%s", code, lastLines(stderr, 3))
			}
			if stdout != "" {
				t.Errorf("the child wrote %q, want no child", stdout)
			}
			if !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, p.addr()) || strings.Contains(stderr, "not a Vault response") {
				t.Errorf("the error does not say that Vault's answer at %s was cut off (%q):\n%s", p.addr(), tt.want, lastLines(stderr, 3))
			}
		})
	}
}

// TestVaultEndlessAnswerBounded: something at Vault's address (a proxy
// gone wrong, a server that is not Vault) answers 200 with a body that
// never ends. ward's Vault helper stops reading at 64 MiB and the start
// fails with 125 saying so; it read on into memory until the request
// timed out (7 GB in 17 s here, at loopback speed, with the default
// timeout of 60 s).
func TestVaultEndlessAnswerBounded(t *testing.T) {
	p := newFaultProxy(t, "127.0.0.1:1", proxyEndlessBody)
	w := newWardEnv(t)
	w.env = append(w.env, "VAULT_ADDR="+p.addr(), "VAULT_TOKEN=ward-test-token")
	// A short timeout: the helper without the bound grows for as long.
	// Not too short: 2 s ran out at 64,048,173 bytes on a busy CI
	// machine, the bound not reached.
	m := w.manifest("version: 1\nenv:\n  TOKEN: vault://secret/app#token\nstores:\n  vault:\n    timeout: 6s\n")
	code, stdout, stderr := w.run("run", "-m", m, "--", "helper", "exit", "0")
	if code != 125 {
		t.Fatalf("got exit %d, want 125; stderr:\n%s", code, lastLines(stderr, 3))
	}
	if stdout != "" {
		t.Errorf("the child wrote %q, want no child", stdout)
	}
	if !strings.Contains(stderr, "larger than 64 MiB") || !strings.Contains(stderr, p.addr()) {
		t.Errorf("the error does not say that the answer from %s was larger than 64 MiB:\n%s", p.addr(), lastLines(stderr, 3))
	}
}

// TestVaultProxyNamedInErrors: requests to Vault go through a proxy the
// environment names (HTTPS_PROXY, HTTP_PROXY, with a user and password
// in its URL, as corporate proxies take them), and the proxy is the one
// that fails: it is down, it refuses the CONNECT to an https:// Vault
// (its rules, its credentials), or it answers a plain http:// request
// with a page of its own. The error names the proxy, its password
// hidden, and the variable that set it; it named Vault alone ("Forbidden
// (vault at https://...)" reads as Vault's refusal), and the proxy's
// password is never in it.
func TestVaultProxyNamedInErrors(t *testing.T) {
	password := canary("proxypass")
	refusing := func(code int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(code)
			io.WriteString(w, "<html><body>Access denied by the proxy's policy</body></html>")
		}))
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().String()
	}
	down := "127.0.0.1:" + freePort(t)
	tests := []struct {
		name, vault, variable, proxy string
		want                         []string
	}{
		{"down", "https://vault.corp.invalid:8200", "HTTPS_PROXY", down, []string{"cannot reach the proxy"}},
		{"CONNECT forbidden", "https://vault.corp.invalid:8200", "HTTPS_PROXY", refusing(http.StatusForbidden), []string{"the proxy refused the connection to Vault: it answered 403 Forbidden"}},
		{"CONNECT needs credentials", "https://vault.corp.invalid:8200", "https_proxy", refusing(http.StatusProxyAuthRequired), []string{"407 Proxy Authentication Required", "check the user and password in the proxy's URL"}},
		{"plain http refused", "http://vault.corp.invalid:8200", "HTTP_PROXY", refusing(http.StatusForbidden), []string{"vault answered 403 with a body that is not a Vault response"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWardEnv(t)
			w.canaries = append(w.canaries, password)
			proxy := "http://alice:" + password + "@" + tt.proxy
			w.env = append(w.env, "VAULT_ADDR="+tt.vault, "VAULT_TOKEN=ward-test-token",
				"HTTPS_PROXY=", "https_proxy=", "HTTP_PROXY=", "http_proxy=", "NO_PROXY=", "no_proxy=", tt.variable+"="+proxy)
			m := w.manifest("version: 1\nenv:\n  TOKEN: vault://secret/app#token\nstores:\n  vault:\n    timeout: 5s\n")
			code, stdout, stderr := w.run("run", "-m", m, "--", "helper", "exit", "0")
			if code != 125 {
				t.Fatalf("got exit %d, want 125; stderr:\n%s", code, lastLines(redactAll(stderr, password), 3))
			}
			if stdout != "" {
				t.Errorf("the child wrote %q, want no child", stdout)
			}
			named := "through the proxy http://alice:xxxxx@" + tt.proxy + " (" + tt.variable + ")"
			for _, want := range append(tt.want, named) {
				if !strings.Contains(stderr, want) {
					t.Errorf("the error does not say %q:\n%s", want, lastLines(redactAll(stderr, password), 2))
				}
			}
		})
	}
}

// TestCloudEndlessAnswerBounded: something at a cloud store's endpoint
// (a proxy gone wrong, a server that is not the store's) answers 200
// with a body that never ends. Each cloud helper stops reading at 16 MiB
// and the start fails with 125 saying so, naming the endpoint; each read
// it into memory until the request timed out (ward-aws: 4 GB in 10 s
// here at loopback speed, with the default timeout of 30 s).
func TestCloudEndlessAnswerBounded(t *testing.T) {
	endless := newFaultProxy(t, "127.0.0.1:1", proxyEndlessBody)
	host := strings.TrimPrefix(endless.addr(), "http://")
	tests := []struct {
		name  string
		setup func(t *testing.T) (*wardEnv, string)
		host  string
	}{
		{"aws", func(t *testing.T) (*wardEnv, string) {
			_, w := awsWard(t)
			w.env = append(w.env, "AWS_ENDPOINT_URL="+endless.addr(), "AWS_ENDPOINT_URL_SECRETS_MANAGER="+endless.addr())
			return w, "version: 1\nstores:\n  aws:\n    timeout: 2s\nenv:\n  APP: awssm://app\n"
		}, host},
		{"gcp", func(t *testing.T) (*wardEnv, string) {
			srv, w := gcpWard(t)
			w.env = append(w.env, gcp.EndpointsVar+"="+srv.URL()+" "+srv.RegionalURL()+" "+srv.IAMURL()+" "+endless.addr())
			return w, "version: 1\nstores:\n  gcp:\n    timeout: 2s\n    endpoint: " + endless.addr() + "\nenv:\n  APP: gcpsm://" + gcptest.Project + "/app\n"
		}, host},
	}
	azureEndless := resolvetest.NewEndless(t, true)
	azureHost := azureEndless.Host()
	tests = append(tests, struct {
		name  string
		setup func(t *testing.T) (*wardEnv, string)
		host  string
	}{"azure", func(t *testing.T) (*wardEnv, string) {
		srv, w := azureWard(t, (*azuretest.Server).Env)
		w.env = append(w.env, "SSL_CERT_FILE="+azureTrusting(t, w, srv, azureEndless), azure.VaultHostsVar+"="+srv.VaultHost()+" "+azureHost)
		return w, "version: 1\n" + strings.TrimSuffix(azureStores, "\n") + "\n    timeout: 2s\nenv:\n  APP: azkv://" + azureHost + "/app\n"
	}, azureHost})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, manifest := tt.setup(t)
			runBounded(t, w, manifest, tooLarge(tt.host))
		})
	}
}

// runBounded runs ward over manifest, whose start meets an answer that
// never ends: it must fail with 125 saying want, and start no child.
func runBounded(t *testing.T, w *wardEnv, manifest, want string) {
	t.Helper()
	code, stdout, stderr := w.run("run", "-m", w.manifest(manifest), "--", "helper", "exit", "0")
	if code != 125 {
		t.Fatalf("got exit %d, want 125; stderr:\n%s", code, lastLines(stderr, 3))
	}
	if stdout != "" {
		t.Errorf("the child wrote %q, want no child", stdout)
	}
	if !strings.Contains(stderr, want) {
		t.Errorf("the error does not say %q:\n%s", want, lastLines(stderr, 3))
	}
}

// tooLarge is what the error says of an answer from host past the bound.
func tooLarge(host string) string { return "the answer from " + host + " is larger than 16 MiB" }

// azureTrusting writes a CA file, for SSL_CERT_FILE, that trusts the
// emulator srv and the server e.
func azureTrusting(t *testing.T, w *wardEnv, srv *azuretest.Server, e *resolvetest.Endless) string {
	t.Helper()
	ca, err := os.ReadFile(srv.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(w.dir, "ca.pem")
	ca = append(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.Certificate().Raw})...)
	if err := os.WriteFile(bundle, ca, 0o644); err != nil {
		t.Fatal(err)
	}
	return bundle
}

// TestCloudEndlessCredentialAnswerBounded: the endpoint a cloud helper
// asks for its credentials (AWS's container endpoint, IMDS, STS for web
// identity; Google's metadata server; Azure's managed identity endpoint
// and Entra ID for a client secret) answers 200 with a body that never
// ends, or AWS's credential_process (a profile's own, or its
// source_profile's under an assumed role) or the program of Google's
// executable-sourced credentials prints without end. The helper stops
// reading at 16 MiB (the process's output at 1 MiB) and the start fails
// with 125 saying so, naming the endpoint, within seconds; the SDK read
// on into memory until the timeout (ward-aws: 3.9 GB peak in 10 to 30 s
// at loopback speed, 8 GB for STS's answer and the process's output;
// ward-gcp: 3.9 GB in the metadata library's 5 s). Azure's were bounded already, but the error
// of Entra ID's said "server response error:" and stopped there.
func TestCloudEndlessCredentialAnswerBounded(t *testing.T) {
	endless := resolvetest.NewEndless(t, false)
	endlessTLS := resolvetest.NewEndless(t, true)
	azureManifest := func(srv *azuretest.Server) string {
		return "version: 1\n" + strings.TrimSuffix(azureStores, "\n") + "\n    timeout: 10s\nenv:\n  APP: azkv://" + srv.VaultHost() + "/app\n"
	}
	const awsManifest = "version: 1\nstores:\n  aws:\n    timeout: 10s\nenv:\n  APP: awssm://app\n"
	// Without the emulator's keys, the SDK's chain goes on to the
	// source each row sets.
	awsKeyless := func(t *testing.T) *wardEnv {
		_, w := awsWard(t)
		w.env = append(w.env, "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=")
		return w
	}
	tests := []struct {
		name  string
		setup func(t *testing.T) (*wardEnv, string)
		want  string // what the error says
	}{
		{"aws container endpoint", func(t *testing.T) (*wardEnv, string) {
			w := awsKeyless(t)
			w.env = append(w.env, "AWS_CONTAINER_CREDENTIALS_FULL_URI="+endless.URL+"/creds", "AWS_CONTAINER_AUTHORIZATION_TOKEN="+w.canary("container-token"))
			return w, awsManifest
		}, tooLarge(endless.Host())},
		{"aws imds", func(t *testing.T) (*wardEnv, string) {
			w := awsKeyless(t)
			w.env = append(w.env, "AWS_EC2_METADATA_DISABLED=", "AWS_EC2_METADATA_SERVICE_ENDPOINT="+endless.URL)
			return w, awsManifest
		}, tooLarge(endless.Host())},
		{"aws web identity", func(t *testing.T) (*wardEnv, string) {
			w := awsKeyless(t)
			// Where a platform mounts it, outside the test's directory,
			// whose files the audit searches for canaries.
			token := filepath.Join(t.TempDir(), "web-identity-token")
			if err := os.WriteFile(token, []byte(w.canary("web-identity")), 0o600); err != nil {
				t.Fatal(err)
			}
			w.env = append(w.env, "AWS_WEB_IDENTITY_TOKEN_FILE="+token, "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/app", "AWS_ENDPOINT_URL_STS="+endless.URL)
			return w, awsManifest
		}, tooLarge(endless.Host())},
		{"aws credential_process", func(t *testing.T) (*wardEnv, string) {
			w := awsKeyless(t)
			// A loop, or a wrapper's log on stdout.
			script := filepath.Join(w.dir, "creds.sh")
			config := filepath.Join(w.dir, "aws-config")
			if err := os.WriteFile(script, []byte("#!/bin/sh\nwhile :; do echo "+strings.Repeat("A", 4095)+"; done\n"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(config, []byte("[default]\ncredential_process = "+script+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			w.env = append(w.env, "AWS_CONFIG_FILE="+config)
			return w, awsManifest
		}, "the profile's credential_process printed more than 1 MiB on its stdout"},
		{"aws credential_process of a source_profile", func(t *testing.T) (*wardEnv, string) {
			w := awsKeyless(t)
			// The keys that assume the profile's role come from another
			// profile's process, which prints without end: a canary,
			// so it sits outside the test's directory, which the audit
			// searches.
			script := filepath.Join(t.TempDir(), "creds.sh")
			config := filepath.Join(w.dir, "aws-config")
			if err := os.WriteFile(script, []byte("#!/bin/sh\nwhile :; do echo "+w.canary("process-loop")+"; done\n"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(config, []byte("[default]\nrole_arn = arn:aws:iam::123456789012:role/app\nsource_profile = base\n[profile base]\ncredential_process = "+script+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			w.env = append(w.env, "AWS_CONFIG_FILE="+config, "AWS_ENDPOINT_URL_STS="+endless.URL)
			return w, awsManifest
		}, `the credential_process of AWS profile \"base\" (the source_profile of the role the profile assumes) printed more than 1 MiB on its stdout`},
		{"gcp metadata server", func(t *testing.T) (*wardEnv, string) {
			_, w := gcpWard(t)
			w.env = append(w.env, "GOOGLE_APPLICATION_CREDENTIALS=", "GCE_METADATA_HOST="+endless.Host())
			return w, "version: 1\nstores:\n  gcp:\n    timeout: 10s\nenv:\n  APP: gcpsm://" + gcptest.Project + "/app\n"
		}, tooLarge(endless.Host())},
		{"gcp executable-sourced credentials", func(t *testing.T) (*wardEnv, string) {
			_, w := gcpWard(t)
			// An external_account file whose subject token a program
			// gives (pluggable auth), which prints without end: outside
			// the test's directory, as it prints a canary.
			dir := t.TempDir()
			script := filepath.Join(dir, "subject-token.sh")
			if err := os.WriteFile(script, []byte("#!/bin/sh\nwhile :; do echo "+w.canary("subject-loop")+"; done\n"), 0o700); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, "external-account.json")
			doc := `{"type": "external_account", "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x",
				"subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": "` + endless.URL + `/v1/token",
				"credential_source": {"executable": {"command": "` + script + `", "timeout_millis": 5000}}}`
			if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			w.env = append(w.env, "GOOGLE_APPLICATION_CREDENTIALS="+file, "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1")
			return w, "version: 1\nstores:\n  gcp:\n    timeout: 10s\nenv:\n  APP: gcpsm://" + gcptest.Project + "/app\n"
		}, "subject-token.sh (credential_source.executable) printed more than 1 MiB"},
		{"azure managed identity", func(t *testing.T) (*wardEnv, string) {
			srv, w := azureWard(t, (*azuretest.Server).ManagedIdentityEnv)
			w.env = append(w.env, "IDENTITY_ENDPOINT="+endless.URL+"/msi/token", "IDENTITY_HEADER="+w.canary("identity-header"))
			return w, azureManifest(srv)
		}, tooLarge(endless.Host())},
		{"azure client secret", func(t *testing.T) (*wardEnv, string) {
			srv, w := azureWard(t, (*azuretest.Server).Env)
			w.env = append(w.env, "SSL_CERT_FILE="+azureTrusting(t, w, srv, endlessTLS), "AZURE_AUTHORITY_HOST="+endlessTLS.URL+"/", "AZURE_CLIENT_SECRET="+w.canary("client-secret"))
			return w, azureManifest(srv)
		}, tooLarge(endlessTLS.Host())},
		{"azure workload identity", func(t *testing.T) (*wardEnv, string) {
			token := filepath.Join(t.TempDir(), "azure-identity-token")
			srv, w := azureWard(t, func(s *azuretest.Server) []string { return s.WorkloadIdentityEnv(token) })
			jwt := srv.FederatedToken(azuretest.FederatedAudience, time.Hour)
			w.canaries = append(w.canaries, jwt)
			if err := os.WriteFile(token, []byte(jwt), 0o600); err != nil {
				t.Fatal(err)
			}
			w.env = append(w.env, "SSL_CERT_FILE="+azureTrusting(t, w, srv, endlessTLS), "AZURE_AUTHORITY_HOST="+endlessTLS.URL+"/")
			return w, azureManifest(srv)
		}, tooLarge(endlessTLS.Host())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, manifest := tt.setup(t)
			start := time.Now()
			runBounded(t, w, manifest, tt.want)
			// The fix fails in well under a second; without it, the
			// helper read until the manifest's timeout.
			if took := time.Since(start); took > 8*time.Second {
				t.Errorf("ward failed after %s, want well within the 10s timeout", took.Round(time.Millisecond))
			}
		})
	}
}

// TestVaultPlainHTTPAtTLSAddress: VAULT_ADDR=https://... where the
// server speaks plain HTTP (here the test Vault, whose listener has TLS
// off) fails at once with 125, saying that the server speaks plain HTTP
// and what to check; it said Go's "server gave HTTP response to HTTPS
// client" after two retries of the same, and nothing more. Never a
// fallback to plain HTTP: the child does not start.
func TestVaultPlainHTTPAtTLSAddress(t *testing.T) {
	srv := vaulttest.Require(t)
	w := newWardEnv(t)
	addr := "https://" + strings.TrimPrefix(srv.Addr, "http://")
	w.env = append(w.env, "VAULT_ADDR="+addr, "VAULT_TOKEN="+srv.Token)
	m := w.manifest("version: 1\nenv:\n  TOKEN: vault://secret/app#token\n")
	code, stdout, stderr := w.run("run", "-m", m, "--", "helper", "exit", "0")
	if code != 125 {
		t.Fatalf("got exit %d, want 125; stderr:\n%s", code, lastLines(stderr, 3))
	}
	if stdout != "" {
		t.Errorf("the child wrote %q, want no child", stdout)
	}
	if want := "the server there speaks plain HTTP, not TLS: check the port"; !strings.Contains(stderr, want) || !strings.Contains(stderr, addr) || strings.Contains(stderr, "retries") {
		t.Errorf("the error does not say %q of %s, without retries:\n%s", want, addr, lastLines(stderr, 3))
	}
}

// TestCloudProxyRefusalNamed: a machine whose HTTPS_PROXY (a corporate
// proxy, with a user and password in its URL) refuses the CONNECT to a
// cloud store's endpoint, by its rules or for its credentials. The error
// names the proxy (its password hidden), the variable and the endpoint,
// and says what to check; it ended with Go's status text alone,
// "request send failed, Post \"https://secretsmanager...\": Forbidden",
// which reads as the store's refusal.
func TestCloudProxyRefusalNamed(t *testing.T) {
	password := canary("proxypass")
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	}))
	t.Cleanup(refusing.Close)
	proxy := "http://alice:" + password + "@" + refusing.Listener.Addr().String()
	tests := []struct {
		name     string
		setup    func(t *testing.T) *wardEnv
		manifest string
		target   string
	}{
		{"aws", func(t *testing.T) *wardEnv {
			_, w := awsWard(t)
			return w
		}, "version: 1\nenv:\n  APP: awssm://app\n", "secretsmanager.us-east-1.amazonaws.com:443"},
		{"gcp", func(t *testing.T) *wardEnv {
			_, w := gcpWard(t)
			return w
		}, "version: 1\nenv:\n  APP: gcpsm://" + gcptest.Project + "/app\n", "secretmanager.googleapis.com:443"},
		{"azure", func(t *testing.T) *wardEnv {
			_, w := azureWard(t, (*azuretest.Server).Env)
			return w
		}, "version: 1\n" + azureStores + "env:\n  APP: azkv://ward-test.vault.azure.net/app\n", "ward-test.vault.azure.net:443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.setup(t)
			w.canaries = append(w.canaries, password)
			// The store's own endpoint, which the proxy is asked for.
			w.env = append(withoutEnv(w.env, "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_SSM", "HTTP_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy"), "HTTPS_PROXY="+proxy)
			code, stdout, stderr := w.run("run", "-m", w.manifest(tt.manifest), "--", "helper", "exit", "0")
			if code != 125 {
				t.Fatalf("got exit %d, want 125; stderr:\n%s", code, lastLines(redactAll(stderr, password), 3))
			}
			if stdout != "" {
				t.Errorf("the child wrote %q, want no child", stdout)
			}
			want := "the proxy http://alice:xxxxx@" + refusing.Listener.Addr().String() + " (HTTPS_PROXY) refused the connection to " + tt.target + ": it answered 403 Forbidden"
			if !strings.Contains(stderr, want) {
				t.Errorf("the error does not say %q:\n%s", want, lastLines(redactAll(stderr, password), 3))
			}
		})
	}
}

// TestLeaseEndReportedWhenVaultStopsAnswering: a proxy between ward and
// Vault stops answering (takes each request, answers none: a stalled
// proxy, a partitioned network) right after Vault renewed a dynamic
// secret's lease for 8 s. With on_expired: stop and Vault's default
// request timeout (a minute), the lease's end is reported, and the child
// stopped, when the lease ends; ward waited for the renewal's request
// timeout, then for the re-read's, and reported the 8 s lease two
// minutes after its last renewal (2m5.7s here), the child running on
// with ended credentials meanwhile. With a poll of seconds, whose lease
// lookup took no answer either, it was reported 55 s late: the lookup
// held the lease's keeper for its request timeout.
func TestLeaseEndReportedWhenVaultStopsAnswering(t *testing.T) {
	for _, poll := range []string{"", "  poll: 2s\n"} {
		name := "default poll"
		if poll != "" {
			name = "poll of 2s"
		}
		t.Run(name, func(t *testing.T) { leaseEndReportedWhenVaultStopsAnswering(t, poll) })
	}
}

func leaseEndReportedWhenVaultStopsAnswering(t *testing.T, poll string) {
	pg := vaulttest.RequirePostgres(t)
	srv := vaulttest.Require(t)
	mount, role := srv.Database(t, pg, "8s", "10m")
	p := newFaultProxy(t, strings.TrimPrefix(srv.Addr, "http://"), proxyPass)
	w := newWardEnv(t)
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  DB_USER: vault://%s/creds/%s#username\nrotation:\n  on_expired: stop\n  stop_timeout: 2s\n%s", mount, role, poll))
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c", "trap 'exit 0' TERM; echo started; while :; do sleep 0.1; done")
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+p.addr(), "VAULT_TOKEN="+srv.Token)
	stdout, stderr := startedLines(t, cmd)
	stdout.waitFor("started")
	// Renewed for 8 s from now: the lease ends 8 s after this line.
	stderr.waitForContaining("vault lease renewed")
	renewed := time.Now()
	p.setMode(proxyBlackhole)
	// Lines may not come for the request timeout: wait with a deadline
	// of its own, past the two timeouts the fault took.
	deadline := time.After(3 * time.Minute)
	for reported := false; !reported; {
		select {
		case line, ok := <-stderr.ch:
			if !ok {
				t.Fatal("ward's output ended before the lease's end was reported")
			}
			reported = strings.Contains(line, "a dynamic secret's lease has expired")
		case <-deadline:
			t.Fatal("the lease's end was not reported within 3 minutes")
		}
	}
	if late := time.Since(renewed) - 8*time.Second; late > 3*time.Second {
		t.Errorf("the expired lease was reported %s after it ended, want within 3s", late.Round(time.Millisecond))
	}
	if code := exitWithin(t, cmd, 90*time.Second); code != 125 {
		t.Errorf("got exit code %d, want 125 (ward stopped the child: its credentials expired)", code)
	}
}

// TestExitWhileVaultStopsAnswering: ward stops (SIGTERM) while Vault,
// behind a proxy that takes requests and answers none, holds a dynamic
// secret's lease ward created. The helper cannot give the lease back;
// ward waits for it at most 30 s, and its warning says that the lease was
// not given back and stays valid until its TTL ends: it said "close the
// vault store: context deadline exceeded".
func TestExitWhileVaultStopsAnswering(t *testing.T) {
	pg := vaulttest.RequirePostgres(t)
	srv := vaulttest.Require(t)
	mount, role := srv.Database(t, pg, "10m", "1h")
	p := newFaultProxy(t, strings.TrimPrefix(srv.Addr, "http://"), proxyPass)
	w := newWardEnv(t)
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  DB_USER: vault://%s/creds/%s#username\n", mount, role))
	cmd := w.command("run", "-m", m, "--", "sh", "-c", "trap 'exit 0' TERM; echo started; while :; do sleep 0.1; done")
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+p.addr(), "VAULT_TOKEN="+srv.Token)
	stdout, stderr := started(t, cmd)
	stdout.waitFor("started")
	p.setMode(proxyBlackhole)
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitWithin(t, cmd, 90*time.Second); code != 0 {
		t.Errorf("got exit %d, want the child's 0", code)
	}
	if want := "a lease not given back stays valid until its TTL ends"; !strings.Contains(stderr.String(), want) {
		t.Errorf("ward's warning does not say %q:\n%s", want, lastLines(stderr.String(), 3))
	}
}

// TestHungStoreHoldsBackNoFileChange: a poll of Vault that takes no
// answer (a proxy that takes requests and answers none) holds back no
// other store's change: a file:// secret rewritten meanwhile reaches
// the child at once, with Vault's value kept. The rotation waited for
// the poll's request timeout (a minute by default) before it read the
// file, though README says one secret that cannot be read holds back no
// other.
func TestHungStoreHoldsBackNoFileChange(t *testing.T) {
	srv := vaulttest.Require(t)
	mount := srv.MountKV(t, 2)
	va, f1, f2 := canary("hunga"), canary("hungf1"), canary("hungf2")
	srv.KVPut(t, mount, 2, "app", map[string]any{"a": va})
	p := newFaultProxy(t, strings.TrimPrefix(srv.Addr, "http://"), proxyPass)
	w := newWardEnv(t)
	file := filepath.Join(w.dir, "b.txt")
	if err := os.WriteFile(file, []byte(f1), 0o600); err != nil {
		t.Fatal(err)
	}
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  A: vault://%s/app#a\n  B: file://%s\nrotation:\n  poll: 1s\n  debounce: 100ms\n", mount, file))
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c", "helper env; exec sleep 1000")
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+p.addr(), "VAULT_TOKEN="+srv.Token)
	stdout, stderr := startedLines(t, cmd)
	go func() {
		for range stderr.ch {
		}
	}()
	if got := envHash(stdout, "B"); got != helper.Hash(f1) {
		t.Fatalf("the first child's B is not the file's")
	}
	// A poll's request goes out and gets no answer.
	p.setMode(proxyBlackhole)
	before := p.sent.Load()
	waitUntil(t, "a poll's request to Vault after the proxy stopped answering", func() bool { return p.sent.Load() > before })
	os.WriteFile(file+".new", []byte(f2), 0o600)
	if err := os.Rename(file+".new", file); err != nil {
		t.Fatal(err)
	}
	// Well within the poll's request timeout (60 s).
	got := make(chan [2]string, 1)
	go func() {
		// envHash reads the next listing: the restarted child's.
		a := ""
		b := ""
		for {
			line, ok := <-stdout.ch
			if !ok {
				return
			}
			if line == "end" {
				got <- [2]string{a, b}
				return
			}
			if h, ok := strings.CutPrefix(line, "A "); ok {
				a = h
			}
			if h, ok := strings.CutPrefix(line, "B "); ok {
				b = h
			}
		}
	}()
	select {
	case hashes := <-got:
		if hashes[1] != helper.Hash(f2) {
			t.Errorf("the restarted child's B is not the file's new value")
		}
		if hashes[0] != helper.Hash(va) {
			t.Errorf("the restarted child's A is not Vault's value, kept")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the file's change did not reach the child within 20s while a poll of Vault waited for its answer")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitWithin(t, cmd, 90*time.Second)
}
