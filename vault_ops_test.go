package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
