package azuretest_test

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/azure/azuretest"
)

// client trusts the emulator's CA and nothing else.
func client(ca *azuretest.CA) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
}

func start(t *testing.T) (*azuretest.Server, *http.Client) {
	t.Helper()
	ca, err := azuretest.NewCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := azuretest.New(t, ca)
	return srv, client(ca)
}

// do sends a request and decodes a JSON answer into a generic map.
func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: the body is not JSON: %v", req.Method, req.URL.Path, err)
		}
	}
	return resp, m
}

func get(t *testing.T, c *http.Client, u, token string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, c, req)
}

func postForm(t *testing.T, c *http.Client, u string, form url.Values) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, c, req)
}

func tokenURL(srv *azuretest.Server, tenant string) string {
	return srv.AuthorityHost() + tenant + "/oauth2/v2.0/token"
}

// vaultToken gets an access token for Key Vault with the client secret.
func vaultToken(t *testing.T, srv *azuretest.Server, c *http.Client) string {
	t.Helper()
	resp, m := postForm(t, c, tokenURL(srv, azuretest.TenantID), url.Values{
		"grant_type": {"client_credentials"}, "client_id": {azuretest.ClientID},
		"client_secret": {srv.ClientSecret()}, "scope": {azuretest.VaultResource + "/.default"},
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: got HTTP %d %v", resp.StatusCode, m["error"])
	}
	tok, _ := m["access_token"].(string)
	return tok
}

// kvError reads {"error":{"code","message","innererror":{"code"}}}.
func kvError(t *testing.T, m map[string]any) (code, inner, msg string) {
	t.Helper()
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("the body has no error object: %v", m)
	}
	code, _ = e["code"].(string)
	msg, _ = e["message"].(string)
	if in, ok := e["innererror"].(map[string]any); ok {
		inner, _ = in["code"].(string)
	}
	return code, inner, msg
}

func TestChallenge(t *testing.T) {
	srv, c := start(t)
	resp, m := get(t, c, srv.VaultURL()+"/secrets/db?api-version=7.5", "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("got HTTP %d, want 401", resp.StatusCode)
	}
	want := `Bearer authorization="` + strings.TrimSuffix(srv.AuthorityHost(), "/") + "/" + azuretest.TenantID + `", resource="https://vault.azure.net"`
	if got := resp.Header.Get("WWW-Authenticate"); got != want {
		t.Errorf("got WWW-Authenticate %q, want %q", got, want)
	}
	if code, _, msg := kvError(t, m); code != "Unauthorized" || !strings.Contains(msg, "Bearer") {
		t.Errorf("got code %q message %q, want Unauthorized about a missing bearer token", code, msg)
	}
	if n := srv.Calls(azuretest.RouteGetSecret); n != 1 {
		t.Errorf("got %d calls, want 1", n)
	}
	if n := srv.AuthorizedCalls(azuretest.RouteGetSecret); n != 0 {
		t.Errorf("got %d authorized calls, want 0", n)
	}
}

func TestOpenIDAndDiscovery(t *testing.T) {
	srv, c := start(t)
	base := strings.TrimSuffix(srv.AuthorityHost(), "/")
	resp, m := get(t, c, base+"/"+azuretest.TenantID+"/v2.0/.well-known/openid-configuration", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("openid-configuration: HTTP %d", resp.StatusCode)
	}
	if m["token_endpoint"] != tokenURL(srv, azuretest.TenantID) || m["issuer"] != base+"/"+azuretest.TenantID+"/v2.0" {
		t.Errorf("got token_endpoint %v issuer %v", m["token_endpoint"], m["issuer"])
	}
	resp, m = get(t, c, base+"/00000000-0000-0000-0000-000000000000/v2.0/.well-known/openid-configuration", "")
	if resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_tenant" {
		t.Errorf("unknown tenant: got HTTP %d error %v, want 400 invalid_tenant", resp.StatusCode, m["error"])
	}
	q := url.Values{"api-version": {"1.1"}, "authorization_endpoint": {base + "/" + azuretest.TenantID + "/oauth2/v2.0/authorize"}}
	resp, m = get(t, c, base+"/common/discovery/instance?"+q.Encode(), "")
	if resp.StatusCode != http.StatusOK || !strings.HasSuffix(m["tenant_discovery_endpoint"].(string), "/v2.0/.well-known/openid-configuration") {
		t.Errorf("instance discovery: got HTTP %d %v", resp.StatusCode, m)
	}
}

func TestToken(t *testing.T) {
	srv, c := start(t)
	good := func() url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {azuretest.ClientID},
			"client_secret": {srv.ClientSecret()}, "scope": {"https://vault.azure.net/.default"}}
	}
	federated := func(tok string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {azuretest.WorkloadClientID},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {tok}, "scope": {"https://vault.azure.net/.default"}}
	}
	with := func(v url.Values, k, val string) url.Values { v.Set(k, val); return v }
	tampered := srv.FederatedToken(azuretest.FederatedAudience, time.Hour)
	tampered = tampered[:len(tampered)-4] + "AAAA"
	tests := []struct {
		name   string
		tenant string
		form   url.Values
		status int
		code   string
		aadsts float64
	}{
		{"client secret", azuretest.TenantID, good(), 200, "", 0},
		{"federated token", azuretest.TenantID, federated(srv.FederatedToken(azuretest.FederatedAudience, time.Hour)), 200, "", 0},
		{"wrong secret", azuretest.TenantID, with(good(), "client_secret", "nope"), 401, "invalid_client", 7000215},
		{"no credential", azuretest.TenantID, with(good(), "client_secret", ""), 401, "invalid_client", 7000218},
		{"unknown client", azuretest.TenantID, with(good(), "client_id", "00000000-0000-0000-0000-000000000001"), 400, "unauthorized_client", 700016},
		{"unknown tenant", "00000000-0000-0000-0000-000000000000", good(), 400, "invalid_tenant", 90002},
		{"scope without /.default", azuretest.TenantID, with(good(), "scope", "https://vault.azure.net"), 400, "invalid_scope", 1002012},
		{"other grant", azuretest.TenantID, with(good(), "grant_type", "password"), 400, "unsupported_grant_type", 70003},
		{"federated wrong audience", azuretest.TenantID, federated(srv.FederatedToken("api://other", time.Hour)), 400, "invalid_request", 700212},
		{"federated expired", azuretest.TenantID, federated(srv.FederatedToken(azuretest.FederatedAudience, -time.Hour)), 400, "invalid_client", 700024},
		{"federated bad signature", azuretest.TenantID, federated(tampered), 401, "invalid_client", 700027},
		{"federated not a JWT", azuretest.TenantID, federated("nope"), 400, "invalid_request", 50027},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, m := postForm(t, c, tokenURL(srv, tt.tenant), tt.form)
			if resp.StatusCode != tt.status {
				t.Fatalf("got HTTP %d (%v), want %d", resp.StatusCode, m["error"], tt.status)
			}
			if tt.status == 200 {
				if m["token_type"] != "Bearer" || m["access_token"] == "" || m["expires_in"] == nil {
					t.Errorf("got a token response without token_type, access_token or expires_in: keys %v", keys(m))
				}
				return
			}
			if m["error"] != tt.code {
				t.Errorf("got error %v, want %s", m["error"], tt.code)
			}
			codes, _ := m["error_codes"].([]any)
			if len(codes) != 1 || codes[0] != tt.aadsts {
				t.Errorf("got error_codes %v, want [%v]", codes, tt.aadsts)
			}
			desc, _ := m["error_description"].(string)
			if !strings.HasPrefix(desc, "AADSTS") || !strings.Contains(desc, "\r\nTrace ID: ") {
				t.Errorf("got error_description %q, want AADSTS...\\r\\nTrace ID: ...", desc)
			}
			if strings.Contains(desc, srv.ClientSecret()) {
				t.Errorf("the error echoes the client secret")
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	srv, c := start(t)
	at := time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC)
	srv.SetClock(func() time.Time { return at })
	v1 := srv.SetSecret("db-password", "one")
	v2 := srv.SetSecret("db-password", "two")
	srv.SetSecret("off", "x")
	srv.Disable("off", "")
	srv.SetSecret("locked", "x")
	srv.Deny("locked")
	srv.SetSecret("gone", "x")
	srv.DeleteSecret("gone")
	tok := vaultToken(t, srv, c)
	u := func(path, apiVersion string) string { return srv.VaultURL() + path + "?api-version=" + apiVersion }

	tests := []struct {
		name, path, apiVersion string
		status                 int
		value, version         string
		code, inner            string
	}{
		{"current", "/secrets/db-password", "7.5", 200, "two", v2, "", ""},
		{"current, as azsecrets asks", "/secrets/db-password/", "2026-04-01", 200, "two", v2, "", ""},
		{"by version", "/secrets/db-password/" + v1, "7.5", 200, "one", v1, "", ""},
		{"name in other case", "/secrets/DB-PASSWORD", "7.5", 200, "two", v2, "", ""},
		{"missing", "/secrets/nope", "7.5", 404, "", "", "SecretNotFound", ""},
		{"missing version", "/secrets/db-password/0123456789abcdef0123456789abcdef", "7.5", 404, "", "", "SecretNotFound", ""},
		{"deleted", "/secrets/gone", "7.5", 404, "", "", "SecretNotFound", ""},
		{"disabled", "/secrets/off", "7.5", 403, "", "", "Forbidden", "SecretDisabled"},
		{"denied", "/secrets/locked", "7.5", 403, "", "", "Forbidden", "ForbiddenByRbac"},
		{"unknown api-version", "/secrets/db-password", "1.0", 400, "", "", "BadParameter", ""},
		{"versions list", "/secrets/db-password/versions", "7.5", 400, "", "", "BadParameter", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, m := get(t, c, u(tt.path, tt.apiVersion), tok)
			if resp.StatusCode != tt.status {
				t.Fatalf("got HTTP %d (%v), want %d", resp.StatusCode, m["error"], tt.status)
			}
			if tt.status != 200 {
				code, inner, msg := kvError(t, m)
				if code != tt.code || inner != tt.inner || msg == "" {
					t.Errorf("got code %q inner %q message %q, want %q %q and a message", code, inner, msg, tt.code, tt.inner)
				}
				return
			}
			if m["value"] != tt.value {
				t.Errorf("got a different value")
			}
			wantID := srv.VaultURL() + "/secrets/db-password/" + tt.version
			if m["id"] != wantID {
				t.Errorf("got id %v, want %s", m["id"], wantID)
			}
			attrs, _ := m["attributes"].(map[string]any)
			if attrs["enabled"] != true || attrs["created"] != float64(at.Unix()) || attrs["updated"] != float64(at.Unix()) {
				t.Errorf("got attributes %v, want enabled with created and updated %d (Unix seconds)", attrs, at.Unix())
			}
		})
	}
}

func TestVaultRejectsOtherTokens(t *testing.T) {
	srv, c := start(t)
	srv.SetSecret("db", "x")
	resp, m := postForm(t, c, tokenURL(srv, azuretest.TenantID), url.Values{
		"grant_type": {"client_credentials"}, "client_id": {azuretest.ClientID},
		"client_secret": {srv.ClientSecret()}, "scope": {"https://management.azure.com/.default"},
	})
	if resp.StatusCode != 200 {
		t.Fatalf("token: HTTP %d", resp.StatusCode)
	}
	for _, tok := range []string{m["access_token"].(string), "made-up"} {
		resp, m := get(t, c, srv.VaultURL()+"/secrets/db?api-version=7.5", tok)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("got HTTP %d, want 401 with a challenge", resp.StatusCode)
		}
		if code, _, _ := kvError(t, m); code != "Unauthorized" {
			t.Errorf("got code %q, want Unauthorized", code)
		}
	}
	tok := vaultToken(t, srv, c)
	srv.RevokeTokens()
	if resp, _ := get(t, c, srv.VaultURL()+"/secrets/db?api-version=7.5", tok); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a revoked token: got HTTP %d, want 401", resp.StatusCode)
	}
	if n := srv.AuthorizedCalls(azuretest.RouteGetSecret); n != 0 {
		t.Errorf("got %d authorized calls, want 0", n)
	}
}

func TestThrottle(t *testing.T) {
	srv, c := start(t)
	srv.SetSecret("db", "x")
	tok := vaultToken(t, srv, c)
	srv.Throttle(2, 1500*time.Millisecond)
	for i, want := range []int{429, 429, 200} {
		resp, m := get(t, c, srv.VaultURL()+"/secrets/db?api-version=7.5", tok)
		if resp.StatusCode != want {
			t.Fatalf("read %d: got HTTP %d, want %d", i+1, resp.StatusCode, want)
		}
		if want == 429 {
			if got := resp.Header.Get("Retry-After"); got != "2" {
				t.Errorf("got Retry-After %q, want 2 (whole seconds, rounded up)", got)
			}
			if code, _, _ := kvError(t, m); code != "Throttled" {
				t.Errorf("got code %q, want Throttled", code)
			}
		}
	}
	if n := srv.AuthorizedCalls(azuretest.RouteGetSecret); n != 3 {
		t.Errorf("got %d authorized calls, want 3", n)
	}
}

func TestManagedIdentity(t *testing.T) {
	srv, c := start(t)
	env := map[string]string{}
	for _, kv := range srv.ManagedIdentityEnv() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	ask := func(header string) (*http.Response, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, env["IDENTITY_ENDPOINT"]+"?api-version=2019-08-01&resource=https://vault.azure.net", nil)
		if header != "" {
			req.Header.Set("X-IDENTITY-HEADER", header)
		}
		return do(t, c, req)
	}
	if resp, _ := ask(""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no X-IDENTITY-HEADER: got HTTP %d, want 401", resp.StatusCode)
	}
	resp, m := ask(env["IDENTITY_HEADER"])
	if resp.StatusCode != http.StatusBadRequest || m["message"] != "Unable to load the proper Managed Identity." {
		t.Errorf("no identity assigned: got HTTP %d %v", resp.StatusCode, m["message"])
	}
	srv.AssignManagedIdentity()
	resp, m = ask(env["IDENTITY_HEADER"])
	if resp.StatusCode != http.StatusOK || m["token_type"] != "Bearer" || m["resource"] != "https://vault.azure.net" {
		t.Fatalf("assigned: got HTTP %d, keys %v", resp.StatusCode, keys(m))
	}
	if _, ok := m["expires_on"].(string); !ok {
		t.Errorf("expires_on is not a string of Unix seconds")
	}
	srv.SetSecret("db", "x")
	if resp, _ := get(t, c, srv.VaultURL()+"/secrets/db?api-version=7.5", m["access_token"].(string)); resp.StatusCode != 200 {
		t.Errorf("the managed identity's token: got HTTP %d, want 200", resp.StatusCode)
	}
	if n := srv.Calls(azuretest.RouteManagedIdentity); n != 3 {
		t.Errorf("got %d managed identity calls, want 3", n)
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
