// Package identity serves the child a cloud identity the way the platform
// would: ward keeps the current short-lived credentials from a source,
// refreshes them ahead of expiry, and answers the child's SDK on a
// loopback endpoint in the platform's own protocol, from which every SDK
// refreshes by itself: the credentials rotate without the child
// restarting and the child never holds a long-lived key.
//
//   - AWS (server.go): credentials from a role of Vault's AWS secrets
//     engine or from STS AssumeRole made with ward's own credentials, in
//     the container-credentials format (AWS_CONTAINER_CREDENTIALS_FULL_URI,
//     with an authorization token the SDK reads from
//     AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE).
//   - Google Cloud (metadata.go): a service account's access token from
//     the IAM Credentials API, on a subset of the GCE metadata server
//     (GCE_METADATA_HOST).
//   - Azure (msi.go): access tokens for named resources from ward's own
//     azidentity chain, on App Service's managed identity protocol
//     (IDENTITY_ENDPOINT, IDENTITY_HEADER).
//
// The endpoint is a small HTTP/1.1 responder written on package net, not
// net/http: ward's own binary must not link net/http, whose package
// initialisers cost about 3 ms on every start of ward, with or without an
// identity in the manifest. It reads one request head (at most 8 KiB,
// within a read deadline), answers GET with the Authorization header's
// token only, and closes the connection after one answer that carries a
// Content-Length: all that the SDKs' credential clients need of HTTP.
package identity

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/conf"
)

// Credentials are temporary cloud credentials: AWS keys, or an OAuth
// access token (Google Cloud, Azure). Their String, GoString and LogValue
// never show the keys or the token, so that printing or logging them by
// mistake leaks nothing.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// Token is an OAuth access token (Google Cloud, Azure); empty for
	// AWS.
	Token string
	// Scopes are a Google token's OAuth scopes.
	Scopes []string
	// Resource is the Azure resource a token is for.
	Resource string
	// ClientID is the Azure application a token acts as, when it says.
	ClientID string
	// Expires is when AWS stops accepting them.
	Expires time.Time
	// Issued is when ward asked for them: their lifetime, as ward counts
	// it, runs from Issued to Expires.
	Issued time.Time
	// Identity is who they act as, when the source says ("" when it does
	// not): an ARN, a service account, an Entra ID principal.
	Identity string
	// Lease is the Vault lease they came with (nil for other sources).
	Lease *resolve.Lease
}

// Secrets are the parts of the credentials that must never be shown:
// the secret key and session token, or the access token.
func (c Credentials) Secrets() []string {
	var out []string
	for _, v := range []string{c.SecretAccessKey, c.SessionToken, c.Token} {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Lifetime is how long the credentials live from when ward asked for
// them.
func (c Credentials) Lifetime() time.Duration { return c.Expires.Sub(c.Issued) }

// String names the credentials without their keys.
func (c Credentials) String() string {
	who := c.Identity
	if who == "" {
		who = "an unnamed identity"
	}
	what := "AWS credentials"
	switch {
	case c.Resource != "":
		what = "an access token for " + c.Resource
	case c.Token != "":
		what = "an access token"
	}
	return fmt.Sprintf("%s of %s, expiring %s", what, who, c.Expires.UTC().Format(time.RFC3339))
}

// GoString is String: %#v shows no key either.
func (c Credentials) GoString() string { return c.String() }

// LogValue is what a log record shows of the credentials.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("identity", c.Identity), slog.Time("expires", c.Expires.UTC()))
}

// The field names a credentials document may use: awssts:// documents,
// Vault's AWS secrets engine, and the container-credentials format.
var (
	accessKeyFields  = []string{"access_key_id", "access_key", "AccessKeyId"}
	secretKeyFields  = []string{"secret_access_key", "secret_key", "SecretAccessKey"}
	tokenFields      = []string{"session_token", "security_token", "Token", "SessionToken"}
	expirationFields = []string{"expiration", "Expiration"}
	identityFields   = []string{"assumed_role_arn", "arn", "RoleArn", "role_arn"}
)

// accessKeyRE is what AWS access key ids look like; a document whose key
// does not is not AWS credentials (and is not quoted).
var accessKeyRE = conf.Lazy(`^[A-Z0-9]{16,128}$`)

// leaseSlack is taken off a lease's TTL to date the credentials' expiry:
// Vault counts the TTL in whole seconds from an expiry that STS gives in
// whole seconds too, so the TTL may overstate the credentials' life by up
// to a second, and ward must never serve them past their real end.
const leaseSlack = time.Second

// FromDocument reads temporary AWS credentials from a JSON document: the
// awssts:// document (access_key_id, secret_access_key, session_token,
// expiration), or Vault's AWS secrets engine's (access_key, secret_key,
// security_token, with a lease). They expire at the document's
// expiration, else when the lease ends, counted from issued (less
// leaseSlack). Errors name fields, never values.
func FromDocument(doc []byte, issued time.Time, lease *resolve.Lease) (Credentials, error) {
	fields, err := resolve.JSONFields(doc)
	if err != nil {
		return Credentials{}, err
	}
	pick := func(names []string) string {
		for _, n := range names {
			if v, ok := fields[n]; ok && len(v) > 0 {
				return string(v)
			}
		}
		return ""
	}
	c := Credentials{
		AccessKeyID:     pick(accessKeyFields),
		SecretAccessKey: pick(secretKeyFields),
		SessionToken:    pick(tokenFields),
		Issued:          issued,
		Identity:        pick(identityFields),
		Lease:           lease,
	}
	switch {
	case c.AccessKeyID == "" || c.SecretAccessKey == "":
		return Credentials{}, fmt.Errorf("the document holds no AWS access key and secret key (it has %s)", fieldNames(fields))
	case !accessKeyRE.MatchString(c.AccessKeyID):
		return Credentials{}, errors.New("the document's access key id is not an AWS access key id")
	case c.SessionToken == "":
		return Credentials{}, errors.New("the document holds long-lived keys (no session token): an identity serves temporary credentials; for Vault, give the role credential_type assumed_role, federation_token or session_token")
	}
	if exp := pick(expirationFields); exp != "" {
		t, err := time.Parse(time.RFC3339, exp)
		if err != nil {
			return Credentials{}, errors.New("the document's expiration is not an RFC 3339 time")
		}
		c.Expires = t
	} else if lease != nil && lease.TTL > 0 {
		c.Expires = issued.Add(lease.TTL - leaseSlack)
	} else {
		return Credentials{}, errors.New("the document says nothing of when the credentials expire: no expiration field and no lease")
	}
	if !c.Expires.After(issued) {
		return Credentials{}, fmt.Errorf("the credentials had expired when ward received them (at %s)", c.Expires.UTC().Format(time.RFC3339))
	}
	return c, nil
}

func fieldNames(fields map[string][]byte) string {
	if len(fields) == 0 {
		return "no fields"
	}
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, fmt.Sprintf("%q", n))
	}
	sort.Strings(names)
	return "fields " + strings.Join(names, ", ")
}
