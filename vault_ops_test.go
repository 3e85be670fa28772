package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"github.com/wardsecrets/ward/testdata/helper"
)

// TestVaultRateLimitQuota: a rate-limit quota an operator set on Vault
// (10 requests a second on the mount) answers 429 to most of the reads of
// a start with 40 secrets; ward waits for the quota, as for any
// throttling, and the child starts with every value. The API client's two
// retries were all a 429 got: the start failed with exit 125.
func TestVaultRateLimitQuota(t *testing.T) {
	srv := vaulttest.Require(t)
	mount := vaulttest.Require(t).MountKV(t, 2)
	value := canary("quota")
	var m strings.Builder
	m.WriteString("version: 1\nenv:\n")
	for i := range 40 {
		kvPut(t, mount, fmt.Sprintf("s%02d", i), map[string]any{"v": value})
		fmt.Fprintf(&m, "  S%02d: vault://%s/s%02d#v\n", i, mount, i)
	}
	quota := "sys/quotas/rate-limit/" + vaulttest.Uniq("ward-test")
	srv.Write(t, quota, map[string]any{"path": mount + "/", "rate": 10, "interval": "1s"})
	t.Cleanup(func() { srv.Root.Logical().Delete(quota) })

	w := newWardEnv(t)
	w.canaries = append(w.canaries, value)
	w.env = append(w.env, "VAULT_ADDR="+srv.Addr, "VAULT_TOKEN="+srv.Token)
	code, stdout, stderr := w.run("run", "-m", w.manifest(m.String()), "--", "helper", "env")
	if code != 0 {
		t.Fatalf("got exit %d, want 0; stderr:\n%s", code, lastLines(stderr, 5))
	}
	for i := range 40 {
		name := fmt.Sprintf("S%02d", i)
		if !strings.Contains(stdout, name+" "+helper.Hash(value)) {
			t.Errorf("the child does not have %s", name)
		}
	}
}

// lastLines is the end of a long output, for a failure message.
func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(len(l)-n, 0):], "\n")
}

// TestVaultTokenHelper: a user whose Vault CLI keeps its token with a
// token helper (token_helper in ~/.vault, or the file $VAULT_CONFIG_PATH
// names: a keychain, a password manager) has no ~/.vault-token and no
// VAULT_TOKEN; ward asks the helper, as the CLI does. It said
// ~/.vault-token did not exist, and to run vault login, which stores the
// token in the helper again.
func TestVaultTokenHelper(t *testing.T) {
	srv := vaulttest.Require(t)
	mount := srv.MountKV(t, 2)
	value := canary("helper")
	kvPut(t, mount, "app", map[string]any{"token": value})
	policy := srv.Policy(t, fmt.Sprintf("path %q { capabilities = [\"read\"] }\n", mount+"/*"))
	token := srv.NewToken(t, &vaultapi.TokenCreateRequest{Policies: []string{policy}, TTL: "10m"})
	for _, where := range []string{"~/.vault", "VAULT_CONFIG_PATH"} {
		t.Run(where, func(t *testing.T) {
			w := newWardEnv(t)
			w.canaries = append(w.canaries, value)
			home := filepath.Join(w.dir, "home")
			os.MkdirAll(home, 0o700)
			tokenFile := filepath.Join(w.dir, "keychain")
			os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
			calls := filepath.Join(w.dir, "calls")
			helperPath := filepath.Join(w.dir, "token-helper")
			os.WriteFile(helperPath, []byte("#!/bin/sh\necho \"$1\" >> "+calls+"\n[ \"$1\" = get ] && cat "+tokenFile+"\n"), 0o700)
			config := filepath.Join(home, ".vault")
			if where == "VAULT_CONFIG_PATH" {
				config = filepath.Join(w.dir, "vault-cli.hcl")
				w.env = append(w.env, "VAULT_CONFIG_PATH="+config)
			}
			os.WriteFile(config, []byte(fmt.Sprintf("token_helper = %q\n", helperPath)), 0o600)
			w.env = append(w.env, "HOME="+home, "VAULT_TOKEN=", "VAULT_ADDR="+srv.Addr)
			m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  TOKEN: vault://%s/app#token\n", mount))
			code, stdout, stderr := w.run("run", "-m", m, "--", "helper", "env")
			if code != 0 {
				t.Fatalf("got exit %d, want 0; stderr:\n%s", code, lastLines(stderr, 3))
			}
			if !strings.Contains(stdout, "TOKEN "+helper.Hash(value)+"\n") {
				t.Errorf("the child does not have TOKEN")
			}
			if b, _ := os.ReadFile(calls); string(b) != "get\n" {
				t.Errorf("the token helper was called with %q, want \"get\\n\"", b)
			}
		})
	}
}

// TestLeaseExpiredDuringOutageStopsInTime: Vault goes down (stopped,
// sealed) right after it renewed a dynamic secret's lease for 8 s; with
// on_expired: stop, the child is stopped when that lease ends, not a
// lease's lifetime later. ward counted the lifetime from when the store
// said the lease could no longer be renewed, which the renewal's API
// client says shortly before its end: the child ran on with credentials
// that had ended for most of a lease's TTL (for an hour's lease, most of
// an hour).
func TestLeaseExpiredDuringOutageStopsInTime(t *testing.T) {
	pg := vaulttest.RequirePostgres(t)
	addr, start := outageVault(t)
	srv := start()
	defer func() { srv.Process.Kill(); srv.Wait() }()
	cfg := vaultapi.DefaultConfig()
	cfg.Address = addr
	root, err := vaultapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	root.SetToken("outage-root")
	own := &vaulttest.Server{Addr: addr, Token: "outage-root", Root: root}
	mount, role := own.Database(t, pg, "8s", "10m")

	w := newWardEnv(t)
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  DB_USER: vault://%s/creds/%s#username\nstores:\n  vault:\n    max_retries: 0\n    timeout: 1s\nrotation:\n  on_expired: stop\n  stop_timeout: 2s\n", mount, role))
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c", "trap 'exit 0' TERM; echo started; while :; do sleep 0.1; done")
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+addr, "VAULT_TOKEN=outage-root")
	stdout, stderr := startedLines(t, cmd)
	stdout.waitFor("started")
	// Renewed for 8 s from now: the lease ends 8 s after this line.
	stderr.waitForContaining("vault lease renewed")
	renewed := time.Now()
	srv.Process.Signal(syscall.SIGTERM)
	srv.Wait()
	stderr.waitForContaining("a dynamic secret's lease has expired")
	if late := time.Since(renewed) - 8*time.Second; late > 3*time.Second {
		t.Errorf("the expired lease was reported %s after it ended, want within 3s", late.Round(time.Millisecond))
	}
	if code := exitWithin(t, cmd, 20*time.Second); code != 125 {
		t.Errorf("got exit code %d, want 125 (ward stopped the child: its credentials expired)", code)
	}
}

// TestVaultDownFailsFast: a start with 60 secrets while Vault is down (no
// one listens at its address; sealed is the same) fails as soon as the
// first request has spent its retries, with one error line for all of
// them. Each read spent the API client's retries of its own, 16 at a
// time: 60 secrets took 23 s to fail, 200 more than a minute, where one
// takes 4 s.
func TestVaultDownFailsFast(t *testing.T) {
	w := newWardEnv(t)
	var m strings.Builder
	m.WriteString("version: 1\nenv:\n")
	for i := range 60 {
		fmt.Fprintf(&m, "  S%02d: vault://secret/app/s%02d#v\n", i, i)
	}
	w.env = append(w.env, "VAULT_ADDR=http://127.0.0.1:"+freePort(t), "VAULT_TOKEN=ward-test-token")
	start := time.Now()
	code, _, stderr := w.run("run", "-m", w.manifest(m.String()), "--", "helper", "exit", "0")
	took := time.Since(start)
	if code != 125 {
		t.Fatalf("got exit %d, want 125; stderr:\n%s", code, lastLines(stderr, 3))
	}
	// About 4 s here; 15 s leaves a loaded machine room, and still
	// tells the old 23 s.
	if took > 15*time.Second {
		t.Errorf("a start with 60 secrets and Vault down took %s to fail, want about what one read's retries take (4.5 s at most)", took.Round(time.Millisecond))
	}
	if n := strings.Count(stderr, `"level":"ERROR"`); n != 1 || !strings.Contains(stderr, "and 52 more") || !strings.Contains(stderr, "connection refused") {
		t.Errorf("got %d error lines, want one for the 60 variables, saying the connection was refused:\n%s", n, lastLines(stderr, 3))
	}
}

// TestPlainVaultThroughProxyWarns: a Vault at an http:// address that
// HTTP_PROXY covers (a corporate proxy, NO_PROXY not naming Vault's
// host) is reached through the proxy in the clear, token and values
// included, as by the Vault CLI; ward says so once, naming the proxy,
// and what to do. It went through in silence.
func TestPlainVaultThroughProxyWarns(t *testing.T) {
	srv := vaulttest.Require(t)
	mount := srv.MountKV(t, 2)
	value := canary("proxied")
	kvPut(t, mount, "app", map[string]any{"token": value})
	target, err := url.Parse(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var proxied atomic.Int32
	forward := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		forward.ServeHTTP(w, r)
	}))
	defer proxy.Close()

	w := newWardEnv(t)
	w.canaries = append(w.canaries, value)
	w.env = append(w.env, "VAULT_ADDR=http://vault.corp.invalid:8200", "VAULT_TOKEN="+srv.Token,
		"HTTP_PROXY="+proxy.URL, "http_proxy=", "NO_PROXY=", "no_proxy=")
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  TOKEN: vault://%s/app#token\n", mount))
	code, _, stderr := w.run("run", "-m", m, "--", "helper", "exit", "0")
	if code != 0 {
		t.Fatalf("got exit %d, want 0; stderr:\n%s", code, lastLines(stderr, 3))
	}
	if proxied.Load() == 0 {
		t.Fatalf("no request went through the proxy")
	}
	if n := strings.Count(stderr, "through a proxy in the clear"); n != 1 || !strings.Contains(stderr, proxy.URL) {
		t.Errorf("got %d warnings that Vault is reached in the clear through %s, want one:\n%s", n, proxy.URL, lastLines(stderr, 4))
	}
}
