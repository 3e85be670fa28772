package azure_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/azure"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts azure.Options
		want string // "" for valid
	}{
		{"zero", azure.Options{}, ""},
		{"everything", azure.Options{TenantID: "t", AuthorityHost: "https://login.microsoftonline.us/", DisableInstanceDiscovery: true, DisableChallengeResourceVerification: true, Timeout: time.Second}, ""},
		{"http authority", azure.Options{AuthorityHost: "http://login.example/"}, "stores.azure.authority_host"},
		{"bare host authority", azure.Options{AuthorityHost: "login.microsoftonline.us"}, "stores.azure.authority_host"},
		{"negative timeout", azure.Options{Timeout: -time.Second}, "stores.azure.timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestCredentialEnv(t *testing.T) {
	for _, k := range []string{"AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
		"AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_HEADER", "MSI_SECRET"} {
		if !slices.Contains(azure.CredentialEnv, k) {
			t.Errorf("CredentialEnv lacks %s", k)
		}
	}
	// Identity names and endpoints are not credentials: stripping them
	// would break a child that authenticates by itself.
	for _, k := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_AUTHORITY_HOST", "IDENTITY_ENDPOINT"} {
		if slices.Contains(azure.CredentialEnv, k) {
			t.Errorf("CredentialEnv holds %s, which carries no credential", k)
		}
	}
}

// TestLight checks that the package stays light: nothing beyond what
// resolve itself imports, and nothing of the Azure SDK, so that ward's
// core never links the SDK's package initialisers.
func TestLight(t *testing.T) {
	own := deps(t, "github.com/wardsecrets/ward/resolve/azure")
	base := deps(t, "github.com/wardsecrets/ward/resolve")
	for _, p := range own {
		if strings.Contains(p, "github.com/Azure/") || strings.Contains(p, "github.com/AzureAD/") {
			t.Errorf("resolve/azure depends on %s", p)
		} else if p != "github.com/wardsecrets/ward/resolve/azure" && !slices.Contains(base, p) {
			t.Errorf("resolve/azure depends on %s, which resolve does not", p)
		}
	}
}

// deps lists the packages pkg depends on, itself included.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list dependencies: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// TestSameAuthority: a manifest's authority_host must agree with
// AZURE_AUTHORITY_HOST where that is set, and may not also skip instance
// discovery where it is not (the environment's credentials would go to
// an authority nothing checked).
func TestSameAuthority(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    azure.Options
		env  string
		err  string
	}{
		{"none", azure.Options{}, "https://login.microsoftonline.us/", ""},
		{"the environment's", azure.Options{AuthorityHost: "https://login.microsoftonline.us/"}, "HTTPS://Login.MicrosoftOnline.us", ""},
		{"no environment, discovery on", azure.Options{AuthorityHost: "https://login.microsoftonline.us/"}, "", ""},
		{"another", azure.Options{AuthorityHost: "https://login.attacker.example/"}, "https://login.microsoftonline.us/", "but the environment names https://login.microsoftonline.us/ (AZURE_AUTHORITY_HOST)"},
		{"another, discovery off", azure.Options{AuthorityHost: "https://login.attacker.example/", DisableInstanceDiscovery: true}, "https://adfs.stack.local/", "but the environment names"},
		{"no environment, discovery off", azure.Options{AuthorityHost: "https://login.attacker.example/", DisableInstanceDiscovery: true}, "", "an authority that nothing checks"},
		{"private cloud from the environment", azure.Options{AuthorityHost: "https://adfs.stack.local/adfs/", DisableInstanceDiscovery: true}, "https://adfs.stack.local/adfs", ""},
	} {
		err := azure.SameAuthority(tt.o, func(k string) string {
			if k == "AZURE_AUTHORITY_HOST" {
				return tt.env
			}
			return ""
		})
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: got %v, want an error saying %q", tt.name, err, tt.err)
		}
	}
}

func TestTrustedVault(t *testing.T) {
	off := azure.Options{DisableChallengeResourceVerification: true}
	for _, tt := range []struct {
		name  string
		o     azure.Options
		vault string
		env   string
		err   string
	}{
		{"check on", azure.Options{}, "https://attacker.example", "", ""},
		{"Key Vault's domain", off, "https://myvault.vault.azure.net", "", ""},
		{"another cloud's", off, "https://MyVault.vault.usgovcloudapi.net:443", "", ""},
		{"custom host", off, "https://attacker.example", "", "set WARD_AZURE_VAULT_HOSTS=attacker.example in"},
		{"a look-alike", off, "https://myvault.vault.azure.net.attacker.example", "", "outside Key Vault's domains"},
		{"listed", off, "https://vault.corp.example", "other.example, VAULT.corp.example.", ""},
		{"listed with port", off, "https://127.0.0.1:8443", "https://127.0.0.1:8443/", ""},
		{"listed on another port", off, "https://127.0.0.1:8443", "127.0.0.1:9443 127.0.0.1", "WARD_AZURE_VAULT_HOSTS=127.0.0.1:8443"},
		{"https's port", off, "https://vault.corp.example:443", "vault.corp.example", ""},
		{"IPv6", off, "https://[::1]:8443", "[::1]:8443", ""},
	} {
		err := azure.TrustedVault(tt.o, tt.vault, func(k string) string {
			if k == azure.VaultHostsVar {
				return tt.env
			}
			return ""
		})
		msg := ""
		if err != nil {
			msg = err.Error()
			if h, ok := err.(interface{ Hint() string }); ok {
				msg += " " + h.Hint()
			}
		}
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.name, msg)
		case tt.err != "" && !strings.Contains(msg, tt.err):
			t.Errorf("%s: got %q, want an error saying %q", tt.name, msg, tt.err)
		}
	}
}
