package main

// Short-lived cloud credentials without restarts, for Google Cloud and
// Azure: ward serves the child's library a token on a loopback endpoint in
// the platform's own protocol (the GCE metadata server, App Service's
// managed identity endpoint), refreshed from ward's own credentials, and
// the child never restarts. The chain is real: ward's helper asks the
// emulator's IAM Credentials API (Google) or Entra ID (Azure) for tokens
// that expire in 15 seconds, ward serves them, the child's official
// library (google.golang.org/api with Application Default Credentials;
// azidentity's DefaultAzureCredential with azsecrets) sends them, and the
// emulator's Secret Manager or Key Vault checks every one.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/launcher/identity"
	"github.com/wardsecrets/ward/resolve/azure/azuretest"
	"github.com/wardsecrets/ward/resolve/gcp/gcptest"
	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"github.com/wardsecrets/ward/testdata/helper"
)

const (
	// cloudTokenTTL is how long the tokens the children get live.
	cloudTokenTTL = 15 * time.Second
	// cloudChildDuration and cloudChildInterval: each child reads a
	// secret this often, this long.
	cloudChildDuration = 50 * time.Second
	cloudChildInterval = 200 * time.Millisecond
	// minDistinctTokens is the fewest tokens the emulator must have seen
	// from a child.
	minDistinctTokens = 4
	// vaultResource is Key Vault's resource.
	vaultResource = "https://vault.azure.net"
)

// childSA is the service account the Google child acts as.
const childSA = "ward-child@" + gcptest.Project + ".iam.gserviceaccount.com"

// cloudChildProgram is testdata/cloudchild, the Google and Azure child.
var cloudChildProgram = &testProgram{pkg: "./testdata/cloudchild"}

// cloudChild is one of the Google and Azure children in
// testdata/cloudchild, each taking the same arguments after its command.
type cloudChild struct {
	name string
	// command returns the program (and its arguments before the cloud's),
	// the variables it needs given the run's CA file for TLS ("" when the
	// emulator speaks plain HTTP), or why it cannot run here.
	command func(t *testing.T, caFile string) (argv, env []string, missing string)
}

var cloudChildren = []cloudChild{
	{name: "go", command: func(t *testing.T, _ string) ([]string, []string, string) {
		return []string{cloudChildProgram.build(t)}, nil, ""
	}},
	{name: "node", command: nodeCloudChild},
}

// nodeCloudChild runs child.cjs with node and Google's and Azure's
// JavaScript libraries, installed once under $HOME/.cache/ward/npm.
func nodeCloudChild(t *testing.T, caFile string) ([]string, []string, string) {
	argv, env, missing := cloudChildNPM.nodeChild(t, "google-auth-library or @azure/identity")
	if missing == "" && caFile != "" {
		// Node.js reads its own variable, not SSL_CERT_FILE.
		env = append(env, "NODE_EXTRA_CA_CERTS="+caFile)
	}
	return argv, env, missing
}

// gcpIdentityWard is a GCP emulator and a ward environment whose own
// credentials are the emulator's key file (ward-test@, GOOGLE_APPLICATION_CREDENTIALS),
// with the emulator's metadata server in GCE_METADATA_HOST too: a child
// that got either would act as ward's identity, not childSA. The manifest
// serves childSA, whose token creator ward's identity is.
func gcpIdentityWard(t *testing.T, query string) (*gcptest.Server, *wardEnv, string) {
	t.Helper()
	srv, w := gcpWard(t)
	srv.AddServiceAccount(childSA, gcptest.ClientEmail)
	srv.AddVersion(gcpSecret("app"), []byte(w.canary("gcp-identity")))
	m := w.manifest("version: 1\n" + gcpStores(srv) + "    iam_endpoint: " + srv.IAMURL() +
		"\nidentity:\n  gcp:\n    from: gcpsa://" + childSA + query + "\n")
	return srv, w, m
}

// azureIdentityWard is an Azure emulator and a ward environment whose own
// credentials are a service principal's secret, with the emulator's own
// App Service managed identity endpoint in IDENTITY_ENDPOINT too: a child
// that got either would not use ward's endpoint.
func azureIdentityWard(t *testing.T) (*azuretest.Server, *wardEnv, string) {
	t.Helper()
	srv, w := azureWard(t, (*azuretest.Server).Env)
	srv.AssignManagedIdentity()
	srv.SetSecret("app", w.canary("az-identity"))
	w.canaries = append(w.canaries, srv.ClientSecret())
	m := w.manifest("version: 1\n" + azureStores + "identity:\n  azure:\n    resources: [" + vaultResource + "]\n")
	return srv, w, m
}

// readIdentityHeader is collect's onStart for the cloud child: it reads
// IDENTITY_HEADER from the child's environ, to look for it in ward's log.
func readIdentityHeader(rep *childReport, rest string) {
	pid, _, _ := strings.Cut(rest, " ")
	env, err := os.ReadFile("/proc/" + pid + "/environ")
	if err != nil {
		return
	}
	for _, kv := range bytes.Split(env, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("IDENTITY_HEADER=")); ok {
			rep.identityHeader = string(v)
		}
	}
}

// checkCloudChild asserts a run's figures: every read succeeded, the
// child started once, and the emulator accepted at least
// minDistinctTokens of its tokens, one per read, and refused none.
func checkCloudChild(t *testing.T, rep childReport, cloud string, used map[string]int, rejected int, secrets []string) {
	t.Helper()
	if rep.err != nil {
		t.Fatalf("%v; ward's log:\n%s", rep.err, redactAll(strings.Join(rep.stderr, "\n"), secrets...))
	}
	authorised := 0
	for _, n := range used {
		authorised += n
	}
	refreshes := len(logRecords(rep.stderr, cloud+" identity refreshed"))
	restarts := len(logRecords(rep.stderr, "child restarted with the new secrets"))
	t.Logf("%s: %d calls (%d ok, %d failed), %d distinct tokens accepted by the emulator (%d reads), %d refused tokens, %d refreshes, %d child starts, %d restarts",
		rep.startLine, rep.doneCalls, rep.ok, rep.fail, len(used), authorised, rejected, refreshes, rep.starts, restarts)
	if rep.fail != 0 || rep.doneFailures != 0 {
		t.Errorf("%d calls failed; the first: %s", rep.fail, redactAll(rep.firstFailure, secrets...))
	}
	if want := int(cloudChildDuration / cloudChildInterval); rep.doneCalls < want*9/10 || rep.ok != rep.doneCalls {
		t.Errorf("got %d calls (%d ok), want about %d, all ok", rep.doneCalls, rep.ok, want)
	}
	if rep.starts != 1 || restarts != 0 {
		t.Errorf("the child started %d times (%d restarts), want once", rep.starts, restarts)
	}
	if len(used) < minDistinctTokens {
		t.Errorf("the emulator accepted %d distinct tokens from the child, want at least %d", len(used), minDistinctTokens)
	}
	if authorised != rep.ok {
		t.Errorf("the emulator accepted %d reads with the identity's tokens, the child made %d", authorised, rep.ok)
	}
	if rejected != 0 {
		t.Errorf("the emulator refused %d tokens (expired or unknown): the child was handed a token it could not use", rejected)
	}
	if refreshes < minDistinctTokens-1 {
		t.Errorf("ward refreshed the token %d times, want at least %d", refreshes, minDistinctTokens-1)
	}
	if rep.code != 0 {
		t.Errorf("ward exited %d, want the child's 0", rep.code)
	}
	log := strings.Join(rep.stderr, "\n")
	for _, s := range secrets {
		if s != "" && strings.Contains(log, s) {
			t.Errorf("ward's log holds a token or the endpoint's header (%d bytes)", len(s))
		}
	}
}

// cloudRun is one cloud child under ward, with its own emulator.
type cloudRun struct {
	name    string
	missing string
	gsrv    *gcptest.Server
	asrv    *azuretest.Server
	w       *wardEnv
	run     *childRun
	rep     childReport
}

// TestIdentityCloudSDKs runs each Google and Azure child (Go, and Node.js)
// under ward at once, each reading a secret every 200ms for 50s with
// tokens that expire every 15s: no read fails, no child restarts, and
// each emulator accepts at least four tokens of the identity ward
// serves, and none of ward's own or of the emulator's own metadata or
// managed identity endpoint.
func TestIdentityCloudSDKs(t *testing.T) {
	if testing.Short() {
		t.Skip("50 seconds of SDK children: run without -short")
	}
	var runs []*cloudRun
	for _, c := range cloudChildren {
		g := &cloudRun{name: "gcp/" + c.name}
		runs = append(runs, g)
		argv, env, missing := c.command(t, "")
		if g.missing = missing; missing == "" {
			var m string
			g.gsrv, g.w, m = gcpIdentityWard(t, "?lifetime="+cloudTokenTTL.String())
			g.run = startWithChild(t, g.w, m, env, slices.Concat(argv, []string{"gcp"}, childPace(c.name), []string{g.gsrv.URL(), gcpSecret("app") + "/versions/latest"}))
		}

		a := &cloudRun{name: "azure/" + c.name}
		runs = append(runs, a)
		var m string
		a.asrv, a.w, m = azureIdentityWard(t)
		argv, env, missing = c.command(t, a.asrv.CAFile())
		if a.missing = missing; missing == "" {
			a.asrv.SetTokenLifetime(cloudTokenTTL)
			a.run = startWithChild(t, a.w, m, env, slices.Concat(argv, []string{"azure"}, childPace(c.name), []string{a.asrv.VaultURL(), "app"}))
		}
	}

	var wg sync.WaitGroup
	for _, r := range runs {
		if r.run != nil {
			onStart := readIdentityHeader
			if r.gsrv != nil {
				onStart = nil
			}
			wg.Go(func() { r.rep = r.run.collect(cloudChildDuration+time.Minute, onStart) })
		}
	}
	wg.Wait()

	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			if r.missing != "" {
				vaulttest.RequireIntegration(t, r.missing)
			}
			if gsrv := r.gsrv; gsrv != nil {
				checkCloudChild(t, r.rep, "gcp", gsrv.TokensUsedBy(childSA), gsrv.RejectedTokens(), gsrv.IssuedTokens())
				if n := len(gsrv.TokensUsedBy(gcptest.ClientEmail)); n != 0 {
					t.Errorf("Secret Manager accepted %d tokens of ward's own identity: ward's key file reached the child", n)
				}
				if n := gsrv.Calls(gcptest.MethodMetadataToken); n != 0 {
					t.Errorf("the emulator's own metadata server issued %d tokens: the child did not use ward's endpoint", n)
				}
				if n := gsrv.Calls(gcptest.MethodGenerateAccessToken); n < minDistinctTokens {
					t.Errorf("ward asked the IAM Credentials API %d times, want at least %d", n, minDistinctTokens)
				}
				return
			}
			asrv := r.asrv
			checkCloudChild(t, r.rep, "azure", asrv.TokensUsedBy(azuretest.ClientID), asrv.RejectedTokens(), append(asrv.IssuedTokens(), r.rep.identityHeader))
			if r.rep.identityHeader == "" {
				t.Errorf("the child had no IDENTITY_HEADER")
			}
			if n := len(asrv.TokensUsedBy(asrv.ManagedIdentityClientID())); n != 0 || asrv.Calls(azuretest.RouteManagedIdentity) != 0 {
				t.Errorf("the emulator's own managed identity endpoint served the child (%d tokens used): ward's endpoint was bypassed", n)
			}
			r.w.canaries = append(r.w.canaries, r.rep.identityHeader)
		})
	}
}

// childPace is a child's DURATION and INTERVAL arguments: Go reads Go
// durations, Node.js seconds.
func childPace(lang string) []string {
	if lang == "node" {
		return []string{fmt.Sprint(cloudChildDuration.Seconds()), fmt.Sprint(cloudChildInterval.Seconds())}
	}
	return []string{cloudChildDuration.String(), cloudChildInterval.String()}
}

// TestIdentityCloudEndpoints checks what the child gets and what the
// endpoints answer: their variables and none of the other credential
// variables; on the metadata endpoint, 403 without Metadata-Flavor:
// Google or with X-Forwarded-For, the token, email, scopes, project and
// directory with it, and the flavor on every answer; on the managed
// identity endpoint, 401 without IDENTITY_HEADER or with a wrong one, 400
// for a resource ward does not serve, a user-assigned identity or another
// API version, the token with it; 127.0.0.1 only; and no token or header
// in ward's log.
func TestIdentityCloudEndpoints(t *testing.T) {
	gsrv, w := gcpWard(t)
	gsrv.AddServiceAccount(childSA, gcptest.ClientEmail)
	asrv := azuretest.New(t, nil)
	asrv.AssignManagedIdentity()
	w.env = append(withoutEnv(w.env, slices.Concat(azuretest.ClearEnv, []string{"SSL_CERT_FILE", "SSL_CERT_DIR"})...), asrv.Env()...)
	w.canaries = append(w.canaries, asrv.ClientSecret())
	m := w.manifest("version: 1\n" + gcpStores(gsrv) + "    iam_endpoint: " + gsrv.IAMURL() + "\n" +
		"  azure:\n    disable_instance_discovery: true\n    disable_challenge_resource_verification: true\n" +
		"identity:\n  gcp:\n    from: gcpsa://" + childSA + "?scopes=cloud-platform,userinfo.email&lifetime=30m\n" +
		"  azure:\n    resources: [" + vaultResource + ", https://storage.azure.com/]\n" +
		"env:\n  APP_REGION: {value: eu-west-1}\n")
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "helper", "env", "wait")
	stdout, _ := cmd.StdoutPipe()
	stderrPipe, _ := cmd.StderrPipe()
	// Under a script's `umask 177` (before it writes a key): the
	// directories ward makes for the child must still be 0700.
	umask := syscall.Umask(0o177)
	err := cmd.Start()
	syscall.Umask(umask)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	out, errs := readLines(t, stdout), readLines(t, stderrPipe)
	secrets := func() []string { return append(gsrv.IssuedTokens(), asrv.IssuedTokens()...) }
	t.Cleanup(func() {
		if t.Failed() {
			cmd.Process.Kill()
			for line := range errs.ch {
				t.Logf("ward: %s", redactAll(line, secrets()...))
			}
		}
	})
	listing := envListing(out)

	var gaddr, aaddr string
	var stderr []string
	child := 0
	for gaddr == "" || aaddr == "" || child == 0 {
		line := errs.next("the endpoints' addresses and the child's pid")
		stderr = append(stderr, line)
		if recs := logRecords([]string{line}, "gcp endpoint listening"); len(recs) == 1 {
			gaddr, _ = recs[0]["addr"].(string)
		}
		if recs := logRecords([]string{line}, "azure endpoint listening"); len(recs) == 1 {
			aaddr, _ = recs[0]["addr"].(string)
		}
		if recs := logRecords([]string{line}, "child started"); len(recs) == 1 {
			pid, _ := recs[0]["pid"].(float64)
			child = int(pid)
		}
	}
	for _, a := range []string{gaddr, aaddr} {
		if host, _, err := net.SplitHostPort(a); err != nil || host != "127.0.0.1" {
			t.Fatalf("an endpoint listens on %q, want 127.0.0.1", a)
		}
	}
	env := procEnviron(t, child)
	header := env["IDENTITY_HEADER"]
	configDir := env["CLOUDSDK_CONFIG"]
	w.canaries = append(w.canaries, header)
	azURL := "http://" + aaddr + identity.AzurePath
	want := map[string]string{
		"GCE_METADATA_HOST": helper.Hash(gaddr),
		"GCE_METADATA_IP":   helper.Hash(gaddr),
		"CLOUDSDK_CONFIG":   helper.Hash(configDir),
		"IDENTITY_ENDPOINT": helper.Hash(azURL),
		"IDENTITY_HEADER":   helper.Hash(header),
		"APP_REGION":        helper.Hash("eu-west-1"),
	}
	for name, h := range want {
		if listing[name] != h {
			t.Errorf("the child's %s is not what it should be (present: %v)", name, listing[name] != "")
		}
	}
	for _, name := range append(identity.GCPStripped, identity.AzureStripped...) {
		if _, set := want[name]; !set && listing[name] != "" {
			t.Errorf("the child inherited %s", name)
		}
	}
	if len(header) < 32 {
		t.Errorf("IDENTITY_HEADER has %d characters, want a random secret of 32 or more", len(header))
	}
	if entries, err := os.ReadDir(configDir); err != nil || len(entries) != 0 || !strings.HasPrefix(configDir, w.runtime) {
		t.Errorf("CLOUDSDK_CONFIG is not an empty directory in ward's private directory: %v, %d entries", err, len(entries))
	}
	if st, err := os.Stat(configDir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("CLOUDSDK_CONFIG has mode %v under umask 0177, want 0700 (gcloud, not root, could not enter it): %v", st.Mode().Perm(), err)
	}

	t.Run("metadata", func(t *testing.T) {
		get := func(path string, headers map[string]string) (int, http.Header, []byte) {
			req, _ := http.NewRequest("GET", "http://"+gaddr+path, nil)
			for k, v := range headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, resp.Header, b
		}
		flavor := map[string]string{"Metadata-Flavor": "Google"}
		const token = "/computeMetadata/v1/instance/service-accounts/default/token"
		tests := []struct {
			name    string
			path    string
			headers map[string]string
			status  int
			body    string // a part of the body, "" for any
		}{
			{"no flavor", token, nil, 403, "Metadata-Flavor"},
			{"wrong flavor", token, map[string]string{"Metadata-Flavor": "google"}, 403, "Metadata-Flavor"},
			{"forwarded", token, map[string]string{"Metadata-Flavor": "Google", "X-Forwarded-For": "10.0.0.1"}, 403, "forwarded"},
			{"root probe", "/", flavor, 200, "computeMetadata/"},
			{"v1 listing", "/computeMetadata/v1/", flavor, 200, "instance/"},
			{"email", "/computeMetadata/v1/instance/service-accounts/default/email", flavor, 200, childSA},
			{"email by name", "/computeMetadata/v1/instance/service-accounts/" + childSA + "/email", flavor, 200, childSA},
			{"scopes", "/computeMetadata/v1/instance/service-accounts/default/scopes", flavor, 200, "https://www.googleapis.com/auth/userinfo.email"},
			{"recursive", "/computeMetadata/v1/instance/service-accounts/default/?recursive=true", flavor, 200, `"email":"` + childSA + `"`},
			{"project", "/computeMetadata/v1/project/project-id", flavor, 200, gcptest.Project},
			{"universe", "/computeMetadata/v1/universe/universe-domain", flavor, 200, "googleapis.com"},
			{"another account", "/computeMetadata/v1/instance/service-accounts/other@x.iam.gserviceaccount.com/token", flavor, 404, ""},
			{"id token", "/computeMetadata/v1/instance/service-accounts/default/identity?audience=x", flavor, 404, ""},
			{"token", token + "?scopes=https://www.googleapis.com/auth/cloud-platform", flavor, 200, `"token_type":"Bearer"`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				status, h, body := get(tt.path, tt.headers)
				if status != tt.status || !strings.Contains(string(body), tt.body) {
					t.Errorf("got %d (%d bytes), want %d with %q", status, len(body), tt.status, tt.body)
				}
				if h.Get("Metadata-Flavor") != "Google" {
					t.Errorf("the answer has no Metadata-Flavor: Google")
				}
				if tt.status != 200 && bytes.Contains(body, []byte("ya29.")) {
					t.Errorf("a refused request got a token")
				}
			})
		}
		_, _, body := get(token, flavor)
		var doc struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   int    `json:"expires_in"`
		}
		if err := json.Unmarshal(body, &doc); err != nil || doc.ExpiresIn < 25*60 || doc.ExpiresIn > 30*60 {
			t.Errorf("the token answer is not JSON with expires_in about 30m (%v, %d)", err, doc.ExpiresIn)
		}
		if p, ok := gsrvPrincipal(gsrv, doc.AccessToken); !ok || p != childSA {
			t.Errorf("the served token is not one the IAM Credentials API issued for %s", childSA)
		}
	})

	t.Run("managed identity", func(t *testing.T) {
		get := func(query, hdr string) (int, map[string]any) {
			req, _ := http.NewRequest("GET", azURL+"?"+query, nil)
			if hdr != "" {
				req.Header.Set("X-IDENTITY-HEADER", hdr)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var doc map[string]any
			b, _ := io.ReadAll(resp.Body)
			json.Unmarshal(b, &doc)
			return resp.StatusCode, doc
		}
		ok := "resource=" + vaultResource + "&api-version=2019-08-01"
		tests := []struct {
			name, query, header string
			status              int
		}{
			{"no header", ok, "", 401},
			{"wrong header", ok, "x" + header, 401},
			{"header prefix", ok, header[:len(header)-1], 401},
			{"no api-version", "resource=" + vaultResource, header, 400},
			{"old api-version", "resource=" + vaultResource + "&api-version=2017-09-01", header, 400},
			{"no resource", "api-version=2019-08-01", header, 400},
			{"unlisted resource", "resource=https://management.azure.com/&api-version=2019-08-01", header, 400},
			{"user-assigned", ok + "&client_id=" + azuretest.ClientID, header, 400},
			{"ok", ok, header, 200},
			{"trailing slash", "resource=" + vaultResource + "/&api-version=2019-08-01", header, 200},
			{"second resource", "resource=https://storage.azure.com&api-version=2019-08-01", header, 200},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				status, doc := get(tt.query, tt.header)
				if status != tt.status {
					t.Fatalf("got %d, want %d", status, tt.status)
				}
				if status != 200 {
					if doc["access_token"] != nil || doc["message"] == nil {
						t.Errorf("a refused request: got a token %v, a message %v", doc["access_token"] != nil, doc["message"] != nil)
					}
					return
				}
				exp, err := strconv.ParseInt(fmt.Sprint(doc["expires_on"]), 10, 64)
				if err != nil || time.Until(time.Unix(exp, 0)) < 50*time.Minute || doc["token_type"] != "Bearer" || doc["resource"] == nil {
					t.Errorf("the answer is not App Service's token format (expires_on %v)", doc["expires_on"])
				}
			})
		}
	})

	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
	for line := range errs.ch {
		stderr = append(stderr, line)
	}
	for _, msg := range []string{"gcp endpoint refused a request", "azure endpoint refused a request"} {
		if len(logRecords(stderr, msg)) == 0 {
			t.Errorf("%q was not logged", msg)
		}
	}
	log := strings.Join(stderr, "\n")
	for _, s := range append(secrets(), header) {
		if strings.Contains(log, s) {
			t.Errorf("ward's log holds a token or the endpoint's header (%d bytes)", len(s))
		}
	}
	for _, a := range []string{gaddr, aaddr} {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("an endpoint still answers after ward exited")
		}
	}
	if _, err := os.Stat(configDir); !os.IsNotExist(err) {
		t.Errorf("the gcloud configuration directory outlived ward: %v", err)
	}
}

// gsrvPrincipal tells whom a token the GCP emulator issued acts as.
func gsrvPrincipal(srv *gcptest.Server, token string) (string, bool) {
	for _, p := range []string{childSA, gcptest.ClientEmail} {
		for _, t := range srv.IssuedTokensOf(p) {
			if t == token {
				return p, true
			}
		}
	}
	return "", false
}

// procEnviron reads a process's environment.
func procEnviron(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, kv := range strings.Split(string(b), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}

// TestIdentityCloudStartFailure checks that an identity whose source
// refuses stops the run before the child starts, naming the identity
// and its reference; and that --exec, which leaves nobody to serve the
// endpoint, is refused.
func TestIdentityCloudStartFailure(t *testing.T) {
	t.Run("gcp", func(t *testing.T) {
		srv, w, m := gcpIdentityWard(t, "")
		srv.RevokeTokenCreator(childSA, gcptest.ClientEmail)
		code, stdout, stderr := w.run("run", "-m", m, "--", "helper", "env")
		if code != 125 || stdout != "" {
			t.Errorf("got exit %d and the child's output %q, want 125 and no child", code, stdout)
		}
		for _, want := range []string{"identity.gcp", "gcpsa://" + childSA, "roles/iam.serviceAccountTokenCreator"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("the error does not say %q:\n%s", want, stderr)
			}
		}
		srv.AddServiceAccount(childSA, gcptest.ClientEmail)
		code, _, stderr = w.run("run", "--exec", "-m", m, "--", "helper", "env")
		if code != 125 || !strings.Contains(stderr, "--exec cannot serve identity.gcp") {
			t.Errorf("--exec: got exit %d, %q; want 125 saying --exec cannot serve it", code, stderr)
		}
		if n := len(srv.IssuedTokensOf(childSA)); n != 0 {
			t.Errorf("%d tokens were issued for runs that could not serve them", n)
		}
	})
	t.Run("azure", func(t *testing.T) {
		srv, w := azureWard(t, func(s *azuretest.Server) []string {
			return append(s.Env(), "AZURE_CLIENT_SECRET=not-the-secret")
		})
		m := w.manifest("version: 1\n" + azureStores + "identity:\n  azure:\n    resources: [" + vaultResource + "]\n")
		code, stdout, stderr := w.run("run", "-m", m, "--", "helper", "env")
		if code != 125 || stdout != "" {
			t.Errorf("got exit %d and the child's output %q, want 125 and no child", code, stdout)
		}
		for _, want := range []string{"identity.azure", "aztoken://vault.azure.net", "Microsoft Entra ID refused ward's Azure credential"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("the error does not say %q:\n%s", want, stderr)
			}
		}
		code, _, stderr = w.run("run", "--exec", "-m", m, "--", "helper", "env")
		if code != 125 || !strings.Contains(stderr, "--exec cannot serve identity.azure") {
			t.Errorf("--exec: got exit %d, %q; want 125 saying --exec cannot serve it", code, stderr)
		}
		if n := len(srv.IssuedTokens()); n != 0 {
			t.Errorf("%d tokens were issued though ward's secret is wrong", n)
		}
	})
}

// TestIdentityCloudCheckResolve checks that check --resolve shows a row
// per identity: its source, who it serves and the expiry, never a token.
func TestIdentityCloudCheckResolve(t *testing.T) {
	t.Run("gcp", func(t *testing.T) {
		srv, w, m := gcpIdentityWard(t, "?lifetime=30m")
		code, stdout, stderr := w.run("check", "--resolve", "-m", m)
		if code != 0 {
			t.Fatalf("check --resolve: exit %d:\n%s", code, redactAll(stderr, srv.IssuedTokens()...))
		}
		row := regexp.MustCompile(`(?m)^identity\.gcp\s+gcpsa\s+-\s+gcpsa://\S+ \(project ` + gcptest.Project + `, serves a token with scopes https://www.googleapis.com/auth/cloud-platform of ` + regexp.QuoteMeta(childSA) + `, expiring [0-9T:Z-]+, refreshed 10m0s before\)`)
		if !row.MatchString(stdout) {
			t.Errorf("no identity row in:\n%s", redactAll(stdout, srv.IssuedTokens()...))
		}
		for _, s := range srv.IssuedTokens() {
			if strings.Contains(stdout+stderr, s) {
				t.Errorf("check --resolve printed a token")
			}
		}
	})
	t.Run("azure", func(t *testing.T) {
		srv, w := azureWard(t, (*azuretest.Server).Env)
		m := w.manifest("version: 1\n" + azureStores + "identity:\n  azure:\n    resources: [" + vaultResource + ", https://storage.azure.com]\n    refresh_before: 5m\n")
		code, stdout, stderr := w.run("check", "--resolve", "-m", m)
		if code != 0 {
			t.Fatalf("check --resolve: exit %d:\n%s", code, redactAll(stderr, srv.IssuedTokens()...))
		}
		for _, host := range []string{"vault.azure.net", "storage.azure.com"} {
			row := regexp.MustCompile(`(?m)^identity\.azure\s+aztoken\s+-\s+aztoken://` + regexp.QuoteMeta(host) + ` \(serves a token for https://` + regexp.QuoteMeta(host) + ` as .+, expiring [0-9T:Z-]+, refreshed 5m0s before\)`)
			if !row.MatchString(stdout) {
				t.Errorf("no identity row for %s in:\n%s", host, redactAll(stdout, srv.IssuedTokens()...))
			}
		}
		for _, s := range srv.IssuedTokens() {
			if strings.Contains(stdout+stderr, s) {
				t.Errorf("check --resolve printed a token")
			}
		}
	})
}

// TestIdentityCloudProxy runs the Node.js Google child under ward with
// HTTPS_PROXY naming a port nobody listens on, as in a network whose
// traffic goes through a proxy, with NO_PROXY naming only the emulator:
// Google's and Azure's JavaScript libraries send a request for
// http://127.0.0.1 through the proxy unless NO_PROXY names the host, and a
// proxy elsewhere cannot reach ward's loopback endpoint. ward adds
// 127.0.0.1 to the child's NO_PROXY and no_proxy, keeping what was there.
func TestIdentityCloudProxy(t *testing.T) {
	argv, env, missing := nodeCloudChild(t, "")
	if missing != "" {
		vaulttest.RequireIntegration(t, missing)
		t.Skip(missing)
	}
	gsrv, w, m := gcpIdentityWard(t, "")
	origin := strings.TrimSuffix(gsrv.URL(), "/")
	const other = "corp.example.internal"
	env = append(env, "HTTPS_PROXY=http://127.0.0.1:"+freePort(t), "NO_PROXY="+other+","+origin)
	run := startWithChild(t, w, m, env, slices.Concat(argv, []string{"gcp", "2", "0.5", gsrv.URL(), gcpSecret("app") + "/versions/latest"}))
	rep := run.collect(time.Minute, func(rep *childReport, rest string) {
		pid, _, _ := strings.Cut(rest, " ")
		n, _ := strconv.Atoi(pid)
		env := procEnviron(t, n)
		if v := env["NO_PROXY"]; !slices.Contains(strings.Split(v, ","), "127.0.0.1") || !strings.Contains(v, other) || !strings.Contains(v, origin) {
			t.Errorf("the child's NO_PROXY is %q, want the inherited list and 127.0.0.1", v)
		}
		if v, ok := env["no_proxy"]; ok {
			t.Errorf("the child has no_proxy=%q, which ward's environment had not", v)
		}
	})
	if rep.err != nil || rep.fail != 0 || rep.ok == 0 {
		t.Fatalf("the child behind HTTPS_PROXY got %d ok, %d failed reads (%v); the first failure: %s", rep.ok, rep.fail, rep.err, redactAll(rep.firstFailure, gsrv.IssuedTokens()...))
	}
	if n := len(gsrv.TokensUsedBy(childSA)); n == 0 {
		t.Errorf("the emulator saw no token of %s", childSA)
	}
	log := strings.Join(rep.stderr, "\n")
	for _, s := range gsrv.IssuedTokens() {
		if strings.Contains(log, s) {
			t.Errorf("ward's log holds a token")
		}
	}
}

// TestIdentityAzureHeaderMasked: IDENTITY_HEADER, the secret that lets a
// process on the machine take the child's tokens from the Azure endpoint,
// is in the child's environment, where a program that prints its
// environment (a CI step's env dump) shows it. With --mask it is masked in
// the child's output, and under GitHub Actions registered with the
// runner's masking before the child starts, as the values in the plan are.
func TestIdentityAzureHeaderMasked(t *testing.T) {
	asrv, w, m := azureIdentityWard(t)
	file := filepath.Join(t.TempDir(), "header")
	cmd := w.command("run", "--mask", "-m", m, "--", "/bin/sh", "-c", `printf %s "$IDENTITY_HEADER" > "$0"; echo "header=$IDENTITY_HEADER"`, file)
	cmd.Env = append(cmd.Env, "GITHUB_ACTIONS=true")
	var out, errs strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil {
		t.Fatalf("ward: %v\n%s", err, redactAll(errs.String(), asrv.IssuedTokens()...))
	}
	b, err := os.ReadFile(file)
	header := string(b)
	if err != nil || len(header) < 32 {
		t.Fatalf("the child wrote no IDENTITY_HEADER (%v, %d bytes)", err, len(header))
	}
	w.canaries = append(w.canaries, header)
	if !strings.HasPrefix(out.String(), "header=") {
		t.Fatalf("the child printed %d bytes, not its header line", out.Len())
	}
	if strings.Contains(out.String(), header) {
		t.Errorf("IDENTITY_HEADER is in the child's output, unmasked")
	}
	if !strings.Contains(errs.String(), "::add-mask::"+header+"\n") {
		t.Errorf("IDENTITY_HEADER was not registered with the runner's masking")
	}
	if before, _, ok := strings.Cut(errs.String(), "::add-mask::"+header); ok && strings.Contains(before, `"child started"`) {
		t.Errorf("IDENTITY_HEADER was registered after the child started")
	}
}
