package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// TestDynamicPostgresRotation: dynamic PostgreSQL credentials with a 10 s
// default TTL and a 30 s max TTL. Over 90 s the child's login loop (psql
// every 200 ms) never fails: ward renews the lease, reads new credentials
// before the max TTL, restarts the child with them, and revokes the old
// leases (their roles are dropped); after ward exits none is left.
func TestDynamicPostgresRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("90 s soak; run without -short")
	}
	c, addr, token := testVault(t)
	port, bindir := os.Getenv("PG_TEST_PORT"), os.Getenv("PG_TEST_BINDIR")
	if port == "" {
		requireIntegration(t, "no PostgreSQL test server: run scripts/postgres.sh start DIR and . DIR/postgres.env")
	}
	psql := filepath.Join(bindir, "psql")
	if _, err := os.Stat(psql); err != nil {
		psql = "psql"
	}
	n := time.Now().UnixNano() % 1_000_000
	mount, role := fmt.Sprintf("db%d", n), fmt.Sprintf("app%d", n)
	if err := c.Sys().Mount(mount, &vaultapi.MountInput{Type: "database"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Sys().Unmount(mount) })
	write := func(path string, data map[string]any) {
		t.Helper()
		if _, err := c.Logical().Write(path, data); err != nil {
			t.Fatalf("write %s: %v", path, err)
		}
	}
	write(mount+"/config/pg", map[string]any{
		"plugin_name":       "postgresql-database-plugin",
		"connection_url":    "postgresql://{{username}}:{{password}}@127.0.0.1:" + port + "/postgres?sslmode=disable",
		"username":          "postgres",
		"password":          "unused-trust-auth",
		"allowed_roles":     role,
		"verify_connection": true,
	})
	write(mount+"/roles/"+role, map[string]any{
		"db_name":             "pg",
		"default_ttl":         "10s",
		"max_ttl":             "30s",
		"creation_statements": `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
	})
	countRoles := func() string {
		out, err := exec.Command(psql, "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "postgres", "-tAc",
			fmt.Sprintf("select count(*) from pg_roles where rolname like '%%%s%%'", role)).CombinedOutput()
		if err != nil {
			t.Fatalf("psql: %v: %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}

	w := newWardEnv(t)
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  DB_USER: vault://%s/creds/%s#username\n  DB_PASS: vault://%s/creds/%s#password\n  PSQL: {value: %q}\n  PGPORT: {value: %q}\nrotation:\n  debounce: 100ms\n  stop_timeout: 5s\n", mount, role, mount, role, psql, port))
	loop := `echo start; while :; do if PGPASSWORD="$DB_PASS" "$PSQL" -h 127.0.0.1 -p "$PGPORT" -U "$DB_USER" -d postgres -tAc 'select current_user' >/dev/null 2>&1; then echo login-ok; else echo LOGIN-FAILED; fi; sleep 0.2; done`
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c", loop)
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+addr, "VAULT_TOKEN="+token)
	out, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	l := readLines(t, out)

	// The observation window is the requirement itself: 90 s of logins.
	window := time.After(90 * time.Second)
	starts, ok, failed := 0, 0, 0
	maxRoles := 0
observe:
	for {
		select {
		case line := <-l.ch:
			switch line {
			case "start":
				starts++
				// Once the new child runs, the old lease is revoked.
			case "login-ok":
				ok++
			case "LOGIN-FAILED":
				failed++
			}
		case <-window:
			break observe
		}
	}
	rolesDuring := countRoles()
	fmt.Sscan(rolesDuring, &maxRoles)
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())

	if failed != 0 {
		t.Errorf("got %d failed logins in 90 s (and %d good ones), want 0", failed, ok)
	}
	if ok < 100 {
		t.Errorf("got only %d good logins in 90 s", ok)
	}
	// Max TTL 30 s: at least two replacements in 90 s.
	if starts < 3 {
		t.Errorf("got %d starts of the child, want at least 3 (restarted before each max TTL)", starts)
	}
	if maxRoles > 2 {
		t.Errorf("%d database roles of this Vault role exist while running, want at most 2: old leases are not revoked", maxRoles)
	}
	if left := countRoles(); left != "0" {
		t.Errorf("%s database roles left after ward exited, want 0 (leases revoked on exit)", left)
	}
	if !strings.Contains(stderr.String(), "child restarted with the new secrets") {
		t.Errorf("no restart was logged")
	}
	t.Logf("90 s: %d starts, %d good logins, %d failed", starts, ok, failed)
}
