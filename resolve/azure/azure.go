// Package azure is the light half of ward's Azure Key Vault store: the
// azkv:// reference syntax, the manifest's stores.azure settings and the
// variables that carry an Azure credential. It imports nothing but the
// standard library and resolve, so that ward's core can check references
// and strip credentials without paying the Azure SDK's package
// initialisers; the store itself, which links the SDK, is in
// resolve/azure/store.
package azure

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/wardsecrets/ward/resolve"
)

// Scheme is the reference scheme of Azure Key Vault secrets.
const Scheme = "azkv"

// DefaultTimeout bounds one secret read when Options.Timeout is zero: the
// token request, every retry of a throttled or failed request, and every
// wait between them.
const DefaultTimeout = 30 * time.Second

// Options are the settings of the manifest's stores.azure block. Everything
// else comes from the environment azidentity's DefaultAzureCredential reads
// (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET,
// AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE,
// AZURE_AUTHORITY_HOST, AZURE_TOKEN_CREDENTIALS, ...). The struct travels
// to the process that runs the store as JSON.
type Options struct {
	// TenantID is the Microsoft Entra tenant to authenticate in with
	// workload identity and the Azure CLI when AZURE_TENANT_ID does not
	// say. Empty: AZURE_TENANT_ID, then the CLI's own tenant. A service
	// principal in the environment always uses AZURE_TENANT_ID.
	TenantID string `json:"tenant_id,omitempty"`
	// AuthorityHost is the Microsoft Entra endpoint of a sovereign or
	// private cloud, e.g. https://login.chinacloudapi.cn/ or
	// https://login.microsoftonline.us/. Empty: AZURE_AUTHORITY_HOST, then
	// the public cloud's https://login.microsoftonline.com/.
	AuthorityHost string `json:"authority_host,omitempty"`
	// DisableInstanceDiscovery skips the request to
	// login.microsoftonline.com that validates AuthorityHost before the
	// first token request. Only for disconnected and private clouds
	// (Azure Stack Hub) whose authority the public cloud does not know.
	// Default false.
	DisableInstanceDiscovery bool `json:"disable_instance_discovery,omitempty"`
	// DisableChallengeResourceVerification accepts a vault whose host is
	// not under the domain its authentication challenge names (a vault
	// reached by IP address or through a custom host name). Default false:
	// the Azure SDK refuses to send a token to such a host, so that a
	// look-alike host cannot obtain one.
	DisableChallengeResourceVerification bool `json:"disable_challenge_resource_verification,omitempty"`
	// Timeout bounds one secret read, token request and retries included.
	// Zero means DefaultTimeout.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// Validate checks the settings. Its errors name the manifest key.
func (o Options) Validate() error {
	if o.AuthorityHost != "" {
		u, err := url.Parse(o.AuthorityHost)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("stores.azure.authority_host %q: want an https URL such as https://login.microsoftonline.us/", o.AuthorityHost)
		}
	}
	if o.Timeout < 0 {
		return errors.New("stores.azure.timeout: must not be negative")
	}
	return nil
}

// SameAuthority refuses a manifest's authority_host that the environment
// does not agree with: one other than AZURE_AUTHORITY_HOST where that is
// set, or, where it is not, one the manifest also exempts from instance
// discovery (the public cloud's check that an authority is Microsoft's).
// The credentials are the environment's (AZURE_CLIENT_SECRET, a client
// certificate, a federated token), and a cloned repository's or a pull
// request's manifest named an Entra endpoint of its own and received
// them from `ward scan` or `ward check --resolve`, which run none of the
// repository's code.
func SameAuthority(o Options, getenv func(string) string) error {
	if o.AuthorityHost == "" {
		return nil
	}
	env := strings.TrimSpace(getenv("AZURE_AUTHORITY_HOST"))
	switch {
	case env != "" && authorityKey(env) != authorityKey(o.AuthorityHost):
		return resolve.WithHint(
			fmt.Errorf("stores.azure.authority_host is %s, but the environment names %s (AZURE_AUTHORITY_HOST): ward sends the environment's Azure credentials only to an authority both name, so that a manifest (a cloned repository's, a pull request's) cannot send them to a server of its own", o.AuthorityHost, env),
			"set AZURE_AUTHORITY_HOST to "+o.AuthorityHost+" or unset it, or remove stores.azure.authority_host")
	case env == "" && o.DisableInstanceDiscovery:
		return resolve.WithHint(
			fmt.Errorf("stores.azure.authority_host %s with disable_instance_discovery: an authority that nothing checks is Microsoft's, named by the manifest alone, would receive the environment's Azure credentials", o.AuthorityHost),
			"for a private cloud (Azure Stack Hub), set AZURE_AUTHORITY_HOST="+o.AuthorityHost+" in the environment that holds the credentials")
	}
	return nil
}

// VaultHostsVar names the variable in which the environment lists the
// vault hosts outside Key Vault's domains (a private endpoint's custom
// name, an emulator) that may have the environment's Key Vault token
// without the challenge's domain check, as host or host:port, separated
// by spaces or commas.
const VaultHostsVar = "WARD_AZURE_VAULT_HOSTS"

// TrustedVault refuses a vault the manifest names outside Key Vault's
// domains when the manifest also turns the challenge's domain check off
// (disable_challenge_resource_verification) and the environment does not
// list its host in VaultHostsVar. The check is what keeps a host from
// having a token for every vault the environment's identity may read
// (the Azure SDK sends one only to a host under the domain the challenge
// names, https://vault.azure.net's for Key Vault's tokens); a cloned
// repository's or a pull request's manifest that named a server of its
// own and turned the check off received one from `ward scan` or
// `ward check --resolve`, which run none of the repository's code.
func TrustedVault(o Options, vaultURL string, getenv func(string) string) error {
	if !o.DisableChallengeResourceVerification {
		return nil
	}
	host := vaultHost(vaultURL)
	if u, err := url.Parse(vaultURL); err == nil {
		for _, s := range vaultSuffixes {
			if strings.HasSuffix(strings.ToLower(u.Hostname()), s) {
				return nil
			}
		}
	}
	for _, l := range resolve.SplitList(getenv(VaultHostsVar)) {
		if vaultHost(l) == host {
			return nil
		}
	}
	return resolve.WithHint(
		fmt.Errorf("the vault %s is outside Key Vault's domains and stores.azure.disable_challenge_resource_verification is set: ward sends the environment's Key Vault token to such a host only when the environment lists it in %s, so that a manifest (a cloned repository's, a pull request's) cannot have it sent to a server of its own", vaultURL, VaultHostsVar),
		fmt.Sprintf("for a private endpoint's custom name or an emulator you trust, set %s=%s in the environment that holds the credentials", VaultHostsVar, host))
}

// vaultHost is the host of a vault URL or host, in lower case, with the
// port only when it is not https's.
func vaultHost(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	host := strings.TrimSuffix(u.Hostname(), ".")
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if p := u.Port(); p != "" && p != "443" {
		host += ":" + p
	}
	return host
}

// authorityKey is what tells two authority hosts apart: the host in
// lower case and the path without a trailing slash.
func authorityKey(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return strings.TrimRight(s, "/")
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + strings.TrimRight(u.Path, "/")
}

// CredentialEnv lists the variables azidentity's DefaultAzureCredential
// reads a credential from: a secret, a password, key material, or the
// path of a file that holds one. ward strips them from the child's
// environment unless the manifest passes one on by name. The variables
// that only name an identity (AZURE_TENANT_ID, AZURE_CLIENT_ID) or an
// endpoint (IDENTITY_ENDPOINT, MSI_ENDPOINT, IMDS_ENDPOINT,
// AZURE_AUTHORITY_HOST) are left alone.
var CredentialEnv = []string{
	// EnvironmentCredential: a service principal's secret, or its
	// certificate and the certificate's password.
	"AZURE_CLIENT_SECRET",
	"AZURE_CLIENT_CERTIFICATE_PATH",
	"AZURE_CLIENT_CERTIFICATE_PASSWORD",
	// EnvironmentCredential still reads a user's name and password.
	"AZURE_USERNAME",
	"AZURE_PASSWORD",
	// WorkloadIdentityCredential: the projected service account token
	// (AKS) or the OIDC token a CI job wrote (GitHub Actions).
	"AZURE_FEDERATED_TOKEN_FILE",
	// ManagedIdentityCredential on App Service, Functions and Service
	// Fabric: the shared secret that authorises a token request.
	"IDENTITY_HEADER",
	// ManagedIdentityCredential on Azure Machine Learning: the same.
	"MSI_SECRET",
}
