package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
)

// TestDynamicPostgresRotation: dynamic PostgreSQL credentials with a 10 s
// default TTL and a 30 s max TTL. Over 90 s the child's login loop (psql
// every 200 ms, with the password checked) never fails: ward renews the
// lease, reads new credentials before the max TTL, restarts the child with
// them, and revokes the old leases (their roles are dropped); after ward
// exits none is left.
func TestDynamicPostgresRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("90 s soak; run without -short")
	}
	dynamicSoak(t, "10s", "30s", 90*time.Second, 3)
}

// TestDynamicShortLeases: leases that live at most 12 s (and 6 s) leave
// no gap: the new child runs before the old lease ends, the debounce
// never delays a restart past it.
func TestDynamicShortLeases(t *testing.T) {
	if testing.Short() {
		t.Skip("30 s soaks; run without -short")
	}
	for _, tt := range []struct{ ttl, maxTTL string }{{"4s", "12s"}, {"2s", "6s"}} {
		t.Run(tt.maxTTL, func(t *testing.T) { dynamicSoak(t, tt.ttl, tt.maxTTL, 30*time.Second, 3) })
	}
}

// dynamicSoak runs a child that logs in every 200 ms with dynamic
// credentials for window, and checks that no login failed, that the child
// was started at least minStarts times, and that no role outlives ward.
func dynamicSoak(t *testing.T, ttl, maxTTL string, window time.Duration, minStarts int) {
	dynamicSoakWith(t, ttl, maxTTL, window, minStarts, nil)
}

// soakLogin sets up how ward logs in to Vault for a soak reading
// mount/creds/role: the manifest's stores section and the environment.
type soakLogin func(t *testing.T, w *wardEnv, srv *vaulttest.Server, mount, role string) (stores string, env []string)

// dynamicSoakWith is dynamicSoak with ward logged in by login (nil: the
// test server's root token in VAULT_TOKEN).
func dynamicSoakWith(t *testing.T, ttl, maxTTL string, window time.Duration, minStarts int, login soakLogin) {
	srv := vaulttest.Require(t)
	pg := vaulttest.RequirePostgres(t)
	mount, role := srv.Database(t, pg, ttl, maxTTL)
	// Vault names a role's users v-TOKEN-ROLE..., the role cut to 8 bytes.
	rolePart := role[:8]
	w := newWardEnv(t)
	stores, env := "", []string{"VAULT_TOKEN=" + srv.Token}
	if login != nil {
		stores, env = login(t, w, srv, mount, role)
	}
	m := w.manifest(fmt.Sprintf("version: 1\n%senv:\n  DB_USER: vault://%s/creds/%s#username\n  DB_PASS: vault://%s/creds/%s#password\n  PSQL: {value: %q}\n  PGPORT: {value: %q}\nrotation:\n  debounce: 2s\n  stop_timeout: 5s\n", stores, mount, role, mount, role, pg.Psql(), pg.Port))
	loop := `echo start; while :; do if PGPASSWORD="$DB_PASS" "$PSQL" -w -h 127.0.0.1 -p "$PGPORT" -U "$DB_USER" -d postgres -tAc 'select current_user' >/dev/null 2>&1; then echo login-ok; else echo LOGIN-FAILED; fi; sleep 0.2; done`
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c", loop)
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+srv.Addr)
	cmd.Env = append(cmd.Env, env...)
	out, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	l := readLines(t, out)

	// The observation window is the requirement itself.
	deadline := time.After(window)
	starts, ok, failed, maxRoles := 0, 0, 0, 0
	var failedAt []string
observe:
	for {
		select {
		case line := <-l.ch:
			switch line {
			case "start":
				starts++
				maxRoles = max(maxRoles, pg.Roles(t, rolePart))
			case "login-ok":
				ok++
			case "LOGIN-FAILED":
				failed++
				failedAt = append(failedAt, time.Now().UTC().Format("15:04:05.000"))
			}
		case <-deadline:
			break observe
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())

	if !pg.Passwords {
		t.Log("the cluster does not check these roles' passwords: a failed login here means the role was gone")
	}
	if failed != 0 {
		t.Errorf("got %d failed logins in %s (and %d good ones), want 0; failed at %v; ward's log of leases and restarts:", failed, window, ok, failedAt)
		// ward's log holds no value; these lines say when leases were
		// read, renewed, revoked and the child restarted.
		for _, line := range strings.Split(stderr.String(), "\n") {
			if strings.Contains(line, "lease") || strings.Contains(line, "restart") || strings.Contains(line, "child") || strings.Contains(line, "secret fetched") || strings.Contains(line, "vault token") || strings.Contains(line, "vault login") {
				t.Log(line)
			}
		}
	}
	if ok < int(window/time.Second) {
		t.Errorf("got only %d good logins in %s", ok, window)
	}
	if starts < minStarts {
		t.Errorf("got %d starts of the child, want at least %d (restarted before each max TTL)", starts, minStarts)
	}
	if maxRoles > 2 {
		t.Errorf("%d database roles of this Vault role existed at a start, want at most 2: old leases are not revoked", maxRoles)
	}
	if left := pg.Roles(t, rolePart); left != 0 {
		t.Errorf("%d database roles left after ward exited, want 0 (leases revoked on exit)", left)
	}
	if !strings.Contains(stderr.String(), "child restarted with the new secrets") {
		t.Errorf("no restart was logged")
	}
	t.Logf("%s (ttl %s, max %s): %d starts, %d good logins, %d failed", window, ttl, maxTTL, starts, ok, failed)
}

// TestUndoneChangeKeepsTheLease: a KV change undone before the debounce
// ends leaves the child as it is, and its dynamic credentials with it.
// Dropping the pending proposal used to revoke every lease it held, the
// running child's included, and stop renewing them: the child's database
// role vanished under it with nothing to replace it.
func TestUndoneChangeKeepsTheLease(t *testing.T) {
	srv := vaulttest.Require(t)
	pg := vaulttest.RequirePostgres(t)
	mount, role := srv.Database(t, pg, "60s", "10m")
	rolePart := role[:8]
	path := fmt.Sprintf("undone/%d", time.Now().UnixNano())
	orig := canary("undone1")
	kvPut(t, "secret", path, map[string]any{"a": orig})

	w := newWardEnv(t)
	w.canaries = append(w.canaries, orig)
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  A: vault://secret/%s#a\n  DB_USER: vault://%s/creds/%s#username\n  DB_PASS: vault://%s/creds/%s#password\nrotation:\n  poll: 1s\n  jitter: 0%%\n  debounce: 30s\n", path, mount, role, mount, role))
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c", "echo started; while :; do sleep 0.1; done")
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+srv.Addr, "VAULT_TOKEN="+srv.Token)
	stdout, stderr := startedLines(t, cmd)
	stdout.waitFor("started")
	if n := pg.Roles(t, rolePart); n != 1 {
		t.Fatalf("%d database roles of the child's Vault role, want 1", n)
	}
	changed := canary("undone2")
	w.canaries = append(w.canaries, changed)
	kvPut(t, "secret", path, map[string]any{"a": changed})
	stderr.waitForContaining(`"version":"v2"`)
	kvPut(t, "secret", path, map[string]any{"a": orig})
	// The revert read (the pending change dropped), then the next poll,
	// by which any revocation the drop made has been logged.
	revoked := false
	stderr.skipUntil("the revert read", func(line string) bool {
		revoked = revoked || strings.Contains(line, "vault lease revoked")
		return strings.Contains(line, "would not change")
	})
	stderr.skipUntil("the next poll", func(line string) bool {
		revoked = revoked || strings.Contains(line, "vault lease revoked")
		return strings.Contains(line, "nothing read")
	})
	if revoked {
		t.Errorf("a lease was revoked when the undone change was dropped")
	}
	if n := pg.Roles(t, rolePart); n != 1 {
		t.Errorf("%d database roles of the child's Vault role after the undone change, want its 1", n)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitWithin(t, cmd, 15*time.Second)
	if n := pg.Roles(t, rolePart); n != 0 {
		t.Errorf("%d database roles left after ward exited, want 0", n)
	}
}

// TestExpiredLeaseStopsOnce: with on_expired: stop, a lease that ends
// while its store refuses ward (here its token revoked, and the lease with
// it) stops the child once, however many variables it feeds, and ward
// exits 125 whatever the child's status, so that a restart policy starts
// it again. (It sent the stop once per variable, and exited 0 when the
// child took SIGTERM gracefully.)
func TestExpiredLeaseStopsOnce(t *testing.T) {
	srv := vaulttest.Require(t)
	pg := vaulttest.RequirePostgres(t)
	mount, role := srv.Database(t, pg, "3s", "1m")
	child, err := srv.Root.Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: []string{"root"}, TTL: "10m"})
	if err != nil {
		t.Fatal(err)
	}
	tok := child.Auth.ClientToken

	w := newWardEnv(t)
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  DB_USER: vault://%s/creds/%s#username\n  DB_PASS: vault://%s/creds/%s#password\nrotation:\n  on_expired: stop\n  stop_timeout: 2s\n", mount, role, mount, role))
	cmd := w.command("run", "-m", m, "--", "sh", "-c", "trap 'exit 0' TERM; echo started; while :; do sleep 0.1; done")
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+srv.Addr, "VAULT_TOKEN="+tok)
	stdout, stderr := started(t, cmd)
	stdout.waitFor("started")
	if err := srv.Root.Auth().Token().RevokeTree(tok); err != nil {
		t.Fatal(err)
	}
	if code := exitWithin(t, cmd, 30*time.Second); code != 125 {
		t.Errorf("got exit code %d, want 125 (ward stopped the child: its credentials expired)", code)
	}
	if n := strings.Count(stderr.String(), `"msg":"stopping the child"`); n != 1 {
		t.Errorf("ward logged stopping the child %d times, want once", n)
	}
}

// TestSignalLeavesOldLeaseForStopTimeout: with on_change: signal, new
// dynamic credentials are written to the child's files and the child is
// signalled; it then has stop_timeout to let go of the old ones (finish
// what it was doing with them, as a restart's old child has), and only
// then is their lease revoked. It was revoked the moment the signal was
// sent: the child's work in flight failed.
func TestSignalLeavesOldLeaseForStopTimeout(t *testing.T) {
	srv := vaulttest.Require(t)
	pg := vaulttest.RequirePostgres(t)
	// Renewed once, and capped by the max TTL then: read again about 11 s
	// in, with about 2 s left to the old lease, beyond which nothing
	// keeps it.
	mount, role := srv.Database(t, pg, "10s", "14s")
	w := newWardEnv(t)
	m := w.manifest(fmt.Sprintf(`version: 1
files:
  - {path: user, ref: "vault://%s/creds/%s#username", env: USER_FILE}
  - {path: pass, ref: "vault://%s/creds/%s#password", env: PASS_FILE}
env:
  PSQL: {value: %q}
  PGPORT: {value: %q}
rotation:
  on_change: signal
  signal: SIGHUP
  debounce: 100ms
  stop_timeout: 3s
`, mount, role, mount, role, pg.Psql(), pg.Port))
	// On SIGHUP the child finishes its work in flight with the
	// credentials it had (two logins), then takes the new ones: at once,
	// its sleeps waited for (a trap waits for a sleep in the foreground
	// to end, and the old lease has about 2 s left).
	script := `login() { PGPASSWORD="$2" "$PSQL" -w -h 127.0.0.1 -p "$PGPORT" -U "$1" -d postgres -tAc 'select 1' >/dev/null 2>&1; }
take() { u=$(cat "$USER_FILE"); p=$(cat "$PASS_FILE"); }
trap 'echo hup; for i in 1 2; do if login "$u" "$p"; then echo old-ok; else echo OLD-FAILED; fi; sleep 0.2; done; take; echo switched' HUP
take
echo started
while :; do sleep 0.5 & wait $!; echo tick; done`
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c", script)
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+srv.Addr, "VAULT_TOKEN="+srv.Token)
	stdout, stderr := startedLines(t, cmd)
	stdout.waitFor("started")
	stdout.skipUntil("the child's first SIGHUP", func(line string) bool { return line == "hup" })
	for {
		line := stdout.next("the child's logins with its old credentials")
		if line == "switched" {
			break
		}
		if line != "old-ok" {
			t.Fatalf("the child's login with its old credentials, right after the signal, failed (%q): their lease was revoked before stop_timeout", line)
		}
	}
	stderr.skipUntil("the old lease revoked", func(line string) bool { return strings.Contains(line, "lease revoked") })
	cmd.Process.Signal(syscall.SIGTERM)
	exitWithin(t, cmd, 15*time.Second)
	if n := pg.Roles(t, role[:8]); n != 0 {
		t.Errorf("%d database roles left after ward exited, want 0", n)
	}
}

// TestLeaseCappedOneSecondShort: a renewal that Vault caps at the role's
// max TTL and answers with one second less than ward asked for (2 s
// asked, 1 s left) is a lease at its end: ward reads the secret again at
// once. It took a renewal for capped only when two seconds or more were
// missing, so a 2 s lease's last renewal (1 s left) waited for the
// renewer's own end, 0.8 s later, and the restart came after the lease
// had ended: the old child's login failed (TestDynamicShortLeases/6s,
// in a CI run).
func TestLeaseCappedOneSecondShort(t *testing.T) {
	srv := vaulttest.Require(t)
	pg := vaulttest.RequirePostgres(t)
	mount, role := srv.Database(t, pg, "2s", "6s")
	w := newWardEnv(t)
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  DB_USER: vault://%s/creds/%s#username\n", mount, role))
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c", "echo started; exec sleep 1000")
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+srv.Addr, "VAULT_TOKEN="+srv.Token)
	stdout, stderr := startedLines(t, cmd)
	stdout.waitFor("started")
	// The renewals come at about two thirds of what is left, and Vault
	// answers in whole seconds: within a few leases of 6 s one is
	// answered with 1 s.
	stderr.skipUntil("a renewal answered with 1 s", func(line string) bool {
		return strings.Contains(line, `"vault lease renewed"`) && strings.Contains(line, `"ttl":"1s"`)
	})
	line := stderr.skipUntil("what ward does of it", func(line string) bool {
		return strings.Contains(line, "reaches its max TTL") || strings.Contains(line, "can no longer be renewed") || strings.Contains(line, `"vault lease renewed"`)
	})
	if !strings.Contains(line, "reaches its max TTL") {
		t.Errorf("after a renewal capped at 1 s, ward did not read the secret again at once; next: %s", line)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitWithin(t, cmd, 15*time.Second)
}
