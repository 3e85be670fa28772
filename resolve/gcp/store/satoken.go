package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	iamcredentials "google.golang.org/api/iamcredentials/v1"
	"google.golang.org/api/option"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/gcp"
)

// tokenDocument is the document of a gcpsa:// reference.
type tokenDocument struct {
	AccessToken    string `json:"access_token"`
	Expiration     string `json:"expiration"`
	ServiceAccount string `json:"service_account"`
	Scopes         string `json:"scopes"`
}

// accessToken reads a gcpsa://EMAIL reference: it asks the IAM
// Credentials API for an access token of the service account
// (projects/-/serviceAccounts/EMAIL:generateAccessToken) with the
// reference's scopes and lifetime, authenticated with ward's own
// Application Default Credentials, which need
// iam.serviceAccounts.getAccessToken on the account
// (roles/iam.serviceAccountTokenCreator). Every read is a new token.
func (s *Store) accessToken(ctx context.Context, ref resolve.Ref) (resolve.Secret, error) {
	if err := gcp.CheckTokenRef(&ref); err != nil {
		err.Ref = ref.Raw
		return resolve.Secret{}, err
	}
	email := ref.Path
	ctx, cancel := context.WithTimeout(ctx, s.opts.ReadTimeout())
	defer cancel()
	// The Secret Manager client is made too, and unused: what is wanted
	// is the authenticated HTTP client both APIs share.
	_, c, err := s.service(ctx, "")
	if err != nil {
		return resolve.Secret{}, err
	}
	svc, err := iamcredentials.NewService(ctx, option.WithHTTPClient(c.client), option.WithEndpoint(c.inUniverse(s.opts.IAMURL())), option.WithLogger(discard))
	if err != nil {
		return resolve.Secret{}, fmt.Errorf("make the IAM Credentials client: %w", err)
	}
	scopes := gcp.TokenScopes(ref)
	lifetime := gcp.TokenLifetime(ref)
	req := &iamcredentials.GenerateAccessTokenRequest{
		Scope:    scopes,
		Lifetime: strconv.FormatInt(int64(lifetime/time.Second), 10) + "s",
	}
	out, err := svc.Projects.ServiceAccounts.GenerateAccessToken("projects/-/serviceAccounts/"+email, req).Context(ctx).Do()
	if err != nil {
		return resolve.Secret{}, tokenFailure(email, c, err)
	}
	expires, perr := time.Parse(time.RFC3339Nano, out.ExpireTime)
	if out.AccessToken == "" || perr != nil {
		return resolve.Secret{}, fmt.Errorf("get an access token of service account %s: the IAM Credentials API answered without a token or an expiry", email)
	}
	doc := tokenDocument{AccessToken: out.AccessToken, Expiration: expires.UTC().Format(time.RFC3339), ServiceAccount: email, Scopes: strings.Join(scopes, ",")}
	value, err := json.Marshal(doc)
	if err != nil {
		return resolve.Secret{}, errors.New("encode the access token as JSON")
	}
	return resolve.Secret{Value: value, Fields: map[string][]byte{
		"access_token":    []byte(doc.AccessToken),
		"expiration":      []byte(doc.Expiration),
		"service_account": []byte(email),
		"scopes":          []byte(doc.Scopes),
	}, Expires: expires.UTC().Truncate(time.Second)}, nil
}

// tokenFailure names the service account and what to check; the IAM
// Credentials API's error bodies hold no token.
func tokenFailure(email string, c *credentials, err error) error {
	what := "get an access token of service account " + email
	who := "ward's Google identity"
	if c.identity != "" {
		who = c.identity
	}
	api, ok := asAPIError(err)
	switch {
	case !ok && errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: no answer from the IAM Credentials API in time (stores.gcp.timeout): %w", what, context.DeadlineExceeded)
	case !ok && isAuthError(err):
		return fmt.Errorf("%s: get a Google access token with %s: %s", what, c.source, authFailure(err, "", c.kind))
	case !ok:
		return fmt.Errorf("%s from the IAM Credentials API: %w", what, err)
	case api.serviceDisabled():
		return api.notEnabled(what, "IAM Service Account Credentials API", "iamcredentials.googleapis.com")
	case api.perimeter():
		return api.outsidePerimeter(what, "iamcredentials.googleapis.com")
	case api.code == http.StatusForbidden:
		return fmt.Errorf("%s: the IAM Credentials API denied it to %s: grant %s roles/iam.serviceAccountTokenCreator (iam.serviceAccounts.getAccessToken) on the service account, and check that the account exists (%w)", what, who, who, api)
	case api.code == http.StatusNotFound:
		return fmt.Errorf("%s: no such service account: %w (%w)", what, resolve.ErrNotFound, api)
	case api.code == http.StatusUnauthorized:
		return fmt.Errorf("%s: the IAM Credentials API rejected the access token from %s: %s (%w)", what, c.source, tokenHint(c.kind), api)
	case api.code == http.StatusBadRequest:
		return fmt.Errorf("%s: the IAM Credentials API refused the request (scopes, or a lifetime over 1h without the organisation policy that allows up to 12h) (%w)", what, api)
	}
	return fmt.Errorf("%s: the IAM Credentials API refused (%w)", what, api)
}
