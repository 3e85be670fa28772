package store_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/azure"
	"github.com/wardsecrets/ward/resolve/azure/azuretest"
	"github.com/wardsecrets/ward/resolve/azure/store"
)

// tokenRef is the aztoken:// reference of resource.
func tokenRef(t *testing.T, resource string) resolve.Ref {
	t.Helper()
	raw, ok := azure.TokenRef(resource)
	if !ok {
		t.Fatalf("%s: not a resource", resource)
	}
	r, err := resolve.NewRegistry(azure.Kind).ParseRef(raw)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestAccessToken gets tokens for Key Vault from ward's chain: each read
// a new token (no cache hands the last one back), that the vault
// accepts, with its expiry and resource.
func TestAccessToken(t *testing.T) {
	srv := emulator(t)
	srv.SetTokenLifetime(20 * time.Minute)
	srv.SetSecret("db", "x")
	s := newStore(t, azure.Options{})
	ref := tokenRef(t, azuretest.VaultResource)
	var seen []string
	for range 2 {
		sec, err := s.Fetch(t.Context(), ref)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			AccessToken string `json:"access_token"`
			Expiration  string `json:"expiration"`
			Resource    string `json:"resource"`
		}
		if err := json.Unmarshal(sec.Value, &doc); err != nil {
			t.Fatal(err)
		}
		exp, err := time.Parse(time.RFC3339, doc.Expiration)
		if err != nil || time.Until(exp) > 20*time.Minute || time.Until(exp) < 18*time.Minute || doc.Resource != azuretest.VaultResource {
			t.Errorf("got expiration %q resource %q, want about 20m and %s", doc.Expiration, doc.Resource, azuretest.VaultResource)
		}
		if !sec.Expires.Equal(exp) {
			t.Errorf("the secret expires %v, want the token's expiration %v (rotation reads it again before it)", sec.Expires, exp)
		}
		seen = append(seen, doc.AccessToken)
		req, _ := http.NewRequest("GET", srv.VaultURL()+"/secrets/db?api-version=7.6", nil)
		req.Header.Set("Authorization", "Bearer "+doc.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("key vault with the token: %v, %v", err, resp)
		}
		resp.Body.Close()
	}
	if seen[0] == seen[1] {
		t.Errorf("two reads gave the same token: a credential cache handed it back")
	}
	if n := len(srv.TokensUsedBy(azuretest.ClientID)); n != 2 {
		t.Errorf("the vault accepted %d tokens, want 2", n)
	}
}

// TestAccessTokenRefused checks that a refused token request names the
// resource and what to check, never the secret.
func TestAccessTokenRefused(t *testing.T) {
	srv := emulator(t, func(s *azuretest.Server) []string { return append(s.Env(), "AZURE_CLIENT_SECRET=wrong-secret-value") })
	s := newStore(t, azure.Options{})
	_, err := s.Fetch(t.Context(), tokenRef(t, azuretest.VaultResource))
	checkError(t, "wrong secret", err, []string{srv.ClientSecret(), "wrong-secret-value"}, "get an access token for https://vault.azure.net", "Microsoft Entra ID refused")
}

// TestPrincipalOf names the principal of JWT access tokens, and nobody
// for opaque ones.
func TestPrincipalOf(t *testing.T) {
	jwt := func(claims string) string {
		return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".c2ln"
	}
	tests := []struct {
		token, principal, tenant, client string
	}{
		{jwt(`{"appid":"a1","tid":"t1","oid":"o1"}`), "application a1", "t1", "a1"},
		{jwt(`{"azp":"a2","tid":"t1"}`), "application a2", "t1", "a2"},
		{jwt(`{"upn":"u@example.com","appid":"a3"}`), "user u@example.com", "", "a3"},
		{jwt(`{"xms_mirid":"/subscriptions/s/x","appid":"a4"}`), "managed identity /subscriptions/s/x", "", "a4"},
		{"azuretest-at-opaque", "", "", ""},
		{"a.%%%.c", "", "", ""},
	}
	for _, tt := range tests {
		p, tn, c := store.PrincipalOf(tt.token)
		if p != tt.principal || tn != tt.tenant || c != tt.client {
			t.Errorf("got %q %q %q, want %q %q %q", p, tn, c, tt.principal, tt.tenant, tt.client)
		}
		if strings.Contains(p+tn+c, "c2ln") {
			t.Errorf("the principal holds the signature")
		}
	}
}
