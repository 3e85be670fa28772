package store_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/azure"
	"github.com/wardsecrets/ward/resolve/azure/azuretest"
	"github.com/wardsecrets/ward/resolve/azure/store"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

func TestErrors(t *testing.T) {
	srv := emulator(t)
	var logs bytes.Buffer
	s, err := store.New(withEmulator(azure.Options{}), slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	canary := resolvetest.Canary("errors")
	old := srv.SetSecret("rotated", canary)
	srv.SetSecret("rotated", canary+"-new")
	srv.SetSecret("off", canary)
	srv.Disable("off", "")
	srv.SetSecret("locked", canary)
	srv.Deny("locked")
	srv.SetSecret("gone", canary)
	srv.DeleteSecret("gone")
	canaries := []string{canary, srv.ClientSecret()}
	vault := "key vault " + srv.VaultURL()

	tests := []struct {
		name     string
		ref      string
		notFound bool
		wants    []string
	}{
		{"missing secret", "nope", true, []string{`secret "nope" in ` + vault, "no such secret", "not found"}},
		{"missing version", "rotated?version=0123456789abcdef0123456789abcdef", true,
			[]string{`version "0123456789abcdef0123456789abcdef" of secret "rotated" in ` + vault, "not found"}},
		{"deleted secret", "gone", true, []string{`secret "gone"`, "deleted", "not found"}},
		{"disabled secret", "off", false, []string{`secret "off" in ` + vault, "is disabled", "current version",
			"az keyvault secret set-attributes --id " + srv.VaultURL() + "/secrets/off --enabled true"}},
		{"denied", "locked", false, []string{`secret "locked" in ` + vault, "access denied", "ForbiddenByRbac",
			`"Key Vault Secrets User"`, `secret permission "get"`, "Caller: appid=" + azuretest.ClientID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.AuthorizedCalls(azuretest.RouteGetSecret) + srv.AuthorizedCalls(azuretest.RouteGetSecretVersion)
			_, err := s.Fetch(t.Context(), ref(t, srv, tt.ref))
			checkError(t, tt.name, err, canaries, tt.wants...)
			checkNotFound(t, tt.name, err, tt.notFound)
			// A 4xx other than 429 is final: one read, no retry.
			after := srv.AuthorizedCalls(azuretest.RouteGetSecret) + srv.AuthorizedCalls(azuretest.RouteGetSecretVersion)
			if after-before != 1 {
				t.Errorf("%s: got %d reads, want 1", tt.name, after-before)
			}
		})
	}

	t.Run("disabled version", func(t *testing.T) {
		srv.Disable("rotated", old)
		_, err := s.Fetch(t.Context(), ref(t, srv, "rotated?version="+old))
		checkError(t, "disabled version", err, canaries, "is disabled", "that version",
			"az keyvault secret set-attributes --id "+srv.VaultURL()+"/secrets/rotated/"+old+" --enabled true")
	})

	for _, c := range canaries {
		if strings.Contains(logs.String(), c) {
			t.Errorf("the store's log contains a secret value or credential")
		}
	}
}

func TestChallengeResourceVerification(t *testing.T) {
	srv := emulator(t)
	srv.SetSecret("db", resolvetest.Canary("challenge"))
	// Without the option, azsecrets refuses to send a token to a vault at
	// 127.0.0.1, whose challenge names https://vault.azure.net.
	s, err := store.New(azure.Options{DisableInstanceDiscovery: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Fetch(t.Context(), ref(t, srv, "db"))
	checkError(t, "challenge for another domain", err, []string{srv.ClientSecret()}, "disable_challenge_resource_verification: true")
	if n := srv.Calls(azuretest.RouteToken); n != 0 {
		t.Errorf("got %d token requests, want none: no token may be fetched for a vault that fails verification", n)
	}
}

func TestAuthErrors(t *testing.T) {
	canary := resolvetest.Canary("auth")
	tests := []struct {
		name  string
		env   func(srv *azuretest.Server, dir string) []string
		wants []string
		// unwanted must not be said.
		unwanted []string
	}{
		{
			name: "wrong client secret",
			env: func(srv *azuretest.Server, _ string) []string {
				return append(srv.Env(), "AZURE_CLIENT_SECRET=wrong-"+canary)
			},
			wants: []string{"Microsoft Entra ID refused ward's Azure credential", "HTTP 401 invalid_client", "AADSTS7000215",
				"AZURE_TENANT_ID, AZURE_CLIENT_ID", "credentials tried: ClientSecretCredential authentication failed"},
		},
		{
			// The vault's challenge names its own tenant; azidentity will
			// not fetch a token there for a credential of another.
			name: "identity of another tenant",
			env: func(srv *azuretest.Server, _ string) []string {
				return append(srv.Env(), "AZURE_TENANT_ID=11111111-2222-3333-4444-555555555555")
			},
			wants: []string{"another tenant", `tenant "` + azuretest.TenantID + `"`, "AZURE_ADDITIONALLY_ALLOWED_TENANTS"},
		},
		{
			name: "federated token for another audience",
			env: func(srv *azuretest.Server, dir string) []string {
				return srv.WorkloadIdentityEnv(writeToken(t, dir, srv.FederatedToken("api://wrong-audience", time.Hour)))
			},
			wants: []string{"Microsoft Entra ID refused", "AADSTS700212", "WorkloadIdentityCredential"},
		},
		{
			name: "expired federated token",
			env: func(srv *azuretest.Server, dir string) []string {
				return srv.WorkloadIdentityEnv(writeToken(t, dir, srv.FederatedToken(azuretest.FederatedAudience, -time.Hour)))
			},
			wants: []string{"AADSTS700024", "not within its valid time range"},
		},
		{
			// A managed identity endpoint that fails, answering in
			// OAuth's shape as IMDS does: its refusal, not Entra ID's,
			// with no advice on a client secret no one set.
			name: "managed identity endpoint fails",
			env: func(srv *azuretest.Server, _ string) []string {
				down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusInternalServerError)
					w.Write([]byte(`{"error":"service_unavailable","error_description":"the identity service is down"}`))
				}))
				t.Cleanup(down.Close)
				var env []string
				for _, kv := range srv.ManagedIdentityEnv() {
					if !strings.HasPrefix(kv, "IDENTITY_ENDPOINT=") {
						env = append(env, kv)
					}
				}
				return append(env, "IDENTITY_ENDPOINT="+down.URL+"/msi/token")
			},
			wants:    []string{"no Azure credential could get a token", "the managed identity endpoint answered HTTP 500 service_unavailable: the identity service is down"},
			unwanted: []string{"Entra ID refused", "client secret"},
		},
		{
			name: "no credential",
			env: func(srv *azuretest.Server, _ string) []string {
				// No secret, no token file; the managed identity endpoint
				// has no identity to give.
				return srv.ManagedIdentityEnv()
			},
			wants: []string{"no Azure credential could get a token", "EnvironmentCredential: missing environment variable AZURE_TENANT_ID",
				"WorkloadIdentityCredential", "ManagedIdentityCredential", "Unable to load the proper Managed Identity",
				"AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "managed identity", "az login"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			srv := emulator(t, func(s *azuretest.Server) []string { return tt.env(s, dir) })
			srv.SetSecret("db", canary)
			var logs bytes.Buffer
			s, err := store.New(withEmulator(azure.Options{}), slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_, err = s.Fetch(t.Context(), ref(t, srv, "db"))
			secrets := []string{canary, srv.ClientSecret(), "eyJ"}
			if b, rerr := os.ReadFile(filepath.Join(dir, "token")); rerr == nil {
				secrets = append(secrets, string(b))
			}
			checkError(t, tt.name, err, secrets, append(tt.wants, `secret "db" in key vault `+srv.VaultURL())...)
			for _, u := range tt.unwanted {
				if err != nil && strings.Contains(err.Error(), u) {
					t.Errorf("%s: the error says %q", tt.name, u)
				}
			}
			for _, c := range secrets {
				if strings.Contains(logs.String(), c) {
					t.Errorf("the store's log contains a secret value or credential")
				}
			}
			if n := srv.AuthorizedCalls(azuretest.RouteGetSecret); n != 0 {
				t.Errorf("got %d authorized reads, want none", n)
			}
		})
	}
}

// withEmulator adds the settings the emulator needs (see emulatorOptions).
func withEmulator(o azure.Options) azure.Options {
	o.DisableInstanceDiscovery = emulatorOptions.DisableInstanceDiscovery
	o.DisableChallengeResourceVerification = emulatorOptions.DisableChallengeResourceVerification
	return o
}

// writeToken writes a federated token where Kubernetes would project it.
func writeToken(t *testing.T, dir, tok string) string {
	t.Helper()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestAuthorityOfTheEnvironment: a manifest's authority_host, with
// instance discovery off, where the environment names another
// (AZURE_AUTHORITY_HOST, beside the service principal's secret). The
// store sent the environment's client secret to the manifest's
// authority at the first read; it now refuses at New, and that
// authority hears nothing.
func TestAuthorityOfTheEnvironment(t *testing.T) {
	srv := emulator(t)
	other := azuretest.New(t, testCA)
	o := emulatorOptions
	o.AuthorityHost = other.AuthorityHost()
	s, err := store.New(o, nil)
	if err == nil {
		defer s.Close()
		s.Fetch(context.Background(), ref(t, srv, "db-password"))
	}
	if n := other.Calls(azuretest.RouteToken); n != 0 {
		t.Errorf("the manifest's authority was asked for %d tokens with the environment's credentials", n)
	}
	if err == nil || !strings.Contains(err.Error(), "(AZURE_AUTHORITY_HOST)") {
		t.Errorf("New: got %v, want the refusal naming AZURE_AUTHORITY_HOST", err)
	}
}
