// Package gcp is what ward knows about Google Cloud Secret Manager without
// Google's libraries: the gcpsm:// reference grammar, the stores.gcp
// settings and the environment variables Application Default Credentials
// read a credential from. The store itself, on
// google.golang.org/api/secretmanager/v1, is in gcp/store, so that a ward
// without gcpsm:// references never pays for the library's package
// initialisers. This package imports nothing beyond the standard library
// and resolve, and must stay that way.
package gcp

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Scheme is the reference scheme of Secret Manager secrets.
const Scheme = "gcpsm"

// The defaults of Options.
const (
	// DefaultEndpoint is the global Secret Manager API.
	DefaultEndpoint = "https://secretmanager.googleapis.com/"
	// DefaultRegionalEndpoint is the API of regional secrets; LocationVar
	// stands for the secret's location.
	DefaultRegionalEndpoint = "https://secretmanager." + LocationVar + ".rep.googleapis.com/"
	// DefaultIAMEndpoint is the IAM Credentials API.
	DefaultIAMEndpoint = "https://iamcredentials.googleapis.com/"
	// DefaultTimeout bounds one read: its retries, and a token fetch when
	// one is due, included.
	DefaultTimeout = 30 * time.Second
)

// LocationVar is replaced by a regional secret's location in
// Options.RegionalEndpoint.
const LocationVar = "{location}"

// Options are the stores.gcp settings. They travel to the store's helper
// program as JSON, so they hold settings, never a credential: credentials
// come from Application Default Credentials.
type Options struct {
	// Endpoint is the URL of the global Secret Manager API, for Private
	// Service Connect (https://secretmanager-ENDPOINT.p.googleapis.com/) or
	// a restricted VIP. Default DefaultEndpoint.
	Endpoint string `json:"endpoint,omitempty"`
	// RegionalEndpoint is the URL of the API that serves regional secrets
	// (?location=); "{location}" in it stands for the secret's location,
	// and a URL without it serves every location. Default
	// DefaultRegionalEndpoint.
	RegionalEndpoint string `json:"regional_endpoint,omitempty"`
	// IAMEndpoint is the URL of the IAM Credentials API, which gcpsa://
	// tokens come from. Default DefaultIAMEndpoint.
	IAMEndpoint string `json:"iam_endpoint,omitempty"`
	// QuotaProject is the project billed for ward's requests and whose
	// quota they use (the X-Goog-User-Project header). Default: the
	// credential's quota project, or $GOOGLE_CLOUD_QUOTA_PROJECT.
	QuotaProject string `json:"quota_project,omitempty"`
	// Timeout bounds one read, its retries after throttling or server
	// errors and a token fetch included. 0 means DefaultTimeout.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// Validate reports the first setting that cannot work, naming it by its
// stores.gcp key.
func (o Options) Validate() error {
	if err := checkEndpoint(o.Endpoint); err != nil {
		return fmt.Errorf("stores.gcp.endpoint: %w", err)
	}
	if err := checkEndpoint(strings.ReplaceAll(o.RegionalEndpoint, LocationVar, "location")); err != nil {
		return fmt.Errorf("stores.gcp.regional_endpoint: %w", err)
	}
	if err := checkEndpoint(o.IAMEndpoint); err != nil {
		return fmt.Errorf("stores.gcp.iam_endpoint: %w", err)
	}
	if o.QuotaProject != "" && !validProject(o.QuotaProject) {
		return fmt.Errorf("stores.gcp.quota_project: %q is not a project id", o.QuotaProject)
	}
	if o.Timeout < 0 {
		return errors.New("stores.gcp.timeout: negative")
	}
	return nil
}

// BaseURL returns the API endpoint that serves secrets in location ("" for
// global secrets), ending in "/".
func (o Options) BaseURL(location string) string {
	if location == "" {
		return withSlash(or(o.Endpoint, DefaultEndpoint))
	}
	return withSlash(strings.ReplaceAll(or(o.RegionalEndpoint, DefaultRegionalEndpoint), LocationVar, location))
}

// IAMURL is the IAM Credentials API's endpoint, ending in "/".
func (o Options) IAMURL() string { return withSlash(or(o.IAMEndpoint, DefaultIAMEndpoint)) }

// ReadTimeout is Timeout with its default applied.
func (o Options) ReadTimeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

// CredentialEnv lists the environment variables Google's Application
// Default Credentials read a credential from, or that point at one: ward
// strips them from the child's environment unless the manifest declares
// them. Plain settings (GOOGLE_CLOUD_PROJECT, GOOGLE_CLOUD_QUOTA_PROJECT,
// GCE_METADATA_HOST, which names a server any process on the machine can
// ask anyway) stay.
var CredentialEnv = []string{
	// A service account key, an external_account (workload identity
	// federation) or impersonated_service_account configuration, or a
	// user's refresh token: the first place ADC looks.
	"GOOGLE_APPLICATION_CREDENTIALS",
	// gcloud's configuration directory, which holds the user's refresh
	// tokens and, for the ADC libraries of other languages, the
	// application_default_credentials.json file.
	"CLOUDSDK_CONFIG",
	// The certificate configuration (client certificate and private key)
	// of certificate-based access and X.509 workload identity federation.
	"GOOGLE_API_CERTIFICATE_CONFIG",
}

func checkEndpoint(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is not an http(s) URL, e.g. https://secretmanager.googleapis.com/", s)
	}
	return nil
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

func withSlash(s string) string {
	if strings.HasSuffix(s, "/") {
		return s
	}
	return s + "/"
}
