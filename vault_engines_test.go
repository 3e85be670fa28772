package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"github.com/wardsecrets/ward/testdata/helper"
)

// TestVaultRotationKVWrittenAgain: a KV v2 secret deleted with its
// metadata (`vault kv metadata delete`, Terraform replacing a
// vault_kv_secret_v2) and written again starts its versions at 1 again.
// The child that had version 1 gets the new data: the polls used to find
// "v1" as before, read nothing, and the child ran on the old value for
// good.
func TestVaultRotationKVWrittenAgain(t *testing.T) {
	root, addr, token := testVault(t)
	mount := vaulttest.Require(t).MountKV(t, 2)
	old, fresh := canary("kvold"), canary("kvnew")
	kvPut(t, mount, "app", map[string]any{"token": old})
	w := newWardEnv(t)
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  TOKEN: vault://%s/app#token\nrotation:\n  poll: 1s\n  jitter: 0%%\n  debounce: 300ms\n  stop_timeout: 5s\n", mount))
	cmd, stdout, stderr := wardVault(t, w, addr, token, m)
	if envListing(stdout)["TOKEN"] != helper.Hash(old) {
		t.Fatalf("the child does not have the first value")
	}
	stderr.waitForContaining(versionsUnchanged)
	if _, err := root.Logical().Delete(mount + "/metadata/app"); err != nil {
		t.Fatal(err)
	}
	kvPut(t, mount, "app", map[string]any{"token": fresh})
	if envListing(stdout)["TOKEN"] != helper.Hash(fresh) {
		t.Errorf("the restarted child does not have the new value")
	}
	stderr.waitForContaining(versionsUnchanged)
	if n := stopAndCount(t, cmd, stdout, stderr, old, fresh); n != 0 {
		t.Errorf("got %d more starts, want 0", n)
	}
}

// TestVaultFieldNamesEscaped: KV keys with a '#' or a '?' in their name
// (a key "token#2" beside "token", "ready?") are selected by writing them
// %23 and %3F, as in a URL, and a key whose '%' is its own keeps it;
// before, no reference could name them: a '#' or '?' in a field was
// refused, and "%23" was looked for as it stands. So are paths (a
// secret "team#2/ready?/50%off" beside "team"): the path ended at the
// '#', and the rest was read as a field.
func TestVaultFieldNamesEscaped(t *testing.T) {
	_, addr, token := testVault(t)
	mount := vaulttest.Require(t).MountKV(t, 2)
	hash2, ready, pct, deep := canary("hash2"), canary("ready"), canary("pct"), canary("deep")
	kvPut(t, mount, "app", map[string]any{"token#2": hash2, "ready?": ready, "50%off": pct})
	kvPut(t, mount, "team#2/ready?/50%off", map[string]any{"k": deep})
	kvPut(t, mount, "team", map[string]any{"k": canary("team")})
	w := newWardEnv(t)
	w.canaries = append(w.canaries, hash2, ready, pct, deep)
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  A: vault://%[1]s/app#token%%232\n  B: vault://%[1]s/app#ready%%3F\n  C: vault://%[1]s/app#50%%off\n  D: vault://%[1]s/team%%232/ready%%3F/50%%off#k\n", mount))
	cmd, stdout, stderr := wardVault(t, w, addr, token, m)
	got := envListing(stdout)
	for name, v := range map[string]string{"A": hash2, "B": ready, "C": pct, "D": deep} {
		if got[name] != helper.Hash(v) {
			t.Errorf("%s does not have its field's value", name)
		}
	}
	if n := stopAndCount(t, cmd, stdout, stderr, hash2, ready, pct, deep); n != 0 {
		t.Errorf("got %d more starts, want 0", n)
	}
}

// TestVaultStaticCredsWholeDocument: a database static role's credentials
// (MOUNT/static-creds/ROLE) as a whole JSON document in a file. Vault's
// answer carries ttl, the seconds left to its next rotation, different at
// each read: every read restarted the child, which had the same password.
// The reads before the rotation (two thirds into the ttl) now find nothing
// changed.
func TestVaultStaticCredsWholeDocument(t *testing.T) {
	srv := vaulttest.Require(t)
	pg := vaulttest.RequirePostgres(t)
	mount, role := srv.StaticRole(t, pg, "9s")
	w := newWardEnv(t)
	m := w.manifest(fmt.Sprintf("version: 1\nfiles:\n  - path: db.json\n    ref: vault://%s/static-creds/%s\n    env: DB_FILE\nrotation:\n  poll: 1h\n  debounce: 300ms\n  stop_timeout: 5s\n", mount, role))
	cmd, stdout, stderr := wardVault(t, w, srv.Addr, srv.Token, m)
	envListing(stdout)
	got := stderr.skipUntil("the read before the rotation", func(line string) bool {
		return strings.Contains(line, "would not change") || strings.Contains(line, "restarting the child")
	})
	if !strings.Contains(got, "would not change") {
		t.Errorf("the child was restarted by a read before Vault rotated the password: %s", got)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
}

// TestVaultStaticCredsRotatedByVault: Vault rotates a database static
// role's password on its schedule (rotation_period), and the old password
// stops working then. The child is restarted with the new one right after
// the rotation, not at the next poll (an hour here, 5 minutes by
// default): Vault's ttl says when it comes. The child's logins then
// failed until the poll.
func TestVaultStaticCredsRotatedByVault(t *testing.T) {
	srv := vaulttest.Require(t)
	pg := vaulttest.RequirePostgres(t)
	mount, role := srv.StaticRole(t, pg, "6s")
	w := newWardEnv(t)
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  DB_USER: vault://%s/static-creds/%s#username\n  DB_PASS: vault://%s/static-creds/%s#password\n  PSQL: {value: %q}\n  PGPORT: {value: %q}\nrotation:\n  poll: 1h\n  debounce: 2s\n  stop_timeout: 5s\n", mount, role, mount, role, pg.Psql(), pg.Port))
	login := `if PGPASSWORD="$DB_PASS" "$PSQL" -w -h 127.0.0.1 -p "$PGPORT" -U "$DB_USER" -d postgres -tAc 'select current_user' >/dev/null 2>&1; then echo login-ok; else echo LOGIN-FAILED; fi; exec sleep 600`
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c", login)
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+srv.Addr, "VAULT_TOKEN="+srv.Token)
	stdout, stderr := startedLines(t, cmd)
	if got := stdout.next("the first child's login"); got != "login-ok" {
		t.Fatalf("the first child's login: %s", got)
	}
	// Two rotations: each new child logs in with the password of its
	// time.
	for i := range 2 {
		stderr.waitForContaining("child restarted with the new secrets")
		if got := stdout.next(fmt.Sprintf("the login of the child after rotation %d", i+1)); got != "login-ok" {
			t.Errorf("the child after rotation %d: %s", i+1, got)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
}

// TestVaultStaticCredsRotatedByOperator: an operator rotates a static
// role's password at once (`vault write database/rotate-role/ROLE`, after
// a leak), long before its rotation_period. The next poll reads it, as
// for any polled secret: that the credential's ttl says when Vault
// rotates it on its own holds back no poll.
func TestVaultStaticCredsRotatedByOperator(t *testing.T) {
	srv := vaulttest.Require(t)
	pg := vaulttest.RequirePostgres(t)
	mount, role := srv.StaticRole(t, pg, "1h")
	w := newWardEnv(t)
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  DB_PASS: vault://%s/static-creds/%s#password\nrotation:\n  poll: 1s\n  jitter: 0%%\n  debounce: 300ms\n  stop_timeout: 5s\n", mount, role))
	cmd, stdout, stderr := wardVault(t, w, srv.Addr, srv.Token, m)
	first := envListing(stdout)["DB_PASS"]
	srv.Write(t, mount+"/rotate-role/"+role, nil)
	if envListing(stdout)["DB_PASS"] == first {
		t.Errorf("the restarted child has the password from before the rotation")
	}
	if n := stopAndCount(t, cmd, stdout, stderr); n != 0 {
		t.Errorf("got %d more starts, want 0", n)
	}
}

// TestVaultLeaseRevokedByOperator: an operator revokes the child's
// dynamic credentials (`vault lease revoke -prefix database/creds/app`
// after a leak); Vault drops the database role. ward sees at the next poll
// that the lease is gone and restarts the child with new credentials. It
// saw it only at the lease's next renewal, two thirds into its TTL (40
// minutes of an hour's lease, three weeks of Vault's default 32 days),
// and the child's logins failed until then. The token's policy, as an
// application's, does not grant sys/leases/revoke: the lease Vault revoked
// is not one ward warns it cannot revoke.
func TestVaultLeaseRevokedByOperator(t *testing.T) {
	srv := vaulttest.Require(t)
	pg := vaulttest.RequirePostgres(t)
	mount, role := srv.Database(t, pg, "1h", "24h")
	p := srv.Policy(t, fmt.Sprintf(`path "%s/creds/%s" { capabilities = ["read"] }`, mount, role))
	token := srv.NewToken(t, &vaultapi.TokenCreateRequest{Policies: []string{p}})
	w := newWardEnv(t)
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  DB_USER: vault://%s/creds/%s#username\nrotation:\n  poll: 1s\n  jitter: 0%%\n  debounce: 300ms\n  stop_timeout: 5s\n", mount, role))
	cmd, stdout, stderr := wardVault(t, w, srv.Addr, token, m)
	first := envListing(stdout)["DB_USER"]
	if err := srv.Root.Sys().RevokePrefix(mount + "/creds/" + role); err != nil {
		t.Fatal(err)
	}
	if envListing(stdout)["DB_USER"] == first {
		t.Errorf("the restarted child has the revoked credentials")
	}
	stderr.waitForContaining("child restarted with the new secrets")
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
	for line := range stderr.ch {
		if strings.Contains(line, "cannot revoke the old lease") {
			t.Errorf("ward warns it cannot revoke the lease Vault revoked: %s", line)
		}
	}
	for line := range stdout.ch {
		if line == "end" {
			t.Errorf("the child was started again")
		}
	}
}

// TestVaultWrapTTLIgnored: VAULT_WRAP_TTL, which makes the Vault CLI
// response-wrap every answer (set in a shell for one `vault read`, or in
// a CI job that hands on wrapped secret ids), does not reach ward's reads:
// the API client read it from the environment, Vault wrapped every answer
// (leaving a copy of each secret in a wrapping token's cubbyhole), and
// ward said "no secret at secret/app: not found".
func TestVaultWrapTTLIgnored(t *testing.T) {
	_, addr, token := testVault(t)
	mount := vaulttest.Require(t).MountKV(t, 2)
	v := canary("wrap")
	kvPut(t, mount, "app", map[string]any{"token": v})
	w := newWardEnv(t)
	w.env = append(w.env, "VAULT_ADDR="+addr, "VAULT_TOKEN="+token, "VAULT_WRAP_TTL=60s")
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  TOKEN: vault://%s/app#token\n", mount))
	code, stdout, stderr := w.run("run", "-m", m, "--", "helper", "env")
	if code != 0 {
		t.Fatalf("got exit %d, want 0; stderr:\n%s", code, redactAll(stderr, v))
	}
	if !strings.Contains(stdout, "TOKEN "+helper.Hash(v)) {
		t.Errorf("the child does not have the value")
	}
}

// TestVaultIdentityTokenNotReadAtEachPoll: Vault's identity tokens
// (identity/oidc/token/ROLE, a signed JWT for the login's entity, with
// no lease) are new at each read and live for their ttl. ward reads one
// again two thirds into that ttl, as other short-lived credentials;
// every poll read a new one, and restarted the child with it.
func TestVaultIdentityTokenNotReadAtEachPoll(t *testing.T) {
	srv := vaulttest.Require(t)
	mount := srv.MountKV(t, 2)
	kvPut(t, mount, "app", map[string]any{"k": canary("idt")})
	key, role := vaulttest.Uniq("key"), vaulttest.Uniq("role")
	srv.Write(t, "identity/oidc/key/"+key, map[string]any{"allowed_client_ids": "*"})
	srv.Write(t, "identity/oidc/role/"+role, map[string]any{"key": key, "ttl": "1h"})
	p := srv.Policy(t, fmt.Sprintf("path \"identity/oidc/token/%s\" { capabilities = [\"read\"] }\npath \"%s/*\" { capabilities = [\"read\"] }", role, mount))
	approle := srv.EnableAuth(t, "approle")
	srv.Write(t, "auth/"+approle+"/role/app", map[string]any{"token_policies": p})
	rid, err := srv.Root.Logical().Read("auth/" + approle + "/role/app/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid := srv.Write(t, "auth/"+approle+"/role/app/secret-id", nil)
	w := newWardEnv(t)
	m := w.manifest(fmt.Sprintf("version: 1\nstores:\n  vault:\n    auth:\n      method: approle\n      mount: %s\n      role_id: %s\n      secret_id_env: APP_SECRET_ID\nenv:\n  ID_TOKEN: vault://identity/oidc/token/%s#token\n  K: vault://%s/app#k\nrotation:\n  poll: 1s\n  jitter: 0%%\n  debounce: 300ms\n  stop_timeout: 5s\n", approle, rid.Data["role_id"], role, mount))
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "helper", "env", "wait")
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+srv.Addr, "APP_SECRET_ID="+sid.Data["secret_id"].(string))
	stdout, stderr := startedLines(t, cmd)
	envListing(stdout)
	for range 3 {
		stderr.waitForContaining(versionsUnchanged)
	}
	if n := stopAndCount(t, cmd, stdout, stderr); n != 0 {
		t.Errorf("the child was restarted %d times in three polls, its token good for an hour", n)
	}
}
