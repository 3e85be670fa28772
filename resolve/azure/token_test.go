package azure_test

import (
	"strings"
	"testing"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/azure"
)

func TestTokenRef(t *testing.T) {
	reg := resolve.NewRegistry(azure.Kind)
	tests := []struct {
		resource, ref string
		ok            bool
	}{
		{"https://vault.azure.net", "aztoken://vault.azure.net", true},
		{"https://management.azure.com/", "aztoken://management.azure.com", true},
		{"https://127.0.0.1:8443/x/y", "aztoken://127.0.0.1:8443/x/y", true},
		{"http://vault.azure.net", "", false},
		{"vault.azure.net", "", false},
		{"api://0b9d3a6e", "", false},
		{"https://vault.azure.net?x=1", "", false},
		{"https://vault.azure.net#f", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.resource, func(t *testing.T) {
			ref, ok := azure.TokenRef(tt.resource)
			if ok != tt.ok || ref != tt.ref {
				t.Fatalf("got %q, %v; want %q, %v", ref, ok, tt.ref, tt.ok)
			}
			if !ok {
				return
			}
			r, err := reg.ParseRef(ref)
			if err != nil {
				t.Fatal(err)
			}
			if got := azure.TokenResource(r); got != strings.TrimSuffix(tt.resource, "/") {
				t.Errorf("got resource %q", got)
			}
		})
	}
	for _, bad := range []string{"aztoken://vault.azure.net?resource=x", "aztoken://-x", "aztoken://vault azure"} {
		if _, err := reg.ParseRef(bad); err == nil {
			t.Errorf("%s: got valid, want an error", bad)
		}
	}
}
