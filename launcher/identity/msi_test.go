package identity

import (
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/wardsecrets/ward/internal/logbuf"
)

const testVault = "https://vault.azure.net"

type azureTest struct {
	*AzureEndpoint
	srcs []*fakeTokenSource
	logs *logbuf.Buffer
}

func startAzure(t *testing.T, life, before time.Duration, resources ...string) *azureTest {
	t.Helper()
	logs := &logbuf.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := &azureTest{logs: logs}
	caches := map[string]*Cache{}
	for _, r := range resources {
		src := &fakeTokenSource{life: life, identity: "application x", resource: r}
		a.srcs = append(a.srcs, src)
		caches[r] = filledCache(t, "azure", src, before, log)
	}
	e, err := ServeAzure(caches, AzureConfig{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	a.AzureEndpoint = e
	t.Cleanup(func() {
		e.Close()
		auditLogs(t, logs.String(), append(a.tokens(), e.header)...)
	})
	return a
}

func (a *azureTest) tokens() []string {
	var out []string
	for _, s := range a.srcs {
		out = append(out, s.tokens()...)
	}
	return out
}

// TestIdentityMSIAnswers covers each answer the managed identity endpoint
// gives, the header checked before anything else.
func TestIdentityMSIAnswers(t *testing.T) {
	e := startAzure(t, time.Hour, 10*time.Minute, testVault, "https://storage.azure.com/")
	addr := e.Addr().String()
	hdr := "X-IDENTITY-HEADER: " + e.header
	q := "?resource=" + testVault + "&api-version=2019-08-01"
	tests := []struct {
		name   string
		head   string
		status int
	}{
		{"no header", head(AzurePath + q), 401},
		{"wrong header", head(AzurePath+q, "X-IDENTITY-HEADER: x"+e.header), 401},
		{"header prefix", head(AzurePath+q, "X-IDENTITY-HEADER: "+e.header[:len(e.header)-1]), 401},
		{"two headers", head(AzurePath+q, hdr, hdr), 401},
		{"secret header of 2017", head(AzurePath+q, "secret: "+e.header), 401},
		{"wrong path, no header", head("/metadata/identity/oauth2/token" + q), 401},
		{"wrong path", head("/metadata/identity/oauth2/token"+q, hdr), 404},
		{"post", "POST " + AzurePath + q + " HTTP/1.1\r\n" + hdr + "\r\nContent-Length: 0\r\n\r\n", 405},
		{"no api-version", head(AzurePath+"?resource="+testVault, hdr), 400},
		{"no resource", head(AzurePath+"?api-version=2019-08-01", hdr), 400},
		{"unlisted resource", head(AzurePath+"?resource=https://management.azure.com/&api-version=2019-08-01", hdr), 400},
		{"client_id", head(AzurePath+q+"&client_id=abc", hdr), 400},
		{"mi_res_id", head(AzurePath+q+"&mi_res_id=abc", hdr), 400},
		{"bad query", head(AzurePath+"?%zz", hdr), 400},
		{"ok", head(AzurePath+q, hdr), 200},
		{"trailing slash", head(AzurePath+"?resource="+testVault+"/&api-version=2019-08-01", hdr), 200},
		{"listed with a slash", head(AzurePath+"?resource=https://storage.azure.com&api-version=2019-08-01", hdr), 200},
		// A host is one name in any case; a path keeps its own.
		{"another case", head(AzurePath+"?resource=HTTPS://Storage.Azure.COM&api-version=2019-08-01", hdr), 200},
		{"a path in another case", head(AzurePath+"?resource=https://storage.azure.com/X&api-version=2019-08-01", hdr), 400},
		{"a scope", head(AzurePath+"?resource=https://storage.azure.com/.default&api-version=2019-08-01", hdr), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := rawRequest(t, addr, tt.head)
			if a.status != tt.status {
				t.Fatalf("got %d, want %d", a.status, tt.status)
			}
			var doc map[string]any
			if err := json.Unmarshal([]byte(a.body), &doc); err != nil {
				t.Fatalf("the body is not JSON: %v", err)
			}
			if tt.status != 200 {
				if doc["access_token"] != nil || doc["message"] == nil || doc["statusCode"] != float64(tt.status) {
					t.Errorf("a refusal: got %v keys, want statusCode and message, no token", len(doc))
				}
				return
			}
			exp, err := strconv.ParseInt(doc["expires_on"].(string), 10, 64)
			if err != nil || time.Until(time.Unix(exp, 0)) < 59*time.Minute || doc["token_type"] != "Bearer" || doc["client_id"] == nil {
				t.Errorf("the answer is not App Service's format (expires_on %v)", doc["expires_on"])
			}
			if !strings.Contains(a.body, `"resource":"`) {
				t.Errorf("the answer names no resource")
			}
		})
	}
	if a := rawRequest(t, addr, head(AzurePath+"?resource=https://storage.azure.com/.default&api-version=2019-08-01", hdr)); !strings.Contains(a.body, `ask for its resource, \"https://storage.azure.com\"`) {
		t.Errorf("a scope asked for: the answer does not name the resource to ask for: %s", a.body)
	}
	if n := e.Served(); n != 4 {
		t.Errorf("served %d tokens, want 4", n)
	}
	if !strings.Contains(e.logs.String(), "azure endpoint refused a request") {
		t.Errorf("refused requests were not logged")
	}
}

// TestIdentityMSIOutage makes the source fail: the token is served until
// it expires, then 503, and a fresh one once the source recovers.
func TestIdentityMSIOutage(t *testing.T) {
	e := startAzure(t, 2*time.Second, 500*time.Millisecond, testVault)
	h := head(AzurePath+"?resource="+testVault+"&api-version=2019-08-01", "X-IDENTITY-HEADER: "+e.header)
	e.srcs[0].setFail(errors.New("entra id unavailable"))
	c := e.Caches()[testVault]
	waitFor(t, "the token to expire", 10*time.Second, func() bool { _, ok := c.Current(); return !ok })
	if a := rawRequest(t, e.Addr().String(), h); a.status != 503 {
		t.Errorf("expired: got %d, want 503", a.status)
	}
	e.srcs[0].setFail(nil)
	// The recovery is logged just after the new credentials are in.
	waitFor(t, "recovery", 10*time.Second, func() bool {
		_, ok := c.Current()
		return ok && strings.Contains(e.logs.String(), "azure identity refresh recovered")
	})
	if a := rawRequest(t, e.Addr().String(), h); a.status != 200 {
		t.Errorf("recovered: got %d, want 200", a.status)
	}
	for _, want := range []string{"cannot refresh the azure identity", "entra id unavailable", "azure identity refresh recovered"} {
		if !strings.Contains(e.logs.String(), want) {
			t.Errorf("the log does not say %q", want)
		}
	}
}

// TestIdentityMSIWithSDK has azidentity's ManagedIdentityCredential read
// the endpoint the way the child's does: from IDENTITY_ENDPOINT and
// IDENTITY_HEADER.
func TestIdentityMSIWithSDK(t *testing.T) {
	e := startAzure(t, time.Hour, 10*time.Minute, testVault)
	for _, name := range AzureStripped {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	for _, kv := range e.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cred, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{testVault + "/.default"}})
	if err != nil {
		t.Fatalf("the SDK cannot read the endpoint: %v", err)
	}
	cur, _ := e.Caches()[testVault].Current()
	if tok.Token != cur.Token || !tok.ExpiresOn.Equal(cur.Expires.Truncate(time.Second)) {
		t.Errorf("the SDK got another token or expiry than the endpoint serves")
	}
	_, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	if err == nil || !strings.Contains(err.Error(), "identity.azure.resources") {
		t.Errorf("an unlisted resource: got %v, want the endpoint's refusal", err)
	}
	for _, kv := range e.Env() {
		if strings.HasPrefix(kv, "IDENTITY_HEADER=") && len(kv) < len("IDENTITY_HEADER=")+32 {
			t.Errorf("IDENTITY_HEADER is too short to be a secret")
		}
	}
}
