package store_test

import (
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/azure"
	"github.com/wardsecrets/ward/resolve/azure/azuretest"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

// TestAuth reads a secret with each credential of the chain the emulator
// can stand in for, each set up through the environment alone.
func TestAuth(t *testing.T) {
	tests := []struct {
		name  string
		env   func(t *testing.T, srv *azuretest.Server) []string
		route string // where the token came from
	}{
		{"client secret", func(t *testing.T, srv *azuretest.Server) []string { return srv.Env() }, azuretest.RouteToken},
		{"workload identity", func(t *testing.T, srv *azuretest.Server) []string {
			return srv.WorkloadIdentityEnv(writeToken(t, t.TempDir(), srv.FederatedToken(azuretest.FederatedAudience, time.Hour)))
		}, azuretest.RouteToken},
		// A user-assigned identity, new in each emulator: MSAL caches
		// managed identity tokens per process and identity, and the
		// system-assigned one would carry a token to the next emulator.
		{"managed identity", func(t *testing.T, srv *azuretest.Server) []string {
			srv.AssignManagedIdentity()
			return append(srv.ManagedIdentityEnv(), "AZURE_CLIENT_ID="+srv.ManagedIdentityClientID())
		}, azuretest.RouteManagedIdentity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := emulator(t, func(srv *azuretest.Server) []string { return tt.env(t, srv) })
			v := resolvetest.Canary("auth")
			srv.SetSecret("db", v)
			s := newStore(t, azure.Options{})
			for range 3 {
				sec, err := s.Fetch(t.Context(), ref(t, srv, "db"))
				if err != nil {
					t.Fatal(err)
				}
				if string(sec.Value) != v {
					t.Errorf("got a different value (%d bytes, want %d)", len(sec.Value), len(v))
				}
			}
			if n := srv.Calls(tt.route); n != 1 {
				t.Errorf("three reads: got %d requests to %s, want 1", n, tt.route)
			}
			if n := srv.AuthorizedCalls(azuretest.RouteGetSecret); n != 3 {
				t.Errorf("got %d authorized reads, want 3", n)
			}
			if n := srv.Calls(azuretest.RouteInstanceDiscovery); n != 0 {
				t.Errorf("got %d instance discovery requests, want none", n)
			}
		})
	}
}
