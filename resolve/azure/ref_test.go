package azure_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/azure"
	"github.com/wardsecrets/ward/resolve/azure/azuretest"
)

const version = "0123456789abcdef0123456789abcdef"

func TestCheckRefValid(t *testing.T) {
	tests := []struct {
		in, vaultURL, secret, version, field string
	}{
		{"azkv://myvault/db-password", "https://myvault.vault.azure.net", "db-password", "", ""},
		{"azkv://myvault/db-password#password", "https://myvault.vault.azure.net", "db-password", "", "password"},
		{"azkv://myvault/db?version=" + version, "https://myvault.vault.azure.net", "db", version, ""},
		{"azkv://myvault/db#user?version=" + version, "https://myvault.vault.azure.net", "db", version, "user"},
		{"azkv://myvault/db?version=" + version + "#user", "https://myvault.vault.azure.net", "db", version, "user"},
		{"azkv://My-Vault-01/DB", "https://my-vault-01.vault.azure.net", "DB", "", ""},
		{"azkv://abc/x", "https://abc.vault.azure.net", "x", "", ""},
		{"azkv://a23456789012345678901234/" + strings.Repeat("s", 127), "https://a23456789012345678901234.vault.azure.net", strings.Repeat("s", 127), "", ""},
		{"azkv://myvault.vault.azure.cn/db", "https://myvault.vault.azure.cn", "db", "", ""},
		{"azkv://myvault.vault.usgovcloudapi.net/db", "https://myvault.vault.usgovcloudapi.net", "db", "", ""},
		{"azkv://MyVault.Vault.Azure.Net/db", "https://myvault.vault.azure.net", "db", "", ""},
		{"azkv://127.0.0.1:8443/db", "https://127.0.0.1:8443", "db", "", ""},
		{"azkv://localhost:8443/db", "https://localhost:8443", "db", "", ""},
		{"azkv://[::1]:8443/db", "https://[::1]:8443", "db", "", ""},
		{"azkv://kv.internal.example.com/db", "https://kv.internal.example.com", "db", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := azuretest.ParseRef(tt.in)
			if err != nil {
				t.Fatalf("ParseRef(%q): %v", tt.in, err)
			}
			if got := azure.VaultURL(r); got != tt.vaultURL {
				t.Errorf("got VaultURL=%q, want %q", got, tt.vaultURL)
			}
			if got := azure.SecretName(r); got != tt.secret {
				t.Errorf("got SecretName=%q, want %q", got, tt.secret)
			}
			if got := azure.Version(r); got != tt.version {
				t.Errorf("got Version=%q, want %q", got, tt.version)
			}
			if r.Field != tt.field {
				t.Errorf("got Field=%q, want %q", r.Field, tt.field)
			}
		})
	}
}

func TestCheckRefInvalid(t *testing.T) {
	tests := []struct {
		in, msg, hint string
	}{
		{"azkv://", "empty path", "azkv://myvault/db-password"},
		{"azkv://myvault", "no secret name", "azkv://VAULT/SECRET"},
		{"azkv://myvault/", "empty secret name", "azkv://VAULT/SECRET"},
		{"azkv:///db", "empty vault name", "azkv://VAULT/SECRET"},
		{"azkv://myvault//db", "empty secret name", "azkv://VAULT/SECRET"},
		{"azkv://myvault/db/" + version, "extra path segment", "?version=ID"},
		{"azkv://myvault/db/x/y", "extra path segment", "?version=ID"},
		// The path of a secret identifier, as the portal and az show it
		// (https://VAULT/secrets/NAME/VERSION): the hint is the reference
		// it stands for.
		{"azkv://myvault/secrets/db-password", "/secrets/", "write azkv://myvault/db-password"},
		{"azkv://myvault.vault.azure.net/secrets/db/" + version, "/secrets/", "write azkv://myvault.vault.azure.net/db?version=" + version},
		{"azkv://myvault/secrets/", "extra path segment", "?version=ID"},
		{"azkv://ab/db", `invalid vault name "ab"`, "3 to 24"},
		{"azkv://a234567890123456789012345/db", "invalid vault name", "3 to 24"},
		{"azkv://1vault/db", `invalid vault name "1vault"`, "start with a letter"},
		{"azkv://vault-/db", "invalid vault name", "end with a letter or digit"},
		{"azkv://my--vault/db", "invalid vault name", "hyphens"},
		{"azkv://my_vault/db", "invalid vault name", "hyphens"},
		{"azkv://my_vault.vault.azure.net/db", "invalid vault host", "host name"},
		{"azkv://ab.vault.azure.net/db", `invalid vault name "ab" in host`, "3 to 24"},
		{"azkv://127.0.0.1:0/db", `invalid port "0"`, "1 to 65535"},
		{"azkv://127.0.0.1:70000/db", `invalid port "70000"`, "1 to 65535"},
		{"azkv://127.0.0.1:/db", `invalid port ""`, "1 to 65535"},
		{"azkv://[nope]:1/db", "invalid vault host", "IPv6"},
		{"azkv://myhsm.managedhsm.azure.net/db", "Managed HSM holds keys, not secrets", "azkv://myvault.vault.azure.net/db-password"},
		{"azkv://myvault/db_password", `invalid secret name "db_password"`, "1 to 127 letters, digits and hyphens"},
		{"azkv://myvault/db.password", "invalid secret name", "1 to 127"},
		{"azkv://myvault/" + strings.Repeat("s", 128), "invalid secret name", "1 to 127"},
		{"azkv://myvault/db?version=", "option version is empty", "drop ?version="},
		{"azkv://myvault/db?version=latest", `option version="latest" is not a version id`, "32 characters"},
		{"azkv://myvault/db?stage=current", `unknown option "stage"`, "only ?version=ID"},
		{"azkv://myvault/db?version=" + version + "&x=1", `unknown option "x"`, "only ?version=ID"},
		{"vault://myvault/db", `scheme "vault" is not azkv`, "azkv://"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := azuretest.ParseRef(tt.in)
			var re *resolve.RefError
			if !errors.As(err, &re) {
				t.Fatalf("ParseRef(%q): got %v, want a *resolve.RefError", tt.in, err)
			}
			if re.Ref != tt.in {
				t.Errorf("got Ref=%q, want the reference %q", re.Ref, tt.in)
			}
			if !strings.Contains(re.Msg, tt.msg) {
				t.Errorf("got Msg=%q, want it to say %q", re.Msg, tt.msg)
			}
			if !strings.Contains(re.Hint, tt.hint) {
				t.Errorf("got Hint=%q, want it to say %q", re.Hint, tt.hint)
			}
			if !strings.Contains(re.Hint, "azkv://") && !strings.Contains(re.Hint, "?version=") {
				t.Errorf("got Hint=%q, want it to show an example", re.Hint)
			}
		})
	}
}

func TestRefKeysShareDocuments(t *testing.T) {
	a := azuretest.MustRef(t, "azkv://myvault/db#user")
	b := azuretest.MustRef(t, "azkv://myvault/db#password")
	c := azuretest.MustRef(t, "azkv://myvault/db?version="+version+"#password")
	if a.Key() != b.Key() {
		t.Errorf("two fields of one secret got different keys")
	}
	if a.Key() == c.Key() {
		t.Errorf("two versions of one secret got the same key")
	}
	if err := azure.CheckRef(ptr(a.Document())); err != nil {
		t.Errorf("the document of a valid reference is invalid: %v", err)
	}
}

func ptr(r resolve.Ref) *resolve.Ref { return &r }
