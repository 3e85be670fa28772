package azure

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/conf"
)

// PublicVaultSuffix is the domain of the vaults a bare vault name means.
const PublicVaultSuffix = ".vault.azure.net"

// The example every hint shows.
const exampleRef = "azkv://myvault/db-password#password"

var (
	// Vault names: 3 to 24 letters, digits and hyphens, starting with a
	// letter, ending with a letter or digit, no two hyphens in a row.
	vaultNameRE = conf.Lazy(`^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$`)
	// Secret names: 1 to 127 letters, digits and hyphens.
	secretNameRE = conf.Lazy(`^[A-Za-z0-9-]{1,127}$`)
	// Version ids: the 32 characters Key Vault generates.
	versionRE = conf.Lazy(`^[A-Za-z0-9]{32}$`)
	// DNS labels of a vault host.
	hostLabelRE = conf.Lazy(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
)

// vaultSuffixes are the domains of Key Vault in Azure's clouds; a host in
// one of them starts with a vault name that follows the name rules.
var vaultSuffixes = []string{
	PublicVaultSuffix,
	".vault.azure.cn",
	".vault.usgovcloudapi.net",
	".vault.microsoftazure.de",
}

// hsmSuffixes are the domains of Managed HSM, which holds keys only.
var hsmSuffixes = []string{".managedhsm.azure.net", ".managedhsm.azure.cn", ".managedhsm.usgovcloudapi.net"}

// CheckRef validates an azkv:// reference, whose grammar is
//
//	azkv://VAULT/SECRET[#FIELD][?version=ID]
//
// VAULT is a vault name (https://VAULT.vault.azure.net) or the full host
// of a vault in another cloud (myvault.vault.azure.cn,
// myvault.vault.usgovcloudapi.net); a host may carry a port, which only a
// test emulator listening on 127.0.0.1:PORT needs. SECRET is a secret name.
// Without ?version= the secret's current version is read. The error quotes
// nothing but parts of the reference.
func CheckRef(r *resolve.Ref) *resolve.RefError {
	bad := func(msg, hint string) *resolve.RefError {
		return &resolve.RefError{Ref: r.Raw, Msg: msg, Hint: hint}
	}
	if r.Scheme != Scheme {
		return bad(fmt.Sprintf("scheme %q is not %s", r.Scheme, Scheme), "write "+exampleRef)
	}
	vault, secret, n := splitPath(r.Path)
	switch {
	case r.Path == "":
		return bad("empty path", "name the vault and the secret, e.g. "+exampleRef)
	case n == 1:
		return bad("no secret name after the vault", "write azkv://VAULT/SECRET, e.g. "+exampleRef)
	case vault == "":
		return bad("empty vault name", "write azkv://VAULT/SECRET with no '/' after azkv://, e.g. "+exampleRef)
	case secret == "":
		return bad("empty secret name", "write azkv://VAULT/SECRET, e.g. "+exampleRef)
	case strings.EqualFold(secret, "secrets") && identifierPath(r.Path):
		// A secret identifier's path, as the portal and az show it:
		// https://VAULT/secrets/NAME[/VERSION].
		parts := strings.Split(r.Path, "/")
		want := "azkv://" + vault + "/" + parts[2]
		if n == 4 {
			want += "?version=" + parts[3]
		}
		return bad("the path holds /secrets/, as a secret identifier's URL (https://VAULT/secrets/NAME/VERSION) does",
			"write "+want+": the vault, then the secret's name, a version as ?version=ID")
	case n > 2:
		return bad("extra path segment after the secret name",
			"a vault holds secrets by name only; select a version with ?version=ID, e.g. azkv://myvault/db-password?version=0123456789abcdef0123456789abcdef")
	}
	if err := checkVault(vault); err != nil {
		return bad(err.Msg, err.Hint)
	}
	if !secretNameRE.MatchString(secret) {
		return bad(fmt.Sprintf("invalid secret name %q", secret),
			"secret names are 1 to 127 letters, digits and hyphens (no '_', '.' or '/'), e.g. "+exampleRef)
	}
	for k, v := range r.Options {
		if k != "version" {
			return bad(fmt.Sprintf("unknown option %q", k), "azkv references take only ?version=ID, e.g. azkv://myvault/db-password?version=0123456789abcdef0123456789abcdef")
		}
		if v == "" {
			return bad("option version is empty", "drop ?version= to read the current version, or give a version id, e.g. ?version=0123456789abcdef0123456789abcdef")
		}
		if !versionRE.MatchString(v) {
			return bad(fmt.Sprintf("option version=%q is not a version id", v),
				"a version id is the 32 characters at the end of the secret's id, e.g. ?version=0123456789abcdef0123456789abcdef")
		}
	}
	return nil
}

// VaultURL returns the URL of the vault r names, e.g.
// https://myvault.vault.azure.net. r must have passed CheckRef.
func VaultURL(r resolve.Ref) string {
	vault, _, _ := splitPath(r.Path)
	vault = strings.ToLower(vault)
	if isHost(vault) {
		return "https://" + vault
	}
	return "https://" + vault + PublicVaultSuffix
}

// SecretName returns the name of the secret r names. r must have passed
// CheckRef.
func SecretName(r resolve.Ref) string {
	_, secret, _ := splitPath(r.Path)
	return secret
}

// Version returns the version r asks for; empty means the current one.
func Version(r resolve.Ref) string { return r.Options["version"] }

// splitPath splits VAULT/SECRET and counts the segments.
func splitPath(path string) (vault, secret string, n int) {
	parts := strings.Split(path, "/")
	vault = parts[0]
	if len(parts) > 1 {
		secret = parts[1]
	}
	return vault, secret, len(parts)
}

// identifierPath reports whether path is VAULT/secrets/NAME[/VERSION]
// with no segment empty.
func identifierPath(path string) bool {
	parts := strings.Split(path, "/")
	return (len(parts) == 3 || len(parts) == 4) && !slices.Contains(parts, "")
}

// isHost tells a host (it has a dot, or a port) from a vault name.
func isHost(vault string) bool { return strings.ContainsAny(vault, ".:[") }

// checkVault validates a vault name or host.
func checkVault(vault string) *resolve.RefError {
	if !isHost(vault) {
		if !vaultNameRE.MatchString(vault) || strings.Contains(vault, "--") {
			return &resolve.RefError{
				Msg:  fmt.Sprintf("invalid vault name %q", vault),
				Hint: "vault names are 3 to 24 letters, digits and hyphens, start with a letter and end with a letter or digit; for another cloud give the vault's host, e.g. azkv://myvault.vault.azure.cn/db-password",
			}
		}
		return nil
	}
	host, port := vault, ""
	if i := strings.LastIndexByte(vault, ':'); i >= 0 && !strings.HasSuffix(vault, "]") {
		host, port = vault[:i], vault[i+1:]
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return &resolve.RefError{Msg: fmt.Sprintf("invalid port %q in vault host", port), Hint: "write azkv://HOST:PORT/SECRET with a port from 1 to 65535, or leave the port out"}
		}
	}
	lower := strings.ToLower(host)
	for _, s := range hsmSuffixes {
		if strings.HasSuffix(lower, s) {
			return &resolve.RefError{Msg: "a Managed HSM holds keys, not secrets", Hint: "name a key vault, e.g. azkv://myvault.vault.azure.net/db-password"}
		}
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		if a, err := netip.ParseAddr(host[1 : len(host)-1]); err == nil && a.Is6() {
			return nil
		}
		return &resolve.RefError{Msg: fmt.Sprintf("invalid vault host %q", host), Hint: "write an IPv6 address in brackets, e.g. azkv://[::1]:8443/db-password"}
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if !hostLabelRE.MatchString(l) {
			return &resolve.RefError{Msg: fmt.Sprintf("invalid vault host %q", host), Hint: "write the vault's host name, e.g. azkv://myvault.vault.azure.cn/db-password, or a bare vault name for https://NAME.vault.azure.net"}
		}
	}
	for _, s := range vaultSuffixes {
		if strings.HasSuffix(lower, s) && len(labels) == strings.Count(s, ".")+1 {
			if name := labels[0]; !vaultNameRE.MatchString(name) || strings.Contains(name, "--") {
				return &resolve.RefError{
					Msg:  fmt.Sprintf("invalid vault name %q in host %q", name, host),
					Hint: "vault names are 3 to 24 letters, digits and hyphens, start with a letter and end with a letter or digit, e.g. azkv://myvault.vault.azure.cn/db-password",
				}
			}
		}
	}
	return nil
}
