package main

// Whole-binary tests of the two cloud stores: the real ward starts its
// helpers ward-gcp and ward-azure (this test binary, on $PATH), which use
// Google's and Microsoft's own libraries against the emulators in
// resolve/gcp/gcptest and resolve/azure/azuretest, configured only as a
// user would configure them: stores.* settings, a key file or a client
// secret in the environment, a trusted CA file.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/aws/awstest"
	"github.com/wardsecrets/ward/resolve/azure"
	"github.com/wardsecrets/ward/resolve/azure/azuretest"
	"github.com/wardsecrets/ward/resolve/gcp"
	"github.com/wardsecrets/ward/resolve/gcp/gcptest"
	"github.com/wardsecrets/ward/resolve/resolvetest"
	"github.com/wardsecrets/ward/testdata/helper"
)

// fastRotation polls every second without jitter: the poll interval is
// configuration, and the tests wait for what it causes, never for time.
const fastRotation = "rotation:\n  poll: 1s\n  jitter: 0%\n  debounce: 200ms\n  stop_timeout: 5s\n"

// TestGCPRunAndCheck: `ward run` gives the child gcpsm:// values (plain,
// a #field of JSON, a pinned version, a regional secret, a full resource
// name), reading each (secret, version) once; `ward check --resolve`
// shows the version number latest resolved to and never a value.
func TestGCPRunAndCheck(t *testing.T) {
	srv, w := gcpWard(t)
	old, key, user, pass, regional := w.canary("gcp-old"), w.canary("gcp-key"), w.canary("gcp-user"), w.canary("gcp-pass"), w.canary("gcp-eu")
	legacy := w.canary("gcp-legacy")
	srv.AddVersion(gcpSecret("api-key"), []byte(old))
	srv.AddVersion(gcpSecret("api-key"), []byte(key))
	srv.AddVersion(gcpSecret("db"), []byte(`{"user":"`+user+`","password":"`+pass+`"}`))
	srv.AddVersion("projects/"+gcptest.Project+"/locations/europe-west1/secrets/eu-token", []byte(regional))
	srv.AddVersion(gcpSecret("legacy"), []byte(legacy))
	p := "gcpsm://" + gcptest.Project
	m := w.manifest("version: 1\n" + gcpStores(srv) + `env:
  API_KEY: ` + p + `/api-key
  OLD_KEY: ` + p + `/api-key?version=1
  DB_USER: ` + p + `/db#user
  DB_PASS: ` + p + `/db#password
  EU_TOKEN: ` + p + `/eu-token?location=europe-west1
  LEGACY: gcpsm://projects/` + gcptest.Project + `/secrets/legacy/versions/1
`)

	code, stdout, stderr := w.run("run", "-m", m, "--", "helper", "env")
	if code != 0 {
		t.Fatalf("ward run: got exit code %d, want 0: %s", code, stderr)
	}
	got := listing(stdout)
	for name, v := range map[string]string{"API_KEY": key, "OLD_KEY": old, "DB_USER": user, "DB_PASS": pass, "EU_TOKEN": regional, "LEGACY": legacy} {
		if got[name] != helper.Hash(v) {
			t.Errorf("%s: the child does not have the value", name)
		}
	}
	// api-key at latest and at 1, db once for both fields, eu-token,
	// legacy.
	if n := srv.Calls("versions.access"); n != 5 {
		t.Errorf("got %d access calls for one start, want 5 (one per secret version)", n)
	}

	code, stdout, stderr = w.run("check", "--resolve", "-m", m)
	if code != 0 {
		t.Fatalf("ward check --resolve: got exit code %d, want 0: %s", code, stderr)
	}
	rows := checkRows(stdout)
	for name, want := range map[string]string{"API_KEY": "2", "OLD_KEY": "1", "DB_USER": "1", "DB_PASS": "1", "EU_TOKEN": "1", "LEGACY": "1"} {
		if r := rows[name]; len(r) < 3 || r[1] != gcp.Scheme || r[2] != want {
			t.Errorf("check --resolve: got row %q for %s, want store %s and version %s", r, name, gcp.Scheme, want)
		}
	}
	if !strings.Contains(stdout, "6 secrets resolved") {
		t.Errorf("check --resolve: got %q, want it to count 6 secrets", stdout)
	}
}

// TestAzureRunAndCheck: `ward run` gives the child azkv:// values (plain,
// a #field of JSON, a pinned version); `ward check --resolve` shows each
// version id and its updated time and never a value.
func TestAzureRunAndCheck(t *testing.T) {
	srv, w := azureWard(t, (*azuretest.Server).Env)
	old, key, user, pass := w.canary("az-old"), w.canary("az-key"), w.canary("az-user"), w.canary("az-pass")
	updated := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	srv.SetClock(func() time.Time { return updated })
	oldID := srv.SetSecret("api-key", old)
	keyID := srv.SetSecret("api-key", key)
	dbID := srv.SetSecret("db", `{"user":"`+user+`","password":"`+pass+`"}`)
	srv.SetClock(time.Now)
	p := "azkv://" + srv.VaultHost()
	m := w.manifest("version: 1\n" + azureStores + `env:
  API_KEY: ` + p + `/api-key
  OLD_KEY: ` + p + `/api-key?version=` + oldID + `
  DB_USER: ` + p + `/db#user
  DB_PASS: ` + p + `/db#password
`)

	code, stdout, stderr := w.run("run", "-m", m, "--", "helper", "env")
	if code != 0 {
		t.Fatalf("ward run: got exit code %d, want 0: %s", code, stderr)
	}
	got := listing(stdout)
	for name, v := range map[string]string{"API_KEY": key, "OLD_KEY": old, "DB_USER": user, "DB_PASS": pass} {
		if got[name] != helper.Hash(v) {
			t.Errorf("%s: the child does not have the value", name)
		}
	}
	// api-key current and pinned, db once for both fields.
	if n := srv.AuthorizedCalls(azuretest.RouteGetSecret) + srv.AuthorizedCalls(azuretest.RouteGetSecretVersion); n != 3 {
		t.Errorf("got %d authorized reads for one start, want 3 (one per secret version)", n)
	}

	code, stdout, stderr = w.run("check", "--resolve", "-m", m)
	if code != 0 {
		t.Fatalf("ward check --resolve: got exit code %d, want 0: %s", code, stderr)
	}
	rows := checkRows(stdout)
	note := "(updated " + updated.Format("2006-01-02T15:04:05Z") + ")"
	for name, want := range map[string]string{"API_KEY": keyID, "OLD_KEY": oldID, "DB_USER": dbID, "DB_PASS": dbID} {
		r := rows[name]
		if len(r) < 5 || r[1] != azure.Scheme || r[2] != want || strings.Join(r[4:], " ") != note {
			t.Errorf("check --resolve: got row %q for %s, want store %s, version %s and %s", r, name, azure.Scheme, want, note)
		}
	}
}

// TestGCPCredentialScoping: the child gets none of the variables
// Application Default Credentials read a credential from, though ward's
// helper authenticated with them, unless the manifest names one.
func TestGCPCredentialScoping(t *testing.T) {
	srv, w := gcpWard(t)
	srv.AddVersion(gcpSecret("app"), []byte(w.canary("gcp-scope")))
	w.env = append(w.env, "CLOUDSDK_CONFIG="+filepath.Join(w.dir, "gcloud"))
	tests := []struct {
		name    string
		inherit string
		passed  string // the one credential variable the manifest names
	}{
		{"undeclared", "", ""},
		{"named in inherit", "inherit: [PATH, HOME, GOOGLE_APPLICATION_CREDENTIALS]\n", "GOOGLE_APPLICATION_CREDENTIALS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := w.manifest("version: 1\n" + gcpStores(srv) + "env:\n  APP: gcpsm://" + gcptest.Project + "/app\n" + tt.inherit)
			childCredentials(t, w, m, gcp.CredentialEnv, tt.passed)
		})
	}
}

// TestGCPManifestCannotRedirectCredentials: a manifest (a cloned
// repository's, a pull request's) whose stores.gcp.endpoint names a
// server of its own, here a second emulator. ward sent that server the
// access token of the environment's credentials, good for everything
// they may do in Google Cloud, from `ward check --resolve`, `ward scan`
// and `ward run`; now it refuses before any request, unless the
// environment lists the endpoint in WARD_GCP_ENDPOINTS.
func TestGCPManifestCannotRedirectCredentials(t *testing.T) {
	srv, w := gcpWard(t)
	srv.AddVersion(gcpSecret("app"), []byte(w.canary("gcp-redirect")))
	other := gcptest.New()
	t.Cleanup(other.Close)
	m := w.manifest("version: 1\nstores:\n  gcp:\n    endpoint: " + other.URL() + "\nenv:\n  APP: gcpsm://" + gcptest.Project + "/app\n")
	refusedByEveryCommand(t, w, m, "stores.gcp.endpoint is "+other.URL()+", which is not an https endpoint under googleapis.com",
		"set WARD_GCP_ENDPOINTS="+strings.TrimSuffix(other.URL(), "/")+" in the environment")
	if n := other.Calls(""); n != 0 {
		t.Errorf("the manifest's endpoint was sent %d requests", n)
	}
	// Listed by the environment, the endpoint is used: the refusal above
	// was the manifest's, not a set-up that never reaches a server.
	w.env = append(w.env, gcp.EndpointsVar+"="+other.URL())
	if code, _, stderr := w.run("check", "--resolve", "-m", m); code != 125 || strings.Contains(stderr, "WARD_GCP_ENDPOINTS") {
		t.Errorf("listed: exit %d, want 125 from the other server's refusal of a token it did not issue:\n%s", code, stderr)
	}
	if other.Calls("") == 0 {
		t.Error("listed, the endpoint heard nothing")
	}
}

// TestAzureManifestCannotRedirectToken: a manifest that names a vault
// on a server of its own, here a second emulator, and turns the
// challenge's domain check off (disable_challenge_resource_verification,
// meant for a private endpoint's custom name). ward's helper sent that
// server an access token for Key Vault, good for every vault the
// environment's identity may read, from `ward check --resolve`,
// `ward scan` and `ward run`; now it refuses before any request, unless
// the environment lists the host in WARD_AZURE_VAULT_HOSTS.
func TestAzureManifestCannotRedirectToken(t *testing.T) {
	ca, err := azuretest.NewCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, w := azureWardCA(t, ca, (*azuretest.Server).Env)
	w.canaries = append(w.canaries, srv.ClientSecret())
	other := azuretest.New(t, ca)
	other.SetSecret("app", w.canary("az-redirect"))
	m := w.manifest("version: 1\n" + azureStores + "env:\n  APP: azkv://" + other.VaultHost() + "/app\n")
	refusedByEveryCommand(t, w, m, "the vault https://"+other.VaultHost()+" is outside Key Vault's domains",
		"set WARD_AZURE_VAULT_HOSTS="+other.VaultHost()+" in the environment")
	if n := other.Calls(azuretest.RouteGetSecret); n != 0 {
		t.Errorf("the manifest's vault was sent %d requests, %d with a token", n, other.RejectedTokens())
	}
	// Listed by the environment, the vault is used: the refusal above
	// was the manifest's, not a set-up that never reaches a server.
	w.env = append(w.env, azure.VaultHostsVar+"="+srv.VaultHost()+","+other.VaultHost())
	if code, _, stderr := w.run("check", "--resolve", "-m", m); code != 125 || strings.Contains(stderr, "WARD_AZURE_VAULT_HOSTS") {
		t.Errorf("listed: exit %d, want 125 from the other vault's refusal of a token it did not issue:\n%s", code, stderr)
	}
	if other.RejectedTokens() == 0 {
		t.Error("listed, the vault was sent no token")
	}
}

// refusedByEveryCommand runs the commands that read a manifest's stores,
// `ward check --resolve`, `ward scan` (the pre-commit hook's) and
// `ward run`, with manifest m, and checks that each exits 125 saying
// wants, and that the child never started.
func refusedByEveryCommand(t *testing.T, w *wardEnv, m string, wants ...string) {
	t.Helper()
	notes := filepath.Join(w.dir, "notes.txt")
	if err := os.WriteFile(notes, []byte("nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	started := filepath.Join(w.dir, "started")
	for _, args := range [][]string{
		{"check", "--resolve", "-m", m},
		{"scan", "-m", m, notes},
		{"run", "-m", m, "--", "helper", "touch", started},
	} {
		code, _, stderr := w.run(args...)
		if code != 125 {
			t.Errorf("ward %s: exit %d, want 125:\n%s", args[0], code, stderr)
		}
		for _, want := range wants {
			if !strings.Contains(stderr, want) {
				t.Errorf("ward %s does not say %q:\n%s", args[0], want, stderr)
			}
		}
	}
	if _, err := os.Stat(started); err == nil {
		t.Error("the child started")
	}
}

// childCredentials runs the child of manifest m (which gives it APP),
// which lists its environment, and checks that of the credential
// variables names only passed ("" for none) reached it, with ward's value.
func childCredentials(t *testing.T, w *wardEnv, m string, names []string, passed string) {
	t.Helper()
	code, stdout, stderr := w.run("run", "-m", m, "--", "helper", "env")
	if code != 0 {
		t.Fatalf("got exit code %d, want 0: %s", code, stderr)
	}
	got := listing(stdout)
	if _, ok := got["APP"]; !ok {
		t.Fatalf("the child did not get APP")
	}
	for _, name := range names {
		_, ok := got[name]
		if want := name == passed; ok != want {
			t.Errorf("%s reached the child: %v, want %v", name, ok, want)
		}
		if v, _ := envLookup(w.env, name); ok && got[name] != helper.Hash(v) {
			t.Errorf("%s reached the child with another value", name)
		}
	}
}

// TestAWSCredentialScoping: the child gets none of the variables the AWS
// SDK reads a credential from — the static keys and, as EKS (IRSA) and
// GitHub Actions' OIDC set them up, the web identity token file — though
// ward's helper may have authenticated with them, unless the manifest
// names one, as for Google's and Azure's.
func TestAWSCredentialScoping(t *testing.T) {
	srv := awstest.New()
	t.Cleanup(srv.Close)
	w := newWardEnv(t)
	srv.PutSecretString("scope/app", w.canary("aws-scope"))
	tokenFile := filepath.Join(t.TempDir(), "eks-token")
	w.env = append(w.env, srv.Env()...)
	w.env = append(w.env, "AWS_WEB_IDENTITY_TOKEN_FILE="+tokenFile,
		// ECS sets it in every container of a task with a task role: the
		// agent's endpoint (169.254.170.2) hands the role's keys to any
		// request for this path, with no token.
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/"+w.canary("ecs-credentials-id"))
	var names []string
	for _, e := range srv.Env() {
		if n, _, _ := strings.Cut(e, "="); n == "AWS_ACCESS_KEY_ID" || n == "AWS_SECRET_ACCESS_KEY" {
			names = append(names, n)
		}
	}
	names = append(names, "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
	tests := []struct {
		name    string
		inherit string
		passed  string // the one credential variable the manifest names
	}{
		{"undeclared", "", ""},
		{"named in inherit", "inherit: [PATH, HOME, AWS_WEB_IDENTITY_TOKEN_FILE]\n", "AWS_WEB_IDENTITY_TOKEN_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := w.manifest("version: 1\nenv:\n  APP: awssm://scope/app\n" + tt.inherit)
			childCredentials(t, w, m, names, tt.passed)
		})
	}
}

// TestAWSAlternateKeyNamesScoping: ward's AWS helper (aws-sdk-go-v2)
// authenticates with AWS_ACCESS_KEY and AWS_SECRET_KEY, the EC2 API
// tools' names, when AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are
// unset: the child gets neither, as it gets none of the usual names.
func TestAWSAlternateKeyNamesScoping(t *testing.T) {
	srv := awstest.New()
	t.Cleanup(srv.Close)
	w := newWardEnv(t)
	srv.PutSecretString("alt/app", w.canary("aws-alt"))
	w.env = append(withoutEnv(slices.Concat(w.env, srv.Env()), "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
		"AWS_ACCESS_KEY="+awstest.AccessKeyID, "AWS_SECRET_KEY="+awstest.SecretAccessKey)
	m := w.manifest("version: 1\nenv:\n  APP: awssm://alt/app\n")
	childCredentials(t, w, m, []string{"AWS_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}, "")
}

// TestAWSRotation: Secrets Manager rotates as a rotation function does
// it: createSecret stages the new value AWSPENDING, setSecret and
// testSecret use it, finishSecret moves AWSCURRENT to it. ward reads
// AWSCURRENT: the pending phase restarts nothing, however many polls it
// lasts, nor does a retried rotation that stages another value in its
// place; finishSecret restarts the child once, with the value it made
// current.
func TestAWSRotation(t *testing.T) {
	srv, w := awsWard(t)
	v1, v2, v3 := w.canary("aws-rot1"), w.canary("aws-rot2"), w.canary("aws-rot3")
	srv.PutSecretString("rot/db", `{"password":"`+v1+`"}`)
	m := w.manifest("version: 1\nenv:\n  DB_PASSWORD: awssm://rot/db#password\n" + fastRotation)
	cmd, stdout, stderr := wardWatch(t, w, m)
	if envListing(stdout)["DB_PASSWORD"] != helper.Hash(v1) {
		t.Fatalf("the first child does not have the first value")
	}

	// A rotation whose testSecret failed, then its retry: each stages
	// its value AWSPENDING, the label moving to the second.
	srv.StageSecretString("rot/db", `{"password":"`+v2+`"}`, "AWSPENDING")
	calls := srv.Calls("")
	waitUntil(t, "two polls in the first pending phase", func() bool { return srv.Calls("") >= calls+2 })
	pending := srv.StageSecretString("rot/db", `{"password":"`+v3+`"}`, "AWSPENDING")
	calls = srv.Calls("")
	waitUntil(t, "two polls in the second pending phase", func() bool { return srv.Calls("") >= calls+2 })

	// The next listing must be finishSecret's: a restart in a pending
	// phase would show up here first, with v2.
	srv.MoveStage("rot/db", "AWSCURRENT", pending)
	srv.RemoveStage("rot/db", "AWSPENDING")
	if envListing(stdout)["DB_PASSWORD"] != helper.Hash(v3) {
		t.Fatalf("the child after finishSecret does not have the value it made current: a pending phase restarted it")
	}
	stderr.waitForContaining("child restarted with the new secrets")
	if n := stopAndCount(t, cmd, stdout, stderr, w.canaries...); n != 0 {
		t.Errorf("got %d more starts, want 0 (one per new AWSCURRENT value)", n)
	}
}

// TestSSMLabelMoved: a parameter read by label (`?label=prod`) follows
// the label: moving it to another version (aws ssm label-parameter-version,
// a release promoting a value) restarts the child once with that
// version's value; a new version the label is not on changes nothing.
func TestSSMLabelMoved(t *testing.T) {
	srv, w := awsWard(t)
	v1, v2, v3 := w.canary("ssm-label1"), w.canary("ssm-label2"), w.canary("ssm-label3")
	srv.PutParameter("/app/db", v1, true)
	srv.PutParameter("/app/db", v2, true)
	srv.LabelParameter("/app/db", 1, "prod")
	m := w.manifest("version: 1\nenv:\n  DB_PASSWORD: ssm:///app/db?label=prod\n" + fastRotation)
	cmd, stdout, stderr := wardWatch(t, w, m)
	if envListing(stdout)["DB_PASSWORD"] != helper.Hash(v1) {
		t.Fatalf("the first child does not have the labelled version's value")
	}

	srv.PutParameter("/app/db", v3, true)
	calls := srv.Calls("")
	waitUntil(t, "two polls after a version the label is not on", func() bool { return srv.Calls("") >= calls+2 })
	srv.LabelParameter("/app/db", 3, "prod")
	if envListing(stdout)["DB_PASSWORD"] != helper.Hash(v3) {
		t.Fatalf("the child after the label moved does not have the value of the version it moved to")
	}
	stderr.waitForContaining("child restarted with the new secrets")
	if n := stopAndCount(t, cmd, stdout, stderr, w.canaries...); n != 0 {
		t.Errorf("got %d more starts, want 0 (one per move of the label)", n)
	}
}

// TestAzureCredentialScoping: the child gets none of the variables
// azidentity reads a credential from (a service principal's secret, the
// workload identity token file, the managed identity header), though
// ward's helper authenticated with them, unless the manifest names one.
func TestAzureCredentialScoping(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "azure-identity-token")
	tests := []struct {
		name    string
		env     func(*azuretest.Server) []string
		inherit string
		passed  string
	}{
		{"service principal", (*azuretest.Server).Env, "", ""},
		{"workload identity", func(s *azuretest.Server) []string { return s.WorkloadIdentityEnv(tokenFile) }, "", ""},
		{"secret named in inherit", (*azuretest.Server).Env, "inherit: [PATH, HOME, AZURE_CLIENT_SECRET]\n", "AZURE_CLIENT_SECRET"},
		{"token file named in inherit", func(s *azuretest.Server) []string { return s.WorkloadIdentityEnv(tokenFile) }, "inherit: [PATH, HOME, AZURE_FEDERATED_TOKEN_FILE]\n", "AZURE_FEDERATED_TOKEN_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, w := azureWard(t, tt.env)
			if err := os.WriteFile(tokenFile, []byte(srv.FederatedToken(azuretest.FederatedAudience, time.Hour)), 0o600); err != nil {
				t.Fatal(err)
			}
			srv.SetSecret("app", w.canary("az-scope"))
			w.canaries = append(w.canaries, srv.ClientSecret())
			m := w.manifest("version: 1\n" + azureStores + "env:\n  APP: azkv://" + srv.VaultHost() + "/app\n" + tt.inherit)
			var set []string
			for _, name := range azure.CredentialEnv {
				if _, inWard := envLookup(w.env, name); inWard {
					set = append(set, name)
				}
			}
			// The secret or token file, and IDENTITY_HEADER.
			if len(set) < 2 {
				t.Errorf("ward's environment holds %d credential variables, want at least 2", len(set))
			}
			childCredentials(t, w, m, set, tt.passed)
		})
	}
}

// TestGCPRotation: a new version of a polled secret restarts the child
// exactly once with the new value; a new version with the same data, a
// change to a secret no variable uses and polls that find nothing new
// restart nothing.
func TestGCPRotation(t *testing.T) {
	srv, w := gcpWard(t)
	v1, v2, v3 := w.canary("gcp-rot1"), w.canary("gcp-rot2"), w.canary("gcp-rot3")
	srv.AddVersion(gcpSecret("token"), []byte(v1))
	srv.AddVersion(gcpSecret("unused"), []byte(w.canary("gcp-unused")))
	m := w.manifest("version: 1\n" + gcpStores(srv) + "env:\n  TOKEN: gcpsm://" + gcptest.Project + "/token\n" + fastRotation)
	cmd, stdout, stderr := wardWatch(t, w, m)
	if envListing(stdout)["TOKEN"] != helper.Hash(v1) {
		t.Fatalf("the first child does not have the first value")
	}
	auditProc(t, cmd.Process.Pid, v1)

	srv.AddVersion(gcpSecret("token"), []byte(v2))
	if envListing(stdout)["TOKEN"] != helper.Hash(v2) {
		t.Fatalf("the restarted child does not have the new value")
	}
	stderr.waitForContaining("child restarted with the new secrets")

	// No-ops: the same data in a new version, and a secret no variable
	// uses. Reads counted from here on saw them. Three reads are two polls
	// whichever way ward polls (an access per poll, or a versions.get plus
	// an access only when the version moved); the second poll begins only
	// after the first was decided, and a restart the first caused would
	// come before it (the debounce is shorter than the poll).
	srv.AddVersion(gcpSecret("token"), []byte(v2))
	srv.AddVersion(gcpSecret("unused"), []byte(w.canary("gcp-unused2")))
	reads := gcpReads(srv)
	waitUntil(t, "two polls after the no-op changes", func() bool { return gcpReads(srv) >= reads+3 })

	// The next listing must be the next real change's: a restart in
	// between would show up here first.
	srv.AddVersion(gcpSecret("token"), []byte(v3))
	if envListing(stdout)["TOKEN"] != helper.Hash(v3) {
		t.Fatalf("the next start after the no-ops does not have the next value: a no-op restarted the child")
	}
	stderr.waitForContaining("child restarted with the new secrets")
	if n := stopAndCount(t, cmd, stdout, stderr, w.canaries...); n != 0 {
		t.Errorf("got %d more starts, want 0 (one per new value)", n)
	}
}

// TestGCPPollUnderReadQuota: Secret Manager's read quota (versions.get
// and every other metadata read: 600 a minute per project, shared by the
// whole project) runs out while access (90,000 a minute) does not. A poll
// does not retry its version checks against it: it reads the values at
// once, so a new version reaches the child in a poll's time, and stops
// asking for versions for the quota's minute. It used to retry each
// check for the whole read timeout (30 s), late by as much and adding to
// the load on a quota the project's other tools need.
func TestGCPPollUnderReadQuota(t *testing.T) {
	srv, w := gcpWard(t)
	v1, v2 := w.canary("gcp-quota1"), w.canary("gcp-quota2")
	srv.AddVersion(gcpSecret("token"), []byte(v1))
	m := w.manifest("version: 1\n" + gcpStores(srv) + "    timeout: 30s\nenv:\n  TOKEN: gcpsm://" + gcptest.Project + "/token\n" + fastRotation)
	cmd, stdout, stderr := wardWatch(t, w, m)
	if envListing(stdout)["TOKEN"] != helper.Hash(v1) {
		t.Fatalf("the first child does not have the first value")
	}
	srv.ThrottleReads(1 << 20)
	srv.AddVersion(gcpSecret("token"), []byte(v2))
	// envListing waits 10 s for a line, a third of the read timeout.
	if envListing(stdout)["TOKEN"] != helper.Hash(v2) {
		t.Fatalf("the restarted child does not have the new value")
	}
	stderr.waitForContaining("child restarted with the new secrets")
	gets, access := srv.Calls(gcptest.MethodGet), srv.Calls(gcptest.MethodAccess)
	waitUntil(t, "two polls by access", func() bool { return srv.Calls(gcptest.MethodAccess) >= access+2 })
	if n := srv.Calls(gcptest.MethodGet) - gets; n != 0 {
		t.Errorf("polls within the quota's minute made %d versions.get calls, want none", n)
	}
	if n := stopAndCount(t, cmd, stdout, stderr, w.canaries...); n != 0 {
		t.Errorf("got %d more starts, want 0", n)
	}
}

// TestGCPPollWithAccessorRoleOnly: an identity with
// roles/secretmanager.secretAccessor alone (least privilege, as Google
// advises) may read payloads but not versions' metadata. The first poll's
// version check is refused and the poll reads the value, as before; later
// polls do not ask again for a while, each refusal a request (against the
// project's read quota) that changes nothing. A new version still
// reaches the child in a poll's time.
func TestGCPPollWithAccessorRoleOnly(t *testing.T) {
	srv, w := gcpWard(t)
	v1, v2 := w.canary("gcp-accessor1"), w.canary("gcp-accessor2")
	srv.AddVersion(gcpSecret("token"), []byte(v1))
	srv.Deny(gcpSecret("token"), gcptest.PermissionGet)
	m := w.manifest("version: 1\n" + gcpStores(srv) + "env:\n  TOKEN: gcpsm://" + gcptest.Project + "/token\n" + fastRotation)
	cmd, stdout, stderr := wardWatch(t, w, m)
	if envListing(stdout)["TOKEN"] != helper.Hash(v1) {
		t.Fatalf("the first child does not have the first value")
	}
	stderr.waitForContaining("cannot read secret versions")
	access := srv.Calls(gcptest.MethodAccess)
	waitUntil(t, "three polls", func() bool { return srv.Calls(gcptest.MethodAccess) >= access+3 })
	if n := srv.Calls(gcptest.MethodGet); n != 1 {
		t.Errorf("polls made %d versions.get calls, each refused, want 1: the first", n)
	}
	srv.AddVersion(gcpSecret("token"), []byte(v2))
	if envListing(stdout)["TOKEN"] != helper.Hash(v2) {
		t.Fatalf("the restarted child does not have the new value")
	}
	stderr.waitForContaining("child restarted with the new secrets")
	if n := stopAndCount(t, cmd, stdout, stderr, w.canaries...); n != 0 {
		t.Errorf("got %d more starts, want 0", n)
	}
}

// TestGCPSecretRecreated: a secret deleted and created again under the
// same name starts its versions from 1 again, so the version a poll finds
// can have the number of the one the child has and other data. ward
// restarts the child with the new value; it used to take the equal
// number for the same version and never read the new data.
func TestGCPSecretRecreated(t *testing.T) {
	srv, w := gcpWard(t)
	v1, v2 := w.canary("gcp-first"), w.canary("gcp-again")
	srv.AddVersion(gcpSecret("token"), []byte(v1))
	m := w.manifest("version: 1\n" + gcpStores(srv) + "env:\n  TOKEN: gcpsm://" + gcptest.Project + "/token\n" + fastRotation)
	cmd, stdout, stderr := wardWatch(t, w, m)
	if envListing(stdout)["TOKEN"] != helper.Hash(v1) {
		t.Fatalf("the first child does not have the first value")
	}
	// A poll that found version 1 unchanged: the recreation comes after
	// ward knows the version.
	gets := srv.Calls(gcptest.MethodGet)
	waitUntil(t, "a poll", func() bool { return srv.Calls(gcptest.MethodGet) > gets })

	srv.DeleteSecret(gcpSecret("token"))
	if n := srv.AddVersion(gcpSecret("token"), []byte(v2)); n != 1 {
		t.Fatalf("the recreated secret's version is %d, want 1", n)
	}
	if envListing(stdout)["TOKEN"] != helper.Hash(v2) {
		t.Fatalf("the restarted child does not have the recreated secret's value")
	}
	stderr.waitForContaining("child restarted with the new secrets")
	// Later polls find the recreated version 1 and the child has it.
	reads := gcpReads(srv)
	waitUntil(t, "two polls after the restart", func() bool { return gcpReads(srv) >= reads+2 })
	if n := stopAndCount(t, cmd, stdout, stderr, w.canaries...); n != 0 {
		t.Errorf("got %d more starts, want 0", n)
	}
}

// TestGCPPollWithoutChangeReadsNoPayload: while the secret does not
// change, each rotation poll asks Secret Manager only which version
// latest names (versions.get, a metadata read, resolve.Versioner) and
// never accesses the payload again.
func TestGCPPollWithoutChangeReadsNoPayload(t *testing.T) {
	srv, w := gcpWard(t)
	v := w.canary("gcp-still")
	srv.AddVersion(gcpSecret("token"), []byte(v))
	m := w.manifest("version: 1\n" + gcpStores(srv) + "env:\n  TOKEN: gcpsm://" + gcptest.Project + "/token\n" + fastRotation)
	cmd, stdout, stderr := wardWatch(t, w, m)
	if envListing(stdout)["TOKEN"] != helper.Hash(v) {
		t.Fatalf("the child does not have the value")
	}
	access, get, reads := srv.Calls(gcptest.MethodAccess), srv.Calls(gcptest.MethodGet), gcpReads(srv)
	waitUntil(t, "two polls", func() bool { return gcpReads(srv) >= reads+2 })
	if a, g := srv.Calls(gcptest.MethodAccess)-access, srv.Calls(gcptest.MethodGet)-get; a != 0 {
		t.Errorf("polls that found no change made %d payload access calls and %d versions.get calls; want no access call, only versions.get", a, g)
	}
	if n := stopAndCount(t, cmd, stdout, stderr, w.canaries...); n != 0 {
		t.Errorf("got %d restarts, want 0", n)
	}
}

// TestAzureRotation: a new version of a polled secret restarts the child
// exactly once with the new value; a new version with the same value, a
// change to a secret no variable uses and polls that find nothing new
// restart nothing.
func TestAzureRotation(t *testing.T) {
	srv, w := azureWard(t, (*azuretest.Server).Env)
	v1, v2, v3 := w.canary("az-rot1"), w.canary("az-rot2"), w.canary("az-rot3")
	srv.SetSecret("token", v1)
	srv.SetSecret("unused", w.canary("az-unused"))
	m := w.manifest("version: 1\n" + azureStores + "env:\n  TOKEN: azkv://" + srv.VaultHost() + "/token\n" + fastRotation)
	cmd, stdout, stderr := wardWatch(t, w, m)
	if envListing(stdout)["TOKEN"] != helper.Hash(v1) {
		t.Fatalf("the first child does not have the first value")
	}
	auditProc(t, cmd.Process.Pid, v1)

	srv.SetSecret("token", v2)
	if envListing(stdout)["TOKEN"] != helper.Hash(v2) {
		t.Fatalf("the restarted child does not have the new value")
	}
	stderr.waitForContaining("child restarted with the new secrets")

	// No-ops; each poll is one read of the current version, and the
	// second poll begins only after the first was decided.
	srv.SetSecret("token", v2)
	srv.SetSecret("unused", w.canary("az-unused2"))
	reads := srv.AuthorizedCalls(azuretest.RouteGetSecret)
	waitUntil(t, "two polls after the no-op changes", func() bool { return srv.AuthorizedCalls(azuretest.RouteGetSecret) >= reads+2 })

	srv.SetSecret("token", v3)
	if envListing(stdout)["TOKEN"] != helper.Hash(v3) {
		t.Fatalf("the next start after the no-ops does not have the next value: a no-op restarted the child")
	}
	stderr.waitForContaining("child restarted with the new secrets")
	if n := stopAndCount(t, cmd, stdout, stderr, w.canaries...); n != 0 {
		t.Errorf("got %d more starts, want 0 (one per new value)", n)
	}
}

// TestAzureSecretOutsideItsValidity: Key Vault serves a secret version
// past its expiry (exp) or before its start (nbf), as its documentation
// says, though the owner marked it not to be used then. ward gives the
// child the value (refusing it would stop a service the moment a date
// passes) and warns, once a version, naming the reference and the date,
// never the value.
func TestAzureSecretOutsideItsValidity(t *testing.T) {
	srv, w := azureWard(t, (*azuretest.Server).Env)
	expired, early, fine := w.canary("az-expired"), w.canary("az-early"), w.canary("az-fine")
	srv.SetSecret("old-key", expired)
	exp := time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Second)
	srv.SetValidity("old-key", "", time.Time{}, exp)
	srv.SetSecret("next-key", early)
	nbf := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	srv.SetValidity("next-key", "", nbf, time.Time{})
	srv.SetSecret("key", fine)
	srv.SetValidity("key", "", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	p := "azkv://" + srv.VaultHost()
	m := w.manifest("version: 1\n" + azureStores + "env:\n  OLD: " + p + "/old-key\n  NEXT: " + p + "/next-key\n  KEY: " + p + "/key\n")

	code, stdout, stderr := w.run("run", "-m", m, "--", "helper", "env")
	if code != 0 {
		t.Fatalf("ward run: got exit code %d, want 0: %s", code, stderr)
	}
	got := listing(stdout)
	for name, v := range map[string]string{"OLD": expired, "NEXT": early, "KEY": fine} {
		if got[name] != helper.Hash(v) {
			t.Errorf("%s: the child does not have the value", name)
		}
	}
	warnings := map[string]string{}
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, `"level":"WARN"`) {
			warnings[l] = ""
		}
	}
	for ref, want := range map[string]string{
		p + "/old-key":  `"expired_at":"` + exp.Format(time.RFC3339) + `"`,
		p + "/next-key": `"not_before":"` + nbf.Format(time.RFC3339) + `"`,
	} {
		n := 0
		for l := range warnings {
			if strings.Contains(l, `"ref":"`+ref+`"`) && strings.Contains(l, want) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("got %d warnings naming %s and %s, want 1:\n%s", n, ref, want, stderr)
		}
	}
	if len(warnings) != 2 {
		t.Errorf("got %d warnings, want 2 (none for the secret within its window):\n%s", len(warnings), stderr)
	}
}

// TestCloudStoreUnknownHostFailsFast: a vault name with a typo (Key Vault
// gives each vault a DNS name, and a vault that does not exist has none)
// and a Secret Manager region with a typo (its regional endpoint's name
// does not exist) fail `ward run` at the first answer of DNS, with exit
// 125 and what to check; they were retried as broken connections for
// most of stores.*.timeout (30 s) and then reported as a bare dial error.
// The hosts are under .invalid, a name DNS never resolves (RFC 6761).
func TestCloudStoreUnknownHostFailsFast(t *testing.T) {
	const azureHost, gcpRegion = "myvalt.vault.azure.invalid", "europe-wst1"
	gcpEndpoint := "https://secretmanager.{location}.rep.googleapis.invalid/"
	for _, h := range []string{azureHost, "secretmanager." + gcpRegion + ".rep.googleapis.invalid"} {
		var de *net.DNSError
		if _, err := net.LookupHost(h); !errors.As(err, &de) || !de.IsNotFound {
			t.Fatalf("this machine's resolver does not answer that %s does not exist (RFC 6761), which the test needs: %v", h, err)
		}
	}
	_, aw := azureWard(t, (*azuretest.Server).Env)
	gsrv, gw := gcpWard(t)
	gsrv.AddVersion(gcpSecret("x"), []byte(gw.canary("gcp-dns")))
	// Both are outside the clouds' domains (.invalid), as a typo'd host
	// behind settings the environment agrees to would be.
	aw.env = append(aw.env, azure.VaultHostsVar+"="+azureHost)
	gw.env = append(gw.env, gcp.EndpointsVar+"="+gcpEndpoint)
	tests := []struct {
		name     string
		w        *wardEnv
		manifest string
		wants    []string
	}{
		{"azure vault", aw, "version: 1\n" + azureStores + "env:\n  K: azkv://" + azureHost + "/key\n",
			[]string{"no such host " + azureHost, "check the vault name"}},
		{"gcp region", gw, "version: 1\nstores:\n  gcp:\n    regional_endpoint: " + gcpEndpoint + "\nenv:\n  K: gcpsm://" + gcptest.Project + "/x?location=" + gcpRegion + "\n",
			[]string{"no such host secretmanager." + gcpRegion, "check that " + gcpRegion + " is a region"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.w.manifest(tt.manifest)
			start := time.Now()
			code, _, stderr := tt.w.run("run", "-m", m, "--", "helper", "true")
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("ward run took %s, want the first DNS answer to end it", took.Round(time.Millisecond))
			}
			if code != 125 {
				t.Errorf("got exit code %d, want 125: %s", code, stderr)
			}
			for _, want := range tt.wants {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, stderr)
				}
			}
		})
	}
}

// TestGCPErrors: a missing, a denied and a disabled secret, and a
// secret looked for in the wrong place (global or regional), fail `ward run`
// and `ward check --resolve` with exit 125, the reference and what to do;
// the child never starts.
func TestGCPErrors(t *testing.T) {
	srv, w := gcpWard(t)
	srv.AddVersion(gcpSecret("denied"), []byte(w.canary("gcp-denied")))
	srv.Deny(gcpSecret("denied"))
	srv.AddVersion(gcpSecret("off"), []byte(w.canary("gcp-off")))
	srv.DisableVersion(gcpSecret("off"), 1)
	srv.AddVersion("projects/"+gcptest.Project+"/locations/europe-west1/secrets/eu-only", []byte(w.canary("gcp-eu-only")))
	p := "gcpsm://" + gcptest.Project
	cloudErrors(t, w, gcpStores(srv), []cloudError{
		{"missing", p + "/nope", []string{"secret manager has no such secret or version"}},
		{"denied", p + "/denied", []string{"denied it to service account " + gcptest.ClientEmail, "grant it roles/secretmanager.secretAccessor"}},
		{"disabled", p + "/off", []string{"is disabled", "gcloud secrets versions enable 1 --secret=off"}},
		// A regional secret named without its region, and a global one
		// with a region: Secret Manager has no such secret where asked.
		{"regional without location", p + "/eu-only", []string{"secret manager has no such secret or version", "a regional secret is read with ?location=REGION"}},
		{"global with location", p + "/off?location=europe-west1", []string{"secret manager has no such secret or version", "a global secret is read without ?location="}},
	})
	// A version the secret does not have: the place was right, and the
	// message says nothing of regions.
	m := w.manifest("version: 1\n" + gcpStores(srv) + "env:\n  APP: " + p + "/off?version=9\n")
	if code, _, stderr := w.run("run", "-m", m, "--", "helper", "true"); code != 125 || !strings.Contains(stderr, "no such secret or version") || strings.Contains(stderr, "location=") {
		t.Errorf("a missing version: got exit code %d and stderr %s, want 125, no such version and no word of ?location=", code, stderr)
	}
}

// TestGCPPerimeter: a VPC Service Controls perimeter around the project
// refuses ward, which calls from outside it: 403 PERMISSION_DENIED, as
// for a missing role, but with reason SECURITY_POLICY_VIOLATED. ward says
// a perimeter refused the call, with the violation's id that the
// perimeter's audit log records; no role would help, and it used to say
// to grant one.
func TestGCPPerimeter(t *testing.T) {
	srv, w := gcpWard(t)
	srv.AddVersion(gcpSecret("app"), []byte(w.canary("gcp-perimeter")))
	srv.EnforcePerimeter(gcptest.ServiceSecretManager)
	cloudErrors(t, w, gcpStores(srv), []cloudError{
		{"perimeter", "gcpsm://" + gcptest.Project + "/app", []string{"VPC Service Controls perimeter", gcptest.PerimeterViolation, "restricted.googleapis.com"}},
	})
	m := w.manifest("version: 1\n" + gcpStores(srv) + "env:\n  APP: gcpsm://" + gcptest.Project + "/app\n")
	if _, _, stderr := w.run("run", "-m", m, "--", "helper", "true"); strings.Contains(stderr, "roles/secretmanager.secretAccessor") {
		t.Errorf("stderr says to grant a role, which cannot help with a perimeter:\n%s", stderr)
	}
}

// TestAzureErrors: a missing, a denied and a disabled secret fail `ward
// run` and `ward check --resolve` with exit 125, the reference and what to
// do; the child never starts.
func TestAzureErrors(t *testing.T) {
	srv, w := azureWard(t, (*azuretest.Server).Env)
	srv.SetSecret("denied", w.canary("az-denied"))
	srv.Deny("denied")
	srv.SetSecret("off", w.canary("az-off"))
	srv.Disable("off", "")
	w.canaries = append(w.canaries, srv.ClientSecret())
	p := "azkv://" + srv.VaultHost()
	cloudErrors(t, w, azureStores, []cloudError{
		{"missing", p + "/nope", []string{"the vault has no such secret"}},
		{"denied", p + "/denied", []string{"access denied", "Key Vault Secrets User", "az role assignment create"}},
		{"disabled", p + "/off", []string{"the secret is disabled", "az keyvault secret set-attributes --id https://" + srv.VaultHost() + "/secrets/off --enabled true"}},
	})
}

// TestAzureNetworkRefusals: a vault whose network settings refuse ward
// (its firewall, or public access disabled for a private endpoint that
// ward's connection did not come through) answers 403 after it has
// authenticated ward. ward says what to check on the network side; no
// role assignment would help, and the private-link refusal used to get
// the role-assignment hint of an access denial.
func TestAzureNetworkRefusals(t *testing.T) {
	for _, tt := range []struct {
		code  string
		wants []string
		not   string
	}{
		{azuretest.ForbiddenByFirewall, []string{"the vault's firewall refused ward's network address"}, "az role assignment"},
		{azuretest.ForbiddenByConnection, []string{"public network access is disabled", "private endpoint", "privatelink.vaultcore.azure.net"}, "az role assignment"},
	} {
		t.Run(tt.code, func(t *testing.T) {
			srv, w := azureWard(t, (*azuretest.Server).Env)
			srv.SetSecret("app", w.canary("az-net"))
			srv.RefuseNetwork(tt.code)
			w.canaries = append(w.canaries, srv.ClientSecret())
			m := w.manifest("version: 1\n" + azureStores + "env:\n  APP: azkv://" + srv.VaultHost() + "/app\n")
			code, _, stderr := w.run("run", "-m", m, "--", "helper", "true")
			if code != 125 {
				t.Errorf("got exit code %d, want 125: %s", code, stderr)
			}
			for _, want := range append(tt.wants, tt.code) {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, stderr)
				}
			}
			if strings.Contains(stderr, tt.not) {
				t.Errorf("stderr says %q, which cannot help with a network refusal:\n%s", tt.not, stderr)
			}
		})
	}
}

// cloudError is a reference that cannot be read and what ward must say.
type cloudError struct {
	name, ref string
	wants     []string
}

func cloudErrors(t *testing.T, w *wardEnv, stores string, tests []cloudError) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := w.manifest("version: 1\n" + stores + "env:\n  APP: " + tt.ref + "\n")
			marker := filepath.Join(t.TempDir(), "started")
			for _, args := range [][]string{
				{"run", "-m", m, "--", "helper", "touch", marker},
				{"check", "--resolve", "-m", m},
			} {
				code, stdout, stderr := w.run(args...)
				if code != 125 {
					t.Errorf("%s: got exit code %d, want 125: %s", args[0], code, stderr)
				}
				for _, want := range append([]string{"APP", tt.ref}, tt.wants...) {
					if !strings.Contains(stderr, want) {
						t.Errorf("%s: stderr does not say %q:\n%s", args[0], want, stderr)
					}
				}
				if stdout != "" {
					t.Errorf("%s: got stdout %q, want none", args[0], stdout)
				}
			}
			if _, err := os.Stat(marker); err == nil {
				t.Errorf("the child started")
			}
		})
	}
}

// awsWard starts an AWS emulator and a ward environment that reaches it
// with the emulator's credentials.
func awsWard(t *testing.T) (*awstest.Server, *wardEnv) {
	t.Helper()
	srv := awstest.New()
	t.Cleanup(srv.Close)
	w := newWardEnv(t)
	w.env = append(w.env, srv.Env()...)
	return srv, w
}

// gcpWard starts a Secret Manager emulator and a ward environment whose
// Application Default Credentials are a service account key file the
// emulator wrote, with a HOME that has no gcloud credentials.
func gcpWard(t *testing.T) (*gcptest.Server, *wardEnv) {
	t.Helper()
	srv := gcptest.New()
	t.Cleanup(srv.Close)
	w := newWardEnv(t)
	if _, err := srv.WriteKeyFile(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	w.env = append(withoutEnv(w.env, slices.Concat(gcp.CredentialEnv, []string{"HOME"})...), "HOME="+w.dir)
	w.env = append(w.env, srv.Env()...)
	return srv, w
}

// gcpStores is the stores block that points ward at the emulator.
func gcpStores(srv *gcptest.Server) string {
	return fmt.Sprintf("stores:\n  gcp:\n    endpoint: %s\n    regional_endpoint: %s\n", srv.URL(), srv.RegionalURL())
}

// gcpSecret is the API name of a secret in the emulator's project.
func gcpSecret(id string) string { return "projects/" + gcptest.Project + "/secrets/" + id }

// gcpReads counts the emulator's reads of versions, payload or metadata.
func gcpReads(srv *gcptest.Server) int {
	return srv.Calls("versions.access") + srv.Calls("versions.get")
}

// azureWard starts a Key Vault emulator and a ward environment whose
// credential chain env(srv) sets up (SSL_CERT_FILE, the emulator's CA,
// among it: ward's helper runs with ward's environment), with every other
// Azure variable removed and a HOME without an Azure CLI login.
func azureWard(t *testing.T, env func(*azuretest.Server) []string) (*azuretest.Server, *wardEnv) {
	t.Helper()
	return azureWardCA(t, nil, env)
}

// azureWardCA is azureWard with an emulator whose certificates ca signs
// (nil: a CA of its own).
func azureWardCA(t *testing.T, ca *azuretest.CA, env func(*azuretest.Server) []string) (*azuretest.Server, *wardEnv) {
	t.Helper()
	srv := azuretest.New(t, ca)
	w := newWardEnv(t)
	// azidentity tells an empty variable from an absent one.
	w.env = append(withoutEnv(w.env, slices.Concat(azuretest.ClearEnv, []string{"HOME", "SSL_CERT_FILE", "SSL_CERT_DIR"})...), "HOME="+w.dir)
	w.env = append(w.env, env(srv)...)
	return srv, w
}

// azureStores is the stores block the emulator needs, as a vault behind a
// private endpoint in a disconnected cloud would: no instance discovery at
// login.microsoftonline.com, and a vault host (127.0.0.1) outside the
// domain of its challenge's resource.
const azureStores = "stores:\n  azure:\n    disable_instance_discovery: true\n    disable_challenge_resource_verification: true\n"

// canary makes a canary for the test and audits for it.
func (w *wardEnv) canary(tag string) string {
	c := canary(tag)
	w.canaries = append(w.canaries, c)
	return c
}

// wardWatch starts `ward run` over a child that lists its environment
// (hashes) and waits; it returns the command and line readers of its
// stdout and stderr.
func wardWatch(t *testing.T, w *wardEnv, manifest string) (*exec.Cmd, *lines, *lines) {
	t.Helper()
	cmd := w.command("run", "--log-level", "debug", "-m", manifest, "--", "helper", "env", "wait")
	out, _ := cmd.StdoutPipe()
	errp, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, readLines(t, out), readLines(t, errp)
}

// waitUntil waits, with a deadline, for a condition no line announces:
// a count of requests at an emulator.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("waited 15s for %s", what)
		}
	}
}

// listing reads a `helper env` listing from a finished run's output.
func listing(out string) map[string]string {
	got := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if name, h, ok := strings.Cut(line, " "); ok {
			got[name] = h
		}
	}
	return got
}

// checkRows splits `ward check --resolve`'s table into fields by name.
func checkRows(out string) map[string][]string {
	rows := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = f
		}
	}
	return rows
}

// withoutEnv returns env without the named variables.
// TestNoCABundle: in an image without CA certificates (FROM scratch, no
// ca-certificates package) every TLS endpoint's certificate is unknown.
// The error says the system has none and how an image gets them; it told
// the user to point SSL_CERT_FILE at a CA "of your own" (Vault: to set
// VAULT_CACERT), as if the endpoint used a private CA. The store helpers
// read the system's roots, here made none by SSL_CERT_FILE and
// SSL_CERT_DIR naming nothing.
func TestNoCABundle(t *testing.T) {
	for _, tc := range []struct{ name, ref, endpointVar string }{
		{"aws", "awssm://app/db", "AWS_ENDPOINT_URL_SECRETS_MANAGER"},
		{"vault", "vault://secret/app#db", "VAULT_ADDR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWardEnv(t)
			endpoint, _ := resolvetest.UntrustedEndpoint(t)
			none := filepath.Join(w.dir, "none")
			w.env = append(withoutEnv(w.env, "SSL_CERT_FILE", "SSL_CERT_DIR", "VAULT_CACERT", "VAULT_CAPATH", "AWS_PROFILE"),
				"SSL_CERT_FILE="+none, "SSL_CERT_DIR="+none, tc.endpointVar+"="+endpoint,
				"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=unused", "VAULT_TOKEN=unused", "VAULT_MAX_RETRIES=0")
			m := w.manifest("version: 1\nenv:\n  DB: " + tc.ref + "\n")
			code, stdout, stderr := w.run("run", "-m", m, "--", "sh", "-c", "echo started")
			if code != 125 || strings.Contains(stdout, "started") || !strings.Contains(stderr, "this system has no CA certificates") {
				t.Errorf("got exit code %d, stdout %q and stderr %q, want 125 saying the system has no CA certificates", code, stdout, stderr)
			}
		})
	}
}

func withoutEnv(env []string, names ...string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(names, name)
	})
}

// envLookup finds a variable in env as os/exec does: the last one wins.
func envLookup(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// firstTokenExpiry is when the one token the emulator issued to childSA
// expires: the test's own clock before ward's start, with the token's
// lifetime added, left the restart two seconds, less ward's start and
// the expiry's rounding to whole seconds (a delay of the first token
// failed it).
func firstTokenExpiry(t *testing.T, srv *gcptest.Server) time.Time {
	t.Helper()
	toks := srv.IssuedTokensOf(childSA)
	if len(toks) != 1 {
		t.Fatalf("the first child: %d tokens issued, want 1", len(toks))
	}
	expires, _ := srv.ExpiryOf(toks[0])
	return expires
}

// TestGCPTokenUnderEnvRefreshedBeforeExpiry: an access token delivered in
// the environment (gcpsa://, each read a new token) is read again two
// thirds into its lifetime, and the child restarted with it before the
// first one expires; the polls in between (of a gcpsm:// secret beside
// it) ask for no new token and restart nothing. Before, each poll read a
// new token and restarted the child.
func TestGCPTokenUnderEnvRefreshedBeforeExpiry(t *testing.T) {
	srv, w := gcpWard(t)
	srv.AddServiceAccount(childSA, gcptest.ClientEmail)
	srv.AddVersion(gcpSecret("beside"), []byte(w.canary("gcp-beside")))
	m := w.manifest("version: 1\n" + gcpStores(srv) + "    iam_endpoint: " + srv.IAMURL() +
		"\nenv:\n  TOKEN: gcpsa://" + childSA + "?lifetime=9s#access_token\n  BESIDE: gcpsm://" + gcptest.Project + "/beside\n" + fastRotation)
	cmd, stdout, stderr := wardWatch(t, w, m)
	first := envListing(stdout)
	expires := firstTokenExpiry(t, srv)
	if first["TOKEN"] == "" {
		t.Fatalf("the first child has no token")
	}
	reads := gcpReads(srv)

	second := envListing(stdout)
	restarted := time.Now()
	if second["TOKEN"] == first["TOKEN"] || second["BESIDE"] != first["BESIDE"] {
		t.Errorf("the restarted child does not have a new token and the same secret beside it")
	}
	if !restarted.Before(expires) {
		t.Errorf("the child was restarted with a new token %v after the first one expired", restarted.Sub(expires))
	}
	if n := len(srv.IssuedTokensOf(childSA)); n != 2 {
		t.Errorf("%d tokens issued by the restart, want 2: polls asked for new tokens", n)
	}
	if polls := gcpReads(srv) - reads; polls < 3 {
		t.Errorf("%d polls of the secret beside before the restart, want at least 3 (poll 1s, refresh at 6s): the restart came from a poll", polls)
	}
	stderr.waitForContaining("child restarted with the new secrets")
	if n := stopAndCount(t, cmd, stdout, stderr, slices.Concat(w.canaries, srv.IssuedTokensOf(childSA))...); n != 0 {
		t.Errorf("got %d more starts, want 0", n)
	}
}

// TestGCPTokenUnderEnvRefreshedWithoutPolls: the refresh of an expiring
// token under env: does not wait for a poll: with rotation.poll far beyond
// the token's lifetime, the child still gets a new one before the first
// expires.
func TestGCPTokenUnderEnvRefreshedWithoutPolls(t *testing.T) {
	srv, w := gcpWard(t)
	srv.AddServiceAccount(childSA, gcptest.ClientEmail)
	m := w.manifest("version: 1\n" + gcpStores(srv) + "    iam_endpoint: " + srv.IAMURL() +
		"\nenv:\n  TOKEN: gcpsa://" + childSA + "?lifetime=9s#access_token\n" +
		"rotation:\n  poll: 1h\n  debounce: 200ms\n  stop_timeout: 5s\n")
	cmd, stdout, stderr := wardWatch(t, w, m)
	first := envListing(stdout)
	expires := firstTokenExpiry(t, srv)
	second := envListing(stdout)
	if second["TOKEN"] == first["TOKEN"] {
		t.Errorf("the restarted child has the same token")
	}
	if restarted := time.Now(); !restarted.Before(expires) {
		t.Errorf("the child was restarted with a new token %v after the first one expired", restarted.Sub(expires))
	}
	stderr.waitForContaining("child restarted with the new secrets")
	if n := stopAndCount(t, cmd, stdout, stderr, slices.Concat(w.canaries, srv.IssuedTokensOf(childSA))...); n != 0 {
		t.Errorf("got %d more starts, want 0", n)
	}
}
