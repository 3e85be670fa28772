package gcptest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/gcp/gcptest"
)

// callerToken is an access token of gcptest.ClientEmail, from the
// emulator's metadata server.
func callerToken(t *testing.T, srv *gcptest.Server) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+srv.MetadataHost()+"/computeMetadata/v1/instance/service-accounts/default/token", nil)
	req.Header.Set("Metadata-Flavor", "Google")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc.AccessToken
}

// TestGenerateAccessToken covers generateAccessToken's answers: the
// caller's token, its permission on the account, the request, and a
// token Secret Manager accepts as the account until it expires.
func TestGenerateAccessToken(t *testing.T) {
	srv := gcptest.New()
	t.Cleanup(srv.Close)
	const target = "app@" + gcptest.Project + ".iam.gserviceaccount.com"
	const other = "other@" + gcptest.Project + ".iam.gserviceaccount.com"
	srv.AddServiceAccount(target, gcptest.ClientEmail)
	srv.AddServiceAccount(other)
	srv.AddVersion(secretName, []byte("v"))
	caller := callerToken(t, srv)
	generate := func(email, auth, body string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", srv.IAMURL()+"v1/projects/-/serviceAccounts/"+email+":generateAccessToken", bytes.NewBufferString(body))
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var doc map[string]any
		json.Unmarshal(b, &doc)
		return resp.StatusCode, doc
	}
	scope := `{"scope":["` + gcptest.Scope + `"]`
	tests := []struct {
		name, email, auth, body string
		status                  int
		errStatus               string
	}{
		{"no token", target, "", scope + `}`, 401, "UNAUTHENTICATED"},
		{"unknown token", target, "ya29.unknown", scope + `}`, 401, "UNAUTHENTICATED"},
		{"not a token creator", other, caller, scope + `}`, 403, "PERMISSION_DENIED"},
		{"no such account", "nobody@x.iam.gserviceaccount.com", caller, scope + `}`, 403, "PERMISSION_DENIED"},
		{"no scope", target, caller, `{}`, 400, "INVALID_ARGUMENT"},
		{"lifetime over an hour", target, caller, scope + `,"lifetime":"3601s"}`, 400, "INVALID_ARGUMENT"},
		{"lifetime not in seconds", target, caller, scope + `,"lifetime":"1m"}`, 400, "INVALID_ARGUMENT"},
		{"delegates", target, caller, scope + `,"delegates":["projects/-/serviceAccounts/x"]}`, 400, "INVALID_ARGUMENT"},
		{"ok", target, caller, scope + `,"lifetime":"2s"}`, 200, ""},
	}
	var granted string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, doc := generate(tt.email, tt.auth, tt.body)
			if status != tt.status {
				t.Fatalf("got %d, want %d", status, tt.status)
			}
			if tt.errStatus != "" {
				e, _ := doc["error"].(map[string]any)
				if e["status"] != tt.errStatus || doc["accessToken"] != nil {
					t.Errorf("got error %v, want %s and no token", e["status"], tt.errStatus)
				}
				return
			}
			granted, _ = doc["accessToken"].(string)
			exp, err := time.Parse(time.RFC3339, doc["expireTime"].(string))
			if granted == "" || err != nil || time.Until(exp) > 2*time.Second {
				t.Errorf("got expireTime %v, want within 2s", doc["expireTime"])
			}
		})
	}
	access := func() int {
		req, _ := http.NewRequest("GET", srv.URL()+"v1/"+secretName+"/versions/latest:access", nil)
		req.Header.Set("Authorization", "Bearer "+granted)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := access(); got != 200 {
		t.Fatalf("secret manager with the granted token: got %d, want 200", got)
	}
	if n := srv.TokensUsedBy(target)[granted]; n != 1 {
		t.Errorf("the granted token authorised %d calls as %s, want 1", n, target)
	}
	srv.ExpireTokens()
	if got := access(); got != 401 || srv.RejectedTokens() != 1 {
		t.Errorf("expired: got %d (%d rejected), want 401 and one rejected token", got, srv.RejectedTokens())
	}
	if got := srv.Calls(gcptest.MethodGenerateAccessToken); got != len(tests) {
		t.Errorf("counted %d calls, want %d", got, len(tests))
	}
}
