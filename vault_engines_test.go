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
