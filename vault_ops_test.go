package main

import (
	"fmt"
	"strings"
	"testing"

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
