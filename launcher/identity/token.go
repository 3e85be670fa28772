package identity

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wardsecrets/ward/resolve"
)

// Fields of an access token document: gcpsa:// (ward-gcp) and aztoken://
// (ward-azure) write them so.
var (
	tokenPrincipalFields = []string{"principal", "service_account"}
)

// TokenFromDocument reads an OAuth access token from a JSON document:
// access_token and expiration (RFC 3339), with who it acts as
// (service_account or principal), a Google token's scopes (a
// comma-separated list) or an Azure token's resource and client_id.
// Errors name fields, never values.
func TokenFromDocument(doc []byte, issued time.Time) (Credentials, error) {
	fields, err := resolve.JSONFields(doc)
	if err != nil {
		return Credentials{}, err
	}
	c := Credentials{
		Token:    string(fields["access_token"]),
		Issued:   issued,
		Resource: string(fields["resource"]),
		ClientID: string(fields["client_id"]),
	}
	for _, f := range tokenPrincipalFields {
		if v := fields[f]; len(v) > 0 && c.Identity == "" {
			c.Identity = string(v)
		}
	}
	if sc := string(fields["scopes"]); sc != "" {
		c.Scopes = strings.Split(sc, ",")
	}
	switch {
	case c.Token == "":
		return Credentials{}, fmt.Errorf("the document holds no access_token (it has %s)", fieldNames(fields))
	case strings.ContainsAny(c.Token, " \t\r\n\"\\"):
		return Credentials{}, errors.New("the document's access_token is not a bearer token")
	}
	exp := string(fields["expiration"])
	t, err := time.Parse(time.RFC3339, exp)
	if err != nil {
		return Credentials{}, errors.New("the document's expiration is missing or not an RFC 3339 time")
	}
	c.Expires = t
	if !c.Expires.After(issued) {
		return Credentials{}, fmt.Errorf("the token had expired when ward received it (at %s)", c.Expires.UTC().Format(time.RFC3339))
	}
	return c, nil
}
