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
	"time"
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
