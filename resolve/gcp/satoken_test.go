package gcp

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve"
)

func TestCheckTokenRef(t *testing.T) {
	reg := resolve.NewRegistry(Kind)
	tests := []struct {
		ref  string
		want string // "" for valid
	}{
		{"gcpsa://app@my-project.iam.gserviceaccount.com", ""},
		{"gcpsa://123456789-compute@developer.gserviceaccount.com", ""},
		{"gcpsa://my-project@appspot.gserviceaccount.com?lifetime=30m", ""},
		{"gcpsa://app@my-project.iam.gserviceaccount.com?scopes=cloud-platform,https://www.googleapis.com/auth/userinfo.email&lifetime=12h", ""},
		{"gcpsa://app@example.com", "not a service account's email"},
		{"gcpsa://my-project/app", "not a service account's email"},
		{"gcpsa://app@my-project.iam.gserviceaccount.com?lifetime=12h1s", "invalid lifetime"},
		{"gcpsa://app@my-project.iam.gserviceaccount.com?lifetime=0s", "invalid lifetime"},
		{"gcpsa://app@my-project.iam.gserviceaccount.com?lifetime=-1m", "invalid lifetime"},
		{"gcpsa://app@my-project.iam.gserviceaccount.com?scopes=a%20b", "invalid scopes"},
		{"gcpsa://app@my-project.iam.gserviceaccount.com?delegates=x", "unknown option"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			_, err := reg.ParseRef(tt.ref)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want valid", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func TestTokenOptions(t *testing.T) {
	reg := resolve.NewRegistry(Kind)
	r, err := reg.ParseRef("gcpsa://app@my-project.iam.gserviceaccount.com?scopes=cloud-platform,https://www.googleapis.com/auth/userinfo.email&lifetime=30m")
	if err != nil {
		t.Fatal(err)
	}
	if got := TokenScopes(r); !slices.Equal(got, []string{DefaultTokenScope, "https://www.googleapis.com/auth/userinfo.email"}) {
		t.Errorf("got scopes %v", got)
	}
	if got := TokenLifetime(r); got != 30*time.Minute {
		t.Errorf("got lifetime %s", got)
	}
	r, _ = reg.ParseRef("gcpsa://a1@p.iam.gserviceaccount.com")
	if !slices.Equal(TokenScopes(r), []string{DefaultTokenScope}) || TokenLifetime(r) != DefaultTokenLifetime {
		t.Errorf("defaults: got %v, %s", TokenScopes(r), TokenLifetime(r))
	}
	for email, want := range map[string]string{
		"app@my-project.iam.gserviceaccount.com":               "my-project",
		"123456789-compute@developer.gserviceaccount.com":      "",
		"my-project@appspot.gserviceaccount.com":               "my-project",
		"app@domain.com:my-project.iam.gserviceaccount.com":    "",
		"service-12345@gcp-sa-pubsub.iam.gserviceaccount.com":  "",
		"service-12345@compute-system.iam.gserviceaccount.com": "",
		"service-a@my-project.iam.gserviceaccount.com":         "my-project",
	} {
		if got := ServiceAccountProject(email); got != want {
			t.Errorf("ServiceAccountProject(%q) = %q, want %q", email, got, want)
		}
	}
}
