package store_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/gcp"
	"github.com/wardsecrets/ward/resolve/gcp/gcptest"
)

// tokenRegistry parses gcpsa:// references as ward does.
var tokenRegistry = resolve.NewRegistry(&resolve.Kind{Name: "gcp", Schemes: []*resolve.Scheme{{Name: gcp.TokenScheme, Check: gcp.CheckTokenRef}}})

const targetSA = "app@" + project + ".iam.gserviceaccount.com"

// TestServiceAccountToken asks the emulator's IAM Credentials API for a
// token of an account ward's identity may impersonate: the document
// holds a token Secret Manager accepts as that account, with the
// lifetime and scopes asked for; every read is a new token.
func TestServiceAccountToken(t *testing.T) {
	srv := emulator(t)
	srv.AddServiceAccount(targetSA, gcptest.ClientEmail)
	srv.AddVersion(secretName("k"), []byte("v"))
	opts := srv.Options()
	opts.IAMEndpoint = srv.IAMURL()
	s := newStoreWith(t, opts, nil)
	ref, err := tokenRegistry.ParseRef("gcpsa://" + targetSA + "?lifetime=90s&scopes=cloud-platform")
	if err != nil {
		t.Fatal(err)
	}
	sec, err := s.Fetch(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		AccessToken    string `json:"access_token"`
		Expiration     string `json:"expiration"`
		ServiceAccount string `json:"service_account"`
		Scopes         string `json:"scopes"`
	}
	if err := json.Unmarshal(sec.Value, &doc); err != nil {
		t.Fatal(err)
	}
	exp, perr := time.Parse(time.RFC3339, doc.Expiration)
	if perr != nil || time.Until(exp) > 90*time.Second || time.Until(exp) < 80*time.Second {
		t.Errorf("expiration %q: want about 90s from now", doc.Expiration)
	}
	if !sec.Expires.Equal(exp) {
		t.Errorf("the secret expires %v, want the token's expiration %v (rotation reads it again before it)", sec.Expires, exp)
	}
	if doc.ServiceAccount != targetSA || doc.Scopes != gcp.DefaultTokenScope || string(sec.Fields["service_account"]) != targetSA || string(sec.Fields["scopes"]) != gcp.DefaultTokenScope {
		t.Errorf("got fields service_account=%q scopes=%q", sec.Fields["service_account"], sec.Fields["scopes"])
	}
	tok := string(sec.Fields["access_token"])
	if tok == "" || doc.AccessToken != tok {
		t.Fatalf("the document holds no access_token")
	}
	if got := srv.IssuedTokensOf(targetSA); len(got) != 1 || got[0] != tok {
		t.Errorf("the token is not one the emulator issued for %s", targetSA)
	}
	// The token works at Secret Manager as the account.
	req, _ := http.NewRequest("GET", srv.URL()+"v1/"+secretName("k")+"/versions/latest:access", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("secret manager with the token: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	if n := len(srv.TokensUsedBy(targetSA)); n != 1 {
		t.Errorf("secret manager saw %d tokens of the account, want 1", n)
	}
	again, err := s.Fetch(t.Context(), ref)
	if err != nil || string(again.Fields["access_token"]) == tok {
		t.Errorf("a second read: %v; want a new token", err)
	}
	if _, err := s.Version(t.Context(), ref); err == nil {
		t.Errorf("Version of a token: got no error, want one (tokens have no versions)")
	}
}

// TestServiceAccountTokenErrors checks what a refused impersonation
// says: the account and the role to grant, never a token.
func TestServiceAccountTokenErrors(t *testing.T) {
	srv := emulator(t)
	srv.AddServiceAccount(targetSA) // ward's identity is not a token creator
	opts := srv.Options()
	opts.IAMEndpoint = srv.IAMURL()
	s := newStoreWith(t, opts, nil)
	tests := []struct {
		name  string
		ref   string
		setup func()
		wants []string
	}{
		{"not a token creator", "gcpsa://" + targetSA, nil, []string{targetSA, "roles/iam.serviceAccountTokenCreator", "service account " + gcptest.ClientEmail, "PERMISSION_DENIED"}},
		{"no such account", "gcpsa://nobody@" + project + ".iam.gserviceaccount.com", nil, []string{"nobody@", "roles/iam.serviceAccountTokenCreator"}},
		{"lifetime over an hour", "gcpsa://" + targetSA + "?lifetime=2h", func() { srv.AddServiceAccount(targetSA, gcptest.ClientEmail) }, []string{"lifetime over 1h", "INVALID_ARGUMENT"}},
		{"unavailable", "gcpsa://" + targetSA, func() { srv.FailIAM(1) }, []string{"UNAVAILABLE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			ref, err := tokenRegistry.ParseRef(tt.ref)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Fetch(t.Context(), ref)
			checkError(t, tt.name, err, nil, tt.wants...)
		})
	}
	if n := len(srv.IssuedTokensOf(targetSA)); n != 0 {
		t.Errorf("%d tokens issued for refused requests", n)
	}
	ref, _ := tokenRegistry.ParseRef("gcpsa://" + targetSA)
	_, err := s.Fetch(t.Context(), ref)
	if err != nil || errors.Is(err, resolve.ErrNotFound) {
		t.Errorf("after the grant: %v", err)
	}
}

// TestServiceAccountTokenAPINotEnabled: the IAM Service Account
// Credentials API not enabled in the project billed says to enable it,
// not to grant the token creator role.
func TestServiceAccountTokenAPINotEnabled(t *testing.T) {
	srv := emulator(t)
	srv.AddServiceAccount(targetSA, gcptest.ClientEmail)
	srv.DisableAPI(gcptest.ServiceIAMCredentials, project)
	n := gcptest.ProjectNumber(project)
	opts := srv.Options()
	opts.IAMEndpoint = srv.IAMURL()
	ref, err := tokenRegistry.ParseRef("gcpsa://" + targetSA)
	if err != nil {
		t.Fatal(err)
	}
	_, err = newStoreWith(t, opts, nil).Fetch(t.Context(), ref)
	checkError(t, "API not enabled", err, nil, targetSA, "the IAM Service Account Credentials API is not enabled in project "+n,
		"gcloud services enable iamcredentials.googleapis.com --project="+n)
	if err != nil && strings.Contains(err.Error(), "roles/iam.serviceAccountTokenCreator") {
		t.Errorf("the error says to grant a role: %v", err)
	}
}

// TestServiceAccountTokenPerimeter: a VPC Service Controls perimeter that
// restricts the IAM Service Account Credentials API refuses a call from
// outside it; the error says so, with the violation's id, not to grant
// the token creator role.
func TestServiceAccountTokenPerimeter(t *testing.T) {
	srv := emulator(t)
	srv.AddServiceAccount(targetSA, gcptest.ClientEmail)
	srv.EnforcePerimeter(gcptest.ServiceIAMCredentials)
	opts := srv.Options()
	opts.IAMEndpoint = srv.IAMURL()
	ref, err := tokenRegistry.ParseRef("gcpsa://" + targetSA)
	if err != nil {
		t.Fatal(err)
	}
	_, err = newStoreWith(t, opts, nil).Fetch(t.Context(), ref)
	checkError(t, "perimeter", err, nil, targetSA, "VPC Service Controls perimeter", "iamcredentials.googleapis.com", gcptest.PerimeterViolation)
	if err != nil && strings.Contains(err.Error(), "roles/iam.serviceAccountTokenCreator") {
		t.Errorf("the error says to grant a role: %v", err)
	}
}
