package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/azure"
)

// tokenDocument is the document of an aztoken:// reference.
type tokenDocument struct {
	AccessToken string `json:"access_token"`
	Expiration  string `json:"expiration"`
	Resource    string `json:"resource"`
	Principal   string `json:"principal,omitempty"`
	TenantID    string `json:"tenant_id,omitempty"`
	ClientID    string `json:"client_id,omitempty"`
}

// accessToken reads an aztoken://HOST[/PATH] reference: an access token
// for the resource https://HOST[/PATH] (scope RESOURCE/.default) from
// ward's own credential chain, the one the Key Vault store uses.
//
// Each read makes a new chain: a credential caches its tokens and hands
// the same one back until five minutes before it expires, and ward asks
// earlier than that (identity.azure.refresh_before). A managed identity
// and the Azure CLI cache tokens for the whole process or machine, so
// with them the same token may come back until then: ward keeps serving
// it and asks again.
func (s *Store) accessToken(ctx context.Context, ref resolve.Ref) (resolve.Secret, error) {
	if err := azure.CheckTokenRef(&ref); err != nil {
		err.Ref = ref.Raw
		return resolve.Secret{}, err
	}
	resource := azure.TokenResource(ref)
	cred, err := s.newCredential()
	if err != nil {
		return resolve.Secret{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{resource + "/.default"}})
	if err != nil {
		what := "get an access token for " + resource
		if errors.Is(err, context.DeadlineExceeded) {
			return resolve.Secret{}, fmt.Errorf("%s: no answer within %s (stores.azure.timeout): %w", what, s.timeout(), context.DeadlineExceeded)
		}
		return resolve.Secret{}, fmt.Errorf("%s: %s", what, describeCredentialError(err))
	}
	if tok.Token == "" || tok.ExpiresOn.IsZero() {
		return resolve.Secret{}, fmt.Errorf("get an access token for %s: the credential chain answered without a token or an expiry", resource)
	}
	doc := tokenDocument{AccessToken: tok.Token, Expiration: tok.ExpiresOn.UTC().Format(time.RFC3339), Resource: resource}
	doc.Principal, doc.TenantID, doc.ClientID = principalOf(tok.Token)
	value, err := json.Marshal(doc)
	if err != nil {
		return resolve.Secret{}, errors.New("encode the access token as JSON")
	}
	fields := map[string][]byte{
		"access_token": []byte(doc.AccessToken),
		"expiration":   []byte(doc.Expiration),
		"resource":     []byte(resource),
		"principal":    []byte(doc.Principal),
		"tenant_id":    []byte(doc.TenantID),
		"client_id":    []byte(doc.ClientID),
	}
	return resolve.Secret{Value: value, Fields: fields, Expires: tok.ExpiresOn.UTC().Truncate(time.Second)}, nil
}

// newCredential makes ward's credential chain, the Key Vault client's and
// aztoken://'s, with an empty token cache.
func (s *Store) newCredential() (azcore.TokenCredential, error) {
	cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: s.cloud(), Transport: s.http},
		DisableInstanceDiscovery: s.opts.DisableInstanceDiscovery,
		TenantID:                 s.opts.TenantID,
	})
	if err != nil {
		// Only an invalid AZURE_TOKEN_CREDENTIALS gets here; the message
		// names the variable and its value, not a secret.
		return nil, fmt.Errorf("set up the Azure credential chain: %w", err)
	}
	return cred, nil
}

// principalOf names who an Entra ID access token acts as, from its
// claims, read without verifying the signature (the token came from the
// identity platform over TLS; the names are for messages): a user, a
// managed identity or an application, its tenant, and the application's
// client id. Opaque tokens name nobody.
func principalOf(token string) (principal, tenant, clientID string) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", "", ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", "", ""
	}
	var c struct {
		AppID  string `json:"appid"`
		AZP    string `json:"azp"`
		OID    string `json:"oid"`
		UPN    string `json:"upn"`
		MIRID  string `json:"xms_mirid"`
		Tenant string `json:"tid"`
	}
	if json.Unmarshal(b, &c) != nil {
		return "", "", ""
	}
	clientID = c.AppID
	if clientID == "" {
		clientID = c.AZP
	}
	switch {
	case c.UPN != "":
		principal = "user " + c.UPN
	case c.MIRID != "":
		principal = "managed identity " + c.MIRID
	case clientID != "":
		principal = "application " + clientID
	case c.OID != "":
		principal = "object " + c.OID
	}
	return principal, c.Tenant, clientID
}
