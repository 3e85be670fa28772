package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"github.com/wardsecrets/ward/testdata/helper"
)

// versionsUnchanged is the log line of a poll that found every KV v2
// version unchanged (a metadata read each) and read no value.
const versionsUnchanged = "every version is the one the child has"

// TestVaultRotationKV: a KV v2 value changed while the child runs restarts
// it once with the new value; a new version with identical data and a
// change to a path no variable uses restart nothing. Polls read the
// secret's metadata, and its data only when the version moved.
func TestVaultRotationKV(t *testing.T) {
	_, vaultAddr, token := testVault(t)
	proxy := newCountingProxy(t, vaultAddr)
	addr := proxy.addr
	mount := vaulttest.Require(t).MountKV(t, 2)
	v1, v2 := canary("kv1"), canary("kv2")
	kvPut(t, mount, "app", map[string]any{"token": v1})
	kvPut(t, mount, "unused", map[string]any{"x": "1"})
	w := newWardEnv(t)
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  TOKEN: vault://%s/app#token\nrotation:\n  poll: 1s\n  jitter: 0%%\n  debounce: 300ms\n  stop_timeout: 5s\n", mount))
	cmd, stdout, stderr := wardVault(t, w, addr, token, m)
	if envListing(stdout)["TOKEN"] != helper.Hash(v1) {
		t.Fatalf("the child does not have the first value")
	}
	auditProc(t, cmd.Process.Pid, v1)
	kvPut(t, mount, "app", map[string]any{"token": v2})
	if envListing(stdout)["TOKEN"] != helper.Hash(v2) {
		t.Fatalf("the restarted child does not have the new value")
	}
	stderr.waitForContaining("child restarted with the new secrets")
	// Identical data in a new version, and a path nobody reads.
	kvPut(t, mount, "app", map[string]any{"token": v2})
	kvPut(t, mount, "unused", map[string]any{"x": "2"})
	// The new version is read (same data); the next polls read nothing.
	stderr.waitForContaining("would not change")
	stderr.waitForContaining(versionsUnchanged)
	// The start, the changed value, the identical one: three data reads,
	// however many polls ran.
	if n := proxy.count("GET", "/v1/"+mount+"/data/app"); n != 3 {
		t.Errorf("the secret's data was read %d times, want 3 (the start and two new versions)", n)
	}
	if n := proxy.count("GET", "/v1/"+mount+"/metadata/app"); n < 3 {
		t.Errorf("the polls read the secret's metadata %d times, want one per poll, at least 3", n)
	}
	if n := stopAndCount(t, cmd, stdout, stderr, v1, v2); n != 0 {
		t.Errorf("got %d more starts, want 0", n)
	}
}

// TestVaultRotationDebounce: 20 secrets changed within the debounce window
// cause exactly one restart, with all 20 new values.
func TestVaultRotationDebounce(t *testing.T) {
	_, addr, token := testVault(t)
	mount := vaulttest.Require(t).MountKV(t, 2)
	var b strings.Builder
	b.WriteString("version: 1\nenv:\n")
	for i := 0; i < 20; i++ {
		kvPut(t, mount, fmt.Sprintf("s%02d", i), map[string]any{"v": "old"})
		fmt.Fprintf(&b, "  S%02d: vault://%s/s%02d#v\n", i, mount, i)
	}
	b.WriteString("rotation:\n  poll: 1s\n  jitter: 0%\n  debounce: 3s\n  stop_timeout: 5s\n")
	w := newWardEnv(t)
	cmd, stdout, stderr := wardVault(t, w, addr, token, w.manifest(b.String()))
	envListing(stdout)
	fresh := canary("deb")
	for i := 0; i < 20; i++ {
		kvPut(t, mount, fmt.Sprintf("s%02d", i), map[string]any{"v": fresh})
	}
	got := envListing(stdout)
	for i := 0; i < 20; i++ {
		if got[fmt.Sprintf("S%02d", i)] != helper.Hash(fresh) {
			t.Errorf("S%02d does not have the new value after the restart", i)
		}
	}
	stderr.waitForContaining("child restarted with the new secrets")
	stderr.waitForContaining(versionsUnchanged)
	if n := stopAndCount(t, cmd, stdout, stderr, fresh); n != 0 {
		t.Errorf("got %d more restarts, want exactly 1 in all", n)
	}
}

// outageVault is a Vault dev server of the test's own, which the test may
// stop: its address, and what starts it (again) with a secret at
// secret/app.
func outageVault(t *testing.T) (string, func() *exec.Cmd) {
	t.Helper()
	bin := os.Getenv("VAULT_TEST_BIN")
	if bin == "" {
		vaulttest.RequireIntegration(t, "no Vault binary: run scripts/vault-server.sh build and . DIR/vault.env")
	}
	dir := t.TempDir()
	port := freePort(t)
	addr := "http://127.0.0.1:" + port
	start := func() *exec.Cmd {
		srv := exec.Command(bin, "server", "-dev", "-dev-root-token-id=outage-root", "-dev-listen-address=127.0.0.1:"+port, "-dev-no-store-token")
		srv.Env = []string{"HOME=" + dir, "PATH=/usr/bin:/bin"}
		logf, _ := os.Create(filepath.Join(dir, fmt.Sprintf("vault-%d.log", time.Now().UnixNano())))
		srv.Stdout, srv.Stderr = logf, logf
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		cfg := vaultapi.DefaultConfig()
		cfg.Address = addr
		c, _ := vaultapi.NewClient(cfg)
		c.SetToken("outage-root")
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, err := c.Sys().Health(); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the Vault dev server did not come up")
			}
			time.Sleep(50 * time.Millisecond)
		}
		value := "outage-value-stays-the-same"
		if _, err := c.KVv2("secret").Put(context.Background(), "app", map[string]any{"token": value}); err != nil {
			t.Fatal(err)
		}
		return srv
	}
	return addr, start
}

// TestVaultOutage: Vault stopped while the child runs leaves it running,
// logs warnings, restarts nothing; a fresh server with the same data at
// the same address is picked up again without a restart.
func TestVaultOutage(t *testing.T) {
	addr, start := outageVault(t)
	srv := start()
	defer func() { srv.Process.Kill(); srv.Wait() }()
	w := newWardEnv(t)
	m := w.manifest("version: 1\nenv:\n  TOKEN: vault://secret/app#token\nrotation:\n  poll: 1s\n  jitter: 0%\n  debounce: 200ms\n")
	cmd, stdout, stderr := wardVault(t, w, addr, "outage-root", m)
	envListing(stdout)
	stderr.waitForContaining(versionsUnchanged)

	srv.Process.Signal(syscall.SIGTERM)
	srv.Wait()
	stderr.waitForContaining("cannot refresh secrets; the child keeps running on what it has")
	stderr.waitForContaining("cannot refresh secrets; the child keeps running on what it has")

	srv = start()
	stderr.waitForContaining("secrets refresh recovered")
	stderr.waitForContaining(versionsUnchanged)
	if n := stopAndCount(t, cmd, stdout, stderr); n != 0 {
		t.Errorf("got %d restarts, want 0", n)
	}
}

// TestVaultOutageBacksOff: while Vault is down, ward retries with its
// backoff (1s, 2s, 4s...) instead of failing at every poll, and once it
// recovered, a second outage does not replay the first one's failures
// in a burst. (Every failed poll pushed the retry back and was queued
// again: one warning a poll, and a burst of them at the next outage.)
func TestVaultOutageBacksOff(t *testing.T) {
	addr, start := outageVault(t)
	srv := start()
	defer func() { srv.Process.Kill(); srv.Wait() }()
	w := newWardEnv(t)
	m := w.manifest("version: 1\nenv:\n  TOKEN: vault://secret/app#token\nstores:\n  vault:\n    timeout: 1s\n    max_retries: 0\nrotation:\n  poll: 1s\n  jitter: 0%\n")
	cmd, stdout, stderr := wardVault(t, w, addr, "outage-root", m)
	envListing(stdout)
	stderr.waitForContaining(versionsUnchanged)

	warnings := func(window time.Duration) int {
		n := 0
		end := time.After(window)
		for {
			select {
			case line := <-stderr.ch:
				if strings.Contains(line, "cannot refresh secrets") {
					n++
				}
			case <-end:
				return n
			}
		}
	}
	srv.Process.Signal(syscall.SIGTERM)
	srv.Wait()
	// Polls every second for 6s; retries at about 1s, 2s and 4s after
	// the first failure (20% jitter).
	if n := warnings(6 * time.Second); n > 4 {
		t.Errorf("got %d refresh failures in 6s of outage with a 1s poll, want at most 4 (the backoff's)", n)
	}
	srv = start()
	stderr.waitForContaining("secrets refresh recovered")
	srv.Process.Signal(syscall.SIGTERM)
	srv.Wait()
	// At most 2, and one more for a poll that failed as Vault shut down,
	// before the window began (the first outage's replayed were 4 and
	// more).
	if n := warnings(2500 * time.Millisecond); n > 3 {
		t.Errorf("got %d refresh failures in the first 2.5s of a second outage, want at most 3: the first outage's are replayed", n)
	}
	srv = start()
	stderr.waitForContaining("secrets refresh recovered")
	if n := stopAndCount(t, cmd, stdout, stderr); n != 0 {
		t.Errorf("got %d restarts, want 0", n)
	}
}

// TestBadSecretHoldsBackNoOther: a polled secret that cannot be read any
// more (deleted with its metadata, as a disabled or deleted secret in any
// store) fails each poll, and the others polled with it go on: a change
// to one of them restarts the child with it, and with the value it had
// for the one that failed. The whole poll used to fail, and no secret of
// any store was rotated for as long as the one stayed unreadable.
func TestBadSecretHoldsBackNoOther(t *testing.T) {
	_, addr, token := testVault(t)
	vt := vaulttest.Require(t)
	mount := vt.MountKV(t, 2)
	k1, k2, gone := canary("badsecret-kv1"), canary("badsecret-kv2"), canary("badsecret-gone")
	kvPut(t, mount, "app", map[string]any{"token": k1})
	kvPut(t, mount, "other", map[string]any{"token": gone})
	w := newWardEnv(t)
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  TOKEN: vault://%s/app#token\n  OTHER: vault://%s/other#token\nrotation:\n  poll: 1s\n  jitter: 0%%\n  debounce: 100ms\n", mount, mount))
	cmd, stdout, stderr := wardVault(t, w, addr, token, m)
	if env := envListing(stdout); env["TOKEN"] != helper.Hash(k1) || env["OTHER"] != helper.Hash(gone) {
		t.Fatalf("the child does not have the first values")
	}
	if _, err := vt.Root.Logical().Delete(mount + "/metadata/other"); err != nil {
		t.Fatal(err)
	}
	stderr.waitForContaining("cannot refresh secrets")
	kvPut(t, mount, "app", map[string]any{"token": k2})
	env := envListing(stdout)
	if env["TOKEN"] != helper.Hash(k2) {
		t.Errorf("the restarted child does not have the new value of the secret that can be read")
	}
	if env["OTHER"] != helper.Hash(gone) {
		t.Errorf("the restarted child does not have the value it had of the secret that cannot be read")
	}
	stopAndCount(t, cmd, stdout, stderr, k1, k2, gone)
}

// TestBadFileHoldsBackNoPoll: a file:// secret that cannot be read (its
// mounted file emptied or removed) is retried with backoff, and the
// polled stores go on: a KV change meanwhile restarts the child with it.
// Polls used to wait for the file's retry, which failed again each time:
// no polled secret was rotated for as long as the file stayed bad.
func TestBadFileHoldsBackNoPoll(t *testing.T) {
	_, addr, token := testVault(t)
	mount := vaulttest.Require(t).MountKV(t, 2)
	k1, k2 := canary("badfile-kv1"), canary("badfile-kv2")
	kvPut(t, mount, "app", map[string]any{"token": k1})
	w := newWardEnv(t)
	src := w.mounted(canary("badfile-file"))
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  TOKEN: vault://%s/app#token\n  FILE: file://%s\nrotation:\n  poll: 1s\n  jitter: 0%%\n  debounce: 100ms\n", mount, src))
	cmd, stdout, stderr := wardVault(t, w, addr, token, m)
	if envListing(stdout)["TOKEN"] != helper.Hash(k1) {
		t.Fatalf("the child does not have the first value")
	}
	os.WriteFile(src, nil, 0o600)
	stderr.waitForContaining("cannot refresh secrets")
	kvPut(t, mount, "app", map[string]any{"token": k2})
	if envListing(stdout)["TOKEN"] != helper.Hash(k2) {
		t.Errorf("the restarted child does not have the new KV value")
	}
	stopAndCount(t, cmd, stdout, stderr, k1, k2)
}
