package azuretest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/azure/azuretest"
)

// TestTokenLifetimeAndExpiry issues short tokens: the vault accepts one
// until it expires, counts what it authorised, and then refuses it with
// Key Vault's "Token expired", counted as rejected.
func TestTokenLifetimeAndExpiry(t *testing.T) {
	srv, c := start(t)
	srv.SetTokenLifetime(30 * time.Second)
	srv.SetSecret("db", "x")
	resp, m := postFormToken(t, srv, c)
	if resp.StatusCode != http.StatusOK || m["expires_in"] != float64(29) {
		t.Fatalf("got HTTP %d, expires_in %v; want 200 and 29", resp.StatusCode, m["expires_in"])
	}
	tok, _ := m["access_token"].(string)
	u := srv.VaultURL() + "/secrets/db?api-version=7.6"
	if resp, _ := get(t, c, u, tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("a live token: got HTTP %d, want 200", resp.StatusCode)
	}
	if got := srv.TokensUsedBy(azuretest.ClientID); got[tok] != 1 || len(got) != 1 {
		t.Errorf("got %d tokens used, want the one, once", len(got))
	}
	later := time.Now().Add(31 * time.Second)
	srv.SetClock(func() time.Time { return later })
	resp, m = get(t, c, u, tok)
	_, _, msg := kvError(t, m)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(msg, "Token expired") || srv.RejectedTokens() != 1 {
		t.Errorf("an expired token: got HTTP %d %q (%d rejected), want 401 Token expired and one rejected", resp.StatusCode, msg, srv.RejectedTokens())
	}
}

func postFormToken(t *testing.T, srv *azuretest.Server, c *http.Client) (*http.Response, map[string]any) {
	t.Helper()
	return postForm(t, c, tokenURL(srv, azuretest.TenantID), map[string][]string{
		"grant_type": {"client_credentials"}, "client_id": {azuretest.ClientID},
		"client_secret": {srv.ClientSecret()}, "scope": {azuretest.VaultResource + "/.default"},
	})
}
