package gcp

import (
	"fmt"
	"strings"
	"time"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/conf"
)

// TokenScheme is the scheme of a service account's access token that
// ward's helper asks the IAM Credentials API for
// (projects/-/serviceAccounts/EMAIL:generateAccessToken), with ward's own
// Application Default Credentials: gcpsa://EMAIL[?scopes=&lifetime=].
// Every read is a new token. Its document holds access_token, expiration
// (RFC 3339), service_account and scopes (comma-separated); identity.gcp serves it to the
// child as the GCE metadata server would.
const TokenScheme = "gcpsa"

// DefaultTokenScope is the scope of a gcpsa:// token when the reference
// names none: every Google Cloud API, IAM deciding what the account may
// do.
const DefaultTokenScope = "https://www.googleapis.com/auth/cloud-platform"

// scopePrefix is where Google's OAuth scopes live; a scope given without
// it (cloud-platform) is taken to be under it.
const scopePrefix = "https://www.googleapis.com/auth/"

// DefaultTokenLifetime is a gcpsa:// token's lifetime when the reference
// gives none, and the longest the IAM Credentials API grants unless the
// organisation policy constraints/iam.allowServiceAccountCredentialLifetimeExtension
// allows up to MaxTokenLifetime.
const DefaultTokenLifetime = time.Hour

// MaxTokenLifetime is the longest lifetime generateAccessToken grants.
const MaxTokenLifetime = 12 * time.Hour

// Patterns of gcpsa:// references (Go and ECMA-262 alike, unanchored).
const (
	// serviceAccountPattern is a service account's email: a user-managed
	// account (NAME@PROJECT.iam.gserviceaccount.com) or a Google-managed
	// one (PROJECT_NUMBER-compute@developer.gserviceaccount.com,
	// PROJECT@appspot.gserviceaccount.com).
	serviceAccountPattern = `[a-z0-9][a-z0-9._-]{0,99}@[a-z0-9.-]+\.gserviceaccount\.com`
	// scopesPattern is a comma-separated list of OAuth scopes: URLs, or
	// names under https://www.googleapis.com/auth/.
	scopesPattern = `[A-Za-z0-9._:/-]+(,[A-Za-z0-9._:/-]+)*`
	// tokenLifetimePattern is a Go duration without a sign.
	tokenLifetimePattern = `([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))*`
)

var (
	serviceAccountRE = conf.Lazy(`^` + serviceAccountPattern + `$`)
	scopesRE         = conf.Lazy(`^` + scopesPattern + `$`)
	tokenLifetimeRE  = conf.Lazy(`^` + tokenLifetimePattern + `$`)
	// userManagedRE reads the project out of a user-managed account,
	// appEngineRE out of App Engine's default one.
	userManagedRE = conf.Lazy(`^[^@]+@(` + accountProjectPattern + `)\.iam\.gserviceaccount\.com$`)
	appEngineRE   = conf.Lazy(`^(` + accountProjectPattern + `)@appspot\.gserviceaccount\.com$`)
)

// accountProjectPattern is a project id as an account's email holds it.
const accountProjectPattern = `[a-z][a-z0-9-]{4,28}[a-z0-9]`

// ProjectKnownPattern matches the gcpsa:// references whose account's
// email names its project (see ServiceAccountProject; Go and ECMA-262
// alike), and ServiceAgentPattern those of Google's service agents,
// whose email names a project of Google's (gcp-sa-pubsub), not the
// user's: a manifest must give the project of the others.
const (
	ProjectKnownPattern = `^` + TokenScheme + `://([^@?#]+@` + accountProjectPattern + `\.iam|` + accountProjectPattern + `@appspot)\.gserviceaccount\.com([?]|$)`
	ServiceAgentPattern = `^` + TokenScheme + `://(service-[0-9]+@[^?#]*|[^@?#]+@gcp-sa-[^?#]*)\.gserviceaccount\.com([?]|$)`
)

// TokenExample is a valid gcpsa:// reference, for hints.
const TokenExample = "gcpsa://app@my-project.iam.gserviceaccount.com?lifetime=1h"

// tokenScheme is gcpsa:// in the registry.
var tokenScheme = &resolve.Scheme{
	Name:       TokenScheme,
	Summary:    "A Google service account's access token, from the IAM Credentials API with ward's own credentials (serve it with identity: gcp:)",
	Example:    TokenExample + "#access_token",
	ExampleVar: "GCP_ACCESS_TOKEN",
	Check:      CheckTokenRef,
	Pattern: func() string {
		return conf.RefPattern(TokenScheme, serviceAccountPattern, false,
			conf.RefOption{Name: "scopes", Value: scopesPattern},
			conf.RefOption{Name: "lifetime", Value: tokenLifetimePattern})
	},
	Refresh: resolve.Polled,
}

// CheckTokenRef checks gcpsa://EMAIL[?scopes=A,B&lifetime=D].
func CheckTokenRef(r *resolve.Ref) *resolve.RefError {
	if !serviceAccountRE.MatchString(r.Path) {
		return &resolve.RefError{Msg: fmt.Sprintf("%q is not a service account's email", r.Path), Hint: "e.g. " + TokenExample}
	}
	if err := resolve.AllowOptions(r, "scopes", "lifetime"); err != nil {
		return err
	}
	if v, ok := r.Options["scopes"]; ok && !scopesRE.MatchString(v) {
		return &resolve.RefError{Msg: fmt.Sprintf("invalid scopes %q", v), Hint: "a comma-separated list such as cloud-platform or https://www.googleapis.com/auth/devstorage.read_only"}
	}
	if v, ok := r.Options["lifetime"]; ok {
		d, err := time.ParseDuration(v)
		if !tokenLifetimeRE.MatchString(v) || err != nil || d < time.Second || d > MaxTokenLifetime {
			return &resolve.RefError{Msg: fmt.Sprintf("invalid lifetime %q", v), Hint: "a duration up to 1h (12h where the organisation allows it), such as 30m"}
		}
	}
	return nil
}

// TokenScopes are the OAuth scopes a gcpsa:// reference asks for, each a
// full URL.
func TokenScopes(r resolve.Ref) []string {
	v := r.Options["scopes"]
	if v == "" {
		return []string{DefaultTokenScope}
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if !strings.Contains(s, "://") {
			s = scopePrefix + s
		}
		out = append(out, s)
	}
	return out
}

// TokenLifetime is the lifetime a gcpsa:// reference asks for.
func TokenLifetime(r resolve.Ref) time.Duration {
	if d, err := time.ParseDuration(r.Options["lifetime"]); err == nil {
		return d
	}
	return DefaultTokenLifetime
}

// ServiceAccountProject is the project of a user-managed service account
// (NAME@PROJECT.iam.gserviceaccount.com) or of App Engine's default one
// (PROJECT@appspot.gserviceaccount.com), "" for other accounts: Compute
// Engine's default one names its project's number, and a service agent
// (service-NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com) a project of
// Google's.
func ServiceAccountProject(email string) string {
	// A service agent's local part is service-PROJECT_NUMBER, whatever
	// Google's project its domain names (compute-system,
	// container-engine-robot, gcp-sa-*).
	local, _, _ := strings.Cut(email, "@")
	if n, ok := strings.CutPrefix(local, "service-"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
		return ""
	}
	if m := userManagedRE.FindStringSubmatch(email); m != nil && !strings.HasPrefix(m[1], "gcp-sa-") {
		return m[1]
	}
	if m := appEngineRE.FindStringSubmatch(email); m != nil {
		return m[1]
	}
	return ""
}

// ProjectIDPattern is the pattern of a project id, anchored (Go and
// ECMA-262 alike).
func ProjectIDPattern() string { return projectIDRE.String() }

// IsProjectID reports whether p is a project id.
func IsProjectID(p string) bool { return projectIDRE.MatchString(p) }
