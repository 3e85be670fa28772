package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/azure"
	"github.com/wardsecrets/ward/resolve/certerr"
)

// The hints the errors give.
const (
	grantHint = `grant ward's identity the role "Key Vault Secrets User" on the vault or the secret ` +
		`(az role assignment create --role "Key Vault Secrets User" --assignee <identity> --scope <vault id>), ` +
		`or, on a vault that uses access policies, the secret permission "get" ` +
		`(az keyvault set-policy --name <vault> --secret-permissions get --object-id <identity>)`
	chainNeeds = "set AZURE_TENANT_ID and AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH (a service principal), " +
		"or AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE (workload identity), " +
		"or run on an Azure host with a managed identity, or run az login"
)

// target names what one read asked for: never a value.
type target struct {
	vault, name, version string
}

func (t target) String() string {
	if t.version != "" {
		return fmt.Sprintf("version %q of secret %q in key vault %s", t.version, t.name, t.vault)
	}
	return fmt.Sprintf("secret %q in key vault %s", t.name, t.vault)
}

// fail turns a failed GetSecret into an error that names the read and
// says what to check. Retries are over by now: azcore made them. The
// message is built from status codes, error codes and the first line of
// the service's message, scrubbed; the SDK's own error text (which dumps
// whole responses) is never passed on.
func (t target) fail(err error, tries *attempts, timeout time.Duration) error {
	sent, throttled, wait := tries.snapshot()
	if ce, ok := isCredentialError(err); ok {
		return fmt.Errorf("read %s: %s", t, describeCredentialError(ce.err))
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return t.failResponse(re, throttled, wait, time.Since(tries.start))
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) && throttled > 0:
		return fmt.Errorf("read %s: key vault kept throttling (HTTP 429) and ward gave up after %d tries in %s (stores.azure.timeout is %s)",
			t, throttled, time.Since(tries.start).Round(time.Millisecond), timeout)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("read %s: no answer within %s (stores.azure.timeout), after %d requests: %w", t, timeout, sent, context.DeadlineExceeded)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("read %s: %w", t, context.Canceled)
	case certerr.Is(err):
		return fmt.Errorf("read %s: %s: %s", t, scrub(firstLine(err.Error())), certerr.Hint())
	case noSuchHost(err) != "":
		return fmt.Errorf("read %s: no such host %s (DNS says the name does not exist): check the vault name in the reference (Key Vault gives each vault a DNS name, %s in the public cloud, and a vault that does not exist, or was deleted, has none); for a private endpoint, check that its private DNS zone (privatelink.vaultcore.azure.net) answers on ward's network",
			t, noSuchHost(err), "NAME"+azure.PublicVaultSuffix)
	case strings.Contains(err.Error(), "doesn't match the requested domain"):
		return fmt.Errorf("read %s: the vault's authentication challenge names a resource outside its host's domain, so the Azure SDK will not send it a token; "+
			"if the vault is reached by IP address or a custom host name (a private endpoint), set stores.azure.disable_challenge_resource_verification: true", t)
	}
	return fmt.Errorf("read %s: %s", t, scrub(firstLine(err.Error())))
}

// failResponse explains an error answer from the vault.
func (t target) failResponse(re *azcore.ResponseError, throttled int, wait, elapsed time.Duration) error {
	code, inner, msg := kvError(re.RawResponse)
	switch {
	case re.StatusCode == http.StatusNotFound:
		return fmt.Errorf("read %s: %s: %w", t, notFoundNote(t), resolve.ErrNotFound)
	case re.StatusCode == http.StatusForbidden && inner == "SecretDisabled":
		what, id := "its current version is", t.vault+"/secrets/"+t.name
		if t.version != "" {
			what, id = "that version is", id+"/"+t.version
		}
		return fmt.Errorf("read %s: the secret is disabled (%s): enable it (az keyvault secret set-attributes --id %s --enabled true) or name an enabled version with ?version=ID", t, what, id)
	case re.StatusCode == http.StatusForbidden && inner == "ForbiddenByFirewall":
		return fmt.Errorf("read %s: the vault's firewall refused ward's network address (ForbiddenByFirewall): allow it in the vault's networking settings or reach the vault through a private endpoint", t)
	case re.StatusCode == http.StatusForbidden && inner == "ForbiddenByConnection":
		return fmt.Errorf("read %s: the vault's public network access is disabled, and ward's connection did not come through its private endpoint (ForbiddenByConnection): "+
			"check that the vault's host name resolves to the private endpoint's address on ward's network (the private DNS zone privatelink.vaultcore.azure.net linked to ward's virtual network), or allow public access from ward's network", t)
	case re.StatusCode == http.StatusForbidden:
		return fmt.Errorf("read %s: access denied (%s): %s", t, serviceSays(code, inner, msg), grantHint)
	case re.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("read %s: the vault rejected ward's access token (%s): check that AZURE_TENANT_ID (or stores.azure.tenant_id) is the vault's tenant and the identity exists there", t, serviceSays(code, inner, msg))
	case re.StatusCode == http.StatusTooManyRequests:
		note := ""
		if wait > 0 {
			note = fmt.Sprintf("; the vault asked to wait %s more, longer than ward waits (at most %s at a time, and within stores.azure.timeout)", wait, MaxRetryDelay)
		}
		return fmt.Errorf("read %s: key vault kept throttling (HTTP 429) and ward gave up after %d tries in %s%s", t, throttled, elapsed.Round(time.Millisecond), note)
	case re.StatusCode >= 500:
		return fmt.Errorf("read %s: key vault failed (HTTP %d, %s) after %d retries", t, re.StatusCode, serviceSays(code, inner, msg), MaxRetries)
	}
	return fmt.Errorf("read %s: key vault refused the request (HTTP %d, %s)", t, re.StatusCode, serviceSays(code, inner, msg))
}

// noSuchHost is the host name DNS said does not exist, "" for any other
// error.
func noSuchHost(err error) string {
	h, _ := certerr.NoSuchHost(err)
	return h
}

func notFoundNote(t target) string {
	if t.version != "" {
		return "the vault has no such version of the secret, or no such secret"
	}
	return "the vault has no such secret (or it was deleted; a deleted secret can be recovered while the vault keeps it)"
}

// kvError reads Key Vault's error body: {"error":{"code","message",
// "innererror":{"code"}}}. An error body never holds a secret value.
func kvError(resp *http.Response) (code, inner, msg string) {
	if resp == nil {
		return "", "", ""
	}
	body, err := runtime.Payload(resp)
	if err != nil {
		return "", "", ""
	}
	var e struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError *struct {
				Code string `json:"code"`
			} `json:"innererror"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return "", "", ""
	}
	if e.Error.InnerError != nil {
		inner = e.Error.InnerError.Code
	}
	return e.Error.Code, inner, e.Error.Message
}

// serviceSays renders a vault's error code, inner code and message: the
// first line, and the line naming the caller (which identity was refused).
func serviceSays(code, inner, msg string) string {
	parts := []string{}
	if code != "" {
		c := code
		if inner != "" {
			c += "/" + inner
		}
		parts = append(parts, c)
	}
	if l := firstLine(msg); l != "" {
		parts = append(parts, strings.TrimSuffix(l, "."))
	}
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "Caller:") {
			parts = append(parts, l)
		}
	}
	if len(parts) == 0 {
		return "no error details"
	}
	return scrub(strings.Join(parts, ": "))
}

// describeCredentialError summarises a failure of DefaultAzureCredential:
// what each credential said (the first line of each), the error Entra ID
// or a managed identity endpoint answered with, and what the chain needs.
func describeCredentialError(err error) string {
	tried := credentialsTried(err.Error())
	var af *azidentity.AuthenticationFailedError
	refusal, fromEntra := "", false
	if errors.As(err, &af) {
		refusal, fromEntra = identityRefusal(af.RawResponse)
		// IMDS answers in OAuth's shape too ({"error": ...}), as may an
		// App Service endpoint: the managed identity's refusal was said
		// to be Entra ID's, with advice on a client secret no one set.
		fromEntra = fromEntra && !managedIdentityAnswer(af.RawResponse)
	}
	switch {
	case fromEntra:
		return fmt.Sprintf("Microsoft Entra ID refused ward's Azure credential (%s): check AZURE_TENANT_ID, AZURE_CLIENT_ID and the client secret, certificate or federated credential that goes with them; credentials tried: %s",
			refusal, tried)
	case strings.Contains(err.Error(), "AdditionallyAllowedTenants"):
		return fmt.Sprintf("the vault is in another tenant than ward's Azure identity: credentials tried: %s; authenticate in the vault's tenant (AZURE_TENANT_ID or stores.azure.tenant_id), or list it in AZURE_ADDITIONALLY_ALLOWED_TENANTS", tried)
	case refusal != "":
		return fmt.Sprintf("no Azure credential could get a token: credentials tried: %s (the managed identity endpoint answered %s); %s", tried, refusal, chainNeeds)
	}
	return fmt.Sprintf("no Azure credential could get a token: credentials tried: %s; %s", tried, chainNeeds)
}

// credentialsTried lists the headline of each credential the chain tried.
// azidentity writes them one a line, indented by one tab, after
// "Attempted credentials:", their further lines by two; a headline that
// ends with a colon goes on with its next line, which says why (MSAL's
// "server response error:" is followed by the cause, a bound's error
// naming the endpoint among them). A message in another shape is
// summarised by its first line.
func credentialsTried(msg string) string {
	var out []string
	if _, rest, ok := strings.Cut(msg, "Attempted credentials:"); ok {
		lines := strings.Split(rest, "\n")
		for i, l := range lines {
			if !strings.HasPrefix(l, "\t") || strings.HasPrefix(l, "\t\t") {
				continue
			}
			l = strings.TrimSpace(l)
			if strings.HasSuffix(l, ":") && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "\t\t") {
				l += " " + strings.TrimSpace(lines[i+1])
			}
			out = append(out, clip(l, 400))
		}
	}
	if len(out) == 0 {
		out = append(out, clip(firstLine(msg), 240))
	}
	return scrub(strings.Join(out, "; "))
}

// managedIdentityAnswer reports whether resp came from a managed
// identity endpoint (IMDS, or the one IDENTITY_ENDPOINT, MSI_ENDPOINT or
// IMDS_ENDPOINT names), not from Entra ID.
func managedIdentityAnswer(resp *http.Response) bool {
	if resp == nil || resp.Request == nil || resp.Request.URL == nil {
		return false
	}
	u := resp.Request.URL
	if u.Hostname() == "169.254.169.254" || strings.HasPrefix(u.Path, "/metadata/identity/") {
		return true
	}
	for _, k := range []string{"IDENTITY_ENDPOINT", "MSI_ENDPOINT", "IMDS_ENDPOINT"} {
		if e, err := url.Parse(os.Getenv(k)); err == nil && e.Host != "" && e.Host == u.Host {
			return true
		}
	}
	return false
}

// identityRefusal reads the error an identity endpoint answered with:
// Entra ID's OAuth error ({"error","error_description"}, fromEntra) or a
// managed identity endpoint's ({"message"}). Neither echoes a credential.
func identityRefusal(resp *http.Response) (refusal string, fromEntra bool) {
	if resp == nil {
		return "", false
	}
	s := fmt.Sprintf("HTTP %d", resp.StatusCode)
	body, err := runtime.Payload(resp)
	if err != nil {
		return s, false
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Message     string `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil {
		return s, false
	}
	desc := e.Message
	if e.Error != "" {
		s += " " + e.Error
		desc = e.Description
	}
	if d := clip(firstLine(desc), 300); d != "" {
		s += ": " + d
	}
	return scrub(s), e.Error != ""
}

var (
	// jwtRE matches a JSON Web Token (an access token, a federated token,
	// a client assertion).
	jwtRE = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`)
	// bearerRE matches an Authorization header's value.
	bearerRE = regexp.MustCompile(`(?i)bearer\s+[A-Za-z0-9._~+/=-]+`)
)

// secretEnv are the variables whose values must never appear in a
// message; the others in azure.CredentialEnv hold names and paths.
var secretEnv = []string{"AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_PASSWORD", "IDENTITY_HEADER", "MSI_SECRET"}

// scrub removes what could be a credential from text that came from the
// SDK or a service: the values of the secret variables, tokens and
// bearer headers. The services do not echo credentials; this makes sure.
func scrub(s string) string {
	for _, k := range secretEnv {
		if v := os.Getenv(k); len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "[redacted "+k+"]")
		}
	}
	s = jwtRE.ReplaceAllString(s, "[redacted token]")
	return bearerRE.ReplaceAllString(s, "Bearer [redacted]")
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(strings.TrimSuffix(l, "\r"))
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
