package gcptest_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/gcp/gcptest"
)

const secretName = "projects/" + gcptest.Project + "/secrets/db"

// keyFile is the part of a service account key file a client signs with.
type keyFile struct {
	Type         string `json:"type"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri"`
}

func start(t *testing.T) (*gcptest.Server, keyFile, *rsa.PrivateKey) {
	t.Helper()
	srv := gcptest.New()
	t.Cleanup(srv.Close)
	path, err := srv.WriteKeyFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kf keyFile
	if err := json.Unmarshal(b, &kf); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(kf.PrivateKey))
	if block == nil {
		t.Fatal("the key file's private_key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return srv, kf, k.(*rsa.PrivateKey)
}

// signJWT makes an RS256 JWT of claims with key.
func signJWT(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signed := enc(map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid}) + "." + enc(claims)
	digest := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func goodClaims(kf keyFile) map[string]any {
	now := time.Now().Unix()
	return map[string]any{"iss": kf.ClientEmail, "aud": kf.TokenURI, "scope": gcptest.Scope, "iat": now, "exp": now + 3600}
}

// post sends a form and decodes the JSON answer.
func post(t *testing.T, u string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, resp)
}

// get sends a GET with a bearer token ("" for none) and headers.
func get(t *testing.T, u, token string, header ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, resp)
}

func decode(t *testing.T, resp *http.Response) (int, map[string]any) {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("status %d: body is not a JSON object (%d bytes)", resp.StatusCode, len(b))
	}
	return resp.StatusCode, out
}

// token gets an access token the way a service account does.
func token(t *testing.T, kf keyFile, key *rsa.PrivateKey) string {
	t.Helper()
	status, out := post(t, kf.TokenURI, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {signJWT(t, key, kf.PrivateKeyID, goodClaims(kf))}})
	if status != http.StatusOK {
		t.Fatalf("token: got status %d %v", status, out)
	}
	return out["access_token"].(string)
}

// wantError checks Google's error body: {"error":{"code","message","status"}}.
func wantError(t *testing.T, label string, status int, body map[string]any, wantCode int, wantStatus, wantMsg string) {
	t.Helper()
	if status != wantCode {
		t.Errorf("%s: got HTTP %d, want %d", label, status, wantCode)
	}
	e, ok := body["error"].(map[string]any)
	if !ok {
		t.Fatalf("%s: got body %v, want an error object", label, body)
	}
	if c, _ := e["code"].(float64); int(c) != wantCode {
		t.Errorf("%s: got error.code=%v, want %d", label, e["code"], wantCode)
	}
	if e["status"] != wantStatus {
		t.Errorf("%s: got error.status=%v, want %s", label, e["status"], wantStatus)
	}
	if msg, _ := e["message"].(string); !strings.Contains(msg, wantMsg) {
		t.Errorf("%s: got error.message=%q, want it to say %q", label, msg, wantMsg)
	}
}

func TestTokenEndpoint(t *testing.T) {
	srv, kf, key := start(t)
	if kf.Type != "service_account" || kf.ClientEmail != gcptest.ClientEmail || kf.TokenURI != srv.TokenURL() || kf.PrivateKeyID == "" {
		t.Fatalf("key file: got type %q, email %q, token_uri %q, key id %q", kf.Type, kf.ClientEmail, kf.TokenURI, kf.PrivateKeyID)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	with := func(k string, v any) map[string]any {
		c := goodClaims(kf)
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	tests := []struct {
		name   string
		grant  string
		key    *rsa.PrivateKey
		kid    string
		claims map[string]any
		code   string // "" for success
	}{
		{"good", "", key, kf.PrivateKeyID, goodClaims(kf), ""},
		{"no kid", "", key, "", goodClaims(kf), ""},
		{"scope list", "", key, kf.PrivateKeyID, with("scope", "openid "+gcptest.Scope), ""},
		{"wrong grant type", "client_credentials", key, kf.PrivateKeyID, goodClaims(kf), "unsupported_grant_type"},
		{"another key", "", other, kf.PrivateKeyID, goodClaims(kf), "invalid_grant"},
		{"wrong kid", "", key, "0000", goodClaims(kf), "invalid_grant"},
		{"unknown account", "", key, kf.PrivateKeyID, with("iss", "nobody@x.iam.gserviceaccount.com"), "invalid_grant"},
		{"wrong audience", "", key, kf.PrivateKeyID, with("aud", "https://oauth2.googleapis.com/token"), "invalid_grant"},
		{"expired", "", key, kf.PrivateKeyID, with("exp", now-3600), "invalid_grant"},
		{"too long", "", key, kf.PrivateKeyID, with("exp", now+7200), "invalid_grant"},
		{"issued in the future", "", key, kf.PrivateKeyID, with("iat", now+3600), "invalid_grant"},
		{"no iat", "", key, kf.PrivateKeyID, with("iat", nil), "invalid_grant"},
		{"no scope", "", key, kf.PrivateKeyID, with("scope", nil), "invalid_scope"},
		{"other scope", "", key, kf.PrivateKeyID, with("scope", "https://www.googleapis.com/auth/devstorage.read_only"), "invalid_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			grant := tt.grant
			if grant == "" {
				grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
			}
			status, out := post(t, srv.TokenURL(), url.Values{"grant_type": {grant}, "assertion": {signJWT(t, tt.key, tt.kid, tt.claims)}})
			if tt.code == "" {
				tok, _ := out["access_token"].(string)
				if status != http.StatusOK || tok == "" || out["token_type"] != "Bearer" || out["expires_in"].(float64) < 3000 {
					t.Fatalf("got %d %v, want an access token", status, out)
				}
				if st, _ := get(t, srv.URL()+"v1/"+secretName+"/versions/latest", tok); st == http.StatusUnauthorized {
					t.Errorf("the issued token is refused by the API")
				}
				return
			}
			if status != http.StatusBadRequest || out["error"] != tt.code || out["error_description"] == "" {
				t.Errorf("got %d %v, want 400 with error %q and a description", status, out, tt.code)
			}
		})
	}
	if n := srv.Calls(gcptest.MethodToken); n != len(tests) {
		t.Errorf("got Calls(%s)=%d, want %d", gcptest.MethodToken, n, len(tests))
	}
}

func TestAccessAndGet(t *testing.T) {
	srv, kf, key := start(t)
	tok := token(t, kf, key)
	v1 := []byte("first \x00\xff value")
	v2 := []byte(`{"password":"second"}`)
	if n := srv.AddVersion(secretName, v1); n != 1 {
		t.Fatalf("got version %d, want 1", n)
	}
	if n := srv.AddVersion(secretName, v2); n != 2 {
		t.Fatalf("got version %d, want 2", n)
	}
	number := gcptest.ProjectNumber(gcptest.Project)
	tests := []struct {
		path     string
		wantName string
		want     []byte
	}{
		{secretName + "/versions/1", "projects/" + number + "/secrets/db/versions/1", v1},
		{secretName + "/versions/2", "projects/" + number + "/secrets/db/versions/2", v2},
		{secretName + "/versions/latest", "projects/" + number + "/secrets/db/versions/2", v2},
		{"projects/" + number + "/secrets/db/versions/latest", "projects/" + number + "/secrets/db/versions/2", v2},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			status, out := get(t, srv.URL()+"v1/"+tt.path+":access?alt=json&prettyPrint=false", tok)
			if status != http.StatusOK {
				t.Fatalf("access: got %d %v", status, out)
			}
			if out["name"] != tt.wantName {
				t.Errorf("access: got name %v, want %s", out["name"], tt.wantName)
			}
			payload := out["payload"].(map[string]any)
			data, err := base64.StdEncoding.DecodeString(payload["data"].(string))
			if err != nil || string(data) != string(tt.want) {
				t.Errorf("access: payload.data is not the base64 of the version's data (%v)", err)
			}
			crc, ok := payload["dataCrc32c"].(string)
			if !ok {
				t.Fatalf("access: dataCrc32c is %T, want a decimal string (int64 in JSON)", payload["dataCrc32c"])
			}
			if want := strconv.FormatUint(uint64(crc32.Checksum(tt.want, crc32.MakeTable(crc32.Castagnoli))), 10); crc != want {
				t.Errorf("access: got dataCrc32c %s, want the CRC32C %s", crc, want)
			}

			status, out = get(t, srv.URL()+"v1/"+tt.path+"?alt=json", tok)
			if status != http.StatusOK {
				t.Fatalf("get: got %d %v", status, out)
			}
			if out["name"] != tt.wantName || out["state"] != "ENABLED" || out["createTime"] == nil || out["etag"] == nil {
				t.Errorf("get: got %v, want name %s, state ENABLED, createTime and etag", out, tt.wantName)
			}
			if _, ok := out["payload"]; ok {
				t.Errorf("get: the metadata read returned a payload")
			}
		})
	}

	_, out := get(t, srv.URL()+"v1/"+secretName+"/versions/1?%24alt=json%3Benum-encoding%3Dint", tok)
	if out["state"] != float64(1) {
		t.Errorf("enum-encoding=int: got state %v, want 1", out["state"])
	}
	if a, g := srv.Calls(gcptest.MethodAccess), srv.Calls(gcptest.MethodGet); a != 4 || g != 5 {
		t.Errorf("got %d access and %d get calls, want 4 and 5", a, g)
	}
	if n := srv.Calls("versions.access"); n != 4 {
		t.Errorf("got Calls(versions.access)=%d, want 4", n)
	}
}

func TestAPIErrors(t *testing.T) {
	srv, kf, key := start(t)
	tok := token(t, kf, key)
	srv.AddVersion(secretName, []byte("v1"))
	srv.AddVersion(secretName, []byte("v2"))
	srv.AddVersion(secretName, []byte("v3"))
	srv.DisableVersion(secretName, 2)
	srv.DestroyVersion(secretName, 3)
	denied := "projects/" + gcptest.Project + "/secrets/denied"
	srv.AddVersion(denied, []byte("x"))
	srv.Deny(denied)
	getOnly := "projects/" + gcptest.Project + "/secrets/get-denied"
	srv.AddVersion(getOnly, []byte("x"))
	srv.Deny(getOnly, gcptest.PermissionGet)
	gone := "projects/" + gcptest.Project + "/secrets/gone"
	srv.AddVersion(gone, []byte("x"))
	srv.DeleteSecret(gone)
	num := "projects/" + gcptest.ProjectNumber(gcptest.Project)

	api := srv.URL() + "v1/"
	tests := []struct {
		name, url, token string
		code             int
		status, msg      string
	}{
		{"no secret", api + "projects/" + gcptest.Project + "/secrets/nope/versions/latest:access", tok, 404, "NOT_FOUND", "Secret [" + num + "/secrets/nope] not found or has no versions."},
		{"no version", api + secretName + "/versions/9:access", tok, 404, "NOT_FOUND", "Secret Version [" + num + "/secrets/db/versions/9] not found."},
		{"no version get", api + secretName + "/versions/9", tok, 404, "NOT_FOUND", "not found"},
		{"deleted secret", api + gone + "/versions/1:access", tok, 404, "NOT_FOUND", "not found"},
		{"disabled", api + secretName + "/versions/2:access", tok, 400, "FAILED_PRECONDITION", "Secret Version [" + num + "/secrets/db/versions/2] is in DISABLED state."},
		{"destroyed latest", api + secretName + "/versions/latest:access", tok, 400, "FAILED_PRECONDITION", "Secret Version [" + num + "/secrets/db/versions/3] is in DESTROYED state."},
		{"denied", api + denied + "/versions/latest:access", tok, 403, "PERMISSION_DENIED", "Permission 'secretmanager.versions.access' denied for resource '" + denied + "/versions/latest' (or it may not exist)."},
		{"denied get", api + denied + "/versions/1", tok, 403, "PERMISSION_DENIED", "secretmanager.versions.get"},
		{"get denied only", api + getOnly + "/versions/1", tok, 403, "PERMISSION_DENIED", "secretmanager.versions.get"},
		{"no token", api + secretName + "/versions/1:access", "", 401, "UNAUTHENTICATED", "missing required authentication credential"},
		{"unknown token", api + secretName + "/versions/1:access", "ya29.forged", 401, "UNAUTHENTICATED", "invalid authentication credentials"},
		{"regional name at the global endpoint", api + "projects/" + gcptest.Project + "/locations/europe-west1/secrets/db/versions/1:access", tok, 400, "INVALID_ARGUMENT", "secretmanager.europe-west1.rep.googleapis.com"},
		{"global name at the regional endpoint", srv.RegionalURL() + "v1/" + secretName + "/versions/1:access", tok, 400, "INVALID_ARGUMENT", "secretmanager.googleapis.com"},
		{"unknown method", api + secretName + ":getIamPolicy", tok, 404, "NOT_FOUND", "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(t, tt.url, tt.token)
			wantError(t, tt.name, status, body, tt.code, tt.status, tt.msg)
		})
	}

	// A disabled or destroyed version's metadata still reads.
	_, out := get(t, api+secretName+"/versions/2", tok)
	if out["state"] != "DISABLED" {
		t.Errorf("get a disabled version: got state %v", out["state"])
	}
	_, out = get(t, api+secretName+"/versions/3", tok)
	if out["state"] != "DESTROYED" || out["destroyTime"] == nil {
		t.Errorf("get a destroyed version: got state %v, destroyTime %v", out["state"], out["destroyTime"])
	}
	srv.EnableVersion(secretName, 2)
	if status, _ := get(t, api+secretName+"/versions/2:access", tok); status != http.StatusOK {
		t.Errorf("access a version enabled again: got %d", status)
	}
	if status, _ := get(t, api+getOnly+"/versions/1:access", tok); status != http.StatusOK {
		t.Errorf("access with only get denied: got %d", status)
	}
}

func TestExpiredTokens(t *testing.T) {
	srv, kf, key := start(t)
	srv.AddVersion(secretName, []byte("v"))
	tok := token(t, kf, key)
	u := srv.URL() + "v1/" + secretName + "/versions/1:access"
	if status, _ := get(t, u, tok); status != http.StatusOK {
		t.Fatalf("fresh token: got %d", status)
	}
	srv.ExpireTokens()
	status, body := get(t, u, tok)
	wantError(t, "expired token", status, body, 401, "UNAUTHENTICATED", "invalid authentication credentials")

	srv.SetTokenLifetime(-time.Minute)
	status, body = get(t, u, token(t, kf, key))
	wantError(t, "token issued expired", status, body, 401, "UNAUTHENTICATED", "invalid authentication credentials")
}

func TestFaults(t *testing.T) {
	srv, kf, key := start(t)
	tok := token(t, kf, key)
	srv.AddVersion(secretName, []byte("value"))
	u := srv.URL() + "v1/" + secretName + "/versions/latest:access"

	srv.Throttle(2)
	for i := range 2 {
		status, body := get(t, u, tok)
		wantError(t, "throttled "+strconv.Itoa(i), status, body, 429, "RESOURCE_EXHAUSTED", "Quota exceeded")
	}
	if status, _ := get(t, u, tok); status != http.StatusOK {
		t.Errorf("after the throttled calls: got %d", status)
	}

	srv.FailUnavailable(1)
	status, body := get(t, u, tok)
	wantError(t, "unavailable", status, body, 503, "UNAVAILABLE", "unavailable")

	srv.CorruptChecksums(1)
	_, out := get(t, u, tok)
	payload := out["payload"].(map[string]any)
	want := strconv.FormatUint(uint64(crc32.Checksum([]byte("value"), crc32.MakeTable(crc32.Castagnoli))), 10)
	if payload["dataCrc32c"] == want {
		t.Errorf("corrupted checksum: got the right CRC32C")
	}
	_, out = get(t, u, tok)
	if out["payload"].(map[string]any)["dataCrc32c"] != want {
		t.Errorf("after the corrupted response: got a wrong CRC32C")
	}
	if n := srv.Calls(gcptest.MethodAccess); n != 6 {
		t.Errorf("got %d access calls, want 6 (faults count)", n)
	}
}

func TestRegional(t *testing.T) {
	srv, kf, key := start(t)
	tok := token(t, kf, key)
	name := "projects/" + gcptest.Project + "/locations/europe-west1/secrets/db"
	srv.AddVersion(name, []byte("regional"))
	status, out := get(t, srv.RegionalURL()+"v1/"+name+"/versions/latest:access", tok)
	if status != http.StatusOK {
		t.Fatalf("got %d %v", status, out)
	}
	if want := "projects/" + gcptest.ProjectNumber(gcptest.Project) + "/locations/europe-west1/secrets/db/versions/1"; out["name"] != want {
		t.Errorf("got name %v, want %s", out["name"], want)
	}
	_, out = get(t, srv.RegionalURL()+"v1/"+name+"/versions/1", tok)
	if _, ok := out["replicationStatus"]; ok || out["state"] != "ENABLED" {
		t.Errorf("regional get: got %v, want state ENABLED and no replicationStatus", out)
	}
	status, body := get(t, srv.RegionalURL()+"v1/projects/"+gcptest.Project+"/locations/us-east1/secrets/db/versions/1:access", tok)
	wantError(t, "another location", status, body, 404, "NOT_FOUND", "not found")
	if a, g := srv.Calls(gcptest.MethodRegionalAccess), srv.Calls(gcptest.MethodRegionalGet); a != 2 || g != 1 {
		t.Errorf("got %d regional access and %d regional get calls, want 2 and 1", a, g)
	}
}

func TestMetadataServer(t *testing.T) {
	srv := gcptest.New()
	t.Cleanup(srv.Close)
	srv.AddVersion(secretName, []byte("v"))
	base := "http://" + srv.MetadataHost() + "/computeMetadata/v1/"

	resp, err := http.Get(base + "instance/service-accounts/default/token")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Metadata-Flavor") != "Google" {
		t.Errorf("no Metadata-Flavor header: got %d, want 403 from a server saying Metadata-Flavor: Google", resp.StatusCode)
	}

	status, out := get(t, base+"instance/service-accounts/default/token?scopes="+url.QueryEscape(gcptest.Scope), "", "Metadata-Flavor", "Google")
	tok, _ := out["access_token"].(string)
	if status != http.StatusOK || tok == "" || out["token_type"] != "Bearer" || out["expires_in"] == nil {
		t.Fatalf("token: got %d %v", status, out)
	}
	if status, _ := get(t, srv.URL()+"v1/"+secretName+"/versions/1:access", tok); status != http.StatusOK {
		t.Errorf("the metadata server's token is refused by the API: %d", status)
	}

	for path, want := range map[string]string{
		"project/project-id":                      gcptest.Project,
		"universe/universe-domain":                "googleapis.com",
		"instance/service-accounts/default/email": gcptest.ClientEmail,
	} {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Metadata-Flavor", "Google")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != want {
			t.Errorf("%s: got %d %q, want %q", path, resp.StatusCode, b, want)
		}
	}
	if n := srv.Calls(gcptest.MethodMetadataToken); n != 2 {
		t.Errorf("got %d metadata token calls, want 2", n)
	}
}

func TestSecurityTokenService(t *testing.T) {
	srv := gcptest.New()
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	path, err := srv.WriteExternalAccountFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Type             string `json:"type"`
		Audience         string `json:"audience"`
		SubjectTokenType string `json:"subject_token_type"`
		TokenURL         string `json:"token_url"`
		CredentialSource struct {
			File string `json:"file"`
		} `json:"credential_source"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Type != "external_account" || cfg.Audience != gcptest.WorkloadPoolAudience || cfg.TokenURL != srv.STSURL() {
		t.Fatalf("got config %+v", cfg)
	}
	subject, err := os.ReadFile(cfg.CredentialSource.File)
	if err != nil {
		t.Fatal(err)
	}
	form := func(audience, subjectToken string) url.Values {
		return url.Values{
			"grant_type":           {"urn:ietf:params:oauth:grant-type:token-exchange"},
			"audience":             {audience},
			"scope":                {gcptest.Scope},
			"requested_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
			"subject_token":        {subjectToken},
			"subject_token_type":   {cfg.SubjectTokenType},
		}
	}
	status, out := post(t, srv.STSURL(), form(cfg.Audience, string(subject)))
	if status != http.StatusOK || out["access_token"] == "" || out["issued_token_type"] != "urn:ietf:params:oauth:token-type:access_token" || out["token_type"] != "Bearer" {
		t.Fatalf("exchange: got %d %v", status, out)
	}
	srv.AddVersion(secretName, []byte("v"))
	if status, _ := get(t, srv.URL()+"v1/"+secretName+"/versions/1:access", out["access_token"].(string)); status != http.StatusOK {
		t.Errorf("the federated token is refused by the API: %d", status)
	}

	status, out = post(t, srv.STSURL(), form(cfg.Audience, "eyJ.forged."))
	if status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("wrong subject token: got %d %v, want 400 invalid_grant", status, out)
	}
	status, out = post(t, srv.STSURL(), form("//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/x/providers/y", string(subject)))
	if status != http.StatusBadRequest || out["error"] != "invalid_target" {
		t.Errorf("unknown audience: got %d %v, want 400 invalid_target", status, out)
	}
	if n := srv.Calls(gcptest.MethodSTS); n != 3 {
		t.Errorf("got %d STS calls, want 3", n)
	}
}

func TestEnv(t *testing.T) {
	srv := gcptest.New()
	t.Cleanup(srv.Close)
	if env := srv.Env(); !slices.Contains(env, "GOOGLE_APPLICATION_CREDENTIALS=") || !slices.Contains(env, "GCE_METADATA_HOST="+srv.MetadataHost()) {
		t.Errorf("before a key file: got %v, want no credentials file and the metadata server", env)
	}
	path, err := srv.WriteKeyFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if env := srv.Env(); !slices.Contains(env, "GOOGLE_APPLICATION_CREDENTIALS="+path) {
		t.Errorf("after WriteKeyFile: got %v, want GOOGLE_APPLICATION_CREDENTIALS=%s", env, path)
	}
	if o := srv.Options(); o.Endpoint != srv.URL() || o.RegionalEndpoint != srv.RegionalURL() {
		t.Errorf("got Options %+v", o)
	}
}
