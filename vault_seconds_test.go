package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
)

// Vault counts TTLs and max TTLs in whole seconds: the issue time and the
// time of a renewal are both cut to the second before the cap is worked
// out, so a renewal answered with the whole increment can end past the
// max TTL, and the next one be refused ("past the max TTL, cannot
// renew"). These tests hold ward's handling of short leases and short
// tokens to what the real server answers.

// approleLogin is a soakLogin by AppRole, whose tokens live tokenTTL, at
// most tokenMaxTTL, and may read mount/creds/role and revoke its leases.
func approleLogin(tokenTTL, tokenMaxTTL string) soakLogin {
	return func(t *testing.T, w *wardEnv, srv *vaulttest.Server, mount, role string) (string, []string) {
		pol := srv.Policy(t, fmt.Sprintf("path %q { capabilities = [\"read\"] }\npath \"sys/leases/revoke\" { capabilities = [\"update\"] }\n", mount+"/creds/"+role))
		auth := srv.EnableAuth(t, "approle")
		srv.Write(t, "auth/"+auth+"/role/app", map[string]any{"token_policies": pol, "token_ttl": tokenTTL, "token_max_ttl": tokenMaxTTL})
		rid, err := srv.Root.Logical().Read("auth/" + auth + "/role/app/role-id")
		if err != nil {
			t.Fatal(err)
		}
		sid := srv.Write(t, "auth/"+auth+"/role/app/secret-id", nil).Data["secret_id"].(string)
		w.canaries = append(w.canaries, sid)
		stores := fmt.Sprintf("stores:\n  vault:\n    auth:\n      method: approle\n      mount: %s\n      role_id: %s\n      secret_id_env: APP_SECRET_ID\n", auth, rid.Data["role_id"])
		return stores, []string{"APP_SECRET_ID=" + sid}
	}
}

// TestShortLoginTokenLeases: ward's own AppRole token lives 2 s, at most
// 6 s, and the database leases it creates would outlive it (1 m): Vault
// revokes them when the token ends. Each is read again with the next
// login's token before then, and the child restarted with it: its login
// loop never fails.
func TestShortLoginTokenLeases(t *testing.T) {
	if testing.Short() {
		t.Skip("30 s soak; run without -short")
	}
	for _, tt := range []struct{ ttl, maxTTL string }{{"2s", "6s"}, {"3s", "7s"}} {
		t.Run(tt.maxTTL, func(t *testing.T) {
			dynamicSoakWith(t, "1m", "10m", 30*time.Second, 3, approleLogin(tt.ttl, tt.maxTTL))
		})
	}
}
