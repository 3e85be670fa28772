package main

import (
	"fmt"
	"testing"

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

// TestVaultStaticCredsWholeDocument: a database static role's credentials
// (MOUNT/static-creds/ROLE) as a whole JSON document in a file. Vault's
// answer carries ttl, the seconds left to its next rotation, different at
// each read: every poll restarted the child, which had the same password.
// Polls now find nothing changed until Vault rotates it.
func TestVaultStaticCredsWholeDocument(t *testing.T) {
	srv := vaulttest.Require(t)
	pg := vaulttest.RequirePostgres(t)
	mount, role := srv.StaticRole(t, pg, "1h")
	w := newWardEnv(t)
	m := w.manifest(fmt.Sprintf("version: 1\nfiles:\n  - path: db.json\n    ref: vault://%s/static-creds/%s\n    env: DB_FILE\nrotation:\n  poll: 1s\n  jitter: 0%%\n  debounce: 300ms\n  stop_timeout: 5s\n", mount, role))
	cmd, stdout, stderr := wardVault(t, w, srv.Addr, srv.Token, m)
	envListing(stdout)
	for range 3 {
		stderr.waitForContaining("would not change")
	}
	if n := stopAndCount(t, cmd, stdout, stderr); n != 0 {
		t.Errorf("the child was restarted %d times, its password unchanged", n)
	}
}
