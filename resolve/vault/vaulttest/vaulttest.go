// Package vaulttest gives tests the real Vault and PostgreSQL servers
// that scripts/vault-server.sh and scripts/postgres.sh start, and the
// set-up every Vault test needs: fresh KV mounts, policies, tokens, auth
// methods, and a database engine whose roles log in to PostgreSQL with
// passwords that are checked. Written once, used by the store's tests and
// by the whole-binary tests at the root.
package vaulttest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

const (
	howToStartVault    = "no Vault test server: run scripts/vault-server.sh start DIR, then . DIR/vault.env (sets VAULT_TEST_ADDR and VAULT_TEST_TOKEN)"
	howToStartPostgres = "no PostgreSQL test server: run scripts/postgres.sh start DIR, then . DIR/postgres.env (sets PG_TEST_URL, PG_TEST_PORT, PG_TEST_BINDIR)"
)

// RequireIntegration skips t because why, or fails it when
// WARD_REQUIRE_INTEGRATION=1 (as CI sets it): a missing server is then a
// failure, never a silent pass.
func RequireIntegration(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("WARD_REQUIRE_INTEGRATION") == "1" {
		t.Fatalf("WARD_REQUIRE_INTEGRATION=1 but %s", why)
	}
	t.Skip(why + " (set WARD_REQUIRE_INTEGRATION=1 to make this a failure)")
}

// Server is the Vault test server.
type Server struct {
	Addr, Token string
	// Root is a client with the root token.
	Root *api.Client
}

var (
	serverOnce sync.Once
	server     *Server
	serverErr  error
)

// Require returns the Vault test server, or skips (or fails) t without
// one.
func Require(t testing.TB) *Server {
	t.Helper()
	addr, token := os.Getenv("VAULT_TEST_ADDR"), os.Getenv("VAULT_TEST_TOKEN")
	if addr == "" || token == "" {
		RequireIntegration(t, howToStartVault)
	}
	serverOnce.Do(func() {
		cfg := api.DefaultConfig()
		cfg.Address = addr
		c, err := api.NewClient(cfg)
		if err == nil {
			c.SetToken(token)
			_, err = c.Sys().Health()
		}
		server, serverErr = &Server{Addr: addr, Token: token, Root: c}, err
	})
	if serverErr != nil {
		t.Fatalf("vault test server at %s (VAULT_TEST_ADDR) does not answer: %v", addr, serverErr)
	}
	return server
}

// Uniq returns prefix and a random suffix: every test makes its own
// mounts, paths, roles and policies on the shared server.
func Uniq(prefix string) string {
	b := make([]byte, 5)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// Write writes data to path with the root token.
func (s *Server) Write(t testing.TB, path string, data map[string]any) *api.Secret {
	t.Helper()
	sec, err := s.Root.Logical().Write(path, data)
	if err != nil {
		t.Fatalf("root write %s: %v", path, err)
	}
	return sec
}

// MountKV enables a KV engine of the given version (1 or 2) at a fresh
// path, removed when the test ends, and waits until it takes writes.
func (s *Server) MountKV(t testing.TB, version int) string {
	t.Helper()
	mount := Uniq(fmt.Sprintf("kv%d", version))
	err := s.Root.Sys().Mount(mount, &api.MountInput{Type: "kv", Options: map[string]string{"version": fmt.Sprint(version)}})
	if err != nil {
		t.Fatalf("mount kv v%d: %v", version, err)
	}
	t.Cleanup(func() { s.Root.Sys().Unmount(mount) })
	if version == 2 {
		// A new v2 mount upgrades itself in the background.
		WaitFor(t, "kv v2 mount "+mount+" takes a write", 30*time.Second, func() bool {
			_, err := s.Root.Logical().Write(mount+"/data/ward-ready", map[string]any{"data": map[string]any{"ok": "1"}})
			return err == nil
		})
	}
	return mount
}

// KVPut writes data at mount/path of a KV engine of the given version.
func (s *Server) KVPut(t testing.TB, mount string, version int, path string, data map[string]any) {
	t.Helper()
	if version == 2 {
		s.Write(t, mount+"/data/"+path, map[string]any{"data": data})
		return
	}
	s.Write(t, mount+"/"+path, data)
}

// Policy writes a policy with a fresh name and returns the name.
func (s *Server) Policy(t testing.TB, hcl string) string {
	t.Helper()
	name := Uniq("ward-test")
	if err := s.Root.Sys().PutPolicy(name, hcl); err != nil {
		t.Fatalf("put policy: %v", err)
	}
	t.Cleanup(func() { s.Root.Sys().DeletePolicy(name) })
	return name
}

// NewToken creates a token.
func (s *Server) NewToken(t testing.TB, req *api.TokenCreateRequest) string {
	t.Helper()
	sec, err := s.Root.Auth().Token().Create(req)
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	return sec.Auth.ClientToken
}

// EnableAuth enables an auth method at a fresh path.
func (s *Server) EnableAuth(t testing.TB, typ string) string {
	t.Helper()
	mount := Uniq(typ)
	if err := s.Root.Sys().EnableAuthWithOptions(mount, &api.EnableAuthOptions{Type: typ}); err != nil {
		t.Fatalf("enable auth %s: %v", typ, err)
	}
	t.Cleanup(func() { s.Root.Sys().DisableAuth(mount) })
	return mount
}

// RevokeToken revokes tok with the root token.
func (s *Server) RevokeToken(t testing.TB, tok string) {
	t.Helper()
	if err := s.Root.Auth().Token().RevokeOrphan(tok); err != nil {
		t.Fatalf("revoke token: %v", err)
	}
}

// Postgres is the PostgreSQL test cluster.
type Postgres struct {
	URL, Port, BinDir string
	// Passwords says whether the cluster checks the passwords of the
	// roles Vault creates (see enforcePasswords).
	Passwords bool
}

var (
	pgOnce sync.Once
	pg     *Postgres
	pgErr  string
)

// RequirePostgres returns the PostgreSQL test cluster (and needs Vault
// too), or skips (or fails) t without one.
func RequirePostgres(t testing.TB) *Postgres {
	t.Helper()
	Require(t)
	return RequireCluster(t)
}

// RequireCluster returns the PostgreSQL test cluster, for a test that
// needs no Vault, or skips (or fails) t without one.
func RequireCluster(t testing.TB) *Postgres {
	t.Helper()
	p := &Postgres{URL: os.Getenv("PG_TEST_URL"), Port: os.Getenv("PG_TEST_PORT"), BinDir: os.Getenv("PG_TEST_BINDIR")}
	if p.URL == "" || p.Port == "" || p.BinDir == "" {
		RequireIntegration(t, howToStartPostgres)
	}
	pgOnce.Do(func() {
		pg = p
		pg.Passwords, pgErr = p.enforcePasswords()
	})
	if pgErr != "" {
		t.Logf("passwords of Vault's roles are not checked by this cluster: %s", pgErr)
	}
	return pg
}

// enforcePasswords makes the cluster check passwords for members of the
// role ward_pw, which every role the tests have Vault create joins:
// scripts/postgres.sh trusts loopback connections, and a login that
// succeeds with any password would prove nothing.
func (p *Postgres) enforcePasswords() (bool, string) {
	if _, err := p.Super(`DO $$ BEGIN CREATE ROLE ward_pw NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;`); err != nil {
		return false, "create role ward_pw: " + err.Error()
	}
	hba, err := p.Super("SHOW hba_file")
	if err != nil {
		return false, "show hba_file: " + err.Error()
	}
	b, err := os.ReadFile(hba)
	if err != nil {
		return false, err.Error()
	}
	const rules = "host all +ward_pw 127.0.0.1/32 scram-sha-256\nhost all +ward_pw ::1/128 scram-sha-256\n"
	if !strings.Contains(string(b), rules) {
		st, err := os.Stat(hba)
		if err != nil {
			return false, err.Error()
		}
		if err := os.WriteFile(hba, append([]byte(rules), b...), st.Mode().Perm()); err != nil {
			return false, err.Error()
		}
		if _, err := p.Super("SELECT pg_reload_conf()"); err != nil {
			return false, "reload: " + err.Error()
		}
	}
	// The reload reaches new connections shortly: wait until the rule is
	// in force.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := p.Super("SELECT count(*) FROM pg_hba_file_rules WHERE 'ward_pw' = ANY(user_name) OR '+ward_pw' = ANY(user_name)")
		if err == nil && out != "0" {
			return true, ""
		}
		if time.Now().After(deadline) {
			return false, "the pg_hba.conf rule for ward_pw is not in force"
		}
		time.Sleep(50 * time.Millisecond) // polling, with a deadline
	}
}

// Psql is the path of the cluster's psql.
func (p *Postgres) Psql() string { return filepath.Join(p.BinDir, "psql") }

// Super runs sql as the cluster's superuser.
func (p *Postgres) Super(sql string) (string, error) {
	cmd := exec.Command(p.Psql(), p.URL, "-w", "-tAc", sql)
	cmd.Env = Env("")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", &exec.ExitError{ProcessState: cmd.ProcessState, Stderr: out}
	}
	return strings.TrimSpace(string(out)), nil
}

// Login runs select current_user as user with password, as a child would.
func (p *Postgres) Login(user, password string) (string, error) {
	cmd := exec.Command(p.Psql(), "-h", "127.0.0.1", "-p", p.Port, "-U", user, "-d", "postgres", "-w", "-tAc", "select current_user")
	cmd.Env = Env(password)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// Roles counts the cluster's roles whose name contains part.
func (p *Postgres) Roles(t testing.TB, part string) int {
	t.Helper()
	out, err := p.Super(fmt.Sprintf("select count(*) from pg_roles where rolname like '%%%s%%'", part))
	if err != nil {
		t.Fatalf("count roles: %v", err)
	}
	var n int
	fmt.Sscan(out, &n)
	return n
}

// Env is the environment for psql: no PG* settings of the caller's.
func Env(password string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	env = append(env, "PGCONNECT_TIMEOUT=10")
	if password != "" {
		env = append(env, "PGPASSWORD="+password)
	}
	return env
}

// Database mounts the database engine at a fresh path with a connection
// to the cluster and a role whose credentials live ttl, at most maxTTL,
// and whose password the cluster checks.
func (s *Server) Database(t testing.TB, p *Postgres, ttl, maxTTL string) (mount, role string) {
	t.Helper()
	role = Uniq("app")
	mount = s.databaseMount(t, p, role)
	s.Write(t, mount+"/roles/"+role, map[string]any{
		"db_name":     "pg",
		"default_ttl": ttl,
		"max_ttl":     maxTTL,
		"creation_statements": []string{
			`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' IN ROLE ward_pw;`,
		},
	})
	return mount, role
}

// StaticRole mounts the database engine at a fresh path with a
// connection to the cluster and a static role over a database role of its
// own, whose password the cluster checks and Vault rotates every period.
func (s *Server) StaticRole(t testing.TB, p *Postgres, period string) (mount, role string) {
	t.Helper()
	role = Uniq("static")
	if _, err := p.Super(fmt.Sprintf(`CREATE ROLE %q LOGIN IN ROLE ward_pw`, role)); err != nil {
		t.Fatalf("create role: %v", err)
	}
	t.Cleanup(func() { p.Super(fmt.Sprintf(`DROP ROLE IF EXISTS %q`, role)) })
	mount = s.databaseMount(t, p, role)
	s.Write(t, mount+"/static-roles/"+role, map[string]any{
		"db_name":         "pg",
		"username":        role,
		"rotation_period": period,
	})
	return mount, role
}

// databaseMount mounts the database engine at a fresh path with a
// connection to the cluster that allows role.
func (s *Server) databaseMount(t testing.TB, p *Postgres, role string) (mount string) {
	t.Helper()
	mount = Uniq("database")
	if err := s.Root.Sys().Mount(mount, &api.MountInput{Type: "database"}); err != nil {
		t.Fatalf("mount database: %v", err)
	}
	t.Cleanup(func() { s.Root.Sys().Unmount(mount) })
	s.Write(t, mount+"/config/pg", map[string]any{
		"plugin_name":       "postgresql-database-plugin",
		"connection_url":    "postgresql://{{username}}:{{password}}@127.0.0.1:" + p.Port + "/postgres?sslmode=disable",
		"username":          "postgres",
		"password":          "unused",
		"allowed_roles":     role,
		"verify_connection": true,
	})
	return mount
}

// WaitFor polls cond until it holds or d passes.
func WaitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond) // polling, with a deadline
	}
}
