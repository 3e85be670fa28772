package store_test

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/aws/awstest"
	awsstore "github.com/wardsecrets/ward/resolve/aws/store"
	"github.com/wardsecrets/ward/resolve/bodylimit"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

// TestBothStoresOneSession resolves awssm:// and ssm:// references in one
// fetch, the two stores sharing one session.
func TestBothStoresOneSession(t *testing.T) {
	srv := emulator(t)
	sv, pv := resolvetest.Canary("sm"), resolvetest.Canary("ssm")
	srv.PutSecretString("both/s", sv)
	srv.PutParameter("/both/p", pv, true)

	session := newSession()
	stores := map[string]resolve.Store{"awssm": awsstore.NewSecretsManager(session), "ssm": awsstore.NewParameterStore(session)}
	f := &resolve.Fetcher{Stores: func(scheme string) (resolve.Store, error) { return stores[scheme], nil }}
	got, err := f.Fetch(t.Context(), map[string]resolve.Ref{"S": mustRef(t, "awssm://both/s"), "P": mustRef(t, "ssm:///both/p")})
	if err != nil {
		t.Fatal(err)
	}
	if string(got["S"].Bytes) != sv || string(got["P"].Bytes) != pv {
		t.Errorf("got wrong values")
	}
}

// TestPerServiceEndpoints checks that AWS_ENDPOINT_URL_SECRETS_MANAGER and
// AWS_ENDPOINT_URL_SSM win over AWS_ENDPOINT_URL, which points nowhere.
func TestPerServiceEndpoints(t *testing.T) {
	srv := emulator(t)
	dead := httptest.NewServer(nil)
	dead.Close()
	t.Setenv("AWS_ENDPOINT_URL", dead.URL)
	checkBothStores(t, srv)
}

// TestGlobalEndpoint checks AWS_ENDPOINT_URL alone.
func TestGlobalEndpoint(t *testing.T) {
	srv := emulator(t)
	unsetenv(t, "AWS_ENDPOINT_URL_SECRETS_MANAGER")
	unsetenv(t, "AWS_ENDPOINT_URL_SSM")
	checkBothStores(t, srv)
}

func checkBothStores(t *testing.T, srv *awstest.Server) {
	t.Helper()
	v := resolvetest.Canary("endpoint")
	srv.PutSecretString("ep/s", v)
	srv.PutParameter("/ep/p", v, true)
	session := newSession()
	if s, err := awsstore.NewSecretsManager(session).Fetch(t.Context(), mustRef(t, "awssm://ep/s")); err != nil || string(s.Value) != v {
		t.Errorf("secrets manager: %v", err)
	}
	if s, err := awsstore.NewParameterStore(session).Fetch(t.Context(), mustRef(t, "ssm:///ep/p")); err != nil || string(s.Value) != v {
		t.Errorf("ssm: %v", err)
	}
	if n := srv.Calls(""); n != 2 {
		t.Errorf("got %d calls at the emulator, want 2", n)
	}
}

func TestRegionOption(t *testing.T) {
	srv := emulator(t)
	v := resolvetest.Canary("region")
	srv.PutSecretString("region/s", v)
	ref := mustRef(t, "awssm://region/s")

	// The emulator accepts requests signed for its region only.
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_DEFAULT_REGION", "eu-west-1")
	sm := awsstore.NewSecretsManager(awsstore.NewSession(awsstore.SessionOptions{Region: awstest.Region}))
	if _, err := sm.Fetch(t.Context(), ref); err != nil {
		t.Errorf("Options.Region %s over AWS_REGION eu-west-1: %v", awstest.Region, err)
	}
	t.Setenv("AWS_REGION", awstest.Region)
	sm = awsstore.NewSecretsManager(awsstore.NewSession(awsstore.SessionOptions{Region: "eu-west-1"}))
	_, err := sm.Fetch(t.Context(), ref)
	checkError(t, "Options.Region eu-west-1", err, []string{v}, `secret "region/s"`)
}

func TestProfileOption(t *testing.T) {
	srv := emulator(t)
	v := resolvetest.Canary("profile")
	srv.PutParameter("/profile/p", v, true)
	dir := t.TempDir()
	configFile, credsFile := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	writeFile(t, configFile, "[profile ward-test]\nregion = "+awstest.Region+"\n")
	writeFile(t, credsFile, "[ward-test]\naws_access_key_id = "+awstest.AccessKeyID+"\naws_secret_access_key = "+awstest.SecretAccessKey+"\n")
	t.Setenv("AWS_CONFIG_FILE", configFile)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credsFile)
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"} {
		unsetenv(t, k)
	}

	ps := awsstore.NewParameterStore(awsstore.NewSession(awsstore.SessionOptions{Profile: "ward-test"}))
	if s, err := ps.Fetch(t.Context(), mustRef(t, "ssm:///profile/p")); err != nil || string(s.Value) != v {
		t.Errorf("Options.Profile ward-test: %v", err)
	}
	ps = awsstore.NewParameterStore(awsstore.NewSession(awsstore.SessionOptions{Profile: "no-such-profile"}))
	_, err := ps.Fetch(t.Context(), mustRef(t, "ssm:///profile/p"))
	checkError(t, "a missing profile", err, []string{v}, "load the AWS configuration", "no-such-profile")
}

func TestNoRegion(t *testing.T) {
	srv := emulator(t)
	unsetenv(t, "AWS_REGION")
	unsetenv(t, "AWS_DEFAULT_REGION")
	_, err := awsstore.NewSecretsManager(newSession()).Fetch(t.Context(), mustRef(t, "awssm://x"))
	checkError(t, "no region", err, nil, "no AWS region", "AWS_REGION", "stores.aws.region", "by its ARN")
	_, err = awsstore.NewParameterStore(newSession()).Fetch(t.Context(), mustRef(t, "ssm:///x"))
	checkError(t, "no region", err, nil, "no AWS region", "AWS_REGION", "stores.aws.region", "by its ARN")
	_, err = awsstore.NewAssumeRole(newSession()).Fetch(t.Context(), mustRef(t, "awssts://arn:aws:iam::"+awstest.AccountID+":role/x"))
	checkError(t, "no region", err, nil, "no AWS region", "AWS_REGION", "stores.aws.region")
	if n := srv.Calls(""); n != 0 {
		t.Errorf("got %d calls, want 0", n)
	}

	// An ARN holds its region: references by ARN need no other.
	sv, pv := resolvetest.Canary("noregion-sm"), resolvetest.Canary("noregion-ssm")
	srv.PutSecretString("noregion/s", sv)
	srv.PutParameter("/noregion/p", pv, true)
	session := newSession()
	stores := map[string]resolve.Store{"awssm": awsstore.NewSecretsManager(session), "ssm": awsstore.NewParameterStore(session)}
	f := &resolve.Fetcher{Stores: func(scheme string) (resolve.Store, error) { return stores[scheme], nil }}
	got, err := f.Fetch(t.Context(), map[string]resolve.Ref{
		"S": mustRef(t, "awssm://"+srv.SecretARN("noregion/s")),
		"P": mustRef(t, "ssm://"+srv.ParameterARN("/noregion/p")),
	})
	if err != nil {
		checkError(t, "by ARN with no region", err, []string{sv, pv})
		t.Fatalf("by ARN with no region configured: %s", strings.NewReplacer(sv, "<canary>", pv, "<canary>").Replace(err.Error()))
	}
	if string(got["S"].Bytes) != sv || string(got["P"].Bytes) != pv {
		t.Errorf("by ARN with no region configured: got wrong values")
	}
}

func TestNoCredentials(t *testing.T) {
	srv := emulator(t)
	unsetenv(t, "AWS_ACCESS_KEY_ID")
	unsetenv(t, "AWS_SECRET_ACCESS_KEY")
	_, err := fetchVars(t, t.Context(), awsstore.NewParameterStore(newSession()), map[string]string{"A": "ssm:///a", "B": "ssm:///b"})
	checkError(t, "no credentials", err, nil, "A, B: ssm:///a and 1 more: no usable AWS credentials", "AWS_PROFILE")
	if n := srv.Calls(""); n != 0 {
		t.Errorf("got %d calls, want 0", n)
	}
}

// TestCredentialProcessOutputHidden: a credential_process (a profile's
// in ~/.aws/config: aws-vault, a company's SSO wrapper) whose output the
// SDK cannot parse, a log line before the JSON or an Expiration that is
// not RFC 3339, fails naming credential_process, and the error holds none
// of that output: the SDK quotes all of it, the secret key and session
// token among them. At the start and when expired keys are fetched again.
func TestCredentialProcessOutputHidden(t *testing.T) {
	for _, tt := range []struct {
		name string
		good int // how many runs of the process print keys that parse
	}{
		{"at the start", 0},
		{"at a refresh", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := emulator(t)
			v := resolvetest.Canary("process")
			srv.PutSecretString("process/s", v)
			secretKey := resolvetest.Canary("process-secret-key")
			dir := t.TempDir()
			script := filepath.Join(dir, "creds.sh")
			// Expired keys that work: the SDK's cache fetches them again
			// at the next request.
			good := `{"Version":1,"AccessKeyId":"` + awstest.AccessKeyID + `","SecretAccessKey":"` + awstest.SecretAccessKey + `","Expiration":"2000-01-01T00:00:00Z"}`
			bad := `{"Version":1,"AccessKeyId":"` + awstest.AccessKeyID + `","SecretAccessKey":"` + secretKey + `","Expiration":"2030-01-01 00:00:00"}`
			processProfile(t, script, fmt.Sprintf("#!/bin/sh\nn=$(cat %[1]s/count 2>/dev/null || echo 0)\necho $((n+1)) >%[1]s/count\nif [ \"$n\" -lt %[2]d ]; then echo '%[3]s'; else echo '%[4]s'; fi\n",
				dir, tt.good, good, bad))
			sm := awsstore.NewSecretsManager(awsstore.NewSession(awsstore.SessionOptions{Profile: "proc", MaxAttempts: 1}))
			_, err := sm.Fetch(t.Context(), mustRef(t, "awssm://process/s"))
			checkError(t, "unparsable credential_process output", err, []string{v, secretKey}, "credential_process")
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestIMDSHopLimit: in a container on an EC2 instance that requires
// IMDSv2 with a hop limit of 1, the metadata service's token answers never
// arrive and the SDK's IMDSv1 fallback gets 401. The error says so and
// what to change, not to set AWS_PROFILE or run with an IAM role (the
// instance has one).
func TestIMDSHopLimit(t *testing.T) {
	emulator(t)
	imds := awstest.NewIMDS()
	t.Cleanup(imds.Close)
	for _, kv := range imds.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_EC2_METADATA_DISABLED"} {
		unsetenv(t, k)
	}
	_, err := awsstore.NewSecretsManager(newSession()).Fetch(t.Context(), mustRef(t, "awssm://imds/s"))
	checkError(t, "hop limit 1", err, nil, "EC2 instance metadata service", "IMDSv2", "hop limit", "--http-put-response-hop-limit 2")
}

// ssoProfile writes an AWS config file whose profile (an IAM Identity
// Center one, of the session "corp") the test uses, and that session's
// cached token, expiring at expiresAt (RFC 3339), as `aws sso login`
// leaves it in ~/.aws/sso/cache; it returns the token, a canary.
func ssoProfile(t *testing.T, profile, expiresAt string) string {
	t.Helper()
	configFile := filepath.Join(t.TempDir(), "config")
	writeFile(t, configFile, "[profile "+profile+"]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Developer\nregion = "+awstest.Region+
		"\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = "+awstest.Region+"\n")
	t.Setenv("AWS_CONFIG_FILE", configFile)
	cache := filepath.Join(os.Getenv("HOME"), ".aws", "sso", "cache")
	if err := os.MkdirAll(cache, 0o700); err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum([]byte("corp"))
	accessToken := resolvetest.Canary("sso-access-token")
	writeFile(t, filepath.Join(cache, hex.EncodeToString(sum[:])+".json"),
		`{"startUrl":"https://corp.awsapps.com/start","region":"`+awstest.Region+`","accessToken":"`+accessToken+`","expiresAt":"`+expiresAt+`"}`)
	return accessToken
}

// TestSSOSessionExpired: a profile of IAM Identity Center (aws configure
// sso) whose cached token has expired fails saying to log in again, with
// the profile's name.
func TestSSOSessionExpired(t *testing.T) {
	emulator(t)
	accessToken := ssoProfile(t, "dev-sso", "2020-01-01T00:00:00Z")
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		unsetenv(t, k)
	}
	_, err := awsstore.NewSecretsManager(awsstore.NewSession(awsstore.SessionOptions{Profile: "dev-sso", MaxAttempts: 1})).Fetch(t.Context(), mustRef(t, "awssm://sso/s"))
	checkError(t, "expired SSO session", err, []string{accessToken}, "aws sso login --profile dev-sso")
	// A container endpoint named beside it (CodeBuild, ECS, a ward
	// under another's identity.aws), which the profile takes precedence
	// over: still the profile's failure (the endpoint was blamed).
	t.Setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/not-used")
	_, err = awsstore.NewSecretsManager(awsstore.NewSession(awsstore.SessionOptions{Profile: "dev-sso", MaxAttempts: 1})).Fetch(t.Context(), mustRef(t, "awssm://sso/s"))
	checkError(t, "expired SSO session beside a container endpoint", err, []string{accessToken}, "aws sso login --profile dev-sso")
}

// TestCertificateNotRetried: an endpoint whose certificate ward cannot
// verify (a TLS-inspecting proxy's, a VPC endpoint's behind one) fails at
// the first attempt, naming what to set: a retry meets the same
// certificate. The SDK took it for a connection error and made all its
// attempts, with their backoff.
func TestCertificateNotRetried(t *testing.T) {
	emulator(t)
	endpoint, conns := resolvetest.UntrustedEndpoint(t)
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint)
	_, err := awsstore.NewSecretsManager(newSession()).Fetch(t.Context(), mustRef(t, "awssm://cert/s"))
	if err == nil || !strings.Contains(err.Error(), "certificate") || !strings.Contains(err.Error(), "SSL_CERT_FILE") {
		t.Errorf("got %v, want a certificate error naming SSL_CERT_FILE", err)
	}
	if n := conns(); n != 1 {
		t.Errorf("the endpoint saw %d connections, want 1: a certificate error is final", n)
	}
}

// TestARNRegion reads secrets and parameters named by ARNs in another
// region than ward's. AWS does not forward a request by the ARN it names:
// asked in us-east-1, Secrets Manager "can't find" an eu-west-1 secret and
// Parameter Store lists its parameter as invalid. Each region here holds a
// secret and a parameter of the same name, with different values.
func TestARNRegion(t *testing.T) {
	home := emulator(t)
	eu := home.AddRegion("eu-west-1")
	values := map[string]string{}
	for _, r := range []struct {
		region string
		srv    *awstest.Server
	}{{"home", home}, {"eu", eu}} {
		values[r.region+"/s"], values[r.region+"/p"] = resolvetest.Canary("sm-"+r.region), resolvetest.Canary("ssm-"+r.region)
		r.srv.PutSecretString("region/db", values[r.region+"/s"])
		r.srv.PutParameter("/region/token", values[r.region+"/p"], true)
	}
	vars := map[string]string{
		"HOME_SECRET":      "awssm://region/db",
		"EU_SECRET":        "awssm://" + eu.SecretARN("region/db"),
		"EU_PARTIAL":       "awssm://arn:aws:secretsmanager:eu-west-1:" + awstest.AccountID + ":secret:region/db",
		"EU_SECRET_STAGE":  "awssm://" + eu.SecretARN("region/db") + "?stage=AWSCURRENT",
		"HOME_PARAM":       "ssm:///region/token",
		"EU_PARAM":         "ssm://" + eu.ParameterARN("/region/token"),
		"EU_PARAM_VERSION": "ssm://" + eu.ParameterARN("/region/token") + "?version=1",
	}
	want := map[string]string{
		"HOME_SECRET": "home/s", "EU_SECRET": "eu/s", "EU_PARTIAL": "eu/s", "EU_SECRET_STAGE": "eu/s",
		"HOME_PARAM": "home/p", "EU_PARAM": "eu/p", "EU_PARAM_VERSION": "eu/p",
	}
	session := newSession()
	stores := map[string]resolve.Store{"awssm": awsstore.NewSecretsManager(session), "ssm": awsstore.NewParameterStore(session)}
	f := &resolve.Fetcher{Stores: func(scheme string) (resolve.Store, error) { return stores[scheme], nil }}
	refs := map[string]resolve.Ref{}
	for name, s := range vars {
		refs[name] = mustRef(t, s)
	}
	var canaries []string
	for _, v := range values {
		canaries = append(canaries, v)
	}
	got, err := f.Fetch(t.Context(), refs)
	if err != nil {
		checkError(t, "fetch", err, canaries)
		t.Fatalf("fetch: %s", strings.Join(strings.Fields(strings.NewReplacer(canaries...).Replace(err.Error())), " "))
	}
	for name, w := range want {
		if string(got[name].Bytes) != values[w] {
			t.Errorf("%s (%s): got the value of another secret or parameter, want %s's", name, vars[name], w)
		}
	}

	// One reference alone takes the single-read path.
	s, err := stores["awssm"].Fetch(t.Context(), mustRef(t, vars["EU_SECRET"]))
	if err != nil || string(s.Value) != values["eu/s"] {
		t.Errorf("fetch %s alone: err %v, or the value of another secret", vars["EU_SECRET"], err)
	}

	// A secret that exists in neither region is not found in the ARN's.
	_, err = stores["awssm"].Fetch(t.Context(), mustRef(t, "awssm://arn:aws:secretsmanager:eu-west-1:"+awstest.AccountID+":secret:region/none"))
	checkError(t, "a missing secret by ARN", err, canaries, "(eu-west-1")
	checkNotFound(t, "a missing secret by ARN", err, true)
	if err != nil && strings.Contains(err.Error(), "another region") {
		t.Errorf("a missing secret by ARN: the error says to name it by its ARN, which it does: %v", err)
	}
}

// TestEndpointOfAnotherRegion: an endpoint serves one region (a VPC
// endpoint, AWS_ENDPOINT_URL_* set for one region and AWS_REGION for
// another, an ARN of a region the endpoint does not serve). AWS refuses
// the signature's region, InvalidSignatureException "Credential should be
// scoped to a valid region", which says nothing of the keys.
func TestEndpointOfAnotherRegion(t *testing.T) {
	srv := emulator(t)
	v := resolvetest.Canary("endpoint-region")
	srv.PutSecretString("er/s", v)
	srv.PutParameter("/er/p", v, true)
	tests := []struct {
		name, region, ref string
		wants             []string
	}{
		{"secret by name", "ap-south-1", "awssm://er/s", []string{`secret "er/s"`, "ap-south-1", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "InvalidSignatureException"}},
		{"parameter by name", "ap-south-1", "ssm:///er/p", []string{`parameter "/er/p"`, "ap-south-1", "AWS_ENDPOINT_URL_SSM", "InvalidSignatureException"}},
		{"secret by ARN", awstest.Region, "awssm://arn:aws:secretsmanager:ap-south-1:" + awstest.AccountID + ":secret:er/s", []string{"ap-south-1", "AWS_ENDPOINT_URL_SECRETS_MANAGER"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AWS_REGION", tt.region)
			session := newSession()
			stores := map[string]resolve.Store{"awssm": awsstore.NewSecretsManager(session), "ssm": awsstore.NewParameterStore(session)}
			ref := mustRef(t, tt.ref)
			_, err := stores[ref.Scheme].Fetch(t.Context(), ref)
			checkError(t, tt.name, err, []string{v}, append(tt.wants, "does not serve")...)
			if err != nil && strings.Contains(err.Error(), "access key") {
				t.Errorf("%s: the error sends the user to check the access key: %v", tt.name, err)
			}
		})
	}
}

// TestEndpointThatNeverAnswers: an endpoint that takes the connection and
// never answers (a stalled TLS-inspecting proxy, a VPC endpoint whose
// network interface drops what follows the handshake). Each request,
// retries included, is bounded by SessionOptions.Timeout
// (stores.aws.timeout); ward waited for ever, at start with no child and
// no error, and mid-run with every poll after it stuck behind it.
func TestEndpointThatNeverAnswers(t *testing.T) {
	emulator(t)
	release := make(chan struct{})
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(stalled.Close)
	// Run first: what still waits must not hold Close up.
	t.Cleanup(func() { close(release) })
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", stalled.URL)
	t.Setenv("AWS_ENDPOINT_URL_SSM", stalled.URL)

	const timeout = 300 * time.Millisecond
	session := awsstore.NewSession(awsstore.SessionOptions{MaxBackoff: time.Millisecond, Timeout: timeout})
	stores := map[string]resolve.Store{"awssm": awsstore.NewSecretsManager(session), "ssm": awsstore.NewParameterStore(session)}
	for _, ref := range []string{"awssm://stalled/s", "ssm:///stalled/p"} {
		r := mustRef(t, ref)
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			_, err := stores[r.Scheme].Fetch(t.Context(), r)
			done <- err
		}()
		select {
		case err := <-done:
			checkError(t, ref, err, nil, "stores.aws.timeout", "no answer")
			if took := time.Since(start); took > 10*timeout {
				t.Errorf("%s: failed after %s, want about %s", ref, took, timeout)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s: still waiting for the endpoint after 10s, with a timeout of %s", ref, timeout)
		}
	}
}

// TestCredentialSourceThatNeverAnswers: a container credentials endpoint
// that takes the request and never answers, an awssm:// and an ssm://
// read at once: one load of the credentials fails for both, within one
// stores.aws.timeout (the second read waited for the first's load and
// then loaded again, the timeout twice), and the error names the
// endpoint, not "set AWS_PROFILE ... or run with an IAM role".
func TestCredentialSourceThatNeverAnswers(t *testing.T) {
	emulator(t)
	unsetenv(t, "AWS_ACCESS_KEY_ID")
	unsetenv(t, "AWS_SECRET_ACCESS_KEY")
	var asked atomic.Int32
	release := make(chan struct{})
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(stalled.Close)
	t.Cleanup(func() { close(release) })
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", stalled.URL+"/creds")
	session := awsstore.NewSession(awsstore.SessionOptions{MaxBackoff: time.Millisecond, Timeout: 500 * time.Millisecond})
	stores := map[string]resolve.Store{"awssm": awsstore.NewSecretsManager(session), "ssm": awsstore.NewParameterStore(session)}
	var wg sync.WaitGroup
	for _, ref := range []string{"awssm://app/s", "ssm:///app/p"} {
		r := mustRef(t, ref)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := stores[r.Scheme].Fetch(t.Context(), r)
			checkError(t, ref, err, nil, "no usable AWS credentials", "AWS_CONTAINER_CREDENTIALS_FULL_URI")
		}()
	}
	wg.Wait()
	// The SDK's own retries of one load may ask more than once; a second
	// load would ask as often again.
	first := asked.Load()
	if _, err := stores["ssm"].Fetch(t.Context(), mustRef(t, "ssm:///app/p")); err == nil {
		t.Fatal("a read after the failure: got no error")
	}
	if again := asked.Load() - first; first != again {
		t.Errorf("the two reads at once asked the endpoint %d times, a later read %d: want one load for the two", first, again)
	}
}

// TestCredentialRefreshThatHangs: credentials from a container endpoint,
// refreshed as they near their end; the endpoint takes a refresh and
// never answers, then answers again. The SDK's credentials cache fetches
// with a context whose end it suppresses: the refresh that hung held
// every later read for good, the endpoint back or not (a rotation's polls
// failed to the run's end). Bounded, it ends, and the next read fetches
// afresh.
func TestCredentialRefreshThatHangs(t *testing.T) {
	srv := emulator(t)
	value := resolvetest.Canary("after-the-hang")
	srv.PutSecretString("app/s", value)
	unsetenv(t, "AWS_ACCESS_KEY_ID")
	unsetenv(t, "AWS_SECRET_ACCESS_KEY")
	var hang atomic.Bool
	gaveUp := make(chan struct{}, 16)
	release := make(chan struct{})
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hang.Load() {
			// Within the cache's window of 5 minutes: each read
			// refreshes them.
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"AccessKeyId":%q,"SecretAccessKey":%q,"Expiration":%q}`, awstest.AccessKeyID, awstest.SecretAccessKey, time.Now().Add(time.Minute).UTC().Format(time.RFC3339))
			return
		}
		select {
		case <-r.Context().Done():
			gaveUp <- struct{}{}
		case <-release:
		}
	}))
	t.Cleanup(endpoint.Close)
	t.Cleanup(func() { close(release) })
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoint.URL+"/creds")
	// Room for a whole read within the timeout under the race detector
	// on a busy machine (500 ms ran out for the read after the hang, in
	// CI's race step).
	store := awsstore.NewSecretsManager(awsstore.NewSession(awsstore.SessionOptions{MaxBackoff: time.Millisecond, Timeout: 3 * time.Second}))
	ref := mustRef(t, "awssm://app/s")
	if _, err := store.Fetch(t.Context(), ref); err != nil {
		t.Fatalf("the first read: %v", err)
	}
	hang.Store(true)
	if _, err := store.Fetch(t.Context(), ref); err == nil {
		t.Fatal("a read while the refresh hangs: got no error")
	}
	select {
	case <-gaveUp:
	case <-time.After(10 * time.Second):
		t.Fatal("the refresh that hangs is still waiting for the endpoint after 10s")
	}
	hang.Store(false)
	got, err := store.Fetch(t.Context(), ref)
	if err != nil && strings.Contains(err.Error(), "no answer within") {
		// The refresh that hung ends a moment after the endpoint saw
		// its request go: a read in that moment shares it (the SDK's
		// cache fetches once for all callers) and has its error. That
		// read ended it; the next starts a refresh of its own. (Seen
		// in CI under the race detector.)
		got, err = store.Fetch(t.Context(), ref)
	}
	if err != nil {
		t.Fatalf("a read once the endpoint answers again: %v", err)
	}
	if string(got.Value) != value {
		t.Errorf("a read once the endpoint answers again: not the value")
	}
}

// TestCredentialAnswerBounded: the endpoint a credential provider of the
// SDK's chain asks (the container endpoint, IMDS, STS for web identity
// and a profile's role, the SSO portal) answers 200 with a body that never ends. The fetch fails at 16 MiB,
// naming the endpoint, at one request (IMDS two: the SDK falls back to
// IMDSv1 when the token's answer fails); the SDK read on into memory
// until the timeout, gigabytes. AWS_CA_BUNDLE still verifies the
// endpoint's certificate, STS's and the store's.
func TestCredentialAnswerBounded(t *testing.T) {
	for _, tt := range []struct {
		name     string
		tls      bool
		setup    func(t *testing.T, url string) []string
		requests int
	}{
		{"container endpoint", false, func(t *testing.T, url string) []string {
			token := resolvetest.Canary("container-token")
			t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url+"/creds")
			t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", token)
			return []string{token}
		}, 1},
		{"imds", false, func(t *testing.T, url string) []string {
			unsetenv(t, "AWS_EC2_METADATA_DISABLED")
			t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url)
			return nil
		}, 2},
		{"web identity with AWS_CA_BUNDLE", true, func(t *testing.T, url string) []string {
			token := resolvetest.Canary("web-identity")
			file := filepath.Join(t.TempDir(), "token")
			writeFile(t, file, token)
			t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", file)
			t.Setenv("AWS_ROLE_ARN", "arn:aws:iam::"+awstest.AccountID+":role/app")
			t.Setenv("AWS_ENDPOINT_URL_STS", url)
			return []string{token}
		}, 1},
		{"assume role of a profile", false, func(t *testing.T, url string) []string {
			configFile := filepath.Join(t.TempDir(), "config")
			writeFile(t, configFile, "[profile bounded]\nregion = "+awstest.Region+"\nrole_arn = arn:aws:iam::"+awstest.AccountID+":role/app\nsource_profile = base\n"+
				"[profile base]\naws_access_key_id = "+awstest.AccessKeyID+"\naws_secret_access_key = "+awstest.SecretAccessKey+"\n")
			t.Setenv("AWS_CONFIG_FILE", configFile)
			t.Setenv("AWS_PROFILE", "bounded")
			t.Setenv("AWS_ENDPOINT_URL_STS", url)
			return nil
		}, 1},
		{"sso portal", false, func(t *testing.T, url string) []string {
			accessToken := ssoProfile(t, "bounded", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
			t.Setenv("AWS_PROFILE", "bounded")
			t.Setenv("AWS_ENDPOINT_URL_SSO", url)
			return []string{accessToken}
		}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			emulator(t)
			unsetenv(t, "AWS_ACCESS_KEY_ID")
			unsetenv(t, "AWS_SECRET_ACCESS_KEY")
			endless := resolvetest.NewEndless(t, tt.tls)
			if tt.tls {
				bundle := filepath.Join(t.TempDir(), "ca.pem")
				writeFile(t, bundle, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: endless.Certificate().Raw})))
				t.Setenv("AWS_CA_BUNDLE", bundle)
			}
			canaries := tt.setup(t, endless.URL)
			start := time.Now()
			_, err := awsstore.NewSecretsManager(awsstore.NewSession(awsstore.SessionOptions{MaxBackoff: time.Millisecond, Timeout: 10 * time.Second})).
				Fetch(t.Context(), mustRef(t, "awssm://bounded/s"))
			checkError(t, tt.name, err, canaries, "no usable AWS credentials: ", "the answer from "+endless.Host()+" is larger than 16 MiB")
			if tl := (*bodylimit.TooLargeError)(nil); !errors.As(err, &tl) {
				t.Errorf("%s: the error is no bodylimit.TooLargeError", tt.name)
			}
			if n := endless.Requests(); n < 1 || n > tt.requests {
				t.Errorf("%s: the endpoint took %d requests, want at most %d: the same answer comes again", tt.name, n, tt.requests)
			}
			if sent := endless.Sent(); sent > int64(tt.requests)*64<<20 {
				t.Errorf("%s: the endpoint sent %d MiB, want about 16 MiB a request", tt.name, sent>>20)
			}
			t.Logf("%s: failed in %s, the endpoint sent %d MiB", tt.name, time.Since(start).Round(time.Millisecond), endless.Sent()>>20)
		})
	}
}

// TestCABundleBoundedStore: AWS_CA_BUNDLE makes the SDK build its HTTP
// client itself; the store's answers are bounded all the same, over the
// certificate the bundle trusts.
func TestCABundleBoundedStore(t *testing.T) {
	emulator(t)
	endless := resolvetest.NewEndless(t, true)
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	writeFile(t, bundle, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: endless.Certificate().Raw})))
	t.Setenv("AWS_CA_BUNDLE", bundle)
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", endless.URL)
	_, err := awsstore.NewSecretsManager(newSession()).Fetch(t.Context(), mustRef(t, "awssm://bounded/s"))
	checkError(t, "store over AWS_CA_BUNDLE", err, nil, "the answer from "+endless.Host()+" is larger than 16 MiB")
}

// processProfile writes script, body, and an AWS config file whose
// profile "proc" gets its credentials from it (credential_process), for
// the test; keys in the environment are unset.
func processProfile(t *testing.T, script, body string) {
	t.Helper()
	writeFile(t, script, body)
	if err := os.Chmod(script, 0o700); err != nil {
		t.Fatal(err)
	}
	configFile := filepath.Join(filepath.Dir(script), "config")
	writeFile(t, configFile, "[profile proc]\nregion = "+awstest.Region+"\ncredential_process = "+script+"\n")
	t.Setenv("AWS_CONFIG_FILE", configFile)
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		unsetenv(t, k)
	}
}

// TestCredentialProcessOutputBounded: a profile's credential_process
// that prints without end (a loop, a wrapper's log on stdout) fails the
// fetch once it has printed 1 MiB, saying so; the SDK buffered all of
// it until the timeout, gigabytes.
func TestCredentialProcessOutputBounded(t *testing.T) {
	emulator(t)
	processProfile(t, filepath.Join(t.TempDir(), "creds.sh"), "#!/bin/sh\nwhile :; do echo '"+strings.Repeat("A", 4095)+"'; done\n")
	start := time.Now()
	_, err := awsstore.NewSecretsManager(awsstore.NewSession(awsstore.SessionOptions{Profile: "proc", MaxAttempts: 1, Timeout: 10 * time.Second})).
		Fetch(t.Context(), mustRef(t, "awssm://process/s"))
	checkError(t, "endless credential_process", err, nil, "no usable AWS credentials: ", "credential_process printed more than 1 MiB on its stdout")
	if po := (*awsstore.ProcessOutputError)(nil); !errors.As(err, &po) {
		t.Errorf("the error is no ProcessOutputError")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("failed after %s, want well within the 10s timeout", took.Round(time.Millisecond))
	}
}

// roleOverProcess adds to processProfile's config a profile "role" that
// assumes role with the credentials of "proc" (source_profile), for the
// test.
func roleOverProcess(t *testing.T, script, role string) {
	t.Helper()
	configFile := filepath.Join(filepath.Dir(script), "config")
	f, err := os.OpenFile(configFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("[profile role]\nregion = " + awstest.Region + "\nrole_arn = " + role + "\nsource_profile = proc\n"); err != nil {
		t.Fatal(err)
	}
}

// TestSourceProfileCredentialProcessOutputBounded: the credential_process
// of a source_profile, whose keys assume the profile's role, that prints
// without end fails the fetch at 1 MiB, naming the source profile, as a
// profile's own does; the SDK ran it with its own provider, which
// buffered all of it until the timeout (gigabytes).
func TestSourceProfileCredentialProcessOutputBounded(t *testing.T) {
	srv := emulator(t)
	srv.AddRole(awstest.Role{ARN: stsTestRole})
	loop := resolvetest.Canary("process-loop")
	script := filepath.Join(t.TempDir(), "creds.sh")
	processProfile(t, script, "#!/bin/sh\nwhile :; do echo '"+loop+strings.Repeat("A", 4095-len(loop))+"'; done\n")
	roleOverProcess(t, script, stsTestRole)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, err := awsstore.NewSecretsManager(awsstore.NewSession(awsstore.SessionOptions{Profile: "role", MaxAttempts: 1, Timeout: 10 * time.Second})).
		Fetch(t.Context(), mustRef(t, "awssm://process/s"))
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	checkError(t, "endless credential_process of a source_profile", err, []string{loop}, "no usable AWS credentials: ",
		`the credential_process of AWS profile "proc" (the source_profile of the role the profile assumes) printed more than 1 MiB on its stdout`)
	if po := (*awsstore.ProcessOutputError)(nil); !errors.As(err, &po) {
		t.Errorf("the error is no ProcessOutputError")
	}
	if took > 5*time.Second {
		t.Errorf("failed after %s, want well within the 10s timeout", took.Round(time.Millisecond))
	}
	// The bound is 1 MiB; the SDK's buffer doubles as it grows.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("the fetch allocated %d MiB, want a few: the output was buffered", alloc>>20)
	}
	t.Logf("failed in %s, %d MiB allocated", took.Round(time.Millisecond), (after.TotalAlloc-before.TotalAlloc)>>20)
	if n := srv.Calls("AssumeRole"); n != 0 {
		t.Errorf("AssumeRole was called %d times without keys", n)
	}
}

// TestSourceProfileCredentialProcess: the source_profile's
// credential_process that ward runs gives the keys that sign the
// AssumeRole call of the profile's role_arn, and the store reads with the
// role's.
func TestSourceProfileCredentialProcess(t *testing.T) {
	srv := emulator(t)
	srv.AddRole(awstest.Role{ARN: stsTestRole})
	v := resolvetest.Canary("source-process")
	srv.PutSecretString("process/s", v)
	script := filepath.Join(t.TempDir(), "creds.sh")
	processProfile(t, script, `#!/bin/sh
echo '{"Version":1,"AccessKeyId":"`+awstest.AccessKeyID+`","SecretAccessKey":"`+awstest.SecretAccessKey+`"}'
`)
	roleOverProcess(t, script, stsTestRole)
	// The load's STS client, made before the rest of the configuration,
	// reads only the service's own variable.
	t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL())
	got, err := awsstore.NewSecretsManager(awsstore.NewSession(awsstore.SessionOptions{Profile: "role", MaxAttempts: 1})).
		Fetch(t.Context(), mustRef(t, "awssm://process/s"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Value) != v {
		t.Errorf("got the wrong value")
	}
	if n := srv.SignedBy("sts.AssumeRole")[awstest.AccessKeyID]; n != 1 {
		t.Errorf("got %d AssumeRole calls signed with the process's key, want 1", n)
	}
}

// TestSTSAnswerBeforeRequestRead: an STS endpoint that answers before
// it has read the request (a proxy gone wrong, the endless server here).
// With stores.aws.max_attempts 1, each of ten fetches fails at the
// answer's bound, at one request; the SDK closed the request's body
// once the answer's headers came, and in about half of them the
// transport then closed the connection under the answer: "use of closed
// network connection", the request failed (retried with more
// attempts).
func TestSTSAnswerBeforeRequestRead(t *testing.T) {
	emulator(t)
	configFile := filepath.Join(t.TempDir(), "config")
	writeFile(t, configFile, "[profile bounded]\nregion = "+awstest.Region+"\nrole_arn = arn:aws:iam::"+awstest.AccountID+":role/app\nsource_profile = base\n"+
		"[profile base]\naws_access_key_id = "+awstest.AccessKeyID+"\naws_secret_access_key = "+awstest.SecretAccessKey+"\n")
	t.Setenv("AWS_CONFIG_FILE", configFile)
	failed := 0
	for i := range 10 {
		endless := resolvetest.NewEndless(t, false)
		t.Setenv("AWS_ENDPOINT_URL_STS", endless.URL)
		_, err := awsstore.NewSecretsManager(awsstore.NewSession(awsstore.SessionOptions{Profile: "bounded", MaxAttempts: 1, Timeout: 10 * time.Second})).
			Fetch(t.Context(), mustRef(t, "awssm://bounded/s"))
		if tl := (*bodylimit.TooLargeError)(nil); !errors.As(err, &tl) {
			failed++
			t.Errorf("fetch %d: got %v, want the answer's bound", i, err)
		}
		if n := endless.Requests(); n != 1 {
			t.Errorf("fetch %d: the endpoint took %d requests, want 1", i, n)
		}
		endless.CloseClientConnections()
		endless.Close()
	}
	if failed > 0 {
		t.Errorf("%d of 10 fetches failed before the answer's bound", failed)
	}
}
