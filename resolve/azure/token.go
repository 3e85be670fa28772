package azure

import (
	"fmt"
	"strings"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/conf"
)

// TokenScheme is the scheme of an access token for an Azure resource,
// from ward's own azidentity chain (scope RESOURCE/.default):
// aztoken://HOST[/PATH] stands for the resource https://HOST[/PATH]. Every
// read asks the chain afresh. Its document holds access_token,
// expiration (RFC 3339), resource and, where the token says, principal
// and tenant_id; identity.azure serves it to the child as App Service's
// managed identity endpoint would.
const TokenScheme = "aztoken"

// TokenExample is a valid aztoken:// reference, for hints.
const TokenExample = "aztoken://vault.azure.net"

// resourcePattern is an https resource without its scheme: a host, a
// port (emulators), and path segments, none starting with "." (a scope's
// /.default is no resource: see the manifest's identity.azure) (Go and
// ECMA-262 alike, unanchored).
const resourcePattern = `[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*`

var resourceRE = conf.Lazy(`^` + resourcePattern + `$`)

// tokenScheme is aztoken:// in the registry.
var tokenScheme = &resolve.Scheme{
	Name:       TokenScheme,
	Summary:    "An access token for an Azure resource from ward's own credential chain (serve it with identity: azure:)",
	Example:    TokenExample + "#access_token",
	ExampleVar: "AZURE_ACCESS_TOKEN",
	Check:      CheckTokenRef,
	Pattern: func() string {
		return conf.RefPattern(TokenScheme, resourcePattern, false)
	},
	Refresh: resolve.Polled,
}

// CheckTokenRef checks aztoken://HOST[/PATH], which takes no options.
func CheckTokenRef(r *resolve.Ref) *resolve.RefError {
	if !resourceRE.MatchString(r.Path) {
		return &resolve.RefError{Msg: fmt.Sprintf("%q is not a resource's host and path", r.Path), Hint: "write the resource without https://, e.g. " + TokenExample}
	}
	return resolve.AllowOptions(r)
}

// TokenResource is the resource an aztoken:// reference names, e.g.
// https://vault.azure.net.
func TokenResource(r resolve.Ref) string { return "https://" + r.Path }

// TokenRef is the aztoken:// reference of an https resource (a trailing
// "/" dropped), and false when resource is not an https URL a reference
// can name.
func TokenRef(resource string) (string, bool) {
	rest, ok := strings.CutPrefix(resource, "https://")
	rest = strings.TrimSuffix(rest, "/")
	if !ok || !resourceRE.MatchString(rest) {
		return "", false
	}
	return TokenScheme + "://" + rest, true
}

// ScopeResource reports whether s is a scope (RESOURCE/.default, in any
// case, with a trailing "/" or not), as MSAL takes it, and its resource.
func ScopeResource(s string) (resource string, scope bool) {
	t := strings.TrimSuffix(s, "/")
	const suffix = "/.default"
	if len(t) < len(suffix) || !strings.EqualFold(t[len(t)-len(suffix):], suffix) {
		return "", false
	}
	return t[:len(t)-len(suffix)], true
}

// ResourceKey is how resources are compared, by their URL or their
// aztoken:// reference: the scheme and host in any case (App Service
// takes https://VAULT.azure.net for https://vault.azure.net), without a
// trailing "/", the path as written.
func ResourceKey(r string) string {
	r = strings.TrimSuffix(r, "/")
	scheme, rest, ok := strings.Cut(r, "://")
	if !ok {
		return r
	}
	end := strings.IndexByte(rest, '/')
	if end < 0 {
		end = len(rest)
	}
	return strings.ToLower(scheme) + "://" + strings.ToLower(rest[:end]) + rest[end:]
}

// ResourceURLPattern is the pattern of an https resource an aztoken://
// reference can name, anchored (Go and ECMA-262 alike): https://HOST[/PATH],
// with an optional trailing "/".
func ResourceURLPattern() string { return `^https://` + resourcePattern + `/?$` }
