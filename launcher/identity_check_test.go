package launcher

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

// vaultAWSStore answers as Vault's AWS secrets engine does: the
// credentials as data fields, with a lease.
type vaultAWSStore struct{ doc map[string]any }

func (s vaultAWSStore) Fetch(ctx context.Context, ref resolve.Ref) (resolve.Secret, error) {
	b, _ := json.Marshal(s.doc)
	return resolve.Secret{Value: b, Lease: &resolve.Lease{ID: "aws/creds/deploy/x", TTL: time.Hour}}, nil
}

// TestIdentityCheckRow checks what check --resolve shows of an identity:
// its source, the role, the expiry and the refresh margin, never a key.
func TestIdentityCheckRow(t *testing.T) {
	m, err := manifest.Parse("ward.yaml", []byte("version: 1\nidentity: {aws: {from: vault://aws/creds/deploy}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	secret, token := resolvetest.Canary("secret"), resolvetest.Canary("token")
	store := vaultAWSStore{doc: map[string]any{
		"access_key": "ASIACHECKROWTEST0001", "secret_key": secret, "security_token": token,
		"arn": "arn:aws:sts::123456789012:assumed-role/deploy/vault-1", "ttl": 3600,
	}}
	f := &resolve.Fetcher{Stores: func(string) (resolve.Store, error) { return store, nil }}
	row, err := identityRow(context.Background(), f, m.Identity.AWS)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"vault://aws/creds/deploy", "serves arn:aws:sts::123456789012:assumed-role/deploy/vault-1", "expiring 20", "refreshed 15m0s before"} {
		if !strings.Contains(row, want) {
			t.Errorf("the row %q does not say %q", row, want)
		}
	}
	for _, s := range []string{"ASIACHECKROWTEST0001", secret, token} {
		if strings.Contains(row, s) {
			t.Errorf("the row holds a key or the token")
		}
	}

	store.doc["security_token"] = nil
	_, err = identityRow(context.Background(), f, m.Identity.AWS)
	if err == nil || !strings.Contains(err.Error(), "long-lived keys") || strings.Contains(err.Error(), secret) {
		t.Errorf("iam_user credentials: got %v, want an error about long-lived keys without the key", err)
	}
}
